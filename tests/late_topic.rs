//! `kafka.late_topic` against the real broker: late records (every window they belong to had
//! closed) reach the late topic in the worker's transactions, bytes unchanged, with headers
//! naming their origin, their last window and the stream time that had closed it; a SIGTERM
//! and restart, which reads them again (they lie above the committed offset), writes none of
//! them twice.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use roadpulse::sim::generator::{self, Record};

const PARTITIONS: i32 = 2;
const LATE: usize = 20;

/// Probes ten minutes and more behind the traffic's first record, of the traffic's segments.
fn late_records(t0: i64) -> Vec<Record> {
    (0..LATE)
        .map(|i| {
            let segment = generator::segment_id(i as u32 % TRAFFIC_SEGMENTS);
            let ts = t0 - 600_000 - i as i64 * 1_000;
            let value = format!(
                r#"{{"type":"probe","segment_id":"{segment}","ts":{ts},"speed_kph":42.0,"vehicle_id":"late-{i}"}}"#
            );
            Record {
                key: segment,
                value: value.into_bytes(),
                ts,
                poison: false,
            }
        })
        .collect()
}

#[test]
fn late_records_reach_the_late_topic_once_with_their_window_and_stream_time() {
    let setup = Setup::new("late", PARTITIONS, None);
    let late_topic = format!("{}-late", setup.input);
    create_topics(&setup.bootstrap, &[&late_topic], PARTITIONS);
    let mut records = traffic(6_000, 0.0, 9);
    let t0 = records[0].ts;
    records.extend(late_records(t0));
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    produce(&setup.bootstrap, &setup.input, &records);

    let late_set = format!("kafka.late_topic=\"{late_topic}\"");
    // No idle close for w1: the windows at the end of the input stay open, so its last commit
    // leaves the late records above the committed offset.
    let mut w1 = setup.start_worker("w1", &[&late_set, "window.idle_timeout=\"0s\""]);
    let first = read_topic(
        &setup.bootstrap,
        &late_topic,
        Duration::from_secs(60),
        |rs| rs.len() >= LATE,
    );
    assert_eq!(
        first.len(),
        LATE,
        "w1 wrote every late record:\n{}",
        w1.log_text()
    );
    w1.sigterm();
    assert_eq!(
        w1.wait_exit(Duration::from_secs(30)),
        Some(0),
        "{}",
        w1.log_text()
    );

    // The restarted worker reads the late records again and must not write them again.
    let mut w2 = setup.start_worker("w2", &[&late_set]);
    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(90));
    assert_eq!(repeats, 0);
    let problems = diff(&expected, &got, &[]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    w2.stop();

    let letters = read_topic(
        &setup.bootstrap,
        &late_topic,
        Duration::from_secs(30),
        |rs| rs.len() >= LATE,
    );
    let input = read_topic(
        &setup.bootstrap,
        &setup.input,
        Duration::from_secs(60),
        |rs| rs.len() >= records.len(),
    );
    let mut origins = BTreeSet::new();
    for l in &letters {
        assert_eq!(l.headers["roadpulse.source.topic"], setup.input);
        let p: i32 = l.headers["roadpulse.source.partition"].parse().unwrap();
        let o: i64 = l.headers["roadpulse.source.offset"].parse().unwrap();
        assert!(origins.insert((p, o)), "({p}, {o}) written twice");
        let original = input
            .iter()
            .find(|r| r.partition == p && r.offset == o)
            .expect("the headers point at an input record");
        assert_eq!(l.value, original.value, "value bytes unchanged");
        assert_eq!(l.key, original.key, "key bytes unchanged");
        let event: serde_json::Value = serde_json::from_slice(l.value.as_ref().unwrap()).unwrap();
        let ts = event["ts"].as_i64().unwrap();
        assert!(ts < t0, "only the late records are late: {event}");
        let (start, end) = l.headers["roadpulse.late.window"]
            .split_once("..")
            .map(|(s, e)| (s.parse::<i64>().unwrap(), e.parse::<i64>().unwrap()))
            .expect("window header start..end");
        let stream_time: i64 = l.headers["roadpulse.late.stream_time"].parse().unwrap();
        assert!(start <= ts && ts < end, "{ts} in its window {start}..{end}");
        assert!(
            end + 2_000 <= stream_time,
            "window {start}..{end} had closed at stream time {stream_time} (grace 2 s)"
        );
    }
    assert_eq!(origins.len(), LATE, "each late record once");
}
