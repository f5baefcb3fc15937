//! Window semantics of a task, driven with hand-made events: boundaries, grace, late events,
//! hopping membership, idle close, shared stream time, updates, and checkpoint/restore.

use std::sync::Arc;

use super::catalog::{Catalog, SegmentInfo};
use super::event::{EventBody, RawEvent};
use super::output::CongestionEvent;
use super::processor::{Checkpoint, EmitMode, Outcome, ProcessorSettings, Task};
use super::window::WindowSpec;

fn settings(window: WindowSpec, emit: EmitMode, idle: Option<i64>) -> Arc<ProcessorSettings> {
    let mut catalog = Catalog::default();
    catalog.insert(
        "A",
        SegmentInfo {
            free_flow_kph: 100.0,
            ..SegmentInfo::default()
        },
    );
    catalog.insert(
        "B",
        SegmentInfo {
            free_flow_kph: 50.0,
            ..SegmentInfo::default()
        },
    );
    Arc::new(ProcessorSettings {
        idle_timeout_ms: idle,
        catalog: Arc::new(catalog),
        ..ProcessorSettings::new(window, emit)
    })
}

fn tumbling(size_s: i64, grace_s: i64) -> Arc<ProcessorSettings> {
    settings(
        WindowSpec::tumbling(size_s * 1000, grace_s * 1000),
        EmitMode::Final,
        None,
    )
}

fn probe(segment: &'static str, ts: i64, speed: f64) -> RawEvent<'static> {
    RawEvent::probe(segment, ts, speed, "v")
}

/// Feeds events at consecutive offsets; returns outcomes and emitted windows.
fn run(task: &mut Task, events: &[RawEvent<'static>]) -> (Vec<Outcome>, Vec<CongestionEvent>) {
    let mut out = Vec::new();
    let outcomes = events
        .iter()
        .enumerate()
        .map(|(i, e)| task.on_event(i as i64, e, e.ts, &mut out))
        .collect();
    (outcomes, out)
}

fn keys(out: &[CongestionEvent]) -> Vec<(&str, i64, u32)> {
    out.iter()
        .map(|e| (e.segment_id.as_str(), e.window_start, e.samples))
        .collect()
}

#[test]
fn window_closes_exactly_at_end_plus_grace() {
    let mut t = Task::new(tumbling(60, 30));
    let (_, out) = run(
        &mut t,
        &[
            probe("A", 0, 50.0),
            probe("A", 59_999, 70.0),
            probe("A", 89_999, 90.0),
        ],
    );
    assert!(
        out.is_empty(),
        "window [0,60s) must stay open until stream time 90 s"
    );
    let (_, out) = run(&mut t, &[probe("A", 90_000, 90.0)]);
    assert_eq!(keys(&out), vec![("A", 0, 2)]);
    let w = &out[0];
    assert_eq!((w.window_end, w.is_final), (60_000, true));
    assert_eq!(
        w.speed_kph,
        Some(60.0),
        "time-sampled pings (the default): the mean of 50 and 70"
    );
}

#[test]
fn grace_edge_accepts_until_close_then_late() {
    let mut t = Task::new(tumbling(60, 30));
    let (outcomes, out) = run(
        &mut t,
        &[
            probe("A", 10_000, 50.0),
            probe("A", 89_000, 50.0),
            probe("A", 59_000, 40.0),
            probe("A", 90_000, 50.0),
            probe("A", 1_000, 40.0),
        ],
    );
    // the out-of-order event at 59 s arrives while stream time is 89 s < 60 + 30: accepted.
    assert_eq!(outcomes[2], Outcome::Aggregated);
    // after stream time reached 90 s the window is closed: the event at 1 s is late.
    assert_eq!(outcomes[4], Outcome::Late);
    assert_eq!(keys(&out), vec![("A", 0, 2)]);
}

#[test]
fn stream_time_is_shared_by_all_segments_of_a_task() {
    let mut t = Task::new(tumbling(60, 0));
    let (outcomes, out) = run(
        &mut t,
        &[
            probe("A", 1_000, 50.0),
            probe("B", 61_000, 50.0),
            probe("A", 2_000, 50.0),
        ],
    );
    // B's event moved the task's stream time past A's window: A's second event is late.
    assert_eq!(keys(&out), vec![("A", 0, 1)]);
    assert_eq!(outcomes[2], Outcome::Late);
}

#[test]
fn hopping_windows_each_get_the_event() {
    let w = WindowSpec::new(60_000, 20_000, 0);
    let mut t = Task::new(settings(w, EmitMode::Final, None));
    let (_, _) = run(&mut t, &[probe("A", 65_000, 50.0)]);
    let mut out = Vec::new();
    t.close_all(&mut out);
    assert_eq!(
        keys(&out),
        vec![("A", 20_000, 1), ("A", 40_000, 1), ("A", 60_000, 1)]
    );
}

#[test]
fn windows_close_in_start_order_and_segment_order() {
    let mut t = Task::new(tumbling(10, 0));
    let (_, out) = run(
        &mut t,
        &[
            probe("B", 1_000, 10.0),
            probe("A", 2_000, 10.0),
            probe("B", 11_000, 10.0),
            probe("A", 35_000, 10.0),
        ],
    );
    assert_eq!(keys(&out), vec![("A", 0, 1), ("B", 0, 1), ("B", 10_000, 1)]);
}

/// 60 s tumbling windows, 10 s grace, 5 s idle timeout.
fn idle_task() -> Task {
    Task::new(settings(
        WindowSpec::tumbling(60_000, 10_000),
        EmitMode::Final,
        Some(5_000),
    ))
}

#[test]
fn idle_timeout_advances_stream_time_by_wall_clock() {
    let mut t = idle_task();
    let mut out = Vec::new();
    t.on_event(0, &probe("A", 30_000, 50.0), 1_000_000, &mut out);
    t.on_idle(1_004_999, &mut out);
    assert!(out.is_empty(), "not idle yet");
    t.on_idle(1_005_000, &mut out);
    assert!(out.is_empty(), "idle, but stream time 35 s < 70 s");
    t.on_idle(1_040_000, &mut out);
    assert_eq!(keys(&out), vec![("A", 0, 1)]);
}

#[test]
fn held_idle_time_does_not_count() {
    let mut t = idle_task();
    let mut out = Vec::new();
    t.on_event(0, &probe("A", 30_000, 50.0), 1_000_000, &mut out);
    // 60 s out of reach of the broker: held, not idle.
    t.hold_idle(1_060_000);
    t.on_idle(1_060_000, &mut out);
    assert!(out.is_empty(), "an outage does not close windows");
    t.on_idle(1_099_999, &mut out);
    assert!(out.is_empty(), "stream time 69.999 s < 70 s");
    t.on_idle(1_100_000, &mut out);
    assert_eq!(keys(&out), vec![("A", 0, 1)]);
}

#[test]
fn no_idle_close_when_timeout_is_off() {
    let mut t = Task::new(tumbling(60, 0));
    let mut out = Vec::new();
    t.on_event(0, &probe("A", 30_000, 50.0), 0, &mut out);
    t.on_idle(i64::MAX / 2, &mut out);
    assert!(out.is_empty());
}

#[test]
fn updates_mode_emits_changed_windows_then_a_final() {
    let mut t = Task::new(settings(
        WindowSpec::tumbling(60_000, 0),
        EmitMode::Updates {
            interval_ms: 10_000,
        },
        None,
    ));
    let mut out = Vec::new();
    t.on_event(0, &probe("A", 1_000, 50.0), 0, &mut out);
    t.on_tick(0, &mut out);
    t.on_tick(5_000, &mut out); // not due, nothing changed anyway
    t.on_event(1, &probe("A", 2_000, 60.0), 6_000, &mut out);
    t.on_tick(9_000, &mut out); // not due
    t.on_tick(10_000, &mut out);
    t.on_tick(20_000, &mut out); // due, but nothing changed
    t.on_event(2, &probe("B", 60_000, 60.0), 21_000, &mut out);
    let seen: Vec<(&str, u32, bool)> = out
        .iter()
        .map(|e| (e.segment_id.as_str(), e.samples, e.is_final))
        .collect();
    assert_eq!(seen, vec![("A", 1, false), ("A", 2, false), ("A", 2, true)]);
}

#[test]
fn congestion_fields_from_catalog() {
    let mut t = Task::new(tumbling(60, 0));
    let (_, out) = run(
        &mut t,
        &[
            probe("A", 0, 25.0),
            probe("A", 1, 25.0),
            probe("A", 60_000, 90.0),
        ],
    );
    let w = &out[0];
    assert_eq!(w.free_flow_kph, 100.0);
    assert_eq!(w.speed_ratio, Some(0.25));
    assert_eq!(w.travel_time_index, Some(4.0));
    assert_eq!((w.level.as_str(), &*w.los), ("severe", "F"));
}

#[test]
fn checkpoint_commits_oldest_open_window_and_restore_rebuilds_it() {
    let events = [
        probe("A", 1_000, 50.0),   // 0: window 0
        probe("A", 61_000, 40.0),  // 1: closes window 0, opens 60 s
        probe("B", 62_000, 30.0),  // 2
        probe("A", 121_000, 20.0), // 3: closes 60 s, opens 120 s
        probe("B", 59_000, 10.0),  // 4: late
        probe("B", 122_000, 10.0), // 5
    ];
    let mut whole = Task::new(tumbling(60, 0));
    let (_, mut expected) = run(&mut whole, &events);
    whole.close_all(&mut expected);

    // Stop after offset 4 and restart from the checkpoint, as a new owner would.
    let mut first = Task::new(tumbling(60, 0));
    let (_, mut got) = run(&mut first, &events[..5]);
    let cp = first.checkpoint();
    assert_eq!(
        cp,
        Checkpoint {
            offset: Some(3),
            stream_time: Some(121_000),
            position: Some(5)
        }
    );
    let mut second = Task::restore(tumbling(60, 0), cp);
    let mut out = Vec::new();
    for (offset, e) in events.iter().enumerate().skip(3) {
        let outcome = second.on_event(offset as i64, e, 0, &mut out);
        if offset == 4 {
            assert_eq!(
                outcome,
                Outcome::Replayed,
                "a late event re-read after restart is not late twice"
            );
        }
    }
    second.close_all(&mut out);
    got.extend(out);
    assert_eq!(keys(&got), keys(&expected));
}

#[test]
fn reports_advance_stream_time_but_open_no_window() {
    let mut t = Task::new(tumbling(60, 0));
    let report = RawEvent {
        segment_id: "A",
        ts: 120_000,
        body: EventBody::Report {
            report_id: None,
            category: super::event::ReportCategory::Accident,
        },
    };
    let (outcomes, out) = run(&mut t, &[probe("A", 1_000, 50.0), report]);
    assert_eq!(outcomes[1], Outcome::Report);
    assert_eq!(keys(&out), vec![("A", 0, 1)]);
    assert_eq!(t.open_windows(), 0);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// No probe is counted twice or lost: every one is either in exactly one final
        /// tumbling window or counted late, and no window is emitted twice.
        #[test]
        fn every_probe_is_counted_once(events in proptest::collection::vec((0u8..4, 0i64..600_000), 1..300), grace in 0i64..60_000) {
            let mut t = Task::new(settings(WindowSpec::tumbling(60_000, grace), EmitMode::Final, None));
            let segs = ["A", "B", "C", "D"];
            let mut out = Vec::new();
            let mut late = 0;
            for (i, (s, ts)) in events.iter().enumerate() {
                if t.on_event(i as i64, &probe(segs[*s as usize], *ts, 50.0), 0, &mut out) == Outcome::Late {
                    late += 1;
                }
            }
            t.close_all(&mut out);
            let counted: u32 = out.iter().map(|e| e.samples).sum();
            prop_assert_eq!(counted as usize + late, events.len());
            let mut keys: Vec<(String, i64)> = out.iter().map(|e| (e.segment_id.clone(), e.window_start)).collect();
            let n = keys.len();
            keys.sort();
            keys.dedup();
            prop_assert_eq!(keys.len(), n);
        }

        /// Hopping windows: a timestamp far from the epoch is in exactly size/advance windows,
        /// each of which holds it.
        #[test]
        fn hopping_windows_cover_each_instant_size_over_advance_times(ts in 3_600_000i64..10_000_000_000, k in 1i64..8, advance in 1_000i64..60_000) {
            let w = WindowSpec::new(advance * k, advance, 0);
            let starts: Vec<i64> = w.starts_for(ts).collect();
            prop_assert_eq!(starts.len() as i64, k);
            for s in starts {
                prop_assert!(s <= ts && ts < s + advance * k && s % advance == 0);
            }
        }

        /// A checkpoint taken at any point, restored with the segment states the changelog
        /// recorded up to it, reproduces the uninterrupted output, every field (levels and
        /// learned free-flow speeds included).
        #[test]
        fn restore_from_any_checkpoint_reproduces_the_output(events in proptest::collection::vec((0u8..3, 0i64..400_000, 5u8..120), 2..200), cut in 0usize..200) {
            let spec = || settings(WindowSpec::tumbling(60_000, 10_000), EmitMode::Final, None);
            let segs = ["A", "B", "C"];
            let evs: Vec<RawEvent<'static>> = events.iter().map(|(s, ts, v)| probe(segs[*s as usize], *ts, f64::from(*v))).collect();
            let cut = cut % evs.len();
            let mut whole = Task::new(spec());
            let (_, mut expected) = run(&mut whole, &evs);
            whole.close_all(&mut expected);
            let mut first = Task::new(spec());
            let (_, mut got) = run(&mut first, &evs[..cut]);
            let cp = first.checkpoint();
            // The compacted changelog: the latest serialized state per segment.
            let mut changelog = std::collections::BTreeMap::new();
            first.drain_state_changes(|id, change| {
                let bytes = change.map(|(state, _)| serde_json::to_vec(state).unwrap());
                changelog.insert(id.to_string(), bytes);
            });
            let mut second = Task::restore(spec(), cp);
            for (id, bytes) in &changelog {
                let state = bytes.as_ref().map(|b| (serde_json::from_slice(b).unwrap(), None));
                second.restore_segment(id, state);
            }
            let from = cp.offset.unwrap_or(0) as usize;
            for (i, e) in evs.iter().enumerate().skip(from) {
                second.on_event(i as i64, e, 0, &mut got);
            }
            second.close_all(&mut got);
            let json = |v: &[CongestionEvent]| v.iter().map(|e| serde_json::to_string(e).unwrap()).collect::<Vec<_>>();
            prop_assert_eq!(json(&got), json(&expected));
        }
    }
}
