//! Every Prometheus metric roadpulse exports, named in one place (docs/architecture.md §6).
//!
//! Names follow `roadpulse_<noun>_<unit>[_total]`; labels come from small fixed sets (topic,
//! error kind, outcome, level, partition), never a segment id. Metrics are registered eagerly
//! in [`Metrics::new`], so nothing can panic later on a duplicate registration.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub events_consumed: IntCounterVec,
    pub events_produced: IntCounterVec,
    pub decode_errors: IntCounterVec,
    pub dlq_records: IntCounter,
    pub late_events: IntCounter,
    pub reports: IntCounter,
    pub windows_open: IntGauge,
    pub windows_closed: IntCounter,
    pub window_updates: IntCounter,
    pub processing_seconds: Histogram,
    pub end_to_end_seconds: Histogram,
    pub consumer_lag: IntGaugeVec,
    pub committed_lag: IntGaugeVec,
    pub assigned_partitions: IntGauge,
    pub rebalances: IntCounterVec,
    pub commits: IntCounterVec,
    pub commit_seconds: Histogram,
    pub produce_errors: IntCounter,
    pub state_restore_seconds: Histogram,
    pub state_restored_records: IntCounter,
    pub state_restored_bytes: IntCounter,
    pub state_segments: IntGauge,
    pub state_segments_limit: IntGauge,
    pub state_evictions: IntCounter,
    /// By `limit`: `max_segments`, `max_open_windows`.
    pub over_capacity: IntCounterVec,
    pub windows_open_limit: IntGauge,
    pub kafka_errors: IntCounterVec,
    pub segments_by_level: IntGaugeVec,
    pub incidents_active: IntGauge,
    pub incident_events: IntCounterVec,
    pub detection_keys: IntGauge,
    pub detection_uncatalogued: IntGauge,
    pub detection_keys_limit: IntGauge,
    pub detection_over_capacity: IntCounter,
    pub detection_waiting_limit: IntGauge,
    pub detection_forced: IntCounter,
    pub detection_waiting: IntGauge,
    pub detection_late_windows: IntCounter,
    pub build_info: IntGaugeVec,
    /// `roadpulse ingest` (`POST /v1/events`); labelled families stay absent elsewhere.
    pub ingest: IngestMetrics,
}

/// The HTTP ingest endpoint's metrics.
pub struct IngestMetrics {
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub records: IntCounterVec,
    pub rejected: IntCounterVec,
    pub in_flight_bytes: IntGauge,
}

impl IngestMetrics {
    fn new(r: &Registry) -> Self {
        let seconds = HistogramOpts::new(
            "roadpulse_ingest_request_seconds",
            "Time from a POST /v1/events request's arrival to its answer (acknowledgements included), by HTTP status code.",
        )
        .buckets(vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ]);
        let request_seconds = HistogramVec::new(seconds, &["code"]).expect("valid metric name");
        r.register(Box::new(request_seconds.clone()))
            .expect("metric registered once");
        IngestMetrics {
            requests: counter_vec(
                r,
                "roadpulse_ingest_requests_total",
                "POST /v1/events requests answered, by HTTP status code.",
                &["code"],
            ),
            request_seconds,
            records: counter_vec(
                r,
                "roadpulse_ingest_records_total",
                "Records of POST /v1/events, by outcome: accepted (acknowledged by Kafka), rejected (invalid, never written), failed (not acknowledged; the client resends).",
                &["outcome"],
            ),
            rejected: counter_vec(
                r,
                "roadpulse_ingest_rejected_records_total",
                "Records rejected by validation, by kind.",
                &["kind"],
            ),
            in_flight_bytes: gauge(
                r,
                "roadpulse_ingest_in_flight_bytes",
                "Bytes of request bodies admitted whose records Kafka has not acknowledged yet (bounded by ingest.max_in_flight_bytes).",
            ),
        }
    }

    /// Shows every outcome and rejection kind at 0 from the start (called by the ingest
    /// process only, so a worker's /metrics does not list them).
    pub fn init_labels(&self, kinds: &[&str]) {
        for outcome in ["accepted", "rejected", "failed"] {
            self.records.with_label_values(&[outcome]).inc_by(0);
        }
        for kind in kinds {
            self.rejected.with_label_values(&[kind]).inc_by(0);
        }
    }
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric name");
    r.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric name");
    r.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric name");
    r.register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric name");
    r.register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("valid metric name");
    r.register(Box::new(h.clone()))
        .expect("metric registered once");
    h
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let m = Metrics {
            events_consumed: counter_vec(
                &r,
                "roadpulse_events_consumed_total",
                "Input records consumed, by topic.",
                &["topic"],
            ),
            events_produced: counter_vec(
                &r,
                "roadpulse_events_produced_total",
                "Output records acknowledged by the broker, by topic.",
                &["topic"],
            ),
            decode_errors: counter_vec(
                &r,
                "roadpulse_decode_errors_total",
                "Input records that failed decoding or validation, by kind.",
                &["kind"],
            ),
            dlq_records: counter(
                &r,
                "roadpulse_dlq_records_total",
                "Poison records written to the dead-letter topic.",
            ),
            late_events: counter(
                &r,
                "roadpulse_late_events_total",
                "Events whose every window had already closed.",
            ),
            reports: counter(&r, "roadpulse_reports_total", "Incident reports consumed."),
            windows_open: gauge(
                &r,
                "roadpulse_windows_open",
                "Open (segment, window) accumulators across assigned tasks.",
            ),
            windows_closed: counter(
                &r,
                "roadpulse_windows_closed_total",
                "Final window results emitted.",
            ),
            window_updates: counter(
                &r,
                "roadpulse_window_updates_total",
                "Early (non-final) window results emitted.",
            ),
            processing_seconds: histogram(
                &r,
                "roadpulse_processing_seconds",
                "Time to process one record (the mean over the polled batch it came in).",
                prometheus::exponential_buckets(0.000_05, 4.0, 10).expect("valid buckets"),
            ),
            end_to_end_seconds: histogram(
                &r,
                "roadpulse_end_to_end_latency_seconds",
                "From the newest event time in a window to its result being produced.",
                vec![0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0],
            ),
            consumer_lag: gauge_vec(
                &r,
                "roadpulse_consumer_lag_messages",
                "Records in the partition not yet read by this worker (last stable offset minus position, librdkafka statistics).",
                &["topic", "partition"],
            ),
            committed_lag: gauge_vec(
                &r,
                "roadpulse_consumer_committed_lag_messages",
                "Last stable offset minus the committed offset; includes the records that still feed open windows.",
                &["topic", "partition"],
            ),
            assigned_partitions: gauge(
                &r,
                "roadpulse_assigned_partitions",
                "Partitions assigned to this worker (input and corridor repartition).",
            ),
            rebalances: counter_vec(
                &r,
                "roadpulse_rebalances_total",
                "Rebalance callbacks, by kind (assign, revoke, lost, error).",
                &["kind"],
            ),
            commits: counter_vec(
                &r,
                "roadpulse_commits_total",
                "Commit cycles (offsets, or a transaction with its offsets), by outcome (committed, failed, aborted).",
                &["outcome"],
            ),
            commit_seconds: histogram(
                &r,
                "roadpulse_commit_seconds",
                "Time of one commit cycle: outputs flushed, offsets sent, transaction committed (exactly once) or offsets committed (at least once).",
                vec![0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0],
            ),
            produce_errors: counter(
                &r,
                "roadpulse_produce_errors_total",
                "Output records the broker did not acknowledge.",
            ),
            state_restore_seconds: histogram(
                &r,
                "roadpulse_state_restore_seconds",
                "Time to restore one task's segment state from its changelog partition.",
                vec![0.005, 0.02, 0.1, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 120.0],
            ),
            state_restored_records: counter(
                &r,
                "roadpulse_state_restored_records_total",
                "State changelog records read by restores.",
            ),
            state_restored_bytes: counter(
                &r,
                "roadpulse_state_restored_bytes_total",
                "Key and value bytes of the state changelog records read by restores.",
            ),
            state_segments: gauge(
                &r,
                "roadpulse_state_segments",
                "Segments with long-lived state in this worker's tasks.",
            ),
            state_segments_limit: gauge(
                &r,
                "roadpulse_state_segments_limit",
                "Segments this worker may hold (limits.max_segments; 0 = no bound).",
            ),
            state_evictions: counter(
                &r,
                "roadpulse_state_evictions_total",
                "Segments whose state was evicted after state.retention (tombstones queued).",
            ),
            over_capacity: counter_vec(
                &r,
                "roadpulse_over_capacity_total",
                "Records refused (dead-lettered, kind over_capacity) at a limit: max_segments (a new segment) or max_open_windows (one more open window).",
                &["limit"],
            ),
            windows_open_limit: gauge(
                &r,
                "roadpulse_windows_open_limit",
                "Open (segment, window) accumulators this worker may hold (limits.max_open_windows; 0 = no bound).",
            ),
            kafka_errors: counter_vec(
                &r,
                "roadpulse_kafka_errors_total",
                "Client-level Kafka errors reported by librdkafka, by kind.",
                &["kind"],
            ),
            segments_by_level: gauge_vec(
                &r,
                "roadpulse_segments_by_level",
                "Segments held whose latest final window has this congestion level.",
                &["level"],
            ),
            incidents_active: gauge(
                &r,
                "roadpulse_incidents_active",
                "Incidents currently open.",
            ),
            incident_events: counter_vec(
                &r,
                "roadpulse_incident_events_total",
                "Incident events published, by status (detected, updated, cleared).",
                &["status"],
            ),
            detection_keys: gauge(
                &r,
                "roadpulse_detection_keys",
                "Segments with incident detection state in this worker's detection partitions.",
            ),
            detection_uncatalogued: gauge(
                &r,
                "roadpulse_detection_keys_uncatalogued",
                "Segments outside the catalogue held by this worker's detection partitions (bounded by limits.max_detection_keys).",
            ),
            detection_keys_limit: gauge(
                &r,
                "roadpulse_detection_keys_limit",
                "Segments outside the catalogue this worker's detection partitions may hold (limits.max_detection_keys; 0 = no bound).",
            ),
            detection_over_capacity: counter(
                &r,
                "roadpulse_detection_over_capacity_total",
                "Final windows and reports of new segments outside the catalogue not used for detection because the worker held limits.max_detection_keys of them.",
            ),
            detection_waiting_limit: gauge(
                &r,
                "roadpulse_detection_waiting_windows_limit",
                "Final windows this worker's detection partitions may hold waiting for the watermark (limits.max_waiting_windows; 0 = no bound).",
            ),
            detection_forced: counter(
                &r,
                "roadpulse_detection_forced_windows_total",
                "Final windows judged before every input partition's watermark had passed them, because the worker held limits.max_waiting_windows waiting windows.",
            ),
            detection_waiting: gauge(
                &r,
                "roadpulse_detection_waiting_windows",
                "Final windows waiting for every input partition's watermark before detection judges them.",
            ),
            detection_late_windows: counter(
                &r,
                "roadpulse_detection_late_windows_total",
                "Final windows that reached detection after their window had been judged (not used).",
            ),
            build_info: gauge_vec(
                &r,
                "roadpulse_build_info",
                "Build information; value is always 1.",
                &["version"],
            ),
            ingest: IngestMetrics::new(&r),
            registry: r,
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for level in crate::domain::congestion::Level::ALL {
            m.segments_by_level
                .with_label_values(&[level.as_str()])
                .set(0);
        }
        for kind in crate::domain::event::InvalidKind::ALL {
            m.decode_errors
                .with_label_values(&[kind.as_str()])
                .inc_by(0);
        }
        for kind in KAFKA_ERROR_KINDS {
            m.kafka_errors.with_label_values(&[kind]).inc_by(0);
        }
        m
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The `kind`s of `roadpulse_kafka_errors_total` the Kafka adapter reports: librdkafka's
/// client error classes and the worker's own. Exported at 0 from the start, as the labelled
/// counters above are, so that `rate()` and the dashboard see the series before the first
/// error (a counter born at its first increment hides that increment from `rate()`).
pub const KAFKA_ERROR_KINDS: [&str; 8] = [
    "all_brokers_down",
    "transport",
    "authentication",
    "timeout",
    "other",
    "rebalance",
    "produce",
    "repartition",
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_error_counters_start_at_zero() {
        let text = Metrics::new().render();
        for kind in KAFKA_ERROR_KINDS {
            let line = format!("roadpulse_kafka_errors_total{{kind=\"{kind}\"}} 0");
            assert!(text.lines().any(|l| l == line), "{line} missing");
        }
    }
}
