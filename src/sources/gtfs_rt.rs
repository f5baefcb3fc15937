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

use super::reading::{Body, ParseError, Point, Reading, KPH_PER_MPS};
use super::request::Request;
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

/// POSIX seconds as epoch milliseconds; `None` past what milliseconds can hold.
fn posix_ms(s: u64) -> Option<i64> {
    i64::try_from(s).ok()?.checked_mul(1000)
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
        let dt = ts.saturating_sub(t0) as f64 / 1000.0;
        if !(dt > 0.0 && dt <= MAX_GAP_S) {
            return None;
        }
        let cos = ((lat + lat0) / 2.0).to_radians().cos();
        let (dx, dy) = ((lon - lon0) * cos * M_PER_DEG, (lat - lat0) * M_PER_DEG);
        Some((dx * dx + dy * dy).sqrt() / dt * KPH_PER_MPS)
    }

    /// One entity's reading: `None` for an entity that is no vehicle position (deleted, or
    /// without a position or a vehicle id), `Err` with the reason it is dropped.
    fn entity(
        &mut self,
        e: FeedEntity,
        header_ts: Option<u64>,
        fallback: i64,
    ) -> Result<Option<Reading>, &'static str> {
        let Some(v) = e.vehicle.filter(|_| e.is_deleted != Some(true)) else {
            return Ok(None);
        };
        let Some(p) = v.position.as_ref() else {
            return Ok(None);
        };
        let (Some(lat), Some(lon)) = (p.latitude.map(f64::from), p.longitude.map(f64::from)) else {
            return Ok(None);
        };
        let Some(id) = v.vehicle.as_ref().and_then(|d| d.id.clone()).or(e.id) else {
            return Ok(None);
        };
        let ts = match v.timestamp.or(header_ts) {
            None => fallback,
            Some(s) => posix_ms(s).ok_or("invalid")?,
        };
        let speed = match p.speed {
            Some(s) => Some(f64::from(s) * KPH_PER_MPS),
            None => self.derived_speed(&id, ts, lat, lon),
        };
        if self.last.get(&id).is_none_or(|l| ts > l.0) {
            self.last.insert(id.clone(), (ts, lat, lon));
        }
        let speed_kph = speed.ok_or("no_speed")?;
        Ok(Some(Reading {
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
        }))
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
        for e in feed.entity {
            match self.entity(e, header_ts, fallback) {
                Ok(Some(r)) => out.readings.push(r),
                Ok(None) => {}
                Err(reason) => match out.dropped.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, n)) => *n += 1,
                    None => out.dropped.push((reason, 1)),
                },
            }
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

    /// Found with the poll_gtfs_rt fuzz target: a timestamp past what epoch milliseconds hold
    /// overflowed (a panic with overflow checks, a wrapped time without). Such a vehicle is
    /// dropped as invalid; the others of the answer are read.
    #[test]
    fn a_timestamp_past_the_end_of_time_is_invalid() {
        let pos = |lat: f32, lon: f32| Position {
            latitude: Some(lat),
            longitude: Some(lon),
            bearing: None,
            speed: Some(10.0),
        };
        let entity = |id: &str, ts: u64| FeedEntity {
            id: Some(id.into()),
            is_deleted: None,
            vehicle: Some(VehiclePosition {
                position: Some(pos(52.37, 4.89)),
                timestamp: Some(ts),
                vehicle: None,
            }),
        };
        let feed = FeedMessage {
            header: None,
            entity: vec![
                entity("far", 1 << 62),
                entity("max", u64::MAX),
                entity("ok", 1_767_252_600),
            ],
        };
        let mut f = GtfsRt {
            url: "http://x/vehiclepositions.pb".into(),
            last: HashMap::new(),
        };
        let req = f.requests(SystemTime::now()).remove(0);
        let p = f.parse(&req, &feed.encode_to_vec(), None).unwrap();
        let ids: Vec<&str> = p.readings.iter().map(|r| r.location.as_str()).collect();
        assert_eq!(ids, ["ok"]);
        assert_eq!(p.dropped, vec![("invalid", 2)]);
    }
}
