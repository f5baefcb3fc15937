//! Event-time windows: which windows hold a timestamp, and when a window closes.
//!
//! Semantics copy Kafka Streams' `TimeWindows` with grace (docs/architecture.md §4): windows are aligned
//! to the epoch, `[start, start + size)`; tumbling is hopping with `advance == size`; stream
//! time is the largest event time a task has seen; a window accepts records while
//! `stream_time < end + grace` and closes (emits its final result) once
//! `stream_time >= end + grace`. Nothing here keeps state beyond [`StreamTime`].

use super::event::EpochMillis;

/// Size, advance and grace of the windows every task uses, all in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    pub size_ms: i64,
    pub advance_ms: i64,
    pub grace_ms: i64,
}

impl WindowSpec {
    /// `size` and `advance` must be positive and `advance <= size` (config validation
    /// guarantees it); `grace` must be ≥ 0.
    pub fn new(size_ms: i64, advance_ms: i64, grace_ms: i64) -> Self {
        debug_assert!(size_ms > 0 && advance_ms > 0 && advance_ms <= size_ms && grace_ms >= 0);
        Self {
            size_ms,
            advance_ms,
            grace_ms,
        }
    }

    pub fn tumbling(size_ms: i64, grace_ms: i64) -> Self {
        Self::new(size_ms, size_ms, grace_ms)
    }

    /// Starts of every window holding `ts`, oldest first (Kafka Streams `windowsFor`; no window
    /// starts before the epoch, so a negative `ts` is in none). At most `size / advance`
    /// (rounded up) starts, whatever `ts` is: the count is computed, not searched for, so no
    /// step can overflow near `i64::MAX`.
    pub fn starts_for(&self, ts: EpochMillis) -> impl Iterator<Item = EpochMillis> + use<> {
        let advance = self.advance_ms.max(1);
        // The windows holding ts start in (ts - size, ts]: the last is ts rounded down to the
        // advance, the first the oldest aligned start after ts - size (and not before 0).
        let last = if ts >= 0 { ts - ts % advance } else { -1 };
        let lowest = ts.saturating_sub(self.size_ms).saturating_add(1).max(0);
        let first = match lowest.rem_euclid(advance) {
            0 => Some(lowest),
            r => lowest.checked_add(advance - r),
        };
        let count = match first {
            Some(first) if first <= last => (last - first) / advance + 1,
            _ => 0,
        };
        let first = first.unwrap_or(0);
        (0..count).map(move |k| first + k * advance)
    }

    /// End of the window starting at `start`; a window reaching past `i64::MAX` ends there.
    pub fn end(&self, start: EpochMillis) -> EpochMillis {
        start.saturating_add(self.size_ms)
    }

    /// True when a window starting at `start` no longer accepts records at `stream_time`.
    /// Bounds saturate at `i64::MAX`, so a window whose end plus grace lies beyond it closes
    /// only at stream time `i64::MAX` (the end of time) or at the end of a bounded input.
    pub fn is_closed(&self, start: EpochMillis, stream_time: EpochMillis) -> bool {
        stream_time >= self.end(start).saturating_add(self.grace_ms)
    }

    /// The newest window start that is closed at `stream_time`: every window starting at or
    /// before it is closed too, which is what lets closing be a range removal. Agrees with
    /// [`WindowSpec::is_closed`] for every start ≥ 0 and every stream time in the `i64` range
    /// (at `i64::MAX` every window is closed).
    pub fn closed_through(&self, stream_time: EpochMillis) -> EpochMillis {
        if stream_time == EpochMillis::MAX {
            return EpochMillis::MAX;
        }
        stream_time
            .saturating_sub(self.grace_ms)
            .saturating_sub(self.size_ms)
    }

    /// The newest window start (on the advance grid) that is closed at `stream_time`: it
    /// moves once per advance, not with every record.
    pub fn newest_closed_start(&self, stream_time: EpochMillis) -> EpochMillis {
        let through = self.closed_through(stream_time);
        through - through.rem_euclid(self.advance_ms)
    }
}

/// Stream time of one task: the largest event time seen, never moving backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamTime(Option<EpochMillis>);

impl StreamTime {
    pub fn new(at: Option<EpochMillis>) -> Self {
        Self(at)
    }

    pub fn get(&self) -> Option<EpochMillis> {
        self.0
    }

    /// Moves forward to `ts` if it is newer; returns the (possibly unchanged) stream time.
    pub fn observe(&mut self, ts: EpochMillis) -> EpochMillis {
        let now = self.0.map_or(ts, |t| t.max(ts));
        self.0 = Some(now);
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(spec: WindowSpec, ts: i64) -> Vec<i64> {
        spec.starts_for(ts).collect()
    }

    #[test]
    fn the_newest_closed_start_moves_once_per_advance() {
        let spec = WindowSpec::tumbling(60_000, 30_000);
        // At 150 000 the window [60 000, 120 000) has just closed (120 000 + 30 000).
        assert_eq!(spec.newest_closed_start(150_000), 60_000);
        assert_eq!(spec.newest_closed_start(209_999), 60_000);
        assert_eq!(spec.newest_closed_start(210_000), 120_000);
        assert!(spec.is_closed(spec.newest_closed_start(150_000), 150_000));
        assert!(!spec.is_closed(spec.newest_closed_start(150_000) + 60_000, 150_000));
    }

    #[test]
    fn tumbling_boundaries_are_start_inclusive_end_exclusive() {
        let w = WindowSpec::tumbling(60_000, 0);
        assert_eq!(starts(w, 0), vec![0]);
        assert_eq!(starts(w, 59_999), vec![0]);
        assert_eq!(starts(w, 60_000), vec![60_000]);
        assert_eq!(starts(w, 125_000), vec![120_000]);
    }

    #[test]
    fn hopping_membership() {
        // size 60 s, advance 20 s: ts 65 s is in [20,80), [40,100), [60,120).
        let w = WindowSpec::new(60_000, 20_000, 0);
        assert_eq!(starts(w, 65_000), vec![20_000, 40_000, 60_000]);
        // exactly on a boundary: 60 s is in [20,80) [40,100) [60,120) but not [0,60).
        assert_eq!(starts(w, 60_000), vec![20_000, 40_000, 60_000]);
        // near the epoch no window starts before 0.
        assert_eq!(starts(w, 5_000), vec![0]);
        for ts in [0, 1, 19_999, 20_000, 59_999, 61_234, 1_700_000_000_123] {
            for s in starts(w, ts) {
                assert!(s <= ts && ts < s + 60_000, "ts {ts} not in window {s}");
            }
        }
    }

    #[test]
    fn hopping_windows_partition_time_per_offset() {
        // Every ts is in exactly size/advance windows once far from the epoch.
        let w = WindowSpec::new(60_000, 15_000, 0);
        for ts in (1_000_000..1_200_000).step_by(7_777) {
            assert_eq!(starts(w, ts).len(), 4);
        }
    }

    #[test]
    fn grace_edge() {
        let w = WindowSpec::tumbling(60_000, 30_000);
        assert!(!w.is_closed(0, 89_999));
        assert!(w.is_closed(0, 90_000));
        assert_eq!(w.closed_through(90_000), 0);
        assert_eq!(w.closed_through(89_999), -1);
    }

    #[test]
    fn stream_time_only_moves_forward() {
        let mut st = StreamTime::default();
        assert_eq!(st.observe(10), 10);
        assert_eq!(st.observe(5), 10);
        assert_eq!(st.observe(20), 20);
    }

    /// The issue-16 case: a window starting near `i64::MAX` used to make `starts_for` step
    /// past the end, wrap around and never stop.
    #[test]
    fn timestamps_at_the_end_of_time_terminate() {
        let w = WindowSpec::tumbling(60_000, 30_000);
        let ts = 9_223_372_036_854_775_000;
        assert_eq!(starts(w, ts), vec![ts - ts % 60_000]);
        assert_eq!(w.end(ts - ts % 60_000), i64::MAX);
        assert_eq!(starts(w, i64::MAX), vec![i64::MAX - i64::MAX % 60_000]);
        let hop = WindowSpec::new(60_000, 20_000, 0);
        assert_eq!(starts(hop, i64::MAX).len(), 3);
        assert!(!w.is_closed(ts - ts % 60_000, i64::MAX - 1));
        assert!(w.is_closed(ts - ts % 60_000, i64::MAX));
        assert_eq!(w.closed_through(i64::MAX), i64::MAX);
        assert_eq!(w.closed_through(i64::MIN), i64::MIN);
        assert!(starts(w, -1).is_empty() && starts(w, i64::MIN).is_empty());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Any i64, with the edges (0, the epoch's neighbours, both ends) drawn often.
        fn instant() -> impl Strategy<Value = i64> {
            prop_oneof![
                any::<i64>(),
                Just(i64::MAX),
                Just(i64::MIN),
                Just(0i64),
                (i64::MAX - 1_000_000)..=i64::MAX,
                -1_000_000i64..1_000_000,
            ]
        }

        /// A valid spec over the whole range: advance ≥ 1, size a small multiple-ish of it
        /// (at most 64 windows per timestamp, so the test can enumerate them), any grace.
        fn spec() -> impl Strategy<Value = WindowSpec> {
            let advance = prop_oneof![
                1i64..100_000,
                any::<i64>().prop_map(|a| a.saturating_abs().max(1))
            ];
            (
                advance,
                1i64..=64,
                0i64..1_000_000,
                prop_oneof![
                    0i64..100_000,
                    any::<i64>().prop_map(i64::saturating_abs),
                    Just(i64::MAX)
                ],
            )
                .prop_map(|(advance, k, extra, grace)| {
                    let size = advance.saturating_mul(k).saturating_add(extra % advance);
                    WindowSpec::new(size, advance, grace)
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(20_000))]

            /// Exactly the aligned starts s ≥ 0 with s ≤ ts < s + size, in order, computed
            /// exactly in i128 as the reference.
            #[test]
            fn starts_are_exactly_the_windows_holding_ts(w in spec(), ts in instant()) {
                let got = starts(w, ts);
                let (t, size, adv) = (i128::from(ts), i128::from(w.size_ms), i128::from(w.advance_ms));
                let lowest = (t - size + 1).max(0);
                let first = (lowest + adv - 1).div_euclid(adv) * adv;
                let expected: Vec<i64> = if t < 0 || first > t {
                    Vec::new()
                } else {
                    (0..).map(|k| first + k * adv).take_while(|s| *s <= t).map(|s| s as i64).collect()
                };
                prop_assert_eq!(&got, &expected);
                prop_assert!(got.len() as i128 <= (size + adv - 1) / adv);
            }

            /// `is_closed` is the saturated `end + grace <= stream_time`, and `closed_through`
            /// names exactly the starts it calls closed.
            #[test]
            fn closing_agrees_with_exact_arithmetic(w in spec(), start in instant(), st in instant()) {
                let start = start.max(0);
                let close_at = (i128::from(start) + i128::from(w.size_ms) + i128::from(w.grace_ms)).min(i128::from(i64::MAX));
                prop_assert_eq!(w.is_closed(start, st), i128::from(st) >= close_at);
                prop_assert_eq!(w.is_closed(start, st), start <= w.closed_through(st));
                prop_assert_eq!(i128::from(w.end(start)), (i128::from(start) + i128::from(w.size_ms)).min(i128::from(i64::MAX)));
                if w.is_closed(start, st) && st < i64::MAX {
                    prop_assert!(w.is_closed(start, st + 1));
                }
            }

            #[test]
            fn stream_time_is_the_running_maximum(times in proptest::collection::vec(instant(), 1..50)) {
                let mut st = StreamTime::default();
                let mut max = i64::MIN;
                for t in times {
                    max = max.max(t);
                    prop_assert_eq!(st.observe(t), max);
                }
            }
        }
    }
}
