//! Incident detection on the Kafka path: the corridor stage (see [`crate::domain::incident`]
//! for why detection is keyed by corridor, not by input partition).
//!
//! Stage one is the input tasks: every final window and every incident report is also written
//! to the internal topic `<group_id>-corridor-repartition`, keyed (murmur2) by its corridor.
//! Stage two is this module: the same consumer group reads that topic; each of its partitions
//! is a task owning an [`Engine`] for the corridors that hash to it, whose incident events go
//! to `kafka.incidents_topic`. Its state (per corridor: the window assembler, baselines, open
//! incidents) is mirrored to the compacted `<group_id>-corridor-state-changelog`, co-partitioned
//! with the repartition topic, and written — like the routed records, the incidents and the
//! offsets — in the worker's transaction. So the committed offset of a stage-two partition is
//! simply its position: everything before it is in the changelog.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::catalog::Catalog;
use crate::domain::event::{EpochMillis, EventBody, RawEvent};
use crate::domain::incident::corridor::Corridors;
use crate::domain::incident::engine::{CorridorTask, Engine, EngineSettings};
use crate::domain::incident::{IncidentEvent, Report, SegmentWindow};

/// A record of the corridor repartition topic (JSON, internal: only roadpulse reads it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Routed {
    Window(SegmentWindow),
    Report(Report),
}

impl Routed {
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.clear();
        // Serializing plain data to a Vec cannot fail.
        let _ = serde_json::to_writer(buf, self);
    }

    pub fn decode(bytes: &[u8]) -> Result<Routed, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The report an input event carries, for routing.
    pub fn report(event: &RawEvent<'_>) -> Option<Routed> {
        match &event.body {
            EventBody::Report {
                report_id,
                category,
            } => Some(Routed::Report(Report {
                segment_id: event.segment_id.to_string(),
                ts: event.ts,
                report_id: report_id.map(str::to_string),
                category: category.as_str().to_string(),
            })),
            _ => None,
        }
    }

    pub fn segment(&self) -> &str {
        match self {
            Routed::Window(w) => &w.segment_id,
            Routed::Report(r) => &r.segment_id,
        }
    }

    pub fn timestamp(&self) -> EpochMillis {
        match self {
            Routed::Window(w) => w.window_end,
            Routed::Report(r) => r.ts,
        }
    }
}

/// What both stages share: the catalogue's corridors (routing keys) and detection settings.
pub(crate) struct Detection {
    pub corridors: Corridors,
    catalog: Arc<Catalog>,
    settings: EngineSettings,
}

impl Detection {
    pub fn new(catalog: Arc<Catalog>, settings: EngineSettings) -> Self {
        Detection {
            corridors: Corridors::from_catalog(&catalog),
            catalog,
            settings,
        }
    }

    pub fn engine(&self) -> Engine {
        Engine::new(&self.catalog, self.settings.clone())
    }
}

/// One partition of the repartition topic: its engine and where it stands.
pub(crate) struct CorridorStage {
    pub engine: Engine,
    /// Offset after the last record folded in (what a commit stores).
    pub position: Option<i64>,
    /// What the group last committed for this partition: where a rewind goes back to.
    pub committed: Option<i64>,
}

impl CorridorStage {
    pub fn on_record(&mut self, offset: i64, routed: Routed, out: &mut Vec<IncidentEvent>) {
        self.position = Some(offset + 1);
        match routed {
            Routed::Window(w) => self.engine.on_window(w, out),
            Routed::Report(r) => self.engine.on_report(r),
        }
    }

    /// Puts back one corridor's state read from the changelog; false when it does not decode.
    pub fn restore(&mut self, corridor: &str, value: &[u8]) -> bool {
        match serde_json::from_slice::<CorridorTask>(value) {
            Ok(task) => {
                self.engine.restore(corridor, task);
                true
            }
            Err(_) => false,
        }
    }
}
