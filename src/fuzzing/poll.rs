//! `roadpulse poll`'s presets, driven with arbitrary answers: the preset's own feed (built by
//! [`crate::sources::feed`] from a `[[sources]]` entry, as the poller builds it) parses the
//! bytes as the answer to each of its requests, then the readings go through the poller's
//! locator and preparation. What holds for any answer:
//!
//! - parsing returns, with readings or a parse error, and the same answer parses again;
//! - every event the poller would publish is read back by the worker's own decoder as a valid
//!   raw event of the segment and time it was prepared for, and drives a task;
//! - the same answer a second time publishes nothing (a feed that repeats itself is not
//!   published twice).

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use crate::config::SourceConfig;
use crate::domain::catalog::Catalog;
use crate::sources::locate::{parse_mapping, Locator};
use crate::sources::positions::Positions;
use crate::sources::prepare::prepare;

/// The answers' `Date` (2026-01-01T07:30:00Z), also the poller's clock.
const NOW_MS: i64 = 1_767_252_600_000;
/// `poll.max_body_bytes`' default.
const MAX_BODY: u64 = 16 << 20;

/// Segments near the fixtures' coordinates (tests/fixtures/sources), to snap to.
const CATALOG: &str = "segment_id,free_flow_kph,geometry\n\
    TT-SNAP,50,4.8495 52.42;4.8505 52.42\n\
    BUS-E,50,4.8900 52.37001;4.9000 52.37001\n\
    INC-A,50,4.9101 52.3795;4.9101 52.3810\n\
    INC-B,50,4.9101 52.3810;4.9101 52.3835\n\
    HERE-CLOSED,30,4.9200 52.3845;4.9200 52.3875\n";
/// Vendor locations of the fixtures, mapped.
const MAPPING: &str = "location,segment_id\n\
    OLR-OPEN,TT-OPEN\n\
    CCoBEAAmJQmadyVXRQAJBQQBAkcACgUEAYpTAAfI/7QACQUEAQK3ADAAgxM=,HERE-OPEN\n\
    L1,JSON-1\n\
    RWS01_MONIBAS_0021hrl0403ra,NDW-A\n";

fn locator() -> &'static Locator {
    static LOCATOR: OnceLock<Locator> = OnceLock::new();
    LOCATOR.get_or_init(|| {
        let catalog = Catalog::parse_csv(CATALOG).expect("the fuzz catalogue");
        Locator::new(
            parse_mapping(MAPPING).expect("the fuzz mapping"),
            &catalog,
            30.0,
        )
    })
}

/// A `[[sources]]` entry of `preset`, with `extra` TOML lines.
fn source(preset: &str, extra: &str) -> SourceConfig {
    let text = format!("name = \"fuzz\"\npreset = \"{preset}\"\nurl = \"http://127.0.0.1/feed\"\nbbox = \"4.8,52.3,5.0,52.5\"\n{extra}");
    toml::from_str(&text).expect("the fuzz source")
}

/// `body` as the answer to every request of the source's feed, twice (after `warm`, answers
/// the feed has seen before: GTFS-Realtime derives speeds from earlier positions).
fn answer(cfg: &SourceConfig, warm: &[&[u8]], body: &[u8]) {
    let mut feed = crate::sources::feed(cfg, MAX_BODY).expect("the preset's feed");
    let date = SystemTime::UNIX_EPOCH + Duration::from_millis(NOW_MS as u64);
    let requests = feed.requests(date);
    for w in warm {
        for req in &requests {
            let _ = feed.parse(req, w, Some(date));
        }
    }
    let mut published = Positions::default();
    for round in 0..2 {
        for req in &requests {
            let parsed = match feed.parse(req, body, Some(date)) {
                Ok(p) => p,
                Err(e) if round == 0 => {
                    assert!(!e.message.is_empty(), "a parse error says why");
                    return;
                }
                Err(e) => panic!("an answer that parsed once no longer parses: {e}"),
            };
            let none = Positions::default();
            let batch = prepare(
                "fuzz",
                &parsed.readings,
                locator(),
                &published,
                &none,
                NOW_MS,
            );
            if round == 1 {
                let again: Vec<_> = batch.events.iter().map(|e| &e.location).collect();
                assert!(
                    again.is_empty(),
                    "the same answer published again: {again:?}"
                );
            }
            for e in &batch.events {
                let read = crate::codec::with_raw_event(&e.value, |event| {
                    super::drive(event);
                    (event.segment_id.to_string(), event.ts)
                });
                let shown = String::from_utf8_lossy(&e.value);
                assert_eq!(read, Ok((e.segment.clone(), e.ts)), "published {shown}");
                published.advance(&e.location, e.ts);
            }
        }
    }
}

/// TomTom Flow Segment Data v4: the answer for a mapped point and for one that snaps.
pub fn poll_tomtom_flow(data: &[u8]) {
    static CFG: OnceLock<SourceConfig> = OnceLock::new();
    let cfg = CFG.get_or_init(|| {
        source(
            "tomtom_flow",
            "points = [\"52.41072,4.84239\", \"52.42,4.85\"]",
        )
    });
    answer(cfg, &[], data);
}

/// TomTom Incident Details v5.
pub fn poll_tomtom_incidents(data: &[u8]) {
    static CFG: OnceLock<SourceConfig> = OnceLock::new();
    answer(
        CFG.get_or_init(|| source("tomtom_incidents", "")),
        &[],
        data,
    );
}

/// HERE Traffic API v7 `/flow`.
pub fn poll_here_flow(data: &[u8]) {
    static CFG: OnceLock<SourceConfig> = OnceLock::new();
    answer(CFG.get_or_init(|| source("here_flow", "")), &[], data);
}

/// HERE Traffic API v7 `/incidents`.
pub fn poll_here_incidents(data: &[u8]) {
    static CFG: OnceLock<SourceConfig> = OnceLock::new();
    answer(CFG.get_or_init(|| source("here_incidents", "")), &[], data);
}

/// GTFS-Realtime VehiclePositions, after the first fixture (so positions without a speed
/// get one derived from the vehicles' earlier positions).
pub fn poll_gtfs_rt(data: &[u8]) {
    const FIRST: &[u8] =
        include_bytes!("../../tests/fixtures/sources/gtfs_rt_vehicle_positions_1.pb");
    static CFG: OnceLock<SourceConfig> = OnceLock::new();
    answer(CFG.get_or_init(|| source("gtfs_rt", "")), &[FIRST], data);
}

/// The generic JSON preset: byte 0 picks one of four mappings (flow in mph with epoch
/// seconds, detector records at the top level with RFC 3339 times, probes in m/s with epoch
/// milliseconds, reports), the rest is the document.
pub fn poll_json(data: &[u8]) {
    const MAPPINGS: [&str; 4] = [
        r#"records = "/items", type = "flow", location = "/id", timestamp = "/t", timestamp_unit = "s", speed = "/v", speed_unit = "mph", free_flow = "/ff", confidence = "/q", closed = "/shut", lat = "/pos/0", lon = "/pos/1", heading = "/h""#,
        r#"type = "detector", location = "/site", timestamp = "/time", volume = "/n", occupancy = "/occ", speed = "/kph", interval_s = 60"#,
        r#"records = "/vehicles", type = "probe", location = "/id", timestamp = "/ts", timestamp_unit = "ms", speed = "/mps", speed_unit = "mps", vehicle_id = "/vid", lat = "/lat", lon = "/lon""#,
        r#"records = "/reports", type = "report", location = "/id", timestamp = "/at", category = "/cat", report_id = "/rid", severity = "/sev", lat = "/lat", lon = "/lon""#,
    ];
    static CFGS: OnceLock<Vec<SourceConfig>> = OnceLock::new();
    let cfgs = CFGS.get_or_init(|| {
        MAPPINGS
            .iter()
            .map(|m| source("json", &format!("json = {{ {m} }}")))
            .collect()
    });
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    answer(&cfgs[usize::from(pick) % cfgs.len()], &[], body);
}
