//! Before anything acts: one metadata round trip with the configured client settings, so that
//! credentials the broker refuses, or a broker certificate the worker does not trust, stop
//! the worker at once with one sentence naming the setting (exit code 78) instead of an endless
//! reconnect loop. librdkafka reports those through its error callback while it keeps
//! retrying; this context catches them.
//!
//! A broker that does not answer at all is not judged here: the topic set-up that follows
//! reports it as it always has.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};

use super::client;
use crate::config::{ConfigError, KafkaConfig};

/// How long the check waits for an answer or a verdict.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Records the first security failure librdkafka reports.
#[derive(Default)]
struct Verdict(Mutex<Option<ConfigError>>);

impl ClientContext for Verdict {
    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(e) = judge(error.rdkafka_error_code(), reason) {
            let mut v = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            v.get_or_insert(e);
        } else {
            tracing::debug!("preflight: {reason}");
        }
    }
}

impl ProducerContext for Verdict {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

/// The setting a security failure points at, in one sentence; `None` for anything else.
fn judge(code: Option<RDKafkaErrorCode>, reason: &str) -> Option<ConfigError> {
    // librdkafka's reason starts with the broker's name; the rest is the cause.
    let cause = reason.split_once(": ").map_or(reason, |(_, c)| c);
    let (key, what) = match code? {
        RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed => {
            if reason.contains("mechanism") && !reason.contains("invalid credentials") {
                (
                    "kafka.properties.sasl.mechanisms",
                    "the broker refused the SASL mechanism",
                )
            } else {
                (
                    "kafka.properties.sasl.password",
                    "the broker refused the SASL credentials (sasl.username / sasl.password)",
                )
            }
        }
        RDKafkaErrorCode::SSL if reason.contains("certificate") => (
            "kafka.properties.ssl.ca.location",
            "the broker's TLS certificate is not trusted",
        ),
        RDKafkaErrorCode::SSL => (
            "kafka.properties.security.protocol",
            "the TLS connection to the broker failed",
        ),
        _ => return None,
    };
    Some(ConfigError::invalid(key, format!("{what}: {cause}")))
}

/// Asks the brokers for metadata with the admin client's settings until they answer, a
/// security failure is reported, or [`PATIENCE`] passes (then it returns `Ok`: reachability is
/// for the callers to judge).
pub fn check_security(k: &KafkaConfig) -> Result<(), ConfigError> {
    let producer: BaseProducer<Verdict> = client::admin_config(k)
        .create_with_context(Verdict::default())
        .map_err(|e| {
            ConfigError::invalid(
                "kafka.properties",
                format!("librdkafka refused the client settings: {e}"),
            )
        })?;
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let answered = producer
            .client()
            .fetch_metadata(None, Duration::from_millis(500))
            .is_ok();
        // Serves the error callbacks queued meanwhile.
        producer.poll(Duration::from_millis(50));
        if let Some(e) = producer.context().0.lock().ok().and_then(|mut v| v.take()) {
            return Err(e);
        }
        if answered {
            return Ok(());
        }
    }
    tracing::warn!(brokers = %k.bootstrap_servers, "no answer from the brokers within {}s", PATIENCE.as_secs());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_failures_name_their_setting() {
        let sasl = "sasl_ssl://127.0.0.1:36943/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 (after 534ms in state AUTH_REQ)";
        let e = judge(Some(RDKafkaErrorCode::Authentication), sasl)
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("config key `kafka.properties.sasl.password`: the broker refused"),
            "{e}"
        );
        assert!(
            !e.contains("sasl_ssl://127.0.0.1"),
            "the broker name is cut: {e}"
        );
        let tls = "sasl_ssl://127.0.0.1:36943/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified (after 87ms in state SSL_HANDSHAKE)";
        let e = judge(Some(RDKafkaErrorCode::SSL), tls).unwrap().to_string();
        assert!(e.starts_with("config key `kafka.properties.ssl.ca.location`: the broker's TLS certificate is not trusted"), "{e}");
        assert!(judge(
            Some(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down"
        )
        .is_none());
        assert!(judge(None, "whatever").is_none());
    }
}
