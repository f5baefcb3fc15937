//! `roadpulse poll` set up: keys, mapping files and the catalogue checked (a problem is a
//! configuration error, exit 78, naming its key), topics ensured, one transactional producer
//! per source (fencing any predecessor), the positions read back, then one thread per
//! source. The HTTP server (/metrics, /healthz, /readyz) is the worker's, with the poller's
//! metrics and readiness.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::fetch::{resolve_key, Fetcher};
use super::locate::{parse_mapping, Locator};
use super::positions::Positions;
use super::publish::Publisher;
use super::runner::Runner;
use super::schedule::Schedule;
use super::{feed, topics, Health, Shared};
use crate::config::{Config, ConfigError, Format, SourceConfig};
use crate::domain::catalog::Catalog;
use crate::telemetry::poll::PollMetrics;

/// Why the poller stops.
#[derive(Debug, thiserror::Error)]
pub enum PollFailure {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Runtime(String),
}

/// What each source needs before Kafka is touched; every problem is a config error.
struct Prepared {
    cfg: SourceConfig,
    key: Option<String>,
    locator: Locator,
    topic: String,
}

fn prepare(config: &Config, catalog: &Catalog) -> Result<Vec<Prepared>, ConfigError> {
    if config.sources.is_empty() {
        return Err(ConfigError::invalid(
            "sources",
            "roadpulse poll needs at least one [[sources]] entry",
        ));
    }
    let mut out = Vec::new();
    for s in &config.sources {
        let key_of = |k: &str| format!("sources.{}.{k}", s.name);
        let topic = s.topic(&config.kafka).to_string();
        if config.formats.input_format(&topic) == Format::Avro {
            return Err(ConfigError::invalid(
                &key_of("topic"),
                format!(
                    "{topic} is an Avro topic in [formats]; the poller writes the JSON form only"
                ),
            ));
        }
        let key = resolve_key(s, |v| std::env::var(v).ok()).map_err(|m| {
            ConfigError::invalid(
                &key_of(if s.api_key_file.is_some() {
                    "api_key_file"
                } else {
                    "api_key_env"
                }),
                m,
            )
        })?;
        let mapping = match &s.mapping {
            None => HashMap::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::invalid(
                        &key_of("mapping"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                parse_mapping(&text).map_err(|m| {
                    ConfigError::invalid(&key_of("mapping"), format!("{}: {m}", path.display()))
                })?
            }
        };
        let locator = Locator::new(mapping, catalog, s.snap_radius_m);
        tracing::info!(source = %s.name, snappable = locator.snappable(), "source located");
        out.push(Prepared {
            cfg: s.clone(),
            key,
            locator,
            topic,
        });
    }
    Ok(out)
}

/// The status the HTTP server reports.
pub struct PollStatus {
    pub metrics: Arc<PollMetrics>,
    pub health: Arc<Health>,
}

impl crate::http::Status for PollStatus {
    fn metrics_text(&self) -> String {
        self.metrics.render(super::now_ms())
    }
    fn is_live(&self) -> bool {
        true
    }
    fn readiness(&self) -> Result<(), String> {
        self.health.readiness()
    }
}

/// Checks the config (catalogue, mappings, keys) without touching Kafka.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    let catalog = crate::pipeline::load_catalog(config)?;
    prepare(config, &catalog).map(drop)
}

/// Sets up every source and runs them until `stop` (or until one is fenced: `Err`).
/// Blocking: call it on a thread of its own.
pub fn run(config: &Config, shared: Shared) -> Result<(), PollFailure> {
    let catalog = crate::pipeline::load_catalog(config)?;
    let prepared = prepare(config, &catalog)?;
    let k = &config.kafka;
    let poll = &config.poll;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PollFailure::Runtime(e.to_string()))?;
    let raw: Vec<&str> = prepared.iter().map(|p| p.topic.as_str()).collect();
    rt.block_on(topics::ensure(k, &raw, &poll.positions_topic))
        .map_err(PollFailure::Runtime)?;
    // Fence every predecessor before reading the positions: its open transactions are then
    // aborted, and what remains is exactly what was committed.
    let mut publishers = Vec::new();
    for p in &prepared {
        publishers.push(
            Publisher::new(k, &format!("{}-{}", poll.id, p.cfg.name))
                .map_err(PollFailure::Runtime)?,
        );
    }
    let mut positions =
        topics::load(k, &poll.positions_topic, &poll.id).map_err(PollFailure::Runtime)?;
    let mut threads = Vec::new();
    for (p, publisher) in prepared.into_iter().zip(publishers) {
        let pos: Positions = positions.remove(&p.cfg.name).unwrap_or_default();
        shared
            .metrics
            .restored(&p.cfg.name, pos.len(), pos.newest());
        tracing::info!(source = %p.cfg.name, positions = pos.len(), "positions read back");
        let seed = super::ms(SystemTime::now()) as u64
            ^ crate::domain::aggregate::fnv1a_32(p.cfg.name.as_bytes()) as u64;
        let runner = Runner {
            feed: feed(&p.cfg, poll.max_body_bytes)?,
            fetcher: Fetcher::new(&p.cfg, p.key, poll.max_body_bytes),
            schedule: Schedule::new(
                p.cfg.interval.std(),
                p.cfg.jitter,
                poll.initial_backoff.std(),
                poll.max_backoff.std(),
                seed,
            ),
            topic: p.topic,
            poll_id: poll.id.clone(),
            positions_topic: poll.positions_topic.clone(),
            locator: p.locator,
            publisher,
            positions: pos,
            pending: Positions::default(),
            pending_validators: Vec::new(),
            pending_count: 0,
            txn_since: None,
            last_commit: std::time::Instant::now(),
            fence_check: poll.fence_check_interval.std(),
            shared: shared.clone(),
            cfg: p.cfg,
        };
        let name = runner.cfg.name.clone();
        let stop = shared.stop.clone();
        let handle = std::thread::Builder::new()
            .name(format!("source-{name}"))
            .spawn(move || {
                let r = runner.run();
                if r.is_err() {
                    stop.trigger(); // a fenced source stops the poller: its twin runs it
                }
                r
            })
            .map_err(|e| PollFailure::Runtime(format!("cannot start source {name}: {e}")))?;
        threads.push((name, handle));
    }
    shared.health.set_started();
    tracing::info!(sources = threads.len(), "polling");
    let mut failure = None;
    for (name, h) in threads {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failure = Some(format!("source {name} stopped: {why}")),
            Err(_) => failure = Some(format!("source {name} panicked")),
        }
    }
    match failure {
        Some(f) => Err(PollFailure::Runtime(f)),
        None => Ok(()),
    }
}
