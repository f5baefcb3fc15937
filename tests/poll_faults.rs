//! `roadpulse poll` when things go wrong: a vendor that throttles (429 with Retry-After),
//! fails (500), hangs past the timeout, cuts its body short and sends malformed JSON; and the
//! poller killed with kill -9 in the middle of a transaction. On the real broker; readings are
//! read back with `read_committed`.

mod common;
#[path = "poll/server.rs"]
mod server;
#[path = "poll/support.rs"]
mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{create_topics, scratch_dir, unique};
use server::{Reply, Server};
use support::{by_location, raw_events, Poller};

const GOOD: &str = r#"{"flowSegmentData":{"frc":"FRC2","currentSpeed":41,"freeFlowSpeed":70,"confidence":0.9,"roadClosure":false,"openlr":"OLR-OPEN"}}"#;

/// The n-th answer (from 1) of a vendor having a bad time, then good answers.
fn troubled(n: usize) -> Reply {
    match n {
        1 => Reply::status(429)
            .header("Retry-After", "2")
            .body("slow down"),
        2 => Reply::status(500).body("internal error"),
        3 => Reply::ok(GOOD).delay(Duration::from_millis(1_500)),
        4 => Reply::ok(GOOD).cut_at(40),
        5 => Reply::ok(r#"{"flowSegmentData":{"currentSpeed":"#),
        _ => Reply::ok(GOOD),
    }
}

#[test]
fn failures_are_counted_retried_and_reported_by_readyz() {
    let bootstrap = common::bootstrap();
    let dir = scratch_dir("poll-faults");
    let raw = unique("poll-faults-raw");
    create_topics(&bootstrap, &[&raw], 2);
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let api = Server::start(move |_| troubled(c.fetch_add(1, Ordering::SeqCst) + 1));
    let mapping = dir.join("mapping.csv");
    std::fs::write(&mapping, "location,segment_id\nOLR-OPEN,TT-OPEN\n").unwrap();
    let key = dir.join("tomtom.key");
    std::fs::write(&key, "s3cr3t-file-key\n").unwrap();
    let sources = format!(
        "[[sources]]\nname = \"tomtom\"\npreset = \"tomtom_flow\"\nurl = \"{}\"\napi_key_file = \"{}\"\n\
         points = [\"52.41072,4.84239\"]\nmapping = \"{}\"\ninterval = \"300ms\"\ntimeout = \"700ms\"\n",
        api.url("/flowSegmentData/absolute/10/json"),
        key.display(),
        mapping.display()
    );
    let poller = Poller::config(&dir, &bootstrap, &raw, "missed_polls = 3", &sources);
    let mut p = poller.start(&dir, "poller", &[]);
    assert!(
        poller.wait_ready(true, Duration::from_secs(60)),
        "ready once started: {}",
        p.log_text()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let readyz = loop {
        let r = common::http_get(poller.http_port, "/readyz");
        if r.contains("missed its polls") || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        readyz.contains(" 503 ") && readyz.contains("tomtom (3 polls failed)"),
        "three failed polls: {readyz}"
    );
    assert!(
        poller.wait_ready(true, Duration::from_secs(30)),
        "ready again once a poll succeeds"
    );
    let events = raw_events(&bootstrap, &raw, Duration::from_secs(30), |vs| {
        vs.len() >= 3
    });
    for outcome in [
        "throttled",
        "server_error",
        "timeout",
        "transport",
        "unparsable",
        "ok",
    ] {
        let n = poller.metric(
            "roadpulse_source_requests_total",
            &[("source", "tomtom"), ("outcome", outcome)],
        );
        assert!(n >= 1.0, "{outcome}: {n}\n{}", poller.metrics());
    }
    let seen = api.seen();
    let waited = seen[1].at - seen[0].at;
    assert!(
        waited >= Duration::from_millis(1_900),
        "Retry-After: 2 honoured, waited {waited:?}"
    );
    assert!(
        seen.iter().all(|r| r.query.contains("key=s3cr3t-file-key")),
        "the key from the file"
    );
    let log = p.log_text();
    assert!(
        log.contains("response does not parse") && log.contains("currentSpeed"),
        "logged with a sample: {log}"
    );
    assert!(
        !log.contains("s3cr3t-file-key") && !poller.metrics().contains("s3cr3t"),
        "the key is never shown"
    );
    assert!(p.is_running(), "no bad answer stops the process");
    // Every good answer is a new reading (TomTom's time is the answer's Date), each published once.
    let at = by_location(&events);
    let times = &at["52.410720,4.842390"];
    let mut distinct = times.clone();
    distinct.dedup();
    assert_eq!(&distinct, times);
    p.stop();
}

/// A feed that keeps its whole history: reading `k` of each location has time `BASE + k s`,
/// shown once `k · STEP` has passed since the feed started. Nothing a poller missed is gone.
struct History {
    started: Instant,
    locations: usize,
    readings: usize,
}

const STEP: Duration = Duration::from_millis(100);
const BASE: i64 = 1_767_225_600_000;

impl History {
    fn new(locations: usize, readings: usize) -> Arc<History> {
        Arc::new(History {
            started: Instant::now(),
            locations,
            readings,
        })
    }

    fn doc(&self) -> String {
        let released = ((self.started.elapsed().as_millis() / STEP.as_millis()) as usize + 1)
            .min(self.readings);
        let mut items = Vec::new();
        for k in 0..released {
            for l in 0..self.locations {
                items.push(format!(
                    r#"{{"id":"L{l}","t":{},"kph":{}}}"#,
                    BASE + k as i64 * 1000,
                    30 + (k + l) % 50
                ));
            }
        }
        format!(r#"{{"items":[{}]}}"#, items.join(","))
    }
}

/// `feed` served on 127.0.0.1, a mapping of its locations `L0`… to `S0`…, and the
/// `[[sources]]` entry (generic JSON, polled every 200 ms, with `extra` lines) that reads it.
fn history_source(dir: &Path, feed: &Arc<History>, extra: &str) -> (Server, String) {
    let f = Arc::clone(feed);
    let api = Server::start(move |_| Reply::ok(f.doc()));
    let mapping = dir.join("mapping.csv");
    let lines: String = (0..feed.locations)
        .map(|l| format!("L{l},S{l}\n"))
        .collect();
    std::fs::write(&mapping, format!("location,segment_id\n{lines}")).unwrap();
    let source = format!(
        "[[sources]]\nname = \"loops\"\npreset = \"json\"\nurl = \"{}\"\nmapping = \"{}\"\ninterval = \"200ms\"\n{extra}\n\
         json = {{ records = \"/items\", type = \"flow\", location = \"/id\", timestamp = \"/t\", speed = \"/kph\" }}\n",
        api.url("/feed.json"),
        mapping.display()
    );
    (api, source)
}

#[test]
fn kill_9_mid_transaction_then_restart_loses_and_repeats_nothing() {
    let bootstrap = common::bootstrap();
    let dir = scratch_dir("poll-kill9");
    let raw = unique("poll-kill9-raw");
    create_topics(&bootstrap, &[&raw], 3);
    let feed = History::new(4, 80);
    // Transactions of a minute: the kill lands inside one, with readings already sent.
    let boundary = "transaction_boundary = \"interval\"\ntransaction_interval = \"60s\"";
    let (_api, source) = history_source(&dir, &feed, boundary);
    let first = Poller::config(&dir, &bootstrap, &raw, "", &source);
    let mut p1 = first.start(&dir, "p1", &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while uncommitted(&bootstrap, &raw) < 40 {
        assert!(
            Instant::now() < deadline && p1.is_running(),
            "readings sent in an open transaction: {}",
            p1.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    p1.kill();
    let none = raw_events(&bootstrap, &raw, Duration::from_secs(3), |_| false);
    assert!(
        none.is_empty(),
        "the killed poller's transaction never commits"
    );
    // Same poll.id and positions topic: the restarted poller fences the dead one's producer.
    let text = std::fs::read_to_string(&first.config)
        .unwrap()
        .replace("\"interval\"", "\"poll\"");
    std::fs::write(&first.config, text).unwrap();
    let mut p2 = first.start(&dir, "p2", &[]);
    let total = feed.locations * feed.readings;
    let events = raw_events(&bootstrap, &raw, Duration::from_secs(90), |vs| {
        vs.len() >= total
    });
    let at = by_location(&events);
    for l in 0..feed.locations {
        let want: Vec<i64> = (0..feed.readings as i64).map(|k| BASE + k * 1000).collect();
        assert_eq!(
            at[&format!("L{l}")],
            want,
            "L{l}: every reading exactly once, in order"
        );
    }
    assert_eq!(events.len(), total, "no duplicates");
    assert!(p2.is_running());
    p2.stop();
}

/// Records on `topic` a `read_uncommitted` reader sees (those of open transactions too).
fn uncommitted(bootstrap: &str, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("peek"))
        .set("isolation.level", "read_uncommitted")
        .create()
        .unwrap();
    (0..3)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(5))
                .map_or(0, |(lo, hi)| hi - lo)
        })
        .sum()
}

/// Waits (up to `within`) for the fenced poller `p` to exit 1 with its one sentence.
fn assert_fenced(p: &mut common::Worker, within: Duration) {
    let code = p.wait_exit(within);
    let log = p.log_text();
    assert_eq!(
        code,
        Some(1),
        "the fenced poller exits 1 within {within:?}:\n{log}"
    );
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("roadpulse: source loops stopped: another poller with the same poll.id"),
        "one sentence says why: {last}"
    );
}

/// Two pollers with the same `poll.id` (so the same transactional ids) while the feed still
/// has readings to give: the second fences the first, which stops at its next transaction
/// (exit 1, one sentence), and carries on from the committed positions. Read with
/// `read_committed`, every reading is there exactly once, and the positions match it.
#[test]
fn a_twin_with_the_same_poll_id_fences_the_first_which_stops() {
    let bootstrap = common::bootstrap();
    let dir = scratch_dir("poll-fence");
    let raw = unique("poll-fence-raw");
    create_topics(&bootstrap, &[&raw], 3);
    // New readings every 100 ms for 20 s.
    let feed = History::new(4, 200);
    let (_api, sources) = history_source(&dir, &feed, "");
    let first = Poller::config(&dir, &bootstrap, &raw, "", &sources);
    let mut p1 = first.start(&dir, "p1", &[]);
    assert!(
        first.wait_ready(true, Duration::from_secs(60)),
        "{}",
        p1.log_text()
    );
    let published = |p: &Poller| {
        p.metric(
            "roadpulse_source_readings_published_total",
            &[("source", "loops")],
        )
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while published(&first) < 40.0 {
        assert!(
            Instant::now() < deadline && p1.is_running(),
            "the first poller publishes: {}",
            p1.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let second = first.twin();
    let mut p2 = second.start(&dir, "p2", &[]);
    assert_fenced(&mut p1, Duration::from_secs(60));
    assert!(
        feed.started.elapsed() < STEP * feed.readings as u32,
        "fenced while its feed still had readings to give"
    );
    let total = feed.locations * feed.readings;
    let events = raw_events(&bootstrap, &raw, Duration::from_secs(90), |vs| {
        vs.len() >= total
    });
    let at = by_location(&events);
    let want: Vec<i64> = (0..feed.readings as i64).map(|k| BASE + k * 1000).collect();
    for l in 0..feed.locations {
        assert_eq!(
            at[&format!("L{l}")],
            want,
            "L{l}: every reading once, in order"
        );
    }
    assert_eq!(events.len(), total, "no duplicates");
    assert!(
        published(&second) > 0.0 && p2.is_running(),
        "{}",
        p2.log_text()
    );
    p2.stop();
    // The positions: per location, committed in order, each the time of a published reading,
    // the last one the newest reading.
    let records = common::read_topic(
        &bootstrap,
        &first.positions_topic(),
        Duration::from_secs(30),
        |rs| rs.len() >= feed.locations,
    );
    let mut positions: std::collections::BTreeMap<String, Vec<(i32, i64, i64)>> =
        Default::default();
    for r in &records {
        let key: serde_json::Value = serde_json::from_slice(r.key.as_deref().unwrap()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
        let Some(location) = key[1]["location"].as_str().map(str::to_string) else {
            continue; // a fence check, not a position
        };
        let ts = value["ts"].as_i64().unwrap();
        positions
            .entry(location)
            .or_default()
            .push((r.partition, r.offset, ts));
    }
    assert_eq!(positions.len(), feed.locations, "{positions:?}");
    for (location, mut marks) in positions {
        marks.sort();
        let times: Vec<i64> = marks.iter().map(|m| m.2).collect();
        assert!(
            times.windows(2).all(|w| w[0] < w[1]),
            "{location}: {times:?}"
        );
        assert!(
            times.iter().all(|t| want.contains(t)),
            "{location}: {times:?}"
        );
        assert_eq!(times.last(), want.last(), "{location}: the newest reading");
    }
}

/// A feed that serves a fixed set of readings and then nothing new: the first poller has
/// published them all and makes no transactional write of its own any more when its twin
/// starts. Its fence check (`poll.fence_check_interval`) still finds out: it exits 1 within
/// the check interval plus a poll, and the twin, which finds every reading at or before its
/// position, publishes nothing a second time and keeps running through its own checks.
#[test]
fn an_idle_poller_fenced_by_a_twin_stops_within_the_fence_check() {
    let bootstrap = common::bootstrap();
    let dir = scratch_dir("poll-idle-fence");
    let raw = unique("poll-idle-fence-raw");
    create_topics(&bootstrap, &[&raw], 3);
    let feed = History::new(3, 5); // all 15 readings out after 0.5 s
    let (_api, sources) = history_source(&dir, &feed, "");
    let check = Duration::from_secs(2);
    let first = Poller::config(
        &dir,
        &bootstrap,
        &raw,
        "fence_check_interval = \"2s\"",
        &sources,
    );
    let mut p1 = first.start(&dir, "p1", &[]);
    let total = feed.locations * feed.readings;
    let events = raw_events(&bootstrap, &raw, Duration::from_secs(60), |vs| {
        vs.len() >= total
    });
    assert_eq!(events.len(), total, "{}", p1.log_text());
    let second = first.twin();
    let mut p2 = second.start(&dir, "p2", &[]);
    assert!(
        second.wait_ready(true, Duration::from_secs(60)),
        "{}",
        p2.log_text()
    );
    // Bound: the check interval, one poll (200 ms) and the check's own commit; the rest is
    // slack for a loaded machine.
    assert_fenced(&mut p1, check + Duration::from_secs(20));
    // The twin outlives a few checks of its own and publishes nothing again.
    std::thread::sleep(check * 2);
    assert!(p2.is_running(), "{}", p2.log_text());
    let published = second.metric(
        "roadpulse_source_readings_published_total",
        &[("source", "loops")],
    );
    assert_eq!(published, 0.0, "{}", second.metrics());
    let again = raw_events(&bootstrap, &raw, Duration::from_secs(3), |_| false);
    assert_eq!(again.len(), total, "each reading once");
    let at = by_location(&again);
    let want: Vec<i64> = (0..feed.readings as i64).map(|k| BASE + k * 1000).collect();
    for l in 0..feed.locations {
        assert_eq!(at[&format!("L{l}")], want, "L{l}");
    }
    p2.stop();
}
