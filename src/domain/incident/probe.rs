//! The probe test: a segment's probe speed against its own time-of-day [`Baseline`] (an SND
//! z-score), read together with the segment downstream.
//!
//! An incident makes a sharp edge: its segment slows (a queue builds behind the blockage)
//! while the segment downstream runs free or starved. Recurrent congestion makes edges too —
//! at the same bottleneck every day — but there both sides are as usual for the time of day. So
//! a window is anomalous when the segment is slow (ratio below `slow_ratio`), the downstream
//! segment is clearly faster (by `gap_ratio` of free flow, or has no probe data), and the
//! edge is unusual: the segment is `z_crit` standard deviations slower than its baseline, or
//! the downstream one `z_crit` faster than its own (an incident inside a recurrent queue
//! starves the segment after it). A queue growing longer than usual is slow on both sides of
//! its tail and raises nothing. The alarm needs `persist` anomalous windows in a row (SND's
//! "two successive values").

use serde::{Deserialize, Serialize};

use super::baseline::Deviation;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeSettings {
    /// Probe samples a window needs to be judged.
    pub min_samples: u32,
    /// Windows a baseline bin needs: 10 per day per 5-minute bin with 30-s windows, so two
    /// days of history (three with 60-s windows).
    pub min_history: f64,
    /// Smallest baseline spread, as a share of free-flow speed.
    pub sd_floor_ratio: f64,
    pub z_crit: f64,
    /// Weaker z used to corroborate other algorithms and to measure a queue's extent.
    pub z_weak: f64,
    pub slow_ratio: f64,
    pub gap_ratio: f64,
    pub persist: u32,
    /// A baseline spread above this share of free flow is too wide to judge by.
    pub wide_sd_ratio: f64,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            min_samples: 3,
            min_history: 15.0,
            sd_floor_ratio: 0.08,
            z_crit: 3.0,
            z_weak: 1.5,
            slow_ratio: 0.75,
            gap_ratio: 0.2,
            persist: 2,
            wide_sd_ratio: 0.25,
        }
    }
}

/// One segment's probe reading in one window, with its baseline deviation when known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeView {
    pub speed: f64,
    pub samples: u32,
    pub ratio: f64,
    pub free_flow: f64,
    pub dev: Option<Deviation>,
}

impl ProbeView {
    pub fn z(&self) -> Option<f64> {
        self.dev.map(|d| d.z)
    }

    /// A queue head: slow, with the segment downstream clearly faster (or unknown).
    pub fn head(&self, down: Option<&ProbeView>, s: &ProbeSettings) -> bool {
        self.ratio < s.slow_ratio && down.is_none_or(|d| d.ratio - self.ratio >= s.gap_ratio)
    }

    /// The baseline cannot tell: none yet, or its spread is over `wide_sd_ratio` of free flow
    /// (the segment is sometimes in a recurrent queue at this hour, sometimes not).
    pub fn uninformative(&self, s: &ProbeSettings) -> bool {
        self.dev
            .is_none_or(|d| d.sd > s.wide_sd_ratio * self.free_flow)
    }
}

/// Whether the edge between a segment and its downstream is an anomaly at `z` standard
/// deviations (`z_crit` for the alarm test, `z_weak` for corroboration).
pub fn edge(here: &ProbeView, down: Option<&ProbeView>, z: f64, s: &ProbeSettings) -> bool {
    let slow_here = here.z().is_some_and(|v| v <= -z);
    let fast_down = down.and_then(ProbeView::z).is_some_and(|v| v >= z);
    here.head(down, s) && (slow_here || fast_down)
}

/// Slower than usual, whatever the segment downstream does (a queue's body).
pub fn slowed(here: &ProbeView, s: &ProbeSettings) -> bool {
    here.ratio < s.slow_ratio + 0.1 && here.z().is_some_and(|v| v <= -s.z_weak)
}

/// The persistence counter of one segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeRun {
    pub run: u8,
}

impl ProbeRun {
    /// One window: `None` when there was nothing to judge (keeps the count).
    pub fn step(&mut self, anomalous: Option<bool>, s: &ProbeSettings) -> bool {
        match anomalous {
            Some(true) => self.run = self.run.saturating_add(1),
            Some(false) => self.run = 0,
            None => {}
        }
        u32::from(self.run) >= s.persist
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(ratio: f64, z: Option<f64>) -> ProbeView {
        ProbeView {
            speed: ratio * 100.0,
            samples: 5,
            ratio,
            free_flow: 100.0,
            dev: z.map(|z| Deviation {
                mean: 90.0,
                sd: 8.0,
                z,
            }),
        }
    }

    #[test]
    fn an_unusual_edge_is_an_anomaly() {
        let s = ProbeSettings::default();
        // 30 km/h where 90 is usual (z −4), downstream free: an incident's edge.
        assert!(edge(
            &view(0.3, Some(-4.0)),
            Some(&view(0.95, Some(0.2))),
            3.0,
            &s
        ));
        // The same slowdown every day at this hour (z −0.5): recurrent, no anomaly.
        assert!(!edge(
            &view(0.3, Some(-0.5)),
            Some(&view(0.95, Some(0.2))),
            3.0,
            &s
        ));
        // A queue longer than usual: slow on both sides of its tail.
        assert!(!edge(
            &view(0.3, Some(-4.0)),
            Some(&view(0.25, Some(-0.3))),
            3.0,
            &s
        ));
        // Inside a usual queue, the segment after a blockage runs unusually fast.
        assert!(edge(
            &view(0.1, Some(-1.0)),
            Some(&view(0.7, Some(5.0))),
            3.0,
            &s
        ));
        // Not slow enough to matter, or no baseline yet.
        assert!(!edge(&view(0.8, Some(-4.0)), None, 3.0, &s));
        assert!(!edge(&view(0.3, None), None, 3.0, &s));
    }

    #[test]
    fn persistence_counts_successive_anomalies() {
        let s = ProbeSettings::default();
        let mut r = ProbeRun::default();
        assert!(!r.step(Some(true), &s));
        assert!(
            !r.step(None, &s),
            "a window without data neither counts nor resets"
        );
        assert!(r.step(Some(true), &s));
        assert!(!r.step(Some(false), &s));
    }
}
