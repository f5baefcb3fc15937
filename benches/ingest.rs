//! HTTP ingest against a bare rdkafka producer, side by side in one run, on the real broker.
//!
//! - Throughput: the same generated raw events (JSON) go (a) through `roadpulse ingest` as
//!   JSON-array POSTs of `--batch` records over `--connections` keep-alive connections, every
//!   answer checked (200, all accepted), and (b) straight into a librdkafka producer with the
//!   very same client settings (`ingest_producer_config`: acks=all, idempotent, murmur2 keys,
//!   linger 5 ms, lz4), flushed to the last acknowledgement. Contenders alternate, `--reps`
//!   times each, each into a fresh topic; the ratio compares the medians.
//! - Latency: single-record POSTs at a fixed `--rate` for `--seconds`, open loop (each request
//!   has a scheduled send time; latency counts from it, so a stall is not hidden).
//!
//! Run: `RP_TEST_BOOTSTRAP=$(tests/kafka/up) cargo bench --bench ingest` (options after `--`,
//! e.g. `-- --records 200000 --reps 3`). The HTTP client runs in this process, on the same
//! cores as the server and the broker: its CPU is part of the ingest figure.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use roadpulse::config::KafkaConfig;
use roadpulse::sim::generator::{Record, Workload, WorkloadConfig};

type Failure = Box<dyn std::error::Error>;
const TOKEN: &str = "bench-token";

struct Opts {
    records: usize,
    batch: usize,
    connections: usize,
    reps: usize,
    partitions: i32,
    rate: f64,
    seconds: f64,
}

fn opts() -> Result<Opts, Failure> {
    let mut o = Opts {
        records: 200_000,
        batch: 500,
        connections: 8,
        reps: 3,
        partitions: 6,
        rate: 200.0,
        seconds: 10.0,
    };
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    for pair in args.chunks(2) {
        let [flag, value] = pair else {
            return Err(format!("{} needs a value", pair[0]).into());
        };
        match flag.as_str() {
            "--records" => o.records = value.parse()?,
            "--batch" => o.batch = value.parse()?,
            "--connections" => o.connections = value.parse()?,
            "--reps" => o.reps = value.parse()?,
            "--partitions" => o.partitions = value.parse()?,
            "--rate" => o.rate = value.parse()?,
            "--seconds" => o.seconds = value.parse()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok(o)
}

fn create_topic(bootstrap: &str, name: &str, partitions: i32) -> Result<(), Failure> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for r in rt.block_on(admin.create_topics(&[topic], &AdminOptions::new()))? {
        r.map_err(|(t, e)| format!("create {t}: {e}"))?;
    }
    Ok(())
}

fn kafka(bootstrap: &str) -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: bootstrap.to_string(),
        ..KafkaConfig::default()
    }
}

/// The bare producer: same client settings as ingest, records sent as fast as it takes them.
fn bare(bootstrap: &str, topic: &str, records: &[Record]) -> Result<f64, Failure> {
    let own = [("queue.buffering.max.messages", "1000000".to_string())];
    let p: BaseProducer =
        roadpulse::kafka::client::ingest_producer_config(&kafka(bootstrap), &own).create()?;
    let started = Instant::now();
    for (i, r) in records.iter().enumerate() {
        let mut record = BaseRecord::to(topic).key(&r.key).payload(&r.value);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    p.poll(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        if i % 1000 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(120))?;
    Ok(started.elapsed().as_secs_f64())
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, Failure> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start_ingest(bootstrap: &str, topic: &str) -> Result<Server, Failure> {
    let (port, http) = (free_port()?, free_port()?);
    let sets = [
        format!("kafka.bootstrap_servers=\"{bootstrap}\""),
        format!("ingest.topic=\"{topic}\""),
        format!("ingest.listen=\"127.0.0.1:{port}\""),
        format!("http.listen=\"127.0.0.1:{http}\""),
    ];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roadpulse"));
    cmd.arg("ingest");
    for s in &sets {
        cmd.arg("--set").arg(s);
    }
    let child = cmd
        .env("ROADPULSE_INGEST_TOKENS", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    let server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = || -> Option<bool> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).ok()?;
        std::io::Write::write_all(&mut s, b"GET /readyz HTTP/1.0\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        Some(text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200"))
    };
    while ready() != Some(true) {
        if Instant::now() > deadline {
            return Err("roadpulse ingest did not become ready".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(server)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections_per_host(64)
        .build()
        .into()
}

/// POSTs `body`; Err unless the answer is 200 with `expect` records accepted.
fn post(agent: &ureq::Agent, url: &str, body: &[u8], expect: usize) -> Result<(), Failure> {
    let mut r = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send(body)?;
    let status = r.status().as_u16();
    let text = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()?;
    if status != 200
        || !text.starts_with(&format!(
            "{{\"accepted\":{expect},\"rejected\":0,\"failed\":0"
        ))
    {
        return Err(format!("answer {status}: {}", &text[..text.len().min(300)]).into());
    }
    Ok(())
}

/// Batched POSTs over `connections` threads; seconds until the last answer.
fn ingest(port: u16, records: &[Record], o: &Opts) -> Result<f64, Failure> {
    let bodies: Arc<Vec<(Vec<u8>, usize)>> = Arc::new(
        records
            .chunks(o.batch)
            .map(|c| {
                let mut b = b"[".to_vec();
                for (i, r) in c.iter().enumerate() {
                    if i > 0 {
                        b.push(b',');
                    }
                    b.extend_from_slice(&r.value);
                }
                b.push(b']');
                (b, c.len())
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("http://127.0.0.1:{port}/v1/events");
    let started = Instant::now();
    let workers: Vec<_> = (0..o.connections)
        .map(|_| {
            let (bodies, next, url) = (Arc::clone(&bodies), Arc::clone(&next), url.clone());
            std::thread::spawn(move || -> Result<(), String> {
                let agent = agent();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((body, count)) = bodies.get(i) else {
                        return Ok(());
                    };
                    post(&agent, &url, body, *count).map_err(|e| e.to_string())?;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| "client thread panicked")??;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Open-loop single-record POSTs at `rate`; latencies in seconds, sorted.
fn latency(port: u16, records: &[Record], o: &Opts) -> Result<Vec<f64>, Failure> {
    let total = (o.rate * o.seconds) as usize;
    let threads = 8usize;
    let url = format!("http://127.0.0.1:{port}/v1/events");
    let start = Instant::now() + Duration::from_millis(200);
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        records
            .iter()
            .take(total)
            .map(|r| r.value.clone())
            .collect(),
    );
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (bodies, url, rate) = (Arc::clone(&bodies), url.clone(), o.rate);
            std::thread::spawn(move || -> Result<Vec<f64>, String> {
                let agent = agent();
                let mut out = Vec::new();
                for i in (t..bodies.len()).step_by(threads) {
                    let due = start + Duration::from_secs_f64(i as f64 / rate);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    post(&agent, &url, &bodies[i], 1).map_err(|e| e.to_string())?;
                    out.push(due.elapsed().as_secs_f64());
                }
                Ok(out)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for w in workers {
        all.extend(w.join().map_err(|_| "client thread panicked")??);
    }
    all.sort_by(f64::total_cmp);
    Ok(all)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU seconds (user + system) a process has used, from /proc (`self` for this one).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name: field 3 (state) onwards; utime and stime are fields 14 and 15,
    // in clock ticks (USER_HZ, 100 on Linux).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split(' ')
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> Result<(), Failure> {
    let o = opts()?;
    let bootstrap = std::env::var("RP_TEST_BOOTSTRAP")
        .map_err(|_| "set RP_TEST_BOOTSTRAP=$(tests/kafka/up)")?;
    let cfg = WorkloadConfig {
        segments: 10_000,
        events_per_sec: 10_000.0,
        seed: 7,
        ..WorkloadConfig::default()
    };
    let records = Workload::new(cfg).take(o.records as u64);
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("ingest bench: {} records, batches of {}, {} connections, {} partitions, {cpus} CPUs, load average before: {}", o.records, o.batch, o.connections, o.partitions, loadavg());
    let ingest_topic = format!("rp-bench-ingest-{tag}");
    create_topic(&bootstrap, &ingest_topic, o.partitions)?;
    let server = start_ingest(&bootstrap, &ingest_topic)?;
    let (mut bare_rates, mut ingest_rates) = (Vec::new(), Vec::new());
    let server_pid = server.child.id().to_string();
    let per_record = |cpu: f64| cpu / o.records as f64 * 1e6;
    for rep in 0..o.reps {
        let topic = format!("rp-bench-bare-{tag}-{rep}");
        create_topic(&bootstrap, &topic, o.partitions)?;
        let me = cpu_seconds("self");
        let b = o.records as f64 / bare(&bootstrap, &topic, &records)?;
        let bare_cpu = per_record(cpu_seconds("self") - me);
        let (me, them) = (cpu_seconds("self"), cpu_seconds(&server_pid));
        let i = o.records as f64 / ingest(server.port, &records, &o)?;
        let server_cpu = per_record(cpu_seconds(&server_pid) - them);
        let client_cpu = per_record(cpu_seconds("self") - me);
        println!("rep {rep}: bare producer {b:.0} records/s, ingest {i:.0} records/s ({:.0} %); CPU per record: bare {bare_cpu:.1} µs, ingest server {server_cpu:.1} µs + HTTP client {client_cpu:.1} µs; load average {}", 100.0 * i / b, loadavg());
        bare_rates.push(b);
        ingest_rates.push(i);
    }
    let (b, i) = (median(bare_rates), median(ingest_rates));
    println!("median: bare producer {b:.0} records/s, ingest {i:.0} records/s: {:.0} % of the bare producer", 100.0 * i / b);
    let lat = latency(server.port, &records, &o)?;
    println!(
        "single-record POSTs at {:.0}/s for {:.0} s ({} requests): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; load average after: {}",
        o.rate, o.seconds, lat.len(), quantile(&lat, 0.5) * 1e3, quantile(&lat, 0.99) * 1e3, quantile(&lat, 1.0) * 1e3, loadavg()
    );
    Ok(())
}
