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

    /// Start of the last window that holds `ts`.
    fn last_start(&self, ts: EpochMillis) -> EpochMillis {
        ts - ts.rem_euclid(self.advance_ms)
    }

    /// Starts of every window holding `ts`, oldest first (Kafka Streams `windowsFor`; no window
    /// starts before the epoch).
    pub fn starts_for(&self, ts: EpochMillis) -> impl Iterator<Item = EpochMillis> + use<> {
        let advance = self.advance_ms;
        let last = self.last_start(ts);
        let first = (ts - self.size_ms + self.advance_ms)
            .max(0)
            .div_euclid(self.advance_ms)
            * self.advance_ms;
        (0..)
            .map(move |k| first + k * advance)
            .take_while(move |s| *s <= last)
    }

    pub fn end(&self, start: EpochMillis) -> EpochMillis {
        start + self.size_ms
    }

    /// True when a window starting at `start` no longer accepts records at `stream_time`.
    pub fn is_closed(&self, start: EpochMillis, stream_time: EpochMillis) -> bool {
        stream_time >= self.end(start) + self.grace_ms
    }

    /// The newest window start that is closed at `stream_time`, if any: every window starting
    /// at or before it is closed too, which is what lets closing be a range removal.
    pub fn closed_through(&self, stream_time: EpochMillis) -> EpochMillis {
        stream_time - self.grace_ms - self.size_ms
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
}
