//! The detector as a whole on a hand-made corridor a → b → c: two quiet days teach the
//! baselines, then b slows to a crawl behind a blockage while c runs free.

use super::corridor::Topology;
use super::detector::{Detector, DetectorSettings};
use super::{Algorithm, IncidentEvent, Report, SegmentWindow, Status};

const DAY: i64 = 86_400_000;
const W: i64 = 30_000;

fn topo() -> Topology {
    let mut t = Topology {
        id: "a".into(),
        order: vec!["a".into(), "b".into(), "c".into()],
        ..Topology::default()
    };
    for (u, d) in [("a", "b"), ("b", "c")] {
        t.downstream.insert(u.into(), vec![d.into()]);
        t.upstream.insert(d.into(), vec![u.into()]);
    }
    t
}

fn window(seg: &str, start: i64, speed: f64, occ: f64) -> SegmentWindow {
    SegmentWindow {
        segment_id: seg.into(),
        window_start: start,
        window_end: start + W,
        samples: 8,
        probe_speed_kph: Some(speed),
        speed_kph: Some(speed),
        volume: 20,
        occupancy: Some(occ + (start / W % 7) as f64 * 1e-4), // never a stuck reading
        free_flow_kph: 100.0,
    }
}

/// Windows of one time of day (07:00 + `k` windows) on `day`, speeds per segment.
fn feed(d: &mut Detector, day: i64, k: i64, speeds: [f64; 3], out: &mut Vec<IncidentEvent>) {
    let start = day * DAY + 7 * 3_600_000 + k * W;
    let occ = |v: f64| if v < 50.0 { 0.35 } else { 0.08 };
    let ws: Vec<SegmentWindow> = ["a", "b", "c"]
        .iter()
        .zip(speeds)
        .map(|(s, v)| window(s, start, v, occ(v)))
        .collect();
    d.on_window(&ws, out);
}

fn detector() -> Detector {
    let mut d = Detector::new(topo(), DetectorSettings::default(), &Algorithm::ALL);
    let mut out = Vec::new();
    for day in 0..2 {
        for k in 0..40 {
            let wobble = if k % 2 == 0 { 3.0 } else { -3.0 };
            feed(
                &mut d,
                day,
                k,
                [95.0 + wobble, 96.0 - wobble, 97.0],
                &mut out,
            );
        }
    }
    assert!(out.is_empty(), "quiet days raise nothing: {out:?}");
    d
}

fn incident_day(d: &mut Detector, from: i64, to: i64) -> Vec<IncidentEvent> {
    let mut out = Vec::new();
    for k in from..to {
        let speeds = match k {
            0..=9 => [95.0, 96.0, 97.0],
            10..=19 => [if k >= 14 { 20.0 } else { 95.0 }, 12.0, 99.0], // b blocked, queue reaches a
            _ => [96.0, 95.0, 97.0],
        };
        feed(d, 2, k, speeds, &mut out);
    }
    out
}

#[test]
fn an_incident_is_detected_updated_and_cleared_once() {
    let mut d = detector();
    d.on_report(Report {
        segment_id: "b".into(),
        ts: 2 * DAY + 7 * 3_600_000 + 10 * W + 5_000,
        report_id: Some("r1".into()),
        category: "accident".into(),
    });
    let out = incident_day(&mut d, 0, 40);
    let combined: Vec<&IncidentEvent> = out
        .iter()
        .filter(|e| e.algorithm == Algorithm::Combined)
        .collect();
    let first = combined[0];
    assert_eq!(
        (first.status, first.segment_id.as_str()),
        (Status::Detected, "b")
    );
    // b's speed 12 against a baseline of 96 (sd floor 8): z = −10.5, c free downstream; one
    // strong window with the report in the next: detected at the end of window 11 at most.
    assert!(
        first.detected_at <= 2 * DAY + 7 * 3_600_000 + 12 * W,
        "{first:?}"
    );
    assert_eq!(first.started_at, 2 * DAY + 7 * 3_600_000 + 10 * W);
    assert!(first.evidence.z.unwrap() < -9.0);
    let updated = combined
        .iter()
        .find(|e| e.status == Status::Updated)
        .unwrap();
    assert_eq!(updated.evidence.extent, 2, "the queue reached a");
    let cleared = combined.last().unwrap();
    assert_eq!(cleared.status, Status::Cleared);
    // Traffic recovers from window 20; APID's alarm on the pair b → c holds until its test has
    // failed three windows (20, 21, 22), then three quiet windows (22, 23, 24) clear it.
    assert_eq!(cleared.cleared_at, Some(2 * DAY + 7 * 3_600_000 + 25 * W));
    assert!(combined.iter().all(|e| e.incident_id == first.incident_id));
    assert_eq!(
        combined
            .iter()
            .filter(|e| e.status == Status::Detected)
            .count(),
        1
    );
}

#[test]
fn state_restored_from_its_serialised_form_continues_identically() {
    let mut live = detector();
    let mut before = incident_day(&mut live, 0, 15);
    let json = serde_json::to_string(&live).unwrap();
    let mut restored: Detector = serde_json::from_str(&json).unwrap();
    let rest_live = incident_day(&mut live, 15, 40);
    let rest_restored = incident_day(&mut restored, 15, 40);
    assert_eq!(rest_live, rest_restored);
    before.extend(rest_live);
    assert!(before.iter().any(|e| e.status == Status::Cleared));
}
