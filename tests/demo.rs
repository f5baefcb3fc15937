//! `roadpulse demo` end to end, as a user runs it (the binary, its embedded broker, 30 s): it
//! must print the incident events the worker published, as read back from
//! `traffic.incidents`, and they must be the incidents an offline replay of the same demo
//! scenario (`src/demo/scenario.toml`) detects — same ids — with none missing and none extra.
//! No Apache Kafka broker is needed: the demo's point is that it brings its own (librdkafka's
//! mock cluster). Bounded: the demo stops itself after `--duration`; the test kills it after
//! 3 minutes and fails.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_roadpulse");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("roadpulse-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_ok(args: &[&str]) {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "roadpulse {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The ids of the incidents `roadpulse replay` detects on the demo scenario (default detector).
fn replayed_incidents(dir: &Path) -> Vec<String> {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/src/demo/scenario.toml");
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    run_ok(&[
        "simulate",
        "--scenario",
        scenario,
        "--output",
        &p("raw.jsonl"),
        "--truth",
        &p("truth.jsonl"),
        "--catalog",
        &p("segments.csv"),
    ]);
    let catalog = format!("congestion.catalog={:?}", p("segments.csv"));
    run_ok(&[
        "replay",
        "--input",
        &p("raw.jsonl"),
        "--output",
        &p("congestion.jsonl"),
        "--window",
        "60s",
        "--set",
        &catalog,
        "--incidents",
        &p("incidents.jsonl"),
    ]);
    let text = std::fs::read_to_string(dir.join("incidents.jsonl")).unwrap();
    let mut ids: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["status"] == "detected")
        .map(|e| e["incident_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Runs the demo for `duration`, returning its stdout.
fn demo(duration: &str) -> String {
    let mut child = Command::new(BIN)
        .args(["demo", "--duration", duration, "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the demo did not stop by itself within 3 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = reader.join().unwrap();
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    assert!(status.success(), "demo failed: {status}\n{err}\n{out}");
    out
}

#[test]
fn the_demo_prints_the_injected_incident_as_read_back_from_kafka() {
    let dir = scratch("demo");
    let expected = replayed_incidents(&dir);
    assert!(
        !expected.is_empty(),
        "replay detects no incident in the demo scenario"
    );
    let out = demo("30s");
    let mut printed: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("incident detected"))
        .filter_map(|l| l.rsplit(" id ").next().map(str::to_string))
        .collect();
    printed.sort();
    printed.dedup();
    assert_eq!(
        printed, expected,
        "incidents printed by the demo vs replay\n{out}"
    );
    let incident_lines = out.lines().filter(|l| l.starts_with("incident ")).count();
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.ends_with(&format!(", {incident_lines} incident events")),
        "the summary counts every incident event printed ({incident_lines}): {last}"
    );
    assert_read_what_was_published(last);
    assert!(
        out.lines().any(|l| l.starts_with("M4-E-")),
        "the congestion table shows the scenario's corridor\n{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The number after `before` in `line`.
fn count_after(line: &str, before: &str) -> u64 {
    let rest = line.split(before).nth(1).unwrap_or_default();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no count after {before:?} in {line}"))
}

/// The viewer read every event the worker published, up to its last commit (unless a
/// transaction was aborted: its records were published, acknowledged, and are never read).
fn assert_read_what_was_published(summary: &str) {
    let published = count_after(summary, "; published ");
    let incidents = count_after(summary, " congestion and ");
    let aborted = count_after(summary, " incident events (");
    let read = count_after(summary, "read back from Kafka: ");
    let read_incidents = count_after(summary, " congestion events, ");
    assert!(published > 0, "the worker published nothing: {summary}");
    if aborted == 0 {
        assert_eq!(
            (read, read_incidents),
            (published, incidents),
            "events read back vs published: {summary}"
        );
    }
}
