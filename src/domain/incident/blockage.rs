//! The blockage test: an incident from the physics of a blockage and the catalogue alone, for
//! segments that have no time-of-day baseline yet (the first days of a deployment, a new
//! segment, an hour never seen before).
//!
//! A blockage leaves a queue behind it and a starved road after it. So a window of segment `j`
//! is a *blockage edge* when
//! - `j` is **queued**: its judged speed (probes with enough samples, or a healthy station) is
//!   below `jam_ratio` of its free-flow speed, and
//! - a segment downstream is **clear**: seen now at `clear_ratio` of its free-flow speed or
//!   faster; or its station reads an empty road (zero volume and zero occupancy, and no probe
//!   on it says otherwise); or, unseen now, last seen clear within `recall_s` (at 1–3 %
//!   penetration most windows of a starved segment have no probe at all).
//!
//! A queue discharging behind a cleared blockage makes the same edge, moving upstream: there
//! the segment downstream was itself queued a moment ago. So a segment whose downstream was
//! seen queued within `recall_s` has no edge; a blockage's downstream was never queued.
//!
//! The alarm needs edges over `persist_s` of windows in a row (a window that cannot tell
//! neither counts nor resets), so persistence is the same time whatever the window size.
//!
//! The catalogue says where such an edge is normal: before a lane drop or a merge (fewer lanes
//! downstream, or a downstream segment fed by several) a queue forms whenever demand exceeds
//! capacity, so there only an empty road downstream counts as clear; and a signalised segment
//! is slow with a free segment after it at every red light, so the test does not run there.
//!
//! **Growing into the baseline.** The test judges only while the segment has no trusted
//! baseline for the time of day and is not usually a queue head then ([`super::baseline`]):
//! once history has accrued, the SND test of [`super::probe`] judges the segment instead, and
//! recurrent bottlenecks learnt from history are exempt before the baseline is trusted.

use serde::{Deserialize, Serialize};

use super::baseline::{Usual, USUAL_BINS, USUAL_SPAN};
use super::facts::Facts;
use super::probe::ProbeSettings;
use crate::domain::event::EpochMillis;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockageSettings {
    /// Run the blockage test (segments without a baseline only).
    pub enabled: bool,
    /// Queued: judged speed below this share of free flow.
    pub jam_ratio: f64,
    /// Clear downstream: seen at this share of free flow or faster.
    pub clear_ratio: f64,
    /// How long a downstream segment last seen clear still counts as clear while unseen.
    pub recall_s: u32,
    /// Edges needed in a row, as time (windows: this over the window size, rounded up, ≥ 1).
    pub persist_s: u32,
}

impl Default for BlockageSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            jam_ratio: 0.4,
            clear_ratio: 0.7,
            recall_s: 300,
            persist_s: 60,
        }
    }
}

impl BlockageSettings {
    /// Windows of `size_ms` the alarm needs in a row.
    pub fn windows(&self, size_ms: i64) -> u8 {
        let size = size_ms.max(1);
        let n = (i64::from(self.persist_s) * 1000 + size - 1) / size;
        n.clamp(1, 255) as u8
    }
}

/// What a segment remembers of its downstream neighbours for the blockage test, and its
/// persistence counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockageRun {
    /// Edges in a row.
    pub run: u8,
    /// End of the last window in which a downstream segment was seen clear.
    pub clear_at: Option<EpochMillis>,
    /// End of the last window in which a downstream segment was seen queued.
    pub queued_at: Option<EpochMillis>,
}

/// One downstream neighbour as the test reads it in this window.
#[derive(Debug, Clone, Copy)]
pub struct Downstream<'a> {
    pub facts: Option<&'a Facts>,
    /// Fewer lanes, or fed by several segments: a queue before it is normal under demand.
    pub bottleneck: bool,
}

/// Whether the segment is usually slow (below `slow_ratio`) in some bin of the next 30
/// minutes of the day: a recurrent queue the history knows of, not the test's business. Only
/// the bins ahead count: today has not reached them, so they hold earlier days alone, while
/// the window's own bin and those before it fill within minutes with today's incident.
pub fn usual_slow(usual: &Usual, p: &ProbeSettings) -> bool {
    (USUAL_SPAN + 1..USUAL_BINS).any(|k| usual.ratio(k).is_some_and(|r| r < p.slow_ratio))
}

/// `j` is queued in this window (None: no judged speed).
pub fn queued(here: &Facts, s: &BlockageSettings) -> Option<bool> {
    let v = f64::from(here.judged?);
    Some(v < s.jam_ratio * f64::from(here.free_flow).max(1.0))
}

/// A downstream neighbour seen clear now: fast, or an empty road. At a bottleneck only an
/// empty road counts.
fn clear_now(d: &Downstream<'_>, s: &BlockageSettings) -> bool {
    let Some(f) = d.facts else { return false };
    let fast = f
        .seen
        .is_some_and(|v| f64::from(v) >= s.clear_ratio * f64::from(f.free_flow).max(1.0));
    f.empty || (fast && !d.bottleneck)
}

impl BlockageRun {
    /// One window ending at `end`; `judged` is whether the test may judge the segment now
    /// (no baseline, not usually slow, not signalised: otherwise the count restarts). Returns
    /// whether the window is an edge, and whether it is the `windows`-th edge in a row (the
    /// alarm).
    pub fn step(
        &mut self,
        end: EpochMillis,
        here: Option<&Facts>,
        downs: &[Downstream<'_>],
        judged: bool,
        s: &BlockageSettings,
    ) -> (bool, bool) {
        let now = downs.iter().any(|d| clear_now(d, s));
        let seen = downs
            .iter()
            .any(|d| d.facts.is_some_and(|f| f.seen.is_some() || f.empty));
        if now {
            self.clear_at = Some(end);
        } else if seen {
            self.clear_at = None;
        }
        let down_queued = downs
            .iter()
            .any(|d| d.facts.is_some_and(|f| queued(f, s) == Some(true)));
        if down_queued {
            self.queued_at = Some(end);
        }
        let within =
            |t: Option<EpochMillis>| t.is_some_and(|t| end - t <= i64::from(s.recall_s) * 1000);
        // A queue discharging behind a cleared blockage: the road after it was queued lately.
        let discharging = within(self.queued_at);
        let recalled = within(self.clear_at);
        if !judged || !s.enabled {
            self.run = 0;
            return (false, false);
        }
        let q = here.and_then(|f| queued(f, s));
        let edge = q == Some(true) && (now || recalled) && !discharging;
        match q {
            Some(true) if edge => self.run = self.run.saturating_add(1),
            Some(_) => self.run = 0,
            None => {}
        }
        let need = here.map_or(255, |f| s.windows(f.window_end - f.window_start));
        (edge, edge && self.run >= need)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::facts::tests::facts;

    const W: i64 = 30_000;

    fn down(f: Option<&Facts>, bottleneck: bool) -> Downstream<'_> {
        Downstream {
            facts: f,
            bottleneck,
        }
    }

    fn win(start: i64, speed: f32) -> Facts {
        let mut f = facts(start, speed, 5);
        f.window_end = start + W;
        f.baseline = None;
        f
    }

    #[test]
    fn usually_slow_segments_are_exempt() {
        let p = ProbeSettings::default();
        let mut u = Usual::default();
        assert!(!usual_slow(&u, &p), "nothing seen yet");
        u.0[0] = 91; // ratio 0.90
        u.0[USUAL_SPAN] = 21; // ratio 0.20 now: today's own queue, perhaps
        assert!(!usual_slow(&u, &p));
        u.0[USUAL_BINS - 1] = 31; // ratio 0.30, half an hour later: earlier days
        assert!(usual_slow(&u, &p));
    }

    #[test]
    fn a_discharging_queue_is_no_blockage() {
        let s = BlockageSettings::default();
        let mut r = BlockageRun::default();
        // The segment downstream was queued (20 km/h) and now runs free: the front of a
        // queue discharging upstream, not a new blockage; 300 s later it would be one.
        r.step(
            W,
            Some(&win(0, 20.0)),
            &[down(Some(&win(0, 20.0)), false)],
            true,
            &s,
        );
        let free = win(W, 90.0);
        assert!(
            !r.step(
                2 * W,
                Some(&win(W, 20.0)),
                &[down(Some(&free), false)],
                true,
                &s
            )
            .0
        );
        assert!(
            r.step(
                12 * W,
                Some(&win(W, 20.0)),
                &[down(Some(&free), false)],
                true,
                &s
            )
            .0
        );
    }

    #[test]
    fn persistence_in_time_whatever_the_window() {
        let s = BlockageSettings::default();
        assert_eq!((s.windows(30_000), s.windows(60_000)), (2, 1));
        assert_eq!(s.windows(45_000), 2, "60 s over 45 s windows, rounded up");
    }

    #[test]
    fn a_queue_before_a_clear_road_alarms_after_persist_s() {
        let s = BlockageSettings::default();
        let mut r = BlockageRun::default();
        // 30 km/h of 100 (< 40 %) before 90 km/h (≥ 70 %): an edge; two 30-s windows alarm.
        let (jam, free) = (win(0, 30.0), win(0, 90.0));
        assert_eq!(
            r.step(W, Some(&jam), &[down(Some(&free), false)], true, &s),
            (true, false)
        );
        let (jam, free) = (win(W, 30.0), win(W, 90.0));
        assert_eq!(
            r.step(2 * W, Some(&jam), &[down(Some(&free), false)], true, &s),
            (true, true)
        );
        // A slow segment downstream (the body of a longer queue) is not clear: reset.
        let slow = win(2 * W, 35.0);
        let jam = win(2 * W, 30.0);
        assert_eq!(
            r.step(3 * W, Some(&jam), &[down(Some(&slow), false)], true, &s),
            (false, false)
        );
        // Not queued at 45 km/h; with a baseline (judged = false) the test does not run, and
        // a count from before does not carry over.
        let mut r = BlockageRun::default();
        let mid = win(0, 45.0);
        assert_eq!(
            r.step(W, Some(&mid), &[down(Some(&free), false)], true, &s),
            (false, false)
        );
        r.step(W, Some(&jam), &[down(Some(&free), false)], true, &s);
        let no = r.step(2 * W, Some(&jam), &[down(Some(&free), false)], false, &s);
        assert_eq!((no, r.run), ((false, false), 0));
    }

    #[test]
    fn empty_roads_recall_and_bottlenecks() {
        let s = BlockageSettings::default();
        // Before a lane drop, a fast segment downstream is normal; an empty road is not.
        let mut r = BlockageRun::default();
        let jam = win(0, 10.0);
        let free = win(0, 95.0);
        assert!(
            !r.step(W, Some(&jam), &[down(Some(&free), true)], true, &s)
                .0
        );
        let mut empty = win(0, 100.0);
        (empty.seen, empty.empty) = (None, true);
        assert!(
            r.step(W, Some(&jam), &[down(Some(&empty), true)], true, &s)
                .0
        );
        // Unseen downstream: clear if last seen clear within recall_s (300 s), not after.
        let mut r = BlockageRun::default();
        r.step(
            W,
            Some(&win(0, 90.0)),
            &[down(Some(&free), false)],
            true,
            &s,
        );
        assert!(r.step(10 * W, Some(&jam), &[down(None, false)], true, &s).0);
        assert!(
            !r.step(12 * W, Some(&jam), &[down(None, false)], true, &s).0,
            "330 s ago"
        );
        // Seen slow since: the memory is gone.
        let mut r = BlockageRun::default();
        r.step(W, None, &[down(Some(&free), false)], true, &s);
        r.step(2 * W, None, &[down(Some(&win(W, 20.0)), false)], true, &s);
        assert!(!r.step(3 * W, Some(&jam), &[down(None, false)], true, &s).0);
        // No judged speed: nothing counts, nothing resets.
        let mut r = BlockageRun {
            run: 1,
            ..BlockageRun::default()
        };
        let mut unjudged = win(0, 10.0);
        unjudged.judged = None;
        r.step(W, Some(&unjudged), &[down(Some(&free), false)], true, &s);
        assert_eq!(r.run, 1);
    }
}
