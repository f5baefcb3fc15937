//! Value formats of the topics (`[formats]`) and where Avro schema ids come from
//! (`[schema_registry]`): a Confluent-compatible Schema Registry, or ids fixed in config.
//! Checked against the topic names in `[kafka]`, so this validation sees the whole config.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Duration, KafkaConfig};

/// How a topic's record values are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The JSON forms of docs/architecture.md §3.
    #[default]
    Json,
    /// Avro binary of schemas/*.avsc in the Confluent wire format (magic 0, schema id).
    Avro,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FormatsConfig {
    /// Format of every input topic not named in `topics`.
    pub input: Format,
    /// Format of the congestion and incidents topics when not named in `topics`.
    pub output: Format,
    /// Per-topic overrides, topic name → format. The DLQ keeps the original bytes.
    pub topics: BTreeMap<String, Format>,
}

impl FormatsConfig {
    pub fn input_format(&self, topic: &str) -> Format {
        self.topics.get(topic).copied().unwrap_or(self.input)
    }

    pub fn output_format(&self, topic: &str) -> Format {
        self.topics.get(topic).copied().unwrap_or(self.output)
    }

    /// Every topic (input or output) whose format is Avro.
    pub fn avro_topics<'k>(&self, k: &'k KafkaConfig) -> Vec<&'k str> {
        let inputs = k.input_topics.iter().map(String::as_str);
        let inputs = inputs.filter(|t| self.input_format(t) == Format::Avro);
        let outputs = [k.congestion_topic.as_str(), k.incidents_topic.as_str()];
        let outputs = outputs
            .into_iter()
            .filter(|t| self.output_format(t) == Format::Avro);
        inputs.chain(outputs).collect()
    }

    pub(super) fn validate(&self, k: &KafkaConfig) -> Result<(), ConfigError> {
        for topic in self.topics.keys() {
            let key = format!("formats.topics.{topic}");
            if *topic == k.dlq_topic {
                return Err(ConfigError::invalid(
                    &key,
                    "the dead-letter topic keeps the original bytes and has no format of its own",
                ));
            }
            let known = k.input_topics.contains(topic)
                || *topic == k.congestion_topic
                || *topic == k.incidents_topic;
            if !known {
                return Err(ConfigError::invalid(
                    &key,
                    "names no input topic, kafka.congestion_topic or kafka.incidents_topic",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaRegistryConfig {
    /// Base URL of a Confluent-compatible Schema Registry, e.g. `http://registry:8081`
    /// ("" = no registry: schema ids come from `ids`).
    pub url: String,
    /// HTTP basic auth user for the registry.
    pub username: Option<String>,
    /// HTTP basic auth password (shown as *** by check-config).
    pub password: Option<String>,
    /// PEM file of the CA certificates to trust for an `https://` registry, instead of the
    /// built-in (Mozilla) roots: a private CA.
    pub ssl_ca_location: Option<std::path::PathBuf>,
    /// Longest time one registry request may take.
    pub timeout: Duration,
    /// Without a registry: the schema id of each Avro topic, stamped on its records (output)
    /// or the one id accepted on it and read with our schema (input).
    pub ids: BTreeMap<String, u32>,
}

impl Default for SchemaRegistryConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            username: None,
            password: None,
            ssl_ca_location: None,
            timeout: Duration::from_millis(10_000),
            ids: BTreeMap::new(),
        }
    }
}

impl SchemaRegistryConfig {
    pub fn has_registry(&self) -> bool {
        !self.url.trim().is_empty()
    }

    pub(super) fn validate(
        &self,
        formats: &FormatsConfig,
        k: &KafkaConfig,
    ) -> Result<(), ConfigError> {
        if self.timeout.millis() <= 0 {
            return Err(ConfigError::invalid(
                "schema_registry.timeout",
                "must be longer than 0",
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(ConfigError::invalid(
                "schema_registry.password",
                "needs schema_registry.username",
            ));
        }
        let avro = formats.avro_topics(k);
        if self.has_registry() {
            super::address::http_url("schema_registry.url", self.url.trim())?;
            if !self.ids.is_empty() {
                return Err(ConfigError::invalid(
                    "schema_registry.ids",
                    "fixes schema ids when there is no registry; remove it or schema_registry.url",
                ));
            }
            return Ok(());
        }
        if let Some(topic) = avro.iter().find(|t| !self.ids.contains_key(**t)) {
            return Err(ConfigError::invalid(
                &format!("schema_registry.ids.{topic}"),
                format!("Avro topic `{topic}` needs a schema id here, or set schema_registry.url"),
            ));
        }
        if let Some(topic) = self.ids.keys().find(|t| !avro.contains(&t.as_str())) {
            return Err(ConfigError::invalid(
                &format!("schema_registry.ids.{topic}"),
                "names no Avro topic (see [formats])",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Format};

    fn load(sets: &[&str]) -> Result<Config, String> {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Config::load(None, vec![], &sets).map_err(|e| e.to_string())
    }

    #[test]
    fn formats_default_to_json_and_override_per_topic() {
        let c = load(&[
            "formats.output=avro",
            "formats.topics.traffic.raw=avro",
            "formats.topics.traffic.incidents=json",
            "schema_registry.url=http://127.0.0.1:8081",
        ])
        .unwrap();
        assert_eq!(c.formats.input_format("traffic.raw"), Format::Avro);
        assert_eq!(c.formats.output_format("traffic.congestion"), Format::Avro);
        let env = vec![(
            "ROADPULSE_SCHEMA_REGISTRY_URL".to_string(),
            "https://r:8081".to_string(),
        )];
        let c = Config::load(None, env, &["formats.input=avro".into()]).unwrap();
        assert_eq!(c.schema_registry.url, "https://r:8081");
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = |sets: &[&str]| load(sets).unwrap_err();
        assert!(err(&["formats.input=xml"]).contains("formats.input"));
        assert!(err(&["formats.topics.traffic.dlq=avro"]).contains("formats.topics.traffic.dlq"));
        assert!(err(&["formats.topics.nope=avro"]).contains("formats.topics.nope"));
        let e = err(&["formats.output=avro"]);
        assert!(e.contains("schema_registry.ids.traffic.congestion"), "{e}");
        let e = err(&["schema_registry.url=registry:8081"]);
        assert!(e.contains("schema_registry.url"), "{e}");
        let e = err(&[
            "schema_registry.url=http://r",
            "schema_registry.ids.traffic.raw=1",
        ]);
        assert!(e.contains("schema_registry.ids"), "{e}");
        let e = err(&["schema_registry.password=x"]);
        assert!(e.contains("schema_registry.password"), "{e}");
        let e = err(&["formats.input=avro", "schema_registry.ids.traffic.raw=-1"]);
        assert!(e.contains("traffic.raw"), "{e}");
        // Incident events have no Avro encoder yet: refused, not silently written as JSON.
        let e = err(&["formats.output=avro", "schema_registry.url=http://r:8081"]);
        assert!(
            e.contains("formats.output") && e.contains("traffic.incidents"),
            "{e}"
        );
    }

    #[test]
    fn fixed_ids_without_a_registry() {
        let c = load(&[
            "formats.input=avro",
            "formats.output=avro",
            "schema_registry.ids.traffic.raw=3",
            "schema_registry.ids.traffic.congestion=4",
            "schema_registry.ids.traffic.incidents=5",
            "schema_registry.username=u",
            "schema_registry.password=hunter2",
            "incidents.enabled=false",
        ])
        .unwrap();
        assert_eq!(c.schema_registry.ids["traffic.congestion"], 4);
        let shown = c.redacted_toml();
        assert!(!shown.contains("hunter2") && shown.contains("***"));
    }
}
