//! `roadpulse poll`: vendor and open-data feeds polled into the raw topic, each reading
//! published once, also across restarts and crashes.
//!
//! How a reading travels: a [`Feed`] (one file per preset: [`tomtom_flow`],
//! [`tomtom_incidents`], [`here_flow`], [`here_incidents`], [`ndw`], [`gtfs_rt`],
//! [`json`]) names the requests of a poll and parses each answer into [`reading::Reading`]s;
//! [`fetch`] makes the requests (timeouts, keys, conditional requests); [`locate`] finds each
//! reading's segment; [`prepare`] drops what was published before and validates the rest with
//! the domain's own rules; [`publish`] sends the raw events and their [`positions`] in one
//! Kafka transaction; [`runner`] loops with [`schedule`]'s intervals and backoff; [`poller`]
//! sets it all up, one thread per source.
//!
//! This module depends on the domain (the contract and its validation), the config, the
//! JSON codec and the Kafka client settings, never on the worker. The presets, [`feed`]
//! (the trait, and the preset's feed for a `[[sources]]` entry), [`request`], [`locate`],
//! [`positions`] and [`prepare`] do no I/O: fuzz builds (`--cfg fuzzing`) keep them and
//! leave the rest out, so the fuzz targets drive the very parsers the poller runs.

pub mod datex;
pub mod feed;
#[cfg(not(fuzzing))]
pub mod fetch;
pub mod gtfs_rt;
#[cfg(not(fuzzing))]
pub mod health;
pub mod here_flow;
pub mod here_incidents;
pub mod json;
pub mod locate;
pub mod ndw;
#[cfg(not(fuzzing))]
pub mod poller;
pub mod positions;
pub mod prepare;
#[cfg(not(fuzzing))]
pub mod publish;
pub mod reading;
pub mod request;
#[cfg(not(fuzzing))]
pub mod runner;
#[cfg(not(fuzzing))]
pub mod schedule;
pub mod tomtom_flow;
pub mod tomtom_incidents;
#[cfg(not(fuzzing))]
pub mod topics;

pub use feed::{answered_ms, feed, ms, now_ms, Area, Feed, Parsed};
#[cfg(not(fuzzing))]
pub use health::{Health, Shared, Stop};
