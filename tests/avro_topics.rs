//! Avro topics on the real broker, read and written by clients that are not ours: Python
//! (confluent-kafka + fastavro) and Java (kafka-clients + Apache Avro) decode every congestion
//! record roadpulse writes in the Confluent wire format, kcat reads the JSON form, and raw
//! events an older producer writes in Avro give the same congestion as `roadpulse replay` of
//! their JSON form. The registry is tests/registry/server.py (the Confluent REST subset; see
//! its doc for why it is not a third-party registry). Needs `tests/clients/setup` (run by
//! .ci/run).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use roadpulse::sim::generator::{self, Workload, WorkloadConfig};
use serde_json::Value;

const PARTITIONS: i32 = 3;

fn workload(events: u64, seed: u64) -> Vec<generator::Record> {
    let cfg = WorkloadConfig {
        segments: 30,
        events_per_sec: 1_000.0,
        disorder_ms: 1_000,
        seed,
        ..WorkloadConfig::default()
    };
    Workload::new(cfg).take(events)
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// tests/registry/server.py on a free port, stopped on drop.
struct Registry {
    child: Child,
    url: String,
}

impl Registry {
    fn start() -> Registry {
        Registry::start_with(&[])
    }

    fn start_with(args: &[&str]) -> Registry {
        let mut child = Command::new("python3")
            .arg(repo("tests/registry/server.py"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tests/registry/server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("registry port");
        let port: u16 = line.trim().parse().expect("registry prints its port");
        Registry {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clients_cache() -> PathBuf {
    let dir = std::env::var_os("RP_CLIENTS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/roadpulse/clients")
        });
    assert!(
        dir.join("venv/.complete").exists() && dir.join("lib/.complete").exists(),
        "the foreign clients are not installed in {}: run tests/clients/setup",
        dir.display()
    );
    dir
}

/// Runs a command that prints a JSON summary as its last stdout line.
fn summary(cmd: &mut Command, what: &str) -> Value {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{what} printed no summary ({e}):\n{stdout}"))
}

fn python(script: &str) -> Command {
    let mut cmd = Command::new(clients_cache().join("venv/bin/python"));
    cmd.arg(repo(&format!("tests/clients/{script}")));
    cmd
}

/// Final windows in a file of decoded records, one JSON object a line.
fn finals_in(path: &Path) -> BTreeMap<(String, i64), Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let (map, repeats) = finals(text.lines().map(|l| l.as_bytes().to_vec()));
    assert_eq!(repeats, 0, "{} repeats a window", path.display());
    map
}

fn assert_equal(expected: &BTreeMap<(String, i64), Value>, got: &BTreeMap<(String, i64), Value>) {
    let problems = diff(expected, got, &[]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn assert_all_decoded(s: &Value, expected: usize, who: &str) {
    assert_eq!(s["undecodable"], 0, "{who}: {s}");
    assert_eq!(s["records"], expected as u64, "{who}: {s}");
}

#[test]
fn python_and_java_decode_every_avro_record_and_kcat_reads_the_json_form() {
    let registry = Registry::start();
    let setup = Setup::new("avro-out", PARTITIONS, None);
    let records = workload(12_000, 11);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    assert!(expected.len() > 100, "{} windows", expected.len());
    let url = format!("schema_registry.url=\"{}\"", registry.url);
    let mut avro = setup.start_worker(
        "avro",
        &["formats.output=\"avro\"", "incidents.enabled=false", &url],
    );
    let json_topic = unique("avro-out-json");
    create_topics(&setup.bootstrap, &[&json_topic], PARTITIONS);
    let json_group = format!("kafka.group_id=\"{}\"", unique("json-group"));
    let json_out = format!("kafka.congestion_topic=\"{json_topic}\"");
    let mut json = setup.start_worker("json", &[&json_group, &json_out]);
    produce(&setup.bootstrap, &setup.input, &records);

    let py_out = setup.dir.join("python.jsonl");
    let py = summary(
        python("consume_avro.py").args([
            "--bootstrap",
            &setup.bootstrap,
            "--topic",
            &setup.congestion,
            "--schema",
            repo("schemas/congestion_event.avsc").to_str().unwrap(),
            "--registry",
            &registry.url,
            "--expect",
            &expected.len().to_string(),
            "--timeout",
            "120",
            "--out",
            py_out.to_str().unwrap(),
        ]),
        "the Python consumer",
    );
    assert_all_decoded(&py, expected.len(), "python");
    assert_eq!(py["schema_ids"].as_array().map(Vec::len), Some(1), "{py}");
    assert_equal(&expected, &finals_in(&py_out));

    let java_out = setup.dir.join("java.jsonl");
    let lib = clients_cache().join("lib/*");
    let java = summary(
        Command::new("java")
            .arg("-cp")
            .arg(lib)
            .arg(repo("tests/clients/java/ConsumeAvro.java"))
            .args([&setup.bootstrap, &setup.congestion])
            .arg(repo("schemas/congestion_event.avsc"))
            .args([&registry.url, &expected.len().to_string(), "60"])
            .arg(&java_out),
        "the Java consumer",
    );
    assert_all_decoded(&java, expected.len(), "java");
    assert_equal(&expected, &finals_in(&java_out));

    // kcat -e stops at the end of the topic: ask again until the JSON worker caught up.
    let mut lines = Vec::new();
    for _ in 0..60 {
        let out = Command::new("kcat")
            .args(["-C", "-q", "-e", "-o", "beginning", "-f", "%s\\n"])
            .args(["-b", &setup.bootstrap, "-t", &json_topic])
            .args(["-X", "isolation.level=read_committed"])
            .output()
            .expect("kcat (Debian package kcat) runs");
        lines = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        if lines.len() >= expected.len() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let parsed: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(parsed.len(), lines.len(), "kcat read only JSON");
    assert_eq!(lines.len(), expected.len(), "kcat read every JSON record");
    let (got, _) = finals(lines.iter().map(|l| l.as_bytes().to_vec()));
    assert_equal(&expected, &got);
    avro.stop();
    json.stop();
}

#[test]
fn avro_input_from_an_older_producer_equals_replay_of_its_json_form() {
    let registry = Registry::start();
    let setup = Setup::new("avro-in", PARTITIONS, None);
    let records = workload(12_000, 12);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    let url = format!("schema_registry.url=\"{}\"", registry.url);
    let mut worker = setup.start_worker("w", &["formats.input=\"avro\"", &url]);
    let produced = summary(
        python("produce_avro.py").args([
            "--bootstrap",
            &setup.bootstrap,
            "--topic",
            &setup.input,
            "--registry",
            &registry.url,
            "--schema",
            repo("tests/clients/raw_event_v0.avsc").to_str().unwrap(),
            "--input",
            setup.dir.join("input.jsonl").to_str().unwrap(),
            "--garbage",
            "3",
        ]),
        "the Python producer",
    );
    assert_eq!(produced["records"], records.len() as u64, "{produced}");
    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    assert_eq!(repeats, 0);
    assert_equal(&expected, &got);
    let dead = read_topic(
        &setup.bootstrap,
        &setup.dlq,
        Duration::from_secs(30),
        |rs| rs.len() >= 3,
    );
    let mut kinds: Vec<&str> = dead
        .iter()
        .map(|r| r.headers["roadpulse.error.kind"].as_str())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["malformed", "malformed", "schema"],
        "bad magic, truncated, unknown id"
    );
    worker.stop();
}

#[test]
fn a_registry_that_does_not_answer_stops_the_worker_and_no_record_is_lost() {
    // The producer's registration is the only request answered; the worker's lookup gets 503.
    let failing = Registry::start_with(&["--fail-after", "1"]);
    let setup = Setup::new("avro-outage", PARTITIONS, None);
    let records = workload(3_000, 13);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    let v0 = repo("tests/clients/raw_event_v0.avsc");
    let produced = summary(
        python("produce_avro.py").args([
            "--bootstrap",
            &setup.bootstrap,
            "--topic",
            &setup.input,
            "--registry",
            &failing.url,
            "--schema",
            v0.to_str().unwrap(),
            "--input",
            setup.dir.join("input.jsonl").to_str().unwrap(),
        ]),
        "the Python producer",
    );
    let url = format!("schema_registry.url=\"{}\"", failing.url);
    let mut down = setup.start_worker("down", &["formats.input=\"avro\"", &url]);
    assert_eq!(
        down.wait_exit(Duration::from_secs(90)),
        Some(1),
        "{}",
        down.log_text()
    );
    assert!(
        down.log_text().contains("schema registry unavailable"),
        "{}",
        down.log_text()
    );
    let dead = read_topic(&setup.bootstrap, &setup.dlq, Duration::from_secs(3), |_| {
        false
    });
    assert!(dead.is_empty(), "nothing was dead-lettered for the outage");

    // The registry is back (same schema, same id): a new worker reads every record.
    let healthy = Registry::start();
    let client =
        roadpulse::codec::registry::Registry::new(&roadpulse::config::SchemaRegistryConfig {
            url: healthy.url.clone(),
            ..Default::default()
        })
        .unwrap();
    let text = std::fs::read_to_string(&v0).unwrap();
    let id = client
        .register(&format!("{}-value", setup.input), &text)
        .unwrap();
    assert_eq!(produced["id"], id);
    let url = format!("schema_registry.url=\"{}\"", healthy.url);
    let mut up = setup.start_worker("up", &["formats.input=\"avro\"", &url]);
    let (got, _) = read_finals(&setup, expected.len(), Duration::from_secs(120));
    assert_equal(&expected, &got);
    up.stop();
}

#[test]
fn without_a_registry_fixed_ids_are_written_and_read() {
    let setup = Setup::new("avro-fixed", PARTITIONS, None);
    let records = workload(3_000, 14);
    let expected = replay(&setup.dir, &records, PARTITIONS as u32, &setup.domain_sets);
    let raw_schema = repo("schemas/raw_event.avsc");
    let produced = summary(
        python("produce_avro.py").args([
            "--bootstrap",
            &setup.bootstrap,
            "--topic",
            &setup.input,
            "--id",
            "7",
            "--schema",
            raw_schema.to_str().unwrap(),
            "--input",
            setup.dir.join("input.jsonl").to_str().unwrap(),
        ]),
        "the Python producer",
    );
    assert_eq!(produced["id"], 7);
    let input_id = format!("schema_registry.ids.{}=7", setup.input);
    let output_id = format!("schema_registry.ids.{}=8", setup.congestion);
    let incidents_id = format!("schema_registry.ids.{}-incidents=9", setup.input);
    let mut worker = setup.start_worker(
        "w",
        &[
            "formats.input=\"avro\"",
            "formats.output=\"avro\"",
            "incidents.enabled=false",
            &input_id,
            &output_id,
            &incidents_id,
        ],
    );
    let out = setup.dir.join("python.jsonl");
    let schema = repo("schemas/congestion_event.avsc");
    let py = summary(
        python("consume_avro.py").args([
            "--bootstrap",
            &setup.bootstrap,
            "--topic",
            &setup.congestion,
            "--schema",
            schema.to_str().unwrap(),
            "--writer",
            schema.to_str().unwrap(),
            "--id",
            "8",
            "--expect",
            &expected.len().to_string(),
            "--timeout",
            "120",
            "--out",
            out.to_str().unwrap(),
        ]),
        "the Python consumer",
    );
    assert_all_decoded(&py, expected.len(), "python");
    assert_equal(&expected, &finals_in(&out));
    worker.stop();
}
