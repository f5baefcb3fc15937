//! The HTTP face of a process: `/metrics` (Prometheus text), `/healthz` (alive) and `/readyz`
//! (ready for traffic). For the worker, ready means the group has assigned it its partitions;
//! `roadpulse ingest` serves the same three with its own reason for not being ready
//! ([`serve_with`]); for the poller, ready means no source has missed too many polls
//! ([`Status`] says which).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::kafka::Health;
use crate::telemetry::Metrics;

/// What a process's HTTP endpoints report.
pub trait Status: Send + Sync + 'static {
    fn metrics_text(&self) -> String;
    fn is_live(&self) -> bool;
    /// `Err` with one line saying why not (`/readyz` answers `not ready: <why>`).
    fn readiness(&self) -> Result<(), String>;
}

/// A worker or the ingest endpoint: its metrics, and its [`Health`] as readiness.
struct Worker {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    /// Why not, while not ready.
    not_ready: &'static str,
}

impl Status for Worker {
    fn metrics_text(&self) -> String {
        self.metrics.render()
    }
    fn is_live(&self) -> bool {
        self.health.is_live()
    }
    fn readiness(&self) -> Result<(), String> {
        if self.health.is_ready() {
            Ok(())
        } else {
            Err(self.not_ready.into())
        }
    }
}

type AppState = Arc<dyn Status>;

/// The worker's reason for not being ready.
pub const NOT_ASSIGNED: &str = "no partition assignment yet";

/// The endpoints of a process whose readiness is its [`Health`]; `not_ready` says why not.
pub fn health_status(
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    not_ready: &'static str,
) -> Arc<dyn Status> {
    Arc::new(Worker {
        metrics,
        health,
        not_ready,
    })
}

pub fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    status_router(health_status(metrics, health, NOT_ASSIGNED))
}

pub fn status_router(status: Arc<dyn Status>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(status)
}

async fn metrics_text(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics_text(),
    )
}

async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    if s.is_live() {
        (StatusCode::OK, "ok\n".to_string())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n".to_string())
    }
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    match s.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// Binds `listen` and serves the worker's endpoints until `stop` resolves. Returns the bound
/// address.
pub async fn serve(
    listen: &str,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    serve_with(listen, metrics, health, NOT_ASSIGNED, stop).await
}

/// [`serve`] with another process's reason for not being ready.
pub async fn serve_with(
    listen: &str,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    not_ready: &'static str,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    serve_status(listen, health_status(metrics, health, not_ready), stop).await
}

/// Binds `listen` and serves `status` until `stop` resolves.
pub async fn serve_status(
    listen: &str,
    status: Arc<dyn Status>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = status_router(status);
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!("http server failed: {e}");
        }
    });
    Ok((addr, handle))
}
