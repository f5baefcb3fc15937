//! The ingest producer: idempotent, `acks=all`, murmur2 key partitioning (the settings of
//! [`crate::kafka::client::ingest_producer_config`]), no transaction. A request's valid
//! records are queued in order and the request waits for every acknowledgement, each bounded
//! by `ingest.ack_timeout` (librdkafka's `message.timeout.ms`). librdkafka can hold a record
//! that was in flight to a broker that died past that timeout, so the wait ends 5 s later
//! regardless: an answer never waits longer than `ingest.ack_timeout` + 5 s. Statistics every second say whether a broker is up; while none is, new
//! requests are refused at once (503) instead of queueing into an outage.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::statistics::Statistics;

use super::answer::RecordResult;
use super::validate::Checked;
use super::IngestError;
use crate::config::Config;
use crate::kafka::client::{error_kind, ingest_producer_config};
use crate::kafka::Health;
use crate::telemetry::{self, Metrics};

/// Whether new requests are taken: a broker is up, and the process is not stopping.
pub struct Readiness {
    kafka_up: AtomicBool,
    stopping: AtomicBool,
    health: Arc<Health>,
}

impl Readiness {
    pub fn new(health: Arc<Health>) -> Readiness {
        Readiness {
            kafka_up: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            health,
        }
    }
    pub fn kafka_up(&self) -> bool {
        self.kafka_up.load(Ordering::SeqCst)
    }
    pub fn set_kafka_up(&self, up: bool) {
        self.kafka_up.store(up, Ordering::SeqCst);
        self.publish();
    }
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.publish();
    }
    fn publish(&self) {
        let stopping = self.stopping.load(Ordering::SeqCst);
        self.health.set_ready(self.kafka_up() && !stopping);
    }
}

struct IngestContext {
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
}

impl ClientContext for IngestContext {
    fn stats(&self, stats: Statistics) {
        let up = stats.brokers.values().any(|b| b.state == "UP");
        self.readiness.set_kafka_up(up);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let kind = error_kind(&error);
        telemetry::kafka_error(&self.metrics, kind, reason);
        if kind == "all_brokers_down" {
            self.readiness.set_kafka_up(false);
        }
    }
}

pub struct Sender {
    producer: FutureProducer<IngestContext>,
    readiness: Arc<Readiness>,
    topic: String,
    ack_timeout: Duration,
}

impl Sender {
    pub fn start(
        config: &Config,
        metrics: Arc<Metrics>,
        readiness: Arc<Readiness>,
    ) -> Result<Sender, IngestError> {
        let ingest = &config.ingest;
        // librdkafka's queue is sized above the admission budget (records are at least a few
        // dozen bytes), so it never refuses a record the budget let in.
        let messages = (ingest.max_in_flight_bytes / 16).clamp(100_000, 10_000_000);
        let kbytes = (ingest.max_in_flight_bytes / 1024) * 2 + 1024;
        let own = [
            (
                "message.timeout.ms",
                ingest.ack_timeout.millis().to_string(),
            ),
            ("queue.buffering.max.messages", messages.to_string()),
            (
                "queue.buffering.max.kbytes",
                kbytes.min(2_097_151).to_string(),
            ),
            ("statistics.interval.ms", "1000".to_string()),
        ];
        let context = IngestContext {
            metrics,
            readiness: Arc::clone(&readiness),
        };
        let producer = ingest_producer_config(&config.kafka, &own)
            .create_with_context(context)
            .map_err(|e| IngestError::Client(e.to_string()))?;
        Ok(Sender {
            producer,
            readiness,
            topic: ingest.topic(&config.kafka).to_string(),
            ack_timeout: ingest.ack_timeout.std(),
        })
    }

    /// Waits until the broker answers with the topic's metadata: the partition count, or an
    /// error once `timeout` passed (a missing topic is given 5 s to appear).
    pub async fn wait_for_topic(&self, timeout: Duration) -> Result<usize, IngestError> {
        let start = std::time::Instant::now();
        loop {
            let answer = partitions(&self.producer, &self.topic).await;
            let waited = start.elapsed();
            match answer {
                Ok(partitions) if partitions > 0 => {
                    self.readiness.set_kafka_up(true);
                    return Ok(partitions);
                }
                Ok(_) if waited >= timeout.min(Duration::from_secs(5)) => {
                    return Err(IngestError::Topic(self.topic.clone()))
                }
                Err(e) if waited >= timeout => return Err(IngestError::Unreachable(e)),
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    /// While no broker is up, asks for the topic's metadata every second: that makes
    /// librdkafka connect again even when no record is queued (requests are refused meanwhile),
    /// and an answer makes the endpoint ready at once.
    pub fn spawn_watch(&self) -> tokio::task::JoinHandle<()> {
        let (producer, topic) = (self.producer.clone(), self.topic.clone());
        let readiness = Arc::clone(&self.readiness);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                if !readiness.kafka_up() && partitions(&producer, &topic).await.is_ok_and(|n| n > 0)
                {
                    tracing::info!(topic, "Kafka is reachable again");
                    readiness.set_kafka_up(true);
                }
            }
        })
    }

    /// Queues the valid records in order and waits for their acknowledgements. Returns one
    /// result per record, in the request's order.
    pub async fn send(&self, checked: Vec<Checked>) -> Vec<RecordResult> {
        let mut results: Vec<Option<RecordResult>> = Vec::with_capacity(checked.len());
        let mut pending: Vec<(usize, DeliveryFuture)> = Vec::with_capacity(checked.len());
        // Once a record could not be queued, nothing after it is, so a resend keeps the order.
        let mut stopped: Option<RecordResult> = None;
        for (index, record) in checked.into_iter().enumerate() {
            let result = match record {
                Checked::Rejected(e) => RecordResult::rejected(index, e.kind.as_str(), e.message),
                Checked::Unavailable(why) => RecordResult::failed(index, "unavailable", why),
                Checked::Valid { key, value } => match &stopped {
                    Some(s) => s.at(index),
                    None => {
                        let record = FutureRecord::to(&self.topic).key(&*key).payload(&value[..]);
                        match self.producer.send_result(record) {
                            Ok(delivery) => {
                                pending.push((index, delivery));
                                results.push(None);
                                continue;
                            }
                            Err((e, _)) => {
                                let r = refused(index, &e);
                                stopped = r.is_failed().then(|| r.clone());
                                r
                            }
                        }
                    }
                },
            };
            results.push(Some(result));
        }
        self.await_acks(pending, &mut results).await;
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.unwrap_or_else(|| unreachable_result(i)))
            .collect()
    }

    async fn await_acks(
        &self,
        pending: Vec<(usize, DeliveryFuture)>,
        results: &mut [Option<RecordResult>],
    ) {
        // A record in flight to a broker that died can outlive message.timeout.ms in
        // librdkafka (seen in tests/ingest_outage.rs); the margin bounds the answer anyway.
        let deadline = tokio::time::Instant::now() + self.ack_timeout + Duration::from_secs(5);
        for (index, delivery) in pending {
            results[index] = Some(match tokio::time::timeout_at(deadline, delivery).await {
                Ok(Ok(Ok(d))) => RecordResult::accepted(index, d.partition, d.offset),
                Ok(Ok(Err((e, _)))) => not_acknowledged(index, &e),
                Ok(Err(_)) | Err(_) => unreachable_result(index),
            });
        }
    }

    /// Waits up to `timeout` for everything queued to be acknowledged.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.producer.flush(timeout).is_ok()
    }
}

/// One metadata request for `topic` (on the blocking pool): its partition count.
async fn partitions(
    producer: &FutureProducer<IngestContext>,
    topic: &str,
) -> Result<usize, String> {
    let (producer, topic) = (producer.clone(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let m = producer
            .client()
            .fetch_metadata(Some(&topic), Duration::from_secs(1))
            .map_err(|e| e.to_string())?;
        Ok(m.topics().first().map_or(0, |t| t.partitions().len()))
    })
    .await
    .map_err(|e| e.to_string())?
}

const QUEUE_FULL: &str = "not sent: the producer queue is full; resend after Retry-After";

/// A record librdkafka would not queue: too large is the record's fault, anything else not.
fn refused(index: usize, e: &KafkaError) -> RecordResult {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => RecordResult::rejected(
            index,
            "too_large",
            "the record is larger than the producer's message.max.bytes".into(),
        ),
        Some(RDKafkaErrorCode::QueueFull) => {
            RecordResult::failed(index, "queue_full", QUEUE_FULL.into())
        }
        _ => RecordResult::failed(index, "kafka", format!("not sent: {e}")),
    }
}

fn not_acknowledged(index: usize, e: &KafkaError) -> RecordResult {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageTimedOut) => RecordResult::failed(
            index,
            "timeout",
            "not acknowledged by Kafka within ingest.ack_timeout; the record may have been written"
                .into(),
        ),
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => {
            RecordResult::rejected(index, "too_large", format!("refused by Kafka: {e}"))
        }
        _ => RecordResult::failed(index, "kafka", format!("not acknowledged: {e}")),
    }
}

/// No delivery report came (the producer closed, or none within the deadline's margin).
fn unreachable_result(index: usize) -> RecordResult {
    RecordResult::failed(
        index,
        "timeout",
        "no answer from Kafka within ingest.ack_timeout; the record may have been written".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_failures_map_to_their_kinds() {
        let code = |c| KafkaError::MessageProduction(c);
        let kind = |r: RecordResult| match r {
            RecordResult::Rejected { kind, .. } => ("rejected", kind),
            RecordResult::Failed { kind, .. } => ("failed", kind),
            RecordResult::Accepted { .. } => ("accepted", ""),
        };
        let queue_full = refused(3, &code(RDKafkaErrorCode::QueueFull));
        assert_eq!(
            queue_full,
            RecordResult::failed(3, "queue_full", QUEUE_FULL.into())
        );
        let too_large = refused(0, &code(RDKafkaErrorCode::MessageSizeTooLarge));
        assert_eq!(kind(too_large), ("rejected", "too_large"));
        let unknown = refused(0, &code(RDKafkaErrorCode::UnknownTopicOrPartition));
        assert_eq!(kind(unknown), ("failed", "kafka"));
        let timed_out = not_acknowledged(0, &code(RDKafkaErrorCode::MessageTimedOut));
        assert_eq!(kind(timed_out), ("failed", "timeout"));
        let broker = not_acknowledged(0, &code(RDKafkaErrorCode::NotEnoughReplicas));
        assert_eq!(kind(broker), ("failed", "kafka"));
    }
}
