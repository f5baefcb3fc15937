//! Task-level tests of how a window's speed is estimated: sampling by topic and source,
//! vehicle tracks, and signalised segments (reference speed, level, LOS, delay).

use std::sync::Arc;

use super::catalog::Catalog;
use super::congestion::Level;
use super::event::{EventBody, RawEvent};
use super::output::CongestionEvent;
use super::processor::{EmitMode, ProcessorSettings, Task};
use super::sampling::{Sampling, SamplingRules};
use super::window::WindowSpec;

const CATALOG: &str = "segment_id,free_flow_kph,length_m,signal_cycle_s,signal_green_s\n\
                       S,54,600,90,45\nF,100,800,,\n";

fn task(sampling: SamplingRules) -> Task {
    Task::new(Arc::new(ProcessorSettings {
        catalog: Arc::new(Catalog::parse_csv(CATALOG).unwrap()),
        sampling,
        ..ProcessorSettings::new(WindowSpec::tumbling(60_000, 0), EmitMode::Final)
    }))
}

fn probe(
    seg: &'static str,
    ts: i64,
    speed: f64,
    vehicle: &'static str,
    source: Option<&'static str>,
    offset_m: Option<f64>,
) -> RawEvent<'static> {
    RawEvent {
        segment_id: seg,
        ts,
        body: EventBody::Probe {
            speed_kph: speed,
            vehicle_id: Some(vehicle),
            source,
            offset_m,
        },
    }
}

fn window(task: &mut Task, events: &[RawEvent<'static>]) -> CongestionEvent {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        task.on_event(i as i64, e, e.ts, &mut out);
    }
    task.close_all(&mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    out.remove(0)
}

#[test]
fn sampling_comes_from_the_source_then_the_topic_then_the_default() {
    let rules = SamplingRules {
        default: Sampling::Time,
        topics: [("spot".to_string(), Sampling::Distance)].into(),
        sources: [("acme".to_string(), Sampling::Time)].into(),
    };
    let pings = |source| {
        [
            probe("F", 1_000, 30.0, "a", source, None),
            probe("F", 2_000, 60.0, "b", source, None),
        ]
    };
    let mut plain = task(rules.clone());
    let e = window(&mut plain, &pings(None));
    assert_eq!(
        (e.speed_kph, e.speed_estimator.as_deref()),
        (Some(45.0), Some("time_mean"))
    );
    let mut spot = task(rules.clone());
    spot.set_input_topic("spot");
    let e = window(&mut spot, &pings(None));
    assert_eq!(
        (e.speed_kph, e.speed_estimator.as_deref()),
        (Some(40.0), Some("harmonic"))
    );
    let mut acme = task(rules);
    acme.set_input_topic("spot");
    assert_eq!(
        window(&mut acme, &pings(Some("acme"))).speed_kph,
        Some(45.0)
    );
}

#[test]
fn distance_sampled_pings_with_positions_give_distance_over_time() {
    let spot = SamplingRules {
        default: Sampling::Distance,
        ..SamplingRules::default()
    };
    // Vehicle a: 0 → 200 m in 20 s (36 km/h); b: 100 → 400 m in 15 s (72 km/h).
    let events = [
        probe("F", 0, 40.0, "a", None, Some(0.0)),
        probe("F", 5_000, 70.0, "b", None, Some(100.0)),
        probe("F", 20_000, 30.0, "a", None, Some(200.0)),
        probe("F", 20_000, 75.0, "b", None, Some(400.0)),
    ];
    let e = window(&mut task(spot.clone()), &events);
    assert_eq!(e.speed_estimator.as_deref(), Some("trajectory"));
    assert!(
        (e.speed_kph.unwrap() - 500.0 / 35.0 * 3.6).abs() < 0.01,
        "{e:?}"
    );
    // The same pings sampled by time keep their mean: tracks are cut short by the window.
    let e = window(&mut task(SamplingRules::default()), &events);
    assert_eq!(
        (e.speed_kph, e.speed_estimator.as_deref()),
        (Some(53.75), Some("time_mean"))
    );
    // Without positions, the harmonic mean.
    let e = window(&mut task(spot), &[probe("F", 0, 40.0, "a", None, None)]);
    assert_eq!(e.speed_estimator.as_deref(), Some("harmonic"));
}

#[test]
fn a_signalised_street_judges_delay_beyond_the_normal_signal_delay() {
    // S: 600 m at 54 km/h (40 s) plus 0.5·90·(1 − 45/90)² = 11.25 s at the signal.
    let reference = 600.0 / 51.25 * 3.6; // 42.15 km/h
    let normal = window(
        &mut task(SamplingRules::default()),
        &[probe("S", 0, reference, "a", None, None)],
    );
    assert_eq!(normal.reference_speed_kph, Some(42.15));
    assert_eq!((normal.level, normal.speed_ratio), (Level::Free, Some(1.0)));
    // Level of service is by the base free-flow speed: 42.15 / 54 = 0.78 → B.
    assert_eq!(normal.los, "B");
    assert_eq!(normal.delay_s, Some(0.0));
    // Twice the reference travel time: 51.25 s of delay, ratio 0.5 → heavy.
    let slow = window(
        &mut task(SamplingRules::default()),
        &[probe("S", 0, reference / 2.0, "a", None, None)],
    );
    assert_eq!((slow.level, slow.delay_s), (Level::Heavy, Some(51.3)));
    assert_eq!(slow.travel_time_index, Some(2.0));
    // A freeway segment: the reference is the free-flow speed, as before.
    let f = window(
        &mut task(SamplingRules::default()),
        &[probe("F", 0, 100.0, "a", None, None)],
    );
    assert_eq!((f.reference_speed_kph, f.los.as_ref()), (Some(100.0), "A"));
}
