//! `limits.max_open_windows`: a record that would open more (segment, window)s than the
//! worker's budget allows is refused, records of windows already open never are, the windows a
//! record's stream time closes make room first, and tasks give their windows back.

use std::sync::Arc;

use super::event::{InvalidKind, RawEvent};
use super::limits::{Limits, MAX_OPEN_WINDOWS};
use super::limits_tests::{feed, probe};
use super::processor::{EmitMode, ProcessorSettings, Task};
use super::window::WindowSpec;

const MIN: i64 = 60_000;

/// One-minute windows with two minutes of grace: a segment has up to three open windows.
fn settings(max_open_windows: Option<usize>) -> Arc<ProcessorSettings> {
    let mut s = ProcessorSettings::new(WindowSpec::tumbling(MIN, 2 * MIN), EmitMode::Final);
    s.limits = Limits::new(None, 0).with_max_open_windows(max_open_windows);
    Arc::new(s)
}

#[test]
fn a_record_that_would_open_one_more_window_is_refused_and_open_ones_go_on() {
    let s = settings(Some(3));
    let mut task = Task::new(Arc::clone(&s));
    let (refused, _) = feed(&mut task, 0, &[probe("a", 0, 50.0), probe("b", 1, 50.0)]);
    assert!(refused.is_empty());
    let (refused, _) = feed(&mut task, 2, &[probe("a", MIN, 40.0)]);
    assert!(refused.is_empty(), "the third window fits");
    assert_eq!((task.open_windows(), s.limits.windows.held()), (3, 3));
    // b's second window does not fit; a's and b's open windows still take records.
    let late_b = probe("b", MIN + 1, 30.0);
    let err = task.admit(&late_b, late_b.ts).unwrap_err();
    assert_eq!(
        (err.kind, err.limit),
        (InvalidKind::OverCapacity, Some(MAX_OPEN_WINDOWS))
    );
    assert!(err.message.contains("\"b\""), "{err}");
    let more = [
        probe("a", MIN + 2, 41.0),
        probe("b", 2, 52.0),
        probe("a", 3, 49.0),
    ];
    let (refused, _) = feed(&mut task, 3, &more);
    assert!(refused.is_empty());
    // A new segment is refused the same way, without any segment limit.
    let (refused, _) = feed(&mut task, 6, &[probe("c", MIN + 3, 50.0)]);
    assert_eq!(refused, vec![InvalidKind::OverCapacity]);
    assert_eq!(task.segments(), 2, "the refused record left no state");
    // At 3 min window 0 closes (a and b): that record's own window fits in the room it makes.
    let (refused, out) = feed(&mut task, 7, &[probe("c", 3 * MIN, 50.0)]);
    assert!(refused.is_empty());
    assert_eq!(out.len(), 2, "window 0 of a and b emitted");
    assert_eq!((task.open_windows(), s.limits.windows.held()), (2, 2));
    let mut out = Vec::new();
    task.close_all(&mut out);
    assert_eq!(s.limits.windows.held(), 0);
}

#[test]
fn with_room_the_output_is_the_unbounded_output_and_at_the_limit_only_refusals_differ() {
    let events: Vec<RawEvent<'_>> = (0..600)
        .map(|i| {
            probe(
                ["a", "b", "c", "d", "e"][i % 5],
                (i as i64) * 1_000,
                20.0 + (i % 7) as f64,
            )
        })
        .collect();
    let run = |max| {
        let s = settings(max);
        let mut task = Task::new(Arc::clone(&s));
        let (refused, mut out) = feed(&mut task, 0, &events);
        let mut rest = Vec::new();
        task.close_all(&mut rest);
        out.extend(rest.iter().map(|e| serde_json::to_string(e).unwrap()));
        assert_eq!(s.limits.windows.held(), 0, "every window given back");
        (refused.len(), out)
    };
    let (none, unbounded) = run(None);
    assert_eq!(none, 0);
    // 5 segments × (1 current + 2 in grace) windows at most: 15 fit, and nothing changes.
    assert_eq!(run(Some(15)), (0, unbounded.clone()));
    // 12 do not: records refused, fewer windows out, never more.
    let (refused, bounded) = run(Some(12));
    assert!(refused > 0);
    assert!(
        bounded.len() < unbounded.len(),
        "{} {}",
        bounded.len(),
        unbounded.len()
    );
}

#[test]
fn the_budget_is_shared_by_the_tasks_of_a_worker_and_given_back_when_one_is_dropped() {
    let s = settings(Some(2));
    let mut t1 = Task::new(Arc::clone(&s));
    let mut t2 = Task::new(Arc::clone(&s));
    assert!(
        feed(&mut t1, 0, &[probe("a", 0, 50.0), probe("b", 0, 50.0)])
            .0
            .is_empty()
    );
    let (refused, _) = feed(&mut t2, 0, &[probe("x", 0, 50.0)]);
    assert_eq!(refused, vec![InvalidKind::OverCapacity]);
    drop(t1);
    assert_eq!(s.limits.windows.held(), 0);
    assert!(feed(&mut t2, 1, &[probe("x", 1, 50.0)]).0.is_empty());
    // Reports open no (segment, window) and are never refused.
    let report = RawEvent {
        body: super::event::EventBody::Report {
            report_id: Some("r"),
            category: super::event::ReportCategory::Accident,
        },
        ..probe("y", 2, 0.0)
    };
    t2.check_room(&report).unwrap();
}
