//! The worker's HTTP face: `/metrics` (Prometheus text), `/healthz` (the process and its
//! consumer are alive) and `/readyz` (the group has assigned this worker its partitions).
//! `roadpulse ingest` serves the same three with its own meaning of ready ([`serve_with`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::kafka::Health;
use crate::telemetry::Metrics;

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    /// The /readyz body while not ready.
    not_ready: &'static str,
}

/// The worker's not-ready answer.
pub const NOT_ASSIGNED: &str = "not ready: no partition assignment yet\n";

pub fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    router_with(metrics, health, NOT_ASSIGNED)
}

/// The same endpoints with another process's reason for not being ready.
pub fn router_with(metrics: Arc<Metrics>, health: Arc<Health>, not_ready: &'static str) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState {
            metrics,
            health,
            not_ready,
        })
}

async fn metrics_text(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

fn status(ok: bool, yes: &'static str, no: &'static str) -> (StatusCode, &'static str) {
    if ok {
        (StatusCode::OK, yes)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, no)
    }
}

async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    status(s.health.is_live(), "ok\n", "starting\n")
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    status(s.health.is_ready(), "ready\n", s.not_ready)
}

/// Binds `listen` and serves until `stop` resolves. Returns the bound address.
pub async fn serve(
    listen: &str,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    serve_with(listen, metrics, health, NOT_ASSIGNED, stop).await
}

/// [`serve`] with another process's not-ready answer.
pub async fn serve_with(
    listen: &str,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    not_ready: &'static str,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = router_with(metrics, health, not_ready);
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
