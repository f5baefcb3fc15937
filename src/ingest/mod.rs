//! HTTP ingest: `roadpulse ingest` serves `POST /v1/events` and writes the records it accepts
//! to the raw topic, keyed by `segment_id` (murmur2, like every roadpulse producer), answering
//! each record only once Kafka acknowledged it (acks=all, idempotent producer).
//!
//! A process of its own, not a route of the worker: it scales with HTTP traffic rather than
//! with partitions, an ingest flood cannot starve a worker's consumer loop (nor a worker's
//! rebalance or fencing stall the HTTP clients), and the worker's transactional producer stays
//! out of it: an ingest record must be acknowledged on its own, not held until a worker's
//! next commit, and never voided by a worker's aborted transaction. That is also what a user
//! of Confluent's REST Proxy or a Kafka Connect HTTP source expects: a stateless front door
//! with its own replicas.
//!
//! The pieces: [`body`] (media types, splitting a body into records), [`validate`] (the
//! worker's codec and validation), [`admission`] (the in-flight budget: backpressure),
//! [`produce`] (the producer and Kafka's acknowledgements), [`auth`] (bearer tokens),
//! [`tls`] (optional HTTPS), [`answer`] (per-record results and status codes), [`handler`]
//! (the request, step by step). It depends on the domain, the codec, the config and the
//! Kafka client settings, never on the worker.

mod admission;
pub mod answer;
mod auth;
pub mod body;
mod handler;
mod produce;
mod tls;
mod validate;

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, ConfigError};
use crate::domain::event::InvalidKind;
use crate::kafka::Health;
use crate::telemetry::Metrics;

/// How often the tokens file is checked for changes.
const TOKENS_RELOAD: Duration = Duration::from_secs(5);
/// How long start-up waits for the broker to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why `roadpulse ingest` stopped.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create the Kafka producer: {0}")]
    Client(String),
    #[error("cannot reach Kafka: {0}")]
    Unreachable(String),
    #[error("the ingest topic `{0}` does not exist: create it, or set ingest.topic")]
    Topic(String),
}

impl IngestError {
    /// 78 for bad configuration, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            IngestError::Config(_) => 78,
            _ => 1,
        }
    }
}

/// Serves until `stop` resolves; then turns not-ready, takes no new connection, answers every
/// request in flight (within `kafka.shutdown_timeout`) and flushes the producer.
pub async fn run(
    config: &Config,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: impl Future<Output = ()>,
) -> Result<(), IngestError> {
    health.set_live(true);
    let ic = &config.ingest;
    let tls = match (&ic.tls_cert, &ic.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        _ => None,
    };
    let state = Arc::new(build(config, metrics, health).await?);
    let listener = tokio::net::TcpListener::bind(&ic.listen)
        .await
        .map_err(|e| {
            ConfigError::invalid(
                "ingest.listen",
                format!("cannot listen on {}: {e}", ic.listen),
            )
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| IngestError::Client(e.to_string()))?;
    let reload = spawn_tokens_reload(state.tokens.clone());
    let watch = state.sender.spawn_watch();
    let app = handler::router(Arc::clone(&state));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let graceful = async move {
        let _ = stop_rx.await;
    };
    let server = match tls {
        Some(tls) => {
            let listener = tls::TlsListener::new(listener, tls)
                .map_err(|e| IngestError::Client(e.to_string()))?;
            tokio::spawn(
                axum::serve(listener, app)
                    .with_graceful_shutdown(graceful)
                    .into_future(),
            )
        }
        None => tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(graceful)
                .into_future(),
        ),
    };
    tracing::info!(%addr, topic = %state.topic, tls = ic.tls_cert.is_some(), "serving POST /v1/events");
    stop.await;
    tracing::info!("ingest stopping: answering the requests in flight");
    state.readiness.stop();
    let _ = stop_tx.send(());
    let deadline = Instant::now() + config.kafka.shutdown_timeout.std();
    match tokio::time::timeout_at(deadline.into(), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!("ingest server failed: {e}"),
        Ok(Err(e)) => tracing::warn!("ingest server task failed: {e}"),
        Err(_) => tracing::warn!("requests still in flight after kafka.shutdown_timeout"),
    }
    reload.abort();
    watch.abort();
    let left = deadline.saturating_duration_since(Instant::now());
    let flushed = tokio::task::spawn_blocking(move || state.sender.flush(left))
        .await
        .unwrap_or(false);
    tracing::info!(flushed, "ingest stopped");
    Ok(())
}

/// The shared state, once the ingest topic answered.
async fn build(
    config: &Config,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> Result<handler::Ingest, IngestError> {
    let ic = &config.ingest;
    let topic = ic.topic(&config.kafka).to_string();
    let tokens = auth::Tokens::load(ic)?.map(Arc::new);
    let validator = validate::Validator::for_topic(config, &topic)?;
    let readiness = Arc::new(produce::Readiness::new(health));
    let sender = produce::Sender::start(config, Arc::clone(&metrics), Arc::clone(&readiness))?;
    let partitions = sender.wait_for_topic(CONNECT_TIMEOUT).await?;
    tracing::info!(topic, partitions, "ingest topic found");
    let mut kinds: Vec<&str> = InvalidKind::ALL.iter().map(|k| k.as_str()).collect();
    kinds.push("too_large");
    metrics.ingest.init_labels(&kinds);
    Ok(handler::Ingest {
        sender,
        validator,
        tokens,
        admission: admission::Admission::new(ic.max_in_flight_bytes, Arc::clone(&metrics)),
        readiness,
        metrics,
        topic_format: config.formats.input_format(&topic),
        topic,
        max_body_bytes: ic.max_body_bytes,
        read_timeout: ic.ack_timeout.std(),
        retry_after_secs: ic.retry_after_secs(),
    })
}

fn spawn_tokens_reload(tokens: Option<Arc<auth::Tokens>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(tokens) = tokens else { return };
        let mut every = tokio::time::interval(TOKENS_RELOAD);
        loop {
            every.tick().await;
            let t = Arc::clone(&tokens);
            let _ = tokio::task::spawn_blocking(move || t.reload_if_changed()).await;
        }
    })
}
