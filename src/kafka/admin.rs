//! Creates the topics roadpulse reads and writes when they are missing, and the internal
//! topics (always: they are roadpulse's own): a state changelog per input topic,
//! co-partitioned with it, the detection repartition topic and its state changelog.

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
    if !k.late_topic.is_empty() {
        topics.push(k.late_topic.clone());
    }
    topics
}

/// The compacted changelog of the long-lived segment state of `input`'s tasks: partition `p`
/// holds the state of the task of `input` partition `p` (named like Kafka Streams'
/// `<application.id>-<store>-changelog`).
pub fn changelog_topic(k: &KafkaConfig, input: &str) -> String {
    format!("{}-{input}-state-changelog", k.group_id)
}

/// The internal topic the windows and reports of every segment go through to the detection
/// keys around it.
pub fn repartition_topic(k: &KafkaConfig) -> String {
    format!("{}-detection-repartition", k.group_id)
}

/// The compacted changelog of the detection keys' state, co-partitioned with the repartition
/// topic.
pub fn detection_changelog_topic(k: &KafkaConfig) -> String {
    format!("{}-detection-state-changelog", k.group_id)
}

/// The partition counts the worker runs with: each input topic's (in configuration order)
/// and the detection repartition topic's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub inputs: Vec<u32>,
    pub detection: u32,
}

/// Every internal topic with the partitions it must have and whether it is compacted (the
/// repartition topic is not: its records are read soon after they are written, and it keeps
/// them by append time, as the records carry event time, which may be days old in a backfill).
fn internal_topics(
    k: &KafkaConfig,
    input_partitions: &[(String, i32)],
) -> Vec<(String, i32, bool)> {
    let mut topics: Vec<(String, i32, bool)> = input_partitions
        .iter()
        .map(|(input, n)| (changelog_topic(k, input), *n, true))
        .collect();
    let widest = input_partitions.iter().map(|(_, n)| *n).max().unwrap_or(1);
    topics.push((repartition_topic(k), widest, false));
    topics.push((detection_changelog_topic(k), widest, true));
    topics
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

/// Creates the internal topics when missing (changelogs compacted, each as wide as what it
/// mirrors), and refuses to start when an existing one no longer matches or an output topic
/// (the incidents topic only with detection on) is missing. Returns the partition counts.
pub async fn ensure_internal_topics(
    k: &KafkaConfig,
    incidents: bool,
    timeout: Duration,
) -> Result<Layout, KafkaFailure> {
    let admin = admin(k)?;
    // Output topics are the user's (kafka.create_topics): a missing one would fail every
    // transaction, so refuse to start instead.
    let mut outputs = vec![&k.congestion_topic, &k.dlq_topic];
    if incidents {
        outputs.push(&k.incidents_topic);
    }
    if !k.late_topic.is_empty() {
        outputs.push(&k.late_topic);
    }
    let needed: Vec<&str> = k
        .input_topics
        .iter()
        .chain(outputs.iter().copied())
        .map(String::as_str)
        .collect();
    let metadata = visible(&admin, k, &needed, timeout).await?;
    if let Some(missing) = outputs.iter().find(|t| partitions(&metadata, t).is_none()) {
        return Err(KafkaFailure::Topic(format!(
            "output topic {missing} does not exist; create it or set kafka.create_topics = true"
        )));
    }
    let mut inputs = Vec::new();
    for input in &k.input_topics {
        let Some(n) = partitions(&metadata, input) else {
            return Err(KafkaFailure::Topic(format!(
                "input topic {input} does not exist, so its internal topics cannot be sized; create it or set kafka.create_topics = true"
            )));
        };
        inputs.push((input.clone(), n));
    }
    let internal = internal_topics(k, &inputs);
    let layout = Layout {
        inputs: inputs.iter().map(|(_, n)| *n as u32).collect(),
        detection: internal
            .iter()
            .find(|(t, ..)| *t == repartition_topic(k))
            .map_or(1, |(_, n, _)| *n as u32),
    };
    let mut missing = Vec::new();
    for (topic, n, compact) in internal {
        match partitions(&metadata, &topic) {
            Some(m) if m == n => {}
            Some(m) => {
                return Err(KafkaFailure::Topic(format!(
                    "internal topic {topic} has {m} partitions but must have {n} like its input; delete it to rebuild it from scratch"
                )))
            }
            None => missing.push((topic, n, compact)),
        }
    }
    let new: Vec<NewTopic> = missing
        .iter()
        .map(|(t, n, compact)| {
            let topic = NewTopic::new(t, *n, replication(k));
            if *compact {
                topic.set("cleanup.policy", "compact")
            } else {
                topic.set("message.timestamp.type", "LogAppendTime")
            }
        })
        .collect();
    let created = create(&admin, &new, timeout).await?;
    if created.is_empty() {
        return Ok(layout);
    }
    // The consumer subscribes next: a topic the broker's metadata does not show yet would be
    // left out of the subscription until librdkafka's next refresh (5 minutes by default),
    // and detection would stall that long.
    let created: Vec<&str> = created.iter().map(String::as_str).collect();
    let m = visible(&admin, k, &created, timeout).await?;
    if let Some(t) = created.iter().find(|t| partitions(&m, t).is_none()) {
        tracing::warn!(
            topic = t,
            "a created topic is not in the metadata after {}s",
            timeout.as_secs()
        );
    }
    Ok(layout)
}

/// Metadata once every one of `topics` shows its partitions, or at `timeout` what there is:
/// topics created a moment ago may take a few metadata rounds to appear.
async fn visible(
    admin: &Admin,
    k: &KafkaConfig,
    topics: &[&str],
    timeout: Duration,
) -> Result<Metadata, KafkaFailure> {
    let deadline = Instant::now() + timeout;
    loop {
        let m = metadata(admin, k, timeout)?;
        if topics.iter().all(|t| partitions(&m, t).is_some()) || Instant::now() >= deadline {
            return Ok(m);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
