//! Loader of the side-by-side drain benchmark (benches/compare): reads `roadpulse generate`
//! JSONL and produces every line to one topic, keyed by segment id on the partition Kafka's
//! default (murmur2) partitioner picks, with the event's `ts` as record timestamp. Then prints
//! one JSON line: records, end offsets and each partition's stream time (largest ts), which
//! the benchmark's correctness check needs to know which windows must have closed.
//!
//! Run: `cargo bench --bench compare_load -- BOOTSTRAP TOPIC PARTITIONS FILE.jsonl`
//! (benches/compare/run does). Bad lines are an error: the benchmark input must be clean.

use std::io::BufRead;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use roadpulse::codec;
use roadpulse::domain::partition::partition_for_key;
use std::sync::atomic::{AtomicU64, Ordering};

type Failure = Box<dyn std::error::Error>;

struct Args {
    bootstrap: String,
    topic: String,
    partitions: u32,
    file: String,
}

fn args() -> Result<Args, Failure> {
    // `cargo bench` appends `--bench`; positional arguments are everything else.
    let v: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [bootstrap, topic, partitions, file] = v.as_slice() else {
        return Err("usage: compare_load BOOTSTRAP TOPIC PARTITIONS FILE.jsonl".into());
    };
    Ok(Args {
        bootstrap: bootstrap.clone(),
        topic: topic.clone(),
        partitions: partitions.parse()?,
        file: file.clone(),
    })
}

/// Counts records the broker did not acknowledge.
#[derive(Default)]
struct Failures(AtomicU64);

impl ClientContext for Failures {}

impl ProducerContext for Failures {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

type Loader = BaseProducer<Failures>;

fn producer(bootstrap: &str) -> Result<Loader, KafkaError> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        // In order and exactly once per partition, as the windows' stream time depends on order.
        .set("enable.idempotence", "true")
        .create_with_context(Failures::default())
}

/// Sends one record, serving delivery reports while the local queue is full.
fn send(
    p: &Loader,
    topic: &str,
    part: i32,
    key: &str,
    value: &[u8],
    ts: i64,
) -> Result<(), Failure> {
    loop {
        let record = BaseRecord::to(topic)
            .partition(part)
            .key(key)
            .payload(value)
            .timestamp(ts);
        match p.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                p.poll(Duration::from_millis(50));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

fn main() -> Result<(), Failure> {
    let a = args()?;
    let p = producer(&a.bootstrap)?;
    let n = a.partitions.max(1);
    let mut stream_time = vec![i64::MIN; n as usize];
    let mut counts = vec![0i64; n as usize];
    let started = Instant::now();
    let input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&a.file)?);
    for (i, line) in input.split(b'\n').enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let (key, ts) = codec::with_raw_event(&line, |e| (e.segment_id.to_string(), e.ts))
            .map_err(|e| format!("{} line {}: {e}", a.file, i + 1))?;
        let part = partition_for_key(key.as_bytes(), n) as usize;
        send(&p, &a.topic, part as i32, &key, &line, ts)?;
        stream_time[part] = stream_time[part].max(ts);
        counts[part] += 1;
        if i % 10_000 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(120))?;
    let failed = p.context().0.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} records were not acknowledged by the broker").into());
    }
    let records: i64 = counts.iter().sum();
    let secs = started.elapsed().as_secs_f64();
    eprintln!("compare_load: {records} records in {secs:.1} s");
    // A fresh topic starts at offset 0: a partition's end offset is its record count.
    println!(
        "{{\"records\":{records},\"end_offsets\":{counts:?},\"stream_time\":{stream_time:?},\"load_seconds\":{secs:.3}}}"
    );
    Ok(())
}
