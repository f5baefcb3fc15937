//! The worker over the broker's SASL_SSL listener (SCRAM-SHA-512 user created by the broker's
//! own StorageTool, TLS with a CA made by tests/kafka/up with openssl): exactly once, its
//! committed output equals replay. A wrong password, or a broker certificate the worker does not
//! trust, stops it at start within a bounded time, with exit code 78 and one sentence naming
//! the setting, instead of an endless reconnect loop.

mod common;

use std::time::{Duration, Instant};

use common::*;
use roadpulse::sim::generator::{Workload, WorkloadConfig};

fn sasl_sets(l: &SecureListener, ca: &str) -> Vec<String> {
    vec![
        format!("kafka.bootstrap_servers=\"{}\"", l.bootstrap),
        "kafka.properties.security.protocol=\"SASL_SSL\"".into(),
        format!("kafka.properties.sasl.mechanisms=\"{}\"", l.mechanism),
        format!("kafka.properties.sasl.username=\"{}\"", l.username),
        format!("kafka.properties.ssl.ca.location=\"{ca}\""),
    ]
}

/// Starts a worker over SASL_SSL with `password` (from the environment, as the README tells
/// users to pass it) and `ca`, waits for it to stop, and returns its exit code, how long it
/// took and its log.
fn refused_start(name: &str, password: &str, ca: &str) -> (Option<i32>, Duration, String) {
    let setup = Setup::new(name, 1, None);
    let l = secure_listener();
    let sets = sasl_sets(&l, ca);
    let extra: Vec<&str> = sets.iter().map(String::as_str).collect();
    let started = Instant::now();
    let mut w = setup.start_worker_with_env(
        name,
        &extra,
        &[("ROADPULSE_RDKAFKA_SASL_PASSWORD", password)],
    );
    let code = w.wait_exit(Duration::from_secs(60));
    (code, started.elapsed(), w.log_text())
}

#[test]
fn exactly_once_over_sasl_ssl_equals_replay() {
    let setup = Setup::new("sasl-ssl", 3, None);
    let l = secure_listener();
    let records = Workload::new(WorkloadConfig {
        segments: 30,
        events_per_sec: 1_000.0,
        seed: 512,
        ..WorkloadConfig::default()
    })
    .take(12_000);
    let expected = replay(&setup.dir, &records, 3, &setup.domain_sets);
    let sets = sasl_sets(&l, &l.ca);
    let mut extra: Vec<&str> = sets.iter().map(String::as_str).collect();
    extra.push("kafka.processing_guarantee=\"exactly_once\"");
    let mut w = setup.start_worker_with_env(
        "w",
        &extra,
        &[("ROADPULSE_RDKAFKA_SASL_PASSWORD", &l.password)],
    );
    // The input goes in, and the output is read back, over the plaintext listener.
    produce(&setup.bootstrap, &setup.input, &records);
    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    assert!(expected.len() > 100, "{} windows", expected.len());
    assert_eq!(repeats, 0);
    let problems = diff(&expected, &got, &[]);
    assert!(
        problems.is_empty(),
        "{}\n{}",
        problems.join("\n"),
        w.log_text()
    );
    let log = w.log_text();
    assert!(!log.contains(&l.password), "the password is never logged");
    assert!(!log.contains("\"kind\":\"authentication\""), "{log}");
    w.stop();
    assert!(w.log_text().contains("worker stopped"), "{}", w.log_text());
}

#[test]
fn a_wrong_password_stops_the_worker_with_one_sentence() {
    let l = secure_listener();
    let (code, took, log) = refused_start("wrong-password", "not-the-password", &l.ca);
    eprintln!("stopped after {took:?}");
    assert_eq!(code, Some(78), "exit 78 within 60 s:\n{log}");
    let last = log.lines().last().unwrap_or_default();
    assert!(last.starts_with("roadpulse: config key `kafka.properties.sasl.password`: the broker refused the SASL credentials"), "{last}");
    assert!(!log.contains("not-the-password"), "{log}");
    assert!(
        !log.contains("created missing topics"),
        "nothing acted:\n{log}"
    );
}

#[test]
fn an_untrusted_broker_certificate_stops_the_worker_with_one_sentence() {
    let l = secure_listener();
    let (code, took, log) = refused_start("untrusted-ca", &l.password, &l.untrusted_ca);
    eprintln!("stopped after {took:?}");
    assert_eq!(code, Some(78), "exit 78 within 60 s:\n{log}");
    let last = log.lines().last().unwrap_or_default();
    assert!(last.starts_with("roadpulse: config key `kafka.properties.ssl.ca.location`: the broker's TLS certificate is not trusted"), "{last}");
}
