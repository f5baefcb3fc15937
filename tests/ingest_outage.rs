//! HTTP ingest across a hard broker crash (kill -9, down for a while, back on the same data).
//! A client posts numbered events in batches all along and, as a client should, sends the
//! records answered `failed` again after `Retry-After`. Every answer must come (503 while the
//! broker is away, never a hang), and afterwards every record answered `accepted` is in the
//! topic, at the partition and offset its answer named. A record lands twice only if one of
//! its attempts was answered `timeout` (it may have been written: at least once, documented).
//! A test binary of its own, so no other test shares the broker while it is down.

mod common;
mod ingest_client;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bootstrap, create_topics, read_topic, restart_broker, scratch_dir, unique};
use ingest_client::*;

const BATCH: usize = 20;

/// What the client saw.
#[derive(Default)]
struct Seen {
    accepted: BTreeMap<usize, (i32, i64)>,
    /// Records one of whose attempts was answered `timeout`.
    maybe_written: BTreeSet<usize>,
    unavailable_answers: usize,
    longest_answer: Duration,
}

/// Posts one batch until every record in it is accepted (or `give_up` passes).
fn post_batch(port: u16, first: usize, seen: &mut Seen, give_up: Instant) {
    let mut pending: Vec<usize> = (first..first + BATCH).collect();
    while !pending.is_empty() && Instant::now() < give_up {
        let body = format!(
            "[{}]",
            pending
                .iter()
                .map(|&n| event("o", n, false))
                .collect::<Vec<_>>()
                .join(",")
        );
        let started = Instant::now();
        let a = post_json(port, &body);
        seen.longest_answer = seen.longest_answer.max(started.elapsed());
        match a.status {
            200 => {}
            503 => {
                seen.unavailable_answers += 1;
                assert_eq!(a.header("retry-after"), Some("1"), "503 says when to retry");
            }
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&a.body)),
        }
        let json = a.json();
        let mut again = Vec::new();
        match json["results"].as_array() {
            // Refused as a whole (Kafka not reachable): nothing was written.
            None => again = pending.clone(),
            Some(results) => {
                for (r, &n) in results.iter().zip(&pending) {
                    match r["status"].as_str() {
                        Some("accepted") => {
                            let at = (
                                r["partition"].as_i64().unwrap() as i32,
                                r["offset"].as_i64().unwrap(),
                            );
                            assert!(seen.accepted.insert(n, at).is_none(), "{n} accepted twice");
                        }
                        Some("failed") => {
                            if r["kind"] == "timeout" {
                                seen.maybe_written.insert(n);
                            }
                            again.push(n);
                        }
                        _ => panic!("valid record {n} answered {r}"),
                    }
                }
            }
        }
        pending = again;
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

#[test]
fn ingest_survives_a_broker_crash_and_loses_no_acknowledged_record() {
    let topic = unique("ingest-outage");
    create_topics(&bootstrap(), &[&topic], 3);
    let ingest = Ingest::start(&bootstrap(), &topic, &scratch_dir("ingest-outage"), &[]);
    let port = ingest.port;
    let stop = Arc::new(AtomicBool::new(false));
    let batches = Arc::new(AtomicUsize::new(0));
    let client = {
        let (stop, batches) = (Arc::clone(&stop), Arc::clone(&batches));
        std::thread::spawn(move || {
            let mut seen = Seen::default();
            let give_up = Instant::now() + Duration::from_secs(240);
            while !stop.load(Ordering::SeqCst) && Instant::now() < give_up {
                let first = batches.load(Ordering::SeqCst) * BATCH;
                post_batch(port, first, &mut seen, give_up);
                batches.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
            seen
        })
    };
    let wait_for_batches = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while batches.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "the client made no progress");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for_batches(20);
    let back = restart_broker(8);
    assert_eq!(
        back,
        bootstrap(),
        "the broker came back on the same address"
    );
    let after = batches.load(Ordering::SeqCst);
    wait_for_batches(after + 20);
    stop.store(true, Ordering::SeqCst);
    let seen = client.join().expect("client thread");
    let sent = batches.load(Ordering::SeqCst) * BATCH;

    assert!(seen.unavailable_answers > 0, "the outage was answered 503");
    assert_eq!(
        seen.accepted.len(),
        sent,
        "every record was accepted in the end"
    );
    let read = read_topic(&bootstrap(), &topic, Duration::from_secs(90), |rs| {
        rs.iter()
            .map(|r| id_of(r.value.as_deref().unwrap()))
            .collect::<BTreeSet<_>>()
            .len()
            >= sent
    });
    let mut copies: BTreeMap<usize, Vec<(i32, i64)>> = BTreeMap::new();
    for r in &read {
        let id = id_of(r.value.as_deref().unwrap());
        let n: usize = id
            .strip_prefix("o-")
            .and_then(|n| n.parse().ok())
            .expect("an id we sent");
        copies.entry(n).or_default().push((r.partition, r.offset));
    }
    let mut duplicated = 0;
    for (n, at) in &seen.accepted {
        let found = copies.get(n).cloned().unwrap_or_default();
        assert!(
            found.contains(at),
            "record {n} answered accepted at {at:?} is in the topic (found {found:?})"
        );
        if found.len() > 1 {
            duplicated += 1;
            assert!(
                seen.maybe_written.contains(n) && found.len() == 2,
                "record {n} landed {} times: {found:?}",
                found.len()
            );
        }
    }
    eprintln!(
        "ingest outage: {sent} records accepted, {} answers 503, {} records answered timeout, {duplicated} of them written twice, longest answer {:?}",
        seen.unavailable_answers,
        seen.maybe_written.len(),
        seen.longest_answer
    );
    assert_eq!(copies.len(), sent, "nothing else landed");
    assert!(
        ingest.metric("roadpulse_kafka_errors_total{kind=\"all_brokers_down\"}")
            + ingest.metric("roadpulse_kafka_errors_total{kind=\"transport\"}")
            > 0.0,
        "the outage is in the metrics"
    );
}
