//! Incidents end to end on the real broker: a simulated corridor (three mornings, a crash on
//! the third) produced to the input topic, two workers with exactly once. The corridor's
//! segments sit on several input partitions, so detection only works if final windows and
//! reports really reach the detection keys around them through the repartition topic, and
//! each key waits for every input partition's watermark (three days are pushed through as fast
//! as they go, so one input partition may run days ahead of another). The incident events
//! read back with `read_committed` must be the ones `roadpulse replay --incidents` finds: the
//! same incident ids, each detected once and cleared once, at the same times.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use roadpulse::sim::generator::Record;
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
