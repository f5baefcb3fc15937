//! Incident detection at network scale, in process (both stages as `roadpulse replay` runs
//! them): a connected road network of 1 k to 100 k segments shaped like a region (motorways
//! with interchanges and an urban grid, `roadpulse::sim::road_network`), three probe pings per
//! segment and 1-minute window, 12 input and 12 detection partitions.
//!
//! - **Cost per segment-window**: the same input through the input tasks with detection and
//!   without, side by side; the difference over segments × windows is what detection costs.
//!   The target: within 2× from 1 k to 100 k segments.
//! - **Load per detection partition**: final windows each receives (a window goes to every
//!   partition holding a key within two links of its segment); the target on 10 k segments:
//!   no partition above 2× the mean.
//! - **State per segment after a week** (`--week`): a week of 1-minute windows on a 1 k grid,
//!   so that every 5-minute baseline bin is filled; live heap bytes counted by allocator, with
//!   detection minus without, per segment. The target: ≤ 2 KB.
//! - **Peak RSS** (`--rss`): one process per run (detection on and off) at 100 k segments.
//!
//! Run: `cargo bench --bench detection` (sizes 1 k, 10 k, 100 k; `-- --windows 10`),
//! `cargo bench --bench detection -- --week`, `cargo bench --bench detection -- --rss`.

mod support;

use std::sync::Arc;
use std::time::Instant;

use roadpulse::domain::catalog::Catalog;
use roadpulse::domain::event::{EventBody, RawEvent};
use roadpulse::domain::incident::local::LocalDetection;
use roadpulse::domain::incident::network::Network;
use roadpulse::domain::incident::probe::ProbeSettings;
use roadpulse::domain::incident::route::Routing;
use roadpulse::domain::incident::DetectSettings;
use roadpulse::domain::partition::partition_for_key;
use roadpulse::domain::processor::{EmitMode, ProcessorSettings, Task};
use roadpulse::domain::window::WindowSpec;
use roadpulse::sim::generator::{segment_id, Rng};
use roadpulse::sim::road_network::connected_catalog;
use support::{arg, flag, live, peak_rss_mb, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const PARTITIONS: u32 = 12;
const WINDOW_MS: i64 = 60_000;
const START: i64 = 1_767_225_600_000;

struct Net {
    catalog: Arc<Catalog>,
    ids: Vec<String>,
    partition: Vec<usize>,
}

fn net(segments: u32) -> Net {
    let ids: Vec<String> = (0..segments).map(segment_id).collect();
    let partition = ids
        .iter()
        .map(|id| partition_for_key(id.as_bytes(), PARTITIONS) as usize)
        .collect();
    Net {
        catalog: Arc::new(connected_catalog(segments).expect("enough segments")),
        ids,
        partition,
    }
}

struct Outcome {
    seconds: f64,
    incidents: usize,
    received: Vec<u64>,
    heap: usize,
}

/// `windows` windows of `pings` probe pings per segment through 12 input tasks, and with
/// `detect` through detection.
fn run(net: &Net, windows: i64, pings: i64, detect: bool) -> Outcome {
    let settings = Arc::new(ProcessorSettings {
        catalog: Arc::clone(&net.catalog),
        detection: detect.then(ProbeSettings::default),
        ..ProcessorSettings::new(WindowSpec::tumbling(WINDOW_MS, 0), EmitMode::Final)
    });
    let base = live();
    let mut tasks: Vec<Task> = (0..PARTITIONS)
        .map(|_| Task::new(Arc::clone(&settings)))
        .collect();
    let mut detection = detect.then(|| {
        let network = Arc::new(Network::from_catalog(&net.catalog));
        let routing = Arc::new(Routing::new(network, 2, PARTITIONS));
        LocalDetection::new(routing, Arc::new(DetectSettings::default()), PARTITIONS)
    });
    let mut rng = Rng::new(7);
    let (mut out, mut incidents) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let mut offset = 0;
    for w in 0..windows {
        for ping in 0..pings {
            let ts = START + w * WINDOW_MS + 1_000 + ping * (WINDOW_MS - 2_000) / pings;
            for (i, id) in net.ids.iter().enumerate() {
                let free_flow = net.catalog.free_flow_kph(id).unwrap_or(50.0);
                let body = EventBody::Probe {
                    speed_kph: free_flow * (0.9 + 0.1 * rng.unit()),
                    vehicle_id: None,
                    source: None,
                    offset_m: None,
                };
                let event = RawEvent {
                    segment_id: id,
                    ts,
                    body,
                };
                let p = net.partition[i];
                offset += 1;
                tasks[p].on_event(offset, &event, ts, &mut out);
                if let Some(d) = detection.as_mut() {
                    d.after(p as u32, &mut tasks[p], &mut incidents);
                }
            }
            out.clear();
        }
    }
    let heap = live() - base;
    for (p, task) in tasks.iter_mut().enumerate() {
        task.close_all(&mut out);
        if let Some(d) = detection.as_mut() {
            d.after(p as u32, task, &mut incidents);
        }
    }
    if let Some(d) = detection.as_mut() {
        d.finish(&mut incidents);
    }
    let seconds = started.elapsed().as_secs_f64();
    let received = detection
        .as_ref()
        .map(|d| d.tasks().iter().map(|t| t.received()).collect())
        .unwrap_or_default();
    Outcome {
        seconds,
        incidents: incidents.len(),
        received,
        heap,
    }
}

fn scale(windows: i64) {
    println!("segments  links  segment-windows  without s  with s  detection µs per segment-window  incidents  busiest partition / mean");
    let mut first: Option<f64> = None;
    for segments in [1_000, 10_000, 100_000] {
        let net = net(segments);
        let links = Network::from_catalog(&net.catalog).links();
        let plain = run(&net, windows, 3, false);
        let with = run(&net, windows, 3, true);
        let segment_windows = (net.ids.len() as i64 * windows) as f64;
        let cost = (with.seconds - plain.seconds).max(0.0) / segment_windows * 1e6;
        let mean = with.received.iter().sum::<u64>() as f64 / with.received.len() as f64;
        let max = with.received.iter().copied().max().unwrap_or(0) as f64;
        let ratio = first.map_or(1.0, |f| cost / f);
        first.get_or_insert(cost);
        println!(
            "{:>8}  {:>5}  {:>15}  {:>9.2}  {:>6.2}  {:>12.2} ({ratio:.2}× the 1 k cost)  {:>9}  {:>6.2}",
            net.ids.len(),
            links,
            segment_windows,
            plain.seconds,
            with.seconds,
            cost,
            with.incidents,
            max / mean
        );
    }
}

fn week() {
    let net = net(1_000);
    let windows = 7 * 1_440;
    let plain = run(&net, windows, 1, false);
    let with = run(&net, windows, 1, true);
    let per_segment = (with.heap as f64 - plain.heap as f64) / net.ids.len() as f64;
    println!(
        "a week of 1-minute windows on {} segments: detection state {per_segment:.0} bytes per segment (live heap with detection {} B, without {} B; {} incident events)",
        net.ids.len(),
        with.heap,
        plain.heap,
        with.incidents
    );
}

fn rss() {
    if let Some(detect) = std::env::args().skip_while(|a| a != "--one").nth(1) {
        let net = net(arg("--segments", 100_000) as u32);
        let r = run(&net, arg("--windows", 5) as i64, 3, detect == "on");
        println!("{} {:.1} {:.0}", detect, r.seconds, peak_rss_mb());
        return;
    }
    let exe = std::env::current_exe().expect("this benchmark");
    let mut rss = Vec::new();
    for detect in ["off", "on"] {
        let out = std::process::Command::new(&exe)
            .args(["--rss", "--one", detect])
            .output()
            .expect("run");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mb: f64 = text
            .split_whitespace()
            .nth(2)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN);
        println!("100 k segments, 5 windows, detection {detect}: peak RSS {mb:.0} MB");
        rss.push(mb);
    }
    println!("peak RSS with detection / without: {:.2}", rss[1] / rss[0]);
}

fn main() {
    if flag("--week") {
        week();
    } else if flag("--rss") {
        rss();
    } else {
        scale(arg("--windows", 6) as i64);
    }
}
