//! `roadpulse poll` presets against local vendor APIs (tests/poll/server.rs) serving fixtures
//! in each vendor's documented format (tests/fixtures/sources/): the raw events each
//! publishes to the real broker, once each over repeated polls.

mod common;
#[path = "poll/server.rs"]
mod server;
#[path = "poll/support.rs"]
mod support;

use std::time::Duration;

use serde_json::Value;

use server::{Reply, Server};
use support::{raw_events, Poller};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sources");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

const PRESETS_CATALOG: &str = "segment_id,free_flow_kph,geometry\n\
    BUS-E,50,4.8900 52.37001;4.9000 52.37001\n\
    INC-A,50,4.9101 52.3795;4.9101 52.3810\n\
    INC-B,50,4.9101 52.3810;4.9101 52.3835\n\
    HERE-CLOSED,30,4.9200 52.3845;4.9200 52.3875\n";

/// GTFS-Realtime (v2.0, encoded by Google's bindings), HERE v7 flow and incidents, TomTom
/// Incident Details v5: the raw events each publishes, once each over repeated polls.
#[test]
fn every_preset_publishes_its_readings_once() {
    let bootstrap = common::bootstrap();
    let dir = common::scratch_dir("poll-presets");
    let raw = common::unique("poll-presets-raw");
    common::create_topics(&bootstrap, &[&raw], 2);
    let first = std::fs::read(format!("{FIXTURES}/gtfs_rt_vehicle_positions_1.pb")).unwrap();
    let second = std::fs::read(format!("{FIXTURES}/gtfs_rt_vehicle_positions_2.pb")).unwrap();
    let gtfs_polls = std::sync::atomic::AtomicUsize::new(0);
    let api = Server::start(move |req| match req.path.as_str() {
        "/gtfs/vehiclepositions.pb" => {
            let n = gtfs_polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Reply::ok(if n == 0 {
                first.clone()
            } else {
                second.clone()
            })
            .header("Content-Type", "application/x-protobuf")
        }
        "/here/v7/flow" => Reply::ok(fixture("here_flow_v7.json")),
        "/here/v7/incidents" => Reply::ok(fixture("here_incidents_v7.json")),
        "/tomtom/incidentDetails" => Reply::ok(fixture("tomtom_incidents_v5.json")),
        _ => Reply::status(404),
    });
    std::fs::write(dir.join("catalog.csv"), PRESETS_CATALOG).unwrap();
    let olr = "CCoBEAAmJQmadyVXRQAJBQQBAkcACgUEAYpTAAfI/7QACQUEAQK3ADAAgxM=";
    std::fs::write(
        dir.join("mapping.csv"),
        format!("location,segment_id\n{olr},HERE-OPEN\n"),
    )
    .unwrap();
    let source = |name: &str, preset: &str, path: &str, extra: &str| {
        format!(
            "[[sources]]\nname = \"{name}\"\npreset = \"{preset}\"\nurl = \"{}\"\ninterval = \"500ms\"\nmapping = \"{}\"\n{extra}\n",
            api.url(path),
            dir.join("mapping.csv").display()
        )
    };
    let bbox = "bbox = \"4.8,52.3,5.0,52.5\"\napi_key_env = \"VENDOR_KEY\"";
    let sources = [
        format!(
            "[congestion]\ncatalog = \"{}\"",
            dir.join("catalog.csv").display()
        ),
        source("buses", "gtfs_rt", "/gtfs/vehiclepositions.pb", ""),
        source("here-flow", "here_flow", "/here/v7/flow", bbox),
        source(
            "here-incidents",
            "here_incidents",
            "/here/v7/incidents",
            bbox,
        ),
        source(
            "tomtom-incidents",
            "tomtom_incidents",
            "/tomtom/incidentDetails",
            bbox,
        ),
    ]
    .join("\n");
    let poller = Poller::config(&dir, &bootstrap, &raw, "", &sources);
    let mut p = poller.start(&dir, "poller", &[("VENDOR_KEY", "k")]);
    assert!(
        poller.wait_ready(true, Duration::from_secs(60)),
        "{}",
        p.log_text()
    );
    let dropped = |source: &str, reason: &str| {
        poller.metric(
            "roadpulse_source_readings_dropped_total",
            &[("source", source), ("reason", reason)],
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while dropped("buses", "seen") < 2.0 || dropped("tomtom-incidents", "seen") < 3.0 {
        assert!(
            std::time::Instant::now() < deadline && p.is_running(),
            "{}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(dropped("buses", "unmapped") >= 2.0 && dropped("buses", "no_speed") >= 1.0);
    p.stop();
    let events = raw_events(&bootstrap, &raw, Duration::from_secs(20), |vs| {
        vs.len() >= 10
    });
    let of = |source: &str| -> Vec<(String, Value)> {
        events
            .iter()
            .filter(|(_, v)| v["source"] == source)
            .cloned()
            .collect()
    };
    // Buses: A twice (feed speed), B once its speed is known (from two positions), C once
    // although the second feed repeats its time, D far from every segment.
    let buses = of("buses");
    let speeds: Vec<(String, String, f64)> = buses
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v["vehicle_id"].as_str().unwrap().to_string(),
                v["speed_kph"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(speeds.len(), 4, "{speeds:?}");
    assert!(speeds.iter().all(|(k, _, _)| k == "BUS-E"));
    let speed = |id: &str| {
        speeds
            .iter()
            .filter(|s| s.1 == id)
            .map(|s| s.2)
            .collect::<Vec<_>>()
    };
    assert!(
        speed("A")
            .iter()
            .zip([28.8, 32.4])
            .all(|(g, w)| (g - w).abs() < 1e-3),
        "{:?}",
        speed("A")
    );
    assert_eq!(speed("C").len(), 1);
    assert!(
        speed("B").len() == 1 && (speed("B")[0] - 16.3).abs() < 0.1,
        "{:?}",
        speed("B")
    );
    // HERE flow: the mapped OpenLR location in m/s → km/h; the closed road snapped.
    let here = of("here-flow");
    let open = here
        .iter()
        .find(|(k, _)| k == "HERE-OPEN")
        .expect("mapped by OpenLR");
    assert!(
        (open.1["speed_kph"].as_f64().unwrap() - 50.0).abs() < 1e-3 && open.1["type"] == "flow"
    );
    let closed = here
        .iter()
        .find(|(k, _)| k == "HERE-CLOSED")
        .expect("snapped");
    assert_eq!(
        (closed.1["closed"].as_bool(), closed.1["speed_kph"].as_f64()),
        (Some(true), Some(0.0))
    );
    assert_eq!(
        here.len(),
        2,
        "sourceUpdated did not change: published once"
    );
    // Incidents: one report per segment the line covers.
    let mut tt: Vec<(String, String)> = of("tomtom-incidents")
        .iter()
        .map(|(k, v)| (k.clone(), v["category"].as_str().unwrap().to_string()))
        .collect();
    tt.sort();
    let want = [
        ("INC-A", "breakdown"),
        ("INC-A", "closure"),
        ("INC-B", "closure"),
    ];
    assert_eq!(tt, want.map(|(a, b)| (a.to_string(), b.to_string())));
    let h = of("here-incidents");
    assert_eq!(h.len(), 1);
    assert_eq!(
        (
            h[0].0.as_str(),
            h[0].1["category"].as_str(),
            h[0].1["severity"].as_str()
        ),
        ("HERE-CLOSED", Some("accident"), Some("major"))
    );
}
