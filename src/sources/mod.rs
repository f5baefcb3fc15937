//! `roadpulse poll`: vendor and open-data feeds polled into the raw topic, each reading
//! published once, also across restarts and crashes.
//!
//! How a reading travels: a [`Feed`] (one file per preset: [`tomtom_flow`],
//! [`tomtom_incidents`], [`here_flow`], [`here_incidents`], [`ndw`], [`gtfs_rt`],
//! [`json`]) names the requests of a poll and parses each answer into [`reading::Reading`]s;
//! [`fetch`] makes the requests (timeouts, keys, conditional requests); [`locate`] finds each
//! reading's segment; [`prepare`] drops what was published before and validates the rest with
//! the domain's own rules; [`publish`] sends the raw events and their [`positions`] in one
//! Kafka transaction; [`runner`] loops with [`schedule`]'s intervals and backoff; [`poller`]
//! sets it all up, one thread per source.
//!
//! This module depends on the domain (the contract and its validation), the config, the
//! JSON codec and the Kafka client settings, never on the worker.

pub mod datex;
pub mod fetch;
pub mod gtfs_rt;
pub mod here_flow;
pub mod here_incidents;
pub mod json;
pub mod locate;
pub mod ndw;
pub mod poller;
pub mod positions;
pub mod prepare;
pub mod publish;
pub mod reading;
pub mod runner;
pub mod schedule;
pub mod tomtom_flow;
pub mod tomtom_incidents;
pub mod topics;

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Instant, SystemTime};

use fetch::Request;
use reading::{ParseError, Reading};

use crate::telemetry::poll::PollMetrics;

/// A preset: the requests of a poll, and the readings of each answer.
pub trait Feed: Send {
    /// The requests of the next poll, in order.
    fn requests(&mut self, now: SystemTime) -> Vec<Request>;
    /// The readings of one answer to `req`. `date` is the answer's `Date` header.
    fn parse(
        &mut self,
        req: &Request,
        body: &[u8],
        date: Option<SystemTime>,
    ) -> Result<Parsed, ParseError>;
}

/// What an answer held: readings, and those the preset already had to drop.
#[derive(Debug, Default)]
pub struct Parsed {
    pub readings: Vec<Reading>,
    pub dropped: Vec<(&'static str, u64)>,
}

impl Parsed {
    pub fn of(readings: Vec<Reading>) -> Parsed {
        Parsed {
            readings,
            dropped: Vec::new(),
        }
    }
}

/// What a bounding-box preset asks: the source's URL, for its `bbox` (the incident feeds and
/// HERE flow).
pub struct Area {
    pub url: String,
    pub bbox: String,
}

impl Area {
    pub fn of(cfg: &crate::config::SourceConfig) -> Area {
        Area {
            url: cfg.url().unwrap_or_default().to_string(),
            bbox: cfg.bbox.clone().unwrap_or_default(),
        }
    }
}

/// The time of an answer without one of its own: its `Date` header, else now.
pub fn answered_ms(date: Option<SystemTime>) -> i64 {
    ms(date.unwrap_or_else(SystemTime::now))
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    ms(SystemTime::now())
}

/// A time as epoch milliseconds.
pub fn ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

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
