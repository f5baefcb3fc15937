//! From a window's measures to a congestion verdict: speed ratio, travel time index, level with
//! hysteresis, HCM level of service and a confidence (docs/traffic.md "Levels").
//!
//! Long-lived per-segment state lives here too: the learned free-flow speed and the level
//! hysteresis. The processor owns one [`SegmentState`] per segment and feeds it final windows in
//! a deterministic order; early (non-final) updates only read it.

use serde::{Deserialize, Serialize};

use super::aggregate::Measures;
use super::sketch::SpeedSketch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Free,
    Light,
    Moderate,
    Heavy,
    Severe,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Free,
        Level::Light,
        Level::Moderate,
        Level::Heavy,
        Level::Severe,
    ];

    /// roadpulse levels from the speed ratio: free > 0.80, light > 0.67, moderate > 0.50,
    /// heavy > 0.30, severe ≤ 0.30.
    pub fn from_ratio(r: f64) -> Level {
        match r {
            r if r > 0.80 => Level::Free,
            r if r > 0.67 => Level::Light,
            r if r > 0.50 => Level::Moderate,
            r if r > 0.30 => Level::Heavy,
            _ => Level::Severe,
        }
    }

    /// The band of ratios `(low, high]` that maps to this level.
    fn band(self) -> (f64, f64) {
        match self {
            Level::Free => (0.80, f64::INFINITY),
            Level::Light => (0.67, 0.80),
            Level::Moderate => (0.50, 0.67),
            Level::Heavy => (0.30, 0.50),
            Level::Severe => (f64::NEG_INFINITY, 0.30),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Free => "free",
            Level::Light => "light",
            Level::Moderate => "moderate",
            Level::Heavy => "heavy",
            Level::Severe => "severe",
        }
    }
}

/// HCM urban street level of service by travel speed as a share of free-flow speed.
pub fn los(r: f64) -> &'static str {
    match r {
        r if r > 0.80 => "A",
        r if r > 0.67 => "B",
        r if r > 0.50 => "C",
        r if r > 0.40 => "D",
        r if r > 0.30 => "E",
        _ => "F",
    }
}

/// How a level change is damped: it happens at once when the ratio lands `margin` beyond the
/// current level's band, otherwise only after the new level held for `hold_windows` windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hysteresis {
    pub hold_windows: u32,
    pub margin: f64,
}

impl Default for Hysteresis {
    fn default() -> Self {
        Self {
            hold_windows: 2,
            margin: 0.05,
        }
    }
}

/// Where the free-flow speed of a verdict came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FreeFlowSource {
    Catalog,
    Learned,
    Default,
    /// The free-flow speed vendor flow readings in the window carried.
    Vendor,
}

/// Windows a learned free-flow speed needs before it is trusted fully.
const LEARNED_TRUST_WINDOWS: u32 = 10;

/// Long-lived state of one segment (mirrored to the state changelog; the serde form is a
/// contract between worker versions: add fields with defaults, never rename).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SegmentState {
    level: Option<Level>,
    pending: Option<(Level, u32)>,
    /// Window speeds seen so far; its 85th percentile is the learned free-flow speed (the
    /// daily rush hour sits in the lower tail, free-flowing hours in the upper).
    speeds: SpeedSketch,
    /// End of the last final window of the segment: what `state.retention` is counted from
    /// (absent in records written before retention existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_seen: Option<i64>,
}

impl SegmentState {
    /// Free-flow speed: catalogue first, then learned (window speeds so far, plus `current`
    /// when it is not learned yet), then the configured default.
    pub fn free_flow(
        &self,
        catalog: Option<f64>,
        current: Option<f64>,
        default: f64,
    ) -> (f64, FreeFlowSource, f64) {
        if let Some(ff) = catalog {
            return (ff, FreeFlowSource::Catalog, 1.0);
        }
        // Only a preview (an early update) pays for a copy; final windows are learned first.
        let with_current;
        let speeds = match current {
            Some(v) => {
                let mut s = self.speeds.clone();
                s.add(v);
                with_current = s;
                &with_current
            }
            None => &self.speeds,
        };
        match speeds.quantile(0.85).filter(|v| *v > 0.0) {
            Some(ff) => {
                let trust = (speeds.count() as f64 / f64::from(LEARNED_TRUST_WINDOWS)).min(1.0);
                (ff, FreeFlowSource::Learned, 0.5 + 0.5 * trust)
            }
            None => (default, FreeFlowSource::Default, 0.5),
        }
    }

    /// The level of the segment's last final window (none before its first).
    pub fn current_level(&self) -> Option<Level> {
        self.level
    }

    /// End of the last final window of the segment, if known.
    pub fn last_seen(&self) -> Option<i64> {
        self.last_seen
    }

    /// A final window ending at `end` was emitted (or, for state restored from an older
    /// record, the time retention counts from).
    pub fn seen(&mut self, end: i64) {
        self.last_seen = Some(self.last_seen.map_or(end, |t| t.max(end)));
    }

    /// Records a final window's speed for free-flow learning.
    pub fn learn(&mut self, speed: Option<f64>) {
        if let Some(v) = speed {
            self.speeds.add(v);
        }
    }

    /// The level to publish for ratio `r`. With `commit` (final windows) the hysteresis state
    /// advances; without it (early updates) the state is only read.
    pub fn level(&mut self, r: f64, h: Hysteresis, commit: bool) -> Level {
        let raw = Level::from_ratio(r);
        let Some(current) = self.level else {
            if commit {
                self.level = Some(raw);
            }
            return raw;
        };
        if raw == current {
            if commit {
                self.pending = None;
            }
            return current;
        }
        let (low, high) = current.band();
        let beyond = if r > high { r - high } else { low - r };
        let held = match self.pending {
            Some((l, n)) if l == raw => n + 1,
            _ => 1,
        };
        let switch = beyond >= h.margin || held >= h.hold_windows;
        if commit {
            self.pending = if switch { None } else { Some((raw, held)) };
            if switch {
                self.level = Some(raw);
            }
        }
        if switch {
            raw
        } else {
            current
        }
    }
}

/// Confidence in 0..1: grows with probe evidence (distinct vehicles weigh more than repeated
/// pings of one vehicle), detector readings and the vendors' confidence in their flow
/// readings, and is scaled by trust in the free-flow speed.
pub fn confidence(m: &Measures, free_flow_trust: f64) -> f64 {
    let probe = probe_evidence(m);
    let detector = if m.readings > 0 {
        1.0 - 0.3_f64.powi(m.readings.min(8) as i32)
    } else {
        0.0
    };
    let flow = m.flow.map_or(0.0, |f| f.confidence);
    let evidence = 1.0 - (1.0 - probe) * (1.0 - detector) * (1.0 - flow);
    (evidence * free_flow_trust).clamp(0.0, 1.0)
}

/// How much the probes of a window are to be trusted: the probe part of [`confidence`].
pub fn probe_evidence(m: &Measures) -> f64 {
    let effective = f64::from(m.samples.min(m.vehicles.max(1) * 3));
    1.0 - (-effective / 5.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_thresholds() {
        assert_eq!(Level::from_ratio(0.81), Level::Free);
        assert_eq!(Level::from_ratio(0.80), Level::Light);
        assert_eq!(Level::from_ratio(0.67), Level::Moderate);
        assert_eq!(Level::from_ratio(0.50), Level::Heavy);
        assert_eq!(Level::from_ratio(0.30), Level::Severe);
        assert_eq!(Level::from_ratio(0.0), Level::Severe);
    }

    #[test]
    fn hcm_los() {
        let got: String = [0.9, 0.7, 0.6, 0.45, 0.35, 0.3]
            .iter()
            .map(|r| los(*r))
            .collect();
        assert_eq!(got, "ABCDEF");
    }

    #[test]
    fn hysteresis_stops_flapping_at_a_boundary() {
        let h = Hysteresis::default();
        let mut s = SegmentState::default();
        assert_eq!(s.level(0.82, h, true), Level::Free);
        // hovering just under 0.80 for one window: still free.
        assert_eq!(s.level(0.79, h, true), Level::Free);
        assert_eq!(s.level(0.81, h, true), Level::Free);
        assert_eq!(s.level(0.79, h, true), Level::Free);
        // held for two windows: now light.
        assert_eq!(s.level(0.79, h, true), Level::Light);
    }

    #[test]
    fn a_clear_drop_switches_at_once() {
        let h = Hysteresis::default();
        let mut s = SegmentState::default();
        s.level(0.9, h, true);
        assert_eq!(s.level(0.2, h, true), Level::Severe);
    }

    #[test]
    fn previews_do_not_advance_hysteresis() {
        let h = Hysteresis::default();
        let mut s = SegmentState::default();
        s.level(0.9, h, true);
        for _ in 0..5 {
            assert_eq!(s.level(0.78, h, false), Level::Free);
        }
        assert_eq!(s.level(0.78, h, true), Level::Free);
    }

    #[test]
    fn free_flow_prefers_catalog_then_learns() {
        let mut s = SegmentState::default();
        assert_eq!(
            s.free_flow(Some(90.0), Some(30.0), 50.0).1,
            FreeFlowSource::Catalog
        );
        assert_eq!(
            s.free_flow(None, None, 50.0),
            (50.0, FreeFlowSource::Default, 0.5)
        );
        for v in [
            100.0, 98.0, 102.0, 40.0, 99.0, 101.0, 100.0, 97.0, 35.0, 100.0,
        ] {
            s.learn(Some(v));
        }
        let (ff, src, trust) = s.free_flow(None, None, 50.0);
        assert_eq!(src, FreeFlowSource::Learned);
        assert!((ff - 100.0).abs() <= 100.0 * 0.02, "learned {ff}");
        assert_eq!(trust, 1.0);
    }

    #[test]
    fn confidence_falls_with_few_samples() {
        let m = |samples, vehicles, readings| Measures {
            samples,
            vehicles,
            probe_space_mean_kph: None,
            probe_estimator: None,
            trajectory_kph: None,
            tracked_vehicles: 0,
            probe_time_mean_kph: None,
            p85_speed_kph: None,
            min_speed_kph: None,
            max_speed_kph: None,
            readings,
            volume: 0,
            flow_vph: 0.0,
            occupancy: None,
            detector_speed_kph: None,
            flow: None,
        };
        let one = confidence(&m(1, 1, 0), 1.0);
        let many = confidence(&m(30, 20, 0), 1.0);
        let one_car_many_pings = confidence(&m(30, 1, 0), 1.0);
        assert!(one < one_car_many_pings && one_car_many_pings < many && many <= 1.0);
        assert!(confidence(&m(0, 0, 2), 1.0) > 0.8);
        assert_eq!(confidence(&m(0, 0, 0), 1.0), 0.0);
    }
}
