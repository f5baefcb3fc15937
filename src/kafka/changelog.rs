//! The state changelog: every commit cycle, the long-lived state of each segment a final window
//! changed (learned free-flow speed, level hysteresis) is written, keyed by segment id, to
//! partition `p` of the input's compacted changelog topic — in the same transaction as the
//! outputs and offsets under exactly once. A new owner of input partition `p` reads changelog
//! partition `p` to its end before it processes a record (as Kafka Streams restores a store).
//!
//! Open windows are not in the changelog: they are rebuilt from the input, which the committed
//! offset (the first offset still feeding an open window) keeps readable. So the changelog
//! holds one small record per segment, and a restore reads little more than that.
//!
//! Reading "to its end" needs care under transactions: a worker killed mid-transaction leaves
//! records that are neither committed nor aborted until the broker times the transaction out,
//! and the last stable offset (the end a `read_committed` reader sees) stops in front of them,
//! even if later transactions committed. So a restore first waits until the stable end
//! reaches the log end it saw at the start, then reads up to it.

use std::time::{Duration, Instant};

use rdkafka::client::{Client, ClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

use super::{client, KafkaFailure, Shutdown};
use crate::config::KafkaConfig;

/// Longest a restore may take, waiting included: the broker aborts a dead worker's transaction
/// after its `transaction.timeout.ms` (librdkafka's default: 60 s).
pub const RESTORE_PATIENCE: Duration = Duration::from_secs(120);
const CALL: Duration = Duration::from_secs(10);

/// The record value format (in [`crate::codec::state`]).
pub use crate::codec::state::{decode, encode};

/// What one restore read.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Restored {
    pub records: u64,
    pub bytes: u64,
    /// Records that did not decode (skipped: their segments start afresh).
    pub invalid: u64,
    pub seconds: f64,
}

/// Why a restore did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreError {
    /// The worker is shutting down: the task must be neither processed nor committed.
    Interrupted,
    Failed(String),
}

/// The restore consumer's callbacks: its end-of-partition events are how a restore ends, not
/// errors to report.
pub struct RestoreContext;

impl ClientContext for RestoreContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::warn!("state restore consumer: {reason}");
        }
    }
}

impl ConsumerContext for RestoreContext {}

/// Reads changelog partitions with its own `read_committed` consumer (no group: it only
/// assigns). A shutdown interrupts a restore.
pub struct Restorer {
    consumer: BaseConsumer<RestoreContext>,
    shutdown: Shutdown,
}

impl Restorer {
    pub fn new(k: &KafkaConfig, shutdown: Shutdown) -> Result<Self, KafkaFailure> {
        let consumer = client::restore_consumer_config(k)
            .create_with_context(RestoreContext)
            .map_err(KafkaFailure::client)?;
        Ok(Restorer { consumer, shutdown })
    }

    /// Reads `topic` partition `partition` to its end, handing every record's key and value
    /// (None: a tombstone, the key was deleted) to `apply` (which says whether it decoded). `log_end` is a client whose offset queries
    /// see the log end (not the stable end): the producer's.
    pub fn restore<C: ClientContext>(
        &self,
        log_end: &Client<C>,
        topic: &str,
        partition: i32,
        mut apply: impl FnMut(&str, Option<&[u8]>) -> bool,
    ) -> Result<Restored, RestoreError> {
        let started = Instant::now();
        let deadline = started + RESTORE_PATIENCE;
        // A changelog the worker has just created has no leader for a moment
        // (`NotLeaderForPartition`), and a restarting broker answers nothing for a while.
        let (low, end) = self.retry(
            deadline,
            || {
                log_end
                    .fetch_watermarks(topic, partition, CALL)
                    .map_err(|e| {
                        tracing::warn!(
                            topic,
                            partition,
                            "cannot read the end of the state changelog yet: {e}"
                        );
                        e.to_string()
                    })
            },
            |e| format!("cannot read the end of state changelog {topic}[{partition}]: {e}"),
        )?;
        let mut restored = Restored::default();
        if end > low {
            self.wait_until_stable(topic, partition, end, deadline)?;
            let read = self.read(topic, partition, deadline, &mut apply, &mut restored);
            let _ = self.consumer.unassign();
            read?;
        }
        restored.seconds = started.elapsed().as_secs_f64();
        Ok(restored)
    }

    /// Tries `attempt` every 100 ms until it gives a value (each attempt logs why not). Stops
    /// on shutdown, or past the deadline with `why` of the last attempt's reason.
    fn retry<T>(
        &self,
        deadline: Instant,
        mut attempt: impl FnMut() -> Result<T, String>,
        why: impl Fn(&str) -> String,
    ) -> Result<T, RestoreError> {
        loop {
            let reason = match attempt() {
                Ok(value) => return Ok(value),
                Err(reason) => reason,
            };
            self.check(deadline, || why(&reason))?;
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops a restore on shutdown, or with `why` past the deadline.
    fn check(&self, deadline: Instant, why: impl FnOnce() -> String) -> Result<(), RestoreError> {
        if self.shutdown.is_triggered() {
            return Err(RestoreError::Interrupted);
        }
        if Instant::now() >= deadline {
            return Err(RestoreError::Failed(why()));
        }
        Ok(())
    }

    fn wait_until_stable(
        &self,
        topic: &str,
        partition: i32,
        end: i64,
        deadline: Instant,
    ) -> Result<(), RestoreError> {
        self.retry(
            deadline,
            // A read_committed consumer's "high watermark" is the last stable offset.
            || match self.consumer.fetch_watermarks(topic, partition, CALL) {
                Ok((_, stable)) if stable >= end => Ok(()),
                Ok((_, stable)) => {
                    tracing::debug!(
                        topic,
                        partition,
                        stable,
                        end,
                        "waiting for an open transaction in the state changelog to end"
                    );
                    Err(format!("stable end {stable}"))
                }
                Err(e) => {
                    tracing::warn!(
                        topic,
                        partition,
                        "cannot read the stable end of the state changelog: {e}"
                    );
                    // librdkafka answers "unknown partition" for a topic created after this
                    // consumer last had metadata, and does not look it up by itself (not
                    // before `topic.metadata.refresh.interval.ms`, 5 minutes): ask for it.
                    let _ = self.consumer.fetch_metadata(Some(topic), CALL);
                    Err(e.to_string())
                }
            },
            |_| {
                format!(
                    "state changelog {topic}[{partition}] still has an undecided transaction below offset {end} after {}s",
                    RESTORE_PATIENCE.as_secs()
                )
            },
        )
    }

    fn read(
        &self,
        topic: &str,
        partition: i32,
        deadline: Instant,
        apply: &mut impl FnMut(&str, Option<&[u8]>) -> bool,
        restored: &mut Restored,
    ) -> Result<(), RestoreError> {
        // Events left over from an earlier restore (a late end-of-partition) must not end
        // this one.
        while self.consumer.poll(Duration::ZERO).is_some() {}
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Beginning)
            .and_then(|()| self.consumer.assign(&tpl))
            .map_err(|e| {
                RestoreError::Failed(format!(
                    "cannot read state changelog {topic}[{partition}]: {e}"
                ))
            })?;
        loop {
            match self
                .consumer
                .poll(Timeout::After(Duration::from_millis(100)))
            {
                Some(Ok(m)) => {
                    let (key, value) = (m.key().unwrap_or_default(), m.payload());
                    restored.records += 1;
                    restored.bytes += (key.len() + value.map_or(0, <[u8]>::len)) as u64;
                    let applied = match std::str::from_utf8(key) {
                        Ok(id) => apply(id, value),
                        Err(_) => false,
                    };
                    if !applied {
                        restored.invalid += 1;
                    }
                }
                // The stable end is at or past the log end seen at the start (waited for
                // above): this is the end.
                Some(Err(KafkaError::PartitionEOF(p))) if p == partition => return Ok(()),
                Some(Err(e)) => tracing::warn!(topic, partition, "while restoring state: {e}"),
                None => {}
            }
            self.check(deadline, || {
                format!(
                    "cannot read state changelog {topic}[{partition}] to its end within {}s",
                    RESTORE_PATIENCE.as_secs()
                )
            })?;
        }
    }
}
