//! Both stages of detection on hand-made corridors, driven as replay drives them: probe pings
//! into input tasks (one per partition, murmur2 on the segment id), their closed windows into
//! the detection partitions. Two quiet days teach the baselines, then a blockage.

use std::sync::Arc;

use super::local::LocalDetection;
use super::network::Network;
use super::probe::ProbeSettings;
use super::route::Routing;
use super::task::DetectionTask;
use super::{Algorithm, DetectSettings, IncidentEvent, Status};
use crate::domain::catalog::Catalog;
use crate::domain::event::{EventBody, RawEvent, ReportCategory};
use crate::domain::partition::partition_for_key;
use crate::domain::processor::{EmitMode, ProcessorSettings, Task};
use crate::domain::window::WindowSpec;

const DAY: i64 = 86_400_000;
const W: i64 = 30_000;
const AT: i64 = 7 * 3_600_000;

fn chain(ids: &[&str]) -> Catalog {
    let mut csv = String::from("segment_id,free_flow_kph,downstream\n");
    for (i, id) in ids.iter().enumerate() {
        let next = ids.get(i + 1).copied().unwrap_or("");
        csv.push_str(&format!("{id},100,{next}\n"));
    }
    Catalog::parse_csv(&csv).unwrap()
}

struct Run {
    tasks: Vec<Task>,
    detection: LocalDetection,
    out: Vec<IncidentEvent>,
    offset: i64,
}

impl Run {
    fn new(catalog: Catalog, partitions: u32) -> Run {
        Run::split(catalog, partitions, partitions)
    }

    /// `inputs` input partitions, `partitions` detection partitions.
    fn split(catalog: Catalog, inputs: u32, partitions: u32) -> Run {
        let catalog = Arc::new(catalog);
        let settings = Arc::new(ProcessorSettings {
            catalog: Arc::clone(&catalog),
            detection: Some(ProbeSettings::default()),
            ..ProcessorSettings::new(WindowSpec::tumbling(W, 0), EmitMode::Final)
        });
        let net = Arc::new(Network::from_catalog(&catalog));
        let routing = Arc::new(Routing::new(net, 2, partitions));
        let detect = Arc::new(DetectSettings {
            algorithms: Algorithm::ALL.to_vec(),
            ..DetectSettings::default()
        });
        Run {
            tasks: (0..inputs)
                .map(|_| Task::new(Arc::clone(&settings)))
                .collect(),
            detection: LocalDetection::new(routing, detect, inputs),
            out: Vec::new(),
            offset: 0,
        }
    }

    fn event(&mut self, segment: &str, ts: i64, body: EventBody<'_>) {
        let n = self.tasks.len() as u32;
        let p = partition_for_key(segment.as_bytes(), n);
        let e = RawEvent {
            segment_id: segment,
            ts,
            body,
        };
        self.offset += 1;
        let task = &mut self.tasks[p as usize];
        task.on_event(self.offset, &e, ts, &mut Vec::new());
        self.detection.after(p, task, &mut self.out);
    }

    /// One window of the day `day`, `k` windows after 07:00: four pings per segment.
    fn window(&mut self, day: i64, k: i64, speeds: &[(&str, f64)]) {
        let start = day * DAY + AT + k * W;
        for ping in 0..4 {
            for (seg, v) in speeds {
                let body = EventBody::Probe {
                    speed_kph: *v,
                    vehicle_id: None,
                    source: None,
                    offset_m: None,
                };
                self.event(seg, start + 1_000 + ping * 7_000, body);
            }
        }
    }

    fn quiet_days(&mut self, ids: &[&str]) {
        for day in 0..2 {
            for k in 0..40 {
                let wobble = if k % 2 == 0 { 3.0 } else { -3.0 };
                let speeds: Vec<(&str, f64)> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        (
                            *s,
                            94.0 + i as f64 + if i % 2 == 0 { wobble } else { -wobble },
                        )
                    })
                    .collect();
                self.window(day, k, &speeds);
            }
        }
    }

    fn finish(mut self) -> Vec<IncidentEvent> {
        for (p, task) in self.tasks.iter_mut().enumerate() {
            task.close_all(&mut Vec::new());
            self.detection.after(p as u32, task, &mut self.out);
        }
        self.detection.finish(&mut self.out);
        self.out
    }
}

fn combined(events: &[IncidentEvent]) -> Vec<&IncidentEvent> {
    events
        .iter()
        .filter(|e| e.algorithm == Algorithm::Combined)
        .collect()
}

/// The segments the combined rule raised incidents on, in order.
fn detected_on(events: &[IncidentEvent]) -> Vec<&str> {
    combined(events)
        .into_iter()
        .filter(|e| e.status == Status::Detected)
        .map(|e| e.segment_id.as_str())
        .collect()
}

/// a → b → c: b blocked from window 10 to 19 of the third morning (c runs free), its queue
/// reaching a from window 14; a report on b.
fn blockage(partitions: u32) -> Vec<IncidentEvent> {
    let ids = ["a", "b", "c"];
    let mut run = Run::new(chain(&ids), partitions);
    run.quiet_days(&ids);
    for k in 0..40 {
        if k == 10 {
            let body = EventBody::Report {
                report_id: Some("r1"),
                category: ReportCategory::Accident,
            };
            run.event("b", 2 * DAY + AT + 10 * W + 5_000, body);
        }
        let speeds = match k {
            10..=19 => [
                ("a", if k >= 14 { 20.0 } else { 95.0 }),
                ("b", 12.0),
                ("c", 99.0),
            ],
            _ => [("a", 95.0), ("b", 96.0), ("c", 97.0)],
        };
        run.window(2, k, &speeds);
    }
    run.finish()
}

#[test]
fn an_incident_is_detected_updated_and_cleared_once() {
    let out = blockage(1);
    let c = combined(&out);
    assert!(!c.is_empty(), "{out:?}");
    let first = c[0];
    assert_eq!(
        (first.status, first.segment_id.as_str()),
        (Status::Detected, "b")
    );
    // b at 12 km/h against a baseline of 96 (sd floor 8): z −10.5 with c free downstream; a
    // strong edge with the report: detected at the end of window 11 at the latest.
    assert!(first.detected_at <= 2 * DAY + AT + 12 * W, "{first:?}");
    assert_eq!(first.started_at, 2 * DAY + AT + 10 * W);
    assert_eq!(first.kind, "accident", "the report says what it is");
    assert!(first.evidence.z.unwrap() < -9.0);
    let updated = c.iter().find(|e| e.status == Status::Updated).unwrap();
    assert_eq!(updated.evidence.extent, 2, "the queue reached a");
    let cleared = c.last().unwrap();
    assert_eq!(cleared.status, Status::Cleared);
    assert!(c.iter().all(|e| e.incident_id == first.incident_id));
    assert_eq!(c.iter().filter(|e| e.status == Status::Detected).count(), 1);
}

#[test]
fn the_incidents_do_not_depend_on_the_partitions() {
    let sorted = |mut v: Vec<IncidentEvent>| {
        v.sort_by_key(|e| serde_json::to_string(e).unwrap());
        v
    };
    let one = sorted(blockage(1));
    for partitions in [2, 3, 7] {
        assert_eq!(sorted(blockage(partitions)), one, "{partitions} partitions");
    }
}

/// s1 → … → s5: s4 blocked (s5 free), the queue fills s3 and s2; then s4 recovers first and
/// the queue discharges from its front, one segment every two windows — each a new "edge"
/// at the queue's moving front, but one incident.
#[test]
fn a_discharging_queue_is_one_incident() {
    let ids = ["s1", "s2", "s3", "s4", "s5"];
    for partitions in [1, 4] {
        let mut run = Run::new(chain(&ids), partitions);
        run.quiet_days(&ids);
        for k in 0..50 {
            let slow = |from: i64, to: i64| if (from..to).contains(&k) { 15.0 } else { 95.0 };
            let speeds = [
                ("s1", 95.0),
                ("s2", slow(16, 28)),
                ("s3", slow(13, 26)),
                ("s4", slow(10, 24)),
                ("s5", 98.0),
            ];
            run.window(2, k, &speeds);
        }
        let out = run.finish();
        let detected = detected_on(&out);
        assert_eq!(detected, vec!["s4"], "{partitions} partitions: {out:?}");
    }
}

/// Two adjacent segments make edges in the same window (a staircase: b crawling, c slow, d
/// free): the segment downstream owns the incident, and the one upstream raises nothing.
#[test]
fn of_two_neighbours_deciding_at_once_the_one_downstream_raises() {
    let ids = ["a", "b", "c", "d"];
    for partitions in [1, 3] {
        let mut run = Run::new(chain(&ids), partitions);
        run.quiet_days(&ids);
        for k in 0..30 {
            let (b, c) = if (10..20).contains(&k) {
                (10.0, 45.0)
            } else {
                (95.0, 96.0)
            };
            run.window(2, k, &[("a", 95.0), ("b", b), ("c", c), ("d", 99.0)]);
        }
        let out = run.finish();
        let detected = detected_on(&out);
        assert_eq!(detected, vec!["c"], "{partitions} partitions: {out:?}");
    }
}

#[test]
fn key_state_restored_from_the_changelog_continues_identically() {
    let ids = ["a", "b", "c"];
    let feed = |run: &mut Run, from: i64, to: i64| {
        for k in from..to {
            let b = if (10..20).contains(&k) { 12.0 } else { 96.0 };
            run.window(2, k, &[("a", 95.0), ("b", b), ("c", 99.0)]);
        }
    };
    // One input partition: every window it closes is judged at once, so the keys' state is
    // all there is (on Kafka, windows still waiting are read again from the repartition topic).
    let mut live = Run::split(chain(&ids), 1, 3);
    live.quiet_days(&ids);
    feed(&mut live, 0, 14);
    let mut restored = Run::split(chain(&ids), 1, 3);
    restored.quiet_days(&ids);
    feed(&mut restored, 0, 14);
    // Every detection partition's keys, through their changelog form, into fresh tasks.
    for t in restored.detection.tasks_mut() {
        let mut records = Vec::new();
        t.drain_changes(|k, v| records.push((k.to_string(), v.map(<[u8]>::to_vec))));
        let mut fresh: DetectionTask = t.fresh();
        for (k, v) in &records {
            if let Some(v) = v {
                assert!(fresh.restore(k, v), "{k} decodes");
            }
        }
        *t = fresh;
    }
    restored.out.clear();
    live.out.clear();
    feed(&mut live, 14, 40);
    feed(&mut restored, 14, 40);
    let (a, b) = (live.finish(), restored.finish());
    assert!(a.iter().any(|e| e.status == Status::Cleared), "{a:?}");
    assert_eq!(a, b);
}
