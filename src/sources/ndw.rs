//! NDW (Nationale Databank Wegverkeersgegevens, the Netherlands) open data, no key needed:
//! `trafficspeed.xml.gz` (every minute, per measurement site the flow and speed of each
//! index) read with the site table `measurement_current.xml.gz` (what each index measures:
//! lane, flow or speed, vehicle class; where the site is), both DATEX II v2 ([`super::datex`]).
//! The site table is fetched first and again every `site_table_interval` (conditionally).
//!
//! Each lane of a site becomes one detector event: `volume` = the lane's flow rate (all
//! vehicles; the length classes are left out) × the period, `speed_kph` its mean speed,
//! `interval_s` the period (NDW: 60 s). NDW measures no occupancy. A lane where no vehicle
//! passed (flow 0 and speed -1) says nothing about the road (empty, or standing still over
//! the loop) and is dropped as `no_measurement`, as are data errors and indexes the site
//! table does not describe. Identity: `site/lane` and the minute; the mapping file is keyed by
//! the site id; unmapped sites snap by their coordinates.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant, SystemTime};

use flate2::read::GzDecoder;

use super::datex::{self, Site, SiteMeasurements, Value};
use super::reading::{Body, ParseError, Point, Reading};
use super::request::Request;
use super::{Feed, Parsed};
use crate::config::{SourceConfig, NDW_SITE_TABLE_URL};

const SPEEDS: u32 = 0;
const SITE_TABLE: u32 = 1;

pub struct Ndw {
    url: String,
    site_table_url: String,
    site_table_every: Duration,
    table_asked: Option<Instant>,
    sites: HashMap<String, Site>,
    /// Most bytes a gzipped document may inflate to.
    max_bytes: u64,
}

impl Ndw {
    pub fn new(cfg: &SourceConfig, max_bytes: u64) -> Ndw {
        Ndw {
            url: cfg.url().unwrap_or_default().to_string(),
            site_table_url: cfg
                .site_table_url
                .clone()
                .unwrap_or_else(|| NDW_SITE_TABLE_URL.into()),
            site_table_every: cfg.site_table_interval.std(),
            table_asked: None,
            sites: HashMap::new(),
            max_bytes: max_bytes.saturating_mul(16),
        }
    }

    /// A body, gunzipped when it is gzip (by its magic bytes), capped.
    fn reader<'a>(&self, body: &'a [u8]) -> Box<dyn BufRead + 'a> {
        match body {
            [0x1f, 0x8b, ..] => Box::new(BufReader::new(GzDecoder::new(body).take(self.max_bytes))),
            _ => Box::new(body),
        }
    }

    fn readings(&self, m: SiteMeasurements, out: &mut Parsed) {
        let Some(site) = self.sites.get(&m.site) else {
            out.dropped.push(("no_measurement", 1));
            return;
        };
        // lane → (flow rate, speed, period)
        let mut lanes: BTreeMap<&str, (Option<f64>, Option<f64>, f64)> = BTreeMap::new();
        let mut unusable = 0;
        for (index, value) in &m.values {
            let Some(c) = site.indexes.get(index).filter(|c| !c.class) else {
                continue;
            };
            let (Some(lane), Some(kind)) = (c.lane.as_deref(), c.value_type.as_deref()) else {
                continue;
            };
            let entry = lanes
                .entry(lane)
                .or_insert((None, None, c.period_s.unwrap_or(60.0)));
            match (kind, value) {
                ("trafficFlow", Value::FlowRate(r)) => entry.0 = Some(*r),
                ("trafficSpeed", Value::Speed(v)) => entry.1 = Some(*v).filter(|v| *v >= 0.0),
                (_, Value::Error) => unusable += 1,
                _ => {}
            }
        }
        for (lane, (rate, speed, period)) in lanes {
            let volume = rate.map(|r| (r * period / 3600.0).round() as i64);
            let Some(volume) = volume.filter(|v| *v > 0 || speed.is_some()) else {
                unusable += 1;
                continue;
            };
            let location = format!("{}/{lane}", m.site);
            out.readings.push(Reading {
                location,
                ts: m.ts,
                keys: vec![m.site.clone()],
                points: site
                    .point
                    .map(|(lat, lon)| Point::new(lat, lon))
                    .into_iter()
                    .collect(),
                spread: false,
                body: Body::Detector {
                    detector_id: Some(m.site.clone()),
                    lane: lane.trim_start_matches("lane").parse().ok(),
                    interval_s: period.round() as i64,
                    volume,
                    occupancy: None,
                    speed_kph: speed,
                },
            });
        }
        if unusable > 0 {
            out.dropped.push(("no_measurement", unusable));
        }
    }
}

impl Feed for Ndw {
    fn requests(&mut self, _now: SystemTime) -> Vec<Request> {
        let due = self.sites.is_empty()
            || self
                .table_asked
                .is_none_or(|t| t.elapsed() >= self.site_table_every);
        let mut out = Vec::new();
        if due {
            self.table_asked = Some(Instant::now());
            out.push(Request::get(&self.site_table_url).tag(SITE_TABLE));
        }
        out.push(Request::get(&self.url).tag(SPEEDS));
        out
    }

    fn parse(
        &mut self,
        req: &Request,
        body: &[u8],
        _: Option<SystemTime>,
    ) -> Result<Parsed, ParseError> {
        if req.tag == SITE_TABLE {
            let sites = datex::site_table(self.reader(body))?;
            if sites.is_empty() {
                return Err(ParseError::new(
                    "the site table describes no measurement site",
                ));
            }
            tracing::info!(sites = sites.len(), "NDW site table loaded");
            self.sites = sites;
            return Ok(Parsed::default());
        }
        if self.sites.is_empty() {
            return Err(ParseError::new(
                "no site table yet: the measurements cannot be read without it",
            ));
        }
        let mut out = Parsed::default();
        let mut all = Vec::new();
        datex::measurements(self.reader(body), |m| all.push(m))?;
        for m in all {
            self.readings(m, &mut out);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TABLE: &str = include_str!("../../tests/fixtures/sources/ndw_measurement_current.xml");
    const SPEED: &str = include_str!("../../tests/fixtures/sources/ndw_trafficspeed.xml");

    fn gzip(text: &str) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    fn feed() -> Ndw {
        Ndw {
            url: "http://x/trafficspeed.xml.gz".into(),
            site_table_url: "http://x/measurement_current.xml.gz".into(),
            site_table_every: Duration::from_secs(3600),
            table_asked: None,
            sites: HashMap::new(),
            max_bytes: 1 << 24,
        }
    }

    #[test]
    fn site_lanes_become_detector_readings() {
        let mut f = feed();
        let reqs = f.requests(SystemTime::now());
        assert_eq!(
            reqs.iter().map(|r| r.tag).collect::<Vec<_>>(),
            [SITE_TABLE, SPEEDS]
        );
        let speeds = SPEED.replace("{MINUTE}", "2026-01-01T07:30:00Z");
        assert!(
            f.parse(&reqs[1], speeds.as_bytes(), None).is_err(),
            "no table yet"
        );
        f.parse(&reqs[0], &gzip(TABLE), None).unwrap();
        assert_eq!(
            f.sites["RWS01_MONIBAS_0021hrl0403ra"].point,
            Some((52.0811, 5.0734))
        );
        assert_eq!(
            f.requests(SystemTime::now()).len(),
            1,
            "the table is fetched again only later"
        );
        let p = f.parse(&reqs[1], &gzip(&speeds), None).unwrap();
        assert_eq!(
            p.dropped,
            vec![("no_measurement", 1)],
            "lane 2 saw no vehicle"
        );
        let r = &p.readings;
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].location.as_str(), r[0].ts),
            ("RWS01_MONIBAS_0021hrl0403ra/lane1", 1_767_252_600_000)
        );
        // 1320 vehicles/hour over 60 s; the length class (index 2) is not added
        assert_eq!(
            r[0].body,
            Body::Detector {
                detector_id: Some("RWS01_MONIBAS_0021hrl0403ra".into()),
                lane: Some(1),
                interval_s: 60,
                volume: 22,
                occupancy: None,
                speed_kph: Some(97.0)
            }
        );
        assert!(matches!(
            r[1].body,
            Body::Detector {
                volume: 15,
                speed_kph: Some(23.0),
                ..
            }
        ));
        assert_eq!(r[1].points, vec![Point::new(52.0905, 5.077)]);
    }

    #[test]
    fn broken_documents_are_errors() {
        let mut f = feed();
        let reqs = f.requests(SystemTime::now());
        f.parse(&reqs[0], TABLE.as_bytes(), None).unwrap();
        let speeds = SPEED.replace("{MINUTE}", "2026-01-01T07:30:00Z");
        let cut = &speeds.as_bytes()[..speeds.len() / 2];
        assert!(f.parse(&reqs[1], cut, None).is_err());
        let gz = gzip(&speeds);
        assert!(f.parse(&reqs[1], &gz[..gz.len() / 2], None).is_err());
        let bad = speeds.replacen("<speed>97</speed>", "<speed>fast</speed>", 1);
        assert!(f.parse(&reqs[1], bad.as_bytes(), None).is_err());
        assert!(
            f.parse(&reqs[0], b"<d2LogicalModel/>", None).is_err(),
            "a table of no site"
        );
    }
}
