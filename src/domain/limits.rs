//! Memory bounds of a worker (`[limits]`, `state.retention`).
//!
//! Every task of a worker holds long-lived state (congestion level, learned free-flow speed,
//! detection history) and an interned id for each segment it has seen, plus the open windows
//! of those segments. Nothing in the input bounds how many segments there are, so a flood of
//! distinct ids would grow a worker until it dies. Two rules bound it:
//!
//! - **A segment budget**, shared by every task built from the same settings (one worker, or
//!   one replay): a record of a segment the task does not hold yet is refused with kind
//!   `over_capacity` while the worker holds `limits.max_segments` segments. Segments already
//!   held go on exactly as before; state restored from a changelog is always taken back, even
//!   over the budget (refusing it would lose it), and then new segments wait until evictions or
//!   a revoked partition bring the count under the limit.
//! - **Retention**: a segment whose last final window ended `state.retention` ago (stream
//!   time of its task) and that has no open window is evicted: its state is dropped, its slot
//!   freed for a new segment, and the adapter writes a tombstone to its changelog key. A record
//!   of a segment already due for eviction finds it evicted, whether the periodic sweep has run
//!   or not, so a restored task decides exactly as one that ran on.
//!
//! Pure: the budget is an atomic counter, nothing here reads a clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::event::{EpochMillis, InvalidEvent, InvalidKind};

/// How many segments the tasks sharing it may hold, and how many they hold now.
#[derive(Debug, Default)]
pub struct SegmentBudget {
    /// `None`: unbounded.
    max: Option<usize>,
    held: AtomicUsize,
}

impl SegmentBudget {
    pub fn new(max: Option<usize>) -> Self {
        SegmentBudget {
            max,
            held: AtomicUsize::new(0),
        }
    }

    pub fn max(&self) -> Option<usize> {
        self.max
    }

    /// Segments held now by every task sharing this budget.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Refuses a new segment when the budget is spent.
    pub fn check_room(&self, segment_id: &str) -> Result<(), InvalidEvent> {
        match self.max {
            Some(max) if self.held() >= max => Err(InvalidEvent::new(
                InvalidKind::OverCapacity,
                format!(
                    "segment {segment_id:?} is new and this worker already holds {max} segments (limits.max_segments)"
                ),
            )),
            _ => Ok(()),
        }
    }

    pub(super) fn take(&self) {
        self.held.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn release(&self, n: usize) {
        // Never below zero, whatever the order of the tasks' drops.
        let _ = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                Some(h.saturating_sub(n))
            });
    }
}

/// The memory rules of the tasks built from one [`super::processor::ProcessorSettings`].
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Shared by every task of these settings (the worker's budget).
    pub segments: Arc<SegmentBudget>,
    /// Evict a segment whose last final window ended this long ago (`None`: never).
    pub retention_ms: Option<i64>,
}

impl Limits {
    /// `retention_ms` ≤ 0 keeps state forever.
    pub fn new(max_segments: Option<usize>, retention_ms: i64) -> Self {
        Limits {
            segments: Arc::new(SegmentBudget::new(max_segments)),
            retention_ms: Some(retention_ms).filter(|ms| *ms > 0),
        }
    }

    /// Whether state last seen at `last_seen` is due for eviction at stream time `now`.
    pub fn expired(&self, last_seen: EpochMillis, now: EpochMillis) -> bool {
        self.retention_ms
            .is_some_and(|r| i128::from(now) - i128::from(last_seen) >= i128::from(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_only_when_spent_and_never_goes_negative() {
        let b = SegmentBudget::new(Some(2));
        b.check_room("a").unwrap();
        b.take();
        b.take();
        let e = b.check_room("c").unwrap_err();
        assert_eq!(e.kind, InvalidKind::OverCapacity);
        assert!(e.message.contains("limits.max_segments"), "{e}");
        b.release(1);
        b.check_room("c").unwrap();
        b.release(5);
        assert_eq!(b.held(), 0);
        assert!(SegmentBudget::new(None).check_room("x").is_ok());
    }

    #[test]
    fn retention_is_inclusive_and_overflow_safe() {
        let l = Limits::new(None, 10);
        assert!(!l.expired(0, 9));
        assert!(l.expired(0, 10));
        assert!(l.expired(i64::MIN, i64::MAX));
        assert!(!Limits::new(None, 0).expired(i64::MIN, i64::MAX));
    }
}
