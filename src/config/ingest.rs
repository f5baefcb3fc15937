//! `[ingest]`: the HTTP ingest endpoint of `roadpulse ingest` (`POST /v1/events`). Defaults
//! live here; checks that only matter when the endpoint runs (a token source, readable TLS
//! files) are made by `roadpulse ingest` at start-up, so a worker's config never needs them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Duration, KafkaConfig};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Address of `POST /v1/events` (`/metrics`, `/healthz` and `/readyz` stay on `http.listen`).
    pub listen: String,
    /// Topic the accepted records go to; the first of `kafka.input_topics` when absent.
    pub topic: Option<String>,
    /// Largest request body; a larger one is answered 413 before it is read.
    pub max_body_bytes: u64,
    /// Bytes of request bodies whose records are not yet acknowledged by Kafka, over all
    /// requests. A request that does not fit is answered 503 with `Retry-After`, unread: this
    /// is the producer queue's bound, and what bounds the memory of the endpoint.
    pub max_in_flight_bytes: u64,
    /// How long a record may wait for Kafka's acknowledgement (librdkafka's
    /// `message.timeout.ms`); one not acknowledged by then is answered as failed (503).
    pub ack_timeout: Duration,
    /// Value of the `Retry-After` header of 503 answers (whole seconds, at least 1).
    pub retry_after: Duration,
    /// Accepted bearer tokens (`ROADPULSE_INGEST_TOKENS=a,b`; shown as *** by check-config).
    pub tokens: Vec<String>,
    /// File of accepted bearer tokens, one a line (`#` comments); re-read when it changes.
    pub tokens_file: Option<PathBuf>,
    /// Serve without any bearer token (only behind something else that authenticates).
    pub allow_anonymous: bool,
    /// PEM certificate chain: with `tls_key`, the endpoint speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".into(),
            topic: None,
            max_body_bytes: 4 << 20,
            max_in_flight_bytes: 64 << 20,
            ack_timeout: Duration::from_millis(10_000),
            retry_after: Duration::from_millis(1_000),
            tokens: Vec::new(),
            tokens_file: None,
            allow_anonymous: false,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl IngestConfig {
    /// The topic records go to.
    pub fn topic<'a>(&'a self, k: &'a KafkaConfig) -> &'a str {
        match &self.topic {
            Some(t) => t,
            None => k.input_topics.first().map_or("traffic.raw", String::as_str),
        }
    }

    /// `Retry-After` in whole seconds (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        (self.retry_after.millis().max(1) as u64).div_ceil(1_000)
    }

    pub(super) fn validate(&self, k: &KafkaConfig) -> Result<(), ConfigError> {
        if self.listen.trim().is_empty() {
            return Err(ConfigError::invalid("ingest.listen", "must not be empty"));
        }
        if self.topic.as_ref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ConfigError::invalid(
                "ingest.topic",
                "must not be empty when set",
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "ingest.max_body_bytes",
                format!("must be at least 1024, got {}", self.max_body_bytes),
            ));
        }
        if self.max_in_flight_bytes < self.max_body_bytes {
            return Err(ConfigError::invalid(
                "ingest.max_in_flight_bytes",
                format!(
                    "({}) must be at least ingest.max_body_bytes ({})",
                    self.max_in_flight_bytes, self.max_body_bytes
                ),
            ));
        }
        if self.ack_timeout.millis() < 1_000 || self.ack_timeout >= k.shutdown_timeout {
            return Err(ConfigError::invalid(
                "ingest.ack_timeout",
                format!(
                    "must be at least 1s and shorter than kafka.shutdown_timeout ({}), got {}",
                    k.shutdown_timeout, self.ack_timeout
                ),
            ));
        }
        if self.retry_after.millis() < 1_000 {
            return Err(ConfigError::invalid(
                "ingest.retry_after",
                "must be at least 1s",
            ));
        }
        if let Some(bad) = self.tokens.iter().position(|t| !valid_token(t)) {
            return Err(ConfigError::invalid(
                "ingest.tokens",
                format!("token {} is empty or holds whitespace", bad + 1),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::invalid(
                if self.tls_cert.is_some() {
                    "ingest.tls_key"
                } else {
                    "ingest.tls_cert"
                },
                "TLS needs both ingest.tls_cert and ingest.tls_key",
            ));
        }
        Ok(())
    }
}

/// A bearer token as RFC 6750 allows it: visible ASCII, no spaces.
pub fn valid_token(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn err(sets: &[&str]) -> String {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Config::load(None, vec![], &sets).unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_topic() {
        let c = Config::load(None, vec![], &[]).unwrap();
        assert_eq!(c.ingest.topic(&c.kafka), "traffic.raw");
        assert_eq!(c.ingest.retry_after_secs(), 1);
        let env = vec![(
            "ROADPULSE_INGEST_TOKENS".to_string(),
            "alpha, beta".to_string(),
        )];
        let c = Config::load(None, env, &["ingest.topic=events".into()]).unwrap();
        assert_eq!(c.ingest.tokens, vec!["alpha", "beta"]);
        assert_eq!(c.ingest.topic(&c.kafka), "events");
        let shown = c.redacted_toml();
        assert!(!shown.contains("alpha") && shown.contains("***"), "{shown}");
    }

    #[test]
    fn bad_values_name_their_key() {
        assert!(err(&["ingest.max_body_bytes=10"]).contains("ingest.max_body_bytes"));
        let e = err(&["ingest.max_in_flight_bytes=2048"]);
        assert!(e.contains("ingest.max_in_flight_bytes"), "{e}");
        assert!(err(&["ingest.ack_timeout=\"30s\""]).contains("ingest.ack_timeout"));
        assert!(err(&["ingest.retry_after=\"100ms\""]).contains("ingest.retry_after"));
        assert!(err(&["ingest.tokens=[\"a b\"]"]).contains("ingest.tokens"));
        assert!(err(&["ingest.tls_cert=\"/c.pem\""]).contains("ingest.tls_key"));
        assert!(err(&["ingest.colour=1"]).contains("colour"));
    }
}
