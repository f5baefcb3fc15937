//! Typed configuration: defaults < TOML file < `ROADPULSE_…` environment < command-line flags,
//! validated once at start-up. Every key is documented in the README's config reference.
//!
//! Environment: `ROADPULSE_<SECTION>_<KEY>` sets `section.key` (for example
//! `ROADPULSE_KAFKA_BOOTSTRAP_SERVERS`), and `ROADPULSE_RDKAFKA_<PROP>` sets the librdkafka
//! property `<prop>` with `_` read as `.` (for example `ROADPULSE_RDKAFKA_SASL_PASSWORD`).
//! Flags use `--set section.key=value`. Values are read as TOML where they parse (numbers,
//! booleans, arrays) and as strings otherwise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod address;
mod formats;
mod ingest;
mod json_mapping;
mod limits;
mod probes;
mod sections;
mod sources;
pub use formats::*;
pub use ingest::*;
pub use json_mapping::*;
pub use limits::*;
pub use probes::*;
pub use sections::*;
pub use sources::*;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config: {0}")]
    Parse(String),
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub window: WindowConfig,
    pub congestion: CongestionConfig,
    pub probes: ProbesConfig,
    pub incidents: IncidentsConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
    pub formats: FormatsConfig,
    pub schema_registry: SchemaRegistryConfig,
    pub ingest: IngestConfig,
    /// `roadpulse poll`: the poller's identity, positions and retry settings.
    pub poll: PollConfig,
    /// `roadpulse poll`: one entry per feed (the worker ignores them).
    pub sources: Vec<SourceConfig>,
    pub limits: LimitsConfig,
    pub state: StateConfig,
    /// `ROADPULSE_…` variables that name no config section (listed by `check-config`).
    #[serde(skip)]
    pub ignored_env: Vec<String>,
}

const ENV_PREFIX: &str = "ROADPULSE_";
const SECTIONS: [&str; 13] = [
    "kafka",
    "window",
    "congestion",
    "probes",
    "incidents",
    "http",
    "log",
    "formats",
    "schema_registry",
    "ingest",
    "poll",
    "limits",
    "state",
];
/// Keys whose values are lists; an env or flag value for them may be comma-separated.
const LIST_KEYS: [&str; 2] = ["kafka.input_topics", "ingest.tokens"];

impl Config {
    /// Loads and validates: file (if any), then environment, then `--set` overrides.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        sets: &[String],
    ) -> Result<Config, ConfigError> {
        let text = match file {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        path: path.into(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let origin = file.map(|p| p.display().to_string()).unwrap_or_default();
        Config::parse(text.as_deref().map(|t| (t, origin.as_str())), env, sets)
    }

    /// What [`Config::load`] does once the file is read: `file` is its text and its name (for
    /// messages). Outside bytes end here, so this is also what the config fuzz target drives.
    pub fn parse(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
        sets: &[String],
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some((text, origin)) => text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Parse(format!("{origin}: {e}")))?,
            None => toml::Table::new(),
        };
        let mut ignored_env = Vec::new();
        for (name, value) in env {
            match env_override(&name, &value)? {
                Some((key, value)) => set_path(&mut table, &key, value)?,
                None if name.starts_with(ENV_PREFIX) && name != "ROADPULSE_CONFIG" => {
                    ignored_env.push(name)
                }
                None => {}
            }
        }
        for set in sets {
            let (key, value) = set.split_once('=').ok_or_else(|| {
                ConfigError::Parse(format!("--set {set:?} must look like section.key=value"))
            })?;
            set_path(&mut table, key.trim(), parse_value(key.trim(), value))?;
        }
        let mut config: Config = Config::deserialize(table).map_err(deserialize_error)?;
        config.validate()?;
        ignored_env.sort();
        config.ignored_env = ignored_env;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.kafka.validate()?;
        self.window.validate()?;
        self.congestion.validate()?;
        self.probes.validate(&self.kafka)?;
        self.incidents.validate()?;
        self.http.validate()?;
        self.formats.validate(&self.kafka)?;
        self.schema_registry.validate(&self.formats, &self.kafka)?;
        self.ingest.validate(&self.kafka)?;
        self.limits.validate()?;
        self.state.validate()?;
        let spec = self.window.spec();
        if self.incidents.enabled && spec.advance_ms != spec.size_ms {
            return Err(ConfigError::invalid(
                "window.advance",
                "incident detection needs tumbling windows (advance = size): leave window.advance unset, or set incidents.enabled = false",
            ));
        }
        sources::validate(&self.poll, &self.sources)?;
        let incidents = &self.kafka.incidents_topic;
        if self.incidents.enabled && self.formats.output_format(incidents) == Format::Avro {
            return Err(ConfigError::invalid(
                "formats.output",
                format!("incident events are written as JSON only so far: set formats.topics.\"{incidents}\" = \"json\" (or incidents.enabled = false)"),
            ));
        }
        Ok(())
    }

    /// The effective configuration as TOML with secrets replaced by `***`.
    pub fn redacted_toml(&self) -> String {
        let mut shown = self.clone();
        for (key, value) in shown.kafka.properties.iter_mut() {
            if is_secret(key) {
                *value = "***".into();
            }
        }
        if shown.schema_registry.password.is_some() {
            shown.schema_registry.password = Some("***".into());
        }
        for token in shown.ingest.tokens.iter_mut() {
            *token = "***".into();
        }
        sources::redact(&mut shown.sources);
        let mut text = toml::to_string_pretty(&shown)
            .unwrap_or_else(|e| format!("# cannot render config: {e}\n"));
        if !self.ignored_env.is_empty() {
            text.push_str(&format!(
                "\n# ignored environment variables (no such section): {}\n",
                self.ignored_env.join(", ")
            ));
        }
        text
    }
}

/// toml says "message\nin `key`"; we say it in one sentence, key first.
fn deserialize_error(e: toml::de::Error) -> ConfigError {
    let text = e.to_string();
    match text.trim().rsplit_once("\nin `") {
        Some((message, key)) => {
            ConfigError::invalid(key.trim_end_matches('`'), message.replace('\n', " "))
        }
        None => ConfigError::Parse(text.trim().replace('\n', " ")),
    }
}

fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "sasl.oauthbearer.config",
        "ssl.key.pem",
        "ssl_key",
        "token",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// Maps one environment variable to a config path and value, or None when it is not ours.
fn env_override(name: &str, value: &str) -> Result<Option<(String, toml::Value)>, ConfigError> {
    let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
        return Ok(None);
    };
    let lower = rest.to_ascii_lowercase();
    if let Some(prop) = lower.strip_prefix("rdkafka_") {
        let key = format!("kafka.properties.{}", prop.replace('_', "."));
        return Ok(Some((key, toml::Value::String(value.to_string()))));
    }
    // Not ours: ROADPULSE_CONFIG (the file flag), and variables such as the ROADPULSE_SERVICE_HOST
    // Kubernetes injects for a Service named roadpulse. `check-config` lists them.
    let Some((section, key)) = SECTIONS.iter().find_map(|s| {
        lower
            .strip_prefix(s)
            .and_then(|rest| rest.strip_prefix('_'))
            .map(|key| (*s, key))
    }) else {
        return Ok(None);
    };
    let path = format!("{section}.{key}");
    let value = parse_value(&path, value);
    Ok(Some((path, value)))
}

fn parse_value(path: &str, raw: &str) -> toml::Value {
    if LIST_KEYS.contains(&path) && !raw.trim_start().starts_with('[') {
        return toml::Value::Array(
            raw.split(',')
                .map(|s| toml::Value::String(s.trim().to_string()))
                .collect(),
        );
    }
    let value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"));
    match value {
        // librdkafka takes every property as text: `linger.ms=10` is "10".
        Some(v) if v.is_str() || !path.starts_with("kafka.properties.") => v,
        _ => toml::Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) -> Result<(), ConfigError> {
    let mut parts: Vec<&str> = path.splitn(3, '.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::invalid(path, "must be section.key"));
    }
    let leaf = parts.pop().unwrap_or_default();
    let mut node = table;
    for part in parts {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry
            .as_table_mut()
            .ok_or_else(|| ConfigError::invalid(path, format!("`{part}` is not a section")))?;
    }
    node.insert(leaf.to_string(), value);
    Ok(())
}

/// The librdkafka passthrough map, as strings.
pub type Properties = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::load(None, vec![], &[]).unwrap();
        assert_eq!(c.kafka.input_topics, vec!["traffic.raw"]);
        assert_eq!(c.window.size.millis(), 60_000);
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = std::env::temp_dir().join(format!("rp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[kafka]\ngroup_id = \"file\"\nbootstrap_servers = \"file:9092\"\n[window]\ngrace = \"10s\"\n").unwrap();
        let e = env(&[
            ("ROADPULSE_KAFKA_GROUP_ID", "env"),
            ("ROADPULSE_KAFKA_INPUT_TOPICS", "a, b"),
            ("ROADPULSE_RDKAFKA_SASL_PASSWORD", "hunter2"),
            ("PATH", "/bin"),
        ]);
        let c = Config::load(
            Some(&file),
            e,
            &["kafka.group_id=flag".into(), "window.size=2m".into()],
        )
        .unwrap();
        assert_eq!(c.kafka.group_id, "flag");
        assert_eq!(c.kafka.bootstrap_servers, "file:9092");
        assert_eq!(c.kafka.input_topics, vec!["a", "b"]);
        assert_eq!(c.window.grace.millis(), 10_000);
        assert_eq!(c.window.size.millis(), 120_000);
        assert_eq!(c.kafka.properties["sasl.password"], "hunter2");
        for set in [
            "kafka.properties.linger.ms=10",
            "kafka.properties.linger.ms=\"10\"",
        ] {
            let c = Config::load(None, vec![], &[set.into()]).unwrap();
            assert_eq!(c.kafka.properties["linger.ms"], "10", "{set}");
        }
        let shown = c.redacted_toml();
        assert!(shown.contains("***") && !shown.contains("hunter2"));
    }

    #[test]
    fn errors_name_the_key() {
        let err = |sets: &[&str]| {
            let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            Config::load(None, vec![], &sets).unwrap_err().to_string()
        };
        assert!(
            err(&["window.grace=soon"]).contains("grace"),
            "{}",
            err(&["window.grace=soon"])
        );
        assert!(err(&["window.advance=90s"]).contains("window.advance"));
        assert!(err(&["kafka.colour=red"]).contains("colour"));
        assert!(err(&["kafka.topic_partitions=0"]).contains("kafka.topic_partitions"));
        let bad_key = Config::load(None, env(&[("ROADPULSE_WINDOW_SIZ", "1m")]), &[]).unwrap_err();
        assert!(bad_key.to_string().contains("siz"), "{bad_key}");
        let foreign = Config::load(
            None,
            env(&[
                ("ROADPULSE_SERVICE_HOST", "10.0.0.1"),
                ("ROADPULSE_CONFIG", "x"),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(foreign.ignored_env, vec!["ROADPULSE_SERVICE_HOST"]);
        assert!(foreign.redacted_toml().contains("ROADPULSE_SERVICE_HOST"));
    }
}
