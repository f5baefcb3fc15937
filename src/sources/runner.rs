//! One source's loop, on a thread of its own: wait (interval with jitter, or backoff), poll
//! (every request of the feed, conditional), turn the readings into records, send them with
//! their positions in the open transaction, commit at the transaction boundary. A failure of
//! any kind is counted and retried with backoff; only a fenced producer ends the loop.
//!
//! A producer learns that a twin fenced it only at a transactional write. So a source that
//! has committed nothing for `poll.fence_check_interval` (nothing new, or a failing vendor)
//! commits a fence check of its own: one record to the positions topic
//! ([`positions::check_key`]). A fenced source stops then, within the interval and one poll.

use std::time::{Duration, Instant, SystemTime};

use super::fetch::{sample, Fetched, Fetcher, Request, Validators};
use super::locate::Locator;
use super::positions::{self, Positions};
use super::prepare::prepare;
use super::publish::{Out, PublishError, Publisher};
use super::reading::Reading;
use super::schedule::Schedule;
use super::{Feed, Shared};
use crate::config::{SourceConfig, TransactionBoundary};
use crate::telemetry::poll as fact;

/// How a poll went.
enum Polled {
    Ok,
    Failed(Option<Duration>),
}

pub struct Runner {
    pub cfg: SourceConfig,
    pub topic: String,
    pub poll_id: String,
    pub positions_topic: String,
    pub feed: Box<dyn Feed>,
    pub fetcher: Fetcher,
    pub locator: Locator,
    pub publisher: Publisher,
    /// Committed positions, and those sent in the open transaction.
    pub positions: Positions,
    pub pending: Positions,
    /// Validators of responses in the open transaction: remembered once it commits.
    pub pending_validators: Vec<(Request, Validators)>,
    pub pending_count: u64,
    pub txn_since: Option<Instant>,
    /// The last commit (or fence check); with `fence_check`, when the next check is due.
    pub last_commit: Instant,
    pub fence_check: Duration,
    pub schedule: Schedule,
    pub shared: Shared,
}

impl Runner {
    /// Runs until shutdown (then commits what is open) or until fenced (`Err`).
    pub fn run(mut self) -> Result<(), String> {
        let name = self.cfg.name.clone();
        let mut next_poll = Instant::now();
        loop {
            let commit_due = self
                .txn_since
                .map(|t| t + self.cfg.transaction_interval.std());
            let check_due =
                (!self.publisher.is_open()).then(|| self.last_commit + self.fence_check);
            let wake = [commit_due, check_due]
                .into_iter()
                .flatten()
                .fold(next_poll, Instant::min);
            if self.shared.stop.wait_until(wake) {
                return self.commit().map_err(|e| e.to_string());
            }
            if commit_due.is_some_and(|c| Instant::now() >= c) {
                self.commit_or_fail()?;
            }
            if check_due.is_some_and(|c| Instant::now() >= c) {
                self.check_fence()?;
            }
            if Instant::now() < next_poll {
                continue;
            }
            let wait = match self.poll()? {
                Polled::Ok => {
                    self.shared.health.succeeded(&name, &self.shared.metrics);
                    self.schedule.after_success()
                }
                Polled::Failed(retry_after) => {
                    let failures = self.schedule.failures() + 1;
                    self.shared
                        .health
                        .failed(&name, failures, &self.shared.metrics);
                    self.schedule.after_failure(retry_after)
                }
            };
            if self.cfg.transaction_boundary == TransactionBoundary::Poll {
                self.commit_or_fail()?;
            }
            next_poll = Instant::now() + wait;
        }
    }

    /// One poll: every request, the readings of those that answered, sent.
    fn poll(&mut self) -> Result<Polled, String> {
        let name = self.cfg.name.clone();
        let mut readings: Vec<Reading> = Vec::new();
        let mut answered: Vec<(Request, Validators)> = Vec::new();
        let mut result = Polled::Ok;
        for req in self.feed.requests(SystemTime::now()) {
            let started = Instant::now();
            let fetched = self.fetcher.fetch(&req);
            let seconds = started.elapsed().as_secs_f64();
            match fetched {
                Ok(Fetched::Body {
                    body,
                    date,
                    validators,
                }) => match self.feed.parse(&req, &body, date) {
                    Ok(parsed) => {
                        self.shared.metrics.request(&name, "ok", seconds);
                        for (reason, n) in parsed.dropped {
                            self.shared.metrics.dropped(&name, reason, n);
                        }
                        readings.extend(parsed.readings);
                        answered.push((req, validators));
                    }
                    Err(e) => {
                        fact::unparsable(
                            &self.shared.metrics,
                            &name,
                            &req.shown(),
                            &e.message,
                            &sample(&body),
                            seconds,
                        );
                        result = Polled::Failed(None);
                    }
                },
                Ok(Fetched::NotModified) => {
                    self.shared.metrics.request(&name, "not_modified", seconds)
                }
                Err(e) => {
                    fact::request_failed(
                        &self.shared.metrics,
                        &name,
                        &req.shown(),
                        e.outcome(),
                        &e.to_string(),
                        seconds,
                    );
                    let retry_after = e.retry_after();
                    result = Polled::Failed(retry_after);
                    if retry_after.is_some() {
                        break; // the vendor asked us to wait: no more requests now
                    }
                }
            }
        }
        if !self.send(&readings)? {
            // Aborted: these answers must be fetched whole again, not answered 304.
            return Ok(Polled::Failed(None));
        }
        self.pending_validators.extend(answered);
        if !self.publisher.is_open() {
            // Nothing to commit: the answers were fully handled already.
            for (req, v) in self.pending_validators.drain(..) {
                self.fetcher.remember(&req, v);
            }
        }
        Ok(result)
    }

    /// Sends the new readings; `false` when the transaction aborted.
    fn send(&mut self, readings: &[Reading]) -> Result<bool, String> {
        let name = &self.cfg.name;
        let now_ms = crate::sources::now_ms();
        let batch = prepare(
            name,
            readings,
            &self.locator,
            &self.positions,
            &self.pending,
            now_ms,
        );
        for (reason, n) in &batch.dropped {
            self.shared.metrics.dropped(name, reason, *n);
        }
        if batch.events.is_empty() {
            return Ok(true);
        }
        let keys: Vec<(String, String)> = batch
            .events
            .iter()
            .map(|e| {
                (
                    positions::key(&self.poll_id, name, &e.location),
                    positions::value(e.ts),
                )
            })
            .collect();
        let events = batch.events.iter().map(|e| Out {
            topic: &self.topic,
            key: e.segment.as_bytes(),
            value: &e.value,
            ts: Some(e.ts),
        });
        let marks = keys.iter().map(|(k, v)| Out {
            topic: &self.positions_topic,
            key: k.as_bytes(),
            value: v.as_bytes(),
            ts: None,
        });
        let was_open = self.publisher.is_open();
        match self.publisher.send(events.chain(marks)) {
            Ok(()) => {
                if !was_open {
                    self.txn_since = Some(Instant::now());
                }
                for e in &batch.events {
                    self.pending.advance(&e.location, e.ts);
                }
                self.pending_count += batch.events.len() as u64;
                Ok(true)
            }
            Err(e) => self.aborted(e).map(|()| false),
        }
    }

    /// The fence check: one record in a transaction of its own. Fenced: `Err` (the source
    /// stops); aborted (the broker away): logged, and tried again an interval later.
    fn check_fence(&mut self) -> Result<(), String> {
        let key = positions::check_key(&self.poll_id, &self.cfg.name);
        let value = positions::check_value(crate::sources::now_ms());
        let record = Out {
            topic: &self.positions_topic,
            key: key.as_bytes(),
            value: value.as_bytes(),
            ts: None,
        };
        let done = self
            .publisher
            .send([record])
            .and_then(|()| self.publisher.commit());
        self.last_commit = Instant::now();
        match done {
            Ok(()) => {
                tracing::debug!(source = %self.cfg.name, "fence check committed");
                Ok(())
            }
            Err(PublishError::Fatal(why)) => Err(why),
            Err(e) => {
                tracing::warn!(source = %self.cfg.name, "fence check: {e}; tried again later");
                Ok(())
            }
        }
    }

    /// Commits the open transaction; an abort is counted (its readings come again).
    fn commit_or_fail(&mut self) -> Result<(), String> {
        match self.commit() {
            Ok(()) => Ok(()),
            Err(e @ PublishError::Fatal(_)) => Err(e.to_string()),
            Err(e) => self.aborted(e),
        }
    }

    fn commit(&mut self) -> Result<(), PublishError> {
        if !self.publisher.is_open() {
            return Ok(());
        }
        self.publisher.commit()?;
        self.last_commit = Instant::now();
        let pending = std::mem::take(&mut self.pending);
        let newest = pending.newest();
        for (location, ts) in pending.iter() {
            self.positions.advance(location, ts);
        }
        for (req, v) in self.pending_validators.drain(..) {
            self.fetcher.remember(&req, v);
        }
        let n = std::mem::take(&mut self.pending_count);
        self.txn_since = None;
        self.shared
            .metrics
            .committed(&self.cfg.name, n, newest, self.positions.len());
        tracing::debug!(source = %self.cfg.name, readings = n, "committed");
        Ok(())
    }

    /// Forgets what the aborted transaction held; fatal errors stop the source.
    fn aborted(&mut self, e: PublishError) -> Result<(), String> {
        if let PublishError::Fatal(why) = e {
            return Err(why);
        }
        tracing::warn!(source = %self.cfg.name, "{e}; its readings are published on a later poll");
        self.shared.metrics.aborted(&self.cfg.name);
        self.pending = Positions::default();
        self.pending_validators.clear();
        self.pending_count = 0;
        self.txn_since = None;
        Ok(())
    }
}
