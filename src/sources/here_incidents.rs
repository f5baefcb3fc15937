//! HERE Traffic API v7, `/incidents`, by bounding box:
//! `GET …/v7/incidents?in=bbox:w,s,e,n&locationReferencing=shape`. Each result has a
//! `location` (shape) and `incidentDetails`: `id`, `originalId` (the first id of the chain of
//! updates of one incident), `type`, `criticality` (`critical`, `major`, `minor`, `lowImpact`),
//! `roadClosed`, `startTime`, `entryTime` (when this update was made).
//!
//! An incident becomes one report per segment its shape covers; its identity is the
//! `originalId` and the `entryTime`, so an update is published and a repeat is not.

use std::time::SystemTime;

use serde::Deserialize;

use super::here_flow::{answer_time, Location};
use super::reading::{json_answer, rfc3339_ms, Body, ParseError, Reading};
use super::request::Request;
use super::{Area, Feed, Parsed};
use crate::config::SourceConfig;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    source_updated: Option<String>,
    results: Vec<Item>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    #[serde(default)]
    location: Location,
    incident_details: Details,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Details {
    id: String,
    original_id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    criticality: Option<String>,
    #[serde(default)]
    road_closed: bool,
    start_time: Option<String>,
    entry_time: Option<String>,
}

/// HERE's incident types as the contract's report categories.
pub fn category(kind: &str, road_closed: bool) -> &'static str {
    if road_closed {
        return "closure";
    }
    match kind {
        "accident" => "accident",
        "disabledVehicle" => "breakdown",
        "construction" => "roadworks",
        "roadClosure" => "closure",
        "congestion" => "congestion",
        "roadHazard" | "weather" | "laneRestriction" => "hazard",
        _ => "other",
    }
}

pub struct HereIncidents(Area);

impl HereIncidents {
    pub fn new(cfg: &SourceConfig) -> HereIncidents {
        HereIncidents(Area::of(cfg))
    }
}

impl Feed for HereIncidents {
    fn requests(&mut self, _now: SystemTime) -> Vec<Request> {
        vec![Request::get(&self.0.url)
            .query("in", format!("bbox:{}", self.0.bbox))
            .query("locationReferencing", "shape")]
    }

    fn parse(
        &mut self,
        _: &Request,
        body: &[u8],
        date: Option<SystemTime>,
    ) -> Result<Parsed, ParseError> {
        let a: Answer = json_answer(body, "a v7 incidents answer")?;
        let fallback = answer_time(a.source_updated.as_deref(), date)?;
        let mut readings = Vec::with_capacity(a.results.len());
        for item in a.results {
            let d = item.incident_details;
            let ts = match d.entry_time.as_deref().or(d.start_time.as_deref()) {
                Some(t) => rfc3339_ms(t)?,
                None => fallback,
            };
            let location = d.original_id.clone().unwrap_or_else(|| d.id.clone());
            readings.push(Reading {
                keys: vec![location.clone()],
                location,
                ts,
                points: item.location.points(),
                spread: true,
                body: Body::Report {
                    category: category(d.kind.as_deref().unwrap_or(""), d.road_closed),
                    report_id: d.id,
                    severity: d.criticality,
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
    fn incidents_with_their_update_time() {
        let answer = r#"{"sourceUpdated":"2026-01-01T08:00:00Z","results":[
          {"location":{"length":376.0,"shape":{"links":[{"points":[{"lat":53.906070,"lng":13.047710},{"lat":53.906070,"lng":13.047900}],"length":13.0}]}},
           "incidentDetails":{"id":"384841","originalId":"3879526487457467809","type":"accident","roadClosed":false,"criticality":"major",
             "startTime":"2026-01-01T07:40:00Z","entryTime":"2026-01-01T07:45:30Z","description":{"value":"Accident","language":"en"}}},
          {"location":{},"incidentDetails":{"id":"9","type":"construction","roadClosed":true,"criticality":"minor"}}]}"#;
        let mut f = HereIncidents(Area {
            url: "http://x/v7/incidents".into(),
            bbox: "13,53,14,54".into(),
        });
        let req = f.requests(SystemTime::now()).remove(0);
        let rs = f.parse(&req, answer.as_bytes(), None).unwrap().readings;
        assert_eq!(
            (rs[0].location.as_str(), rs[0].ts, rs[0].points.len()),
            ("3879526487457467809", 1_767_253_530_000, 2)
        );
        assert!(
            matches!(&rs[0].body, Body::Report { category: "accident", severity: Some(s), .. } if s == "major")
        );
        assert_eq!(
            rs[1].ts, 1_767_254_400_000,
            "no times of its own: sourceUpdated"
        );
        assert!(matches!(
            &rs[1].body,
            Body::Report {
                category: "closure",
                ..
            }
        ));
    }
}
