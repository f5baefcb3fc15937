//! Restore time of long-lived segment state (docs/architecture.md §8: 100 k segments in ≤ 5 s): writes
//! the changelog of 100 k segments, each with an hour of learned window speeds and a level, to
//! a 12-partition compacted topic in transactions (as workers do), then restores every
//! partition, one after another, the way one worker taking over all of them after a kill
//! would. Prints segments, bytes and seconds.
//!
//! Needs a real broker: `RP_TEST_BOOTSTRAP=$(tests/kafka/up) cargo bench --bench restore`
//! (`RP_RESTORE_SEGMENTS` changes the count).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use roadpulse::config::KafkaConfig;
use roadpulse::domain::congestion::{Hysteresis, SegmentState};
use roadpulse::domain::processor::{EmitMode, ProcessorSettings, Task};
use roadpulse::domain::window::WindowSpec;
use roadpulse::kafka::changelog::{self, Restorer};
use roadpulse::sim::generator::{self, Rng};

const PARTITIONS: i32 = 12;

fn state(rng: &mut Rng) -> SegmentState {
    let mut s = SegmentState::default();
    let free_flow = 50.0 + 70.0 * rng.unit();
    for _ in 0..60 {
        let speed = free_flow * (0.3 + 0.8 * rng.unit());
        s.learn(Some(speed));
        s.level(speed / free_flow, Hysteresis::default(), true);
    }
    s
}

fn main() {
    let Ok(bootstrap) = std::env::var("RP_TEST_BOOTSTRAP") else {
        eprintln!("restore bench: set RP_TEST_BOOTSTRAP to a broker (RP_TEST_BOOTSTRAP=$(tests/kafka/up))");
        return;
    };
    let segments: u32 = std::env::var("RP_RESTORE_SEGMENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let topic = format!("rp-bench-restore-{nanos}");
    create_topic(&bootstrap, &topic);

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("transactional.id", &topic)
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .create()
        .expect("producer");
    producer
        .init_transactions(Duration::from_secs(30))
        .expect("init transactions");
    let mut rng = Rng::new(3);
    let mut buf = Vec::new();
    let mut bytes = 0usize;
    for chunk in (0..segments).collect::<Vec<_>>().chunks(10_000) {
        producer.begin_transaction().expect("begin");
        for &i in chunk {
            let id = generator::segment_id(i);
            changelog::encode(&state(&mut rng), None, &mut buf);
            bytes += id.len() + buf.len();
            let p =
                roadpulse::domain::partition::partition_for_key(id.as_bytes(), PARTITIONS as u32)
                    as i32;
            let mut record = BaseRecord::to(&topic)
                .partition(p)
                .key(id.as_bytes())
                .payload(&buf[..]);
            while let Err((_, back)) = producer.send(record) {
                record = back;
                producer.poll(Duration::from_millis(5));
            }
        }
        producer
            .commit_transaction(Duration::from_secs(60))
            .expect("commit");
    }
    println!(
        "restore bench: wrote {segments} segment states, {bytes} bytes ({:.0} bytes/segment) to {PARTITIONS} partitions",
        bytes as f64 / f64::from(segments)
    );

    let k = KafkaConfig {
        bootstrap_servers: bootstrap.clone(),
        group_id: topic.clone(),
        ..KafkaConfig::default()
    };
    let restorer = Restorer::new(&k, Default::default()).expect("restorer");
    let settings = Arc::new(ProcessorSettings::new(
        WindowSpec::tumbling(60_000, 30_000),
        EmitMode::Final,
    ));
    let started = Instant::now();
    let mut restored = 0;
    let mut tasks = Vec::new();
    for p in 0..PARTITIONS {
        let mut task = Task::new(Arc::clone(&settings));
        let apply = |id: &str, value: Option<&[u8]>| match value.map(changelog::decode) {
            Some(Ok(state)) => {
                task.restore_segment(id, Some(state));
                true
            }
            _ => false,
        };
        let r = restorer
            .restore(producer.client(), &topic, p, apply)
            .expect("restore");
        restored += r.records;
        tasks.push(task);
    }
    let seconds = started.elapsed().as_secs_f64();
    let held: usize = tasks.iter().map(Task::segments).sum();
    println!(
        "restore bench: restored {restored} records into {held} segments from {PARTITIONS} partitions in {seconds:.2} s ({:.0} segments/s)",
        held as f64 / seconds
    );
    assert_eq!(held, segments as usize, "every segment restored");
}

fn create_topic(bootstrap: &str, topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin");
    let new = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for r in rt
        .block_on(admin.create_topics(&[new], &AdminOptions::new()))
        .expect("create")
    {
        r.expect("topic created");
    }
}
