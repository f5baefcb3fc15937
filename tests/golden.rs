//! Golden files: `roadpulse replay` on hand-made inputs in tests/golden/*.jsonl must print
//! exactly tests/golden/*.expected.jsonl. The inputs exercise window boundaries, the grace
//! edge, a late event, an out-of-order event still in grace, a bad line, a report, a
//! detector-only window (PeMS g-factor speed), standstill, hopping membership and early
//! updates. After a deliberate change, regenerate with `RP_UPDATE_GOLDEN=1 cargo test --test
//! golden` and review the diff line by line.

use std::path::Path;
use std::process::Command;

fn check(case: &str, args: &[&str]) {
    check_as(case, case, args)
}

fn check_as(case: &str, expected: &str, args: &[&str]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let input = dir.join(format!("{case}.jsonl"));
    let expected_path = dir.join(format!("{expected}.expected.jsonl"));
    let out = Command::new(env!("CARGO_BIN_EXE_roadpulse"))
        .args(["replay", "--output", "-", "--input"])
        .arg(&input)
        .args(args)
        .output()
        .expect("run roadpulse replay");
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8(out.stdout).unwrap();
    if std::env::var_os("RP_UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &got).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).expect("golden file exists");
    for (i, (g, e)) in got.lines().zip(expected.lines()).enumerate() {
        assert_eq!(g, e, "{case}: line {} differs", i + 1);
    }
    assert_eq!(
        got.lines().count(),
        expected.lines().count(),
        "{case}: line count"
    );
}

#[test]
fn tumbling_boundaries_grace_late_and_detectors() {
    check("tumbling", &[]);
}

#[test]
fn hopping_membership() {
    check(
        "hopping",
        &["--window", "60s", "--advance", "20s", "--grace", "0s"],
    );
}

#[test]
fn early_updates_then_final() {
    check("updates", &["--emit", "updates", "--grace", "0s"]);
}

#[test]
fn partitions_split_stream_time() {
    // With 4 partitions (murmur2), A and B land on different tasks: B's event at 90 s no
    // longer closes A's first window, so A's event at 59 s is not late there and A's first
    // window counts 4 samples instead of 3.
    check_as("tumbling", "tumbling_4_partitions", &["--partitions", "4"]);
}
