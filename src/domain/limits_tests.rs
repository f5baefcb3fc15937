//! The memory bounds of tasks (`limits.max_segments`, `state.retention`): refusal of new
//! segments at the budget, known segments untouched by a flood, eviction with its tombstone,
//! and the same decisions after a restore.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::catalog::Catalog;
use super::congestion::Hysteresis;
use super::event::{EventBody, InvalidKind, RawEvent, ReportCategory};
use super::limits::Limits;
use super::output::CongestionEvent;
use super::processor::{EmitMode, ProcessorSettings, Task};
use super::window::WindowSpec;

const MIN: i64 = 60_000;

fn settings(max_segments: Option<usize>, retention_ms: i64) -> Arc<ProcessorSettings> {
    Arc::new(ProcessorSettings {
        window: WindowSpec::tumbling(MIN, 0),
        emit: EmitMode::Final,
        idle_timeout_ms: None,
        hysteresis: Hysteresis::default(),
        default_free_flow_kph: 50.0,
        catalog: Arc::new(Catalog::default()),
        future: super::future::FutureBound::OFF,
        sampling: Default::default(),
        detection: None,
        limits: Limits::new(max_segments, retention_ms),
    })
}

pub(super) fn probe(segment: &str, ts: i64, speed: f64) -> RawEvent<'_> {
    RawEvent::probe(segment, ts, speed, "v")
}

/// Admits and folds in each event at consecutive offsets from `first`; returns the refused
/// kinds and the output.
pub(super) fn feed(
    task: &mut Task,
    first: i64,
    events: &[RawEvent<'_>],
) -> (Vec<InvalidKind>, Vec<String>) {
    let (mut refused, mut out) = (Vec::new(), Vec::new());
    for (i, e) in events.iter().enumerate() {
        match task.admit(e, e.ts) {
            Ok(()) => {
                task.on_event(first + i as i64, e, e.ts, &mut out);
            }
            Err(err) => refused.push(err.kind),
        }
    }
    (refused, json(&out))
}

fn json(out: &[CongestionEvent]) -> Vec<String> {
    out.iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect()
}

/// The changelog as a compacted topic would hold it: the latest value per key.
fn drain(task: &mut Task, log: &mut BTreeMap<String, Option<String>>) -> Vec<(String, bool)> {
    let mut seen = Vec::new();
    task.drain_state_changes(|id, change| {
        let value = change.map(|(s, _)| serde_json::to_string(s).unwrap());
        seen.push((id.to_string(), value.is_none()));
        log.insert(id.to_string(), value);
    });
    seen
}

#[test]
fn new_segments_are_refused_at_the_budget_shared_by_the_tasks_of_a_worker() {
    let s = settings(Some(2), 0);
    let (mut t1, mut t2) = (Task::new(Arc::clone(&s)), Task::new(Arc::clone(&s)));
    assert!(feed(&mut t1, 0, &[probe("a", 1_000, 50.0)]).0.is_empty());
    assert!(feed(&mut t2, 0, &[probe("b", 1_000, 50.0)]).0.is_empty());
    assert_eq!(s.limits.segments.held(), 2);
    let refused = feed(
        &mut t1,
        1,
        &[probe("c", 2_000, 50.0), probe("a", 2_000, 40.0)],
    )
    .0;
    assert_eq!(refused, vec![InvalidKind::OverCapacity]);
    let err = t2.admit(&probe("d", 2_000, 1.0), 0).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("over_capacity: segment \"d\" is new"),
        "{err}"
    );
    // Reports hold no segment state: never refused.
    let report = RawEvent {
        segment_id: "z",
        ts: 2_000,
        body: EventBody::Report {
            report_id: None,
            category: ReportCategory::Accident,
        },
    };
    assert!(t1.admit(&report, 0).is_ok());
    // A revoked task gives its segments back.
    drop(t2);
    assert_eq!(s.limits.segments.held(), 1);
    assert!(feed(&mut t1, 3, &[probe("c", 3_000, 50.0)]).0.is_empty());
    assert_eq!((t1.segments(), s.limits.segments.held()), (2, 2));
}

#[test]
fn known_segments_give_the_same_output_with_or_without_a_flood() {
    let known: Vec<RawEvent<'_>> = (0..40)
        .map(|k| probe(["a", "b", "c"][k % 3], k as i64 * 9_000, 30.0 + k as f64))
        .collect();
    let ids: Vec<String> = (0..5_000).map(|n| format!("flood-{n}")).collect();
    let mut flooded = Vec::new();
    for (k, e) in known.iter().enumerate() {
        flooded.push(e.clone());
        // The flood starts once the three known segments are held.
        let from = k.saturating_sub(3) * 100;
        for id in ids[from..from + 100].iter().filter(|_| k >= 3) {
            flooded.push(probe(id, e.ts, 10.0));
        }
    }
    let mut alone = Task::new(settings(Some(3), 0));
    let (refused, mut expected) = feed(&mut alone, 0, &known);
    assert!(refused.is_empty());
    let s = settings(Some(3), 0);
    let mut task = Task::new(Arc::clone(&s));
    let (refused, mut got) = feed(&mut task, 0, &flooded);
    assert_eq!(refused.len(), 3_700);
    assert!(refused.iter().all(|k| *k == InvalidKind::OverCapacity));
    let mut tail = Vec::new();
    alone.close_all(&mut tail);
    expected.extend(json(&tail));
    tail.clear();
    task.close_all(&mut tail);
    got.extend(json(&tail));
    assert_eq!(got, expected);
    assert_eq!((task.segments(), s.limits.segments.held()), (3, 3));
}

#[test]
fn state_not_seen_for_the_retention_is_evicted_with_a_tombstone_and_frees_the_budget() {
    let retention = 10 * MIN;
    let s = settings(Some(2), retention);
    let mut task = Task::new(Arc::clone(&s));
    let mut log = BTreeMap::new();
    feed(
        &mut task,
        0,
        &[probe("a", 1_000, 50.0), probe("b", 2_000, 50.0)],
    );
    // b keeps stream time moving; a's window [0, 1 min) closes at 1 min.
    let b: Vec<_> = (1..=10).map(|m| probe("b", m * MIN + 5, 40.0)).collect();
    feed(&mut task, 2, &b);
    assert_eq!(
        drain(&mut task, &mut log),
        vec![("a".into(), false), ("b".into(), false)]
    );
    assert_eq!(task.segments(), 2);
    let levelled = |task: &Task| task.levels().iter().sum::<usize>();
    assert_eq!(levelled(&task), 2, "a and b had final windows");
    let (refused, _) = feed(&mut task, 12, &[probe("c", 10 * MIN + 6, 40.0)]);
    assert_eq!(
        refused,
        vec![InvalidKind::OverCapacity],
        "the budget is full"
    );
    // 10 min after a's last window ended (at 1 min) it is due; the sweep runs as stream time
    // reaches 11 min.
    feed(&mut task, 12, &[probe("b", 11 * MIN + 5, 40.0)]);
    let drained = drain(&mut task, &mut log);
    assert_eq!(drained[0], ("a".into(), true), "{drained:?}");
    assert_eq!(log["a"], None);
    assert_eq!((task.segments(), s.limits.segments.held()), (1, 1));
    assert_eq!(levelled(&task), 1, "an evicted segment has no level");
    // Room for a new segment again: a comes back, with fresh state, and fills it.
    let (refused, _) = feed(
        &mut task,
        13,
        &[probe("a", 12 * MIN + 1, 50.0), probe("b", 14 * MIN, 1.0)],
    );
    assert!(refused.is_empty());
    let (refused, _) = feed(&mut task, 15, &[probe("c", 14 * MIN + 6, 40.0)]);
    assert_eq!(refused, vec![InvalidKind::OverCapacity]);
    drain(&mut task, &mut log);
    let mut fresh = Task::new(settings(None, retention));
    feed(
        &mut fresh,
        0,
        &[probe("a", 12 * MIN + 1, 50.0), probe("x", 14 * MIN, 1.0)],
    );
    let mut fresh_log = BTreeMap::new();
    drain(&mut fresh, &mut fresh_log);
    assert_eq!(log["a"], fresh_log["a"]);
    assert!(log["b"].is_some());
}

#[test]
fn a_segment_is_evicted_only_once_its_windows_are_emitted() {
    let s = settings(None, 2 * MIN);
    let mut task = Task::new(s);
    let mut log = BTreeMap::new();
    feed(
        &mut task,
        0,
        &[probe("a", 1_000, 50.0), probe("b", 2 * MIN + 30_000, 1.0)],
    );
    // Before a is due (its window ended at 1 min, due at 3 min) it opens [2 min, 3 min).
    feed(&mut task, 2, &[probe("a", 2 * MIN + 40_000, 20.0)]);
    let (_, out) = feed(&mut task, 3, &[probe("b", 3 * MIN + 1, 1.0)]);
    assert!(
        out.iter().any(|e| e.contains("\"segment_id\":\"a\"")),
        "{out:?}"
    );
    assert!(drain(&mut task, &mut log).iter().all(|(_, tomb)| !tomb));
    // Due at 5 min: the sweep at 5 min evicts it.
    feed(&mut task, 4, &[probe("b", 5 * MIN + 1, 1.0)]);
    assert_eq!(drain(&mut task, &mut log)[0], ("a".into(), true));
    // A record of a segment already due finds it evicted, sweep or not.
    feed(
        &mut task,
        5,
        &[probe("c", 5 * MIN + 2, 1.0), probe("b", 6 * MIN, 1.0)],
    );
    drain(&mut task, &mut log);
    feed(&mut task, 7, &[probe("c", 8 * MIN + 30_000, 1.0)]);
    assert_eq!(
        drain(&mut task, &mut log),
        vec![("c".into(), true), ("b".into(), false)]
    );
}

#[test]
fn a_restored_task_evicts_exactly_as_one_that_ran_on() {
    let s = || settings(Some(10), 5 * MIN);
    let ids = ["a", "b", "c", "d"];
    let events: Vec<RawEvent<'_>> = (0..200)
        .map(|k| {
            // a and b go quiet for a while now and then; c and d never.
            let id = ids[k % 4];
            // Quiet for more than the retention, back (finds its state evicted), gone for good.
            let quiet = k % 4 < 2 && ((40..80).contains(&k) || k >= 120);
            probe(
                if quiet { "c" } else { id },
                k as i64 * 11_000,
                20.0 + (k % 7) as f64,
            )
        })
        .collect();
    let mut whole = Task::new(s());
    let mut whole_log = BTreeMap::new();
    let (_, mut expected) = feed(&mut whole, 0, &events);
    let mut tail = Vec::new();
    whole.close_all(&mut tail);
    expected.extend(json(&tail));
    drain(&mut whole, &mut whole_log);
    for cut in [37, 90, 151] {
        let mut first = Task::new(s());
        let mut log = BTreeMap::new();
        let (_, mut got) = feed(&mut first, 0, &events[..cut]);
        drain(&mut first, &mut log);
        let cp = first.checkpoint();
        drop(first);
        let mut second = Task::restore(s(), cp);
        for (id, value) in &log {
            let state = value
                .as_ref()
                .map(|v| (serde_json::from_str(v).unwrap(), None));
            second.restore_segment(id, state);
        }
        let from = cp.offset.unwrap_or(0) as usize;
        let (_, more) = feed(&mut second, from as i64, &events[from..]);
        got.extend(more);
        let mut tail = Vec::new();
        second.close_all(&mut tail);
        got.extend(json(&tail));
        drain(&mut second, &mut log);
        assert_eq!(got, expected, "cut at {cut}");
        assert_eq!(log, whole_log, "cut at {cut}");
    }
    assert!(
        whole_log.values().any(Option::is_none),
        "some state was evicted"
    );
}

#[test]
fn restored_state_is_taken_back_over_the_budget() {
    let s = settings(Some(2), 0);
    let mut task = Task::new(Arc::clone(&s));
    for id in ["a", "b", "c"] {
        task.restore_segment(id, Some((Default::default(), None)));
    }
    task.restore_segment("b", None);
    assert_eq!((task.segments(), s.limits.segments.held()), (2, 2));
    assert!(task.admit(&probe("d", 0, 1.0), 0).is_err());
    assert!(task.admit(&probe("c", 0, 1.0), 0).is_ok());
}
