//! A hard broker crash mid-run (kill -9, down for a while, then back on the same data): the
//! worker survives without exiting, reports the outage in its metrics, and its output still
//! equals replay. A test binary of its own, so no other test shares the broker while it is down.

mod common;

use std::time::Duration;

use common::*;
use roadpulse::sim::generator::{Workload, WorkloadConfig};

#[test]
fn worker_survives_a_broker_crash_and_still_equals_replay() {
    let setup = Setup::new("outage", 4, None);
    let cfg = WorkloadConfig {
        segments: 40,
        events_per_sec: 1_000.0,
        disorder_ms: 1_000,
        seed: 9,
        ..WorkloadConfig::default()
    };
    let records = Workload::new(cfg).take(20_000);
    let (first, second) = records.split_at(records.len() / 2);
    let expected = replay(&setup.dir, &records, 4, &setup.domain_sets);

    let port = free_port();
    let listen = format!("http.listen=\"127.0.0.1:{port}\"");
    let mut worker = setup.start_worker("w", &[&listen]);
    produce(&setup.bootstrap, &setup.input, first);
    read_finals(&setup, 20, Duration::from_secs(60));

    let back = restart_broker(10);
    assert_eq!(
        back, setup.bootstrap,
        "the broker came back on the same address"
    );
    assert_eq!(
        worker.wait_exit(Duration::from_millis(100)),
        None,
        "the worker is still running:\n{}",
        worker.log_text()
    );

    produce(&setup.bootstrap, &setup.input, second);
    let (got, _) = read_finals(&setup, expected.len(), Duration::from_secs(180));
    let problems = diff(&expected, &got, &[]);
    assert!(
        problems.is_empty(),
        "{} expected, {} read:\n{}",
        expected.len(),
        got.len(),
        problems.join("\n")
    );

    let text = http_get(port, "/metrics");
    let errors = metric_sum(&text, "roadpulse_kafka_errors_total");
    assert!(
        errors > 0.0,
        "the outage is reported in roadpulse_kafka_errors_total:\n{text}"
    );
    worker.stop();
}
