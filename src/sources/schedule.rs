//! When a source polls next: its interval with jitter after a good poll; exponential backoff
//! (with jitter, doubling from `poll.initial_backoff` up to `poll.max_backoff`) after a failed
//! one; and exactly what the vendor asked for when it said `Retry-After` (up to
//! [`MAX_RETRY_AFTER`], against a broken header). Pure: the caller owns the clock.

use std::time::{Duration, SystemTime};

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct Schedule {
    interval: Duration,
    jitter: f64,
    initial_backoff: Duration,
    max_backoff: Duration,
    /// Failed polls in a row.
    failures: u32,
    rng: u64,
}

impl Schedule {
    pub fn new(
        interval: Duration,
        jitter: f64,
        initial_backoff: Duration,
        max_backoff: Duration,
        seed: u64,
    ) -> Schedule {
        Schedule {
            interval,
            jitter,
            initial_backoff,
            max_backoff,
            failures: 0,
            rng: seed | 1,
        }
    }

    /// Failed polls in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The wait after a good poll: the interval ± jitter.
    pub fn after_success(&mut self) -> Duration {
        self.failures = 0;
        let spread = self.interval.as_secs_f64() * self.jitter;
        let offset = (self.unit() * 2.0 - 1.0) * spread;
        Duration::from_secs_f64((self.interval.as_secs_f64() + offset).max(0.0))
    }

    /// The wait after a failed poll: `Retry-After` when the vendor sent one, else backoff
    /// `b = initial · 2^(failures − 1)` (at most `max_backoff`), drawn from `[b/2, b]`.
    pub fn after_failure(&mut self, retry_after: Option<Duration>) -> Duration {
        self.failures = self.failures.saturating_add(1);
        if let Some(wait) = retry_after {
            return wait.min(MAX_RETRY_AFTER);
        }
        let doublings = (self.failures - 1).min(30);
        let b = self
            .initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
            .as_secs_f64();
        Duration::from_secs_f64(b / 2.0 + self.unit() * b / 2.0)
    }

    /// A number in [0, 1) (xorshift64*).
    fn unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A `Retry-After` value: delay-seconds, or an HTTP-date (RFC 9110 §10.2.3) from `now`.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(seconds) = v.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule::new(
            Duration::from_secs(60),
            0.1,
            Duration::from_secs(1),
            Duration::from_secs(300),
            42,
        )
    }

    #[test]
    fn intervals_jitter_within_bounds() {
        let mut s = schedule();
        let waits: Vec<f64> = (0..1000).map(|_| s.after_success().as_secs_f64()).collect();
        assert!(waits.iter().all(|w| (54.0..=66.0).contains(w)));
        let spread = waits.iter().cloned().fold(f64::MAX, f64::min)
            ..waits.iter().cloned().fold(0.0, f64::max);
        assert!(
            spread.start < 55.0 && spread.end > 65.0,
            "{spread:?}: jitter spreads"
        );
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut s = schedule();
        let mut bounds = Vec::new();
        for _ in 0..12 {
            bounds.push(s.after_failure(None).as_secs_f64());
        }
        for (n, w) in bounds.iter().enumerate() {
            let b = (2f64.powi(n as i32)).min(300.0);
            assert!(
                (b / 2.0..=b).contains(w),
                "failure {}: {w} outside [{}, {b}]",
                n + 1,
                b / 2.0
            );
        }
        assert_eq!(s.failures(), 12);
        s.after_success();
        assert_eq!(s.failures(), 0);
        assert!(s.after_failure(None) <= Duration::from_secs(1));
    }

    #[test]
    fn retry_after_is_honoured_up_to_an_hour() {
        let mut s = schedule();
        assert_eq!(
            s.after_failure(Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        // beyond poll.max_backoff (300 s here) too, up to an hour
        let ten_minutes = Duration::from_secs(600);
        assert_eq!(s.after_failure(Some(ten_minutes)), ten_minutes);
        let absurd = Duration::from_secs(1 << 30);
        assert_eq!(s.after_failure(Some(absurd)), MAX_RETRY_AFTER);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
    }
}
