//! What a preset is, without its I/O: the requests of a poll, and the readings of each
//! answer (bytes in, readings out). Everything here is pure, so the fuzz targets drive the
//! very parsers `roadpulse poll` runs.

use std::time::SystemTime;

use super::reading::{ParseError, Reading};
use super::request::Request;
use super::{gtfs_rt, here_flow, here_incidents, json, ndw, tomtom_flow, tomtom_incidents};
use crate::config::{ConfigError, Preset, SourceConfig};

/// A preset: the requests of a poll, and the readings of each answer.
pub trait Feed: Send {
    /// The requests of the next poll, in order.
    fn requests(&mut self, now: SystemTime) -> Vec<Request>;
    /// The readings of one answer to `req`. `date` is the answer's `Date` header.
    fn parse(
        &mut self,
        req: &Request,
        body: &[u8],
        date: Option<SystemTime>,
    ) -> Result<Parsed, ParseError>;
}

/// What an answer held: readings, and those the preset already had to drop.
#[derive(Debug, Default)]
pub struct Parsed {
    pub readings: Vec<Reading>,
    pub dropped: Vec<(&'static str, u64)>,
}

impl Parsed {
    pub fn of(readings: Vec<Reading>) -> Parsed {
        Parsed {
            readings,
            dropped: Vec::new(),
        }
    }
}

/// What a bounding-box preset asks: the source's URL, for its `bbox` (the incident feeds and
/// HERE flow).
pub struct Area {
    pub url: String,
    pub bbox: String,
}

impl Area {
    pub fn of(cfg: &crate::config::SourceConfig) -> Area {
        Area {
            url: cfg.url().unwrap_or_default().to_string(),
            bbox: cfg.bbox.clone().unwrap_or_default(),
        }
    }
}

/// The time of an answer without one of its own: its `Date` header, else now.
pub fn answered_ms(date: Option<SystemTime>) -> i64 {
    ms(date.unwrap_or_else(SystemTime::now))
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    ms(SystemTime::now())
}

/// A time as epoch milliseconds.
pub fn ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// The preset's feed: what `roadpulse poll` runs, and what the fuzz targets drive.
pub fn feed(cfg: &SourceConfig, max_body: u64) -> Result<Box<dyn Feed>, ConfigError> {
    Ok(match cfg.preset {
        Preset::TomtomFlow => Box::new(tomtom_flow::TomtomFlow::new(cfg)),
        Preset::TomtomIncidents => Box::new(tomtom_incidents::TomtomIncidents::new(cfg)),
        Preset::HereFlow => Box::new(here_flow::HereFlow::new(cfg)),
        Preset::HereIncidents => Box::new(here_incidents::HereIncidents::new(cfg)),
        Preset::Ndw => Box::new(ndw::Ndw::new(cfg, max_body)),
        Preset::GtfsRt => Box::new(gtfs_rt::GtfsRt::new(cfg)),
        Preset::Json => Box::new(json::JsonFeed::new(cfg).ok_or_else(|| {
            ConfigError::invalid(
                &format!("sources.{}.json", cfg.name),
                "is required for this preset",
            )
        })?),
    })
}
