//! Backpressure: a budget of `ingest.max_in_flight_bytes` over the bodies of all requests
//! whose records Kafka has not acknowledged yet. A request takes its share before its body is
//! read (its `Content-Length`, or `ingest.max_body_bytes` when the length is not declared) and
//! holds it until it is answered. One that does not fit is answered 503 with `Retry-After`,
//! unread, so nothing is dropped: the client sends it again. librdkafka's own queue is sized
//! above the budget, so the producer queue never overflows underneath it.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::telemetry::{self, Metrics};

/// The budget is counted in KiB, so any size fits the semaphore's permit count.
const UNIT: u64 = 1024;

pub struct Admission {
    permits: Arc<Semaphore>,
    total: usize,
    metrics: Arc<Metrics>,
}

/// A request's share of the budget; given back when dropped.
pub struct Ticket<'a> {
    permit: Option<OwnedSemaphorePermit>,
    admission: &'a Admission,
}

impl Admission {
    pub fn new(max_in_flight_bytes: u64, metrics: Arc<Metrics>) -> Admission {
        let total = max_in_flight_bytes.div_ceil(UNIT) as usize;
        Admission {
            permits: Arc::new(Semaphore::new(total)),
            total,
            metrics,
        }
    }

    fn units(bytes: u64) -> u32 {
        bytes.div_ceil(UNIT).max(1).min(u64::from(u32::MAX)) as u32
    }

    /// A share of `bytes`, or None when the budget has no room for it now.
    pub fn try_admit(&self, bytes: u64) -> Option<Ticket<'_>> {
        let permit = Arc::clone(&self.permits)
            .try_acquire_many_owned(Self::units(bytes))
            .ok()?;
        self.report();
        Some(Ticket {
            permit: Some(permit),
            admission: self,
        })
    }

    fn report(&self) {
        let used = self.total - self.permits.available_permits();
        telemetry::ingest_in_flight(&self.metrics, used as u64 * UNIT);
    }
}

impl Ticket<'_> {
    /// Gives back what the body turned out not to need.
    pub fn shrink_to(&mut self, bytes: u64) {
        let keep = Admission::units(bytes) as usize;
        if let Some(p) = self.permit.as_mut() {
            if p.num_permits() > keep {
                drop(p.split(p.num_permits() - keep));
            }
        }
        self.admission.report();
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.admission.report();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_taken_shrunk_and_given_back() {
        let m = Arc::new(Metrics::new());
        let a = Admission::new(10 * UNIT, Arc::clone(&m));
        let mut first = a.try_admit(8 * UNIT).expect("fits");
        assert!(a.try_admit(4 * UNIT).is_none(), "over the budget");
        assert_eq!(m.ingest.in_flight_bytes.get(), (8 * UNIT) as i64);
        first.shrink_to(100);
        assert_eq!(m.ingest.in_flight_bytes.get(), UNIT as i64);
        let second = a.try_admit(9 * UNIT).expect("fits after the shrink");
        drop(first);
        drop(second);
        assert_eq!(m.ingest.in_flight_bytes.get(), 0);
        assert!(a.try_admit(10 * UNIT).is_some());
    }
}
