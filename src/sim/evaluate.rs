//! `roadpulse evaluate`: incident events and congestion events judged against a simulation's
//! ground truth (docs/traffic.md "How detection is judged").
//!
//! - A **decision** is one segment in one window (the truth's windows). Decisions under
//!   no-incident conditions are the truth windows no incident covers (neither its segment
//!   while it lasts nor its queue, until that has discharged).
//! - A `detected` event **matches** a real incident when it is raised between the incident's
//!   start and 30 minutes after its end, on the incident's segment or on a segment that the
//!   incident covered at any window from the event's `started_at` to its `detected_at`.
//! - **DR** = real incidents matched at least once / real incidents.
//! - **FAR** = `detected` events matching no real incident (each one false alarm decision) /
//!   decisions under no-incident conditions.
//! - **MTTD** = mean over matched incidents of (first matching `detected_at` − start).
//! - **Level accuracy** = final congestion windows with at least `min_samples` probe samples
//!   whose `level` equals the level of the true speed, over all such windows.
//! - **Speed error** = relative error of final windows' speeds against the true speed
//!   ([`super::speed_error`]).
//!
//! Several runs (scenarios) can be added; the counts are summed before the rates are taken.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::speed_error::{SpeedError, SpeedErrors};
use super::truth::TruthRecord;
use crate::domain::congestion::Level;
use crate::domain::incident::{IncidentEvent, Status};
use crate::domain::output::CongestionEvent;

/// How long after its end an incident's queue may still legitimately be detected.
const RESIDUAL_MS: i64 = 30 * 60_000;
/// Probe samples a congestion window needs to be judged for level accuracy.
pub const LEVEL_MIN_SAMPLES: u32 = 10;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlgorithmScore {
    pub incidents: u64,
    pub detected: u64,
    pub false_alarms: u64,
    pub decisions: u64,
    /// Real incidents matched by more than one `detected` event.
    pub reported_twice: u64,
    pub detection_rate: f64,
    pub false_alarm_rate: f64,
    pub mttd_s: Option<f64>,
    #[serde(skip)]
    ttd_sum_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// The combined detector's figures.
    pub detection_rate: f64,
    pub false_alarm_rate: f64,
    pub mttd_s: Option<f64>,
    pub level_accuracy: Option<f64>,
    pub level_windows: u64,
    pub decisions: u64,
    pub incidents: u64,
    pub algorithms: BTreeMap<String, AlgorithmScore>,
    /// Relative error of the published speeds against the true speed, by kind of estimate
    /// (see [`super::speed_error`]).
    pub speed_error: BTreeMap<String, SpeedError>,
}

#[derive(Debug, Clone)]
struct RealIncident {
    id: String,
    segment: String,
    start: i64,
    end: i64,
}

#[derive(Debug, Default)]
pub struct Evaluation {
    scores: BTreeMap<String, AlgorithmScore>,
    incidents: u64,
    decisions: u64,
    level_hits: u64,
    level_windows: u64,
    speeds: SpeedErrors,
}

/// One run's truth, indexed.
struct Truth {
    incidents: Vec<RealIncident>,
    /// (segment, window start) → (true level, covering incident, true speed).
    windows: HashMap<(String, i64), (Level, Option<String>, f64)>,
    window_ms: i64,
}

impl Truth {
    fn new(records: &[TruthRecord]) -> Truth {
        let mut t = Truth {
            incidents: Vec::new(),
            windows: HashMap::new(),
            window_ms: 60_000,
        };
        for r in records {
            match r {
                TruthRecord::Incident {
                    incident_id,
                    segment_id,
                    start,
                    end,
                    ..
                } => t.incidents.push(RealIncident {
                    id: incident_id.clone(),
                    segment: segment_id.clone(),
                    start: *start,
                    end: *end,
                }),
                TruthRecord::Window {
                    segment_id,
                    window_start,
                    window_end,
                    level,
                    incident,
                    speed_kph,
                    ..
                } => {
                    t.window_ms = window_end - window_start;
                    t.windows.insert(
                        (segment_id.clone(), *window_start),
                        (*level, incident.clone(), *speed_kph),
                    );
                }
            }
        }
        t
    }

    fn covered(&self, segment: &str, from: i64, to: i64, incident: &str) -> bool {
        let w = self.window_ms.max(1);
        let mut at = from.div_euclid(w) * w;
        while at < to {
            let hit = self.windows.get(&(segment.to_string(), at));
            if hit.is_some_and(|(_, i, _)| i.as_deref() == Some(incident)) {
                return true;
            }
            at += w;
        }
        false
    }

    fn matches(&self, e: &IncidentEvent) -> Option<&RealIncident> {
        self.incidents.iter().find(|r| {
            let in_time = r.start <= e.detected_at && e.detected_at <= r.end + RESIDUAL_MS;
            let from = e.started_at.min(e.detected_at - self.window_ms);
            in_time
                && (e.segment_id == r.segment
                    || self.covered(&e.segment_id, from, e.detected_at, &r.id))
        })
    }
}

impl Evaluation {
    /// Adds one run: its truth, the incident events detected over it, and optionally its
    /// congestion events.
    pub fn add_run(
        &mut self,
        truth: &[TruthRecord],
        incidents: &[IncidentEvent],
        congestion: Option<&[CongestionEvent]>,
    ) {
        let t = Truth::new(truth);
        let decisions = t.windows.values().filter(|(_, i, _)| i.is_none()).count() as u64;
        self.incidents += t.incidents.len() as u64;
        self.decisions += decisions;
        let mut by_algorithm: BTreeMap<String, Vec<&IncidentEvent>> = BTreeMap::new();
        for e in incidents.iter().filter(|e| e.status == Status::Detected) {
            by_algorithm
                .entry(e.algorithm.as_str().to_string())
                .or_default()
                .push(e);
        }
        for (algorithm, events) in by_algorithm {
            let score = self.scores.entry(algorithm).or_default();
            let mut first: HashMap<String, (i64, u64)> = HashMap::new();
            for e in events {
                match t.matches(e) {
                    Some(r) => {
                        let slot = first
                            .entry(r.id.clone())
                            .or_insert((e.detected_at - r.start, 0));
                        slot.0 = slot.0.min(e.detected_at - r.start);
                        slot.1 += 1;
                    }
                    None => score.false_alarms += 1,
                }
            }
            score.detected += first.len() as u64;
            score.reported_twice += first.values().filter(|(_, n)| *n > 1).count() as u64;
            score.ttd_sum_s += first
                .values()
                .map(|(ms, _)| *ms as f64 / 1000.0)
                .sum::<f64>();
        }
        if let Some(events) = congestion {
            for e in events.iter().filter(|e| e.is_final) {
                let key = (e.segment_id.clone(), e.window_start);
                let Some((level, _, speed)) = t.windows.get(&key) else {
                    continue;
                };
                self.speeds.add(e, *speed);
                if e.samples >= LEVEL_MIN_SAMPLES {
                    self.level_windows += 1;
                    self.level_hits += u64::from(*level == e.level);
                }
            }
        }
    }

    pub fn report(&self) -> Report {
        // The published decision rule is always judged, even when it raised nothing.
        let mut algorithms = self.scores.clone();
        algorithms.entry("combined".into()).or_default();
        for s in algorithms.values_mut() {
            s.incidents = self.incidents;
            s.decisions = self.decisions;
            s.detection_rate = ratio_or(s.detected, s.incidents, 1.0);
            s.false_alarm_rate = ratio_or(s.false_alarms, s.decisions, 0.0);
            s.mttd_s = (s.detected > 0).then(|| s.ttd_sum_s / s.detected as f64);
        }
        let main = algorithms["combined"].clone();
        Report {
            detection_rate: main.detection_rate,
            false_alarm_rate: main.false_alarm_rate,
            mttd_s: main.mttd_s,
            level_accuracy: (self.level_windows > 0)
                .then(|| self.level_hits as f64 / self.level_windows as f64),
            level_windows: self.level_windows,
            decisions: self.decisions,
            incidents: self.incidents,
            algorithms,
            speed_error: self.speeds.report(),
        }
    }
}

/// `n / d`; with nothing to count (`d` = 0) nothing was missed: 1 for a detection rate
/// (`empty` = 1), 0 for a false alarm rate (`empty` = 0).
fn ratio_or(n: u64, d: u64, empty: f64) -> f64 {
    if d == 0 {
        empty
    } else {
        n as f64 / d as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::{Algorithm, Evidence, Severity};

    fn window(seg: &str, start: i64, level: Level, incident: Option<&str>) -> TruthRecord {
        TruthRecord::Window {
            segment_id: seg.into(),
            window_start: start,
            window_end: start + 60_000,
            speed_kph: 50.0,
            free_flow_kph: 100.0,
            level,
            incident: incident.map(String::from),
        }
    }

    fn detected(seg: &str, started: i64, at: i64, algorithm: Algorithm) -> IncidentEvent {
        IncidentEvent {
            incident_id: format!("{seg}@{started}"),
            segment_id: seg.into(),
            status: Status::Detected,
            kind: "unknown".into(),
            severity: Severity::Major,
            started_at: started,
            detected_at: at,
            cleared_at: None,
            algorithm,
            confidence: 0.7,
            evidence: Evidence::default(),
        }
    }

    #[test]
    fn rates_by_hand() {
        let mut truth = vec![TruthRecord::Incident {
            incident_id: "x".into(),
            corridor: "c".into(),
            segment_id: "b".into(),
            start: 130_000,
            end: 300_000,
            capacity_drop: 0.5,
            kind: "accident".into(),
        }];
        // 2 segments × 10 windows; b is covered from window 2 to 5, a (upstream) in 4 and 5.
        for w in 0..10 {
            let t = w * 60_000;
            let b = (2..=5).contains(&w).then_some("x");
            let a = (4..=5).contains(&w).then_some("x");
            truth.push(window("a", t, Level::Free, a));
            truth.push(window("b", t, Level::Free, b));
        }
        let events = vec![
            detected("a", 240_000, 300_000, Algorithm::Combined), // the queue: matches x
            detected("b", 180_000, 250_000, Algorithm::Combined), // x again, sooner
            detected("a", 420_000, 480_000, Algorithm::Combined), // nothing there: false
            detected("b", 120_000, 200_000, Algorithm::Probe),
        ];
        let congestion = CongestionEvent {
            samples: 12,
            level: Level::Free,
            ..serde_json::from_str::<CongestionEvent>(SAMPLE).unwrap()
        };
        let mut e = Evaluation::default();
        e.add_run(&truth, &events, Some(&[congestion]));
        let r = e.report();
        let c = &r.algorithms["combined"];
        // 20 windows, 6 covered: 14 decisions under no-incident conditions.
        assert_eq!((r.incidents, r.decisions), (1, 14));
        assert_eq!((c.detected, c.false_alarms, c.reported_twice), (1, 1, 1));
        assert_eq!(c.false_alarm_rate, 1.0 / 14.0);
        assert_eq!(c.mttd_s, Some(120.0)); // 250 000 − 130 000
        assert_eq!(r.algorithms["probe"].mttd_s, Some(70.0));
        assert_eq!((r.level_accuracy, r.level_windows), (Some(1.0), 1));
    }

    const SAMPLE: &str = r#"{"segment_id":"a","window_start":0,"window_end":60000,"samples":3,
        "vehicles":3,"speed_kph":50.0,"speed_source":"probe","mean_speed_kph":50.0,
        "p85_speed_kph":50.0,"min_speed_kph":50.0,"max_speed_kph":50.0,"volume":0,
        "flow_vph":0.0,"occupancy":null,"free_flow_kph":100.0,"free_flow_source":"catalog",
        "speed_ratio":0.5,"travel_time_index":2.0,"level":"moderate","los":"C",
        "confidence":0.5,"final":true}"#;
}
