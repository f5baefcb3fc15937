//! Static membership against the real broker: two workers with stable identities
//! (`kafka.instance_id`, as the StatefulSet's pod names give them) and
//! `kafka.static_membership = true` are restarted one after the other (SIGTERM, then the same
//! identity starts again), each restart well within the session timeout (librdkafka's 45 s).
//! The group must not rebalance: the worker that stays up sees no revoke and no new
//! assignment in its `roadpulse_rebalances_total`, the restarted ones see no revoke, and the
//! committed output still equals `roadpulse replay`. The control runs the same restarts
//! without static membership and must see the rebalances, so the check can fail.

mod common;

use std::time::Duration;

use common::*;
use roadpulse::sim::generator::{self, Workload, WorkloadConfig};

const PARTITIONS: i32 = 4;
const SEGMENTS: u32 = 40;

fn workload(seed: u64) -> Vec<generator::Record> {
    let cfg = WorkloadConfig {
        segments: SEGMENTS,
        events_per_sec: 1_000.0,
        disorder_ms: 1_000,
        congestion_period_ms: 20_000,
        seed,
        ..WorkloadConfig::default()
    };
    Workload::new(cfg).take(30_000)
}

/// The sum of a running worker's series `name` whose line contains `labels`.
fn metric(port: u16, name: &str, labels: &str) -> f64 {
    let body = http_get(port, "/metrics");
    body.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `roadpulse_rebalances_total{kind=...}`: rebalance callbacks of that kind.
fn rebalances(port: u16, kind: &str) -> f64 {
    metric(
        port,
        "roadpulse_rebalances_total{",
        &format!("kind=\"{kind}\""),
    )
}

fn assigned(port: u16) -> f64 {
    metric(port, "roadpulse_assigned_partitions", "")
}

/// Waits (at most 60 s) until the workers on `ports` own every input partition, each some.
fn settled(ports: &[u16]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let owned: Vec<f64> = ports.iter().map(|p| assigned(*p)).collect();
        if owned.iter().sum::<f64>() == PARTITIONS as f64 && owned.iter().all(|n| *n > 0.0) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the group did not settle: {owned:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Member {
    name: String,
    identity: String,
    port: u16,
    worker: Worker,
}

fn start(setup: &Setup, name: &str, identity: &str, port: u16, static_membership: bool) -> Member {
    let identity_set = format!("kafka.instance_id=\"{}-{identity}\"", setup.group);
    let membership = format!("kafka.static_membership={static_membership}");
    let listen = format!("http.listen=\"127.0.0.1:{port}\"");
    // Input partitions only (no corridor stage), so the assignment is the input's. Idle
    // partitions close their windows only after 30 s, longer than any pause between the
    // thirds of the input (a restart), so only the end of the input closes windows early.
    let sets = [
        identity_set.as_str(),
        membership.as_str(),
        listen.as_str(),
        "incidents.enabled=false",
        "window.idle_timeout=\"30s\"",
    ];
    let worker = setup.start_worker(name, &sets);
    assert!(
        worker.wait_for_log("\"kind\":\"assign\"", Duration::from_secs(60)),
        "{name} joined:\n{}",
        worker.log_text()
    );
    Member {
        name: name.to_string(),
        identity: identity.to_string(),
        port,
        worker,
    }
}

/// SIGTERM, a clean exit, and the same identity started again (the restarted pod), with a
/// log of its own.
fn restart(setup: &Setup, m: Member, static_membership: bool) -> Member {
    let mut old = m.worker;
    old.sigterm();
    let code = old.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{} drained:\n{}", m.name, old.log_text());
    let name = format!("{}-restarted", m.name);
    start(setup, &name, &m.identity, m.port, static_membership)
}

/// Rebalance callbacks the restarts caused: (on the worker that stayed up during the first
/// restart: revokes, assigns), (on the restarted workers: revokes).
fn rolling_restart(name: &str, static_membership: bool, seed: u64) -> ((f64, f64), f64) {
    let setup = Setup::new(name, PARTITIONS, None);
    let records = workload(seed);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    let thirds: Vec<&[generator::Record]> = records.chunks(records.len() / 3 + 1).collect();

    let a = start(&setup, "a", "a", free_port(), static_membership);
    let b = start(&setup, "b", "b", free_port(), static_membership);
    settled(&[a.port, b.port]);
    let before = (rebalances(b.port, "revoke"), rebalances(b.port, "assign"));
    produce(&setup.bootstrap, &setup.input, thirds[0]);
    read_finals(&setup, 20, Duration::from_secs(60));

    let a = restart(&setup, a, static_membership);
    settled(&[a.port, b.port]);
    std::thread::sleep(Duration::from_secs(3)); // a rebalance, if any, reaches b
    let b_seen = (
        rebalances(b.port, "revoke") - before.0,
        rebalances(b.port, "assign") - before.1,
    );
    produce(&setup.bootstrap, &setup.input, thirds[1]);
    read_finals(&setup, 40, Duration::from_secs(60));

    let mut b = restart(&setup, b, static_membership);
    produce(&setup.bootstrap, &setup.input, thirds[2]);
    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(2));
    let restarted_revokes = rebalances(a.port, "revoke") + rebalances(b.port, "revoke");
    let mut a = a;
    a.worker.stop();
    b.worker.stop();

    assert!(expected.len() > 100, "windows expected: {}", expected.len());
    let problems = diff(&expected, &got, &[]);
    assert!(problems.is_empty(), "differences:\n{}", problems.join("\n"));
    assert_eq!(repeats, 0, "a clean rolling restart emits each window once");
    (b_seen, restarted_revokes)
}

#[test]
fn rolling_restart_with_static_membership_does_not_rebalance() {
    let ((revokes, assigns), restarted_revokes) = rolling_restart("static", true, 21);
    assert_eq!(revokes, 0.0, "the worker that stayed up lost no partition");
    assert_eq!(
        assigns, 0.0,
        "the worker that stayed up got no new partition"
    );
    assert_eq!(
        restarted_revokes, 0.0,
        "the restarted workers lost no partition"
    );
}

#[test]
fn rolling_restart_without_static_membership_rebalances() {
    let ((revokes, assigns), restarted_revokes) = rolling_restart("dynamic", false, 22);
    assert!(
        revokes + assigns + restarted_revokes > 0.0,
        "without static membership a restart moves partitions (revokes {revokes}, assigns {assigns}, restarted {restarted_revokes})"
    );
}
