//! A bound on repeated log lines. A flood of hostile records would otherwise write one warning
//! per record (a million refused ids wrote about 350 MB of log). Per kind, the first
//! [`BURST`] lines of each [`PERIOD`] are logged; the rest are only counted, and the next line
//! logged for that kind says how many were left out. Metrics and the dead-letter topic still
//! get every record: only the log is thinned.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines logged per kind and period before the rest are counted instead.
pub const BURST: u32 = 10;
/// The period over which [`BURST`] applies.
pub const PERIOD: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Slot {
    since: Instant,
    logged: u32,
    left_out: u64,
}

/// Per-kind log budgets.
#[derive(Debug, Default)]
pub struct Throttle {
    slots: Mutex<BTreeMap<&'static str, Slot>>,
}

impl Throttle {
    /// No kind logged yet (`const`, so that it can be a `static`).
    pub const fn new() -> Self {
        Throttle {
            slots: Mutex::new(BTreeMap::new()),
        }
    }

    /// Whether to log a line of `kind` at `now`: `Some(n)` with the lines of that kind left out
    /// since the last one logged, or `None` to leave this one out.
    pub fn admit(&self, kind: &'static str, now: Instant) -> Option<u64> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots.entry(kind).or_insert(Slot {
            since: now,
            logged: 0,
            left_out: 0,
        });
        if now.saturating_duration_since(slot.since) >= PERIOD {
            slot.since = now;
            slot.logged = 0;
        }
        if slot.logged < BURST {
            slot.logged += 1;
            Some(std::mem::take(&mut slot.left_out))
        } else {
            slot.left_out += 1;
            None
        }
    }
}

/// What a logged line adds about the lines of its kind left out before it.
pub fn left_out_note(left_out: u64) -> String {
    if left_out == 0 {
        String::new()
    } else {
        format!(
            " ({left_out} more of this kind were not logged: at most {BURST} lines per {} s)",
            PERIOD.as_secs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_period_then_counts_what_it_left_out() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(t.admit("invalid", t0), Some(0));
        }
        for _ in 0..1000 {
            assert_eq!(t.admit("invalid", t0 + Duration::from_secs(1)), None);
        }
        // Another kind has its own budget.
        assert_eq!(t.admit("over_capacity", t0), Some(0));
        // The next period's first line says how many were left out.
        assert_eq!(t.admit("invalid", t0 + PERIOD), Some(1000));
        assert_eq!(t.admit("invalid", t0 + PERIOD), Some(0));
        assert_eq!(left_out_note(0), "");
        assert!(left_out_note(1000).starts_with(" (1000 more of this kind were not logged"));
    }
}
