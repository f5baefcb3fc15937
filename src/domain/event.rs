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
    /// `over_capacity`: the config key of the limit that refused it (`limits.max_segments`…).
    pub limit: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidKind {
    /// Not parseable in the topic's format at all (bad JSON, bad UTF-8, not an object).
    Malformed,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong type or an out-of-range value.
    InvalidValue,
    /// `type` is not one of probe, detector, report, flow.
    UnknownType,
    /// `ts` is neither epoch milliseconds nor an RFC 3339 timestamp, or is before 1970.
    InvalidTimestamp,
    /// Avro: the writer schema id is unknown, or its schema cannot be read as ours.
    Schema,
    /// A new segment while the worker holds `limits.max_segments`, or a record that would open
    /// more windows than `limits.max_open_windows` allows (see `domain::limits`).
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
            limit: None,
        }
    }

    /// The same, refused by the limit `key` sets.
    pub fn at_limit(mut self, key: &'static str) -> Self {
        self.limit = Some(key);
        self
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
    /// Avro: the type when `type` (an enum version 1 cannot extend) names a stand-in; see
    /// [`RawEventFields::effective_kind`].
    pub event_type: Option<&'a str>,
    pub free_flow_kph: Option<f64>,
    pub confidence: Option<f64>,
    pub closed: Option<bool>,
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
    /// A vendor's aggregate over its own road segment (TomTom, HERE, generic feeds): not one
    /// vehicle's ping but a speed many vehicles made, with the vendor's confidence as weight.
    Flow(FlowReading),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowReading {
    /// The vendor's current speed; 0 when the road is closed.
    pub speed_kph: f64,
    pub free_flow_kph: Option<f64>,
    /// 0..1, 1 when the vendor does not say: the reading's weight in its window.
    pub confidence: f64,
    pub closed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DetectorReading<'a> {
    pub detector_id: Option<&'a str>,
    pub lane: Option<i64>,
    /// Length of the counting interval; 30 s when the producer does not say.
    pub interval_s: u32,
    pub volume: u32,
    /// Required unless the detector measured a speed (count-and-speed stations such as NDW's
    /// report no occupancy).
    pub occupancy: Option<f64>,
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

/// The value `event_type` takes when a writer's symbol is unknown to us: use `type` then.
pub const UNKNOWN_EVENT_TYPE: &str = "unknown";

fn fraction(field: &str, v: f64) -> Result<f64, InvalidEvent> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(invalid(field, format_args!("must be in [0, 1], got {v}")))
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
    /// The event's type: `event_type` when set (and not `unknown`), else `type`.
    pub fn effective_kind(&self) -> Option<&'a str> {
        self.event_type
            .filter(|t| *t != UNKNOWN_EVENT_TYPE)
            .or(self.kind)
    }

    /// Applies the raw-event contract (README, "Input: raw event"; docs/architecture.md §3).
    pub fn validate(&self) -> Result<RawEvent<'a>, InvalidEvent> {
        let kind = self.effective_kind().ok_or_else(|| missing("type"))?;
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
            "flow" => EventBody::Flow(self.flow()?),
            other => {
                return Err(InvalidEvent::new(
                    InvalidKind::UnknownType,
                    format!("`type` must be probe, detector, report or flow, got {other:?}"),
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
        let speed_kph = self.speed_kph.map(|v| speed("speed_kph", v)).transpose()?;
        let occupancy = match (self.occupancy, speed_kph) {
            (Some(o), _) => Some(fraction("occupancy", o)?),
            (None, Some(_)) => None,
            (None, None) => return Err(missing("occupancy")),
        };
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
        Ok(DetectorReading {
            detector_id: self.detector_id,
            lane: self.lane,
            interval_s,
            volume,
            occupancy,
            speed_kph,
        })
    }

    fn flow(&self) -> Result<FlowReading, InvalidEvent> {
        let closed = self.closed.unwrap_or(false);
        let speed_kph = match self.speed_kph {
            Some(v) => speed("speed_kph", v)?,
            None if closed => 0.0,
            None => return Err(missing("speed_kph")),
        };
        let free_flow_kph = match self.free_flow_kph {
            Some(v) if v > 0.0 => Some(speed("free_flow_kph", v)?),
            Some(v) => {
                return Err(invalid(
                    "free_flow_kph",
                    format_args!("must be > 0, got {v}"),
                ))
            }
            None => None,
        };
        let confidence = self
            .confidence
            .map(|c| fraction("confidence", c))
            .transpose()?
            .unwrap_or(1.0);
        Ok(FlowReading {
            speed_kph: if closed { 0.0 } else { speed_kph },
            free_flow_kph,
            confidence,
            closed,
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
mod tests;
