//! What the tasks of both stages reach the outside through: the producer ([`Output`]), the
//! changelog [`Restorer`], the metrics, and the worker's [`Status`] (a failure that stops it).
//! Also the one way both stages read a partition's committed checkpoint.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};

use super::changelog::{RestoreError, Restorer};
use super::checkpoint;
use super::output::Output;
use crate::config::Guarantee;
use crate::domain::processor::Checkpoint;
use crate::telemetry::{self, Metrics};

/// A partition by topic and number. The topic is shared, so building a key allocates nothing.
pub(crate) type PartitionKey = (Arc<str>, i32);

pub(crate) struct Io {
    pub output: Output,
    pub restorer: Restorer,
    pub metrics: Arc<Metrics>,
    /// Longest wait for a flush or a commit call (shorter during shutdown).
    pub flush_timeout: Duration,
    pub guarantee: Guarantee,
}

/// Why the worker must stop committing.
#[derive(Debug, Default)]
pub(crate) struct Status {
    /// A commit failed beyond repair (fenced) or state could not be restored; the loop stops
    /// on it and nothing more is committed.
    pub fatal: Option<String>,
    /// A shutdown interrupted a restore: a task lacks its state, so nothing more is committed
    /// (the next owner redoes the uncommitted work).
    pub interrupted: bool,
}

impl Status {
    pub fn stopped(&self) -> bool {
        self.fatal.is_some() || self.interrupted
    }
}

impl Io {
    /// Reads partition `partition` of the changelog topic `which` (an output topic index) into
    /// `apply`. A failed restore is fatal (going on would publish results computed from lost
    /// state); one interrupted by shutdown stops all further commits.
    pub fn restore(
        &self,
        status: &mut Status,
        which: usize,
        partition: i32,
        apply: impl FnMut(&str, Option<&[u8]>) -> bool,
    ) {
        let changelog = self.output.changelog_topic(which);
        let client = self.output.producer().client();
        match self.restorer.restore(client, changelog, partition, apply) {
            Ok(r) => telemetry::state_restored(
                &self.metrics,
                changelog,
                partition,
                telemetry::Restore {
                    records: r.records,
                    bytes: r.bytes,
                    invalid: r.invalid,
                    seconds: r.seconds,
                },
            ),
            Err(RestoreError::Interrupted) => status.interrupted = true,
            Err(RestoreError::Failed(why)) => {
                status.fatal.get_or_insert(why);
            }
        }
    }
}

/// The checkpoint committed for a partition (an empty one when none is, or it cannot be read).
pub(crate) fn committed_checkpoint<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Checkpoint {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    match consumer.committed_offsets(tpl, timeout) {
        Ok(list) => list
            .find_partition(topic, partition)
            .map(|e| match e.offset() {
                Offset::Offset(o) => checkpoint::decode(Some(o), e.metadata()),
                _ => Checkpoint::default(),
            })
            .unwrap_or_default(),
        Err(e) => {
            tracing::warn!(
                topic,
                partition,
                "cannot read committed offset, starting without a checkpoint: {e}"
            );
            Checkpoint::default()
        }
    }
}

/// Sets `consumer`'s position of a partition back to `to` (its last commit).
pub(crate) fn seek<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    to: Option<i64>,
    timeout: Duration,
) {
    let to = to.map_or(Offset::Beginning, Offset::Offset);
    if let Err(e) = consumer.seek(topic, partition, to, timeout) {
        tracing::warn!(topic, partition, "cannot rewind partition: {e}");
    }
}
