//! TomTom Traffic API, Flow Segment Data (service version 4): one request per configured
//! point, `GET …/flowSegmentData/{style}/{zoom}/json?point=lat,lon&unit=KMPH&openLr=true`.
//! The answer describes the road fragment nearest the point: `currentSpeed` and
//! `freeFlowSpeed` (km/h), `confidence` (0..1), `roadClosure`, and its OpenLR code.
//!
//! The answer has no timestamp of its own, so a reading's time is the answer's `Date` header
//! (the vendor's clock; ours when absent). Its location is the requested point; the mapping
//! file is looked up by the OpenLR code first, then by the point (`lat,lon`, 6 decimals),
//! and the point snaps to the catalogue when neither is mapped.

use std::time::SystemTime;

use serde::Deserialize;

use super::reading::{json_answer, Body, ParseError, Point, Reading};
use super::request::Request;
use super::{answered_ms, Feed, Parsed};
use crate::config::{parse_point, SourceConfig};

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "flowSegmentData")]
    data: Segment,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Segment {
    current_speed: f64,
    free_flow_speed: Option<f64>,
    confidence: Option<f64>,
    #[serde(default)]
    road_closure: bool,
    #[serde(alias = "openLr", alias = "openLR")]
    openlr: Option<String>,
}

pub struct TomtomFlow {
    url: String,
    points: Vec<Point>,
}

impl TomtomFlow {
    pub fn new(cfg: &SourceConfig) -> TomtomFlow {
        TomtomFlow {
            url: cfg.url().unwrap_or_default().to_string(),
            points: cfg
                .points
                .iter()
                .filter_map(|p| parse_point(p).ok())
                .map(|(lat, lon)| Point::new(lat, lon))
                .collect(),
        }
    }
}

impl Feed for TomtomFlow {
    fn requests(&mut self, _now: SystemTime) -> Vec<Request> {
        self.points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Request::get(&self.url)
                    .query("point", format!("{},{}", p.lat, p.lon))
                    .query("unit", "KMPH")
                    .query("openLr", "true")
                    .tag(i as u32)
            })
            .collect()
    }

    fn parse(
        &mut self,
        req: &Request,
        body: &[u8],
        date: Option<SystemTime>,
    ) -> Result<Parsed, ParseError> {
        let point = *self
            .points
            .get(req.tag as usize)
            .ok_or_else(|| ParseError::new("an answer to no configured point"))?;
        let a: Answer = json_answer(body, "a flowSegmentData answer")?;
        let s = a.data;
        let location = point.key();
        let mut keys: Vec<String> = s.openlr.into_iter().collect();
        keys.push(location.clone());
        Ok(Parsed::of(vec![Reading {
            location,
            ts: answered_ms(date),
            keys,
            points: vec![point],
            spread: false,
            body: Body::Flow {
                speed_kph: Some(s.current_speed),
                free_flow_kph: s.free_flow_speed,
                confidence: s.confidence,
                closed: s.road_closure,
            },
        }]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"{"flowSegmentData":{"@version":"traffic-service-flow 1.0.120","frc":"FRC2","currentSpeed":41,"freeFlowSpeed":70,"currentTravelTime":153,"freeFlowTravelTime":90,"confidence":0.59,"roadClosure":false,"coordinates":{"coordinate":[{"latitude":52.40476,"longitude":4.844318},{"latitude":52.411312,"longitude":4.8299975}]},"openlr":"CwNhbCU+jzPLAwD0/34zGw=="}}"#;

    fn feed() -> TomtomFlow {
        TomtomFlow {
            url: "http://127.0.0.1/flowSegmentData/absolute/10/json".into(),
            points: vec![Point::new(52.41072, 4.84239)],
        }
    }

    #[test]
    fn one_request_per_point_and_its_reading() {
        let mut f = feed();
        let reqs = f.requests(SystemTime::now());
        assert_eq!(reqs[0].shown(), "http://127.0.0.1/flowSegmentData/absolute/10/json?point=52.41072,4.84239&unit=KMPH&openLr=true");
        let date = httpdate::parse_http_date("Thu, 01 Jan 2026 00:00:00 GMT").unwrap();
        let r = &f
            .parse(&reqs[0], ANSWER.as_bytes(), Some(date))
            .unwrap()
            .readings[0];
        assert_eq!(r.ts, 1_767_225_600_000);
        assert_eq!(r.keys, ["CwNhbCU+jzPLAwD0/34zGw==", "52.410720,4.842390"]);
        assert_eq!(
            r.body,
            Body::Flow {
                speed_kph: Some(41.0),
                free_flow_kph: Some(70.0),
                confidence: Some(0.59),
                closed: false
            }
        );
        assert!(f
            .parse(
                &reqs[0],
                br#"{"flowSegmentData":{"currentSpeed":"fast"}}"#,
                None
            )
            .is_err());
        assert!(f.parse(&reqs[0], &ANSWER.as_bytes()[..80], None).is_err());
    }
}
