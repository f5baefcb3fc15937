//! The demo's viewer: reads the worker's congestion and incident events back from the broker
//! (`read_committed`, as a downstream consumer of the transactional worker would), prints the
//! most congested segments every 3 s and every incident event as soon as it is read.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message};

use crate::domain::incident::IncidentEvent;
use crate::domain::output::CongestionEvent;

/// Events published or read back, by topic.
#[derive(Debug, Default, Clone, Copy)]
pub struct Read {
    pub congestion: u64,
    pub incidents: u64,
}

#[derive(Default)]
struct Seen {
    latest: HashMap<String, CongestionEvent>,
    incidents: Vec<String>,
    read: Read,
}

/// How long the viewer reads on, once the worker has stopped, to catch up with what it published.
const DRAIN: Duration = Duration::from_secs(10);

/// Reads both output topics until the demo sends what the worker published, which it does once
/// the worker has made its last commit; then reads on until it has read as many events (at most
/// [`DRAIN`]: records of an aborted transaction were published but are never read).
pub fn view(
    bootstrap: &str,
    congestion: &str,
    incidents: &str,
    published: &mpsc::Receiver<Read>,
) -> Read {
    let consumer: BaseConsumer = match ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "roadpulse-demo-viewer")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("demo: cannot create the viewer: {e}");
            return Read::default();
        }
    };
    if let Err(e) = consumer.subscribe(&[congestion, incidents]) {
        eprintln!("demo: the viewer cannot subscribe: {e}");
        return Read::default();
    }
    let terminal = std::io::stdout().is_terminal();
    let mut seen = Seen::default();
    let mut last_print = Instant::now();
    let mut target: Option<(Read, Instant)> = None;
    loop {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            seen.take(m.topic() == incidents, m.payload().unwrap_or_default());
        }
        if last_print.elapsed() >= Duration::from_secs(3) {
            last_print = Instant::now();
            print_table(&seen, terminal);
        }
        match target {
            None => match published.try_recv() {
                Ok(p) => target = Some((p, Instant::now() + DRAIN)),
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {}
            },
            Some((p, until)) => {
                let caught_up =
                    seen.read.congestion >= p.congestion && seen.read.incidents >= p.incidents;
                if caught_up || Instant::now() >= until {
                    break;
                }
            }
        }
    }
    seen.read
}

impl Seen {
    /// Counts and keeps one record of the congestion or the incident topic.
    fn take(&mut self, incident: bool, payload: &[u8]) {
        if incident {
            if let Ok(e) = serde_json::from_slice::<IncidentEvent>(payload) {
                self.read.incidents += 1;
                let line = incident_line(&e);
                println!("{line}");
                self.incidents.push(line);
            }
        } else if let Ok(e) = serde_json::from_slice::<CongestionEvent>(payload) {
            self.read.congestion += 1;
            self.latest.insert(e.segment_id.clone(), e);
        }
    }
}

fn clock(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()))
        .unwrap_or_default()
}

/// One incident event on one line: what, where, when (event time) and on what evidence.
pub fn incident_line(e: &IncidentEvent) -> String {
    let status = serde_json::to_value(e.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let severity = serde_json::to_value(e.severity)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let cleared = e
        .cleared_at
        .map_or(String::new(), |t| format!(" cleared {}", clock(t)));
    let speed = e
        .evidence
        .speed_kph
        .map_or(String::new(), |v| format!(", {v:.0} km/h"));
    format!(
        "incident {status:<8} {} {severity} started {} detected {}{cleared} ({}: {}{speed}, queue {} segment(s)) id {}",
        e.segment_id,
        clock(e.started_at),
        clock(e.detected_at),
        e.algorithm.as_str(),
        e.evidence.tests.join(","),
        e.evidence.extent,
        e.incident_id
    )
}

fn print_table(seen: &Seen, terminal: bool) {
    let mut out = std::io::stdout().lock();
    if terminal {
        let _ = write!(out, "\x1b[2J\x1b[H");
    }
    if seen.latest.is_empty() {
        let _ = writeln!(
            out,
            "waiting for the first windows to close (60 s windows + 30 s grace of simulated time)…"
        );
        return;
    }
    let mut rows: Vec<&CongestionEvent> = seen.latest.values().collect();
    rows.sort_by(|a, b| {
        a.speed_ratio
            .unwrap_or(1.0)
            .total_cmp(&b.speed_ratio.unwrap_or(1.0))
            .then(a.segment_id.cmp(&b.segment_id))
    });
    let mut by_level: HashMap<&str, usize> = HashMap::new();
    for e in seen.latest.values() {
        *by_level.entry(e.level.as_str()).or_default() += 1;
    }
    let levels = ["free", "light", "moderate", "heavy", "severe"]
        .map(|l| format!("{l} {}", by_level.get(l).unwrap_or(&0)))
        .join(" · ");
    let _ = writeln!(
        out,
        "\n{} segments reporting ({levels}); {} congestion and {} incident events read from Kafka",
        seen.latest.len(),
        seen.read.congestion,
        seen.read.incidents
    );
    let _ = writeln!(
        out,
        "{:<12} {:>9} {:>8} {:>7} {:>6} {:>5} {:<9} {:>3} {:>5}",
        "segment", "window", "speed", "free", "ratio", "TTI", "level", "LOS", "conf"
    );
    for e in rows.iter().take(10) {
        let num = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |x| format!("{x:.d$}"));
        let _ = writeln!(
            out,
            "{:<12} {:>9} {:>8} {:>7.0} {:>6} {:>5} {:<9} {:>3} {:>5.2}",
            e.segment_id,
            clock(e.window_start),
            num(e.speed_kph, 1),
            e.free_flow_kph,
            num(e.speed_ratio, 2),
            num(e.travel_time_index, 2),
            e.level.as_str(),
            e.los,
            e.confidence
        );
    }
    // On a terminal the screen was cleared: the incident events go under the table again.
    if terminal {
        for line in seen.incidents.iter().rev().take(6).rev() {
            let _ = writeln!(out, "{line}");
        }
    }
    let _ = out.flush();
}
