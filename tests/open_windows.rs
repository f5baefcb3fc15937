//! `limits.max_open_windows` on the real broker: an exactly-once worker on one partition
//! refuses the very records a replay with the same limit refuses (each dead-lettered once,
//! read_committed, kind `over_capacity`), its windows equal that replay's,, and the metrics
//! say how many were refused and what the limit is.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use roadpulse::sim::generator::Record;

const BASE: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// 20 segments, one probe each every 500 ms for 30 s, round robin: with 5 s windows and 2 s
/// of grace each segment has two windows open for 2 s after every window end (40 in all).
fn records() -> Vec<Record> {
    let mut out = Vec::new();
    for step in 0..60i64 {
        for s in 0..20i64 {
            let id = format!("seg-{s:02}");
            let ts = BASE + step * 500 + s * 20;
            let speed = 30.0 + ((step * 7 + s) % 40) as f64;
            out.push(probe_record(&id, ts, speed, &format!("v{s}")));
        }
    }
    out
}

/// The lines (1-based) a one-partition replay refuses, and how many it refused.
fn refused_by_replay(records: &[Record], sets: &[String]) -> (Vec<usize>, u64) {
    let (_, summary) = replay_in_process(records, sets, 1);
    let lines = summary.bad.iter().map(|b| b.line).collect();
    (lines, summary.over_capacity)
}

#[test]
fn worker_refuses_what_replay_refuses_at_the_open_window_limit() {
    let setup = Setup::new("open-windows", 1, None);
    let records = records();
    let mut sets = setup.domain_sets.clone();
    sets.push("limits.max_open_windows=30".into());
    let (lines, over) = refused_by_replay(&records, &sets);
    // Window by window, 10 of the 20 segments find no room for their next window until the
    // previous one closes (2 s later); the rest of each window is taken.
    assert!(over > 100, "{over}");
    assert_eq!(refused_by_replay(&records, &setup.domain_sets).1, 0);
    let expected = replay(&setup.dir, &records, 1, &sets);
    assert!(expected.len() > 100);

    let extra = ["limits.max_open_windows=30"];
    let (mut w, port) = run_and_compare(&setup, &extra, &records, &expected);
    let dead = read_topic(
        &setup.bootstrap,
        &setup.dlq,
        Duration::from_secs(120),
        |rs| rs.len() as u64 >= over,
    );
    assert_eq!(
        dead.len() as u64,
        over,
        "one dead letter per refused record"
    );
    let mut offsets = BTreeSet::new();
    for d in &dead {
        assert_eq!(d.headers["roadpulse.error.kind"], "over_capacity");
        let message = &d.headers["roadpulse.error.message"];
        assert!(message.contains("limits.max_open_windows"), "{message}");
        offsets.insert(
            d.headers["roadpulse.source.offset"]
                .parse::<usize>()
                .unwrap(),
        );
    }
    // The same records as replay's (it lists the first 20 of its bad lines).
    let first: Vec<usize> = offsets.iter().take(lines.len()).map(|o| o + 1).collect();
    assert_eq!(first, lines);
    assert_eq!(offsets.len() as u64, over, "each origin once");

    let text = metrics_text(port);
    let value = |name: &str| metric(&text, name).unwrap_or_else(|| panic!("{name} in {text}"));
    let refused = "roadpulse_over_capacity_total{limit=\"max_open_windows\"}";
    assert_eq!(value(refused), over.to_string());
    assert_eq!(
        value("roadpulse_over_capacity_total{limit=\"max_segments\"}"),
        "0"
    );
    assert_eq!(value("roadpulse_windows_open_limit"), "30");
    assert_eq!(
        value("roadpulse_decode_errors_total{kind=\"over_capacity\"}"),
        over.to_string()
    );
    w.stop();
}
