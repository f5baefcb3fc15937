//! Event-time sanity: how far ahead of a reference clock an event may be (`window.max_future`).
//!
//! Stream time only moves forward, so one record dated far in the future would close every open
//! window of its partition and make every later record late: a single bad clock could stall a
//! partition for years. Such a record is refused instead (the adapter dead-letters it with kind
//! `invalid_timestamp`). Live, "ahead" is measured against the wall clock, which always moves;
//! in `roadpulse replay` there is no clock to trust, so it is measured against the partition's
//! stream time; there `replay` holds such a record until the partition's next record says
//! whether the stream really moved there (a gap in the data) or it stood alone.
//!
//! The same bound cleans a stream time restored from commit metadata: one more than the bound
//! ahead of the wall clock can only come from such a record (written before this check existed,
//! or by a foreign client), and is dropped rather than restored.
//!
//! Pure: the wall clock comes in as an argument.

use super::event::{EpochMillis, InvalidEvent, InvalidKind};

/// What "ahead" is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The worker's wall clock (the Kafka path).
    WallClock,
    /// The task's own stream time (replay: event time only).
    StreamTime,
}

impl Reference {
    fn describe(self) -> &'static str {
        match self {
            Reference::WallClock => "the wall clock",
            Reference::StreamTime => "its partition's stream time",
        }
    }
}

/// The `window.max_future` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FutureBound {
    /// Largest lead over the reference an event may have; `None` turns the check off.
    pub max_ahead_ms: Option<i64>,
    pub reference: Reference,
}

impl FutureBound {
    /// No bound (unit tests and benchmarks that build settings by hand).
    pub const OFF: FutureBound = FutureBound {
        max_ahead_ms: None,
        reference: Reference::WallClock,
    };

    /// `max_ahead_ms` ≤ 0 turns the check off.
    pub fn new(max_ahead_ms: i64, reference: Reference) -> Self {
        FutureBound {
            max_ahead_ms: Some(max_ahead_ms).filter(|ms| *ms > 0),
            reference,
        }
    }

    /// Refuses `ts` when it is more than the bound ahead of `reference` (the wall clock or the
    /// stream time, as [`FutureBound::reference`] says; `None`: nothing to compare with yet).
    pub fn check(
        &self,
        ts: EpochMillis,
        reference: Option<EpochMillis>,
    ) -> Result<(), InvalidEvent> {
        let (Some(max), Some(now)) = (self.max_ahead_ms, reference) else {
            return Ok(());
        };
        let ahead = i128::from(ts) - i128::from(now);
        if ahead <= i128::from(max) {
            return Ok(());
        }
        Err(InvalidEvent::new(
            InvalidKind::InvalidTimestamp,
            format!(
                "`ts` {ts} is {} ahead of {} ({now}), more than window.max_future ({})",
                human(ahead),
                self.reference.describe(),
                human(i128::from(max)),
            ),
        ))
    }

    /// A stream time restored from a checkpoint, unless it lies more than the bound ahead of
    /// the wall clock `wall_ms` (then `None`: the task starts from its records' event time).
    pub fn restorable(
        &self,
        stream_time: Option<EpochMillis>,
        wall_ms: i64,
    ) -> Option<EpochMillis> {
        let bound = FutureBound {
            reference: Reference::WallClock,
            ..*self
        };
        stream_time.filter(|st| bound.check(*st, Some(wall_ms)).is_ok())
    }
}

/// A lead in milliseconds as a person reads it: `90 s`, `1 h`, `27059 days` (rounded down).
fn human(ms: i128) -> String {
    const UNITS: [(i128, &str); 4] = [
        (86_400_000, " days"),
        (3_600_000, " h"),
        (60_000, " min"),
        (1_000, " s"),
    ];
    if ms == 86_400_000 {
        return "1 day".into();
    }
    // The largest unit that gives at least 2, or exactly 1.
    UNITS
        .iter()
        .find(|(unit, _)| ms >= 2 * unit || ms == *unit)
        .map_or_else(
            || format!("{ms} ms"),
            |(unit, name)| format!("{}{name}", ms / unit),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    const NOW: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z

    #[test]
    fn refuses_only_what_is_more_than_the_bound_ahead() {
        let b = FutureBound::new(HOUR, Reference::WallClock);
        assert!(
            b.check(NOW + HOUR, Some(NOW)).is_ok(),
            "exactly the bound is fine"
        );
        assert!(
            b.check(NOW - 10 * 365 * 24 * HOUR, Some(NOW)).is_ok(),
            "the past is fine"
        );
        let e = b.check(NOW + HOUR + 1, Some(NOW)).unwrap_err();
        assert_eq!(e.kind, InvalidKind::InvalidTimestamp);
        // 2100-01-01 and the end of time: one readable sentence naming the setting.
        let e = b.check(4_102_444_800_000, Some(NOW)).unwrap_err();
        assert!(
            e.message.contains("27059 days ahead of the wall clock"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("window.max_future (1 h)"),
            "{}",
            e.message
        );
        assert_eq!(human(86_400_000), "1 day");
        assert_eq!(human(7_200_000), "2 h");
        assert_eq!(human(90_000), "90 s");
        assert_eq!(human(1), "1 ms");
        assert!(b.check(i64::MAX, Some(i64::MIN)).is_err());
        assert!(b.check(i64::MIN, Some(i64::MAX)).is_ok());
    }

    #[test]
    fn without_a_reference_or_a_bound_everything_passes() {
        let replay = FutureBound::new(HOUR, Reference::StreamTime);
        assert!(replay.check(i64::MAX, None).is_ok());
        let e = replay.check(i64::MAX, Some(NOW)).unwrap_err();
        assert!(
            e.message.contains("its partition's stream time"),
            "{}",
            e.message
        );
        assert!(FutureBound::new(0, Reference::WallClock)
            .check(i64::MAX, Some(0))
            .is_ok());
        assert!(FutureBound::OFF.check(i64::MAX, Some(0)).is_ok());
    }

    #[test]
    fn a_restored_stream_time_from_the_far_future_is_dropped() {
        let b = FutureBound::new(HOUR, Reference::StreamTime);
        assert_eq!(b.restorable(Some(NOW), NOW), Some(NOW));
        assert_eq!(b.restorable(Some(9_223_372_036_854_775_000), NOW), None);
        assert_eq!(b.restorable(None, NOW), None);
        assert_eq!(
            FutureBound::OFF.restorable(Some(i64::MAX), NOW),
            Some(i64::MAX)
        );
    }
}
