//! Detection for many corridors: routes each final window and each report to its corridor's
//! [`CorridorTask`] (assembler + detector), which is the unit a corridor-keyed task owns on the
//! Kafka path. Corridors are created on first sight, from the catalogue's topology.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::corridor::{Assembler, Corridors};
use super::detector::{Detector, DetectorSettings};
use super::{Algorithm, IncidentEvent, Report, SegmentWindow};
use crate::domain::catalog::Catalog;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineSettings {
    pub detector: DetectorSettings,
    /// Decision rules to run, each with its own incident lifecycle.
    pub algorithms: Vec<Algorithm>,
    /// How far a corridor's stream time may pass a window's end before the window is judged
    /// without the segments that have not reported it.
    pub lateness_ms: i64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            detector: DetectorSettings::default(),
            algorithms: vec![Algorithm::Combined],
            lateness_ms: 120_000,
        }
    }
}

/// The state a corridor-keyed task owns: everything needed to resume detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorridorTask {
    pub assembler: Assembler,
    pub detector: Detector,
    members: usize,
}

impl CorridorTask {
    fn run(&mut self, lateness_ms: i64, out: &mut Vec<IncidentEvent>) {
        let order = self.detector_order();
        for windows in self.assembler.release(self.members, lateness_ms, &order) {
            self.detector.on_window(&windows, out);
        }
    }

    fn detector_order(&self) -> Vec<String> {
        self.detector.order().to_vec()
    }
}

pub struct Engine {
    corridors: Corridors,
    settings: EngineSettings,
    tasks: BTreeMap<String, CorridorTask>,
}

impl Engine {
    pub fn new(catalog: &Catalog, settings: EngineSettings) -> Self {
        Engine {
            corridors: Corridors::from_catalog(catalog),
            settings,
            tasks: BTreeMap::new(),
        }
    }

    /// The corridor key a segment's windows and reports are routed by.
    pub fn corridor_of<'a>(&'a self, segment: &'a str) -> &'a str {
        self.corridors.corridor_of(segment)
    }

    fn task(&mut self, segment: &str) -> &mut CorridorTask {
        let key = self.corridors.corridor_of(segment).to_string();
        let (corridors, settings) = (&self.corridors, &self.settings);
        self.tasks.entry(key).or_insert_with_key(|key| {
            let topo = corridors.topology(key);
            CorridorTask {
                assembler: Assembler::default(),
                members: topo.order.len(),
                detector: Detector::new(topo, settings.detector, &settings.algorithms),
            }
        })
    }

    /// A final window of any segment; appends the incident events it completes.
    pub fn on_window(&mut self, w: SegmentWindow, out: &mut Vec<IncidentEvent>) {
        let lateness = self.settings.lateness_ms;
        let task = self.task(&w.segment_id);
        task.assembler.push(w);
        task.run(lateness, out);
    }

    pub fn on_report(&mut self, r: Report) {
        self.task(&r.segment_id).detector.on_report(r);
    }

    /// End of input: judge every pending window.
    pub fn finish(&mut self, out: &mut Vec<IncidentEvent>) {
        for task in self.tasks.values_mut() {
            let order = task.detector_order();
            for windows in task.assembler.flush(&order) {
                task.detector.on_window(&windows, out);
            }
        }
    }

    /// Windows that reached their corridor after it had moved on.
    pub fn late_windows(&self) -> u64 {
        self.tasks.values().map(|t| t.assembler.late).sum()
    }
}
