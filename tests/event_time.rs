//! Hostile event time (the cases of issue 16), with the real binary and the real broker:
//! a probe dated `9223372036854775000` or 2100-01-01 among good ones must neither hang
//! `roadpulse replay` nor make later records late; on Kafka it goes to the DLQ with kind
//! `invalid_timestamp` and the partition keeps moving, also across a restart, also when the
//! committed stream time itself is bogus.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use roadpulse::sim::generator::{Record, Workload, WorkloadConfig};

const END_OF_TIME: i64 = 9_223_372_036_854_775_000;
const YEAR_2100: i64 = 4_102_444_800_000;
const BASE: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn probe(ts: i64, i: usize) -> String {
    format!(
        r#"{{"type":"probe","segment_id":"S1","ts":{ts},"speed_kph":{},"vehicle_id":"v{i}"}}"#,
        40 + i % 30
    )
}

/// 100 good probes of one segment, one a second, with `bad` (if any) after the first `at`.
fn hundred_probes(bad: Option<(usize, i64)>) -> String {
    let mut lines: Vec<String> = (0..100)
        .map(|i| probe(BASE + i as i64 * 1_000, i))
        .collect();
    if let Some((at, ts)) = bad {
        lines.insert(at, probe(ts, 999));
    }
    lines.join("\n") + "\n"
}

/// Runs `roadpulse replay` on `input`; fails the test if it has not ended within a minute
/// (the bug this guards against spun at 100 % CPU forever). Returns output and stderr.
fn replay_bounded(dir: &Path, name: &str, input: &str, sets: &[&str]) -> (String, String) {
    let (inp, out) = (
        dir.join(format!("{name}.jsonl")),
        dir.join(format!("{name}.out")),
    );
    std::fs::write(&inp, input).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["replay", "--input"])
        .arg(&inp)
        .arg("--output")
        .arg(&out);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let err = dir.join(format!("{name}.err"));
    let mut child = cmd
        .stderr(std::fs::File::create(&err).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("replay {name} did not end within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "replay {name} failed");
    let read = |p| std::fs::read_to_string(p).unwrap();
    (read(&out), read(&err))
}

#[test]
fn replay_refuses_a_probe_at_the_end_of_time_and_ends() {
    let dir = scratch_dir("end-of-time");
    let (reference, _) = replay_bounded(&dir, "good", &hundred_probes(None), &[]);
    assert_eq!(
        reference.lines().count(),
        2,
        "100 s of probes: two 60 s windows"
    );
    for (name, at) in [("middle", 50), ("last", 100)] {
        let (got, stderr) =
            replay_bounded(&dir, name, &hundred_probes(Some((at, END_OF_TIME))), &[]);
        assert_eq!(
            got, reference,
            "{name}: the good probes' windows, every field"
        );
        assert!(
            stderr.contains("(0 late)") && stderr.contains("1 bad lines"),
            "{stderr}"
        );
        assert!(
            stderr.contains("invalid_timestamp") && stderr.contains("window.max_future"),
            "{stderr}"
        );
    }
    // With the check off the arithmetic alone must hold: it ends, the good windows before the
    // bogus probe are intact, the later probes are late (what stream time means), and the
    // bogus window ends at i64::MAX instead of wrapping around.
    let (got, stderr) = replay_bounded(
        &dir,
        "unchecked",
        &hundred_probes(Some((50, END_OF_TIME))),
        &["window.max_future=0"],
    );
    assert!(stderr.contains("(50 late)"), "{stderr}");
    assert!(
        got.contains(&format!("\"window_end\":{}", i64::MAX)),
        "{got}"
    );
    // First in its partition: the next record, far behind it, shows it stood alone.
    let (got, stderr) = replay_bounded(&dir, "first", &hundred_probes(Some((0, END_OF_TIME))), &[]);
    assert!(stderr.contains("(0 late)"), "{stderr}");
    assert!(
        stderr.contains("invalid_timestamp") || stderr.contains("max_future"),
        "{stderr}"
    );
    assert_eq!(
        got, reference,
        "the first line refused, the rest as without it"
    );
}

#[test]
fn replay_refuses_a_probe_from_2100_and_no_later_probe_is_late() {
    let dir = scratch_dir("y2100");
    let (reference, _) = replay_bounded(&dir, "good", &hundred_probes(None), &[]);
    let (got, stderr) = replay_bounded(&dir, "y2100", &hundred_probes(Some((50, YEAR_2100))), &[]);
    assert_eq!(got, reference);
    assert!(
        stderr.contains("replayed 100 events into 2 final windows (0 late)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("27027 days ahead of its partition's stream time"),
        "{stderr}"
    );
}

/// Generated traffic with two records from the future spliced in: one dated the end of time
/// in the first half, one dated 2100 in the second, each a copy of a good record.
fn traffic_with_bogus_records() -> (Vec<Record>, usize) {
    let cfg = WorkloadConfig {
        segments: 20,
        events_per_sec: 1_000.0,
        seed: 16,
        ..WorkloadConfig::default()
    };
    let mut records = Workload::new(cfg).take(8_000);
    for (at, ts) in [(2_000, END_OF_TIME), (6_000, YEAR_2100)] {
        let model = records[at].clone();
        let text = String::from_utf8(model.value.clone()).unwrap();
        let value = text.replace(&format!("\"ts\":{}", model.ts), &format!("\"ts\":{ts}"));
        assert_ne!(value, text, "the copy carries the bogus ts");
        records.insert(
            at,
            Record {
                value: value.into_bytes(),
                ts,
                ..model
            },
        );
    }
    (records, 4_000)
}

#[test]
fn kafka_dead_letters_records_from_the_future_and_keeps_moving_across_a_restart() {
    let setup = Setup::new("future", 2, None);
    let (records, half) = traffic_with_bogus_records();
    let expected = replay(&setup.dir, &records, 2, &setup.domain_sets);
    let good: Vec<Record> = records
        .iter()
        .filter(|r| r.ts < YEAR_2100)
        .cloned()
        .collect();
    let unspoiled = replay(&setup.dir, &good, 2, &setup.domain_sets);
    assert_eq!(
        expected, unspoiled,
        "replay refuses both and makes nothing late"
    );

    // No idle close for the first worker: windows spanning the two halves stay open.
    let mut w1 = setup.start_worker("w1", &["window.idle_timeout=\"0s\""]);
    produce(&setup.bootstrap, &setup.input, &records[..half]);
    read_finals(&setup, 20, Duration::from_secs(60));
    w1.stop();
    // The stream time committed with the offsets is the good records', not the end of time.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for (p, meta) in committed_metadata(&setup, 2) {
        let st: i64 = meta
            .split(';')
            .find_map(|f| f.strip_prefix("st="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("partition {p} metadata {meta:?}"));
        assert!(st < now, "partition {p} committed stream time {st}");
    }
    produce(&setup.bootstrap, &setup.input, &records[half..]);
    let mut w2 = setup.start_worker("w2", &[]);
    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    assert_eq!(repeats, 0);
    let problems = diff(&expected, &got, &[]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    w2.stop();

    let dead = read_topic(
        &setup.bootstrap,
        &setup.dlq,
        Duration::from_secs(30),
        |rs| rs.len() >= 2,
    );
    let mut origins: Vec<(String, String)> = dead
        .iter()
        .map(|d| {
            assert_eq!(d.headers["roadpulse.error.kind"], "invalid_timestamp");
            assert!(d.headers["roadpulse.error.message"].contains("ahead of the wall clock"));
            (
                d.headers["roadpulse.source.partition"].clone(),
                d.headers["roadpulse.source.offset"].clone(),
            )
        })
        .collect();
    origins.sort();
    origins.dedup();
    assert_eq!(
        origins.len(),
        2,
        "both records from the future, by origin: {dead:?}"
    );
}

#[test]
fn kafka_drops_a_committed_stream_time_from_the_far_future() {
    let setup = Setup::new("bogus-checkpoint", 1, None);
    let records = Workload::new(WorkloadConfig {
        segments: 10,
        events_per_sec: 1_000.0,
        seed: 61,
        ..WorkloadConfig::default()
    })
    .take(4_000);
    let expected = replay(&setup.dir, &records, 1, &setup.domain_sets);
    // What a worker without the check (or a foreign client) could have committed.
    let consumer = group_client(&setup);
    let mut tpl = TopicPartitionList::new();
    let mut e = tpl.add_partition(&setup.input, 0);
    e.set_offset(Offset::Offset(0)).unwrap();
    e.set_metadata(format!("rp1;st={END_OF_TIME};pos=0"));
    consumer
        .commit(&tpl, CommitMode::Sync)
        .expect("forged commit");
    drop(consumer);

    produce(&setup.bootstrap, &setup.input, &records);
    let mut w = setup.start_worker("w", &[]);
    let (got, _) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    let problems = diff(&expected, &got, &[]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        w.log_text()
            .contains("committed stream time lies beyond window.max_future"),
        "{}",
        w.log_text()
    );
    w.stop();
}

/// A client of the worker's group (it never joins; it reads and writes commits).
fn group_client(setup: &Setup) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", &setup.bootstrap)
        .set("group.id", &setup.group)
        .create()
        .unwrap()
}

/// The commit metadata of each partition of the input, for the group.
fn committed_metadata(setup: &Setup, partitions: i32) -> Vec<(i32, String)> {
    let consumer = group_client(setup);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(&setup.input, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    committed
        .elements()
        .iter()
        .map(|e| (e.partition(), e.metadata().to_string()))
        .collect()
}
