//! Automatic incident detection: final windows of every segment and incident reports in,
//! incident events (`detected` → `updated` → `cleared`) out. Pure and deterministic like the
//! rest of the domain. Two stages:
//!
//! 1. **Where the windows are** (the input task that owns a segment): each final window is
//!    folded into the segment's own detection [`history`] (time-of-day baseline, detector
//!    station) and becomes [`facts::Facts`]; reports are held with the window they fall in.
//!    When a window closes, its facts and reports are routed ([`route`]).
//! 2. **Per detection key** ([`task`], [`judge`]): the key of a segment is the segment itself.
//!    Detection at a segment needs its neighbours (a probe edge is a slow segment with a fast
//!    one downstream; a detector pair is two stations), and the ownership rule needs theirs, so
//!    key `k` receives the facts of every segment within `incidents.neighbourhood_hops` links
//!    of `k` (default 2) — [`network::Network::neighbourhood`]. Keys are spread over the
//!    partitions of the repartition stage by murmur2 of the segment id, so a connected road
//!    network of any size spreads over all partitions, and the work per segment and window does
//!    not depend on the network's size. A partition judges a window once every input
//!    partition's [`watermark`] has passed it.
//!
//! Every incident is raised by exactly one key — the key of the segment it is on — and
//! neighbouring keys never raise it twice: see [`episode`] for the rule and why it holds.
//!
//! `roadpulse replay` runs both stages in memory; on Kafka the routed facts go through the
//! internal topic `<group_id>-detection-repartition` and the key state through a compacted
//! changelog (see the README, "Incident detection").
//!
//! # The algorithms (each its own module, each unit-tested on hand-computed cases)
//! - [`probe`]: probe speed against the segment's own time-of-day baseline (SND z-score), with
//!   a downstream-discontinuity test that tells an incident from recurrent congestion, and
//!   persistence;
//! - [`blockage`]: a queue before a clear or empty road from the catalogue and physics alone,
//!   for segments without a baseline yet (the first day, sparse sensors, closures);
//! - [`pair`]: California #7/#8 and APID on detector station pairs from the topology;
//! - [`reports`]: report corroboration and expiry;
//! - [`signals`]: what each algorithm says about a segment in a window, and the decision rules.

pub mod baseline;
pub mod blockage;
#[cfg(test)]
mod bounds_tests;
pub mod episode;
pub mod facts;
pub mod history;
pub mod judge;
#[cfg(test)]
mod judge_tests;
pub mod keys;
pub mod local;
pub mod network;
pub mod pair;
pub mod probe;
pub mod reports;
pub mod route;
pub mod signals;
pub mod state;
pub mod task;
pub mod watermark;

use serde::{Deserialize, Serialize};

use super::event::{EpochMillis, EventBody, RawEvent};

/// Which decision rule raises incidents. `Combined` is what roadpulse publishes; the single
/// algorithms exist to measure each one alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Probe,
    California,
    Apid,
    Combined,
}

impl Algorithm {
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Probe,
        Algorithm::California,
        Algorithm::Apid,
        Algorithm::Combined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Probe => "probe",
            Algorithm::California => "california",
            Algorithm::Apid => "apid",
            Algorithm::Combined => "combined",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Detected,
    Updated,
    Cleared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Minor,
    Major,
    Severe,
}

impl Severity {
    /// From the incident segment's speed ratio: severe below 0.25, major below 0.5.
    pub fn from_ratio(r: f64) -> Severity {
        match r {
            r if r < 0.25 => Severity::Severe,
            r if r < 0.5 => Severity::Major,
            _ => Severity::Minor,
        }
    }
}

/// The numbers a decision rested on (absent when that test had no data).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Which tests fired in the deciding window.
    pub tests: Vec<String>,
    pub speed_kph: Option<f64>,
    pub baseline_kph: Option<f64>,
    pub z: Option<f64>,
    pub downstream_speed_kph: Option<f64>,
    pub downstream_z: Option<f64>,
    pub upstream_z: Option<f64>,
    /// Detector pair: OCCDF, OCCRDF, DOCCTD and DOCC (occupancy in %).
    pub occdf: Option<f64>,
    pub occrdf: Option<f64>,
    pub docctd: Option<f64>,
    pub docc: Option<f64>,
    /// Reports on the segment or next to it that corroborate.
    pub reports: Vec<String>,
    /// Segments covered by the queue (the incident segment and congested ones upstream).
    pub extent: u32,
}

/// An incident event, key `segment_id` (the contract is in the README and
/// `schemas/incident_event.avsc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEvent {
    pub incident_id: String,
    pub segment_id: String,
    pub status: Status,
    /// The report category when a report corroborated, otherwise `unknown`.
    pub kind: String,
    pub severity: Severity,
    /// Start of the first window in which the anomaly showed (event time).
    pub started_at: EpochMillis,
    /// End of the window in which it was decided (event time).
    pub detected_at: EpochMillis,
    pub cleared_at: Option<EpochMillis>,
    /// The decision rule of the run that raised it.
    pub algorithm: Algorithm,
    pub confidence: f64,
    pub evidence: Evidence,
}

/// An incident report as detection keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub segment_id: String,
    pub ts: EpochMillis,
    pub report_id: Option<String>,
    pub category: String,
}

impl Report {
    /// The report an input event carries, if it is one.
    pub fn from_event(event: &RawEvent<'_>) -> Option<Report> {
        match &event.body {
            EventBody::Report {
                report_id,
                category,
            } => Some(Report {
                segment_id: event.segment_id.to_string(),
                ts: event.ts,
                report_id: report_id.map(str::to_string),
                category: category.as_str().to_string(),
            }),
            _ => None,
        }
    }
}

/// How detection runs: the algorithms' settings and which decision rules raise incidents.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectSettings {
    pub probe: probe::ProbeSettings,
    pub blockage: blockage::BlockageSettings,
    pub lifecycle: episode::LifecycleSettings,
    /// How long a report waits for a measurement to confirm it.
    pub report_ttl_ms: i64,
    /// Decision rules to run, each with its own incidents.
    pub algorithms: Vec<Algorithm>,
    /// Segments outside the catalogue the detection partitions of one worker may hold
    /// (`limits.max_detection_keys`), shared by those partitions.
    pub keys: std::sync::Arc<super::limits::Budget>,
    /// Final windows waiting for the watermark in those partitions
    /// (`limits.max_waiting_windows`), shared the same way.
    pub waiting: std::sync::Arc<super::limits::Budget>,
}

impl Default for DetectSettings {
    fn default() -> Self {
        Self {
            probe: probe::ProbeSettings::default(),
            blockage: blockage::BlockageSettings::default(),
            lifecycle: episode::LifecycleSettings::default(),
            report_ttl_ms: 20 * 60_000,
            algorithms: vec![Algorithm::Combined],
            keys: std::sync::Arc::new(super::limits::Budget::new(
                super::limits::MAX_DETECTION_KEYS,
                None,
            )),
            waiting: std::sync::Arc::new(super::limits::Budget::new(
                super::limits::MAX_WAITING_WINDOWS,
                None,
            )),
        }
    }
}
