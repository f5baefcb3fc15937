//! The congestion event roadpulse publishes (docs/architecture.md §3), built from a window's
//! measures and its segment's long-lived state. Field names here are the JSON contract.
//!
//! The speed of a window is the best estimate of its space-mean speed available: the probe
//! pings by their sampling, else the detectors. Distance-sampled pings give way to the probe
//! vehicles' tracks (distance over time) when at least half of the window's probe vehicles
//! gave one. Time-sampled pings keep their arithmetic mean even then: a window cuts tracks
//! short, and a vehicle that crosses quickly leaves one ping and no track, so tracks favour
//! slow vehicles (on two SUMO scenarios the tracks' median error was 0.5–0.7 points above that
//! of the mean of the same pings). On a signalised street a loop's mid-block speed
//! gets the normal signal delay added ([`Road::with_signal_delay`]). The speed is judged
//! against the segment's reference speed ([`super::urban`]), which is the free-flow speed
//! except on signalised streets.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::aggregate::Measures;
use super::congestion::{confidence, los, FreeFlowSource, Hysteresis, Level, SegmentState};
use super::event::EpochMillis;
use super::urban::Road;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CongestionEvent {
    pub segment_id: String,
    pub window_start: EpochMillis,
    pub window_end: EpochMillis,
    /// Probe samples in the window.
    pub samples: u32,
    /// Distinct probe vehicles (probes without `vehicle_id` count as samples only).
    pub vehicles: u32,
    /// Space-mean speed: from probe tracks or pings by their sampling, else detectors.
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
    /// How `speed_kph` was estimated: `trajectory`, `time_mean`, `harmonic`, `blend`
    /// (probes); `loop_harmonic`, `loop_signal_delay`, `empty_road`, `occupied_loop`
    /// (detectors).
    #[serde(default)]
    pub speed_estimator: Option<Cow<'static, str>>,
    /// The speed of the uncongested segment that ratio, TTI and level compare with: the
    /// free-flow speed, or on a signalised street the travel speed with the normal signal
    /// delay.
    #[serde(default)]
    pub reference_speed_kph: Option<f64>,
    /// Seconds per vehicle beyond the reference travel time (needs the segment's length).
    #[serde(default)]
    pub delay_s: Option<f64>,
}

/// What the congestion step needs besides the measures.
pub struct Verdict<'a> {
    pub road: Road,
    pub default_free_flow: f64,
    pub hysteresis: Hysteresis,
    pub state: &'a mut SegmentState,
}

pub fn round(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v * p).round() / p
}

/// The speed a window stands for, from what and how it was measured. With detectors but no
/// vehicle passing, an empty detector means an empty road (the reference speed) and an
/// occupied one a standstill.
fn window_speed(
    m: &Measures,
    road: &Road,
) -> (Option<f64>, &'static str, Option<&'static str>, bool) {
    let tracked = m.tracked_vehicles > 0 && m.tracked_vehicles * 2 >= m.vehicles;
    let spot_only = m.probe_estimator == Some("harmonic");
    if let Some(v) = m.trajectory_kph.filter(|_| tracked && spot_only) {
        return (Some(v), "probe", Some("trajectory"), false);
    }
    if let Some(v) = m.probe_space_mean_kph {
        return (Some(v), "probe", m.probe_estimator, false);
    }
    if let Some(v) = m.detector_speed_kph {
        return match road.with_signal_delay(v) {
            Some(travel) => (Some(travel), "detector", Some("loop_signal_delay"), false),
            None => (Some(v), "detector", Some("loop_harmonic"), false),
        };
    }
    match m.occupancy {
        Some(occ) if occ > 0.0 => (Some(0.0), "detector", Some("occupied_loop"), false),
        Some(_) => (None, "detector", Some("empty_road"), true),
        None => (None, "none", None, false),
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
        let (measured, source, estimator, empty_road) = window_speed(&m, &v.road);
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
                .free_flow(v.road.free_flow_kph, preview, v.default_free_flow);
        let reference = v.road.reference_kph(free_flow);
        let speed = if empty_road {
            Some(reference)
        } else {
            measured
        };
        let ratio = speed.map(|s| s / reference);
        let level = v.state.level(ratio.unwrap_or(1.0), v.hysteresis, is_final);
        // Level of service: travel speed against the base free-flow speed (HCM).
        let los_ratio = speed.map_or(1.0, |s| s / free_flow);
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
            travel_time_index: speed.filter(|s| *s > 0.0).map(|s| round(reference / s, 3)),
            level,
            los: Cow::Borrowed(los(los_ratio)),
            confidence: round(confidence(&m, trust), 3),
            is_final,
            speed_estimator: estimator.map(Cow::Borrowed),
            reference_speed_kph: Some(round(reference, 2)),
            delay_s: speed
                .and_then(|s| v.road.delay_s(s, reference))
                .map(|d| round(d, 1)),
        }
    }
}
