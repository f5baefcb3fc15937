//! roadpulse: raw road-traffic events from Kafka in, per-segment congestion events out.
//!
//! How an event travels:
//! - [`kafka`] consumes input partitions (one [`domain::processor::Task`] per partition),
//!   hands each message's bytes to [`codec`], which decodes and validates them into a
//!   [`domain::event::RawEvent`] (poison messages go to the dead-letter topic instead);
//! - the task folds the event into its open windows ([`domain::window`],
//!   [`domain::aggregate`]) and, as stream time passes a window's end plus grace, turns it into
//!   a [`domain::output::CongestionEvent`] ([`domain::congestion`], [`domain::catalog`]);
//! - [`kafka`] encodes and produces those, then commits the input offsets the outputs cover,
//!   in one transaction with them under exactly once;
//! - final windows and reports, routed by corridor, feed incident detection
//!   ([`domain::incident`]), which emits `detected` / `updated` / `cleared` incident events:
//!   in memory in [`replay`], through the corridor repartition topic and a second stage of
//!   the same workers on Kafka ([`kafka::incidents`]);
//! - long-lived state (segment state, corridor state) is mirrored to compacted changelog
//!   topics in the same transaction and restored by a partition's next owner
//!   ([`kafka::changelog`]).
//!
//! Around that: [`config`] (file < env < flags), [`cli`] (subcommands), [`app`] (what each
//! subcommand does), [`pipeline`] (processor settings from config), [`replay`] (the same
//! tasks over a JSONL file: the reference output), [`sim`] (traffic generator, scenario
//! simulator, evaluator), [`lab`] (`simulate` and `evaluate` on files), [`demo`]
//! (embedded broker + scenario and background traffic + worker + viewer), [`telemetry`]
//! (every metric and log line) and [`http`] (/metrics, /healthz, /readyz).
//!
//! Data in besides Kafka producers: [`ingest`] (`roadpulse ingest`, `POST /v1/events`) validates
//! records with [`codec`] and the domain's rules and produces them to the raw topic;
//! [`sources`] (`roadpulse poll`) polls vendor and open-data feeds and publishes their readings
//! as raw events, once each, with its positions in the same transactions.

// Under `cargo fuzz` (`--cfg fuzzing`) the crate is only its pure parts and codecs: no
// librdkafka, tokio, HTTP or metrics (Cargo.toml leaves those dependencies out), so the fuzz
// targets build in a few minutes.
#[cfg(not(fuzzing))]
pub mod app;
#[cfg(not(fuzzing))]
pub mod cli;
pub mod codec;
pub mod config;
#[cfg(not(fuzzing))]
pub mod demo;
pub mod domain;
#[cfg(any(test, fuzzing))]
pub mod fuzzing;
#[cfg(not(fuzzing))]
pub mod http;
#[cfg(not(fuzzing))]
pub mod ingest;
/// The ingest endpoint's body splitting, for the fuzz targets.
#[cfg(fuzzing)]
pub mod ingest {
    #[path = "body.rs"]
    pub mod body;
}
#[cfg(not(fuzzing))]
pub mod kafka;
/// The Kafka adapter's pure formats, for the fuzz targets.
#[cfg(fuzzing)]
pub mod kafka {
    #[path = "checkpoint.rs"]
    pub mod checkpoint;
}
#[cfg(not(fuzzing))]
pub mod lab;
pub mod pipeline;
pub mod replay;
pub mod sim;
// Under `cargo fuzz` only its presets, locator and preparation (no HTTP, Kafka or metrics).
pub mod sources;
#[cfg(not(fuzzing))]
pub mod telemetry;
