//! `SpeedSketch`: a DDSketch (Masson, Rim & Lee, VLDB 2019) of vehicle speeds
//! in km/h, giving mergeable quantiles whose relative error is at most
//! `RELATIVE_ACCURACY` (1 %). It owns the bucket mapping, the compact sparse
//! bucket store, merging and the quantile rank rule; it must never do I/O,
//! validate or log input (callers do) or track min/max (kept elsewhere). It
//! derives serde's traits (long-lived state goes to the changelog); a
//! deserialized sketch is checked against the invariant below.
//!
//! Memory (64-bit target, measured by tests): `size_of::<SpeedSketch>()` is
//! 32 bytes (a `Vec` header and the zero count), and each distinct bucket costs
//! 8 bytes on the heap (`(i16, u32)`, 2 bytes of padding), plus the `Vec`'s
//! amortized slack of up to 2x. An empty sketch allocates nothing. Speeds from
//! 0.01 to 200 km/h span indices -230..=265, so a window holds at most 496
//! buckets, usually far fewer.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// Guaranteed relative accuracy α of every quantile (1 %).
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// Speeds below this (km/h), including 0, go to the zero bucket and are
/// reported as exactly 0.0.
pub const MIN_TRACKED_SPEED: f64 = 0.01;

/// γ = (1 + α) / (1 − α); bucket `i` holds speeds in (γ^(i−1), γ^i].
const GAMMA: f64 = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);

/// One distinct non-zero bucket: (index, number of samples in it).
type Bucket = (i16, u32);

/// Mergeable quantile sketch of speeds with 1 % relative accuracy.
///
/// Invariant: `buckets` is sorted by index, indices are unique, and no count
/// is zero, so equal sample multisets give equal sketches (`PartialEq`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SketchParts")]
pub struct SpeedSketch {
    buckets: Vec<Bucket>,
    zero_count: u64,
}

/// The serialized form, checked before it becomes a sketch.
#[derive(Deserialize)]
struct SketchParts {
    buckets: Vec<Bucket>,
    zero_count: u64,
}

impl TryFrom<SketchParts> for SpeedSketch {
    type Error = &'static str;

    fn try_from(p: SketchParts) -> Result<Self, Self::Error> {
        let sorted = p.buckets.windows(2).all(|w| w[0].0 < w[1].0);
        if !sorted || p.buckets.iter().any(|&(_, c)| c == 0) {
            return Err("sketch buckets must be sorted, unique and non-empty");
        }
        let total = p
            .buckets
            .iter()
            .try_fold(p.zero_count, |n, &(_, c)| n.checked_add(u64::from(c)));
        if total.is_none() {
            return Err("sketch counts add up to more than 2^64 samples");
        }
        Ok(SpeedSketch {
            buckets: p.buckets,
            zero_count: p.zero_count,
        })
    }
}

fn ln_gamma() -> f64 {
    GAMMA.ln()
}

/// Bucket index `ceil(ln(v) / ln(γ))` for `v >= MIN_TRACKED_SPEED`.
/// Saturates at `i16::MAX` for speeds above about 1e284 km/h (and +inf).
fn bucket_index(v: f64) -> i16 {
    let raw = (v.ln() / ln_gamma()).ceil();
    // `as` saturates float-to-int casts; the clamp makes that explicit.
    raw.clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
}

/// Representative value of bucket `i`: 2·γ^i / (γ + 1), within α of every
/// value in (γ^(i−1), γ^i].
fn bucket_value(index: i16) -> f64 {
    2.0 * (f64::from(index) * ln_gamma()).exp() / (GAMMA + 1.0)
}

impl SpeedSketch {
    /// Empty sketch; allocates nothing until the first non-zero speed.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one speed in km/h.
    ///
    /// Callers validate input. Debug builds assert `v >= 0.0` (which also
    /// rejects NaN); release builds clamp negatives into the zero bucket and
    /// drop NaN without counting it.
    pub fn add(&mut self, v: f64) {
        debug_assert!(v >= 0.0, "speed must be a non-negative number, got {v}");
        if v.is_nan() {
            return;
        }
        if v < MIN_TRACKED_SPEED {
            self.zero_count = self.zero_count.saturating_add(1);
            return;
        }
        let index = bucket_index(v);
        // Binary-search insert keeps `buckets` sorted by index.
        match self.buckets.binary_search_by_key(&index, |&(i, _)| i) {
            Ok(pos) => self.buckets[pos].1 = self.buckets[pos].1.saturating_add(1),
            Err(pos) => self.buckets.insert(pos, (index, 1)),
        }
    }

    /// Number of recorded samples, the zero bucket included.
    #[must_use]
    pub fn count(&self) -> u64 {
        // Saturating: merges of restored sketches can approach 2^64 samples.
        let counts = self.buckets.iter().map(|&(_, c)| u64::from(c));
        counts.fold(self.zero_count, u64::saturating_add)
    }

    /// True when no sample has been recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.zero_count == 0 && self.buckets.is_empty()
    }

    /// Number of distinct non-zero buckets (8 heap bytes each).
    #[must_use]
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Bytes this sketch holds on the heap (its bucket vector's capacity).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }

    /// Adds every sample of `other` into `self`. The result equals, bucket
    /// for bucket, the sketch of both sample streams concatenated.
    pub fn merge(&mut self, other: &SpeedSketch) {
        self.zero_count = self.zero_count.saturating_add(other.zero_count);
        if other.buckets.is_empty() {
            return;
        }
        let (a, b) = (&self.buckets, &other.buckets);
        let mut merged = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        // Both sides are sorted with unique indices: a classic merge-join.
        while i < a.len() && j < b.len() {
            let ((ia, ca), (ib, cb)) = (a[i], b[j]);
            match ia.cmp(&ib) {
                Ordering::Less => {
                    merged.push(a[i]);
                    i += 1;
                }
                Ordering::Greater => {
                    merged.push(b[j]);
                    j += 1;
                }
                Ordering::Equal => {
                    merged.push((ia, ca.saturating_add(cb)));
                    i += 1;
                    j += 1;
                }
            }
        }
        merged.extend_from_slice(&a[i..]);
        merged.extend_from_slice(&b[j..]);
        self.buckets = merged;
    }

    /// Estimated `q`-quantile in km/h, or `None` when the sketch is empty
    /// (or `q` is NaN).
    ///
    /// `q` is clamped to [0, 1]. Rank rule: nearest rank, the traffic engineer's
    /// "speed at or below which q of the vehicles travel": the sample at 1-based
    /// rank `max(1, ceil(q · n))` of the sorted samples (so q = 0 is the minimum,
    /// q = 1 the maximum, no interpolation). The returned value
    /// is that sample's bucket representative `2·γ^i / (γ + 1)`, within
    /// `RELATIVE_ACCURACY` of the true sample, or 0.0 for the zero bucket.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if q.is_nan() {
            return None;
        }
        let n = self.count();
        let last = n.checked_sub(1)?;
        let q = q.clamp(0.0, 1.0);
        let rank = nearest_rank(q, n).min(last);
        if rank < self.zero_count {
            return Some(0.0);
        }
        let mut seen = self.zero_count;
        for &(index, c) in &self.buckets {
            seen = seen.saturating_add(u64::from(c));
            if rank < seen {
                return Some(bucket_value(index));
            }
        }
        None
    }
}

/// 0-based nearest rank of the `q`-quantile among `n ≥ 1` samples. The tiny slack keeps
/// q·n that should be whole (0.85 × 20) from rounding up past it.
fn nearest_rank(q: f64, n: u64) -> u64 {
    let r = (q * n as f64 - 1e-9).ceil().max(1.0) as u64;
    r.min(n) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small reproducible LCG (Knuth MMIX constants) for pseudo-random speeds.
    struct Lcg(u64);

    impl Lcg {
        fn next_unit(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn speed(&mut self) -> f64 {
            0.5 + self.next_unit() * 199.5
        }
    }

    fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
        sorted[nearest_rank(q, sorted.len() as u64) as usize]
    }

    fn sketch_of(values: &[f64]) -> SpeedSketch {
        let mut s = SpeedSketch::new();
        for &v in values {
            s.add(v);
        }
        s
    }

    /// Within α of `exact`; 1e-12 absorbs float rounding at bucket edges,
    /// where the bound is met with equality.
    fn close(est: Option<f64>, exact: f64) -> bool {
        est.is_some_and(|e| (e - exact).abs() <= RELATIVE_ACCURACY * exact * (1.0 + 1e-12))
    }

    #[test]
    fn relative_error_guarantee_on_pseudo_random_inputs() {
        let mut rng = Lcg(42);
        for n in [1usize, 2, 3, 7, 50, 199, 200, 1000, 5000].repeat(5) {
            let values: Vec<f64> = (0..n).map(|_| rng.speed()).collect();
            let sketch = sketch_of(&values);
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            assert_eq!(sketch.count(), n as u64);
            for step in 0..=200 {
                let q = f64::from(step) / 200.0;
                let (est, exact) = (sketch.quantile(q), exact_quantile(&sorted, q));
                assert!(close(est, exact), "n {n} q {q}: {est:?} vs {exact}");
            }
        }
    }

    #[test]
    fn zero_and_tiny_speeds_go_to_zero_bucket() {
        let s = sketch_of(&[0.0, 0.0, 0.005, 50.0]);
        assert_eq!(s.count(), 4);
        assert_eq!(s.bucket_count(), 1);
        assert_eq!(s.quantile(0.0), Some(0.0));
        assert_eq!(s.quantile(0.5), Some(0.0)); // 1-based rank ceil(2.0) = 2
        assert!(close(s.quantile(1.0), 50.0));
        let smallest = sketch_of(&[MIN_TRACKED_SPEED]);
        assert!(close(smallest.quantile(0.5), MIN_TRACKED_SPEED));
    }

    #[test]
    fn single_value_answers_every_quantile() {
        let s = sketch_of(&[87.3]);
        for q in [0.0, 0.25, 0.5, 0.99, 1.0] {
            assert!(close(s.quantile(q), 87.3), "q {q}");
        }
    }

    #[test]
    fn merge_equals_sketch_of_concatenation() {
        let mut rng = Lcg(7);
        let a: Vec<f64> = (0..300).map(|_| rng.speed()).chain([0.0, 0.0]).collect();
        let b: Vec<f64> = (0..150).map(|_| rng.speed()).chain([0.0]).collect();
        let mut merged = sketch_of(&a);
        merged.merge(&sketch_of(&b));
        let both: Vec<f64> = a.iter().chain(&b).copied().collect();
        assert_eq!(merged, sketch_of(&both));

        let mut from_empty = SpeedSketch::new();
        from_empty.merge(&sketch_of(&b));
        assert_eq!(from_empty, sketch_of(&b));
        let mut into_self = sketch_of(&a);
        into_self.merge(&SpeedSketch::new());
        assert_eq!(into_self, sketch_of(&a));
    }

    #[test]
    fn q_zero_and_one_are_min_and_max_and_q_is_clamped() {
        let s = sketch_of(&[30.0, 120.0, 5.0, 64.0]);
        assert!(close(s.quantile(0.0), 5.0));
        assert!(close(s.quantile(1.0), 120.0));
        assert_eq!(s.quantile(-3.0), s.quantile(0.0));
        assert_eq!(s.quantile(7.0), s.quantile(1.0));
        assert_eq!(s.quantile(f64::NAN), None);
    }

    #[test]
    fn empty_sketch_has_no_quantiles() {
        let s = SpeedSketch::new();
        assert!(s.is_empty());
        assert_eq!(s.count(), 0);
        assert_eq!(s.quantile(0.5), None);
        assert!(!sketch_of(&[0.0]).is_empty());
    }

    #[test]
    fn index_mapping_and_extremes() {
        assert_eq!(bucket_index(MIN_TRACKED_SPEED), -230);
        assert_eq!(bucket_index(200.0), 265);
        assert_eq!(bucket_index(1.0), 0);
        assert_eq!(bucket_index(f64::INFINITY), i16::MAX);
        assert!(bucket_value(i16::MAX).is_finite());
        let mut s = SpeedSketch::new();
        s.add(f64::MAX);
        assert_eq!(s.count(), 1);
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn memory_footprint_is_as_documented() {
        assert_eq!(std::mem::size_of::<SpeedSketch>(), 32);
        assert_eq!(std::mem::size_of::<Bucket>(), 8);
    }

    #[test]
    fn serde_round_trip_and_broken_input_rejected() {
        let s = sketch_of(&[0.0, 12.5, 80.0, 80.1, 120.0]);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<SpeedSketch>(&json).unwrap(), s);
        for bad in [
            r#"{"buckets":[[5,1],[3,1]],"zero_count":0}"#,
            r#"{"buckets":[[5,1],[5,1]],"zero_count":0}"#,
            r#"{"buckets":[[5,0]],"zero_count":0}"#,
            // Found by the changelog fuzz target: the counts overflowed u64 in count().
            r#"{"buckets":[[-5,4294967295],[32767,4294967295]],"zero_count":18446744073709551615}"#,
        ] {
            assert!(serde_json::from_str::<SpeedSketch>(bad).is_err(), "{bad}");
        }
    }
}
