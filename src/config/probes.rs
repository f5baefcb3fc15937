//! `[probes]`: how each input's probe pings were sampled, which decides how their speeds
//! estimate the space-mean speed (`time`: arithmetic mean; `distance`: harmonic mean; see
//! `domain::sampling`). A probe takes its `source` field's entry in `sources`, else its input
//! topic's entry in `topics`, else `sampling`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ConfigError, KafkaConfig};
use crate::domain::sampling::{Sampling, SamplingRules};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbesConfig {
    /// Sampling of probes no topic or source entry names: `time` (GPS fleets) or `distance`.
    pub sampling: Sampling,
    /// Per input topic, topic → `time`/`distance`.
    pub topics: BTreeMap<String, Sampling>,
    /// Per value of the probes' `source` field; wins over the topic.
    pub sources: BTreeMap<String, Sampling>,
}

impl ProbesConfig {
    pub(super) fn validate(&self, k: &KafkaConfig) -> Result<(), ConfigError> {
        for topic in self.topics.keys() {
            if !k.input_topics.contains(topic) {
                return Err(ConfigError::invalid(
                    &format!("probes.topics.{topic}"),
                    "names no topic of kafka.input_topics",
                ));
            }
        }
        if let Some(empty) = self.sources.keys().find(|s| s.is_empty()) {
            return Err(ConfigError::invalid(
                &format!("probes.sources.{empty:?}"),
                "a source name must not be empty",
            ));
        }
        Ok(())
    }

    pub fn rules(&self) -> SamplingRules {
        let copy =
            |m: &BTreeMap<String, Sampling>| m.iter().map(|(k, v)| (k.clone(), *v)).collect();
        SamplingRules {
            default: self.sampling,
            topics: copy(&self.topics),
            sources: copy(&self.sources),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::domain::sampling::Sampling;

    #[test]
    fn sampling_by_default_topic_and_source() {
        let sets = [
            "kafka.input_topics=[\"traffic.raw\", \"fleet-b\"]".to_string(),
            "probes.topics.fleet-b=distance".to_string(),
            "probes.sources.acme=distance".to_string(),
        ];
        let c = Config::load(None, vec![], &sets).unwrap();
        let rules = c.probes.rules();
        assert_eq!(rules.default, Sampling::Time);
        assert_eq!(rules.for_topic(Some("fleet-b")), Sampling::Distance);
        assert_eq!(
            rules.for_probe(Sampling::Time, Some("acme")),
            Sampling::Distance
        );
        let env = vec![(
            "ROADPULSE_PROBES_SAMPLING".to_string(),
            "distance".to_string(),
        )];
        let c = Config::load(None, env, &[]).unwrap();
        assert_eq!(c.probes.sampling, Sampling::Distance);
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = |set: &str| {
            Config::load(None, vec![], &[set.to_string()])
                .unwrap_err()
                .to_string()
        };
        assert!(err("probes.sampling=sometimes").contains("probes.sampling"));
        assert!(err("probes.topics.nope=time").contains("probes.topics.nope"));
    }
}
