//! The sections of the configuration, each key with its default and its validation. Defaults
//! live here and nowhere else.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ConfigError, Properties};
use crate::domain::congestion::Hysteresis;
use crate::domain::future::{FutureBound, Reference};
use crate::domain::incident::blockage::BlockageSettings;
use crate::domain::processor::EmitMode;
use crate::domain::window::WindowSpec;

/// A duration written as `500ms`, `30s`, `5m` or `1h` (`0` or `0s` turns a timeout off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(i64);

impl Duration {
    pub const fn from_millis(ms: i64) -> Self {
        Duration(ms)
    }
    pub fn millis(self) -> i64 {
        self.0
    }
    pub fn std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.max(0) as u64)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let n: i64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?} (expected e.g. 500ms, 30s, 5m, 1h)"))?;
        let scale = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" if n == 0 => 0,
            _ => {
                return Err(format!(
                    "invalid duration {text:?} (expected e.g. 500ms, 30s, 5m, 1h)"
                ))
            }
        };
        n.checked_mul(scale)
            .map(Duration)
            .ok_or_else(|| format!("duration {text:?} is too long"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ms if ms != 0 && ms % 3_600_000 == 0 => write!(f, "{}h", ms / 3_600_000),
            ms if ms != 0 && ms % 60_000 == 0 => write!(f, "{}m", ms / 60_000),
            ms if ms % 1_000 == 0 => write!(f, "{}s", ms / 1_000),
            ms => write!(f, "{ms}ms"),
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    /// A duration string, or the bare number 0 (`--set window.idle_timeout=0` is read as TOML,
    /// so its 0 arrives as an integer).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as 500ms, 30s, 5m, 1h (or 0)")
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
        Duration::parse(text).map_err(E::custom)
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Duration, E> {
        match n {
            0 => Ok(Duration(0)),
            n => Err(E::custom(format!(
                "invalid duration {n} (expected e.g. 500ms, 30s, 5m, 1h, or 0)"
            ))),
        }
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Duration, E> {
        self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    /// Outputs, and the input offsets they cover, commit together in one Kafka transaction.
    ExactlyOnce,
    /// Offsets are committed only after the outputs they cover are acknowledged.
    AtLeastOnce,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list of brokers.
    pub bootstrap_servers: String,
    /// Consumer group id; also the prefix of internal topics.
    pub group_id: String,
    /// Topics of raw traffic events.
    pub input_topics: Vec<String>,
    pub congestion_topic: String,
    pub incidents_topic: String,
    /// Poison records go here with headers naming their origin and error.
    pub dlq_topic: String,
    /// Late records (every window they belong to had closed) go here, bytes unchanged, with
    /// headers naming their origin, their window and the stream time; empty: only counted.
    pub late_topic: String,
    /// Create missing topics at start-up.
    pub create_topics: bool,
    /// Partitions of topics roadpulse creates.
    pub topic_partitions: i32,
    /// Replication factor of topics roadpulse creates (-1: the broker's default).
    pub replication_factor: i32,
    pub processing_guarantee: Guarantee,
    /// This worker's stable identity: its transactional id is `<group_id>-<instance_id>`, so a
    /// restarted worker fences its predecessor at once; also its `group.instance.id` with
    /// `static_membership`. Default: `<hostname>-<pid>` (unique, stable in a container).
    pub instance_id: Option<String>,
    /// Join the group with `group.instance.id` = instance_id: a restart within the session
    /// timeout keeps its partitions without a rebalance.
    pub static_membership: bool,
    /// How often outputs are flushed and input offsets committed.
    pub commit_interval: Duration,
    /// How often librdkafka publishes statistics (consumer lag metrics come from them).
    pub statistics_interval: Duration,
    /// Longest time SIGTERM may take to drain, flush, commit and leave the group.
    pub shutdown_timeout: Duration,
    /// librdkafka properties applied last to every client (SASL, TLS, tuning).
    pub properties: Properties,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "localhost:9092".into(),
            group_id: "roadpulse".into(),
            input_topics: vec!["traffic.raw".into()],
            congestion_topic: "traffic.congestion".into(),
            incidents_topic: "traffic.incidents".into(),
            dlq_topic: "traffic.dlq".into(),
            late_topic: String::new(),
            create_topics: true,
            topic_partitions: 12,
            replication_factor: -1,
            processing_guarantee: Guarantee::ExactlyOnce,
            instance_id: None,
            static_membership: false,
            commit_interval: Duration::from_millis(100),
            statistics_interval: Duration::from_millis(5_000),
            shutdown_timeout: Duration::from_millis(25_000),
            properties: Properties::new(),
        }
    }
}

fn non_empty(key: &str, v: &str) -> Result<(), ConfigError> {
    if v.trim().is_empty() {
        return Err(ConfigError::invalid(key, "must not be empty"));
    }
    Ok(())
}

fn positive(key: &str, d: Duration) -> Result<(), ConfigError> {
    if d.millis() <= 0 {
        return Err(ConfigError::invalid(
            key,
            format!("must be longer than 0, got {d}"),
        ));
    }
    Ok(())
}

impl KafkaConfig {
    /// The configured instance id, or `<hostname>-<pid>`.
    pub fn instance(&self) -> String {
        self.instance_id.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME")
                .ok()
                .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "roadpulse".into());
            format!("{host}-{}", std::process::id())
        })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        non_empty("kafka.bootstrap_servers", &self.bootstrap_servers)?;
        super::address::brokers("kafka.bootstrap_servers", &self.bootstrap_servers)?;
        non_empty("kafka.group_id", &self.group_id)?;
        if self.input_topics.is_empty() || self.input_topics.iter().any(|t| t.trim().is_empty()) {
            return Err(ConfigError::invalid(
                "kafka.input_topics",
                "must list at least one topic, none empty",
            ));
        }
        for (key, topic) in [
            ("kafka.congestion_topic", &self.congestion_topic),
            ("kafka.dlq_topic", &self.dlq_topic),
        ] {
            non_empty(key, topic)?;
            if self.input_topics.contains(topic) {
                return Err(ConfigError::invalid(
                    key,
                    format!("`{topic}` is also an input topic"),
                ));
            }
        }
        let late = &self.late_topic;
        let outputs = [
            &self.congestion_topic,
            &self.dlq_topic,
            &self.incidents_topic,
        ];
        if !late.is_empty() && (self.input_topics.contains(late) || outputs.contains(&late)) {
            return Err(ConfigError::invalid(
                "kafka.late_topic",
                format!("`{late}` is also an input or another output topic"),
            ));
        }
        if self.topic_partitions < 1 {
            return Err(ConfigError::invalid(
                "kafka.topic_partitions",
                format!("must be ≥ 1, got {}", self.topic_partitions),
            ));
        }
        if self.replication_factor == 0 || self.replication_factor < -1 {
            return Err(ConfigError::invalid(
                "kafka.replication_factor",
                "must be ≥ 1, or -1 for the broker default",
            ));
        }
        positive("kafka.commit_interval", self.commit_interval)?;
        if self
            .instance_id
            .as_ref()
            .is_some_and(|i| i.trim().is_empty())
        {
            return Err(ConfigError::invalid(
                "kafka.instance_id",
                "must not be empty when set",
            ));
        }
        positive("kafka.shutdown_timeout", self.shutdown_timeout)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emit {
    Final,
    Updates,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowConfig {
    pub size: Duration,
    /// Hop between window starts; equal to `size` (tumbling) when absent.
    pub advance: Option<Duration>,
    /// How long after its end a window still accepts out-of-order events.
    pub grace: Duration,
    pub emit: Emit,
    /// In `updates` mode, the shortest time between two early results.
    pub update_interval: Duration,
    /// Advance a quiet partition's stream time by wall-clock time after this long (0 = off).
    pub idle_timeout: Duration,
    /// Refuse (dead-letter) an event dated more than this ahead of the wall clock (in replay:
    /// of its partition's stream time), so one bad clock cannot stall a partition (0 = off).
    pub max_future: Duration,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            size: Duration::from_millis(60_000),
            advance: None,
            grace: Duration::from_millis(30_000),
            emit: Emit::Final,
            update_interval: Duration::from_millis(10_000),
            idle_timeout: Duration::from_millis(60_000),
            // Kafka 4's own broker refuses record timestamps more than 1 h ahead of its clock
            // (`log.message.timestamp.after.max.ms`).
            max_future: Duration::from_millis(3_600_000),
        }
    }
}

impl WindowConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        positive("window.size", self.size)?;
        if let Some(a) = self.advance {
            positive("window.advance", a)?;
            if a > self.size {
                return Err(ConfigError::invalid(
                    "window.advance",
                    format!("({a}) must not exceed window.size ({})", self.size),
                ));
            }
        }
        if self.grace.millis() < 0 {
            return Err(ConfigError::invalid("window.grace", "must not be negative"));
        }
        positive("window.update_interval", self.update_interval)
    }

    pub fn spec(&self) -> WindowSpec {
        let size = self.size.millis();
        WindowSpec::new(
            size,
            self.advance.map_or(size, Duration::millis),
            self.grace.millis(),
        )
    }

    pub fn emit_mode(&self) -> EmitMode {
        match self.emit {
            Emit::Final => EmitMode::Final,
            Emit::Updates => EmitMode::Updates {
                interval_ms: self.update_interval.millis(),
            },
        }
    }

    pub fn idle_timeout_ms(&self) -> Option<i64> {
        Some(self.idle_timeout.millis()).filter(|ms| *ms > 0)
    }

    /// The `max_future` rule of the live path: ahead of the wall clock.
    pub fn future_bound(&self) -> FutureBound {
        FutureBound::new(self.max_future.millis(), Reference::WallClock)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CongestionConfig {
    /// Segment catalogue (CSV, see README); free-flow speeds are learned when absent.
    pub catalog: Option<std::path::PathBuf>,
    /// Free-flow speed used before anything is known about a segment.
    pub default_free_flow_kph: f64,
    /// Windows a new level must hold before it is published.
    pub hysteresis_windows: u32,
    /// A speed ratio this far beyond the current level's band changes the level at once.
    pub hysteresis_margin: f64,
}

impl Default for CongestionConfig {
    fn default() -> Self {
        let h = Hysteresis::default();
        Self {
            catalog: None,
            default_free_flow_kph: 50.0,
            hysteresis_windows: h.hold_windows,
            hysteresis_margin: h.margin,
        }
    }
}

impl CongestionConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.default_free_flow_kph > 0.0 && self.default_free_flow_kph <= 400.0) {
            return Err(ConfigError::invalid(
                "congestion.default_free_flow_kph",
                "must be in (0, 400]",
            ));
        }
        if !(0.0..=1.0).contains(&self.hysteresis_margin) {
            return Err(ConfigError::invalid(
                "congestion.hysteresis_margin",
                "must be in [0, 1]",
            ));
        }
        Ok(())
    }

    pub fn hysteresis(&self) -> Hysteresis {
        Hysteresis {
            hold_windows: self.hysteresis_windows.max(1),
            margin: self.hysteresis_margin,
        }
    }
}

/// Incident detection (see the README, "Incident detection").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsConfig {
    /// Route final windows and reports to the detection keys around them and detect incidents.
    pub enabled: bool,
    /// A detection key receives the windows of every segment within this many links of it.
    /// 2 is what the detection rules need; 3 and 4 only measure a queue's extent further.
    pub neighbourhood_hops: u32,
    /// No longer used: detection waits for every input partition's watermark. Accepted so
    /// that older configuration files still load; `check-config` says it is ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lateness: Option<Duration>,
    /// The blockage test for segments without a baseline (`[incidents.blockage]`; defaults
    /// in [`BlockageSettings::default`]).
    pub blockage: BlockageSettings,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            neighbourhood_hops: 2,
            lateness: None,
            blockage: BlockageSettings::default(),
        }
    }
}

impl IncidentsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(2..=4).contains(&self.neighbourhood_hops) {
            return Err(ConfigError::invalid(
                "incidents.neighbourhood_hops",
                "must be 2, 3 or 4",
            ));
        }
        let b = &self.blockage;
        if !(b.jam_ratio > 0.0 && b.jam_ratio < 1.0) {
            return Err(ConfigError::invalid(
                "incidents.blockage.jam_ratio",
                "must be above 0 and below 1",
            ));
        }
        if !(b.clear_ratio > b.jam_ratio && b.clear_ratio <= 1.5) {
            return Err(ConfigError::invalid(
                "incidents.blockage.clear_ratio",
                "must be above jam_ratio and at most 1.5",
            ));
        }
        for (key, v) in [("recall_s", b.recall_s), ("persist_s", b.persist_s)] {
            if v > 3600 {
                return Err(ConfigError::invalid(
                    &format!("incidents.blockage.{key}"),
                    "must be at most 3600 (seconds)",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of /metrics, /healthz and /readyz ("" turns the server off).
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:9464".into(),
        }
    }
}

impl HttpConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        super::address::listen("http.listen", &self.listen)
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Plain,
    Json,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `plain` or `json`; filter with RUST_LOG.
    pub format: LogFormat,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("500ms").unwrap().millis(), 500);
        assert_eq!(Duration::parse("30s").unwrap().millis(), 30_000);
        assert_eq!(Duration::parse("2m").unwrap().millis(), 120_000);
        assert_eq!(Duration::parse("0").unwrap().millis(), 0);
        assert!(Duration::parse("1.5s").is_err());
        assert!(Duration::parse("5").is_err());
        assert_eq!(Duration::from_millis(90_000).to_string(), "90s");
        assert_eq!(Duration::from_millis(120_000).to_string(), "2m");
        let c = crate::config::Config::load(None, vec![], &["window.max_future=0".into()]);
        assert_eq!(c.unwrap().window.max_future.millis(), 0);
        let e = crate::config::Config::load(None, vec![], &["window.max_future=5".into()]);
        assert!(e.unwrap_err().to_string().contains("window.max_future"));
    }

    #[test]
    fn the_late_topic_is_off_by_default_and_no_other_topic() {
        let load = |set: &str| crate::config::Config::load(None, vec![], &[set.into()]);
        assert_eq!(load("log.format=\"json\"").unwrap().kafka.late_topic, "");
        let ok = load("kafka.late_topic=\"traffic.late\"").unwrap();
        assert_eq!(ok.kafka.late_topic, "traffic.late");
        for taken in ["traffic.raw", "traffic.dlq", "traffic.congestion"] {
            let e = load(&format!("kafka.late_topic=\"{taken}\"")).unwrap_err();
            assert!(e.to_string().contains("kafka.late_topic"), "{e}");
        }
    }
}
