//! A segment's own time-of-day baseline: for each 5-minute bin of the day, the mean and
//! standard deviation of the window speeds seen in that bin on earlier days (Welford's running
//! moments, turning into an exponential average once a bin holds `MAX_WEIGHT` windows so the
//! baseline follows slow change). The daily rush hour is part of it, which is what separates a
//! recurrent slowdown (usual for this time of day) from an incident (unusual).
//!
//! Outliers are winsorised before they are learned: once a bin is trusted, a speed is clamped
//! to mean ± 3 sd, so an incident does not drag the baseline towards itself.
//!
//! Compact: only the bins that have been seen are kept (a bitmap says which), each in 5 bytes —
//! its weight (whole windows, at most 40) and its mean and standard deviation in hundredths of
//! a km/h. A segment seen at every time of day holds 288 bins: 1 440 bytes plus 64 of
//! bookkeeping. The rounding to 0.01 km/h after each update is far below any threshold here.

use crate::domain::event::EpochMillis;

const DAY_MS: i64 = 86_400_000;
/// Width of a time-of-day bin.
pub const BIN_MS: i64 = 5 * 60_000;
const BINS: usize = (DAY_MS / BIN_MS) as usize;
const WORDS: usize = BINS.div_ceil(64);
/// Beyond this many windows a bin forgets old days exponentially.
const MAX_WEIGHT: f64 = 40.0;
/// Bins either side read for what is usual around a time of day (± 30 minutes).
pub const USUAL_SPAN: usize = 6;
/// Bins in a [`Usual`] profile: the bin of the window and `USUAL_SPAN` either side.
pub const USUAL_BINS: usize = 2 * USUAL_SPAN + 1;

/// One bin's moments, unpacked for arithmetic.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BinStat {
    pub weight: f64,
    pub mean: f64,
    pub sd: f64,
}

impl BinStat {
    fn pack(self) -> [u8; 5] {
        let q = |v: f64| (v * 100.0).round().clamp(0.0, f64::from(u16::MAX)) as u16;
        let (m, s) = (q(self.mean).to_le_bytes(), q(self.sd).to_le_bytes());
        [
            self.weight.clamp(0.0, MAX_WEIGHT) as u8,
            m[0],
            m[1],
            s[0],
            s[1],
        ]
    }

    fn unpack(b: [u8; 5]) -> BinStat {
        BinStat {
            weight: f64::from(b[0]),
            mean: f64::from(u16::from_le_bytes([b[1], b[2]])) / 100.0,
            sd: f64::from(u16::from_le_bytes([b[3], b[4]])) / 100.0,
        }
    }

    /// Welford's update (the sum of squared deviations is rebuilt from the sd).
    fn add(&mut self, x: f64) {
        let mut m2 = self.sd * self.sd * (self.weight - 1.0).max(0.0);
        if self.weight >= MAX_WEIGHT {
            let keep = (MAX_WEIGHT - 1.0) / MAX_WEIGHT;
            self.weight -= 1.0;
            m2 *= keep;
        }
        self.weight += 1.0;
        let delta = x - self.mean;
        self.mean += delta / self.weight;
        m2 += delta * (x - self.mean);
        self.sd = if self.weight < 2.0 {
            0.0
        } else {
            (m2 / (self.weight - 1.0)).max(0.0).sqrt()
        };
    }
}

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

/// The baseline of one segment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    seen: [u64; WORDS],
    bins: Vec<[u8; 5]>,
}

impl Baseline {
    fn slot(&self, bin: usize) -> (bool, usize) {
        let (w, bit) = (bin / 64, bin % 64);
        let below: u32 = self.seen[..w].iter().map(|x| x.count_ones()).sum();
        let below = below + (self.seen[w] & ((1u64 << bit) - 1)).count_ones();
        (self.seen[w] >> bit & 1 == 1, below as usize)
    }

    fn stat(&self, bin: usize) -> Option<BinStat> {
        match self.slot(bin) {
            (true, i) => Some(BinStat::unpack(self.bins[i])),
            _ => None,
        }
    }

    pub fn bin(&self, ts: EpochMillis) -> Option<BinStat> {
        self.stat(bin_of(ts))
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
        let sd = b.sd.max(sd_floor);
        Some(Deviation {
            mean: b.mean,
            sd,
            z: (x - b.mean) / sd,
        })
    }

    /// Learns `x` at `ts`, clamped to mean ± 3 sd once the bin holds `min_weight` windows.
    pub fn learn(&mut self, ts: EpochMillis, x: f64, min_weight: f64, sd_floor: f64) {
        let bin = bin_of(ts);
        let (present, i) = self.slot(bin);
        let mut stat = if present {
            BinStat::unpack(self.bins[i])
        } else {
            self.seen[bin / 64] |= 1 << (bin % 64);
            // One bin at a time, exactly: a baseline lives as long as its segment.
            self.bins.reserve_exact(1);
            self.bins.insert(i, [0; 5]);
            BinStat::default()
        };
        let x = if stat.weight >= min_weight {
            let spread = 3.0 * stat.sd.max(sd_floor);
            x.clamp(stat.mean - spread, stat.mean + spread)
        } else {
            x
        };
        stat.add(x);
        self.bins[i] = stat.pack();
    }

    /// The usual speed ratio (mean / `free_flow`) of the bins within ± 30 minutes of `ts` that
    /// hold at least `min_weight` windows.
    pub fn usual(&self, ts: EpochMillis, free_flow: f64, min_weight: f64) -> Usual {
        let at = bin_of(ts) + BINS;
        let mut u = Usual::default();
        for (k, code) in u.0.iter_mut().enumerate() {
            let stat = self.stat((at + k - USUAL_SPAN) % BINS);
            if let Some(b) = stat.filter(|b| b.weight >= min_weight) {
                *code = Usual::encode(b.mean / free_flow.max(1.0));
            }
        }
        u
    }

    /// Bins kept.
    pub fn len(&self) -> usize {
        self.bins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }

    /// Bytes this baseline holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.bins.capacity() * 5
    }

    /// Appends the binary form: the bin count (u16), then each bin's index (u16) and 5 bytes.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&(self.bins.len() as u16).to_le_bytes());
        let mut i = 0;
        for bin in 0..BINS {
            if let (true, _) = self.slot(bin) {
                buf.extend_from_slice(&(bin as u16).to_le_bytes());
                buf.extend_from_slice(&self.bins[i]);
                i += 1;
            }
        }
    }

    /// Reads what [`Baseline::encode`] wrote; None when the bytes are not such a baseline.
    pub fn decode(bytes: &mut &[u8]) -> Option<Baseline> {
        let n = u16::from_le_bytes(take(bytes)?) as usize;
        let mut b = Baseline::default();
        let mut last = None;
        for _ in 0..n {
            let bin = u16::from_le_bytes(take(bytes)?) as usize;
            if bin >= BINS || last.is_some_and(|l| bin <= l) {
                return None;
            }
            last = Some(bin);
            b.seen[bin / 64] |= 1 << (bin % 64);
            b.bins.push(take(bytes)?);
        }
        Some(b)
    }
}

/// The first `N` bytes of `bytes`, consumed.
pub(crate) fn take<const N: usize>(bytes: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = bytes.split_first_chunk::<N>()?;
    *bytes = rest;
    Some(*head)
}

/// What is usual for a segment around a time of day: the baseline's speed ratio in each bin
/// from 30 minutes before to 30 minutes after, in hundredths (0 = no trusted bin).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usual(pub [u8; USUAL_BINS]);

impl Usual {
    fn encode(ratio: f64) -> u8 {
        1 + (ratio * 100.0).round().clamp(0.0, 253.0) as u8
    }

    /// The usual ratio in bin `k` of the profile (`USUAL_SPAN` is the window's own bin).
    pub fn ratio(&self, k: usize) -> Option<f64> {
        match self.0.get(k) {
            Some(0) | None => None,
            Some(c) => Some(f64::from(c - 1) / 100.0),
        }
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
        assert_eq!((s.weight, s.mean, s.sd), (3.0, 100.0, 10.0));
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
    fn a_trusted_bin_learns_outliers_clamped() {
        let mut b = Baseline::default();
        for x in [100.0, 100.0, 100.0, 100.0] {
            b.learn(0, x, 4.0, 2.0);
        }
        b.learn(0, 10.0, 4.0, 2.0); // clamped to 100 − 3 × 2 = 94
        let s = b.bin(0).unwrap();
        assert!((s.mean - 98.8).abs() < 1e-9, "{}", s.mean);
    }

    #[test]
    fn only_seen_bins_are_kept_and_a_full_day_fits_in_1_5_kb() {
        let mut b = Baseline::default();
        b.learn(23 * 3_600_000, 80.0, 1.0, 1.0);
        b.learn(3_600_000, 60.0, 1.0, 1.0);
        assert_eq!(b.len(), 2);
        assert_eq!(
            b.bin(3_600_000).unwrap().mean,
            60.0,
            "bins stay in bin order"
        );
        assert_eq!(b.bin(23 * 3_600_000).unwrap().mean, 80.0);
        for bin in 0..BINS as i64 {
            for _ in 0..50 {
                b.learn(bin * BIN_MS, 90.0, 1.0, 1.0);
            }
        }
        assert_eq!(b.len(), BINS);
        assert!(b.heap_bytes() <= 1_500, "{}", b.heap_bytes());
        assert_eq!(b.bin(0).unwrap().weight, 40.0, "the weight stops at 40");
        let mut buf = Vec::new();
        b.encode(&mut buf);
        let decoded = Baseline::decode(&mut buf.as_slice()).unwrap();
        assert_eq!(decoded.bins, b.bins);
        assert_eq!(decoded.seen, b.seen);
        assert!(
            Baseline::decode(&mut &buf[..buf.len() - 1]).is_none(),
            "truncated"
        );
    }

    #[test]
    fn the_usual_profile_spans_half_an_hour_either_side() {
        let mut b = Baseline::default();
        let at = 8 * 3_600_000;
        for _ in 0..5 {
            b.learn(at + 25 * 60_000, 30.0, 99.0, 1.0); // 25 min later: 5 bins on
            b.learn(at, 90.0, 99.0, 1.0);
        }
        b.learn(at - 30 * 60_000, 50.0, 99.0, 1.0); // one window only
        let u = b.usual(at, 100.0, 5.0);
        assert_eq!(u.ratio(USUAL_SPAN), Some(0.9));
        assert_eq!(u.ratio(USUAL_SPAN + 5), Some(0.3));
        assert_eq!(u.ratio(0), None, "too few windows to trust");
        assert_eq!(Usual::default().ratio(3), None);
        // Around midnight the profile wraps to the previous day's bins.
        b.learn(DAY_MS - 60_000, 70.0, 99.0, 1.0);
        assert_eq!(b.usual(0, 100.0, 1.0).ratio(USUAL_SPAN - 1), Some(0.7));
    }
}
