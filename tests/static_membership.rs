//! Static membership against the real broker: two workers with stable identities
//! (`kafka.instance_id`, as the StatefulSet's pod names give them) and
//! `kafka.static_membership = true` are restarted one after the other (SIGTERM, then the same
//! identity starts again), each restart well within the session timeout (librdkafka's 45 s).
//! No partition may move: the worker that stays up keeps exactly its partitions while the other
//! is down and after it is back (`roadpulse_assigned_partitions`), no worker sees a revoke
//! (`roadpulse_rebalances_total{kind="revoke"}`), and the committed output still equals
//! `roadpulse replay`. A restarted static member's rejoin does make librdkafka run one
//! cooperative round, which calls the other members' rebalance callback with an empty
//! assignment (counted as `kind="assign"`); nothing is revoked or handed over in it. The
//! control runs the same restarts without static membership and must see partitions move,
//! so the check can fail.

mod common;

use std::time::Duration;

use common::*;
use roadpulse::sim::generator;

const PARTITIONS: i32 = 4;

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

/// SIGTERM and a clean exit of `m`; `while_down` runs after the exit; then the same identity
/// starts again (the restarted pod), with a log of its own.
fn restart(setup: &Setup, m: Member, static_membership: bool, while_down: impl FnOnce()) -> Member {
    let mut old = m.worker;
    old.sigterm();
    let code = old.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{} drained:\n{}", m.name, old.log_text());
    while_down();
    let name = format!("{}-restarted", m.name);
    start(setup, &name, &m.identity, m.port, static_membership)
}

/// What the group did to worker b while a restarted, and to the restarted workers.
#[derive(Debug)]
struct Outcome {
    /// Partitions b owned before a's restart, while a was down, and after a was back.
    b_owned: [f64; 3],
    /// Revokes on b during a's restart.
    b_revokes: f64,
    /// Revokes on the restarted a and b until the end.
    restarted_revokes: f64,
}

/// A rolling restart of two workers, a then b, while the input is produced in thirds; the
/// committed output must equal replay either way.
fn rolling_restart(name: &str, static_membership: bool, seed: u64) -> Outcome {
    let setup = Setup::new(name, PARTITIONS, None);
    let records = traffic(30_000, 0.0, seed);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    let thirds: Vec<&[generator::Record]> = records.chunks(records.len() / 3 + 1).collect();

    let a = start(&setup, "a", "a", free_port(), static_membership);
    let b = start(&setup, "b", "b", free_port(), static_membership);
    settled(&[a.port, b.port]);
    let revokes_before = rebalances(b.port, "revoke");
    let owned_before = assigned(b.port);
    produce(&setup.bootstrap, &setup.input, thirds[0]);
    read_finals(&setup, 20, Duration::from_secs(60));

    let mut owned_while_down = 0.0;
    let a = restart(&setup, a, static_membership, || {
        // Long enough for a dynamic group to hand a's partitions to b.
        std::thread::sleep(Duration::from_secs(4));
        owned_while_down = assigned(b.port);
    });
    settled(&[a.port, b.port]);
    std::thread::sleep(Duration::from_secs(2)); // a rebalance, if any, reaches b
    let b_owned = [owned_before, owned_while_down, assigned(b.port)];
    let b_revokes = rebalances(b.port, "revoke") - revokes_before;
    produce(&setup.bootstrap, &setup.input, thirds[1]);
    read_finals(&setup, 40, Duration::from_secs(60));

    let mut b = restart(&setup, b, static_membership, || {});
    produce(&setup.bootstrap, &setup.input, thirds[2]);
    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    let restarted_revokes = rebalances(a.port, "revoke") + rebalances(b.port, "revoke");
    let mut a = a;
    a.worker.stop();
    b.worker.stop();

    assert!(expected.len() > 100, "windows expected: {}", expected.len());
    let problems = diff(&expected, &got, &[]);
    assert!(problems.is_empty(), "differences:\n{}", problems.join("\n"));
    assert_eq!(repeats, 0, "a clean rolling restart emits each window once");
    Outcome {
        b_owned,
        b_revokes,
        restarted_revokes,
    }
}

#[test]
fn rolling_restart_with_static_membership_does_not_rebalance() {
    let o = rolling_restart("static", true, 21);
    eprintln!("static membership: {o:?}");
    // While a is down its partitions wait for it: none moves to b, none leaves b.
    let half = PARTITIONS as f64 / 2.0;
    assert_eq!(o.b_owned, [half; 3], "b kept exactly its partitions");
    assert_eq!(o.b_revokes, 0.0, "no revoke on the worker that stayed up");
    assert_eq!(
        o.restarted_revokes, 0.0,
        "no revoke on the restarted workers"
    );
}

#[test]
fn rolling_restart_without_static_membership_rebalances() {
    let o = rolling_restart("dynamic", false, 22);
    eprintln!("dynamic membership: {o:?}");
    // The control: the same restarts move partitions, and the metrics show it.
    assert_eq!(
        o.b_owned[1], PARTITIONS as f64,
        "b took over a's partitions"
    );
    assert!(o.b_revokes > 0.0, "b gave them back when a returned");
}
