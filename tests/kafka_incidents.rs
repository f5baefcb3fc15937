//! Incidents end to end on the real broker: a simulated corridor (three mornings, a crash on
//! the third) produced to the input topic, two workers with exactly once. The corridor's
//! segments sit on several input partitions, so detection only works if final windows and
//! reports really reach the detection keys around them through the repartition topic, and
//! each key waits for every input partition's watermark (three days are pushed through as fast
//! as they go, so one input partition may run days ahead of another). The incident events
//! read back with `read_committed` must be the ones `roadpulse replay --incidents` finds: the
//! same incident ids, each detected once and cleared once, at the same times. And reports
//! routed through the repartition topic while workers are killed with kill -9: each reaches
//! each of its destinations exactly once.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use roadpulse::codec::routed::{self, Routed};
use roadpulse::domain::catalog::Catalog;
use roadpulse::domain::incident::network::Network;
use roadpulse::domain::incident::route::Routing;
use roadpulse::sim::generator::{self, Record};
use serde_json::Value;

const PARTITIONS: i32 = 4;

const SCENARIO: &str = r#"
name = "kafka end to end"
seed = 77
days = 3
from = "06:30"
to = "07:45"
window_s = 30

[[corridor]]
id = "K1-E"
segments = 8
length_m = 600
lanes = 3
free_flow_kph = 100
demand_vph = 4000
daily_variation = 0.02
profile = [{ at = "00:00", factor = 0.3 }, { at = "06:30", factor = 0.6 }, { at = "07:30", factor = 0.8 }]

[probes]
penetration = 0.05

[[incident]]
corridor = "K1-E"
segment = 5
day = 3
at = "07:00"
duration_min = 15
capacity_drop = 0.67
report_delay_s = 120
"#;

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run roadpulse");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn incidents_flow_through_kafka_and_equal_replay() {
    let mut setup = Setup::new("incidents", PARTITIONS, None);
    let dir = setup.dir.clone();
    let scenario = dir.join("scenario.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let (raw, truth, catalog) = (
        dir.join("raw.jsonl"),
        dir.join("truth.jsonl"),
        dir.join("catalog.csv"),
    );
    run(Command::new(BIN)
        .arg("simulate")
        .arg("--scenario")
        .arg(&scenario)
        .arg("--output")
        .arg(&raw)
        .arg("--truth")
        .arg(&truth)
        .arg("--catalog")
        .arg(&catalog));
    setup.domain_sets = vec![
        "window.size=\"30s\"".into(),
        "window.grace=\"30s\"".into(),
        format!("congestion.catalog=\"{}\"", catalog.display()),
    ];
    let incidents_topic = format!("{}-incidents", setup.input);

    // The reference: the same input through replay with detection.
    let (reference, congestion) = (dir.join("replay-incidents.jsonl"), dir.join("replay.jsonl"));
    let mut replay = Command::new(BIN);
    replay
        .args(["replay", "--partitions", &PARTITIONS.to_string(), "--input"])
        .arg(&raw)
        .arg("--output")
        .arg(&congestion)
        .arg("--incidents")
        .arg(&reference);
    for s in &setup.domain_sets {
        replay.arg("--set").arg(s);
    }
    run(&mut replay);
    let expected: Vec<Value> = std::fs::read_to_string(&reference)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected = decisions(expected);
    assert!(
        expected.keys().any(|(_, s)| s == "\"detected\""),
        "the scenario's crash is detected by replay: {expected:?}"
    );

    let records: Vec<Record> = std::fs::read_to_string(&raw)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Record {
                key: v["segment_id"].as_str().unwrap().to_string(),
                value: l.as_bytes().to_vec(),
                ts: 0,
                poison: false,
            }
        })
        .collect();
    let mut a = setup.start_worker("a", &[]);
    let mut b = setup.start_worker("b", &[]);
    produce(&setup.bootstrap, &setup.input, &records);

    let wanted: usize = expected.values().map(Vec::len).sum();
    let read = read_topic(
        &setup.bootstrap,
        &incidents_topic,
        Duration::from_secs(180),
        |rs| rs.len() >= wanted,
    );
    let got = decisions(
        read.iter()
            .filter_map(|r| serde_json::from_slice(r.value.as_deref()?).ok()),
    );
    assert_eq!(
        lifecycle(&got),
        lifecycle(&expected),
        "every incident detected and cleared once, as replay has it"
    );
    a.stop();
    b.stop();
}

/// The segments of [`traffic`] as one chain (each downstream of the one before), so a
/// segment's neighbourhood spans several detection partitions.
fn chain_catalog() -> String {
    let mut csv = String::from("segment_id,free_flow_kph,downstream\n");
    for i in 0..TRAFFIC_SEGMENTS {
        let next = match i + 1 < TRAFFIC_SEGMENTS {
            true => generator::segment_id(i + 1),
            false => String::new(),
        };
        let (id, kph) = (generator::segment_id(i), generator::free_flow_kph(i));
        csv.push_str(&format!("{id},{kph},{next}\n"));
    }
    csv
}

/// `records` with a report after every `every`-th one, on its segment at its time.
fn with_reports(records: Vec<Record>, every: usize) -> Vec<Record> {
    let mut out = Vec::new();
    for (i, r) in records.into_iter().enumerate() {
        let report = (i % every == every - 1).then(|| {
            let v = format!(
                r#"{{"type":"report","segment_id":"{}","ts":{},"report_id":"r-{i}","category":"accident"}}"#,
                r.key, r.ts
            );
            Record {
                key: r.key.clone(),
                value: v.into_bytes(),
                ts: r.ts,
                poison: false,
            }
        });
        out.push(r);
        out.extend(report);
    }
    out
}

/// (report id, partition) of every report copy in records of the repartition topic.
fn report_copies(records: &[Read]) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for r in records {
        let value = r.value.as_deref().unwrap_or_default();
        if let Ok(Routed::Batch(b)) = routed::decode(value) {
            for report in b.reports {
                out.push((report.report_id.unwrap_or_default(), r.partition));
            }
        }
    }
    out
}

/// Reports on every input partition, three exactly-once workers, and each of them killed
/// with kill -9 in turn (long transactions, so the kill lands in one holding routed reports)
/// and started again with its identity, which fences it. Read with `read_committed`, the
/// repartition topic holds exactly one copy of each report for each partition of its
/// segment's neighbourhood (as [`Routing`] computes it), and the incidents are replay's.
#[test]
fn exactly_once_kill_9_routes_each_report_once_to_each_destination() {
    let csv = chain_catalog();
    let setup = Setup::new("reportkill", PARTITIONS, Some(&csv));
    let records = with_reports(traffic(16_000, 0.0, 8), 40);
    let net = Network::from_catalog(&Catalog::parse_csv(&csv).unwrap());
    let routing = Routing::new(Arc::new(net), 2, PARTITIONS as u32);
    let mut expected = BTreeSet::new();
    for r in records
        .iter()
        .filter(|r| r.value.starts_with(b"{\"type\":\"report\""))
    {
        let v: Value = serde_json::from_slice(&r.value).unwrap();
        let id = v["report_id"].as_str().unwrap().to_string();
        routing.destinations(&r.key, |p| {
            expected.insert((id.clone(), p as i32));
        });
    }
    let reports = records.len() - 16_000;
    assert!(expected.len() > reports, "neighbourhoods span partitions");
    let (_, reference) = replay_detecting(
        &setup.dir,
        &records,
        PARTITIONS as u32,
        &setup.domain_sets,
        true,
    );

    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let start = |i: usize, run: usize| {
        let identity = format!("kafka.instance_id=\"reportkill-w{i}\"");
        let listen = format!("http.listen=\"127.0.0.1:{}\"", ports[i]);
        let sets = [
            identity.as_str(),
            listen.as_str(),
            "kafka.commit_interval=\"6s\"",
            "kafka.properties.session.timeout.ms=\"6000\"",
            "kafka.properties.heartbeat.interval.ms=\"1500\"",
        ];
        setup.start_worker(&format!("w{i}-{run}"), &sets)
    };
    let consumed_name = format!(
        "roadpulse_events_consumed_total{{topic=\"{}\"}}",
        setup.input
    );
    let consumed = |i: usize| {
        metric(&metrics_text(ports[i]), &consumed_name).map_or(0.0, |v| v.parse().unwrap_or(0.0))
    };
    let mut workers: Vec<Worker> = (0..3).map(|i| start(i, 0)).collect();
    let mut runs = [1usize; 3];
    for (k, chunk) in records.chunks(records.len() / 4 + 1).enumerate() {
        let before: Vec<f64> = (0..workers.len()).map(consumed).collect();
        produce(&setup.bootstrap, &setup.input, chunk);
        if k >= workers.len() {
            continue;
        }
        // Killed once it has read some of this chunk: its open transaction holds what that
        // closed (commits are 6 s apart). The victim is the first of w{k}, w{k+1}, … that
        // reads: the group may have given w{k} no input partition.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let victim = loop {
            let reading = (0..workers.len())
                .map(|j| (k + j) % workers.len())
                .find(|&j| consumed(j) > before[j]);
            if let Some(j) = reading {
                break j;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no worker reads:\n{}",
                workers[k].log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(300));
        workers[victim].kill();
        workers[victim] = start(victim, runs[victim]);
        runs[victim] += 1;
    }
    let repartition = format!("{}-detection-repartition", setup.group);
    let read = read_topic(
        &setup.bootstrap,
        &repartition,
        Duration::from_secs(120),
        |rs| report_copies(rs).len() >= expected.len(),
    );
    let all = read_topic_as(
        &setup.bootstrap,
        &repartition,
        "read_uncommitted",
        Duration::from_secs(30),
        |rs| rs.len() >= read.len(),
    );
    // Whether a kill landed in a transaction holding routed reports depends on timing (it
    // did in 2 of 3 runs): say so rather than fail, the exactly-once checks below hold either way.
    println!(
        "routed report copies: {} read_uncommitted, {} read_committed (the kills aborted {})",
        report_copies(&all).len(),
        report_copies(&read).len(),
        report_copies(&all).len() - report_copies(&read).len()
    );
    let copies = report_copies(&read);
    let once: BTreeSet<(String, i32)> = copies.iter().cloned().collect();
    assert_eq!(
        copies.len(),
        once.len(),
        "no report routed twice to a partition ({} copies, {} distinct)",
        copies.len(),
        once.len()
    );
    assert_eq!(once, expected, "every report at each of its destinations");

    let want = decisions(reference);
    let wanted: usize = want.values().map(Vec::len).sum();
    let incidents = read_topic(
        &setup.bootstrap,
        &format!("{}-incidents", setup.input),
        Duration::from_secs(60),
        |rs| rs.len() >= wanted,
    );
    let got = decisions(
        incidents
            .iter()
            .filter_map(|r| serde_json::from_slice(r.value.as_deref()?).ok()),
    );
    assert_eq!(
        lifecycle(&got),
        lifecycle(&want),
        "the incidents replay finds, once"
    );
    for w in &mut workers {
        w.stop();
    }
}
