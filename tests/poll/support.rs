//! What the poller tests share: a poller config file around the test's topics, the poller
//! process, its metrics, and the raw events it published (read back with `read_committed`).
#![allow(dead_code)] // each test binary uses a part of it

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, free_port, http_get, unique, Worker, BIN};

pub struct Poller {
    pub config: PathBuf,
    pub http_port: u16,
}

impl Poller {
    /// Writes a config: Kafka and topics, `[poll]` with `poll_extra`, then `sources`
    /// (TOML `[[sources]]` tables).
    pub fn config(
        dir: &Path,
        bootstrap: &str,
        raw_topic: &str,
        poll_extra: &str,
        sources: &str,
    ) -> Poller {
        let id = unique("poller");
        let positions_topic = format!("{id}-positions");
        let http_port = free_port();
        let text = format!(
            "[kafka]\nbootstrap_servers = \"{bootstrap}\"\ninput_topics = [\"{raw_topic}\"]\ncreate_topics = false\n\
             [http]\nlisten = \"127.0.0.1:{http_port}\"\n[log]\nformat = \"json\"\n\
             [poll]\nid = \"{id}\"\npositions_topic = \"{positions_topic}\"\ninitial_backoff = \"100ms\"\nmax_backoff = \"1s\"\n{poll_extra}\n\
             {sources}\n"
        );
        let config = dir.join(format!("{id}.toml"));
        std::fs::write(&config, text).unwrap();
        Poller { config, http_port }
    }

    /// A second config with this one's `poll.id`, topics and sources (so the same
    /// transactional ids) on another HTTP port: a twin of this poller.
    pub fn twin(&self) -> Poller {
        let http_port = free_port();
        let text = std::fs::read_to_string(&self.config).unwrap().replace(
            &format!("listen = \"127.0.0.1:{}\"", self.http_port),
            &format!("listen = \"127.0.0.1:{http_port}\""),
        );
        let config = self.config.with_extension("twin.toml");
        std::fs::write(&config, text).unwrap();
        Poller { config, http_port }
    }

    /// `poll.positions_topic` of this config.
    pub fn positions_topic(&self) -> String {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let table: toml::Table = text.parse().unwrap();
        table["poll"]["positions_topic"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn start(&self, dir: &Path, name: &str, env: &[(&str, &str)]) -> Worker {
        let log = dir.join(format!("{name}.log"));
        let mut cmd = Command::new(BIN);
        cmd.args(["poll", "--config"]).arg(&self.config);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .env("RUST_LOG", "info,librdkafka=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start poller");
        Worker::from_child(child, log)
    }

    pub fn metrics(&self) -> String {
        http_get(self.http_port, "/metrics")
    }

    /// The value of metric `name` with these labels (0 when absent).
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric(&self.metrics(), name, labels)
    }

    /// `/readyz` answered 200 (`Some(true)`) or not; `None` while nothing listens.
    pub fn ready(&self) -> Option<bool> {
        std::net::TcpStream::connect(("127.0.0.1", self.http_port)).ok()?;
        let status = http_get(self.http_port, "/readyz");
        Some(status.split_whitespace().nth(1) == Some("200"))
    }

    /// Waits until `/readyz` answers ready (`want`) or not (`!want`); `false` after `timeout`.
    pub fn wait_ready(&self, want: bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.ready() == Some(want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Raw events on `topic` as JSON, with their keys, read committed until `done` holds.
pub fn raw_events(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<(String, Value)> {
    let parse = |r: &common::Read| {
        let key = String::from_utf8(r.key.clone().unwrap_or_default()).unwrap();
        let value: Value = serde_json::from_slice(r.value.as_deref().unwrap_or_default())
            .expect("raw events are JSON");
        (key, value)
    };
    let records = common::read_topic(bootstrap, topic, timeout, |rs| {
        let values: Vec<Value> = rs.iter().map(|r| parse(r).1).collect();
        done(&values)
    });
    records.iter().map(parse).collect()
}

/// Raw events by `location`, each with its timestamps in the order published.
pub fn by_location(events: &[(String, Value)]) -> BTreeMap<String, Vec<i64>> {
    let mut m: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (_, v) in events {
        m.entry(v["location"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(v["ts"].as_i64().unwrap());
    }
    m
}
