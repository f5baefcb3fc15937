//! A segment's own time-of-day baseline: for each 5-minute bin of the day, the mean and
//! standard deviation of the window speeds seen in that bin on earlier days (Welford's running
//! moments, turning into an exponential average once a bin holds `MAX_WEIGHT` windows so the
//! baseline follows slow change). The daily rush hour is part of it, which is what separates a
//! recurrent slowdown (usual for this time of day) from an incident (unusual).
//!
//! Each bin also keeps how often the segment was the head of a queue (slow, with the segment
//! downstream clearly faster) at that time of day: a recurrent bottleneck is a head every rush
//! hour, give or take half an hour, and an edge there is not news.
//!
//! Outliers are winsorised before they are learned: once a bin is trusted, a speed is clamped
//! to mean ± 3 sd, so an incident does not drag the baseline towards itself.

use serde::{Deserialize, Serialize};

use crate::domain::event::EpochMillis;

const DAY_MS: i64 = 86_400_000;
/// Width of a time-of-day bin.
pub const BIN_MS: i64 = 5 * 60_000;
const BINS: usize = (DAY_MS / BIN_MS) as usize;
/// Beyond this many windows a bin forgets old days exponentially.
const MAX_WEIGHT: f64 = 40.0;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BinStat {
    pub weight: f64,
    pub mean: f64,
    /// Sum of squared deviations (Welford's M2), scaled with the weight.
    pub m2: f64,
}

impl BinStat {
    pub fn sd(&self) -> f64 {
        if self.weight < 2.0 {
            0.0
        } else {
            (self.m2 / (self.weight - 1.0)).max(0.0).sqrt()
        }
    }

    fn add(&mut self, x: f64) {
        if self.weight >= MAX_WEIGHT {
            let keep = (MAX_WEIGHT - 1.0) / MAX_WEIGHT;
            self.weight -= 1.0;
            self.m2 *= keep;
        }
        self.weight += 1.0;
        let delta = x - self.mean;
        self.mean += delta / self.weight;
        self.m2 += delta * (x - self.mean);
    }
}

/// The baseline of one segment. Bins are created on first use, so a segment seen only in the
/// morning keeps only morning bins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    bins: Vec<Option<BinStat>>,
    /// Per bin: share of windows in which the segment was a queue head, and their weight.
    heads: Vec<Option<BinStat>>,
}

/// Bins either side searched for a usual queue head (± 30 minutes).
const HEAD_TOLERANCE_BINS: usize = 6;

/// What the baseline says about a speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deviation {
    pub mean: f64,
    /// The spread used (at least the floor).
    pub sd: f64,
    /// `(x − mean) / max(sd, sd_floor)`.
    pub z: f64,
}

pub fn bin_of(ts: EpochMillis) -> usize {
    (ts.rem_euclid(DAY_MS) / BIN_MS) as usize
}

impl Baseline {
    pub fn bin(&self, ts: EpochMillis) -> Option<&BinStat> {
        self.bins.get(bin_of(ts)).and_then(Option::as_ref)
    }

    /// The z-score of `x` at `ts`, once the bin holds `min_weight` windows; the spread is at
    /// least `sd_floor` (a quiet bin must not turn noise into alarms).
    pub fn deviation(
        &self,
        ts: EpochMillis,
        x: f64,
        min_weight: f64,
        sd_floor: f64,
    ) -> Option<Deviation> {
        let b = self.bin(ts).filter(|b| b.weight >= min_weight)?;
        let sd = b.sd().max(sd_floor);
        Some(Deviation {
            mean: b.mean,
            sd,
            z: (x - b.mean) / sd,
        })
    }

    /// Learns `x` at `ts`, clamped to mean ± 3 sd once the bin holds `min_weight` windows.
    pub fn learn(&mut self, ts: EpochMillis, x: f64, min_weight: f64, sd_floor: f64) {
        if self.bins.len() < BINS {
            self.bins.resize(BINS, None);
        }
        let bin = self.bins[bin_of(ts)].get_or_insert_with(BinStat::default);
        let x = if bin.weight >= min_weight {
            let spread = 3.0 * bin.sd().max(sd_floor);
            x.clamp(bin.mean - spread, bin.mean + spread)
        } else {
            x
        };
        bin.add(x);
    }

    /// Learns whether the segment was a queue head in the window at `ts`.
    pub fn learn_head(&mut self, ts: EpochMillis, head: bool) {
        if self.heads.len() < BINS {
            self.heads.resize(BINS, None);
        }
        let bin = self.heads[bin_of(ts)].get_or_insert_with(BinStat::default);
        bin.add(if head { 1.0 } else { 0.0 });
    }

    /// Whether the segment has been a queue head on at least half of the windows of some bin
    /// within ± 30 minutes of `ts` (bins with at least `min_weight` windows).
    pub fn usual_head(&self, ts: EpochMillis, min_weight: f64) -> bool {
        let at = bin_of(ts) + BINS;
        (at - HEAD_TOLERANCE_BINS..=at + HEAD_TOLERANCE_BINS).any(|b| {
            self.heads
                .get(b % BINS)
                .and_then(Option::as_ref)
                .is_some_and(|h| h.weight >= min_weight && h.mean >= 0.5)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welford_mean_and_sd_by_hand() {
        let mut b = Baseline::default();
        for x in [90.0, 100.0, 110.0] {
            b.learn(7 * 3_600_000, x, 99.0, 0.0);
        }
        let s = b.bin(7 * 3_600_000 + 60_000).unwrap();
        // mean 100, sample variance (100 + 0 + 100) / 2 = 100.
        assert_eq!((s.weight, s.mean, s.sd()), (3.0, 100.0, 10.0));
        // Another day, same bin (5-minute bins): z = (70 − 100) / 10.
        let d = b
            .deviation(DAY_MS + 7 * 3_600_000 + 120_000, 70.0, 3.0, 5.0)
            .unwrap();
        assert_eq!((d.mean, d.z), (100.0, -3.0));
        // The sd floor applies, and a bin with too few windows says nothing.
        assert_eq!(b.deviation(7 * 3_600_000, 70.0, 3.0, 20.0).unwrap().z, -1.5);
        assert!(b.deviation(7 * 3_600_000, 70.0, 4.0, 5.0).is_none());
        assert!(b.deviation(8 * 3_600_000, 70.0, 0.0, 5.0).is_none());
    }

    #[test]
    fn a_usual_head_is_found_within_half_an_hour() {
        let mut b = Baseline::default();
        let at = 8 * 3_600_000;
        for day in 0..4 {
            b.learn_head(day * DAY_MS + at, day != 0); // a head on 3 days of 4
            b.learn_head(day * DAY_MS + at + 3_600_000, day == 0); // once in 4
        }
        assert!(b.usual_head(at, 4.0));
        assert!(
            b.usual_head(at + 30 * 60_000, 4.0),
            "25-30 min later: 6 bins away"
        );
        assert!(!b.usual_head(at + 40 * 60_000, 4.0));
        assert!(!b.usual_head(at, 5.0), "not enough history");
        assert!(!b.usual_head(at + 3_600_000 + 60_000, 4.0) || b.usual_head(at + 35 * 60_000, 4.0));
    }

    #[test]
    fn a_trusted_bin_learns_outliers_clamped() {
        let mut b = Baseline::default();
        for x in [100.0, 100.0, 100.0, 100.0] {
            b.learn(0, x, 4.0, 2.0);
        }
        b.learn(0, 10.0, 4.0, 2.0); // clamped to 100 − 3 × 2 = 94
        let s = b.bin(0).unwrap();
        assert!((s.mean - 98.8).abs() < 1e-9, "{}", s.mean);
    }
}
