//! The congestion event roadpulse publishes (docs/architecture.md §3), built from a window's
//! measures and its segment's long-lived state. Field names here are the JSON contract.
//!
//! The speed of a window is the best estimate of its space-mean speed available: the probe
//! pings by their sampling or vendor flow readings (TomTom, HERE), whichever is more
//! confident, else the detectors. Distance-sampled pings give way to the probe
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
use super::congestion::{
    confidence, los, probe_evidence, FreeFlowSource, Hysteresis, Level, SegmentState,
};
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
    /// Space-mean speed: from probe tracks or pings by their sampling, or vendor flow when
    /// that is more confident; else detectors.
    pub speed_kph: Option<f64>,
    /// `probe`, `flow`, `detector` or `none`: what `speed_kph` was measured from.
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
    /// `catalog`, `vendor`, `learned` or `default`.
    pub free_flow_source: FreeFlowSource,
    pub speed_ratio: Option<f64>,
    pub travel_time_index: Option<f64>,
    pub level: Level,
    pub los: Cow<'static, str>,
    pub confidence: f64,
    #[serde(rename = "final")]
    pub is_final: bool,
    /// How `speed_kph` was estimated: `trajectory`, `time_mean`, `harmonic`, `blend`
    /// (probes); `vendor_flow` (flow readings); `loop_harmonic`, `loop_signal_delay`,
    /// `empty_road`, `occupied_loop` (detectors).
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

/// The speed a window stands for, from what and how it was measured. Probes and vendor flow
/// readings measure the same thing; the one with the higher confidence wins (ties go to the
/// probes). Detectors speak only when neither is there. With detectors but no vehicle
/// passing, an empty detector means an empty road (the reference speed) and an occupied one
/// a standstill.
fn window_speed(
    m: &Measures,
    road: &Road,
) -> (Option<f64>, &'static str, Option<&'static str>, bool) {
    let flow = m
        .flow
        .filter(|f| m.probe_space_mean_kph.is_none() || f.confidence > probe_evidence(m));
    if let Some(f) = flow {
        return (Some(f.speed_kph), "flow", Some("vendor_flow"), false);
    }
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
        // The catalogue first, then a free-flow speed vendor readings carried, then learned.
        let vendor = m.flow.and_then(|f| f.free_flow_kph);
        let (free_flow, ff_source, trust) = match (v.road.free_flow_kph, vendor) {
            (None, Some(ff)) => (ff, FreeFlowSource::Vendor, 1.0),
            (catalog, _) => v.state.free_flow(catalog, preview, v.default_free_flow),
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::aggregate::WindowAgg;
    use crate::domain::event::FlowReading;
    use crate::domain::sampling::Sampling;

    fn verdict(state: &mut SegmentState, catalog: Option<f64>) -> Verdict<'_> {
        Verdict {
            road: Road {
                free_flow_kph: catalog,
                ..Road::default()
            },
            default_free_flow: 50.0,
            hysteresis: Hysteresis::default(),
            state,
        }
    }

    fn tomtom(speed: f64, confidence: f64, closed: bool) -> FlowReading {
        FlowReading {
            speed_kph: speed,
            free_flow_kph: Some(70.0),
            confidence,
            closed,
        }
    }

    fn build(agg: &WindowAgg, catalog: Option<f64>) -> CongestionEvent {
        let mut state = SegmentState::default();
        let m = agg.measures(60_000, None);
        CongestionEvent::build("s", 0, 60_000, m, true, verdict(&mut state, catalog))
    }

    #[test]
    fn vendor_flow_gives_speed_free_flow_and_confidence() {
        let mut agg = WindowAgg::default();
        agg.add_flow(&tomtom(41.0, 0.59, false));
        let e = build(&agg, None);
        assert_eq!((e.speed_kph, &*e.speed_source), (Some(41.0), "flow"));
        assert_eq!(
            (e.free_flow_kph, e.free_flow_source),
            (70.0, FreeFlowSource::Vendor)
        );
        assert_eq!((e.speed_ratio, e.level), (Some(0.586), Level::Moderate));
        assert_eq!((e.samples, e.confidence), (0, 0.59));
        // the catalogue still comes first
        let e = build(&agg, Some(82.0));
        assert_eq!(
            (e.free_flow_kph, e.free_flow_source),
            (82.0, FreeFlowSource::Catalog)
        );
    }

    #[test]
    fn the_more_confident_of_probes_and_flow_gives_the_speed() {
        let mut agg = WindowAgg::default();
        agg.add_flow(&tomtom(41.0, 0.9, false));
        agg.add_probe(20.0, Some("bus-1"), Sampling::Distance); // one bus: evidence 0.18
        assert_eq!(&*build(&agg, None).speed_source, "flow");
        for v in 2..=20 {
            agg.add_probe(60.0, Some(&format!("car-{v}")), Sampling::Distance);
        }
        // 20 vehicles (capped at 3 pings each): evidence 1 − e^(−20/5) = 0.98
        let e = build(&agg, None);
        assert_eq!(&*e.speed_source, "probe");
        assert!(e.confidence > 0.99);
    }

    #[test]
    fn a_closed_road_is_severe_with_no_travel_time() {
        let mut agg = WindowAgg::default();
        agg.add_flow(&tomtom(0.0, 0.95, true));
        let e = build(&agg, None);
        assert_eq!((e.speed_kph, e.speed_ratio), (Some(0.0), Some(0.0)));
        assert_eq!(
            (e.level, e.travel_time_index, &*e.los),
            (Level::Severe, None, "F")
        );
    }
}
