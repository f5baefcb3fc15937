//! The ceiling of the side-by-side drain benchmark (benches/compare): a bare rdkafka
//! BaseConsumer in a fresh group that only reads the topic from the start (it touches each
//! payload's length, nothing more) until every partition reaches the end offset it had at
//! start. Prints one JSON line: records, bytes, the wall-clock ms of the first and last
//! record (from which the benchmark computes events/s), and its peak RSS.
//!
//! Run: `cargo bench --bench bare_consumer -- BOOTSTRAP TOPIC GROUP [key=value ...]`; the
//! optional librdkafka properties let the ceiling run with another consumer's settings.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

type Failure = Box<dyn std::error::Error>;

/// Gives up when no record arrives for this long (broker gone, topic empty).
const STALL: Duration = Duration::from_secs(60);

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

fn main() -> Result<(), Failure> {
    let v: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [bootstrap, topic, group, properties @ ..] = v.as_slice() else {
        return Err("usage: bare_consumer BOOTSTRAP TOPIC GROUP [librdkafka.key=value ...]".into());
    };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
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
    let mut remaining = 0i64;
    let mut end = Vec::new();
    for p in 0..partitions {
        let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        end.push(high);
        remaining += high;
    }
    consumer.subscribe(&[topic])?;
    let (mut records, mut bytes, mut first_ms) = (0i64, 0u64, 0i64);
    let mut last_record = Instant::now();
    while remaining > 0 {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if first_ms == 0 {
                    first_ms = now_ms();
                }
                bytes += m.payload().map_or(0, |p| p.len() as u64);
                records += 1;
                let p = m.partition() as usize;
                if p < end.len() && m.offset() < end[p] {
                    remaining -= 1;
                }
                last_record = Instant::now();
            }
            Some(Err(e)) => return Err(e.into()),
            None if last_record.elapsed() > STALL => {
                return Err(format!("no record for {STALL:?}, {remaining} still to read").into())
            }
            None => {}
        }
    }
    let last_ms = now_ms();
    let peak_rss_kb = peak_rss_kb();
    println!(
        "{{\"records\":{records},\"bytes\":{bytes},\"first_record_ms\":{first_ms},\"last_record_ms\":{last_ms},\"peak_rss_kb\":{peak_rss_kb}}}"
    );
    Ok(())
}
