//! JSON form of the contracts (docs/architecture.md §3): raw events in, congestion events out.
//!
//! Decoding borrows strings from the input buffer (escaped strings are the only copies) and
//! ignores unknown fields. A wrong JSON type is an `invalid_value`, broken JSON is
//! `malformed`; the domain's validation decides everything else. Most events take the
//! one-pass fast path in [`scan`]; serde_json decides whatever it declines.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::domain::event::{EpochMillis, InvalidEvent, InvalidKind, RawEvent, RawEventFields};
use crate::domain::output::CongestionEvent;

mod encode;
mod scan;

pub use encode::{encode_raw, Provenance};

/// A raw event as JSON carries it. Call [`JsonEvent::fields`] and validate the result.
#[derive(Debug, Default, PartialEq, Deserialize)]
pub struct JsonEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    segment_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ts: Timestamp<'a>,
    speed_kph: Option<f64>,
    #[serde(borrow)]
    vehicle_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source: Option<Cow<'a, str>>,
    offset_m: Option<f64>,
    #[serde(borrow)]
    detector_id: Option<Cow<'a, str>>,
    lane: Option<i64>,
    interval_s: Option<i64>,
    volume: Option<i64>,
    occupancy: Option<f64>,
    #[serde(borrow)]
    report_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    category: Option<Cow<'a, str>>,
    #[serde(borrow)]
    severity: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_type: Option<Cow<'a, str>>,
    free_flow_kph: Option<f64>,
    confidence: Option<f64>,
    closed: Option<bool>,
}

/// `ts` as found: epoch milliseconds, an RFC 3339 string, or something else (kept so the
/// error can say so instead of failing the whole parse).
#[derive(Debug, Default, PartialEq)]
enum Timestamp<'a> {
    #[default]
    Absent,
    Millis(i64),
    Text(Cow<'a, str>),
    Invalid(String),
}

impl<'de: 'a, 'a> Deserialize<'de> for Timestamp<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TimestampVisitor(std::marker::PhantomData))
    }
}

struct TimestampVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for TimestampVisitor<'a> {
    type Value = Timestamp<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("epoch milliseconds or an RFC 3339 timestamp")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Timestamp::Millis(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or_else(|_| Timestamp::Invalid(v.to_string()), Timestamp::Millis))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Timestamp::Invalid(v.to_string()))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Timestamp::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Timestamp::Text(Cow::Owned(v.to_string())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Timestamp::Invalid(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Timestamp::Absent)
    }
}

fn parse_rfc3339(text: &str) -> Result<EpochMillis, InvalidEvent> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            InvalidEvent::new(
                InvalidKind::InvalidTimestamp,
                format!("`ts` {text:?} is not RFC 3339: {e}"),
            )
        })?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as EpochMillis)
}

/// Decodes and validates one raw event, handing it to `f` while the input is borrowed.
pub fn with_raw_event<R>(
    bytes: &[u8],
    f: impl FnOnce(&RawEvent<'_>) -> R,
) -> Result<R, InvalidEvent> {
    if let Some(fields) = scan::parse(bytes) {
        return Ok(f(&fields.validate()?));
    }
    let parsed = JsonEvent::parse(bytes)?;
    Ok(f(&parsed.fields()?.validate()?))
}

impl<'a> JsonEvent<'a> {
    /// Parses one message value with serde_json: any JSON, and its error for the dead-letter
    /// record. [`with_raw_event`] tries the fast path first.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, InvalidEvent> {
        serde_json::from_slice(bytes).map_err(|e| {
            let kind = match e.classify() {
                serde_json::error::Category::Data => InvalidKind::InvalidValue,
                _ => InvalidKind::Malformed,
            };
            InvalidEvent::new(kind, e.to_string())
        })
    }

    /// The fields for validation, borrowing from this event.
    pub fn fields(&self) -> Result<RawEventFields<'_>, InvalidEvent> {
        let ts = match &self.ts {
            Timestamp::Absent => None,
            Timestamp::Millis(ms) => Some(*ms),
            Timestamp::Text(t) => Some(parse_rfc3339(t)?),
            Timestamp::Invalid(v) => {
                return Err(InvalidEvent::new(
                    InvalidKind::InvalidTimestamp,
                    format!("`ts` {v} is neither integer epoch milliseconds nor RFC 3339"),
                ))
            }
        };
        Ok(RawEventFields {
            kind: self.kind.as_deref(),
            segment_id: self.segment_id.as_deref(),
            ts,
            speed_kph: self.speed_kph,
            vehicle_id: self.vehicle_id.as_deref(),
            source: self.source.as_deref(),
            offset_m: self.offset_m,
            detector_id: self.detector_id.as_deref(),
            lane: self.lane,
            interval_s: self.interval_s,
            volume: self.volume,
            occupancy: self.occupancy,
            report_id: self.report_id.as_deref(),
            category: self.category.as_deref(),
            severity: self.severity.as_deref(),
            event_type: self.event_type.as_deref(),
            free_flow_kph: self.free_flow_kph,
            confidence: self.confidence,
            closed: self.closed,
        })
    }
}

/// Appends the JSON of a congestion event to `buf` (which the caller reuses).
pub fn encode_congestion(event: &CongestionEvent, buf: &mut Vec<u8>) {
    // Serializing a plain struct of numbers and strings into a Vec cannot fail.
    let _ = serde_json::to_writer(buf, event);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventBody;

    /// Through both paths: the fast one when it takes the input, serde_json otherwise.
    fn decode(s: &str) -> Result<(String, i64, EventBody<'static>), InvalidEvent> {
        with_raw_event(s.as_bytes(), |e| {
            let body = match e.body {
                EventBody::Probe { speed_kph, .. } => EventBody::Probe {
                    speed_kph,
                    vehicle_id: None,
                    source: None,
                    offset_m: None,
                },
                EventBody::Detector(_) | EventBody::Flow(_) => EventBody::Report {
                    report_id: None,
                    category: crate::domain::event::ReportCategory::Other,
                },
                EventBody::Report { category, .. } => EventBody::Report {
                    report_id: None,
                    category,
                },
            };
            (e.segment_id.to_string(), e.ts, body)
        })
    }

    #[test]
    fn probe_with_millis_and_rfc3339() {
        let a = decode(r#"{"type":"probe","segment_id":"s\u00e9g","ts":1700000000123,"speed_kph":51.5,"extra":[1,2]}"#).unwrap();
        assert_eq!(a.0, "ség");
        assert_eq!(a.1, 1_700_000_000_123);
        let b = decode(
            r#"{"type":"probe","segment_id":"s","ts":"2023-11-14T22:13:20.123Z","speed_kph":1}"#,
        )
        .unwrap();
        assert_eq!(b.1, 1_700_000_000_123);
        let c = decode(r#"{"type":"probe","segment_id":"s","ts":"2023-11-14T23:13:20.123+01:00","speed_kph":1}"#).unwrap();
        assert_eq!(c.1, 1_700_000_000_123);
    }

    #[test]
    fn error_kinds() {
        let kind = |s: &str| decode(s).unwrap_err().kind;
        assert_eq!(kind("not json"), InvalidKind::Malformed);
        assert_eq!(kind(r#"{"type":"probe""#), InvalidKind::Malformed);
        assert_eq!(kind("[1,2]"), InvalidKind::InvalidValue);
        assert_eq!(
            kind(r#"{"type":"probe","segment_id":"s","ts":1,"speed_kph":"fast"}"#),
            InvalidKind::InvalidValue
        );
        assert_eq!(
            kind(r#"{"type":"probe","segment_id":"s","ts":"yesterday","speed_kph":1}"#),
            InvalidKind::InvalidTimestamp
        );
        assert_eq!(
            kind(r#"{"type":"probe","segment_id":"s","ts":1.5,"speed_kph":1}"#),
            InvalidKind::InvalidTimestamp
        );
        assert_eq!(
            kind(r#"{"type":"probe","segment_id":"s","speed_kph":1}"#),
            InvalidKind::MissingField
        );
        assert_eq!(
            kind(r#"{"type":"bus","segment_id":"s","ts":1,"speed_kph":1}"#),
            InvalidKind::UnknownType
        );
    }
}
