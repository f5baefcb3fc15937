//! Logs and metrics. [`metrics`] names every metric; the functions here are the observable
//! facts of the worker, each updating its metric and logging in one place so the two never
//! drift. Nothing else in the crate calls `prometheus` directly.

mod ingest;
pub mod metrics;

use crate::domain::event::InvalidEvent;
pub use ingest::*;
pub use metrics::Metrics;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Plain,
    Json,
}

/// Installs the global tracing subscriber; `RUST_LOG` filters (default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Where a record came from, for logs and DLQ headers.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// A record failed decoding or validation and is on its way to the dead-letter topic.
pub fn poison_record(m: &Metrics, origin: Origin<'_>, err: &InvalidEvent) {
    m.decode_errors
        .with_label_values(&[err.kind.as_str()])
        .inc();
    tracing::warn!(
        topic = origin.topic,
        partition = origin.partition,
        offset = origin.offset,
        kind = err.kind.as_str(),
        "poison record sent to the dead-letter topic: {}",
        err.message
    );
}

/// A poison record was acknowledged by the dead-letter topic.
pub fn dead_lettered(m: &Metrics) {
    m.dlq_records.inc();
}

/// An event arrived after every window it belongs to had closed.
pub fn late_event(m: &Metrics, origin: Origin<'_>, ts: i64, stream_time: Option<i64>) {
    m.late_events.inc();
    tracing::debug!(
        topic = origin.topic,
        partition = origin.partition,
        offset = origin.offset,
        ts,
        stream_time,
        "late event dropped: all its windows had closed"
    );
}

/// The group handed this worker partitions, or took them away.
pub fn rebalance(m: &Metrics, kind: &'static str, partitions: &[(std::sync::Arc<str>, i32)]) {
    m.rebalances.with_label_values(&[kind]).inc();
    tracing::info!(kind, ?partitions, "rebalance");
}

/// A commit cycle finished after `seconds`: `committed`, `failed` (nothing committed, retried
/// next cycle) or `aborted` (outputs since the last commit voided; the tasks rewind).
pub fn committed(m: &Metrics, outcome: &'static str, seconds: f64, detail: &str) {
    m.commits.with_label_values(&[outcome]).inc();
    m.commit_seconds.observe(seconds);
    match outcome {
        "committed" => tracing::debug!("commit: {detail}"),
        _ => tracing::warn!(outcome, "commit: {detail}"),
    }
}

/// librdkafka reported a client-level error (broker down, authentication, ...).
pub fn kafka_error(m: &Metrics, kind: &'static str, detail: &str) {
    m.kafka_errors.with_label_values(&[kind]).inc();
    tracing::warn!(kind, "kafka: {detail}");
}

/// A task's segment state was restored from its changelog partition.
pub fn state_restored(
    m: &Metrics,
    changelog: &str,
    partition: i32,
    restored: &crate::kafka::changelog::Restored,
) {
    m.state_restore_seconds.observe(restored.seconds);
    m.state_restored_records.inc_by(restored.records);
    m.state_restored_bytes.inc_by(restored.bytes);
    if restored.invalid > 0 {
        tracing::warn!(
            changelog,
            partition,
            invalid = restored.invalid,
            "state changelog records that do not decode were skipped; their segments start afresh"
        );
    }
    tracing::info!(
        changelog,
        partition,
        records = restored.records,
        bytes = restored.bytes,
        seconds = restored.seconds,
        "segment state restored"
    );
}

/// The corridor stage published an incident event.
pub fn incident(m: &Metrics, event: &crate::domain::incident::IncidentEvent) {
    let status = match event.status {
        crate::domain::incident::Status::Detected => "detected",
        crate::domain::incident::Status::Updated => "updated",
        crate::domain::incident::Status::Cleared => "cleared",
    };
    m.incident_events.with_label_values(&[status]).inc();
    tracing::info!(
        incident_id = %event.incident_id,
        segment = %event.segment_id,
        status,
        algorithm = event.algorithm.as_str(),
        "incident"
    );
}
