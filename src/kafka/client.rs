//! librdkafka client configuration: roadpulse's settings first, the user's passthrough
//! properties (`kafka.properties`) last, so SASL, TLS and tuning are always the user's call.

use rdkafka::config::ClientConfig;

use crate::config::{Guarantee, KafkaConfig};

fn base(k: &KafkaConfig, role: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.bootstrap_servers)
        .set("client.id", format!("roadpulse-{role}"));
    c
}

fn passthrough(mut c: ClientConfig, k: &KafkaConfig) -> ClientConfig {
    for (key, value) in &k.properties {
        c.set(key, value);
    }
    c
}

/// The input consumer: manual offset commits, cooperative-sticky assignment, committed reads,
/// statistics for lag metrics and idle detection.
pub fn consumer_config(k: &KafkaConfig) -> ClientConfig {
    let mut c = base(k, "consumer");
    c.set("group.id", &k.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "false")
        // librdkafka pauses a partition's fetching this long once the local queue is full
        // (default 1 s): a worker that empties the queue sooner then sits idle. Measured with
        // benches/compare: 2-3× the drain rate at 10 ms.
        .set("fetch.queue.backoff.ms", "10")
        // Prefetch at most 4 MiB (librdkafka: 64 MiB, and `fetch.max.bytes` follows it down
        // unless set). The worker drains the queue in milliseconds, so the larger buffer only
        // held memory: benches/compare measured peak RSS 120 MB → 58 MB at the same drain rate.
        .set("queued.max.messages.kbytes", "4096")
        .set(
            "statistics.interval.ms",
            k.statistics_interval.millis().to_string(),
        );
    if k.static_membership {
        c.set("group.instance.id", k.instance());
    }
    passthrough(c, k)
}

/// Whether the input consumer's group rebalances cooperatively: the assignment strategy is
/// ours (cooperative-sticky) unless `kafka.properties` replaces it.
pub fn cooperative(k: &KafkaConfig) -> bool {
    k.properties
        .get("partition.assignment.strategy")
        .is_none_or(|s| s.contains("cooperative"))
}

/// The state-restore consumer: it only assigns changelog partitions (its group id is never
/// joined nor committed to, but librdkafka needs one to assign), committed reads,
/// end-of-partition events to know when a restore is done.
pub fn restore_consumer_config(k: &KafkaConfig) -> ClientConfig {
    log_reader(k, "restore", format!("{}-state-restore", k.group_id))
}

/// A consumer that reads assigned partitions of a transactional log to its end: no group
/// commits, committed reads, end-of-partition events.
fn log_reader(k: &KafkaConfig, role: &str, group: String) -> ClientConfig {
    let mut c = base(k, role);
    c.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        // The end of a transactional log is a commit marker, seen only by the fetch after the
        // last record: keep that round short.
        .set("fetch.wait.max.ms", "20");
    passthrough(c, k)
}

/// The output producer: idempotent, acks from all replicas, Java-compatible key partitioning
/// (murmur2, so downstream keyed joins line up), small linger for batching.
pub fn producer_config(k: &KafkaConfig) -> ClientConfig {
    let mut c = idempotent_producer(k, "producer");
    if k.processing_guarantee == Guarantee::ExactlyOnce {
        c.set(
            "transactional.id",
            format!("{}-{}", k.group_id, k.instance()),
        )
        // A transaction begun right after the previous commit often meets
        // CONCURRENT_TRANSACTIONS while the broker still writes that commit's markers, and the
        // retry waits `retry.backoff.ms` (librdkafka: 100 ms, one whole commit interval). The
        // Java producer waits 20 ms there (KAFKA-5477); 10 ms, growing exponentially up to
        // `retry.backoff.max.ms` (1 s) on repeated failures, keeps the loop busy instead.
        .set("retry.backoff.ms", "10");
    }
    passthrough(c, k)
}

/// A `roadpulse poll` source's producer: the output producer's settings, transactional with
/// the source's own id (each source commits its readings and positions on its own).
pub fn source_producer_config(k: &KafkaConfig, transactional_id: &str) -> ClientConfig {
    let mut c = idempotent_producer(k, "poll");
    c.set("transactional.id", transactional_id);
    passthrough(c, k)
}

/// Reads the poller's positions topic back at start: assigned partitions, no group commits,
/// committed reads, end-of-partition events.
pub fn source_positions_reader_config(k: &KafkaConfig, poll_id: &str) -> ClientConfig {
    log_reader(k, "poll-positions", format!("{poll_id}-positions-reader"))
}

fn idempotent_producer(k: &KafkaConfig, role: &str) -> ClientConfig {
    let mut c = base(k, role);
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("compression.type", "lz4");
    c
}

/// The HTTP ingest producer: the output producer's settings without a transaction (each
/// record is answered once Kafka acknowledged it), then `own` (queue bounds, timeouts), then
/// the user's properties.
pub fn ingest_producer_config(k: &KafkaConfig, own: &[(&str, String)]) -> ClientConfig {
    let mut c = idempotent_producer(k, "ingest");
    for (key, value) in own {
        c.set(*key, value);
    }
    passthrough(c, k)
}

/// Admin client for topic creation.
pub fn admin_config(k: &KafkaConfig) -> ClientConfig {
    passthrough(base(k, "admin"), k)
}

/// A small fixed set of labels for librdkafka client errors (`roadpulse_kafka_errors_total`).
pub fn error_kind(e: &rdkafka::error::KafkaError) -> &'static str {
    use rdkafka::error::RDKafkaErrorCode as Code;
    match e.rdkafka_error_code() {
        Some(Code::AllBrokersDown) => "all_brokers_down",
        Some(Code::BrokerTransportFailure) | Some(Code::Resolve) => "transport",
        Some(Code::Authentication) | Some(Code::SaslAuthenticationFailed) => "authentication",
        Some(Code::MessageTimedOut) => "timeout",
        _ => "other",
    }
}
