//! Progress watcher of the side-by-side drain benchmark (benches/compare): every 100 ms, the
//! records a consumer group's committed state covers, summed over the topic's partitions, as
//! one line `<epoch ms> <records>` on stdout, until killed. A partition counts its committed
//! offset, or the read position roadpulse keeps in the commit metadata (`rp1;st=..;pos=N`,
//! src/kafka/checkpoint.rs) when larger: roadpulse commits the offset of the oldest record
//! still in an open window, so a restart can rebuild it. Reading the group never joins it.
//!
//! With a fifth argument SUFFIX it also follows the group's internal topics (`<GROUP>-…SUFFIX`,
//! e.g. `-repartition`) and prints a third number: the records of those topics the group has
//! not committed yet. They are written in transactions, so the last offset of a partition is a
//! commit marker: a partition is caught up when its committed offset reaches its end - 1.
//!
//! Run: `cargo bench --bench group_progress -- BOOTSTRAP TOPIC PARTITIONS GROUP [SUFFIX]`.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

type Failure = Box<dyn std::error::Error>;

fn read_position(metadata: &str) -> i64 {
    metadata
        .split(';')
        .find_map(|part| part.strip_prefix("pos="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

/// Records of the group's internal topics ending in `suffix` that it has not committed; -1
/// while that cannot be read (coordinator loading, a topic without a leader yet).
fn internal_behind(consumer: &BaseConsumer, group: &str, suffix: &str) -> i64 {
    let timeout = Duration::from_secs(5);
    let Ok(metadata) = consumer.fetch_metadata(None, timeout) else {
        return -1;
    };
    let prefix = format!("{group}-");
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        if t.name().starts_with(&prefix) && t.name().ends_with(suffix) {
            for p in t.partitions() {
                tpl.add_partition(t.name(), p.id());
            }
        }
    }
    let Ok(committed) = consumer.committed_offsets(tpl, timeout) else {
        return -1;
    };
    let mut behind = 0;
    for e in committed.elements() {
        let Ok((_, high)) = consumer.fetch_watermarks(e.topic(), e.partition(), timeout) else {
            return -1;
        };
        let at = match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        };
        behind += (high - 1 - at).max(0);
    }
    behind
}

fn main() -> Result<(), Failure> {
    let v: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (bootstrap, topic, partitions, group, suffix) = match v.as_slice() {
        [b, t, p, g] => (b, t, p, g, None),
        [b, t, p, g, s] => (b, t, p, g, Some(s.as_str())),
        _ => return Err("usage: group_progress BOOTSTRAP TOPIC PARTITIONS GROUP [SUFFIX]".into()),
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions.parse::<i32>()? {
        tpl.add_partition(topic, p);
    }
    let mut out = std::io::stdout().lock();
    loop {
        // A failed fetch (coordinator loading, group not there yet) counts as no progress.
        let covered: i64 = consumer
            .committed_offsets(tpl.clone(), Duration::from_secs(5))
            .map(|c| {
                c.elements()
                    .iter()
                    .map(|e| {
                        let offset = match e.offset() {
                            Offset::Offset(o) => o,
                            _ => -1,
                        };
                        offset.max(read_position(e.metadata())).max(0)
                    })
                    .sum()
            })
            .unwrap_or(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        match suffix {
            None => writeln!(out, "{now} {covered}")?,
            Some(s) => writeln!(
                out,
                "{now} {covered} {}",
                internal_behind(&consumer, group, s)
            )?,
        }
        out.flush()?;
        std::thread::sleep(Duration::from_millis(100));
    }
}
