//! GTFS-Realtime VehiclePositions (protobuf, GTFS Realtime v2.0): buses and fleet vehicles
//! as probes. Each entity's `vehicle` gives the vehicle, its `position` (latitude,
//! longitude, `bearing`, `speed` in m/s) and `timestamp` (POSIX seconds; the header's when
//! absent). The speed is the feed's; when the feed gives none, it is the distance from the
//! vehicle's previous position over the time between them (within [`MAX_GAP_S`]); a vehicle
//! seen for the first time without a speed is dropped as `no_speed`. Positions snap to the
//! catalogue (the bearing picks the carriageway). Identity: the vehicle and its timestamp.
//!
//! The messages are the subset of `gtfs-realtime.proto` this needs, declared with prost's
//! derive and the specification's field numbers. The crates with generated bindings
//! (gtfs-rt, gtfs-realtime) run prost-build at build time, which needs the `protoc`
//! compiler on every machine that builds roadpulse; the fixtures are encoded by Google's
//! own Python bindings (tests/fixtures/sources/make_gtfs_rt.py).

use std::collections::HashMap;
use std::time::SystemTime;

use prost::Message;

use super::fetch::Request;
use super::reading::{Body, ParseError, Point, Reading, KPH_PER_MPS};
use super::{answered_ms, Feed, Parsed};
use crate::config::SourceConfig;

/// Longest time between two positions a speed is derived over.
pub const MAX_GAP_S: f64 = 300.0;
/// Metres in one degree of latitude.
const M_PER_DEG: f64 = 6_371_000.0 * std::f64::consts::PI / 180.0;

#[derive(Clone, PartialEq, Message)]
pub struct FeedMessage {
    #[prost(message, optional, tag = "1")]
    pub header: Option<FeedHeader>,
    #[prost(message, repeated, tag = "2")]
    pub entity: Vec<FeedEntity>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FeedHeader {
    #[prost(string, optional, tag = "1")]
    pub gtfs_realtime_version: Option<String>,
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FeedEntity {
    #[prost(string, optional, tag = "1")]
    pub id: Option<String>,
    #[prost(bool, optional, tag = "2")]
    pub is_deleted: Option<bool>,
    #[prost(message, optional, tag = "4")]
    pub vehicle: Option<VehiclePosition>,
}

#[derive(Clone, PartialEq, Message)]
pub struct VehiclePosition {
    #[prost(message, optional, tag = "2")]
    pub position: Option<Position>,
    #[prost(uint64, optional, tag = "5")]
    pub timestamp: Option<u64>,
    #[prost(message, optional, tag = "8")]
    pub vehicle: Option<VehicleDescriptor>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Position {
    #[prost(float, optional, tag = "1")]
    pub latitude: Option<f32>,
    #[prost(float, optional, tag = "2")]
    pub longitude: Option<f32>,
    #[prost(float, optional, tag = "3")]
    pub bearing: Option<f32>,
    #[prost(float, optional, tag = "5")]
    pub speed: Option<f32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct VehicleDescriptor {
    #[prost(string, optional, tag = "1")]
    pub id: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub label: Option<String>,
}

pub struct GtfsRt {
    url: String,
    /// Each vehicle's last position: `(ts ms, lat, lon)`.
    last: HashMap<String, (i64, f64, f64)>,
}

impl GtfsRt {
    pub fn new(cfg: &SourceConfig) -> GtfsRt {
        GtfsRt {
            url: cfg.url().unwrap_or_default().to_string(),
            last: HashMap::new(),
        }
    }

    /// The speed over the way from the vehicle's last position, km/h.
    fn derived_speed(&self, vehicle: &str, ts: i64, lat: f64, lon: f64) -> Option<f64> {
        let (t0, lat0, lon0) = *self.last.get(vehicle)?;
        let dt = (ts - t0) as f64 / 1000.0;
        if !(dt > 0.0 && dt <= MAX_GAP_S) {
            return None;
        }
        let cos = ((lat + lat0) / 2.0).to_radians().cos();
        let (dx, dy) = ((lon - lon0) * cos * M_PER_DEG, (lat - lat0) * M_PER_DEG);
        Some((dx * dx + dy * dy).sqrt() / dt * KPH_PER_MPS)
    }
}

impl Feed for GtfsRt {
    fn requests(&mut self, _now: SystemTime) -> Vec<Request> {
        vec![Request::get(&self.url)]
    }

    fn parse(
        &mut self,
        _: &Request,
        body: &[u8],
        date: Option<SystemTime>,
    ) -> Result<Parsed, ParseError> {
        let feed = FeedMessage::decode(body)
            .map_err(|e| ParseError::new(format!("not a GTFS-Realtime FeedMessage: {e}")))?;
        let header_ts = feed.header.as_ref().and_then(|h| h.timestamp);
        let fallback = answered_ms(date);
        let mut out = Parsed::default();
        let mut no_speed = 0;
        for e in feed.entity {
            let Some(v) = e.vehicle.filter(|_| e.is_deleted != Some(true)) else {
                continue;
            };
            let Some(p) = v.position.as_ref() else {
                continue;
            };
            let (Some(lat), Some(lon)) = (p.latitude.map(f64::from), p.longitude.map(f64::from))
            else {
                continue;
            };
            let Some(id) = v.vehicle.as_ref().and_then(|d| d.id.clone()).or(e.id) else {
                continue;
            };
            let ts = v
                .timestamp
                .or(header_ts)
                .map_or(fallback, |s| s as i64 * 1000);
            let speed = match p.speed {
                Some(s) => Some(f64::from(s) * KPH_PER_MPS),
                None => self.derived_speed(&id, ts, lat, lon),
            };
            if self.last.get(&id).is_none_or(|l| ts > l.0) {
                self.last.insert(id.clone(), (ts, lat, lon));
            }
            let Some(speed_kph) = speed else {
                no_speed += 1;
                continue;
            };
            out.readings.push(Reading {
                location: id.clone(),
                ts,
                keys: Vec::new(),
                points: vec![Point {
                    lat,
                    lon,
                    heading: p.bearing.map(f64::from),
                }],
                spread: false,
                body: Body::Probe {
                    speed_kph,
                    vehicle_id: id,
                },
            });
        }
        if no_speed > 0 {
            out.dropped.push(("no_speed", no_speed));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: &[u8] =
        include_bytes!("../../tests/fixtures/sources/gtfs_rt_vehicle_positions_1.pb");
    const SECOND: &[u8] =
        include_bytes!("../../tests/fixtures/sources/gtfs_rt_vehicle_positions_2.pb");

    #[test]
    fn speeds_from_the_feed_or_from_successive_positions() {
        let mut f = GtfsRt {
            url: "http://x/vehiclepositions.pb".into(),
            last: HashMap::new(),
        };
        let req = f.requests(SystemTime::now()).remove(0);
        let first = f.parse(&req, FIRST, None).unwrap();
        let ids: Vec<&str> = first.readings.iter().map(|r| r.location.as_str()).collect();
        assert_eq!(ids, ["A", "C", "D"], "B has no speed yet; E no position");
        assert_eq!(first.dropped, vec![("no_speed", 1)]);
        assert_eq!(first.readings[0].ts, 1_767_252_600_000);
        assert!(
            matches!(first.readings[0].body, Body::Probe { speed_kph, .. } if (speed_kph - 28.8).abs() < 1e-3)
        );
        assert_eq!(first.readings[0].points[0].heading, Some(90.0));
        let second = f.parse(&req, SECOND, None).unwrap();
        let b = second.readings.iter().find(|r| r.location == "B").unwrap();
        // 0.002° of longitude at 52.37° N in 30 s: 135.8 m / 30 s = 16.3 km/h
        assert!(
            matches!(b.body, Body::Probe { speed_kph, .. } if (speed_kph - 16.3).abs() < 0.1),
            "{b:?}"
        );
        assert!(
            f.parse(&req, &SECOND[..SECOND.len() - 7], None).is_err(),
            "truncated"
        );
        assert!(f.parse(&req, b"\xff\xff\xff", None).is_err());
    }
}
