//! Raw traffic events as the domain sees them, and their validation.
//!
//! A codec (JSON or Avro) turns bytes into a [`RawEventFields`] of borrowed values; this
//! module owns the rules that make one a valid [`RawEvent`] (required fields, ranges, units).
//! It never touches bytes, clocks or I/O, so the same rules hold for every input format.

use std::fmt;

/// Milliseconds since the Unix epoch (UTC). Event time, stream time and window bounds use it.
pub type EpochMillis = i64;

/// A typed reason why an input record is not a valid event. The kinds form a small fixed set:
/// they label metrics and DLQ headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEvent {
    pub kind: InvalidKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidKind {
    /// Not parseable in the topic's format at all (bad JSON, bad UTF-8, not an object).
    Malformed,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong type or an out-of-range value.
    InvalidValue,
    /// `type` is not one of probe, detector, report.
    UnknownType,
    /// `ts` is neither epoch milliseconds nor an RFC 3339 timestamp, or is before 1970.
    InvalidTimestamp,
    /// Avro: the writer schema id is unknown, or its schema cannot be read as ours.
    Schema,
    /// A new segment while the worker holds `limits.max_segments` (see `domain::limits`).
    OverCapacity,
}

impl InvalidKind {
    pub const ALL: [InvalidKind; 7] = [
        InvalidKind::Malformed,
        InvalidKind::MissingField,
        InvalidKind::InvalidValue,
        InvalidKind::UnknownType,
        InvalidKind::InvalidTimestamp,
        InvalidKind::Schema,
        InvalidKind::OverCapacity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InvalidKind::Malformed => "malformed",
            InvalidKind::MissingField => "missing_field",
            InvalidKind::InvalidValue => "invalid_value",
            InvalidKind::UnknownType => "unknown_type",
            InvalidKind::InvalidTimestamp => "invalid_timestamp",
            InvalidKind::Schema => "schema",
            InvalidKind::OverCapacity => "over_capacity",
        }
    }
}

impl InvalidEvent {
    pub fn new(kind: InvalidKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for InvalidEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for InvalidEvent {}

/// The fields a codec extracted, not yet validated. Strings borrow from the input buffer so
/// decoding allocates nothing for the common case.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RawEventFields<'a> {
    pub kind: Option<&'a str>,
    pub segment_id: Option<&'a str>,
    pub ts: Option<EpochMillis>,
    pub speed_kph: Option<f64>,
    pub vehicle_id: Option<&'a str>,
    pub source: Option<&'a str>,
    pub offset_m: Option<f64>,
    pub detector_id: Option<&'a str>,
    pub lane: Option<i64>,
    pub interval_s: Option<i64>,
    pub volume: Option<i64>,
    pub occupancy: Option<f64>,
    pub report_id: Option<&'a str>,
    pub category: Option<&'a str>,
    pub severity: Option<&'a str>,
}

/// A validated raw event. Borrowed from the input; the processor copies only what it keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent<'a> {
    pub segment_id: &'a str,
    pub ts: EpochMillis,
    pub body: EventBody<'a>,
}

impl<'a> RawEvent<'a> {
    /// A probe ping without source or position (tests, benchmarks, fuzzing).
    pub fn probe(segment_id: &'a str, ts: EpochMillis, speed_kph: f64, vehicle: &'a str) -> Self {
        RawEvent {
            segment_id,
            ts,
            body: EventBody::Probe {
                speed_kph,
                vehicle_id: Some(vehicle),
                source: None,
                offset_m: None,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventBody<'a> {
    Probe {
        speed_kph: f64,
        vehicle_id: Option<&'a str>,
        /// The producing system; decides how the pings were sampled (see `sampling`).
        source: Option<&'a str>,
        /// Position along the segment, metres from its upstream end (map-matched).
        offset_m: Option<f64>,
    },
    Detector(DetectorReading<'a>),
    Report {
        report_id: Option<&'a str>,
        category: ReportCategory,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct DetectorReading<'a> {
    pub detector_id: Option<&'a str>,
    pub lane: Option<i64>,
    /// Length of the counting interval; 30 s when the producer does not say.
    pub interval_s: u32,
    pub volume: u32,
    pub occupancy: f64,
    pub speed_kph: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportCategory {
    Accident,
    Breakdown,
    Roadworks,
    Hazard,
    Closure,
    Congestion,
    Other,
}

impl ReportCategory {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "accident" => Self::Accident,
            "breakdown" => Self::Breakdown,
            "roadworks" => Self::Roadworks,
            "hazard" => Self::Hazard,
            "closure" => Self::Closure,
            "congestion" => Self::Congestion,
            "other" => Self::Other,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accident => "accident",
            Self::Breakdown => "breakdown",
            Self::Roadworks => "roadworks",
            Self::Hazard => "hazard",
            Self::Closure => "closure",
            Self::Congestion => "congestion",
            Self::Other => "other",
        }
    }
}

/// Highest speed we accept as a measurement; anything above is a sensor or unit error.
pub const MAX_SPEED_KPH: f64 = 400.0;
/// Default detector counting interval (docs/architecture.md §3).
pub const DEFAULT_INTERVAL_S: u32 = 30;

fn missing(field: &str) -> InvalidEvent {
    InvalidEvent::new(
        InvalidKind::MissingField,
        format!("required field `{field}` is missing"),
    )
}

fn invalid(field: &str, why: impl fmt::Display) -> InvalidEvent {
    InvalidEvent::new(InvalidKind::InvalidValue, format!("field `{field}` {why}"))
}

fn speed(field: &str, v: f64) -> Result<f64, InvalidEvent> {
    if v.is_finite() && (0.0..=MAX_SPEED_KPH).contains(&v) {
        Ok(v)
    } else {
        Err(invalid(
            field,
            format_args!("must be a speed in 0..={MAX_SPEED_KPH} km/h, got {v}"),
        ))
    }
}

/// Longest segment position accepted, in metres.
pub const MAX_OFFSET_M: f64 = 1_000_000.0;

fn offset(v: f64) -> Result<f64, InvalidEvent> {
    if v.is_finite() && (0.0..=MAX_OFFSET_M).contains(&v) {
        Ok(v)
    } else {
        Err(invalid(
            "offset_m",
            format_args!("must be a position in 0..={MAX_OFFSET_M} m, got {v}"),
        ))
    }
}

impl<'a> RawEventFields<'a> {
    /// Applies the contract of docs/architecture.md §3.
    pub fn validate(&self) -> Result<RawEvent<'a>, InvalidEvent> {
        let kind = self.kind.ok_or_else(|| missing("type"))?;
        let segment_id = self.segment_id.ok_or_else(|| missing("segment_id"))?;
        if segment_id.is_empty() {
            return Err(invalid("segment_id", "must not be empty"));
        }
        let ts = self.ts.ok_or_else(|| missing("ts"))?;
        if ts < 0 {
            return Err(InvalidEvent::new(
                InvalidKind::InvalidTimestamp,
                format!("`ts` {ts} is before 1970-01-01"),
            ));
        }
        let body = match kind {
            "probe" => self.probe()?,
            "detector" => EventBody::Detector(self.detector()?),
            "report" => self.report()?,
            other => {
                return Err(InvalidEvent::new(
                    InvalidKind::UnknownType,
                    format!("`type` must be probe, detector or report, got {other:?}"),
                ))
            }
        };
        Ok(RawEvent {
            segment_id,
            ts,
            body,
        })
    }

    fn probe(&self) -> Result<EventBody<'a>, InvalidEvent> {
        let v = self.speed_kph.ok_or_else(|| missing("speed_kph"))?;
        let offset_m = self.offset_m.map(offset).transpose()?;
        Ok(EventBody::Probe {
            speed_kph: speed("speed_kph", v)?,
            vehicle_id: self.vehicle_id,
            source: self.source,
            offset_m,
        })
    }

    fn detector(&self) -> Result<DetectorReading<'a>, InvalidEvent> {
        let volume = self.volume.ok_or_else(|| missing("volume"))?;
        let volume = u32::try_from(volume)
            .map_err(|_| invalid("volume", format_args!("must be a count ≥ 0, got {volume}")))?;
        let occupancy = self.occupancy.ok_or_else(|| missing("occupancy"))?;
        if !(occupancy.is_finite() && (0.0..=1.0).contains(&occupancy)) {
            return Err(invalid(
                "occupancy",
                format_args!("must be in [0, 1], got {occupancy}"),
            ));
        }
        let interval = self.interval_s.unwrap_or(i64::from(DEFAULT_INTERVAL_S));
        let interval_s = u32::try_from(interval)
            .ok()
            .filter(|s| (1..=3600).contains(s))
            .ok_or_else(|| {
                invalid(
                    "interval_s",
                    format_args!("must be 1..=3600, got {interval}"),
                )
            })?;
        let speed_kph = self.speed_kph.map(|v| speed("speed_kph", v)).transpose()?;
        Ok(DetectorReading {
            detector_id: self.detector_id,
            lane: self.lane,
            interval_s,
            volume,
            occupancy,
            speed_kph,
        })
    }

    fn report(&self) -> Result<EventBody<'a>, InvalidEvent> {
        let category = match self.category {
            None => ReportCategory::Other,
            Some(c) => ReportCategory::parse(c).ok_or_else(|| {
                invalid(
                    "category",
                    format_args!("is not a known report category: {c:?}"),
                )
            })?,
        };
        Ok(EventBody::Report {
            report_id: self.report_id,
            category,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(speed: f64) -> RawEventFields<'static> {
        RawEventFields {
            kind: Some("probe"),
            segment_id: Some("s1"),
            ts: Some(1_000),
            speed_kph: Some(speed),
            ..Default::default()
        }
    }

    #[test]
    fn valid_probe() {
        let e = probe(42.0).validate().unwrap();
        assert_eq!(e.segment_id, "s1");
        assert_eq!(
            e.body,
            EventBody::Probe {
                speed_kph: 42.0,
                vehicle_id: None,
                source: None,
                offset_m: None,
            }
        );
        let bad_offset = RawEventFields {
            offset_m: Some(-3.0),
            ..probe(1.0)
        };
        assert_eq!(
            bad_offset.validate().unwrap_err().kind,
            InvalidKind::InvalidValue
        );
    }

    #[test]
    fn errors_have_kinds() {
        let kind = |f: RawEventFields| f.validate().unwrap_err().kind;
        assert_eq!(kind(probe(-1.0)), InvalidKind::InvalidValue);
        assert_eq!(kind(probe(f64::NAN)), InvalidKind::InvalidValue);
        assert_eq!(
            kind(RawEventFields {
                speed_kph: None,
                ..probe(1.0)
            }),
            InvalidKind::MissingField
        );
        assert_eq!(
            kind(RawEventFields {
                ts: Some(-5),
                ..probe(1.0)
            }),
            InvalidKind::InvalidTimestamp
        );
        assert_eq!(
            kind(RawEventFields {
                kind: Some("car"),
                ..probe(1.0)
            }),
            InvalidKind::UnknownType
        );
        assert_eq!(
            kind(RawEventFields {
                segment_id: Some(""),
                ..probe(1.0)
            }),
            InvalidKind::InvalidValue
        );
    }

    #[test]
    fn detector_defaults_and_ranges() {
        let f = RawEventFields {
            kind: Some("detector"),
            segment_id: Some("s"),
            ts: Some(0),
            volume: Some(10),
            occupancy: Some(0.2),
            ..Default::default()
        };
        match f.validate().unwrap().body {
            EventBody::Detector(d) => assert_eq!(d.interval_s, DEFAULT_INTERVAL_S),
            other => panic!("not a detector: {other:?}"),
        }
        let bad_occ = RawEventFields {
            occupancy: Some(1.5),
            ..f.clone()
        };
        assert_eq!(
            bad_occ.validate().unwrap_err().kind,
            InvalidKind::InvalidValue
        );
        let bad_vol = RawEventFields {
            volume: Some(-1),
            ..f
        };
        assert_eq!(
            bad_vol.validate().unwrap_err().kind,
            InvalidKind::InvalidValue
        );
    }
}
