//! Any JSON feed, read through the mapping declared in `[sources.json]`: a JSON Pointer to
//! the array of records, and one per contract field inside a record (RFC 6901). A record
//! whose location or timestamp is missing, or whose fields have the wrong type, is dropped as
//! `invalid`; a document without the records array does not parse.

use std::time::SystemTime;

use serde_json::Value;

use super::reading::{
    json_answer, rfc3339_ms, Body, ParseError, Point, Reading, KPH_PER_MPH, KPH_PER_MPS,
};
use super::request::Request;
use super::{Feed, Parsed};
use crate::config::{JsonMapping, ReadingKind, SourceConfig, SpeedUnit, TimestampUnit};

pub struct JsonFeed {
    url: String,
    m: JsonMapping,
}

impl JsonFeed {
    pub fn new(cfg: &SourceConfig) -> Option<JsonFeed> {
        Some(JsonFeed {
            url: cfg.url()?.to_string(),
            m: cfg.json.clone()?,
        })
    }

    fn get<'a>(&self, record: &'a Value, pointer: &Option<String>) -> Option<&'a Value> {
        pointer
            .as_deref()
            .and_then(|p| record.pointer(p))
            .filter(|v| !v.is_null())
    }

    fn number(&self, record: &Value, pointer: &Option<String>) -> Result<Option<f64>, ()> {
        match self.get(record, pointer) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or(()),
        }
    }

    fn text(&self, record: &Value, pointer: &Option<String>) -> Result<Option<String>, ()> {
        match self.get(record, pointer) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(()),
        }
    }

    fn speed(&self, record: &Value, pointer: &Option<String>) -> Result<Option<f64>, ()> {
        let scale = match self.m.speed_unit {
            SpeedUnit::Kph => 1.0,
            SpeedUnit::Mph => KPH_PER_MPH,
            SpeedUnit::Mps => KPH_PER_MPS,
        };
        Ok(self.number(record, pointer)?.map(|v| v * scale))
    }

    fn timestamp(&self, record: &Value) -> Result<i64, ()> {
        let v = record.pointer(&self.m.timestamp).ok_or(())?;
        match (self.m.timestamp_unit, v) {
            (TimestampUnit::S, Value::Number(n)) => {
                n.as_f64().map(|s| (s * 1000.0).round() as i64).ok_or(())
            }
            (_, Value::Number(n)) => n.as_i64().ok_or(()),
            (TimestampUnit::Auto, Value::String(s)) => rfc3339_ms(s).map_err(drop),
            _ => Err(()),
        }
    }

    /// One record as a reading; `Err` when its fields do not fit the mapping.
    fn reading(&self, r: &Value) -> Result<Reading, ()> {
        let m = &self.m;
        let location = match r.pointer(&m.location) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(()),
        };
        let ts = self.timestamp(r)?;
        let point = match (self.number(r, &m.lat)?, self.number(r, &m.lon)?) {
            (Some(lat), Some(lon)) => Some(Point {
                lat,
                lon,
                heading: self.number(r, &m.heading)?,
            }),
            _ => None,
        };
        let body = match m.kind {
            ReadingKind::Flow => Body::Flow {
                speed_kph: self.speed(r, &m.speed)?,
                free_flow_kph: self.speed(r, &m.free_flow)?,
                confidence: self.number(r, &m.confidence)?,
                closed: match self.get(r, &m.closed) {
                    None => false,
                    Some(v) => v.as_bool().ok_or(())?,
                },
            },
            ReadingKind::Detector => Body::Detector {
                detector_id: Some(location.clone()),
                lane: None,
                interval_s: i64::from(m.interval_s),
                volume: self.get(r, &m.volume).and_then(Value::as_i64).ok_or(())?,
                occupancy: self.number(r, &m.occupancy)?,
                speed_kph: self.speed(r, &m.speed)?,
            },
            ReadingKind::Probe => Body::Probe {
                speed_kph: self.speed(r, &m.speed)?.ok_or(())?,
                vehicle_id: self
                    .text(r, &m.vehicle_id)?
                    .unwrap_or_else(|| location.clone()),
            },
            ReadingKind::Report => Body::Report {
                report_id: self
                    .text(r, &m.report_id)?
                    .unwrap_or_else(|| location.clone()),
                category: report_category(self.text(r, &m.category)?.as_deref()),
                severity: self.text(r, &m.severity)?,
            },
        };
        Ok(Reading {
            keys: vec![location.clone()],
            location,
            ts,
            points: point.into_iter().collect(),
            spread: false,
            body,
        })
    }
}

/// The contract's category of that name (`other` for anything else).
fn report_category(text: Option<&str>) -> &'static str {
    const KNOWN: [&str; 7] = [
        "accident",
        "breakdown",
        "roadworks",
        "hazard",
        "closure",
        "congestion",
        "other",
    ];
    text.and_then(|t| KNOWN.iter().find(|k| **k == t))
        .copied()
        .unwrap_or("other")
}

impl Feed for JsonFeed {
    fn requests(&mut self, _now: SystemTime) -> Vec<Request> {
        vec![Request::get(&self.url)]
    }

    fn parse(
        &mut self,
        _: &Request,
        body: &[u8],
        _: Option<SystemTime>,
    ) -> Result<Parsed, ParseError> {
        let doc: Value = json_answer(body, "JSON")?;
        let records = doc
            .pointer(&self.m.records)
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ParseError::new(format!("no array of records at {:?}", self.m.records))
            })?;
        let mut out = Parsed::default();
        let mut invalid = 0;
        for r in records {
            match self.reading(r) {
                Ok(reading) => out.readings.push(reading),
                Err(()) => invalid += 1,
            }
        }
        if invalid > 0 {
            out.dropped.push(("invalid", invalid));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(toml_text: &str) -> JsonMapping {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn a_declared_mapping_reads_records() {
        let m = mapping(
            r#"records = "/data/items"
               type = "flow"
               location = "/id"
               timestamp = "/t"
               timestamp_unit = "s"
               speed = "/v"
               speed_unit = "mph"
               confidence = "/q"
               closed = "/shut"
               lat = "/pos/0"
               lon = "/pos/1""#,
        );
        let mut f = JsonFeed {
            url: "http://x/feed.json".into(),
            m,
        };
        let req = f.requests(SystemTime::now()).remove(0);
        let doc = br#"{"data":{"items":[
            {"id":"L1","t":1767252600,"v":25,"q":0.8,"shut":false,"pos":[52.37,4.89]},
            {"id":"L2","t":1767252600.5,"shut":true},
            {"id":"L3","t":"yesterday","v":25},
            {"t":1767252600,"v":25},
            {"id":"L4","t":1767252600,"v":"fast"}]}}"#;
        let p = f.parse(&req, doc, None).unwrap();
        assert_eq!(p.dropped, vec![("invalid", 3)]);
        let r = &p.readings;
        assert_eq!(
            (r[0].ts, r[0].points[0]),
            (1_767_252_600_000, Point::new(52.37, 4.89))
        );
        assert!(
            matches!(r[0].body, Body::Flow { speed_kph: Some(v), confidence: Some(0.8), closed: false, .. } if (v - 40.2336).abs() < 1e-9)
        );
        assert_eq!(r[1].ts, 1_767_252_600_500);
        assert!(matches!(
            r[1].body,
            Body::Flow {
                speed_kph: None,
                closed: true,
                ..
            }
        ));
        assert!(f.parse(&req, br#"{"data":{}}"#, None).is_err());
        assert!(f
            .parse(&req, br#"{"data":{"items":[{"id":"L1""#, None)
            .is_err());
    }
}
