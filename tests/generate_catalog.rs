//! `roadpulse generate --catalog`: the road network catalogue of the generated segments is one
//! that `roadpulse replay` (and so the worker) loads, it names every segment the events use,
//! and a network too small to be connected is refused with one sentence, before any event is
//! written.

use std::collections::HashSet;
use std::process::Command;

fn roadpulse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_roadpulse"))
        .args(args)
        .output()
        .expect("run roadpulse")
}

#[test]
fn catalogue_covers_the_events_and_loads() {
    let dir = std::env::temp_dir().join(format!("rp-generate-catalog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (raw, catalog, out) = (
        dir.join("raw.jsonl"),
        dir.join("c.csv"),
        dir.join("o.jsonl"),
    );
    let p = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let gen = roadpulse(&[
        "generate",
        "--events",
        "3000",
        "--segments",
        "300",
        "--output",
        &p(&raw),
        "--catalog",
        &p(&catalog),
    ]);
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let text = std::fs::read_to_string(&catalog).unwrap();
    let listed: HashSet<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(listed.len(), 300);
    let events = std::fs::read_to_string(&raw).unwrap();
    for line in events.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(listed.contains(v["segment_id"].as_str().unwrap()), "{line}");
    }
    let incidents = dir.join("i.jsonl");
    let replay = roadpulse(&[
        "replay",
        "--input",
        &p(&raw),
        "--output",
        &p(&out),
        "--incidents",
        &p(&incidents),
        "--set",
        &format!("congestion.catalog={}", p(&catalog)),
    ]);
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(!std::fs::read_to_string(&out).unwrap().is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn too_few_segments_is_one_sentence_and_no_events() {
    let dir = std::env::temp_dir().join(format!("rp-generate-small-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("raw.jsonl");
    let catalog = dir.join("c.csv");
    let run = roadpulse(&[
        "generate",
        "--events",
        "10",
        "--segments",
        "5",
        "--output",
        raw.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("needs at least 23 segments, got 5"), "{err}");
    assert!(!raw.exists() && !catalog.exists());
    std::fs::remove_dir_all(&dir).ok();
}
