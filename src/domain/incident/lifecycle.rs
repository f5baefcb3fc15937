//! One incident from detection to clearance (TRAFFIC.md "Lifecycle").
//!
//! `detected` once, with an id made of the segment and the start of the anomaly (stable,
//! the same in every run over the same input); `updated` when the severity worsens or the
//! queue reaches further upstream than before (both only ever grow during an incident's life,
//! so a value hovering at a boundary never makes a stream of updates); `cleared` once neither
//! the incident segment nor any segment of its queue has been impacted for `clear_windows`
//! windows. An incident owns a zone — its segment, its neighbours and its queue — where no
//! second incident is raised while it lasts nor for `cooldown_ms` after it cleared (the queue
//! discharging behind a cleared blockage looks like a new edge). That is how no incident is
//! reported twice.

use serde::{Deserialize, Serialize};

use super::{Algorithm, Evidence, IncidentEvent, Severity, Status};
use crate::domain::event::EpochMillis;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LifecycleSettings {
    pub clear_windows: u32,
    pub cooldown_ms: i64,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self {
            clear_windows: 3,
            cooldown_ms: 15 * 60_000,
        }
    }
}

/// A decision to raise an incident, as the detector makes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub segment: String,
    pub started_at: EpochMillis,
    pub detected_at: EpochMillis,
    pub severity: Severity,
    pub confidence: f64,
    pub kind: String,
    pub evidence: Evidence,
    /// The segment and its neighbours.
    pub zone: Vec<String>,
}

/// What the detector sees of an active incident in the current window.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The incident segment or its queue is still impacted.
    pub impacted: bool,
    pub severity: Option<Severity>,
    /// Segments of the queue now (the incident segment first, then upstream), with their
    /// neighbours in `zone`.
    pub extent: u32,
    pub zone: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Active {
    pub event: IncidentEvent,
    pub zone: Vec<String>,
    quiet: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cooldown {
    zone: Vec<String>,
    until: EpochMillis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub algorithm: Algorithm,
    active: Vec<Active>,
    cooldowns: Vec<Cooldown>,
}

impl Lifecycle {
    pub fn new(algorithm: Algorithm) -> Self {
        Lifecycle {
            algorithm,
            active: Vec::new(),
            cooldowns: Vec::new(),
        }
    }

    pub fn active(&self) -> &[Active] {
        &self.active
    }

    /// Whether a new incident on `segment` at `now` would repeat one already reported.
    pub fn blocked(&self, segment: &str, now: EpochMillis) -> bool {
        let owns = |zone: &[String]| zone.iter().any(|s| s == segment);
        self.active.iter().any(|a| owns(&a.zone))
            || self
                .cooldowns
                .iter()
                .any(|c| now < c.until && owns(&c.zone))
    }

    /// Raises `c` unless its segment is blocked.
    pub fn open(&mut self, corridor: &str, c: Candidate, out: &mut Vec<IncidentEvent>) {
        if self.blocked(&c.segment, c.detected_at) {
            return;
        }
        let suffix = match self.algorithm {
            Algorithm::Combined => String::new(),
            a => format!("/{}", a.as_str()),
        };
        let event = IncidentEvent {
            incident_id: format!("{}@{}{suffix}", c.segment, c.started_at),
            segment_id: c.segment,
            corridor: corridor.to_string(),
            status: Status::Detected,
            kind: c.kind,
            severity: c.severity,
            started_at: c.started_at,
            detected_at: c.detected_at,
            cleared_at: None,
            algorithm: self.algorithm,
            confidence: c.confidence,
            evidence: c.evidence,
        };
        out.push(event.clone());
        self.active.push(Active {
            event,
            zone: c.zone,
            quiet: 0,
        });
    }

    /// Moves every active incident on by one window ending at `now`.
    pub fn observe(
        &mut self,
        now: EpochMillis,
        settings: &LifecycleSettings,
        mut look: impl FnMut(&Active) -> Observation,
        out: &mut Vec<IncidentEvent>,
    ) {
        self.cooldowns.retain(|c| now < c.until);
        let mut still = Vec::with_capacity(self.active.len());
        for mut a in std::mem::take(&mut self.active) {
            let obs = look(&a);
            a.quiet = if obs.impacted { 0 } else { a.quiet + 1 };
            for s in obs.zone {
                if !a.zone.contains(&s) {
                    a.zone.push(s);
                }
            }
            if a.quiet >= settings.clear_windows {
                a.event.status = Status::Cleared;
                a.event.cleared_at = Some(now);
                out.push(a.event.clone());
                self.cooldowns.push(Cooldown {
                    zone: a.zone,
                    until: now + settings.cooldown_ms,
                });
                continue;
            }
            let worse = obs.severity.is_some_and(|s| s > a.event.severity);
            let longer = obs.extent > a.event.evidence.extent;
            if worse || longer {
                a.event.severity = a
                    .event
                    .severity
                    .max(obs.severity.unwrap_or(Severity::Minor));
                a.event.evidence.extent = a.event.evidence.extent.max(obs.extent);
                a.event.status = Status::Updated;
                out.push(a.event.clone());
            }
            still.push(a);
        }
        self.active = still;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(seg: &str, at: i64) -> Candidate {
        Candidate {
            segment: seg.into(),
            started_at: at - 120_000,
            detected_at: at,
            severity: Severity::Major,
            confidence: 0.7,
            kind: "unknown".into(),
            evidence: Evidence {
                extent: 1,
                ..Evidence::default()
            },
            zone: vec!["b".into(), seg.into(), "d".into()],
        }
    }

    fn obs(impacted: bool, severity: Severity, extent: u32) -> Observation {
        Observation {
            impacted,
            severity: Some(severity),
            extent,
            zone: vec!["a".into()],
        }
    }

    #[test]
    fn detected_updated_cleared_once_with_a_stable_id() {
        let s = LifecycleSettings::default();
        let mut l = Lifecycle::new(Algorithm::Combined);
        let mut out = Vec::new();
        l.open("A", candidate("c", 600_000), &mut out);
        l.open("A", candidate("d", 660_000), &mut out); // in c's zone: the same incident
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].incident_id, "c@480000");
        l.observe(660_000, &s, |_| obs(true, Severity::Major, 1), &mut out);
        assert_eq!(out.len(), 1, "nothing changed");
        l.observe(720_000, &s, |_| obs(true, Severity::Severe, 2), &mut out);
        assert_eq!(out[1].status, Status::Updated);
        assert_eq!(
            (out[1].severity, out[1].evidence.extent),
            (Severity::Severe, 2)
        );
        l.observe(780_000, &s, |_| obs(true, Severity::Minor, 1), &mut out);
        assert_eq!(out.len(), 2, "severity and extent only grow");
        for t in 1..=3 {
            l.observe(
                780_000 + t * 60_000,
                &s,
                |_| obs(false, Severity::Minor, 0),
                &mut out,
            );
        }
        assert_eq!(out[2].status, Status::Cleared);
        assert_eq!(out[2].cleared_at, Some(960_000));
        assert_eq!(out[2].incident_id, out[0].incident_id);
        // The queue's zone (now with "a") is quiet for the cooldown, then free again.
        l.open("A", candidate("a", 1_000_000), &mut out);
        assert_eq!(out.len(), 3);
        l.observe(
            960_000 + s.cooldown_ms,
            &s,
            |_| obs(false, Severity::Minor, 0),
            &mut out,
        );
        l.open("A", candidate("a", 960_000 + s.cooldown_ms), &mut out);
        assert_eq!(out.len(), 4);
    }
}
