//! Logs and metrics. [`metrics`] names every metric; the functions here are the observable
//! facts of the worker, each updating its metric and logging in one place so the two never
//! drift. Nothing else in the crate calls `prometheus` directly.

mod ingest;
pub mod metrics;
pub mod poll;
mod throttle;

use crate::domain::congestion::Level;
use crate::domain::event::InvalidEvent;
use crate::domain::incident::{IncidentEvent, Status};
use crate::domain::output::CongestionEvent;
pub use ingest::*;
pub use metrics::Metrics;

pub use crate::config::LogFormat;

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
    if let Some(key) = err.limit {
        let limit = key.strip_prefix("limits.").unwrap_or(key);
        m.over_capacity.with_label_values(&[limit]).inc();
    }
    static LOG: throttle::Throttle = throttle::Throttle::new();
    if let Some(left_out) = LOG.admit(err.kind.as_str(), std::time::Instant::now()) {
        tracing::warn!(
            topic = origin.topic,
            partition = origin.partition,
            offset = origin.offset,
            kind = err.kind.as_str(),
            left_out,
            "poison record sent to the dead-letter topic: {}{}",
            err.message,
            throttle::left_out_note(left_out)
        );
    }
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

/// What one restore of a changelog partition read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Restore {
    pub records: u64,
    pub bytes: u64,
    /// Records that did not decode (skipped: their keys start afresh).
    pub invalid: u64,
    pub seconds: f64,
}

/// A task's state was restored from its changelog partition.
pub fn state_restored(m: &Metrics, changelog: &str, partition: i32, restored: Restore) {
    m.state_restore_seconds.observe(restored.seconds);
    m.state_restored_records.inc_by(restored.records);
    m.state_restored_bytes.inc_by(restored.bytes);
    if restored.invalid > 0 {
        tracing::warn!(
            changelog,
            partition,
            invalid = restored.invalid,
            "state changelog records that do not decode were skipped; their keys start afresh"
        );
    }
    tracing::info!(
        changelog,
        partition,
        records = restored.records,
        bytes = restored.bytes,
        seconds = restored.seconds,
        "state restored"
    );
}

/// The detection stage published an incident event.
pub fn incident(m: &Metrics, event: &IncidentEvent) {
    let status = match event.status {
        Status::Detected => "detected",
        Status::Updated => "updated",
        Status::Cleared => "cleared",
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

/// The counter of records consumed from input topic `topic` (looked up once per topic).
pub fn consumed_counter(m: &Metrics, topic: &str) -> prometheus::IntCounter {
    m.events_consumed.with_label_values(&[topic])
}

/// A batch of `records` polled records took `seconds` to handle.
pub fn batch_processed(m: &Metrics, records: usize, seconds: f64) {
    let per_record = seconds / records.max(1) as f64;
    for _ in 0..records {
        m.processing_seconds.observe(per_record);
    }
}

/// An incident report was consumed.
pub fn report(m: &Metrics) {
    m.reports.inc();
}

/// A congestion event (final or early) is on its way out at wall-clock `now_ms`.
pub fn window_emitted(m: &Metrics, event: &CongestionEvent, now_ms: i64) {
    if event.is_final {
        m.windows_closed.inc();
    } else {
        m.window_updates.inc();
    }
    let lag = now_ms.saturating_sub(event.window_end).max(0);
    m.end_to_end_seconds.observe(lag as f64 / 1000.0);
}

/// An output record was acknowledged by the broker.
pub fn delivered(m: &Metrics, topic: &str, dead_letter: bool) {
    m.events_produced.with_label_values(&[topic]).inc();
    if dead_letter {
        dead_lettered(m);
    }
}

/// An output record was not acknowledged.
pub fn not_delivered(m: &Metrics, topic: &str, why: &str) {
    m.produce_errors.inc();
    tracing::warn!(topic, "output record not acknowledged: {why}");
}

/// librdkafka statistics for one partition: records not yet read, and not yet committed.
pub fn consumer_lag(
    m: &Metrics,
    topic: &str,
    partition: i32,
    behind: Option<i64>,
    committed: Option<i64>,
) {
    let p = partition.to_string();
    let labels = [topic, p.as_str()];
    if let Some(lag) = behind {
        m.consumer_lag.with_label_values(&labels).set(lag);
    }
    if let Some(lag) = committed {
        m.committed_lag.with_label_values(&labels).set(lag);
    }
}

/// A partition left this worker: its lag series go with it.
pub fn partition_revoked(m: &Metrics, topic: &str, partition: i32) {
    let p = partition.to_string();
    let labels = [topic, p.as_str()];
    let _ = m.consumer_lag.remove_label_values(&labels);
    let _ = m.committed_lag.remove_label_values(&labels);
}

/// Partitions assigned to this worker now.
pub fn assigned(m: &Metrics, partitions: usize) {
    m.assigned_partitions.set(partitions as i64);
}

/// The budgets of this worker (`limits.max_segments`, `limits.max_open_windows`; `None`: no
/// bound), and the refusal counters at zero.
pub fn memory_limits(m: &Metrics, limits: &crate::domain::limits::Limits) {
    let bound = |max: Option<usize>| max.map_or(0, |n| n as i64);
    m.state_segments_limit.set(bound(limits.segments.max()));
    m.windows_open_limit.set(bound(limits.windows.max()));
    for budget in [&limits.segments, &limits.windows] {
        let key = budget.key();
        let _ = m
            .over_capacity
            .with_label_values(&[key.strip_prefix("limits.").unwrap_or(key)]);
    }
}

/// Segments evicted after `state.retention` (their tombstones queued).
pub fn evicted(m: &Metrics, segments: u64) {
    m.state_evictions.inc_by(segments);
}

/// What the input tasks hold.
#[derive(Debug, Clone, Copy, Default)]
pub struct StateSize {
    /// Segments with long-lived state.
    pub segments: usize,
    /// Open (segment, window) accumulators.
    pub open_windows: usize,
    /// Segments by the level of their last final window, in `Level::ALL` order.
    pub levels: [usize; Level::ALL.len()],
}

/// Sets the state gauges. The per-level gauges count the segments held, so a segment evicted
/// or handed to another worker leaves them (and nothing is kept per segment to count them).
pub fn state_size(m: &Metrics, s: &StateSize) {
    m.state_segments.set(s.segments as i64);
    m.windows_open.set(s.open_windows as i64);
    for (level, n) in Level::ALL.iter().zip(s.levels) {
        m.segments_by_level
            .with_label_values(&[level.as_str()])
            .set(n as i64);
    }
}

/// What the detection partitions hold, summed over them.
#[derive(Debug, Clone, Copy, Default)]
pub struct DetectionState {
    /// Incidents raised and not cleared.
    pub active: usize,
    /// Keys with state.
    pub keys: usize,
    /// Segments outside the catalogue held (`limits.max_detection_keys`).
    pub uncatalogued: usize,
    /// Final windows waiting for the watermark.
    pub waiting: usize,
}

pub fn detection_state(m: &Metrics, s: DetectionState) {
    m.incidents_active.set(s.active as i64);
    m.detection_keys.set(s.keys as i64);
    m.detection_uncatalogued.set(s.uncatalogued as i64);
    m.detection_waiting.set(s.waiting as i64);
}

/// `limits.max_detection_keys` and `limits.max_waiting_windows` (`None`: no bound).
pub fn detection_limits(m: &Metrics, keys: Option<usize>, waiting: Option<usize>) {
    m.detection_keys_limit.set(keys.map_or(0, |n| n as i64));
    m.detection_waiting_limit
        .set(waiting.map_or(0, |n| n as i64));
}

/// What one repartition record made a detection partition count: windows and reports of new
/// segments not used at `limits.max_detection_keys`, windows judged early at
/// `limits.max_waiting_windows`.
pub fn detection_bounded(m: &Metrics, over_capacity: u64, forced: u64) {
    m.detection_over_capacity.inc_by(over_capacity);
    m.detection_forced.inc_by(forced);
}

/// Windows reached a detection partition after it had judged their window start.
pub fn late_for_detection(m: &Metrics, windows: u64) {
    if windows > 0 {
        m.detection_late_windows.inc_by(windows);
        tracing::debug!(
            windows,
            "windows arrived after detection judged their window"
        );
    }
}
