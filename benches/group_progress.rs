//! Progress watcher of the side-by-side drain benchmark (benches/compare): every 100 ms, the
//! records a consumer group's committed state covers, summed over the topic's partitions, as
//! one line `<epoch ms> <records>` on stdout, until killed. A partition counts its committed
//! offset, or the read position roadpulse keeps in the commit metadata (`rp1;st=..;pos=N`,
//! src/kafka/checkpoint.rs) when larger: roadpulse commits the offset of the oldest record
//! still in an open window, so a restart can rebuild it. Reading the group never joins it.
//!
//! Run: `cargo bench --bench group_progress -- BOOTSTRAP TOPIC PARTITIONS GROUP`.

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

fn main() -> Result<(), Failure> {
    let v: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [bootstrap, topic, partitions, group] = v.as_slice() else {
        return Err("usage: group_progress BOOTSTRAP TOPIC PARTITIONS GROUP".into());
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
        writeln!(out, "{now} {covered}")?;
        out.flush()?;
        std::thread::sleep(Duration::from_millis(100));
    }
}
