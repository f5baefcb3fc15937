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
//! (embedded broker + generator + worker), [`telemetry`] (every metric and log line) and
//! [`http`] (/metrics, /healthz, /readyz).
//!
//! Data in besides Kafka producers: [`ingest`] (`roadpulse ingest`, `POST /v1/events`) validates
//! records with [`codec`] and the domain's rules and produces them to the raw topic.

pub mod app;
pub mod cli;
pub mod codec;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod kafka;
pub mod lab;
pub mod pipeline;
pub mod replay;
pub mod sim;
pub mod telemetry;
