//! TomTom Traffic API, Incident Details (service version 5), by bounding box:
//! `GET …/incidentDetails?bbox=w,s,e,n&fields={…}&timeValidityFilter=present`. Each incident
//! is a GeoJSON feature (Point or LineString) whose properties carry `iconCategory` (what
//! happened) and `magnitudeOfDelay` (0 unknown, 1 minor, 2 moderate, 3 major, 4 undefined:
//! closures and other indefinite delays).
//!
//! An incident becomes one report per segment its geometry covers. Its time is
//! `lastReportTime` (else `startTime`, else the answer's `Date`): an incident TomTom has not
//! updated is not published again; one it updates is.

use std::time::SystemTime;

use serde::Deserialize;
use serde_json::Value;

use super::reading::{json_answer, rfc3339_ms, Body, ParseError, Point, Reading};
use super::request::Request;
use super::{answered_ms, Area, Feed, Parsed};
use crate::config::SourceConfig;

/// The properties roadpulse reads.
pub const FIELDS: &str = "{incidents{type,geometry{type,coordinates},properties{id,iconCategory,magnitudeOfDelay,startTime,endTime,lastReportTime,from,to}}}";

#[derive(Deserialize)]
struct Answer {
    incidents: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    geometry: Value,
    properties: Properties,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Properties {
    id: String,
    #[serde(default)]
    icon_category: i64,
    #[serde(default)]
    magnitude_of_delay: i64,
    start_time: Option<String>,
    last_report_time: Option<String>,
}

/// TomTom's icon categories as the contract's report categories.
pub fn category(icon: i64) -> &'static str {
    match icon {
        1 => "accident",
        6 => "congestion",
        8 => "closure",
        9 => "roadworks",
        14 => "breakdown",
        2 | 3 | 4 | 5 | 7 | 10 | 11 => "hazard",
        _ => "other",
    }
}

fn magnitude(m: i64) -> &'static str {
    match m {
        1 => "minor",
        2 => "moderate",
        3 => "major",
        4 => "undefined",
        _ => "unknown",
    }
}

/// `[lon, lat]` or a list of them, as points.
pub fn geojson_points(geometry: &Value) -> Vec<Point> {
    let pair = |v: &Value| match v.as_array().map(Vec::as_slice) {
        Some([lon, lat, ..]) => Some(Point::new(lat.as_f64()?, lon.as_f64()?)),
        _ => None,
    };
    let coords = &geometry["coordinates"];
    match pair(coords) {
        Some(p) => vec![p],
        None => coords
            .as_array()
            .map(|a| a.iter().filter_map(pair).collect())
            .unwrap_or_default(),
    }
}

pub struct TomtomIncidents(Area);

impl TomtomIncidents {
    pub fn new(cfg: &SourceConfig) -> TomtomIncidents {
        TomtomIncidents(Area::of(cfg))
    }
}

impl Feed for TomtomIncidents {
    fn requests(&mut self, _now: SystemTime) -> Vec<Request> {
        vec![Request::get(&self.0.url)
            .query("bbox", &self.0.bbox)
            .query("fields", FIELDS)
            .query("language", "en-GB")
            .query("timeValidityFilter", "present")]
    }

    fn parse(
        &mut self,
        _: &Request,
        body: &[u8],
        date: Option<SystemTime>,
    ) -> Result<Parsed, ParseError> {
        let a: Answer = json_answer(body, "an incidentDetails answer")?;
        let fallback = answered_ms(date);
        let mut readings = Vec::with_capacity(a.incidents.len());
        for f in a.incidents {
            let p = f.properties;
            let ts = match p.last_report_time.as_deref().or(p.start_time.as_deref()) {
                Some(t) => rfc3339_ms(t)?,
                None => fallback,
            };
            readings.push(Reading {
                location: p.id.clone(),
                ts,
                keys: vec![p.id.clone()],
                points: geojson_points(&f.geometry),
                spread: true,
                body: Body::Report {
                    report_id: p.id,
                    category: category(p.icon_category),
                    severity: Some(magnitude(p.magnitude_of_delay).to_string()),
                },
            });
        }
        Ok(Parsed::of(readings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidents_become_reports_with_geometry() {
        let answer = r#"{"incidents":[
          {"type":"Feature","geometry":{"type":"LineString","coordinates":[[4.8401,52.4101],[4.8412,52.4113]]},
           "properties":{"id":"4d6e0b0f","iconCategory":8,"magnitudeOfDelay":4,"startTime":"2026-01-01T07:10:00Z","lastReportTime":"2026-01-01T07:31:05Z"}},
          {"type":"Feature","geometry":{"type":"Point","coordinates":[4.85,52.42]},
           "properties":{"id":"a1","iconCategory":14,"magnitudeOfDelay":1,"startTime":"2026-01-01T07:00:00Z"}}]}"#;
        let mut f = TomtomIncidents(Area {
            url: "http://x/incidentDetails".into(),
            bbox: "4.8,52.3,4.9,52.5".into(),
        });
        let req = f.requests(SystemTime::now()).remove(0);
        let rs = f.parse(&req, answer.as_bytes(), None).unwrap().readings;
        assert_eq!(rs.len(), 2);
        assert_eq!(
            (rs[0].points.len(), rs[0].spread, rs[0].ts),
            (2, true, 1_767_252_665_000)
        );
        assert!(
            matches!(&rs[0].body, Body::Report { category: "closure", severity: Some(s), .. } if s == "undefined")
        );
        assert_eq!(rs[1].points, vec![Point::new(52.42, 4.85)]);
        assert!(matches!(
            &rs[1].body,
            Body::Report {
                category: "breakdown",
                ..
            }
        ));
        assert!(f.parse(&req, br#"{"incidents":[{"geometry":{},"properties":{"id":"x","lastReportTime":"late"}}]}"#, None).is_err());
    }
}
