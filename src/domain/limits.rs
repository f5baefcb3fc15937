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
//! - **An open-window budget** (`limits.max_open_windows`), shared the same way: open
//!   (segment, window) accumulators. A segment has as many as the window starts its records
//!   fall in that have not closed — 2 with the defaults (60 s windows, 30 s grace), more with
//!   a long grace or hopping windows — so the segment budget alone does not bound them. A
//!   record that would open more than fit is refused with kind `over_capacity`, like a new
//!   segment over its budget: its bytes go to the dead-letter topic and nothing already
//!   counted changes. Windows never close early to make room (that would change the result
//!   of windows already open, silently, and make their stragglers late).
//!
//! Pure: the budgets are atomic counters, nothing here reads a clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::event::{EpochMillis, InvalidEvent, InvalidKind};

/// How many of something (segments, open windows) the tasks sharing it may hold, and how many
/// they hold now. The config key that sets it names it in refusals and metrics.
#[derive(Debug)]
pub struct Budget {
    /// `limits.max_segments` or `limits.max_open_windows`.
    key: &'static str,
    /// `None`: unbounded.
    max: Option<usize>,
    held: AtomicUsize,
}

/// The budget of segments with long-lived state (`limits.max_segments`).
pub type SegmentBudget = Budget;

pub const MAX_SEGMENTS: &str = "limits.max_segments";
pub const MAX_OPEN_WINDOWS: &str = "limits.max_open_windows";
pub const MAX_DETECTION_KEYS: &str = "limits.max_detection_keys";
pub const MAX_WAITING_WINDOWS: &str = "limits.max_waiting_windows";

/// Two budgets are the same limit when they bound the same thing as far (what they hold now
/// is not part of the setting).
impl PartialEq for Budget {
    fn eq(&self, other: &Self) -> bool {
        (self.key, self.max) == (other.key, other.max)
    }
}

impl Budget {
    pub fn new(key: &'static str, max: Option<usize>) -> Self {
        Budget {
            key,
            max,
            held: AtomicUsize::new(0),
        }
    }

    pub fn max(&self) -> Option<usize> {
        self.max
    }

    /// The config key that sets it.
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// Held now by every task sharing this budget.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Refuses a new segment when the budget is spent.
    pub fn check_room(&self, segment_id: &str) -> Result<(), InvalidEvent> {
        match self.max {
            Some(max) if self.held() >= max => Err(self.refusal(format!(
                "segment {segment_id:?} is new and this worker already holds {max} segments ({})",
                self.key
            ))),
            _ => Ok(()),
        }
    }

    /// Whether `more` can be taken whatever is given back first (always, unbounded): the
    /// cheap test that spares the exact count on the way of every record.
    pub fn fits(&self, more: usize) -> bool {
        self.max
            .is_none_or(|max| self.held().saturating_add(more) <= max)
    }

    /// Refuses a record of `segment_id` that would open `more` (segment, window)s when they do
    /// not fit, after the `freed` ones its stream time closes first are given back.
    pub fn check_windows(
        &self,
        segment_id: &str,
        more: usize,
        freed: usize,
    ) -> Result<(), InvalidEvent> {
        let after = self.held().saturating_sub(freed).saturating_add(more);
        match self.max {
            Some(max) if more > 0 && after > max => {
                Err(self.refusal(format!(
                    "a record of segment {segment_id:?} would open {more} more window(s) and this worker already holds {} of {max} open windows ({})",
                    self.held(),
                    self.key
                )))
            }
            _ => Ok(()),
        }
    }

    fn refusal(&self, message: String) -> InvalidEvent {
        InvalidEvent::new(InvalidKind::OverCapacity, message).at_limit(self.key)
    }

    pub(super) fn take(&self) {
        self.take_many(1);
    }

    pub(super) fn take_many(&self, n: usize) {
        self.held.fetch_add(n, Ordering::Relaxed);
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
#[derive(Debug, Clone)]
pub struct Limits {
    /// Shared by every task of these settings (the worker's budget).
    pub segments: Arc<SegmentBudget>,
    /// Open (segment, window) accumulators, shared the same way.
    pub windows: Arc<Budget>,
    /// Evict a segment whose last final window ended this long ago (`None`: never).
    pub retention_ms: Option<i64>,
}

impl Default for Limits {
    /// No bound on anything, state kept forever.
    fn default() -> Self {
        Limits::new(None, 0)
    }
}

impl Limits {
    /// `retention_ms` ≤ 0 keeps state forever.
    pub fn new(max_segments: Option<usize>, retention_ms: i64) -> Self {
        Limits {
            segments: Arc::new(Budget::new(MAX_SEGMENTS, max_segments)),
            windows: Arc::new(Budget::new(MAX_OPEN_WINDOWS, None)),
            retention_ms: Some(retention_ms).filter(|ms| *ms > 0),
        }
    }

    /// The same, with at most `max` open (segment, window)s over the tasks (`None`: no bound).
    pub fn with_max_open_windows(mut self, max: Option<usize>) -> Self {
        self.windows = Arc::new(Budget::new(MAX_OPEN_WINDOWS, max));
        self
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
        let b = Budget::new(MAX_SEGMENTS, Some(2));
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
        assert!(Budget::new(MAX_SEGMENTS, None).check_room("x").is_ok());
        assert_eq!(e.limit, Some(MAX_SEGMENTS));
    }

    #[test]
    fn the_window_budget_refuses_what_does_not_fit_and_names_its_key() {
        let b = Budget::new(MAX_OPEN_WINDOWS, Some(3));
        b.take();
        b.take();
        b.check_windows("a", 1, 0).unwrap();
        b.check_windows("a", 0, 0).unwrap();
        b.check_windows("a", 2, 1).unwrap();
        let e = b.check_windows("a", 2, 0).unwrap_err();
        assert_eq!(
            (e.kind, e.limit),
            (InvalidKind::OverCapacity, Some(MAX_OPEN_WINDOWS))
        );
        assert!(
            e.message
                .contains("2 of 3 open windows (limits.max_open_windows)"),
            "{e}"
        );
        b.take();
        assert!(b.check_windows("a", 1, 0).is_err());
        b.check_windows("a", 0, 0).unwrap();
        b.check_windows("a", 1, 9).unwrap();
        let unbounded = Budget::new(MAX_OPEN_WINDOWS, None);
        unbounded.check_windows("a", usize::MAX, 0).unwrap();
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
