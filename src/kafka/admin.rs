//! Creates the topics roadpulse reads and writes when they are missing, and the internal
//! state changelogs (always: they are roadpulse's own), each co-partitioned with its input.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;

use super::{client, KafkaFailure};
use crate::config::KafkaConfig;

type Admin = AdminClient<DefaultClientContext>;

/// Every user-facing topic the worker touches, inputs first.
pub fn all_topics(k: &KafkaConfig) -> Vec<String> {
    let mut topics = k.input_topics.clone();
    topics.extend([
        k.congestion_topic.clone(),
        k.incidents_topic.clone(),
        k.dlq_topic.clone(),
    ]);
    topics
}

/// The compacted changelog of the long-lived segment state of `input`'s tasks: partition `p`
/// holds the state of the task of `input` partition `p` (named like Kafka Streams'
/// `<application.id>-<store>-changelog`).
pub fn changelog_topic(k: &KafkaConfig, input: &str) -> String {
    format!("{}-{input}-state-changelog", k.group_id)
}

fn admin(k: &KafkaConfig) -> Result<Admin, KafkaFailure> {
    client::admin_config(k)
        .create()
        .map_err(KafkaFailure::client)
}

fn metadata(admin: &Admin, k: &KafkaConfig, timeout: Duration) -> Result<Metadata, KafkaFailure> {
    admin.inner().fetch_metadata(None, timeout).map_err(|e| {
        KafkaFailure::Unreachable(format!(
            "{} within {}s: {e}",
            k.bootstrap_servers,
            timeout.as_secs()
        ))
    })
}

/// Partitions of `topic`, if it exists and its metadata is complete.
fn partitions(metadata: &Metadata, topic: &str) -> Option<i32> {
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len() as i32)
}

/// Creates missing topics with `kafka.topic_partitions` partitions; existing ones are left
/// alone. Returns the topics it created.
pub async fn ensure_topics(
    k: &KafkaConfig,
    timeout: Duration,
) -> Result<Vec<String>, KafkaFailure> {
    let admin = admin(k)?;
    let metadata = metadata(&admin, k, timeout)?;
    let topics = all_topics(k);
    let missing: Vec<NewTopic> = topics
        .iter()
        .filter(|t| partitions(&metadata, t).is_none())
        .map(|t| NewTopic::new(t, k.topic_partitions, replication(k)))
        .collect();
    create(&admin, &missing, timeout).await
}

/// Creates each input's state changelog (compacted, as many partitions as the input) when
/// missing, and refuses to start when an existing one no longer matches its input.
pub async fn ensure_changelogs(k: &KafkaConfig, timeout: Duration) -> Result<(), KafkaFailure> {
    let admin = admin(k)?;
    // Inputs created a moment ago may take a few metadata rounds to show their partitions.
    let deadline = Instant::now() + timeout;
    let metadata = loop {
        let m = metadata(&admin, k, timeout)?;
        let complete = k.input_topics.iter().all(|t| partitions(&m, t).is_some());
        if complete || Instant::now() >= deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut missing = Vec::new();
    for input in &k.input_topics {
        let Some(n) = partitions(&metadata, input) else {
            return Err(KafkaFailure::Topic(format!(
                "input topic {input} does not exist, so its state changelog cannot be sized; create it or set kafka.create_topics = true"
            )));
        };
        let changelog = changelog_topic(k, input);
        match partitions(&metadata, &changelog) {
            Some(m) if m == n => {}
            Some(m) => {
                return Err(KafkaFailure::Topic(format!(
                    "state changelog {changelog} has {m} partitions but input topic {input} has {n}; they must match (delete the changelog to rebuild it from scratch)"
                )))
            }
            None => missing.push((changelog, n)),
        }
    }
    let new: Vec<NewTopic> = missing
        .iter()
        .map(|(t, n)| NewTopic::new(t, *n, replication(k)).set("cleanup.policy", "compact"))
        .collect();
    create(&admin, &new, timeout).await.map(|_| ())
}

fn replication(k: &KafkaConfig) -> TopicReplication<'static> {
    TopicReplication::Fixed(k.replication_factor)
}

async fn create(
    admin: &Admin,
    new: &[NewTopic<'_>],
    timeout: Duration,
) -> Result<Vec<String>, KafkaFailure> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let opts = AdminOptions::new().operation_timeout(Some(timeout));
    let results = admin
        .create_topics(new, &opts)
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
    tracing::info!(?created, "created missing topics");
    Ok(created)
}
