//! The memory bound (`limits.max_segments`): a flood of distinct segment ids into a replay and
//! into a worker on the real broker. Records of new segments over the limit are refused (the
//! worker dead-letters each exactly once, kind `over_capacity`, and counts them), and the
//! segments already held give exactly the output they give without the flood. And
//! `state.retention`: a quiet segment is evicted with a tombstone to its changelog key.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use roadpulse::sim::generator::{Record, Workload, WorkloadConfig};
use serde_json::Value;

/// `known` generated records (20 segments), then after the first `lead` of them one record of
/// a new segment id after every record, `flood` in all, each dated like its neighbour.
fn flooded(known: u64, lead: usize, flood: usize) -> (Vec<Record>, Vec<Record>) {
    let good = Workload::new(WorkloadConfig {
        segments: 20,
        events_per_sec: 1_000.0,
        poison_ratio: 0.0,
        seed: 1616,
        ..WorkloadConfig::default()
    })
    .take(known);
    let mut all = Vec::with_capacity(good.len() + flood);
    let mut n = 0;
    for (i, r) in good.iter().enumerate() {
        all.push(r.clone());
        let per = flood.div_ceil(good.len() - lead);
        for _ in 0..per {
            if i >= lead && n < flood {
                let id = format!("flood-{n:07}");
                let value = format!(
                    r#"{{"type":"probe","segment_id":"{id}","ts":{},"speed_kph":30.0,"vehicle_id":"f"}}"#,
                    r.ts
                );
                all.push(Record {
                    key: id,
                    value: value.into_bytes(),
                    ts: r.ts,
                    poison: false,
                });
                n += 1;
            }
        }
    }
    assert_eq!(n, flood);
    (good, all)
}

fn known_ids(records: &[Record]) -> BTreeSet<String> {
    records.iter().map(|r| r.key.clone()).collect()
}

fn replay_lines(
    records: &[Record],
    sets: &[String],
) -> (Vec<String>, roadpulse::replay::ReplaySummary) {
    replay_in_process(records, sets, 4)
}

#[test]
fn replay_of_a_flood_of_new_ids_keeps_known_segments_exact_and_counts_the_refused() {
    let (good, all) = flooded(20_000, 2_000, 200_000);
    let known = known_ids(&good);
    assert_eq!(known.len(), 20);
    assert!(
        known_ids(&good[..2_000]) == known,
        "every known segment precedes the flood"
    );
    let sets = vec!["limits.max_segments=50".to_string()];
    let (expected, base) = replay_lines(&good, &sets);
    let (got, summary) = replay_lines(&all, &sets);
    assert_eq!(base.over_capacity, 0);
    // 30 flood ids fit under the limit (20 known + 30 = 50); every other one is refused.
    assert_eq!(summary.over_capacity, 200_000 - 30);
    assert_eq!(summary.bad_count, summary.over_capacity);
    let of_known = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                known.contains(v["segment_id"].as_str().unwrap())
            })
            .cloned()
            .collect()
    };
    assert_eq!(of_known(&got), expected, "known segments' output unchanged");
    assert_eq!(
        got.len() - expected.len(),
        30,
        "one window per admitted flood id"
    );
}

#[test]
fn worker_dead_letters_each_new_segment_over_the_limit_exactly_once() {
    let setup = Setup::new("limits", 2, None);
    let (good, all) = flooded(8_000, 1_000, 5_000);
    let known = known_ids(&good);
    assert!(known_ids(&good[..1_000]) == known);
    let expected = replay(&setup.dir, &good, 2, &setup.domain_sets);
    let port = free_port();
    let listen = format!("http.listen=\"127.0.0.1:{port}\"");
    // The idle close (which replay does not have) only ends the tail, well after the flood.
    let mut w = setup.start_worker(
        "w",
        &[
            "limits.max_segments=30",
            "kafka.processing_guarantee=\"exactly_once\"",
            "window.idle_timeout=\"20s\"",
            &listen,
        ],
    );
    // The known segments first, so that they are held before the flood arrives.
    produce(&setup.bootstrap, &setup.input, &all[..1_000]);
    wait_consumed(&setup, port, 1_000, Duration::from_secs(60));
    produce(&setup.bootstrap, &setup.input, &all[1_000..]);
    let over = 5_000 - 10;
    let refused = over_capacity_letters(
        &setup,
        over,
        "limits.max_segments",
        Duration::from_secs(120),
    );
    assert!(refused.iter().all(|id| id.starts_with("flood-")));

    let windows = expected.len() + 10;
    let (got, repeats) = read_finals(&setup, windows, Duration::from_secs(120));
    assert_eq!(repeats, 0);
    let (of_known, of_flood): (BTreeMap<_, _>, BTreeMap<_, _>) =
        got.into_iter().partition(|((id, _), _)| known.contains(id));
    let problems = diff(&expected, &of_known, &[]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Nothing lost: every flood id is either held (its window out) or dead-lettered.
    let admitted: BTreeSet<String> = of_flood.keys().map(|(id, _)| id.clone()).collect();
    assert_eq!(admitted.len(), 10);
    assert!(admitted.is_disjoint(&refused));
    assert_eq!(admitted.len() + refused.len(), 5_000);

    let metrics = metrics_text(port);
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
            .to_string()
    };
    assert_eq!(
        value("roadpulse_over_capacity_total{limit=\"max_segments\"}"),
        over.to_string()
    );
    assert_eq!(
        value("roadpulse_over_capacity_total{limit=\"max_open_windows\"}"),
        "0"
    );
    assert_eq!(value("roadpulse_state_segments_limit"), "30");
    assert_eq!(value("roadpulse_state_segments"), "30");
    assert_eq!(
        value("roadpulse_decode_errors_total{kind=\"over_capacity\"}"),
        over.to_string()
    );
    w.stop();
}

const BASE: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn probe_record_v(id: &str, ts: i64, speed: f64) -> Record {
    probe_record(id, ts, speed, "v")
}

#[test]
fn worker_evicts_a_quiet_segment_with_a_tombstone_to_its_changelog() {
    let setup = Setup::new("retention", 1, None);
    // quiet: 0–4 s, back at 50 s; busy: every second to 60 s, then once at 120 s.
    let mut records: Vec<Record> = (0..5)
        .map(|s| probe_record_v("quiet", BASE + s * 1_000, 40.0 + s as f64))
        .collect();
    for s in 5..=60 {
        records.push(probe_record_v(
            "busy",
            BASE + s * 1_000,
            50.0 + (s % 9) as f64,
        ));
        if s == 50 {
            records.push(probe_record_v("quiet", BASE + 50_500, 20.0));
        }
    }
    records.push(probe_record_v("busy", BASE + 120_000, 55.0));
    let mut sets = setup.domain_sets.clone();
    sets.push("state.retention=\"20s\"".into());
    let all = replay(&setup.dir, &records, 1, &sets);
    // Evicted, quiet comes back with nothing learned: its window at 50 s is not what it is
    // with its state kept.
    let kept = replay(&setup.dir, &records, 1, &setup.domain_sets);
    let back = ("quiet".to_string(), BASE + 50_000);
    assert_ne!(all[&back], kept[&back]);
    // Without the idle close, the worker closes what stream time 120 s closes.
    let expected: BTreeMap<_, _> = all
        .into_iter()
        .filter(|(_, v)| v["window_end"].as_i64().unwrap() + 2_000 <= BASE + 120_000)
        .collect();
    let extra = ["state.retention=\"20s\"", "window.idle_timeout=\"0s\""];
    let (mut w, port) = run_and_compare(&setup, &extra, &records, &expected);

    let changelog = format!("{}-{}-state-changelog", setup.group, setup.input);
    let quiet = |rs: &[Read]| -> Vec<Option<Vec<u8>>> {
        rs.iter()
            .filter(|r| r.key.as_deref() == Some(b"quiet"))
            .map(|r| r.value.clone())
            .collect()
    };
    let log = read_topic(
        &setup.bootstrap,
        &changelog,
        Duration::from_secs(60),
        |rs| quiet(rs).iter().filter(|v| v.is_none()).count() >= 2,
    );
    let values = quiet(&log);
    // Two evictions (20 s after its window ended at 5 s, and by stream time 120 s after it came
    // back at 50 s), one tombstone each, the last word; a state change drained in the same
    // commit cycle as its eviction is not written at all.
    let tombstones: Vec<usize> = (0..values.len()).filter(|&i| values[i].is_none()).collect();
    assert_eq!(tombstones.len(), 2, "{values:?}");
    assert_eq!(tombstones.last(), Some(&(values.len() - 1)));
    for v in values.iter().flatten() {
        let (state, _) = roadpulse::kafka::changelog::decode(v).unwrap();
        assert!([Some(BASE + 5_000), Some(BASE + 55_000)].contains(&state.last_seen()));
    }

    let metrics = metrics_text(port);
    let evictions = metrics
        .lines()
        .find_map(|l| l.strip_prefix("roadpulse_state_evictions_total "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    // busy's window at 60 s is still open at 120 s: it is kept.
    assert_eq!(evictions, 2, "quiet twice");
    // The level gauges count the segments held: quiet left them when it was evicted.
    let by_level = metric_sum(&metrics, "roadpulse_segments_by_level");
    assert_eq!(
        metric(&metrics, "roadpulse_state_segments").as_deref(),
        Some("1")
    );
    assert_eq!(by_level, 1.0, "busy alone:\n{metrics}");
    w.stop();
}
