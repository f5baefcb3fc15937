//! Shared helpers for the integration tests: the real broker started by `tests/kafka/up`
//! (its address in `RP_TEST_BOOTSTRAP`), topics with random names, worker processes
//! of the real binary, reading topics back, and the replay reference.
#![allow(dead_code)]

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;

use roadpulse::sim::generator::{Record, Workload, WorkloadConfig};

pub const BIN: &str = env!("CARGO_BIN_EXE_roadpulse");

/// The broker under test. There is no fallback: without one the suite fails loudly.
pub fn bootstrap() -> String {
    match std::env::var("RP_TEST_BOOTSTRAP") {
        Ok(b) if !b.is_empty() => b,
        _ => panic!(
            "RP_TEST_BOOTSTRAP is not set: these tests need a real Kafka broker. \
             Run the whole suite with `tests/run`, or start one with `export RP_TEST_BOOTSTRAP=$(tests/kafka/up)`."
        ),
    }
}

pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("rp-{name}-{}-{nanos}", std::process::id())
}

pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn create_topics(bootstrap: &str, topics: &[&str], partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt
        .block_on(admin.create_topics(&new, &AdminOptions::new()))
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

/// Segments of [`traffic`].
pub const TRAFFIC_SEGMENTS: u32 = 40;

/// The worker tests' input: `events` records over [`TRAFFIC_SEGMENTS`] segments at 1 000 per
/// second of event time, 1 s of disorder, a congestion cycle every 20 s, a share `poison` of
/// poison records.
pub fn traffic(events: u64, poison: f64, seed: u64) -> Vec<Record> {
    let cfg = WorkloadConfig {
        segments: TRAFFIC_SEGMENTS,
        events_per_sec: 1_000.0,
        poison_ratio: poison,
        disorder_ms: 1_000,
        congestion_period_ms: 20_000,
        seed,
        ..WorkloadConfig::default()
    };
    Workload::new(cfg).take(events)
}

/// `roadpulse replay` in this process over `records` (one JSON line each) with `sets` and
/// `partitions`: the output lines and the summary.
pub fn replay_in_process(
    records: &[Record],
    sets: &[String],
    partitions: u32,
) -> (Vec<String>, roadpulse::replay::ReplaySummary) {
    let config = roadpulse::config::Config::load(None, vec![], sets).unwrap();
    let settings = roadpulse::pipeline::processor_settings(&config).unwrap();
    let mut input = Vec::new();
    for r in records {
        input.extend_from_slice(&r.value);
        input.push(b'\n');
    }
    let mut out = Vec::new();
    let summary = roadpulse::replay::replay(settings, partitions, &input[..], &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    (text.lines().map(str::to_string).collect(), summary)
}

/// Produces records keyed by segment with the Java-compatible partitioner, in order. Takes
/// any iterator, so that a large input can be made while it is sent.
pub fn produce<R: Borrow<Record>>(
    bootstrap: &str,
    topic: &str,
    records: impl IntoIterator<Item = R>,
) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .set("linger.ms", "10")
        .create()
        .expect("producer");
    for r in records {
        let r = r.borrow();
        let mut record = BaseRecord::to(topic).key(&r.key).payload(&r.value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("all input acknowledged");
}

/// A record read back from a topic.
#[derive(Debug, Clone)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: BTreeMap<String, String>,
}

/// Reads `topic` from the beginning until `done(records)` holds and then nothing new arrives
/// for a second (so a late duplicate would still be seen), or until `timeout` passes.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[Read]) -> bool,
) -> Vec<Read> {
    read_topic_as(bootstrap, topic, "read_committed", timeout, done)
}

/// [`read_topic`] with librdkafka's `isolation.level` `isolation` (`read_uncommitted` also
/// returns the records of aborted transactions).
pub fn read_topic_as(
    bootstrap: &str,
    topic: &str,
    isolation: &str,
    timeout: Duration,
    done: impl Fn(&[Read]) -> bool,
) -> Vec<Read> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("reader");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .unwrap();
    }
    assert!(tpl.count() > 0, "topic {topic} has partitions");
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut last_new = Instant::now();
    let mut last_check: Option<Instant> = None;
    let mut unchecked = true;
    let mut satisfied = false;
    while Instant::now() < deadline {
        // `done` may look at every record: ask it when reading pauses, or once a second while
        // records stream in, never per record (that would be quadratic).
        let due = last_check.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        let idle = last_new.elapsed() >= Duration::from_millis(200);
        if !satisfied && unchecked && (idle || due) {
            satisfied = done(&out);
            last_check = Some(Instant::now());
            unchecked = false;
        }
        if satisfied && last_new.elapsed() >= Duration::from_secs(1) {
            break;
        }
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            last_new = Instant::now();
            unchecked = true;
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_string(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(Read {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers,
            });
        }
    }
    out
}

/// Final congestion windows by (segment, window start), values as JSON. Also returns how
/// many final records repeated a key already seen.
pub fn finals(
    values: impl IntoIterator<Item = Vec<u8>>,
) -> (BTreeMap<(String, i64), Value>, usize) {
    let mut map = BTreeMap::new();
    let mut repeats = 0;
    for v in values {
        let json: Value = serde_json::from_slice(&v).expect("congestion event is JSON");
        if json["final"] != Value::Bool(true) {
            continue;
        }
        let key = (
            json["segment_id"].as_str().unwrap().to_string(),
            json["window_start"].as_i64().unwrap(),
        );
        if map.insert(key, json).is_some() {
            repeats += 1;
        }
    }
    (map, repeats)
}

/// Writes the records as JSONL (what `roadpulse replay` reads).
pub fn write_jsonl(path: &Path, records: &[Record]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for r in records {
        f.write_all(&r.value).unwrap();
        f.write_all(b"\n").unwrap();
    }
    f.flush().unwrap();
}

/// Runs `roadpulse replay --partitions N` with the same window settings as the workers.
pub fn replay(
    dir: &Path,
    records: &[Record],
    partitions: u32,
    sets: &[String],
) -> BTreeMap<(String, i64), Value> {
    replay_detecting(dir, records, partitions, sets, false).0
}

/// `roadpulse replay --partitions N` of `records`: the final windows, and with `incidents`
/// the incident events too (detection as a worker runs it: the combined rule).
pub fn replay_detecting(
    dir: &Path,
    records: &[Record],
    partitions: u32,
    sets: &[String],
    incidents: bool,
) -> (BTreeMap<(String, i64), Value>, Vec<Value>) {
    let input = dir.join("input.jsonl");
    let output = dir.join("replay.jsonl");
    let events = dir.join("replay-incidents.jsonl");
    write_jsonl(&input, records);
    let mut cmd = Command::new(BIN);
    cmd.args(["replay", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .arg("--partitions")
        .arg(partitions.to_string());
    if incidents {
        cmd.arg("--incidents").arg(&events);
    }
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    let status = cmd.status().expect("run replay");
    assert!(status.success(), "replay failed");
    let text = std::fs::read_to_string(&output).unwrap();
    let (map, repeats) = finals(text.lines().map(|l| l.as_bytes().to_vec()));
    assert_eq!(repeats, 0, "replay emits each window once");
    let events = match incidents {
        true => std::fs::read_to_string(&events)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        false => Vec::new(),
    };
    (map, events)
}

/// Incident events keyed by (incident id, status), with the fields that identify a decision,
/// in the order they were read (a key with two entries was published twice).
pub fn decisions(
    events: impl IntoIterator<Item = Value>,
) -> BTreeMap<(String, String), Vec<Value>> {
    let mut map: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for e in events {
        let key = (e["incident_id"].to_string(), e["status"].to_string());
        let fields = [
            "segment_id",
            "started_at",
            "detected_at",
            "cleared_at",
            "algorithm",
        ]
        .iter()
        .map(|f| e[*f].clone())
        .collect();
        map.entry(key).or_default().push(Value::Array(fields));
    }
    map
}

/// The `detected` and `cleared` decisions of `decisions`, for comparison.
pub fn lifecycle(m: &BTreeMap<(String, String), Vec<Value>>) -> Vec<(String, Vec<Value>)> {
    m.iter()
        .filter(|((_, s), _)| s == "\"detected\"" || s == "\"cleared\"")
        .map(|((id, s), v)| (format!("{id} {s}"), v.clone()))
        .collect()
}

/// Topic names and settings of one test's workers.
pub struct Setup {
    pub bootstrap: String,
    pub group: String,
    pub input: String,
    pub congestion: String,
    pub dlq: String,
    pub dir: PathBuf,
    /// Window and congestion settings shared by workers and replay.
    pub domain_sets: Vec<String>,
}

impl Setup {
    pub fn new(name: &str, partitions: i32, catalog: Option<&str>) -> Setup {
        let bootstrap = bootstrap();
        let s = Setup {
            group: unique(&format!("{name}-group")),
            input: unique(&format!("{name}-raw")),
            congestion: unique(&format!("{name}-congestion")),
            dlq: unique(&format!("{name}-dlq")),
            dir: scratch_dir(name),
            domain_sets: Vec::new(),
            bootstrap,
        };
        let incidents = format!("{}-incidents", s.input);
        create_topics(
            &s.bootstrap,
            &[&s.input, &s.congestion, &s.dlq, &incidents],
            partitions,
        );
        let mut domain_sets: Vec<String> = ["window.size=\"5s\"", "window.grace=\"2s\""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Some(csv) = catalog {
            let path = s.dir.join("catalog.csv");
            std::fs::write(&path, csv).unwrap();
            domain_sets.push(format!("congestion.catalog=\"{}\"", path.display()));
        }
        Setup { domain_sets, ..s }
    }

    pub fn worker_sets(&self, extra: &[&str]) -> Vec<String> {
        let mut sets = self.domain_sets.clone();
        sets.extend([
            format!("kafka.bootstrap_servers=\"{}\"", self.bootstrap),
            format!("kafka.group_id=\"{}\"", self.group),
            format!("kafka.input_topics=[\"{}\"]", self.input),
            format!("kafka.congestion_topic=\"{}\"", self.congestion),
            format!("kafka.dlq_topic=\"{}\"", self.dlq),
            format!("kafka.incidents_topic=\"{}-incidents\"", self.input),
            "kafka.create_topics=false".to_string(),
            "kafka.commit_interval=\"200ms\"".to_string(),
            "window.idle_timeout=\"4s\"".to_string(),
            "http.listen=\"\"".to_string(),
            "log.format=\"json\"".to_string(),
        ]);
        sets.extend(extra.iter().map(|s| s.to_string()));
        sets
    }

    pub fn start_worker(&self, name: &str, extra: &[&str]) -> Worker {
        self.start_worker_with_env(name, extra, &[])
    }

    /// [`Setup::start_worker`] with extra environment variables (secrets, for example).
    pub fn start_worker_with_env(
        &self,
        name: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Worker {
        let log = self.dir.join(format!("{name}.log"));
        let mut cmd = Command::new(BIN);
        cmd.arg("run");
        for s in self.worker_sets(extra) {
            cmd.arg("--set").arg(s);
        }
        cmd.envs(env.iter().copied());
        let child = cmd
            .env("RUST_LOG", "info,librdkafka=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start worker");
        Worker {
            child: Some(child),
            log,
        }
    }
}

pub struct Worker {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Worker {
    /// Any roadpulse process started by a test (a poller, an ingest endpoint, say), logging
    /// to `log`.
    pub fn from_child(child: Child, log: PathBuf) -> Worker {
        Worker {
            child: Some(child),
            log,
        }
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log_text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Sends a signal by name (TERM, STOP, CONT) to the running process.
    pub fn signal(&self, name: &str) {
        if let Some(c) = &self.child {
            let status = Command::new("kill")
                .arg(format!("-{name}"))
                .arg(c.id().to_string())
                .status()
                .unwrap();
            assert!(status.success());
        }
    }

    /// True while the process runs (reaps it when it has exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// Waits for the process to exit; returns its exit code, or None on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// kill -9: no drain, no commit, no goodbye to the group.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn stop(&mut self) {
        self.sigterm();
        if self.wait_exit(Duration::from_secs(40)).is_none() {
            if let Some(c) = self.child.as_mut() {
                let _ = c.kill();
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Compares worker output to replay: same windows, and the same values in `fields` (all
/// fields when empty). Returns a description of every difference, capped.
pub fn diff(
    expected: &BTreeMap<(String, i64), Value>,
    got: &BTreeMap<(String, i64), Value>,
    ignore: &[&str],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (k, v) in expected {
        match got.get(k) {
            None => problems.push(format!("missing window {k:?}")),
            Some(g) => {
                let strip = |v: &Value| {
                    let mut v = v.clone();
                    for f in ignore {
                        v.as_object_mut().unwrap().remove(*f);
                    }
                    v
                };
                if strip(v) != strip(g) {
                    problems.push(format!("window {k:?} differs:\n  replay {v}\n  kafka  {g}"));
                }
            }
        }
    }
    for k in got.keys().filter(|k| !expected.contains_key(*k)) {
        problems.push(format!("unexpected window {k:?}"));
    }
    problems.truncate(20);
    problems
}

/// Reads the congestion topic until it holds at least `windows` distinct final windows.
pub fn read_finals(
    setup: &Setup,
    windows: usize,
    timeout: Duration,
) -> (BTreeMap<(String, i64), Value>, usize) {
    let records = read_topic(&setup.bootstrap, &setup.congestion, timeout, |rs| {
        finals(rs.iter().filter_map(|r| r.value.clone())).0.len() >= windows
    });
    finals(records.into_iter().filter_map(|r| r.value))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.0 GET on 127.0.0.1; the whole response, headers included.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to worker http");
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

/// A JSON probe record keyed by its segment.
pub fn probe_record(id: &str, ts: i64, speed: f64, vehicle: &str) -> Record {
    let value = format!(
        r#"{{"type":"probe","segment_id":"{id}","ts":{ts},"speed_kph":{speed},"vehicle_id":"{vehicle}"}}"#
    );
    Record {
        key: id.to_string(),
        value: value.into_bytes(),
        ts,
        poison: false,
    }
}

/// Starts an exactly-once worker with `extra` serving `/metrics` on a free port, produces
/// `records`, and checks that its final windows (read_committed) are `expected`, each once.
/// Returns the worker, still running, and its metrics port.
pub fn run_and_compare(
    setup: &Setup,
    extra: &[&str],
    records: &[Record],
    expected: &BTreeMap<(String, i64), Value>,
) -> (Worker, u16) {
    let port = free_port();
    let listen = format!("http.listen=\"127.0.0.1:{port}\"");
    let mut sets = vec!["kafka.processing_guarantee=\"exactly_once\"", &listen];
    sets.extend_from_slice(extra);
    let w = setup.start_worker("w", &sets);
    produce(&setup.bootstrap, &setup.input, records);
    let (got, repeats) = read_finals(setup, expected.len(), Duration::from_secs(120));
    assert_eq!(repeats, 0);
    let problems = diff(expected, &got, &[]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    (w, port)
}

/// `GET /metrics`, or nothing while the worker does not serve yet.
pub fn metrics_text(port: u16) -> String {
    match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(_) => http_get(port, "/metrics"),
        Err(_) => String::new(),
    }
}

/// The value of the sample `name` (with its labels, as exported) in a `/metrics` text.
pub fn metric(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(str::to_string)
}

/// Waits until the worker serving `/metrics` on `port` has consumed `records` of the input topic.
pub fn wait_consumed(setup: &Setup, port: u16, records: usize, timeout: Duration) {
    let sample = format!(
        "roadpulse_events_consumed_total{{topic=\"{}\"}}",
        setup.input
    );
    let deadline = Instant::now() + timeout;
    loop {
        let consumed = metric(&metrics_text(port), &sample);
        if consumed == Some(records.to_string()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{records} records consumed: {consumed:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads `setup`'s dead-letter topic (read_committed) until it holds `expected` records, and
/// checks that they are exactly that many, each of kind `over_capacity` at `limit` (say
/// `limits.max_segments`) and from its own origin. Returns their keys (segment ids).
pub fn over_capacity_letters(
    setup: &Setup,
    expected: usize,
    limit: &str,
    timeout: Duration,
) -> std::collections::BTreeSet<String> {
    let dead = read_topic(&setup.bootstrap, &setup.dlq, timeout, |rs| {
        rs.len() >= expected
    });
    let mut origins = std::collections::BTreeSet::new();
    let mut keys = std::collections::BTreeSet::new();
    for d in &dead {
        let h = &d.headers;
        assert_eq!(h["roadpulse.error.kind"], "over_capacity", "{h:?}");
        assert!(h["roadpulse.error.message"].contains(limit), "{h:?}");
        origins.insert((
            &h["roadpulse.source.partition"],
            &h["roadpulse.source.offset"],
        ));
        keys.insert(String::from_utf8_lossy(d.key.as_deref().unwrap_or_default()).into_owned());
    }
    assert_eq!(dead.len(), expected, "one dead letter per refused record");
    assert_eq!(origins.len(), expected, "each origin once");
    keys
}

/// The sum of the samples of metric family `name` (every label set) in a `/metrics` text.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with(['{', ' ']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Per partition of `topic`: the offset `group` committed (-1 when none) and the log end.
pub fn committed_and_end(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Vec<(i64, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(|p| {
            let c = match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            };
            let (_, end) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks");
            (c, end)
        })
        .collect()
}

/// Kills the shared broker hard (kill -9), keeps it down `pause_s` seconds and starts it again
/// on the same data and address (tests/kafka/restart); returns the address it came back on.
pub fn restart_broker(pause_s: u32) -> String {
    let restart = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kafka/restart");
    let out = Command::new(restart)
        .args(["--pause", &pause_s.to_string()])
        .output()
        .expect("tests/kafka/restart");
    assert!(
        out.status.success(),
        "broker restart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The broker's SASL_SSL listener, as tests/kafka/up wrote it to `$RP_KAFKA_DIR/secure.env`.
pub struct SecureListener {
    pub bootstrap: String,
    pub mechanism: String,
    pub username: String,
    pub password: String,
    /// The CA that signed the broker's certificate.
    pub ca: String,
    /// A CA that did not.
    pub untrusted_ca: String,
}

pub fn secure_listener() -> SecureListener {
    let dir = std::env::var("RP_KAFKA_DIR").unwrap_or_else(|_| "/tmp/roadpulse-kafka".into());
    let dir = Path::new(&dir);
    let plain = std::fs::read_to_string(dir.join("bootstrap")).unwrap_or_default();
    assert_eq!(
        plain.trim(),
        bootstrap(),
        "RP_KAFKA_DIR ({}) must be the state dir of the broker at RP_TEST_BOOTSTRAP",
        dir.display()
    );
    let text = std::fs::read_to_string(dir.join("secure.env"))
        .expect("secure.env: the broker was started by this version of tests/kafka/up");
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{key} in secure.env"))
            .to_string()
    };
    SecureListener {
        bootstrap: get("SASL_SSL_BOOTSTRAP"),
        mechanism: get("SASL_MECHANISM"),
        username: get("SASL_USERNAME"),
        password: get("SASL_PASSWORD"),
        ca: get("SSL_CA_LOCATION"),
        untrusted_ca: get("SSL_UNTRUSTED_CA_LOCATION"),
    }
}

/// Fresh TLS material from tests/tls/make in `dir`: (ca.pem, server.pem, server.key,
/// other-ca.pem).
pub fn make_tls(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let make = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/make");
    let status = Command::new(make)
        .arg(dir)
        .status()
        .expect("tests/tls/make");
    assert!(status.success(), "tests/tls/make failed");
    let f = |n: &str| dir.join(n);
    (
        f("ca.pem"),
        f("server.pem"),
        f("server.key"),
        f("other-ca.pem"),
    )
}
