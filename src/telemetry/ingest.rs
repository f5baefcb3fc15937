//! The observable facts of the HTTP ingest endpoint: a request answered (with its records'
//! outcomes), a record rejected, records that Kafka did not acknowledge. Each updates its
//! metrics and logs in one place.

use super::Metrics;

/// How the records of one answered request came out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCounts {
    pub accepted: u64,
    pub rejected: u64,
    pub failed: u64,
}

/// A request was answered with `code` after `seconds`.
pub fn ingest_answered(m: &Metrics, code: u16, seconds: f64, counts: RecordCounts) {
    let i = &m.ingest;
    let code_label = code.to_string();
    i.requests.with_label_values(&[&code_label]).inc();
    i.request_seconds
        .with_label_values(&[&code_label])
        .observe(seconds);
    for (outcome, n) in [
        ("accepted", counts.accepted),
        ("rejected", counts.rejected),
        ("failed", counts.failed),
    ] {
        if n > 0 {
            i.records.with_label_values(&[outcome]).inc_by(n);
        }
    }
    tracing::debug!(
        code,
        seconds,
        accepted = counts.accepted,
        rejected = counts.rejected,
        failed = counts.failed,
        "ingest request answered"
    );
}

/// A request was refused as a whole (auth, size, content type, backpressure, bad body).
/// Logged at debug only: an outage or a misbehaving client would flood the log, and the
/// counts by status are in the metrics.
pub fn ingest_refused(m: &Metrics, code: u16, seconds: f64, reason: &str) {
    ingest_answered(m, code, seconds, RecordCounts::default());
    tracing::debug!(code, "ingest request refused: {reason}");
}

/// Record `index` of a request failed validation (it is never written).
pub fn ingest_rejected(m: &Metrics, index: usize, kind: &str, message: &str) {
    m.ingest.rejected.with_label_values(&[kind]).inc();
    tracing::debug!(index, kind, "ingest record rejected: {message}");
}

/// `count` records of a request were not acknowledged by Kafka; `first` is the first reason.
pub fn ingest_not_acknowledged(count: u64, first: &str) {
    tracing::warn!(
        count,
        "ingest records not acknowledged by Kafka (answered 503, the client resends): {first}"
    );
}

/// The bytes of admitted bodies not yet answered, now.
pub fn ingest_in_flight(m: &Metrics, bytes: u64) {
    m.ingest.in_flight_bytes.set(bytes as i64);
}
