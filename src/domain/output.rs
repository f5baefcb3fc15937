//! The congestion event roadpulse publishes (docs/architecture.md §3), built from a window's measures and
//! its segment's long-lived state. Field names here are the JSON contract.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::aggregate::Measures;
use super::congestion::{confidence, los, FreeFlowSource, Hysteresis, Level, SegmentState};
use super::event::EpochMillis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CongestionEvent {
    pub segment_id: String,
    pub window_start: EpochMillis,
    pub window_end: EpochMillis,
    /// Probe samples in the window.
    pub samples: u32,
    /// Distinct probe vehicles (probes without `vehicle_id` count as samples only).
    pub vehicles: u32,
    /// Space-mean (harmonic) probe speed; detector speed when there are no probes.
    pub speed_kph: Option<f64>,
    /// `probe`, `detector` or `none`: what `speed_kph` was measured from.
    pub speed_source: Cow<'static, str>,
    /// Time-mean (arithmetic) probe speed.
    pub mean_speed_kph: Option<f64>,
    /// 85th percentile probe speed from a DDSketch, relative error ≤ 1%.
    pub p85_speed_kph: Option<f64>,
    pub min_speed_kph: Option<f64>,
    pub max_speed_kph: Option<f64>,
    /// Vehicles counted by detectors in the window.
    pub volume: u64,
    pub flow_vph: f64,
    /// Mean detector occupancy (0..1) over the readings in the window.
    pub occupancy: Option<f64>,
    pub free_flow_kph: f64,
    /// `catalog`, `learned` or `default`.
    pub free_flow_source: FreeFlowSource,
    pub speed_ratio: Option<f64>,
    pub travel_time_index: Option<f64>,
    pub level: Level,
    pub los: Cow<'static, str>,
    pub confidence: f64,
    #[serde(rename = "final")]
    pub is_final: bool,
}

/// What the congestion step needs besides the measures.
pub struct Verdict<'a> {
    pub catalog_free_flow: Option<f64>,
    pub default_free_flow: f64,
    pub hysteresis: Hysteresis,
    pub state: &'a mut SegmentState,
}

pub fn round(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v * p).round() / p
}

/// The speed a window stands for, and from what it was measured. With detectors but no
/// vehicle passing, an empty detector means an empty road (free flow) and an occupied one a
/// standstill.
fn window_speed(m: &Measures) -> (Option<f64>, &'static str, bool) {
    if let Some(v) = m.probe_space_mean_kph {
        return (Some(v), "probe", false);
    }
    if let Some(v) = m.detector_speed_kph {
        return (Some(v), "detector", false);
    }
    match m.occupancy {
        Some(occ) if occ > 0.0 => (Some(0.0), "detector", false),
        Some(_) => (None, "detector", true),
        None => (None, "none", false),
    }
}

impl CongestionEvent {
    pub fn build(
        segment_id: &str,
        start: EpochMillis,
        end: EpochMillis,
        m: Measures,
        is_final: bool,
        v: Verdict,
    ) -> Self {
        let (measured, source, empty_road) = window_speed(&m);
        // A final window's speed is learned before it is judged (and judged with it);
        // an early update only previews that.
        let preview = if is_final {
            v.state.learn(measured);
            None
        } else {
            measured
        };
        let (free_flow, ff_source, trust) =
            v.state
                .free_flow(v.catalog_free_flow, preview, v.default_free_flow);
        let speed = if empty_road {
            Some(free_flow)
        } else {
            measured
        };
        let ratio = speed.map(|s| s / free_flow);
        let level = v.state.level(ratio.unwrap_or(1.0), v.hysteresis, is_final);
        CongestionEvent {
            segment_id: segment_id.to_string(),
            window_start: start,
            window_end: end,
            samples: m.samples,
            vehicles: m.vehicles,
            speed_kph: speed.map(|s| round(s, 2)),
            speed_source: Cow::Borrowed(source),
            mean_speed_kph: m.probe_time_mean_kph.map(|s| round(s, 2)),
            p85_speed_kph: m.p85_speed_kph.map(|s| round(s, 2)),
            min_speed_kph: m.min_speed_kph.map(|s| round(s, 2)),
            max_speed_kph: m.max_speed_kph.map(|s| round(s, 2)),
            volume: m.volume,
            flow_vph: round(m.flow_vph, 1),
            occupancy: m.occupancy.map(|o| round(o, 4)),
            free_flow_kph: round(free_flow, 2),
            free_flow_source: ff_source,
            speed_ratio: ratio.map(|r| round(r, 3)),
            travel_time_index: speed.filter(|s| *s > 0.0).map(|s| round(free_flow / s, 3)),
            level,
            los: Cow::Borrowed(los(ratio.unwrap_or(1.0))),
            confidence: round(confidence(&m, trust), 3),
            is_final,
        }
    }
}
