//! The metrics and log lines of `roadpulse poll`, one registry of its own (the poller serves
//! these, not the worker's). Labels: the source name (the configured feeds, a small fixed
//! set) and outcome or reason from the fixed sets below.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Request outcomes (`roadpulse_source_requests_total{outcome}`).
pub const OUTCOMES: [&str; 8] = [
    "ok",
    "not_modified",
    "throttled",
    "client_error",
    "server_error",
    "timeout",
    "transport",
    "unparsable",
];

/// Why a reading was not published (`roadpulse_source_readings_dropped_total{reason}`).
pub const DROP_REASONS: [&str; 6] = [
    "unmapped",
    "ambiguous",
    "seen",
    "invalid",
    "no_speed",
    "no_measurement",
];

pub struct PollMetrics {
    registry: Registry,
    requests: IntCounterVec,
    request_seconds: HistogramVec,
    published: IntCounterVec,
    dropped: IntCounterVec,
    transactions: IntCounterVec,
    newest_age: IntGaugeVec,
    up: IntGaugeVec,
    positions: IntGaugeVec,
    /// Vendor time of each source's newest published reading, epoch ms: the age gauge is
    /// computed from it when scraped, so it grows while a source publishes nothing.
    newest: Mutex<HashMap<String, i64>>,
}

fn register<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    r.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

impl PollMetrics {
    pub fn new(sources: &[&str]) -> PollMetrics {
        let r = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            register(
                &r,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        let gauge = |name: &str, help: &str| {
            register(
                &r,
                IntGaugeVec::new(Opts::new(name, help), &["source"]).expect("valid metric"),
            )
        };
        let m = PollMetrics {
            requests: counter(
                "roadpulse_source_requests_total",
                "Requests to a source, by outcome.",
                &["source", "outcome"],
            ),
            request_seconds: register(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "roadpulse_source_request_seconds",
                        "Time of one request, body included.",
                    )
                    .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
                    &["source"],
                )
                .expect("valid metric"),
            ),
            published: counter(
                "roadpulse_source_readings_published_total",
                "Readings published (committed with their positions).",
                &["source"],
            ),
            dropped: counter(
                "roadpulse_source_readings_dropped_total",
                "Readings not published, by reason.",
                &["source", "reason"],
            ),
            transactions: counter(
                "roadpulse_source_transactions_total",
                "Transactions of readings and positions, by outcome (committed, aborted).",
                &["source", "outcome"],
            ),
            newest_age: gauge(
                "roadpulse_source_newest_reading_age_seconds",
                "Wall-clock time since the vendor time of the newest reading published.",
            ),
            up: gauge(
                "roadpulse_source_up",
                "1 while the source has not missed poll.missed_polls polls in a row.",
            ),
            positions: gauge(
                "roadpulse_source_positions",
                "Locations with a position (published at least once).",
            ),
            newest: Mutex::new(HashMap::new()),
            registry: r,
        };
        let info = register(
            &m.registry,
            IntGaugeVec::new(
                Opts::new(
                    "roadpulse_build_info",
                    "Build information; value is always 1.",
                ),
                &["version"],
            )
            .expect("valid metric"),
        );
        info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for s in sources {
            for o in OUTCOMES {
                m.requests.with_label_values(&[s, o]).inc_by(0);
            }
            for d in DROP_REASONS {
                m.dropped.with_label_values(&[s, d]).inc_by(0);
            }
            for t in ["committed", "aborted"] {
                m.transactions.with_label_values(&[s, t]).inc_by(0);
            }
            m.published.with_label_values(&[s]).inc_by(0);
            m.up.with_label_values(&[s]).set(1);
        }
        m
    }

    /// A request finished with `outcome` after `seconds`.
    pub fn request(&self, source: &str, outcome: &'static str, seconds: f64) {
        self.requests.with_label_values(&[source, outcome]).inc();
        self.request_seconds
            .with_label_values(&[source])
            .observe(seconds);
    }

    pub fn dropped(&self, source: &str, reason: &'static str, n: u64) {
        if n > 0 {
            self.dropped.with_label_values(&[source, reason]).inc_by(n);
        }
    }

    /// A transaction committed `n` readings, the newest from vendor time `newest`.
    pub fn committed(&self, source: &str, n: u64, newest: Option<i64>, positions: usize) {
        self.transactions
            .with_label_values(&[source, "committed"])
            .inc();
        self.published.with_label_values(&[source]).inc_by(n);
        self.positions
            .with_label_values(&[source])
            .set(positions as i64);
        if let (Some(ts), Ok(mut map)) = (newest, self.newest.lock()) {
            let e = map.entry(source.to_string()).or_insert(ts);
            *e = (*e).max(ts);
        }
    }

    pub fn aborted(&self, source: &str) {
        self.transactions
            .with_label_values(&[source, "aborted"])
            .inc();
    }

    /// Positions read back at start.
    pub fn restored(&self, source: &str, positions: usize, newest: Option<i64>) {
        self.positions
            .with_label_values(&[source])
            .set(positions as i64);
        if let (Some(ts), Ok(mut map)) = (newest, self.newest.lock()) {
            map.insert(source.to_string(), ts);
        }
    }

    pub fn set_up(&self, source: &str, up: bool) {
        self.up.with_label_values(&[source]).set(i64::from(up));
    }

    /// The Prometheus text of every metric, ages computed now.
    pub fn render(&self, now_ms: i64) -> String {
        if let Ok(map) = self.newest.lock() {
            for (source, ts) in map.iter() {
                let age = ((now_ms - ts) / 1000).max(0);
                self.newest_age.with_label_values(&[source]).set(age);
            }
        }
        let mut buf = Vec::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// A response that does not parse: counted, logged with a short sample; the source retries.
pub fn unparsable(m: &PollMetrics, source: &str, url: &str, why: &str, sample: &str, seconds: f64) {
    m.request(source, "unparsable", seconds);
    tracing::warn!(
        source,
        url,
        sample,
        "response does not parse, retrying: {why}"
    );
}

/// A request failed (throttled, HTTP error, timeout, transport).
pub fn request_failed(
    m: &PollMetrics,
    source: &str,
    url: &str,
    outcome: &'static str,
    why: &str,
    seconds: f64,
) {
    m.request(source, outcome, seconds);
    tracing::warn!(source, url, outcome, "request failed: {why}");
}
