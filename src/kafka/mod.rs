//! The Kafka adapter: a consumer group over the input topics (and, with incident detection
//! on, the detection repartition topic), one domain task per assigned partition, congestion
//! and incident events produced keyed by segment, poison records to the DLQ, state mirrored to
//! changelog topics.
//!
//! The loop runs on its own OS thread around a `BaseConsumer` (rebalance callbacks run inside
//! its `poll`, on that thread), so blocking calls such as flush, commit and restore never stall
//! the async runtime that serves HTTP.
//!
//! Modules import one way: [`worker`] (the loop) → `context` (callbacks) → `shared` (what
//! the two share, and the commit cycle) → `segments` (stage one, the input tasks) and
//! `detection` (stage two, the detection partitions), which know nothing of each other → `io`
//! (what both reach the outside through) → `commit` → `output` (the producer) →
//! [`changelog`], [`checkpoint`] → [`client`]; [`admin`] sets up the topics.

pub mod admin;
pub mod changelog;
pub mod checkpoint;
pub mod client;
mod commit;
mod context;
mod detection;
mod io;
mod output;
pub mod preflight;
mod segments;
mod shared;
pub mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Errors that stop the worker.
#[derive(Debug, thiserror::Error)]
pub enum KafkaFailure {
    #[error("cannot create Kafka client: {0}")]
    Client(String),
    #[error("cannot reach Kafka at {0}")]
    Unreachable(String),
    #[error("{0}")]
    Topic(String),
    #[error("cannot set up the topics' formats: {0}")]
    Codec(#[from] crate::codec::CodecSetupError),
    #[error("stopping: {0} (the record is read again after a restart)")]
    DecodeUnavailable(String),
    #[error("cannot subscribe: {0}")]
    Subscribe(String),
    #[error(
        "cannot start transactions (exactly_once needs a broker with transactions enabled): {0}"
    )]
    Transactions(String),
    #[error("stopping: {0}")]
    Fatal(String),
}

impl KafkaFailure {
    fn client(e: impl std::fmt::Display) -> Self {
        KafkaFailure::Client(e.to_string())
    }
}

/// A cancellation flag passed into the loop: set once, never cleared.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    pub fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Liveness and readiness as /healthz and /readyz report them.
#[derive(Debug, Default)]
pub struct Health {
    live: AtomicBool,
    ready: AtomicBool,
}

impl Health {
    pub fn set_live(&self, v: bool) {
        self.live.store(v, Ordering::SeqCst);
    }
    /// Ready once the group has given this worker its assignment.
    pub fn set_ready(&self, v: bool) {
        self.ready.store(v, Ordering::SeqCst);
    }
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}
