//! HERE Traffic API v7, `/flow`, by bounding box:
//! `GET …/v7/flow?in=bbox:w,s,e,n&locationReferencing=olr,shape`. Each result has a `location`
//! (OpenLR code `olr`, shape points, description) and `currentFlow`: `speed` and `freeFlow`
//! in metres per second, `jamFactor` (0..10, 10 a closed road), `confidence` (0..1) and
//! `traversability` (`open`, `closed`, `reversibleNotRoutable`). The answer's
//! `sourceUpdated` is the readings' time.
//!
//! A reading's location is its OpenLR code (the mapping file's key), else the middle point
//! of its shape, which snaps to the catalogue when unmapped.

use std::time::SystemTime;

use serde::Deserialize;

use super::reading::{json_answer, rfc3339_ms, Body, ParseError, Point, Reading, KPH_PER_MPS};
use super::request::Request;
use super::{answered_ms, Area, Feed, Parsed};
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
    location: Location,
    current_flow: Flow,
}

/// A HERE location: OpenLR code and shape (both as requested by `locationReferencing`).
#[derive(Deserialize, Default)]
pub struct Location {
    pub olr: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub shape: Shape,
}

#[derive(Deserialize, Default)]
pub struct Shape {
    #[serde(default)]
    pub links: Vec<Link>,
}

#[derive(Deserialize)]
pub struct Link {
    #[serde(default)]
    pub points: Vec<LatLng>,
}

#[derive(Deserialize)]
pub struct LatLng {
    pub lat: f64,
    pub lng: f64,
}

impl Location {
    /// Every shape point in order.
    pub fn points(&self) -> Vec<Point> {
        self.shape
            .links
            .iter()
            .flat_map(|l| l.points.iter().map(|p| Point::new(p.lat, p.lng)))
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Flow {
    speed: Option<f64>,
    free_flow: Option<f64>,
    jam_factor: Option<f64>,
    confidence: Option<f64>,
    traversability: Option<String>,
}

/// The answer's `sourceUpdated`, else its `Date`, else now.
pub fn answer_time(
    source_updated: Option<&str>,
    date: Option<SystemTime>,
) -> Result<i64, ParseError> {
    match source_updated {
        Some(t) => rfc3339_ms(t),
        None => Ok(answered_ms(date)),
    }
}

pub struct HereFlow(Area);

impl HereFlow {
    pub fn new(cfg: &SourceConfig) -> HereFlow {
        HereFlow(Area::of(cfg))
    }
}

impl Feed for HereFlow {
    fn requests(&mut self, _now: SystemTime) -> Vec<Request> {
        vec![Request::get(&self.0.url)
            .query("in", format!("bbox:{}", self.0.bbox))
            .query("locationReferencing", "olr,shape")]
    }

    fn parse(
        &mut self,
        _: &Request,
        body: &[u8],
        date: Option<SystemTime>,
    ) -> Result<Parsed, ParseError> {
        let a: Answer = json_answer(body, "a v7 flow answer")?;
        let ts = answer_time(a.source_updated.as_deref(), date)?;
        let mut readings = Vec::with_capacity(a.results.len());
        for item in a.results {
            let points = item.location.points();
            let middle = points.get(points.len() / 2).copied();
            let location = match (&item.location.olr, middle, &item.location.description) {
                (Some(olr), _, _) => olr.clone(),
                (None, Some(p), _) => p.key(),
                (None, None, Some(d)) => d.clone(),
                (None, None, None) => continue,
            };
            let f = item.current_flow;
            let closed = f.traversability.as_deref().is_some_and(|t| t != "open")
                || f.jam_factor.is_some_and(|j| j >= 10.0);
            readings.push(Reading {
                location: location.clone(),
                ts,
                keys: vec![location],
                points: middle.into_iter().collect(),
                spread: false,
                body: Body::Flow {
                    speed_kph: f.speed.map(|v| v * KPH_PER_MPS),
                    free_flow_kph: f.free_flow.map(|v| v * KPH_PER_MPS),
                    confidence: f.confidence,
                    closed,
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
    fn speeds_in_metres_per_second_and_closures() {
        let answer = r#"{"sourceUpdated":"2021-06-08T10:07:23Z","results":[
          {"location":{"description":"Alt-Friedrichsfelde","length":966.0,"olr":"CCoBEAAmJQmadyVXRQAJBQQBAkcACgUEAYpTAAfI/7QACQUEAQK3ADAAgxM="},
           "currentFlow":{"speed":13.888889,"speedUncapped":14.722222,"freeFlow":13.888889,"jamFactor":1.2,"confidence":0.99,"traversability":"open"}},
          {"location":{"length":120.0,"shape":{"links":[{"points":[{"lat":52.5,"lng":13.4},{"lat":52.501,"lng":13.401}],"length":120.0}]}},
           "currentFlow":{"freeFlow":8.33,"jamFactor":10.0,"confidence":0.8,"traversability":"closed"}}]}"#;
        let mut f = HereFlow(Area {
            url: "http://x/v7/flow".into(),
            bbox: "13.3,52.4,13.5,52.6".into(),
        });
        let req = f.requests(SystemTime::now()).remove(0);
        assert_eq!(
            req.shown(),
            "http://x/v7/flow?in=bbox:13.3,52.4,13.5,52.6&locationReferencing=olr,shape"
        );
        let rs = f.parse(&req, answer.as_bytes(), None).unwrap().readings;
        assert_eq!(rs[0].ts, 1_623_146_843_000);
        match &rs[0].body {
            Body::Flow {
                speed_kph: Some(v),
                closed: false,
                confidence: Some(c),
                ..
            } => {
                assert!((v - 50.0).abs() < 1e-4, "{v}");
                assert_eq!(*c, 0.99);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(rs[1].location, "52.501000,13.401000");
        assert!(matches!(
            rs[1].body,
            Body::Flow {
                speed_kph: None,
                closed: true,
                ..
            }
        ));
        assert!(f
            .parse(&req, br#"{"results":[{"location":{}}]}"#, None)
            .is_err());
    }
}
