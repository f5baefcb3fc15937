//! Detection for many corridors: routes each final window and each report to its corridor's
//! [`CorridorTask`] (assembler + detector), which is the unit a corridor-keyed task owns on the
//! Kafka path. Corridors are created on first sight, from the catalogue's topology. The engine
//! remembers which corridors changed so the Kafka path can mirror them to a changelog, and
//! takes a corridor's state back when it restores.

use std::collections::{BTreeMap, BTreeSet};

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
    /// Corridors whose state changed since the last [`Engine::drain_changes`].
    dirty: BTreeSet<String>,
}

impl Engine {
    pub fn new(catalog: &Catalog, settings: EngineSettings) -> Self {
        Engine {
            corridors: Corridors::from_catalog(catalog),
            settings,
            tasks: BTreeMap::new(),
            dirty: BTreeSet::new(),
        }
    }

    /// The corridor key a segment's windows and reports are routed by.
    pub fn corridor_of<'a>(&'a self, segment: &'a str) -> &'a str {
        self.corridors.corridor_of(segment)
    }

    fn task(&mut self, segment: &str) -> &mut CorridorTask {
        let key = self.corridors.corridor_of(segment).to_string();
        if !self.dirty.contains(&key) {
            self.dirty.insert(key.clone());
        }
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

    /// Hands over the state of every corridor that changed since the last call (each once).
    pub fn drain_changes(&mut self, mut f: impl FnMut(&str, &CorridorTask)) {
        for key in std::mem::take(&mut self.dirty) {
            if let Some(task) = self.tasks.get(&key) {
                f(&key, task);
            }
        }
    }

    /// Puts back a corridor's state as the changelog last recorded it (before any input).
    pub fn restore(&mut self, corridor: &str, task: CorridorTask) {
        self.tasks.insert(corridor.to_string(), task);
    }

    /// Incidents open (detected, not cleared) over every corridor and decision rule.
    pub fn active(&self) -> usize {
        self.tasks.values().map(|t| t.detector.active()).sum()
    }

    /// Windows that reached their corridor after it had moved on.
    pub fn late_windows(&self) -> u64 {
        self.tasks.values().map(|t| t.assembler.late).sum()
    }
}
