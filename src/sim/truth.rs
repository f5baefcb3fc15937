//! The ground truth a simulation writes beside its raw events (JSONL, one record per line):
//! every incident as it really happened, and every segment's true space-mean speed per window
//! with the incident (if any) whose queue covered it. The evaluator judges detections and
//! congestion levels against it.

use serde::{Deserialize, Serialize};

use crate::domain::congestion::Level;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TruthRecord {
    /// A real incident: capacity of `segment_id` reduced over `[start, end)`.
    Incident {
        incident_id: String,
        corridor: String,
        segment_id: String,
        start: i64,
        end: i64,
        capacity_drop: f64,
        kind: String,
    },
    /// The true state of one segment over one window.
    Window {
        segment_id: String,
        window_start: i64,
        window_end: i64,
        /// Space-mean speed: vehicle-kilometres over vehicle-hours in the window.
        speed_kph: f64,
        free_flow_kph: f64,
        level: Level,
        /// The incident whose effect (the incident segment itself, or its queue upstream, or
        /// the queue still discharging after clearance) covered this window.
        incident: Option<String>,
    },
}

/// Accumulates one segment's truth over the current window.
#[derive(Debug, Clone, Default)]
pub struct WindowTruth {
    vehicle_km: f64,
    vehicle_h: f64,
    pub incident: Option<String>,
}

impl WindowTruth {
    /// One model step: `vehicles` in the segment moving at `speed_kph` for `dt_h` hours.
    pub fn add(&mut self, vehicles: f64, speed_kph: f64, dt_h: f64) {
        self.vehicle_km += vehicles * speed_kph * dt_h;
        self.vehicle_h += vehicles * dt_h;
    }

    /// The window's record; an empty road runs at free-flow speed.
    pub fn finish(
        &mut self,
        segment_id: &str,
        window: (i64, i64),
        free_flow_kph: f64,
    ) -> TruthRecord {
        let speed = if self.vehicle_h > 1e-9 {
            self.vehicle_km / self.vehicle_h
        } else {
            free_flow_kph
        };
        let record = TruthRecord::Window {
            segment_id: segment_id.to_string(),
            window_start: window.0,
            window_end: window.1,
            speed_kph: crate::domain::output::round(speed, 2),
            free_flow_kph,
            level: Level::from_ratio(speed / free_flow_kph),
            incident: self.incident.take(),
        };
        *self = WindowTruth::default();
        record
    }
}
