//! `roadpulse poll` against local vendor APIs (tests/poll/server.rs) serving fixtures in each
//! vendor's documented format (tests/fixtures/sources/), publishing to the real broker, and a
//! real `roadpulse run` worker turning the readings into congestion events.

mod common;
#[path = "poll/server.rs"]
mod server;
#[path = "poll/support.rs"]
mod support;

use std::io::Write;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use common::{finals, Setup};
use server::{Reply, Server};
use support::{by_location, raw_events, Poller};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sources");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

const CATALOG: &str = "segment_id,free_flow_kph,geometry\n\
    TT-CLOSED,50,4.8495 52.42;4.8505 52.42\n\
    NDW-A,100,5.0734 52.0800;5.0734 52.0820\n\
    NDW-B,100,5.0770 52.0895;5.0770 52.0915\n";

/// TomTom Flow Segment Data (v4): an open road found through the mapping by its OpenLR code,
/// a closed one found by snapping the requested point; NDW (DATEX II v2): one site mapped by
/// id, one snapped by its coordinates, the same minute served on every poll.
fn vendor(minute: String) -> Server {
    let table = gzip(&fixture("ndw_measurement_current.xml"));
    let speeds = gzip(&fixture("ndw_trafficspeed.xml").replace("{MINUTE}", &minute));
    Server::start(move |req| match req.path.as_str() {
        "/tomtom/flowSegmentData/absolute/10/json" if req.query.contains("4.84239") => {
            Reply::ok(fixture("tomtom_flow_v4_open.json"))
        }
        "/tomtom/flowSegmentData/absolute/10/json" => {
            Reply::ok(fixture("tomtom_flow_v4_closed.json"))
        }
        "/ndw/measurement_current.xml.gz" if req.header("If-None-Match") == Some("\"t1\"") => {
            Reply::status(304)
        }
        "/ndw/measurement_current.xml.gz" => Reply::ok(table.clone()).header("ETag", "\"t1\""),
        "/ndw/trafficspeed.xml.gz" => {
            Reply::ok(speeds.clone()).header("Content-Type", "application/x-gzip")
        }
        _ => Reply::status(404),
    })
}

#[test]
fn readings_become_congestion_events_once_each() {
    let setup = Setup::new("poll-e2e", 3, Some(CATALOG));
    let minute = time::OffsetDateTime::from(SystemTime::now())
        .replace_nanosecond(0)
        .unwrap();
    let minute_ms = minute.unix_timestamp() * 1000;
    let minute = minute
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let api = vendor(minute);
    let mapping = setup.dir.join("mapping.csv");
    std::fs::write(
        &mapping,
        "location,segment_id\nOLR-OPEN,TT-OPEN\nRWS01_MONIBAS_0021hrl0403ra,NDW-A\n",
    )
    .unwrap();
    let catalog = setup.dir.join("catalog.csv");
    let sources = format!(
        r#"[congestion]
catalog = "{catalog}"
[[sources]]
name = "tomtom"
preset = "tomtom_flow"
url = "{tomtom}"
api_key_env = "TOMTOM_KEY"
points = ["52.41072,4.84239", "52.42,4.85"]
mapping = "{mapping}"
interval = "1s"
[[sources]]
name = "ndw"
preset = "ndw"
url = "{ndw}"
site_table_url = "{table}"
site_table_interval = "1s"
mapping = "{mapping}"
interval = "1s"
"#,
        catalog = catalog.display(),
        mapping = mapping.display(),
        tomtom = api.url("/tomtom/flowSegmentData/absolute/10/json"),
        ndw = api.url("/ndw/trafficspeed.xml.gz"),
        table = api.url("/ndw/measurement_current.xml.gz"),
    );
    let poller = Poller::config(&setup.dir, &setup.bootstrap, &setup.input, "", &sources);
    let mut worker = setup.start_worker("worker", &[]);
    let mut p = poller.start(&setup.dir, "poller", &[("TOMTOM_KEY", "s3cr3t-key")]);
    assert!(
        poller.wait_ready(true, Duration::from_secs(60)),
        "poller ready: {}",
        p.log_text()
    );
    let events = raw_events(
        &setup.bootstrap,
        &setup.input,
        Duration::from_secs(60),
        |vs| vs.iter().filter(|v| v["source"] == "tomtom").count() >= 8,
    );
    // Several polls of each kind happened; the tables were asked for conditionally.
    let seen = api.seen();
    let asked_again = seen
        .iter()
        .filter(|r| r.header("If-None-Match") == Some("\"t1\""))
        .count();
    assert!(asked_again > 0, "the site table is fetched conditionally");
    assert!(seen
        .iter()
        .filter(|r| r.path.contains("tomtom"))
        .all(|r| r.query.contains("key=s3cr3t-key")));
    assert!(
        poller.metric(
            "roadpulse_source_requests_total",
            &[("source", "ndw"), ("outcome", "not_modified")]
        ) > 0.0
    );
    let ndw_polls = poller.metric(
        "roadpulse_source_requests_total",
        &[("source", "ndw"), ("outcome", "ok")],
    );
    assert!(ndw_polls >= 3.0, "{ndw_polls}");
    assert!(
        poller.metric(
            "roadpulse_source_readings_dropped_total",
            &[("source", "ndw"), ("reason", "seen")]
        ) >= 2.0
    );
    assert!(
        poller.metric(
            "roadpulse_source_readings_dropped_total",
            &[("source", "ndw"), ("reason", "no_measurement")]
        ) >= 1.0
    );
    p.sigterm();
    assert_eq!(
        p.wait_exit(Duration::from_secs(30)),
        Some(0),
        "SIGTERM commits and exits 0: {}",
        p.log_text()
    );
    let log = p.log_text();
    assert!(!log.contains("s3cr3t-key"), "the key is never logged");

    // NDW served the same minute on every poll: each lane is published once.
    let events = raw_events(
        &setup.bootstrap,
        &setup.input,
        Duration::from_secs(30),
        |vs| vs.len() >= events.len(),
    );
    let at = by_location(&events);
    assert_eq!(at["RWS01_MONIBAS_0021hrl0403ra/lane1"], vec![minute_ms]);
    assert_eq!(at["RWS01_MONIBAS_0021hrl0414ra/lane1"], vec![minute_ms]);
    assert!(
        !at.contains_key("RWS01_MONIBAS_0021hrl0403ra/lane2"),
        "no vehicle passed: no reading"
    );
    for times in at.values() {
        let mut sorted = times.clone();
        sorted.dedup();
        assert_eq!(&sorted, times, "a reading is published once");
    }
    let key_of = |loc: &str| {
        events
            .iter()
            .find(|(_, v)| v["location"] == loc)
            .unwrap()
            .0
            .clone()
    };
    assert_eq!(
        key_of("RWS01_MONIBAS_0021hrl0414ra/lane1"),
        "NDW-B",
        "snapped by the site's coordinates"
    );
    assert_eq!(
        key_of("52.420000,4.850000"),
        "TT-CLOSED",
        "snapped by the requested point"
    );

    // The worker's congestion events, each final window once.
    let all = ["TT-OPEN", "TT-CLOSED", "NDW-A", "NDW-B"];
    let records = common::read_topic(
        &setup.bootstrap,
        &setup.congestion,
        Duration::from_secs(60),
        |rs| {
            let (f, _) = finals(rs.iter().filter_map(|r| r.value.clone()));
            all.iter().all(|seg| f.keys().any(|(s, _)| s == seg))
        },
    );
    let (finals, repeats) = finals(records.into_iter().filter_map(|r| r.value));
    assert_eq!(repeats, 0);
    let of = |seg: &str| -> Vec<&Value> {
        finals
            .iter()
            .filter(|((s, _), _)| s == seg)
            .map(|(_, v)| v)
            .collect()
    };
    for w in of("TT-OPEN") {
        assert_eq!(
            (w["speed_source"].as_str(), w["free_flow_source"].as_str()),
            (Some("flow"), Some("vendor")),
            "{w}"
        );
        assert_eq!(
            (
                w["speed_kph"].as_f64(),
                w["free_flow_kph"].as_f64(),
                w["level"].as_str()
            ),
            (Some(41.0), Some(70.0), Some("moderate"))
        );
    }
    for w in of("TT-CLOSED") {
        assert_eq!(
            (
                w["speed_kph"].as_f64(),
                w["level"].as_str(),
                w["free_flow_source"].as_str()
            ),
            (Some(0.0), Some("severe"), Some("catalog")),
            "{w}"
        );
        assert!(w["travel_time_index"].is_null());
    }
    let a = of("NDW-A");
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        (
            a[0]["speed_source"].as_str(),
            a[0]["speed_kph"].as_f64(),
            a[0]["volume"].as_u64()
        ),
        (Some("detector"), Some(97.0), Some(22))
    );
    assert!(a[0]["occupancy"].is_null(), "NDW measures no occupancy");
    let b = of("NDW-B");
    assert_eq!(
        (b[0]["speed_kph"].as_f64(), b[0]["level"].as_str()),
        (Some(23.0), Some("severe"))
    );
    assert!(!of("TT-OPEN").is_empty() && !of("TT-CLOSED").is_empty());
    worker.stop();
}
