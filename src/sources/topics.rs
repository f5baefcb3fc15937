//! The poller's topics: the raw topics its sources publish to (created when missing and
//! `kafka.create_topics` is on) and the positions topic (created compacted when missing;
//! an existing one must be compacted, as Kafka Connect insists for its offsets topic), and
//! reading the positions back to their committed end at start.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::positions::{self, Positions};
use crate::config::KafkaConfig;
use crate::kafka::client;

const CALL: Duration = Duration::from_secs(10);
/// Longest wait for the positions to be readable: a dead poller's open transaction blocks a
/// `read_committed` reader until the broker aborts it (`transaction.timeout.ms`, 60 s).
pub const LOAD_PATIENCE: Duration = Duration::from_secs(120);

/// Creates what is missing; refuses a positions topic that is not compacted.
pub async fn ensure(k: &KafkaConfig, raw: &[&str], positions_topic: &str) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = client::admin_config(k)
        .create()
        .map_err(|e| e.to_string())?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, CALL)
        .map_err(|e| format!("cannot reach Kafka at {}: {e}", k.bootstrap_servers))?;
    let exists = |t: &str| {
        metadata
            .topics()
            .iter()
            .any(|m| m.name() == t && m.error().is_none() && !m.partitions().is_empty())
    };
    let replication = || TopicReplication::Fixed(k.replication_factor);
    let mut new = Vec::new();
    for t in raw.iter().filter(|t| !exists(t)) {
        if !k.create_topics {
            return Err(format!(
                "raw topic {t} does not exist; create it or set kafka.create_topics = true"
            ));
        }
        new.push(NewTopic::new(t, k.topic_partitions, replication()));
    }
    if exists(positions_topic) {
        check_compacted(&admin, positions_topic).await?;
    } else {
        new.push(NewTopic::new(positions_topic, 1, replication()).set("cleanup.policy", "compact"));
    }
    if new.is_empty() {
        return Ok(());
    }
    let opts = AdminOptions::new().operation_timeout(Some(CALL));
    let results = admin
        .create_topics(&new, &opts)
        .await
        .map_err(|e| e.to_string())?;
    for r in results {
        match r {
            Ok(t) => tracing::info!(topic = %t, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => return Err(format!("cannot create topic {t}: {code}")),
        }
    }
    Ok(())
}

async fn check_compacted(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Result<(), String> {
    let opts = AdminOptions::new().request_timeout(Some(CALL));
    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &opts)
        .await
        .map_err(|e| format!("cannot describe topic {topic}: {e}"))?;
    let policy = described
        .into_iter()
        .flatten()
        .flat_map(|r| r.entries)
        .find(|e| e.name == "cleanup.policy")
        .and_then(|e| e.value);
    match policy {
        Some(p) if p.contains("compact") => Ok(()),
        other => Err(format!(
            "positions topic {topic} has cleanup.policy {other:?}; it must be compact (or delete it to have it created)"
        )),
    }
}

/// The positions reader's callbacks: reaching the end of a partition is how a load ends, not
/// an error to log.
struct Reader;

impl ClientContext for Reader {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::warn!("positions reader: {reason}");
        }
    }
}

impl ConsumerContext for Reader {}

/// Every source's positions under `poll_id`, read with `read_committed` to the end the log
/// had when the load began (waiting, within [`LOAD_PATIENCE`], for open transactions there
/// to end).
pub fn load(
    k: &KafkaConfig,
    topic: &str,
    poll_id: &str,
) -> Result<HashMap<String, Positions>, String> {
    let consumer: BaseConsumer<Reader> = client::source_positions_reader_config(k, poll_id)
        .create_with_context(Reader)
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + LOAD_PATIENCE;
    let partitions = partitions_with_data(&consumer, k, poll_id, topic, deadline)?;
    let mut out: HashMap<String, Positions> = HashMap::new();
    if partitions.is_empty() {
        return Ok(out);
    }
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let mut open = partitions;
    while !open.is_empty() {
        if Instant::now() >= deadline {
            return Err(format!(
                "cannot read positions topic {topic} to its end within {}s",
                LOAD_PATIENCE.as_secs()
            ));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let parsed =
                    positions::parse(m.key().unwrap_or_default(), m.payload().unwrap_or_default());
                match parsed {
                    Some((id, source, location, ts)) if id == poll_id => {
                        out.entry(source).or_default().advance(&location, ts);
                    }
                    Some(_) => {}
                    None if positions::is_check(
                        m.key().unwrap_or_default(),
                        m.payload().unwrap_or_default(),
                    ) => {}
                    None => tracing::warn!(
                        topic,
                        offset = m.offset(),
                        "skipped a record that is not a source position"
                    ),
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => open.retain(|x| *x != p),
            Some(Err(e)) => tracing::warn!(topic, "reading positions: {e}"),
            None => {}
        }
    }
    Ok(out)
}

/// Partitions holding records, once their stable end reached the log end seen at the start.
fn partitions_with_data(
    committed: &BaseConsumer<Reader>,
    k: &KafkaConfig,
    poll_id: &str,
    topic: &str,
    deadline: Instant,
) -> Result<Vec<i32>, String> {
    // The log end as a read_uncommitted client sees it (a committed reader sees the stable end).
    let mut uncommitted = client::source_positions_reader_config(k, poll_id);
    uncommitted.set("isolation.level", "read_uncommitted");
    let log: BaseConsumer = uncommitted.create().map_err(|e| e.to_string())?;
    let metadata = log
        .fetch_metadata(Some(topic), CALL)
        .map_err(|e| format!("cannot read the metadata of {topic}: {e}"))?;
    let ids: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut out = Vec::new();
    for p in ids {
        let (low, end) = log
            .fetch_watermarks(topic, p, CALL)
            .map_err(|e| format!("cannot read the end of {topic}[{p}]: {e}"))?;
        if end <= low {
            continue;
        }
        loop {
            let stable = committed
                .fetch_watermarks(topic, p, CALL)
                .map(|(_, s)| s)
                .unwrap_or(-1);
            if stable >= end {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "positions topic {topic}[{p}] still has an undecided transaction below offset {end} after {}s",
                    LOAD_PATIENCE.as_secs()
                ));
            }
            tracing::info!(
                topic,
                partition = p,
                stable,
                end,
                "waiting for an open transaction in the positions topic to end"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        out.push(p);
    }
    Ok(out)
}
