//! What a preset makes of a vendor's response: readings, each with its identity (where and
//! when the vendor measured), how to find its road segment, and what it says. The runner turns
//! them into raw events of the contract; presets never see Kafka.

use crate::domain::event::{EpochMillis, RawEventFields};

/// A WGS 84 point, degrees; `heading` clockwise from north when the vendor gives one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
    pub heading: Option<f64>,
}

impl Point {
    pub fn new(lat: f64, lon: f64) -> Point {
        Point {
            lat,
            lon,
            heading: None,
        }
    }

    /// `"lat,lon"` with 6 decimals (about 0.1 m): a stable location key.
    pub fn key(&self) -> String {
        format!("{:.6},{:.6}", self.lat, self.lon)
    }
}

/// One reading of a vendor.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Where the vendor measured, as the vendor names it (a point, an OpenLR code, a site and
    /// lane, a vehicle, an incident): with `ts`, the reading's identity.
    pub location: String,
    /// The vendor's time of the reading.
    pub ts: EpochMillis,
    /// Keys to look up in the source's mapping file, in order.
    pub keys: Vec<String>,
    /// Where to snap when no key is mapped: one point, or the points of a line.
    pub points: Vec<Point>,
    /// A line reading (an incident over several segments) becomes one event per segment it
    /// covers; otherwise only the segment of its first point counts.
    pub spread: bool,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A vendor's speed over its segment (TomTom, HERE, generic).
    Flow {
        speed_kph: Option<f64>,
        free_flow_kph: Option<f64>,
        confidence: Option<f64>,
        closed: bool,
    },
    /// A loop or count station (NDW).
    Detector {
        detector_id: Option<String>,
        lane: Option<i64>,
        interval_s: i64,
        volume: i64,
        occupancy: Option<f64>,
        speed_kph: Option<f64>,
    },
    /// One vehicle's position and speed (GTFS-Realtime).
    Probe { speed_kph: f64, vehicle_id: String },
    /// An incident report.
    Report {
        report_id: String,
        category: &'static str,
        severity: Option<String>,
    },
}

impl Reading {
    /// The raw-event fields of this reading on `segment_id`, for the domain's validation.
    pub fn fields<'a>(&'a self, segment_id: &'a str) -> RawEventFields<'a> {
        let mut f = RawEventFields {
            segment_id: Some(segment_id),
            ts: Some(self.ts),
            ..RawEventFields::default()
        };
        match &self.body {
            Body::Flow {
                speed_kph,
                free_flow_kph,
                confidence,
                closed,
            } => {
                f.kind = Some("flow");
                f.speed_kph = *speed_kph;
                f.free_flow_kph = *free_flow_kph;
                f.confidence = *confidence;
                f.closed = Some(*closed);
            }
            Body::Detector {
                detector_id,
                lane,
                interval_s,
                volume,
                occupancy,
                speed_kph,
            } => {
                f.kind = Some("detector");
                f.detector_id = detector_id.as_deref();
                f.lane = *lane;
                f.interval_s = Some(*interval_s);
                f.volume = Some(*volume);
                f.occupancy = *occupancy;
                f.speed_kph = *speed_kph;
            }
            Body::Probe {
                speed_kph,
                vehicle_id,
            } => {
                f.kind = Some("probe");
                f.speed_kph = Some(*speed_kph);
                f.vehicle_id = Some(vehicle_id);
            }
            Body::Report {
                report_id,
                category,
                severity,
            } => {
                f.kind = Some("report");
                f.report_id = Some(report_id);
                f.category = Some(category);
                f.severity = severity.as_deref();
            }
        }
        f
    }

    pub fn severity(&self) -> Option<&str> {
        match &self.body {
            Body::Report { severity, .. } => severity.as_deref(),
            _ => None,
        }
    }
}

/// A response that could not be read: counted, logged with a short sample, retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
}

impl ParseError {
    pub fn new(message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
        }
    }
}

/// A JSON answer read as `T`; `what` names the answer in the error ("not {what}: …").
pub fn json_answer<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, ParseError> {
    serde_json::from_slice(body).map_err(|e| ParseError::new(format!("not {what}: {e}")))
}

/// Kilometres per hour in one metre per second.
pub const KPH_PER_MPS: f64 = 3.6;
/// Kilometres per hour in one mile per hour.
pub const KPH_PER_MPH: f64 = 1.609_344;

/// RFC 3339 text as epoch milliseconds.
pub fn rfc3339_ms(text: &str) -> Result<EpochMillis, ParseError> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as EpochMillis)
        .map_err(|e| ParseError::new(format!("timestamp {text:?} is not RFC 3339: {e}")))
}
