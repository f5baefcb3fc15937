//! The worker against a real Apache Kafka broker: its committed output equals
//! `roadpulse replay --partitions N` on the same input, with one worker, with two workers
//! sharing the partitions, with poison records in the input, and across a SIGTERM and restart
//! or a kill -9 (with poison records between the committed offset and the position).

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use roadpulse::sim::generator;

const PARTITIONS: i32 = 4;

fn catalog_csv() -> String {
    let mut csv = String::from("segment_id,free_flow_kph\n");
    for i in 0..TRAFFIC_SEGMENTS {
        csv.push_str(&format!(
            "{},{}\n",
            generator::segment_id(i),
            generator::free_flow_kph(i)
        ));
    }
    csv
}

fn assert_same(
    expected: &std::collections::BTreeMap<(String, i64), serde_json::Value>,
    got: &std::collections::BTreeMap<(String, i64), serde_json::Value>,
    ignore: &[&str],
) {
    assert!(
        expected.len() > 100,
        "the workload should yield many windows, got {}",
        expected.len()
    );
    let problems = diff(expected, got, ignore);
    assert!(
        problems.is_empty(),
        "{} windows expected, {} read; differences:\n{}",
        expected.len(),
        got.len(),
        problems.join("\n")
    );
}

fn promtool_check(metrics: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (Debian package `prometheus`); tests/run installs it");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn one_worker_equals_replay_and_exports_valid_metrics() {
    let setup = Setup::new("one", PARTITIONS, None);
    let records = traffic(20_000, 0.0, 1);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    let port = free_port();
    let listen = format!("http.listen=\"127.0.0.1:{port}\"");
    let mut worker = setup.start_worker("w1", &[&listen]);
    produce(&setup.bootstrap, &setup.input, &records);
    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    assert_same(&expected, &got, &[]);
    assert_eq!(
        repeats, 0,
        "one worker without failures emits each window once"
    );

    let ready = http_get(port, "/readyz");
    assert!(
        ready.starts_with("HTTP/1.0 200") || ready.starts_with("HTTP/1.1 200"),
        "{ready}"
    );
    let response = http_get(port, "/metrics");
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    promtool_check(&body);
    assert_eq!(
        metric(&body, "roadpulse_windows_closed_total"),
        expected.len() as f64
    );
    assert_eq!(
        metric(&body, "roadpulse_events_consumed_total"),
        records.len() as f64
    );
    // The input partitions and as many of the detection repartition topic.
    assert_eq!(
        metric(&body, "roadpulse_assigned_partitions"),
        2.0 * PARTITIONS as f64
    );
    let input_label = format!("topic=\"{}\"", setup.input);
    let lag_series = body
        .lines()
        .filter(|l| l.starts_with("roadpulse_consumer_lag_messages{") && l.contains(&input_label))
        .count();
    assert_eq!(
        lag_series, PARTITIONS as usize,
        "lag per partition from librdkafka statistics:\n{body}"
    );
    worker.stop();
}

#[test]
fn two_workers_split_partitions_and_together_equal_replay() {
    let setup = Setup::new("two", PARTITIONS, Some(&catalog_csv()));
    let records = traffic(20_000, 0.0, 2);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    // Input partitions only (no detection stage), so that the split is of the input.
    let only_input = ["incidents.enabled=false"];
    let mut a = setup.start_worker("a", &only_input);
    assert!(
        a.wait_for_log("\"kind\":\"assign\"", Duration::from_secs(60)),
        "worker a joined:\n{}",
        a.log_text()
    );
    let mut b = setup.start_worker("b", &only_input);
    assert!(
        b.wait_for_log("\"kind\":\"assign\"", Duration::from_secs(60)),
        "worker b joined:\n{}",
        b.log_text()
    );
    std::thread::sleep(Duration::from_secs(3)); // let the cooperative rebalance settle
    produce(&setup.bootstrap, &setup.input, &records);
    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    assert_eq!(repeats, 0, "a clean split emits each window once");
    // Every field, level hysteresis included: segment state moves with its partition through
    // the state changelog.
    assert_same(&expected, &got, &[]);
    for w in [&a, &b] {
        assert!(
            w.log_text()
                .contains("task restored from committed checkpoint"),
            "each worker owned partitions:\n{}",
            w.log_text()
        );
    }
    a.stop();
    b.stop();
}

#[test]
fn poison_records_go_to_the_dlq_with_their_origin_and_the_rest_is_processed() {
    let setup = Setup::new("poison", PARTITIONS, None);
    let records = traffic(20_000, 0.01, 3);
    let poison: Vec<&generator::Record> = records.iter().filter(|r| r.poison).collect();
    assert!(poison.len() > 100);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    // At least once here (exactly once is the default everywhere else).
    let mut worker = setup.start_worker("w", &["kafka.processing_guarantee=\"at_least_once\""]);
    produce(&setup.bootstrap, &setup.input, &records);
    let (got, _) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    assert_same(&expected, &got, &[]);

    let dead = read_topic(
        &setup.bootstrap,
        &setup.dlq,
        Duration::from_secs(60),
        |rs| rs.len() >= poison.len(),
    );
    assert_eq!(
        dead.len(),
        poison.len(),
        "every poison record is dead-lettered, once"
    );
    let input = read_topic(
        &setup.bootstrap,
        &setup.input,
        Duration::from_secs(60),
        |rs| rs.len() >= records.len(),
    );
    let by_origin: std::collections::HashMap<(i32, i64), &Read> =
        input.iter().map(|r| ((r.partition, r.offset), r)).collect();
    for d in &dead {
        let p: i32 = d.headers["roadpulse.source.partition"].parse().unwrap();
        let o: i64 = d.headers["roadpulse.source.offset"].parse().unwrap();
        assert_eq!(d.headers["roadpulse.source.topic"], setup.input);
        let original = by_origin
            .get(&(p, o))
            .expect("the DLQ headers point at an input record");
        assert_eq!(d.value, original.value, "payload bytes unchanged");
        assert_eq!(d.key, original.key, "key bytes unchanged");
        let kind = d.headers["roadpulse.error.kind"].as_str();
        assert!(
            ["malformed", "missing_field", "invalid_value"].contains(&kind),
            "kind {kind}"
        );
        assert!(!d.headers["roadpulse.error.message"].is_empty());
    }
    worker.stop();
}

#[test]
fn sigterm_mid_run_then_restart_loses_no_window() {
    let setup = Setup::new("restart", PARTITIONS, None);
    let records = traffic(30_000, 0.0, 4);
    let (first, second) = records.split_at(records.len() / 2);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);

    // No idle close for the first worker: windows spanning the two halves stay open.
    let mut w1 = setup.start_worker("w1", &["window.idle_timeout=\"0s\""]);
    produce(&setup.bootstrap, &setup.input, first);
    read_finals(&setup, 20, Duration::from_secs(60));
    let asked = Instant::now();
    w1.sigterm();
    let code = w1.wait_exit(Duration::from_secs(30));
    assert_eq!(
        code,
        Some(0),
        "SIGTERM drains and exits 0 within 30 s:\n{}",
        w1.log_text()
    );
    let took = asked.elapsed();
    assert!(
        w1.log_text().contains("worker stopped"),
        "{}",
        w1.log_text()
    );
    eprintln!("first worker stopped {took:?} after SIGTERM");

    produce(&setup.bootstrap, &setup.input, second);
    let mut w2 = setup.start_worker("w2", &[]);
    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    assert_eq!(
        repeats, 0,
        "a clean SIGTERM handoff neither loses nor repeats a window"
    );
    assert_same(&expected, &got, &[]);
    w2.stop();
}

#[test]
fn exactly_once_kill_9_mid_run_then_restart_neither_loses_nor_repeats() {
    let setup = Setup::new("kill9", PARTITIONS, None);
    let records = traffic(30_000, 0.0, 5);
    let (first, second) = records.split_at(records.len() / 2);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    let same_identity = "kafka.instance_id=\"kill9-worker\"";

    // Long transactions, so the kill lands inside one with outputs already sent (with
    // at_least_once this test sees windows twice).
    let w1_sets = [
        same_identity,
        "window.idle_timeout=\"0s\"",
        "kafka.commit_interval=\"3s\"",
    ];
    let mut w1 = setup.start_worker("w1", &w1_sets);
    produce(&setup.bootstrap, &setup.input, first);
    read_finals(&setup, 20, Duration::from_secs(60));
    w1.kill();
    produce(&setup.bootstrap, &setup.input, second);
    // The same identity fences the killed worker's open transaction at once.
    let mut w2 = setup.start_worker("w2", &[same_identity]);
    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    assert_eq!(
        repeats, 0,
        "read_committed sees every window once, even after kill -9"
    );
    assert_same(&expected, &got, &[]);
    w2.stop();
}

/// Poison records between a worker's committed offset and its position when it is killed:
/// the records above the committed offset are read again by its successor, and a dead letter
/// must still reach the DLQ exactly once (read_committed): once for a record whose dead letter
/// was committed before the kill (below the committed checkpoint's position), once for one
/// whose dead letter died with the killed transaction.
#[test]
fn exactly_once_kill_9_with_poison_between_commit_and_position_dead_letters_each_once() {
    let setup = Setup::new("dlqkill", PARTITIONS, None);
    let records = traffic(30_000, 0.01, 6);
    let (first, second) = records.split_at(records.len() / 2);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    let same_identity = "kafka.instance_id=\"dlqkill-worker\"";
    let port = free_port();
    let listen = format!("http.listen=\"127.0.0.1:{port}\"");

    // One commit 20 s after the start, then none before the kill: the second half is read
    // and dead-lettered inside the open transaction.
    let w1_sets = [
        same_identity,
        "window.idle_timeout=\"0s\"",
        "kafka.commit_interval=\"20s\"",
        listen.as_str(),
    ];
    let mut w1 = setup.start_worker("w1", &w1_sets);
    produce(&setup.bootstrap, &setup.input, first);
    read_finals(&setup, 20, Duration::from_secs(90));
    produce(&setup.bootstrap, &setup.input, second);
    let deadline = Instant::now() + Duration::from_secs(15);
    while metric(
        &http_get(port, "/metrics"),
        "roadpulse_events_consumed_total",
    ) < records.len() as f64
    {
        assert!(
            Instant::now() < deadline,
            "w1 read everything:\n{}",
            w1.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let committed = committed_and_end(&setup.bootstrap, &setup.group, &setup.input, PARTITIONS);
    w1.kill();

    let input = read_topic(
        &setup.bootstrap,
        &setup.input,
        Duration::from_secs(60),
        |rs| rs.len() >= records.len(),
    );
    let poison_values: std::collections::HashSet<&[u8]> = records
        .iter()
        .filter(|r| r.poison)
        .map(|r| r.value.as_slice())
        .collect();
    let poison: std::collections::BTreeSet<(i32, i64)> = input
        .iter()
        .filter(|r| {
            r.value
                .as_deref()
                .is_some_and(|v| poison_values.contains(v))
        })
        .map(|r| (r.partition, r.offset))
        .collect();
    let read_again = poison
        .iter()
        .filter(|(p, o)| *o >= committed[*p as usize].0)
        .count();
    assert!(
        read_again > 10 && read_again < poison.len(),
        "poison records on both sides of the committed offsets ({read_again} of {} above): {committed:?}",
        poison.len()
    );

    let mut w2 = setup.start_worker("w2", &[same_identity]);
    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    assert_eq!(repeats, 0, "every window once");
    assert_same(&expected, &got, &[]);
    let dead = read_topic(
        &setup.bootstrap,
        &setup.dlq,
        Duration::from_secs(60),
        |rs| rs.len() >= poison.len(),
    );
    let mut origins: Vec<(i32, i64)> = dead
        .iter()
        .map(|d| {
            let p = d.headers["roadpulse.source.partition"].parse().unwrap();
            let o = d.headers["roadpulse.source.offset"].parse().unwrap();
            (p, o)
        })
        .collect();
    origins.sort();
    let once: std::collections::BTreeSet<(i32, i64)> = origins.iter().copied().collect();
    assert_eq!(
        origins.len(),
        once.len(),
        "no poison record is dead-lettered twice ({} letters, {} records)",
        origins.len(),
        once.len()
    );
    assert_eq!(once, poison, "every poison record is dead-lettered");
    w2.stop();
}

#[test]
fn a_second_worker_with_the_same_identity_fences_the_first() {
    let setup = Setup::new("fence", PARTITIONS, Some(&catalog_csv()));
    let records = traffic(20_000, 0.0, 6);
    let (first, second) = records.split_at(records.len() / 2);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    let identity = "kafka.instance_id=\"twin\"";

    let mut old = setup.start_worker("old", &[identity, "window.idle_timeout=\"0s\""]);
    produce(&setup.bootstrap, &setup.input, first);
    read_finals(&setup, 20, Duration::from_secs(60));
    let mut new = setup.start_worker("new", &[identity]);
    let joined = new.wait_for_log("\"kind\":\"assign\"", Duration::from_secs(60));
    assert!(joined, "{}", new.log_text());
    // The old worker learns it is fenced at its next transactional write.
    produce(&setup.bootstrap, &setup.input, second);
    let code = old.wait_exit(Duration::from_secs(60));
    let log = old.log_text();
    assert_eq!(code, Some(1), "the fenced worker exits non-zero:\n{log}");
    assert!(
        log.contains("another worker with the same kafka.instance_id"),
        "{log}"
    );
    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    assert_eq!(repeats, 0);
    assert_same(&expected, &got, &[]);
    new.stop();
}
