//! Creates the topics roadpulse reads and writes when they are missing.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

use super::{client, KafkaFailure};
use crate::config::KafkaConfig;

/// Every topic the worker touches, inputs first.
pub fn all_topics(k: &KafkaConfig) -> Vec<String> {
    let mut topics = k.input_topics.clone();
    topics.extend([
        k.congestion_topic.clone(),
        k.incidents_topic.clone(),
        k.dlq_topic.clone(),
    ]);
    topics
}

/// Creates missing topics with `kafka.topic_partitions` partitions; existing ones are left
/// alone. Returns the topics it created.
pub async fn ensure_topics(
    k: &KafkaConfig,
    timeout: Duration,
) -> Result<Vec<String>, KafkaFailure> {
    let admin: AdminClient<DefaultClientContext> = client::admin_config(k)
        .create()
        .map_err(KafkaFailure::client)?;
    let metadata = admin.inner().fetch_metadata(None, timeout).map_err(|e| {
        KafkaFailure::Unreachable(format!(
            "{} within {}s: {e}",
            k.bootstrap_servers,
            timeout.as_secs()
        ))
    })?;
    let existing: Vec<&str> = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| t.name())
        .collect();
    let missing: Vec<String> = all_topics(k)
        .into_iter()
        .filter(|t| !existing.contains(&t.as_str()))
        .collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    let new: Vec<NewTopic> = missing
        .iter()
        .map(|t| {
            NewTopic::new(
                t,
                k.topic_partitions,
                TopicReplication::Fixed(k.replication_factor),
            )
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(timeout));
    let results = admin
        .create_topics(&new, &opts)
        .await
        .map_err(KafkaFailure::client)?;
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(topic) => created.push(topic),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaFailure::Topic(format!(
                    "cannot create topic {topic}: {code}"
                )))
            }
        }
    }
    tracing::info!(
        ?created,
        partitions = k.topic_partitions,
        "created missing topics"
    );
    Ok(created)
}
