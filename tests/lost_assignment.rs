//! A lost assignment against the real broker: a worker that stops answering the group (SIGSTOP)
//! for longer than its session but shorter than its transaction timeout loses its partitions
//! while its transaction is still open. Another worker takes them over from the last commit and
//! publishes their windows. When the stopped worker runs again (SIGCONT) librdkafka reports the
//! assignment lost, and what its open transaction holds belongs to partitions it no longer owns:
//! the worker must abort it, not commit it at its next commit. The committed output must still
//! equal `roadpulse replay`, with no window published twice.
//!
//! The stopped worker commits only every 45 s (and before each task it restores), so what it
//! read after its last task's restore sits in its open transaction when it stops, and its
//! first commit after it runs again comes well after librdkafka reports the loss (a commit
//! that came first would be refused by the broker for its stale generation, which hides the
//! question).

mod common;

use std::time::Duration;

use common::*;

const PARTITIONS: i32 = 4;

/// The sum of `worker`'s series `name` on `topic` (its `/metrics` at `port`).
fn counted(port: u16, name: &str, topic: &str) -> f64 {
    http_get(port, "/metrics")
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(topic))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits (at most 90 s) until `worker`'s series `name` on `topic` reaches `at_least`.
fn wait_counted(worker: &Worker, port: u16, name: &str, topic: &str, at_least: f64) {
    assert!(
        worker.wait_for_log("serving /metrics", Duration::from_secs(30)),
        "{}",
        worker.log_text()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while counted(port, name, topic) < at_least {
        assert!(
            std::time::Instant::now() < deadline,
            "{name} on {topic} stayed below {at_least}:\n{}",
            worker.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits (at most 90 s) until `worker`'s series `name` on `topic` has not moved for 6 s (its
/// idle windows close after 4 s).
fn settled(worker: &Worker, port: u16, name: &str, topic: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let (mut last, mut since) = (counted(port, name, topic), std::time::Instant::now());
    while since.elapsed() < Duration::from_secs(6) {
        assert!(
            std::time::Instant::now() < deadline,
            "{name} on {topic} kept moving:\n{}",
            worker.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
        let now = counted(port, name, topic);
        if now != last {
            (last, since) = (now, std::time::Instant::now());
        }
    }
}

#[test]
fn a_worker_that_lost_its_assignment_aborts_its_open_transaction() {
    let setup = Setup::new("lost", PARTITIONS, None);
    let records = traffic(20_000, 0.0, 47);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    produce(&setup.bootstrap, &setup.input, &records);

    // Session 6 s (the broker's minimum), transaction timeout 2 min: the stop below outlives
    // the first and not the second.
    let port = free_port();
    let listen = format!("http.listen=\"127.0.0.1:{port}\"");
    let a_sets = [
        "kafka.instance_id=\"lost-a\"",
        "kafka.commit_interval=\"45s\"",
        "kafka.properties.session.timeout.ms=\"6000\"",
        "kafka.properties.heartbeat.interval.ms=\"1000\"",
        "kafka.properties.transaction.timeout.ms=\"120000\"",
        "incidents.enabled=false",
        listen.as_str(),
    ];
    let mut a = setup.start_worker("a", &a_sets);
    let started = std::time::Instant::now();
    // Outputs in a's open transaction (acknowledged by the broker, not committed).
    let produced = "roadpulse_events_produced_total";
    wait_counted(&a, port, produced, &setup.congestion, 100.0);
    a.signal("STOP");

    // b takes every partition over once a's session has expired, and reads on from a's last
    // commit (a commits before each task it restores). Its windows stay invisible to
    // read_committed readers behind a's open transaction until a ends it.
    let b_port = free_port();
    let b_listen = format!("http.listen=\"127.0.0.1:{b_port}\"");
    let b_sets = [
        "kafka.instance_id=\"lost-b\"",
        "kafka.properties.session.timeout.ms=\"6000\"",
        "incidents.enabled=false",
        b_listen.as_str(),
    ];
    let mut b = setup.start_worker("b", &b_sets);
    let assigned = "roadpulse_assigned_partitions";
    wait_counted(&b, b_port, assigned, "", PARTITIONS as f64);
    settled(&b, b_port, produced, &setup.congestion);

    a.signal("CONT");
    assert!(
        a.wait_for_log("\"kind\":\"lost\"", Duration::from_secs(30)),
        "librdkafka reported a's assignment lost:\n{}",
        a.log_text()
    );
    // a's next commit (45 s after its start), and one more cycle of both workers.
    std::thread::sleep(Duration::from_secs(50).saturating_sub(started.elapsed()));
    a.stop();
    b.stop();

    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(30));
    let problems = diff(&expected, &got, &[]);
    assert!(
        problems.is_empty(),
        "the output differs from replay:\n{}",
        problems.join("\n")
    );
    assert_eq!(
        repeats,
        0,
        "no final window is published twice; a's log:\n{}",
        a.log_text()
    );
}
