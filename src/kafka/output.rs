//! The output side: congestion events, incident events, dead-letter and late records, detection
//! repartition records and state changelog records through one idempotent (under exactly
//! once, transactional) producer, with delivery reports feeding metrics and a failure count
//! the commit cycle checks before it commits anything.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::changelog;
use super::KafkaFailure;
use crate::codec::OutputCodec;
use crate::config::{Guarantee, KafkaConfig};
use crate::domain::event::InvalidEvent;
use crate::domain::incident::IncidentEvent;
use crate::domain::output::CongestionEvent;
use crate::domain::segments::Change;
use crate::telemetry::{self, Metrics, Origin};

const CONGESTION: usize = 0;
const DEAD_LETTER: usize = 1;
const INCIDENTS: usize = 2;
const REPARTITION: usize = 3;
pub(crate) const DETECTION_STATE: usize = 4;
const LATE: usize = 5;
/// Topic index of the first input's state changelog; the others follow in input order.
const CHANGELOGS: usize = 6;

/// DLQ header names (documented in the README).
pub const H_TOPIC: &str = "roadpulse.source.topic";
pub const H_PARTITION: &str = "roadpulse.source.partition";
pub const H_OFFSET: &str = "roadpulse.source.offset";
pub const H_KIND: &str = "roadpulse.error.kind";
pub const H_MESSAGE: &str = "roadpulse.error.message";
/// Late-record header names (documented in the README).
pub const H_LATE_WINDOW: &str = "roadpulse.late.window";
pub const H_LATE_STREAM_TIME: &str = "roadpulse.late.stream_time";

pub(crate) struct DeliveryContext {
    metrics: Arc<Metrics>,
    /// Congestion, dead letters, incidents, the detection repartition topic and its state
    /// changelog, late records, then one state changelog per input topic; a record's opaque is its topic's
    /// index here.
    topics: Vec<String>,
    failures: AtomicU64,
}

impl ClientContext for DeliveryContext {
    fn error(&self, error: KafkaError, reason: &str) {
        telemetry::kafka_error(&self.metrics, super::client::error_kind(&error), reason);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, which: usize) {
        match result {
            Ok(_) => telemetry::delivered(&self.metrics, &self.topics[which], which == DEAD_LETTER),
            // Purged by an abort: that transaction's outputs are void by design, and the ones
            // it held are redone after the rewind. Counted as failures they would void the
            // next transaction too, and every abort would cause the next (a livelock).
            Err((e, _)) if purged(e) => {
                tracing::debug!(topic = %self.topics[which], "output purged by an abort")
            }
            Err((e, _)) => {
                self.failures.fetch_add(1, Ordering::SeqCst);
                telemetry::not_delivered(&self.metrics, &self.topics[which], &e.to_string());
            }
        }
    }
}

/// A record librdkafka dropped because its transaction was aborted.
fn purged(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
    )
}

pub(crate) struct Output {
    producer: ThreadedProducer<DeliveryContext>,
    /// The input topics, in the order of their changelogs in the delivery context.
    inputs: Vec<String>,
    /// How congestion events are written (the topic's format).
    congestion: OutputCodec,
    buf: Vec<u8>,
}

impl Output {
    pub fn new(
        k: &KafkaConfig,
        congestion: OutputCodec,
        metrics: Arc<Metrics>,
    ) -> Result<Self, KafkaFailure> {
        let context = DeliveryContext {
            metrics,
            topics: [
                k.congestion_topic.clone(),
                k.dlq_topic.clone(),
                k.incidents_topic.clone(),
                super::admin::repartition_topic(k),
                super::admin::detection_changelog_topic(k),
                k.late_topic.clone(),
            ]
            .into_iter()
            .chain(
                k.input_topics
                    .iter()
                    .map(|t| super::admin::changelog_topic(k, t)),
            )
            .collect(),
            failures: AtomicU64::new(0),
        };
        let producer: ThreadedProducer<DeliveryContext> = super::client::producer_config(k)
            .create_with_context(context)
            .map_err(KafkaFailure::client)?;
        if k.processing_guarantee == Guarantee::ExactlyOnce {
            let timeout = k.shutdown_timeout.std();
            producer
                .init_transactions(timeout)
                .map_err(|e| KafkaFailure::Transactions(e.to_string()))?;
            producer
                .begin_transaction()
                .map_err(|e| KafkaFailure::Transactions(e.to_string()))?;
        }
        Ok(Output {
            producer,
            inputs: k.input_topics.clone(),
            congestion,
            buf: Vec::with_capacity(1024),
        })
    }

    pub fn producer(&self) -> &ThreadedProducer<DeliveryContext> {
        &self.producer
    }

    /// Outputs that failed (not queued, or not acknowledged) since the previous call.
    pub fn take_failures(&self) -> u64 {
        self.producer.context().failures.swap(0, Ordering::SeqCst)
    }

    fn topic(&self, which: usize) -> &str {
        &self.producer.context().topics[which]
    }

    /// The state changelog topic index of an input topic.
    pub fn changelog_of(&self, input: &str) -> Option<usize> {
        self.inputs
            .iter()
            .position(|t| t == input)
            .map(|i| CHANGELOGS + i)
    }

    pub fn changelog_topic(&self, which: usize) -> &str {
        self.topic(which)
    }

    /// Queues a segment's long-lived state (and its detection history, with detection on) to
    /// partition `partition` of a state changelog (the partition of the input task it belongs
    /// to), keyed by segment id; `None` queues a tombstone (the segment was evicted).
    pub fn send_state(
        &mut self,
        which: usize,
        partition: i32,
        segment: &str,
        state: Change<'_>,
        patience: Duration,
    ) -> Result<(), KafkaError> {
        if let Some((state, history)) = state {
            changelog::encode(state, history, &mut self.buf);
        }
        let record = BaseRecord::<[u8], [u8], usize>::with_opaque_to(self.topic(which), which)
            .partition(partition)
            .key(segment.as_bytes());
        let record = match state {
            Some(_) => record.payload(&self.buf[..]),
            None => record,
        };
        let result = send(&self.producer, record, patience);
        self.note(result)
    }

    /// Queues a congestion event keyed by its segment. Waits while the local queue is full
    /// (back-pressure) for at most `patience`.
    pub fn send_congestion(
        &mut self,
        event: &CongestionEvent,
        patience: Duration,
    ) -> Result<(), KafkaError> {
        self.buf.clear();
        self.congestion.encode_congestion(event, &mut self.buf);
        let record = BaseRecord::with_opaque_to(self.topic(CONGESTION), CONGESTION)
            .key(event.segment_id.as_bytes())
            .payload(&self.buf[..])
            .timestamp(event.window_end);
        let result = send(&self.producer, record, patience);
        self.note(result)
    }

    /// Queues an incident event keyed by its segment, with its decision time as timestamp.
    pub fn send_incident(
        &mut self,
        event: &IncidentEvent,
        patience: Duration,
    ) -> Result<(), KafkaError> {
        self.buf.clear();
        // Serializing plain data to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.buf, event);
        let ts = event.cleared_at.unwrap_or(event.detected_at);
        let record = BaseRecord::with_opaque_to(self.topic(INCIDENTS), INCIDENTS)
            .key(event.segment_id.as_bytes())
            .payload(&self.buf[..])
            .timestamp(ts);
        let result = send(&self.producer, record, patience);
        self.note(result)
    }

    /// Queues an encoded detection repartition record to partition `partition` (the records
    /// are already addressed: see [`crate::domain::incident::route`]).
    pub fn send_routed(
        &mut self,
        partition: i32,
        bytes: &[u8],
        ts: i64,
        patience: Duration,
    ) -> Result<(), KafkaError> {
        let record: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(self.topic(REPARTITION), REPARTITION)
                .partition(partition)
                .payload(bytes)
                .timestamp(ts);
        let result = send(&self.producer, record, patience);
        self.note(result)
    }

    /// Queues one key of a detection partition's state (None: a tombstone) to the same
    /// partition of the detection state changelog.
    pub fn send_detection_state(
        &mut self,
        partition: i32,
        key: &str,
        value: Option<&[u8]>,
        patience: Duration,
    ) -> Result<(), KafkaError> {
        let mut record: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(self.topic(DETECTION_STATE), DETECTION_STATE)
                .partition(partition)
                .key(key.as_bytes());
        record.payload = value;
        let result = send(&self.producer, record, patience);
        self.note(result)
    }

    /// A record that could not even be queued counts as a delivery failure, so the next
    /// commit rewinds instead of committing past it.
    fn note(&self, result: Result<(), KafkaError>) -> Result<(), KafkaError> {
        if result.is_err() {
            self.producer
                .context()
                .failures
                .fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    /// Queues a poison record, bytes unchanged, with headers naming its origin and error.
    pub fn send_dead_letter(
        &mut self,
        original: (Option<&[u8]>, Option<&[u8]>),
        origin: Origin<'_>,
        err: &InvalidEvent,
        patience: Duration,
    ) -> Result<(), KafkaError> {
        let why = [
            (H_KIND, err.kind.as_str()),
            (H_MESSAGE, err.message.as_str()),
        ];
        self.send_original(DEAD_LETTER, original, origin, &why, patience)
    }

    /// Whether late records go to a topic of their own (`kafka.late_topic`).
    pub fn keeps_late(&self) -> bool {
        !self.topic(LATE).is_empty()
    }

    /// Queues a late record, bytes unchanged, with headers naming its origin, the last window
    /// it belonged to (`start..end`, epoch ms) and the stream time that had closed it.
    pub fn send_late(
        &mut self,
        original: (Option<&[u8]>, Option<&[u8]>),
        origin: Origin<'_>,
        window: (i64, i64),
        stream_time: Option<i64>,
        patience: Duration,
    ) -> Result<(), KafkaError> {
        let window = format!("{}..{}", window.0, window.1);
        let stream_time = stream_time.map(|t| t.to_string()).unwrap_or_default();
        let why = [
            (H_LATE_WINDOW, window.as_str()),
            (H_LATE_STREAM_TIME, &stream_time),
        ];
        self.send_original(LATE, original, origin, &why, patience)
    }

    /// Queues an input record's key and value to topic `which`, with its origin and `why` as
    /// headers.
    fn send_original(
        &mut self,
        which: usize,
        (key, payload): (Option<&[u8]>, Option<&[u8]>),
        origin: Origin<'_>,
        why: &[(&str, &str)],
        patience: Duration,
    ) -> Result<(), KafkaError> {
        let partition = origin.partition.to_string();
        let offset = origin.offset.to_string();
        let source = [
            (H_TOPIC, origin.topic),
            (H_PARTITION, partition.as_str()),
            (H_OFFSET, offset.as_str()),
        ];
        let headers = source.iter().chain(why).fold(
            OwnedHeaders::new_with_capacity(source.len() + why.len()),
            |h, (key, value)| {
                h.insert(Header {
                    key,
                    value: Some(*value),
                })
            },
        );
        let mut record: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(self.topic(which), which).headers(headers);
        record.key = key;
        record.payload = payload;
        let result = send(&self.producer, record, patience);
        self.note(result)
    }

    /// Waits until every queued record is acknowledged or failed. True when all were
    /// acknowledged since the previous call.
    ///
    /// rust-rdkafka's own `flush` waits in whole 100 ms `poll` slices (its `poll` runs to its
    /// deadline even after the last delivery report), which held every commit up to 100 ms.
    /// Here librdkafka's flush is asked without waiting (it also sends what lingers) and
    /// asked again every millisecond; the producer's thread serves the delivery reports.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let flushed = loop {
            if self.producer.flush(Duration::ZERO).is_ok() {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        self.take_failures() == 0 && flushed
    }
}

fn send<K, P>(
    producer: &ThreadedProducer<DeliveryContext>,
    mut record: BaseRecord<'_, K, P, usize>,
    patience: Duration,
) -> Result<(), KafkaError>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    let deadline = Instant::now() + patience;
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                if Instant::now() < deadline =>
            {
                record = back;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err((e, _)) => return Err(e),
        }
    }
}
