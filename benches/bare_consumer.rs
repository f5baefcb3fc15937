//! The ceiling of the side-by-side drain benchmark (benches/compare): a bare rdkafka
//! BaseConsumer in a fresh group that only reads the topic from the start (it touches each
//! payload's length, nothing more) until every partition reaches the end offset it had at
//! start. Prints one JSON line: records, bytes, the wall-clock ms of the first and last
//! record (from which the benchmark computes events/s), and its peak RSS.
//!
//! Run: `cargo bench --bench bare_consumer -- BOOTSTRAP TOPIC GROUP READ SETTINGS [key=value ...]`
//! - READ `poll`: one message per `BaseConsumer::poll` (rust-rdkafka's event API, as the
//!   roadpulse worker reads); `batch`: `rd_kafka_consume_batch_queue` on the consumer queue,
//!   up to [`BATCH`] messages per call (the first message is polled, so the group assignment
//!   runs through rust-rdkafka as usual).
//! - SETTINGS `librdkafka`: librdkafka's defaults; `roadpulse`: the roadpulse worker's consumer
//!   settings, from the same function the worker uses (`roadpulse::kafka::client`).
//! - `key=value`: further librdkafka properties, applied last.
//!
//! The benchmark runs every combination and takes the fastest as the ceiling.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::bindings as rdsys;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use roadpulse::config::KafkaConfig;

type Failure = Box<dyn std::error::Error>;

/// Gives up when no record arrives for this long (broker gone, topic empty).
const STALL: Duration = Duration::from_secs(60);
/// Messages per `rd_kafka_consume_batch_queue` call.
const BATCH: usize = 4096;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// This process's peak resident set (VmHWM), in kB; 0 where /proc is not there.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// What has been read so far, against the end offsets taken at start.
struct Progress {
    end: Vec<i64>,
    remaining: i64,
    records: i64,
    bytes: u64,
    first_ms: i64,
    last_record: Instant,
}

impl Progress {
    fn record(&mut self, partition: i32, offset: i64, len: usize) {
        if self.first_ms == 0 {
            self.first_ms = now_ms();
        }
        self.bytes += len as u64;
        self.records += 1;
        let p = partition as usize;
        if p < self.end.len() && offset < self.end[p] {
            self.remaining -= 1;
        }
        self.last_record = Instant::now();
    }

    fn stalled(&self) -> Result<(), Failure> {
        if self.last_record.elapsed() > STALL {
            return Err(
                format!("no record for {STALL:?}, {} still to read", self.remaining).into(),
            );
        }
        Ok(())
    }
}

fn config(bootstrap: &str, group: &str, settings: &str) -> Result<ClientConfig, Failure> {
    let mut config = match settings {
        "librdkafka" => ClientConfig::new(),
        "roadpulse" => roadpulse::kafka::client::consumer_config(&KafkaConfig {
            bootstrap_servers: bootstrap.to_string(),
            group_id: group.to_string(),
            ..KafkaConfig::default()
        }),
        other => return Err(format!("SETTINGS is librdkafka or roadpulse, not {other:?}").into()),
    };
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    Ok(config)
}

fn poll_until(consumer: &BaseConsumer, p: &mut Progress, first_only: bool) -> Result<(), Failure> {
    while p.remaining > 0 {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let len = m.payload().map_or(0, <[u8]>::len);
                p.record(m.partition(), m.offset(), len);
                if first_only {
                    return Ok(());
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None => p.stalled()?,
        }
    }
    Ok(())
}

/// Reads the rest with `rd_kafka_consume_batch_queue`.
fn batch_until(consumer: &BaseConsumer, p: &mut Progress) -> Result<(), Failure> {
    // SAFETY: the client outlives the queue handle, which is destroyed below; every message
    // the batch call hands over is read, then destroyed exactly once.
    unsafe {
        let queue = rdsys::rd_kafka_queue_get_consumer(consumer.client().native_ptr());
        if queue.is_null() {
            return Err("no consumer queue".into());
        }
        let mut batch: Vec<*mut rdsys::rd_kafka_message_t> = vec![std::ptr::null_mut(); BATCH];
        let mut failure = None;
        while p.remaining > 0 && failure.is_none() {
            let n = rdsys::rd_kafka_consume_batch_queue(queue, 100, batch.as_mut_ptr(), BATCH);
            if n < 0 {
                failure = Some("rd_kafka_consume_batch_queue failed".to_string());
                break;
            }
            for &m in &batch[..n as usize] {
                let msg = &*m;
                if msg.err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    failure = Some(format!("consume error {:?}", msg.err));
                } else {
                    p.record(msg.partition, msg.offset, msg.len);
                }
                rdsys::rd_kafka_message_destroy(m);
            }
            if n == 0 {
                if let Err(e) = p.stalled() {
                    failure = Some(e.to_string());
                }
            }
        }
        rdsys::rd_kafka_queue_destroy(queue);
        failure.map_or(Ok(()), |f| Err(f.into()))
    }
}

fn main() -> Result<(), Failure> {
    let v: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [bootstrap, topic, group, read, settings, properties @ ..] = v.as_slice() else {
        return Err("usage: bare_consumer BOOTSTRAP TOPIC GROUP poll|batch librdkafka|roadpulse [key=value ...]".into());
    };
    let mut config = config(bootstrap, group, settings)?;
    for kv in properties {
        let (key, value) = kv
            .split_once('=')
            .ok_or_else(|| format!("{kv:?} is not key=value"))?;
        config.set(key, value);
    }
    let consumer: BaseConsumer = config.create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    let mut p = Progress {
        end: Vec::new(),
        remaining: 0,
        records: 0,
        bytes: 0,
        first_ms: 0,
        last_record: Instant::now(),
    };
    for partition in 0..partitions {
        let (_, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        p.end.push(high);
        p.remaining += high;
    }
    consumer.subscribe(&[topic])?;
    match read.as_str() {
        "poll" => poll_until(&consumer, &mut p, false)?,
        "batch" => {
            poll_until(&consumer, &mut p, true)?;
            batch_until(&consumer, &mut p)?;
        }
        other => return Err(format!("READ is poll or batch, not {other:?}").into()),
    }
    let last_ms = now_ms();
    println!(
        "{{\"records\":{},\"bytes\":{},\"first_record_ms\":{},\"last_record_ms\":{last_ms},\"peak_rss_kb\":{}}}",
        p.records, p.bytes, p.first_ms, peak_rss_kb()
    );
    Ok(())
}
