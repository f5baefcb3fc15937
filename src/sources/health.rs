//! What the source threads of `roadpulse poll` share: metrics, shutdown and readiness.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::telemetry::poll::PollMetrics;

/// What every source thread shares.
#[derive(Clone)]
pub struct Shared {
    pub metrics: Arc<PollMetrics>,
    pub stop: Stop,
    pub health: Arc<Health>,
}

/// Shutdown, passed in: set once; waits end early when it is.
#[derive(Clone, Default)]
pub struct Stop(Arc<(Mutex<bool>, Condvar)>);

impl Stop {
    pub fn trigger(&self) {
        let (lock, cv) = &*self.0;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
        }
        cv.notify_all();
    }

    pub fn is_triggered(&self) -> bool {
        self.0 .0.lock().map(|s| *s).unwrap_or(true)
    }

    /// Sleeps until `until` or shutdown; true on shutdown.
    pub fn wait_until(&self, until: Instant) -> bool {
        let (lock, cv) = &*self.0;
        let Ok(mut stopped) = lock.lock() else {
            return true;
        };
        while !*stopped {
            let now = Instant::now();
            if now >= until {
                return false;
            }
            match cv.wait_timeout(stopped, until - now) {
                Ok((guard, _)) => stopped = guard,
                Err(_) => return true,
            }
        }
        true
    }
}

/// Readiness: started, and no source with `missed_polls` failed polls in a row.
#[derive(Default)]
pub struct Health {
    started: std::sync::atomic::AtomicBool,
    missed_polls: u32,
    failing: Mutex<HashMap<String, u32>>,
}

impl Health {
    pub fn new(missed_polls: u32) -> Health {
        Health {
            missed_polls,
            ..Health::default()
        }
    }

    pub fn set_started(&self) {
        self.started
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_started(&self) -> bool {
        self.started.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn succeeded(&self, source: &str, metrics: &PollMetrics) {
        if let Ok(mut f) = self.failing.lock() {
            f.remove(source);
        }
        metrics.set_up(source, true);
    }

    /// A poll failed, the `failures`-th in a row.
    pub fn failed(&self, source: &str, failures: u32, metrics: &PollMetrics) {
        if let Ok(mut f) = self.failing.lock() {
            f.insert(source.to_string(), failures);
        }
        if failures == self.missed_polls {
            tracing::error!(
                source,
                failures,
                "source missed poll.missed_polls polls in a row: not ready"
            );
        }
        metrics.set_up(source, failures < self.missed_polls);
    }

    /// `Err` naming the sources that missed too many polls.
    pub fn readiness(&self) -> Result<(), String> {
        if !self.is_started() {
            return Err("sources starting (reading positions)".into());
        }
        let f = self
            .failing
            .lock()
            .map_err(|_| "health lock poisoned".to_string())?;
        let mut down: Vec<String> = f
            .iter()
            .filter(|(_, n)| **n >= self.missed_polls)
            .map(|(s, n)| format!("{s} ({n} polls failed)"))
            .collect();
        if down.is_empty() {
            return Ok(());
        }
        down.sort();
        Err(format!("source {} missed its polls", down.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_missed_polls() {
        let m = PollMetrics::new(&["a"]);
        let h = Health::new(3);
        assert!(
            h.readiness().is_err(),
            "not ready before the positions are read"
        );
        h.set_started();
        h.failed("a", 2, &m);
        assert!(h.readiness().is_ok());
        h.failed("a", 3, &m);
        assert_eq!(
            h.readiness(),
            Err("source a (3 polls failed) missed its polls".into())
        );
        assert!(m.render(0).contains("roadpulse_source_up{source=\"a\"} 0"));
        h.succeeded("a", &m);
        assert!(h.readiness().is_ok());
    }

    #[test]
    fn a_stop_ends_waits() {
        let s = Stop::default();
        assert!(!s.wait_until(Instant::now() + std::time::Duration::from_millis(10)));
        let t = s.clone();
        let h = std::thread::spawn(move || {
            t.wait_until(Instant::now() + std::time::Duration::from_secs(60))
        });
        s.trigger();
        assert!(h.join().unwrap());
    }
}
