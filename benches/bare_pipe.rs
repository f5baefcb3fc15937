//! The floor of any exactly-once processor, for the side-by-side drain benchmark
//! (benches/compare): consume the topic from the start in a fresh group and produce every
//! record (same key, same value, same partition) to an output topic, in one Kafka transaction
//! per commit interval with the read positions sent into it (`send_offsets_to_transaction`).
//! No decoding, no state. The clients use the roadpulse worker's settings, from the same
//! functions the worker uses (`roadpulse::kafka::client`), and its commit cycle: flush in 1 ms
//! steps, send the offsets, commit, begin the next transaction at once.
//!
//! Prints `FIRST_RECORD_MS=<ms>` when the first record arrives; the benchmark watches the
//! group's committed offsets for the end, as for roadpulse. Once every partition has been
//! read to the end offset it had at start and committed, it prints one JSON line (records,
//! commits, seconds spent committing) and waits to be stopped, at most [`LINGER`].
//!
//! Run: `cargo bench --bench bare_pipe -- BOOTSTRAP INPUT OUTPUT GROUP COMMIT_MS`.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use roadpulse::config::{Guarantee, KafkaConfig};
use roadpulse::kafka::client::{consumer_config, producer_config};

type Failure = Box<dyn std::error::Error>;

/// Gives up when no record arrives for this long (broker gone, topic empty).
const STALL: Duration = Duration::from_secs(60);
/// How long it stays up after the last commit, for the benchmark to see it and stop it.
const LINGER: Duration = Duration::from_secs(120);
/// Records handled per poll round before the commit clock is looked at.
const BATCH: usize = 1024;
const TIMEOUT: Duration = Duration::from_secs(30);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct Pipe {
    consumer: BaseConsumer,
    producer: ThreadedProducer<rdkafka::producer::DefaultProducerContext>,
    output: String,
    input: String,
    /// Next offset to commit per input partition, once it moved.
    next: Vec<Option<i64>>,
    dirty: bool,
    commits: u64,
    commit_time: Duration,
    /// The first and the longest commit cycle.
    first_commit: Option<Duration>,
    longest_commit: Duration,
}

impl Pipe {
    fn send(&self, partition: i32, key: &[u8], value: &[u8]) -> Result<(), Failure> {
        let mut record = BaseRecord::to(&self.output)
            .partition(partition)
            .key(key)
            .payload(value);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    /// One commit cycle, as the roadpulse worker's under exactly once.
    fn commit(&mut self) -> Result<(), Failure> {
        if !self.dirty {
            return Ok(());
        }
        let started = Instant::now();
        while self.producer.flush(Duration::ZERO).is_err() {
            if started.elapsed() > TIMEOUT {
                return Err("outputs not acknowledged by the broker".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut tpl = TopicPartitionList::new();
        for (p, next) in self.next.iter().enumerate() {
            if let Some(o) = next {
                tpl.add_partition_offset(&self.input, p as i32, Offset::Offset(*o))?;
            }
        }
        let group = self
            .consumer
            .group_metadata()
            .ok_or("no consumer group metadata")?;
        self.producer
            .send_offsets_to_transaction(&tpl, &group, TIMEOUT)?;
        self.producer.commit_transaction(TIMEOUT)?;
        self.producer.begin_transaction()?;
        self.dirty = false;
        let took = started.elapsed();
        self.commits += 1;
        self.commit_time += took;
        self.first_commit.get_or_insert(took);
        self.longest_commit = self.longest_commit.max(took);
        Ok(())
    }
}

fn main() -> Result<(), Failure> {
    let v: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [bootstrap, input, output, group, commit_ms] = v.as_slice() else {
        return Err("usage: bare_pipe BOOTSTRAP INPUT OUTPUT GROUP COMMIT_MS".into());
    };
    let interval = Duration::from_millis(commit_ms.parse()?);
    let k = KafkaConfig {
        bootstrap_servers: bootstrap.clone(),
        group_id: group.clone(),
        processing_guarantee: Guarantee::ExactlyOnce,
        instance_id: Some("pipe".into()),
        ..KafkaConfig::default()
    };
    let consumer: BaseConsumer = consumer_config(&k).create()?;
    let producer_settings: ClientConfig = producer_config(&k);
    let producer: ThreadedProducer<_> = producer_settings.create()?;
    producer.init_transactions(TIMEOUT)?;
    producer.begin_transaction()?;
    let metadata = consumer.fetch_metadata(Some(input), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    let mut end = Vec::new();
    for p in 0..partitions {
        end.push(
            consumer
                .fetch_watermarks(input, p, Duration::from_secs(10))?
                .1,
        );
    }
    let mut remaining: i64 = end.iter().sum();
    consumer.subscribe(&[input])?;
    let mut pipe = Pipe {
        consumer,
        producer,
        output: output.clone(),
        input: input.clone(),
        next: vec![None; end.len()],
        dirty: false,
        commits: 0,
        commit_time: Duration::ZERO,
        first_commit: None,
        longest_commit: Duration::ZERO,
    };
    let (mut records, mut first, mut last_record) = (0u64, false, Instant::now());
    let mut last_commit = Instant::now();
    while remaining > 0 {
        let mut timeout = Duration::from_millis(100);
        for _ in 0..BATCH {
            match pipe.consumer.poll(timeout) {
                Some(Ok(m)) => {
                    if !first {
                        first = true;
                        println!("FIRST_RECORD_MS={}", now_ms());
                        std::io::stdout().flush()?;
                    }
                    let p = m.partition();
                    pipe.send(
                        p,
                        m.key().unwrap_or_default(),
                        m.payload().unwrap_or_default(),
                    )?;
                    if let Some(slot) = pipe.next.get_mut(p as usize) {
                        *slot = Some(m.offset() + 1);
                        if m.offset() < end[p as usize] {
                            remaining -= 1;
                        }
                    }
                    pipe.dirty = true;
                    records += 1;
                    last_record = Instant::now();
                    timeout = Duration::ZERO;
                }
                Some(Err(e)) => return Err(e.into()),
                None => break,
            }
        }
        if last_record.elapsed() > STALL {
            return Err(format!("no record for {STALL:?}, {remaining} still to read").into());
        }
        if last_commit.elapsed() >= interval {
            last_commit = Instant::now();
            pipe.commit()?;
        }
    }
    pipe.commit()?;
    println!(
        "{{\"records\":{records},\"commits\":{},\"commit_s\":{:.3},\"first_commit_s\":{:.3},\"longest_commit_s\":{:.3},\"done_ms\":{}}}",
        pipe.commits,
        pipe.commit_time.as_secs_f64(),
        pipe.first_commit.unwrap_or_default().as_secs_f64(),
        pipe.longest_commit.as_secs_f64(),
        now_ms()
    );
    std::io::stdout().flush()?;
    std::thread::sleep(LINGER);
    Ok(())
}
