//! Automatic incident detection (TRAFFIC.md "Automatic incident detection"): closed windows of
//! a corridor's segments and incident reports in, incident events (`detected` → `updated` →
//! `cleared`) out. Pure and deterministic like the rest of the domain.
//!
//! # Why detection is keyed by corridor, not by input partition
//! The congestion windows of a segment are computed by the task that owns the segment's input
//! partition, but detection must see several segments together: a detector pair is an upstream
//! and a downstream station, and a probe anomaly is told from recurrent congestion by looking at
//! the segments beside it. Those segments usually hash to different partitions. So detection
//! runs one stage later, keyed by **corridor**: the connected component of the catalogue's
//! upstream/downstream graph ([`corridor::Corridors`]; a segment without topology is a corridor
//! of its own). Every final window is routed by its corridor id to one [`engine::Engine`]
//! slot, whose [`corridor::Assembler`] waits until every segment of the corridor has reported
//! that window (or the corridor's own stream time has moved `lateness` past it) and then feeds
//! the whole window, in window order, to the corridor's [`detector::Detector`].
//!
//! `roadpulse replay` does this routing in memory. The Kafka path (designed, not wired yet) does
//! it through an internal
//! topic, `<group_id>-corridor-repartition`, keyed by corridor id: the tasks write their final
//! window measures there, the same consumer group reads it back, so each corridor lands on one
//! task that owns its detector state (mirrored to the changelog: every detector state type
//! derives serde), and incident events are produced in the same transaction as the offsets.
//! This is Kafka Streams' repartition-topic idea.
//!
//! # The algorithms (each its own module, each unit-tested on hand-computed cases)
//! - [`probe`]: probe speed against the segment's own time-of-day baseline (SND z-score), with
//!   a downstream-discontinuity test that tells an incident from recurrent congestion, and
//!   persistence;
//! - [`pair`]: California #7/#8 and APID on detector station pairs from the topology;
//! - [`reports`]: report corroboration and expiry;
//! - [`lifecycle`]: one incident id from detection to clearance, never reported twice;
//! - [`detector`]: runs them per corridor window and decides per [`Algorithm`].

pub mod baseline;
pub mod corridor;
pub mod detector;
pub mod engine;
pub mod lifecycle;
pub mod pair;
pub mod probe;
pub mod reports;
pub mod signals;

use serde::{Deserialize, Serialize};

use super::event::EpochMillis;
use super::output::CongestionEvent;

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

/// An incident event (DESIGN.md §3), key `segment_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEvent {
    pub incident_id: String,
    pub segment_id: String,
    pub corridor: String,
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

/// What detection needs of one closed (segment, window): the final congestion event's
/// measures, without the parts detection does not read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentWindow {
    pub segment_id: String,
    pub window_start: EpochMillis,
    pub window_end: EpochMillis,
    pub samples: u32,
    /// Space-mean probe speed (None without probes).
    pub probe_speed_kph: Option<f64>,
    /// The window's speed from any source (probes first, then detectors).
    pub speed_kph: Option<f64>,
    pub volume: u64,
    /// Mean detector occupancy, 0..1 (None without detector readings).
    pub occupancy: Option<f64>,
    pub free_flow_kph: f64,
}

impl From<&CongestionEvent> for SegmentWindow {
    fn from(e: &CongestionEvent) -> Self {
        SegmentWindow {
            segment_id: e.segment_id.clone(),
            window_start: e.window_start,
            window_end: e.window_end,
            samples: e.samples,
            probe_speed_kph: if e.speed_source == "probe" {
                e.speed_kph
            } else {
                None
            },
            speed_kph: e.speed_kph,
            volume: e.volume,
            occupancy: e.occupancy,
            free_flow_kph: e.free_flow_kph,
        }
    }
}

/// An incident report as detection keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub segment_id: String,
    pub ts: EpochMillis,
    pub report_id: Option<String>,
    pub category: String,
}
