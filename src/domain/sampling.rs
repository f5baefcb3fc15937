//! How probe pings were sampled, which decides how their speeds estimate a window's
//! space-mean speed (distance travelled / vehicle-time on the segment, Edie's definition):
//!
//! - pings sent at regular **times** (most GPS fleets, every few seconds): each ping is a
//!   snapshot of a vehicle present, so the plain mean of the pings is already weighted by
//!   vehicle-time, and it is the space-mean speed. Their harmonic mean is biased low, and one
//!   vehicle waiting at a red light (a 0 km/h ping) makes it 0;
//! - pings sent every so many metres (**distance**): each is a spot speed at a point, like a
//!   loop's, and the harmonic mean is the space-mean speed.
//!
//! A probe's sampling comes from, in this order: its `source` field when
//! [`SamplingRules::sources`] names it, the input topic it was read from when
//! [`SamplingRules::topics`] names it, and [`SamplingRules::default`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    /// Pings at regular times: the arithmetic mean.
    #[default]
    Time,
    /// Pings at regular distances: the harmonic mean.
    Distance,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplingRules {
    pub default: Sampling,
    /// By input topic.
    pub topics: HashMap<String, Sampling>,
    /// By the probe's `source` field; wins over the topic.
    pub sources: HashMap<String, Sampling>,
}

impl SamplingRules {
    /// The sampling of probes read from `topic` that do not name a listed source.
    pub fn for_topic(&self, topic: Option<&str>) -> Sampling {
        topic
            .and_then(|t| self.topics.get(t))
            .copied()
            .unwrap_or(self.default)
    }

    /// The sampling of one probe, given its topic's.
    pub fn for_probe(&self, topic: Sampling, source: Option<&str>) -> Sampling {
        if self.sources.is_empty() {
            return topic;
        }
        source
            .and_then(|s| self.sources.get(s))
            .copied()
            .unwrap_or(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_wins_over_topic_wins_over_default() {
        let rules = SamplingRules {
            default: Sampling::Time,
            topics: [("fleet-b".to_string(), Sampling::Distance)].into(),
            sources: [("acme".to_string(), Sampling::Time)].into(),
        };
        let b = rules.for_topic(Some("fleet-b"));
        assert_eq!(b, Sampling::Distance);
        assert_eq!(rules.for_topic(Some("traffic.raw")), Sampling::Time);
        assert_eq!(rules.for_topic(None), Sampling::Time);
        assert_eq!(rules.for_probe(b, Some("acme")), Sampling::Time);
        assert_eq!(rules.for_probe(b, Some("other")), Sampling::Distance);
        assert_eq!(rules.for_probe(b, None), Sampling::Distance);
    }
}
