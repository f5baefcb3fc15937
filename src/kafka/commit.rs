//! One commit cycle under either guarantee, and librdkafka's error classes mapped to what the
//! caller does next.
//!
//! - at least once: flush the producer, then commit the checkpoints' offsets;
//! - exactly once: the cycle's outputs, and the offsets (with the checkpoints in their metadata)
//!   through `send_offsets_to_transaction`, commit in one Kafka transaction, and the next one
//!   begins at once. Retriable errors are retried a few times; an abortable error aborts the
//!   transaction (the caller rewinds its tasks to the last commit); a fatal one (this worker
//!   was fenced by a newer one with the same transactional id) ends the worker. A lost
//!   assignment aborts the open transaction too ([`abort`]).

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;
use rdkafka::TopicPartitionList;

use super::output::Output;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CommitError {
    /// Nothing committed; try again next cycle.
    Retry(String),
    /// Outputs since the last commit are void: rewind to it.
    Abort(String),
    /// The worker cannot go on.
    Fatal(String),
}

const ATTEMPTS: u32 = 3;
/// An abort that times out goes on in the background (librdkafka), so it is asked again for
/// longer than a commit: giving up on it ends the worker, while a broker back within this many
/// timeouts is survived.
const ABORT_ATTEMPTS: u32 = 5;

fn classify(e: KafkaError) -> CommitError {
    match &e {
        KafkaError::Transaction(t) if t.is_fatal() => CommitError::Fatal(e.to_string()),
        KafkaError::Transaction(t) if t.txn_requires_abort() => CommitError::Abort(e.to_string()),
        KafkaError::Transaction(t) if t.is_retriable() => CommitError::Retry(e.to_string()),
        _ => CommitError::Abort(e.to_string()),
    }
}

fn retrying(call: impl FnMut() -> Result<(), KafkaError>) -> Result<(), CommitError> {
    retrying_up_to(ATTEMPTS, call)
}

fn retrying_up_to(
    attempts: u32,
    mut call: impl FnMut() -> Result<(), KafkaError>,
) -> Result<(), CommitError> {
    let mut attempt = 1;
    loop {
        match call().map_err(classify) {
            Err(CommitError::Retry(why)) if attempt < attempts => {
                tracing::debug!(attempt, "retrying transaction call: {why}");
                attempt += 1;
            }
            other => return other,
        }
    }
}

pub(crate) fn at_least_once<C: ConsumerContext>(
    output: &Output,
    consumer: &BaseConsumer<C>,
    offsets: &TopicPartitionList,
    timeout: Duration,
) -> Result<(), CommitError> {
    if !output.flush(timeout) {
        return Err(CommitError::Abort(
            "outputs not acknowledged by the broker".into(),
        ));
    }
    if offsets.count() == 0 {
        return Ok(());
    }
    consumer
        .commit(offsets, CommitMode::Sync)
        .map_err(|e| CommitError::Retry(e.to_string()))
}

pub(crate) fn exactly_once<C: ConsumerContext>(
    output: &Output,
    consumer: &BaseConsumer<C>,
    offsets: &TopicPartitionList,
    timeout: Duration,
) -> Result<(), CommitError> {
    let result = transact(output, consumer, offsets, timeout);
    match result {
        Err(CommitError::Abort(why)) | Err(CommitError::Retry(why)) => {
            abort(output, timeout)?;
            Err(CommitError::Abort(why))
        }
        other => other,
    }
}

/// Aborts the open transaction and begins the next; an error here is fatal (the worker cannot
/// tell what its outputs became).
pub(crate) fn abort(output: &Output, timeout: Duration) -> Result<(), CommitError> {
    let producer = output.producer();
    retrying_up_to(ABORT_ATTEMPTS, || producer.abort_transaction(timeout))
        .and_then(|_| producer.begin_transaction().map_err(classify))
        .map_err(|e| match e {
            CommitError::Fatal(f) => CommitError::Fatal(f),
            other => CommitError::Fatal(format!("cannot abort the transaction: {other:?}")),
        })
}

fn transact<C: ConsumerContext>(
    output: &Output,
    consumer: &BaseConsumer<C>,
    offsets: &TopicPartitionList,
    timeout: Duration,
) -> Result<(), CommitError> {
    if output.take_failures() > 0 {
        return Err(CommitError::Abort("an output could not be queued".into()));
    }
    // Flushed here first: `commit_transaction` flushes too, but in 100 ms steps (see
    // `Output::flush`); with nothing left in flight its flush returns at once.
    if !output.flush(timeout) {
        return Err(CommitError::Abort(
            "outputs not acknowledged by the broker".into(),
        ));
    }
    let producer = output.producer();
    if offsets.count() > 0 {
        let group = consumer
            .group_metadata()
            .ok_or_else(|| CommitError::Abort("no consumer group metadata yet".into()))?;
        retrying(|| producer.send_offsets_to_transaction(offsets, &group, timeout))?;
    }
    retrying(|| producer.commit_transaction(timeout))?;
    producer.begin_transaction().map_err(classify)
}
