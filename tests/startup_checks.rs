//! Addresses are validated before anything acts: a bad `http.listen`, bootstrap server list or
//! registry URL is exit code 78 with one sentence naming the key, and a listen address that
//! cannot be bound stops the worker before it creates a single topic.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

/// `roadpulse <command> --set <set>`: exit code and the last stderr line.
fn refused(command: &str, sets: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg(command);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.env("RUST_LOG", "warn").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (
        out.status.code(),
        stderr.lines().last().unwrap_or_default().to_string(),
    )
}

#[test]
fn bad_addresses_are_refused_with_one_sentence_naming_the_key() {
    let cases = [
        ("http.listen=\"0.0.0.0:99999\"", "http.listen"),
        ("http.listen=\"9464\"", "http.listen"),
        (
            "kafka.bootstrap_servers=\"broker:9092,\"",
            "kafka.bootstrap_servers",
        ),
        (
            "kafka.bootstrap_servers=\"http://broker:9092\"",
            "kafka.bootstrap_servers",
        ),
        (
            "kafka.bootstrap_servers=\"broker:90x\"",
            "kafka.bootstrap_servers",
        ),
        (
            "schema_registry.url=\"https://user:pw@registry:8081\"",
            "schema_registry.url",
        ),
        (
            "schema_registry.url=\"https://registry:port\"",
            "schema_registry.url",
        ),
    ];
    for (set, key) in cases {
        for command in ["check-config", "run"] {
            let (code, line) = refused(command, &[set]);
            assert_eq!(code, Some(78), "{command} --set {set}: {line}");
            assert!(
                line.starts_with(&format!("roadpulse: config key `{key}`: ")),
                "{command} --set {set}: {line}"
            );
            assert_eq!(line.matches('\n').count(), 0);
        }
    }
}

#[test]
fn a_listen_address_in_use_stops_the_worker_before_any_topic_exists() {
    let bootstrap = bootstrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let group = unique("listen-group");
    let input = unique("listen-raw");
    let sets = [
        format!("kafka.bootstrap_servers=\"{bootstrap}\""),
        format!("kafka.group_id=\"{group}\""),
        format!("kafka.input_topics=[\"{input}\"]"),
        format!("kafka.congestion_topic=\"{input}-congestion\""),
        format!("kafka.dlq_topic=\"{input}-dlq\""),
        format!("kafka.incidents_topic=\"{input}-incidents\""),
        "kafka.create_topics=true".to_string(),
        format!("http.listen=\"127.0.0.1:{port}\""),
    ];
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let (code, line) = refused("run", &sets);
    assert_eq!(code, Some(78), "{line}");
    assert!(
        line.starts_with("roadpulse: config key `http.listen`: cannot listen on"),
        "{line}"
    );
    drop(taken);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    let ours: Vec<&str> = metadata
        .topics()
        .iter()
        .map(|t| t.name())
        .filter(|n| n.contains(&input) || n.contains(&group))
        .collect();
    assert!(
        ours.is_empty(),
        "topics created before the worker stopped: {ours:?}"
    );
}
