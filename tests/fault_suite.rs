//! The exactly-once fault suite on the real broker, modelled on Kafka's own EOS system test.
//! Known input is produced at a steady pace while three `roadpulse run` processes (exactly
//! once, stable identities, a state changelog) suffer faults:
//! - kill -9 of a random worker, restarted a moment later with the same identity;
//! - a rolling SIGTERM restart of every worker;
//! - scaling 3 → 1 → 3;
//! - SIGSTOP of a worker for longer than the transaction timeout (and the group session), then
//!   SIGCONT (a zombie: the broker has aborted its transaction and moved its partitions);
//! - a twin started with a running worker's identity: the old one must be fenced and exit 1;
//! - a hard broker restart (kill -9, down, back on the same data).
//!
//! The verifier then reads the output with `read_committed` to the end, checks that the group's
//! committed offsets equal the input end offsets, and compares every final window, every field,
//! with `roadpulse replay --partitions N`: 0 missing, 0 duplicated, 0 mismatched.
//!
//! Two inputs go through it: generated traffic on 60 segments (windows under disorder and
//! congestion cycles), and a simulated corridor with a crash, whose incident events are also
//! read with `read_committed` and must be replay's: each incident detected once and cleared
//! once, at the same times, none lost.
//!
//! CI runs each fault once per input (about five minutes). A soak picks faults at random for as long as
//! asked, e.g. ten minutes (see README, "Exactly once under failure"):
//! `RP_FAULT_SOAK_SECS=600 RP_TEST_BOOTSTRAP=$(tests/kafka/up) cargo test --release --test fault_suite -- --nocapture`
//! It restarts the broker, so it runs alone (tests/run runs it after the other tests).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use roadpulse::sim::generator::{Record, Rng, Workload, WorkloadConfig};

const PARTITIONS: i32 = 6;
const WORKERS: usize = 3;
/// Input records per second, of wall time and of event time alike.
const RATE: u64 = 500;
/// Input duration of the CI variant: long enough for every fault once.
const CI_SECS: u64 = 100;

/// Short timeouts so that faults play out within seconds: the broker aborts a silent
/// transaction after 10 s and drops a silent group member after 6 s.
const WORKER_SETS: [&str; 4] = [
    "kafka.properties.transaction.timeout.ms=\"10000\"",
    "kafka.properties.session.timeout.ms=\"6000\"",
    "kafka.properties.heartbeat.interval.ms=\"1500\"",
    "window.idle_timeout=\"10s\"",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Kill9,
    RollingRestart,
    ScaleDownUp,
    PauseBeyondTimeout,
    Twin,
    BrokerRestart,
}

const ALL: [Fault; 6] = [
    Fault::Kill9,
    Fault::RollingRestart,
    Fault::ScaleDownUp,
    Fault::PauseBeyondTimeout,
    Fault::Twin,
    Fault::BrokerRestart,
];

struct Fleet<'a> {
    setup: &'a Setup,
    workers: Vec<Worker>,
    starts: usize,
    /// Workers that exited by themselves (fenced zombies) and were started again.
    revived: usize,
    rng: Rng,
}

impl<'a> Fleet<'a> {
    fn new(setup: &'a Setup, seed: u64) -> Self {
        let mut fleet = Fleet {
            setup,
            workers: Vec::new(),
            starts: 0,
            revived: 0,
            rng: Rng::new(seed),
        };
        for i in 0..WORKERS {
            let w = fleet.start(i);
            fleet.workers.push(w);
        }
        fleet
    }

    fn start(&mut self, i: usize) -> Worker {
        self.starts += 1;
        let identity = format!("kafka.instance_id=\"fault-w{i}\"");
        let mut sets = vec![identity.as_str()];
        sets.extend(WORKER_SETS);
        self.setup
            .start_worker(&format!("w{i}-{}", self.starts), &sets)
    }

    fn pick(&mut self) -> usize {
        self.rng.below(WORKERS as u64) as usize
    }

    /// Starts again every worker that is not running.
    fn revive(&mut self) {
        for i in 0..WORKERS {
            if !self.workers[i].is_running() {
                self.revived += 1;
                self.workers[i] = self.start(i);
            }
        }
    }

    fn stop_gracefully(&mut self, i: usize) {
        self.workers[i].sigterm();
        let code = self.workers[i].wait_exit(Duration::from_secs(40));
        assert_eq!(
            code,
            Some(0),
            "SIGTERM drains and exits 0:\n{}",
            self.workers[i].log_text()
        );
    }

    fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::Kill9 => {
                let i = self.pick();
                self.workers[i].kill();
                pause(1_000 + self.rng.below(2_000));
                self.workers[i] = self.start(i);
            }
            Fault::RollingRestart => {
                for i in 0..WORKERS {
                    self.stop_gracefully(i);
                    self.workers[i] = self.start(i);
                    pause(3_000);
                }
            }
            Fault::ScaleDownUp => {
                for i in 1..WORKERS {
                    self.stop_gracefully(i);
                }
                pause(8_000);
                for i in 1..WORKERS {
                    self.workers[i] = self.start(i);
                }
            }
            Fault::PauseBeyondTimeout => {
                let i = self.pick();
                self.workers[i].signal("STOP");
                pause(13_000);
                self.workers[i].signal("CONT");
                pause(3_000);
            }
            Fault::Twin => {
                let i = self.pick();
                let twin = self.start(i);
                let mut old = std::mem::replace(&mut self.workers[i], twin);
                let code = old.wait_exit(Duration::from_secs(90));
                let log = old.log_text();
                assert_eq!(code, Some(1), "the fenced twin exits 1:\n{log}");
                assert!(log.contains("kafka.instance_id"), "{log}");
            }
            Fault::BrokerRestart => {
                restart_broker(3);
            }
        }
    }
}

fn pause(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Produces `records` at `rate` per second on its own thread; `done` is set after the last
/// one was acknowledged.
fn produce_paced(
    bootstrap: String,
    topic: String,
    records: Vec<Record>,
    rate: u64,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("partitioner", "murmur2_random")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .expect("producer");
        let started = Instant::now();
        let chunk = (rate / 10).max(1) as usize;
        for (n, records) in records.chunks(chunk).enumerate() {
            for r in records {
                let mut record = BaseRecord::to(&topic).key(&r.key).payload(&r.value);
                while let Err((_, back)) = producer.send(record) {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
            }
            producer.poll(Duration::ZERO);
            let due = started + Duration::from_millis(100 * (n as u64 + 1));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        producer
            .flush(Duration::from_secs(180))
            .expect("all input acknowledged");
        done.store(true, Ordering::SeqCst);
    })
}

/// What goes through the faults.
struct Input {
    name: &'static str,
    records: Vec<Record>,
    /// Records per second, of wall time.
    rate: u64,
    catalog: Option<String>,
    /// Window settings, for workers and replay alike.
    sets: Vec<String>,
    /// Also check the incident events.
    incidents: bool,
}

fn settings() -> (Option<u64>, u64, u64) {
    let soak: Option<u64> = std::env::var("RP_FAULT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    let seed: u64 = std::env::var("RP_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    (soak, seed, soak.unwrap_or(CI_SECS))
}

#[test]
fn exactly_once_under_faults() {
    let (_, seed, secs) = settings();
    let cfg = WorkloadConfig {
        segments: 60,
        events_per_sec: RATE as f64,
        disorder_ms: 1_000,
        congestion_period_ms: 20_000,
        seed,
        ..WorkloadConfig::default()
    };
    run_suite(Input {
        name: "faults",
        records: Workload::new(cfg).take(RATE * secs),
        rate: RATE,
        catalog: None,
        sets: Vec::new(),
        incidents: false,
    });
}

/// Three simulated mornings of a corridor whose segments sit on every partition, a crash on
/// the third, pushed through in `secs` of wall time.
#[test]
fn incidents_exactly_once_under_faults() {
    let (_, _, secs) = settings();
    let scenario = roadpulse::sim::scenario::Scenario::parse(INCIDENT_SCENARIO).unwrap();
    let mut records = Vec::new();
    let mut sink = |key: &str, v: &[u8]| {
        records.push(Record {
            key: key.to_string(),
            value: v.to_vec(),
            ts: 0,
            poison: false,
        });
        Ok(())
    };
    roadpulse::sim::simulate::simulate(&scenario, &mut sink, &mut Vec::new()).unwrap();
    let rate = (records.len() as u64 / secs).max(10);
    run_suite(Input {
        name: "faults-incidents",
        records,
        rate,
        catalog: Some(roadpulse::sim::simulate::catalog_csv(&scenario)),
        sets: vec!["window.size=\"30s\"".into(), "window.grace=\"30s\"".into()],
        incidents: true,
    });
}

const INCIDENT_SCENARIO: &str = r#"
name = "fault suite"
seed = 77
days = 3
from = "06:30"
to = "07:45"
window_s = 30

[[corridor]]
id = "F1-E"
segments = 10
length_m = 600
lanes = 3
free_flow_kph = 100
demand_vph = 4000
daily_variation = 0.02
profile = [{ at = "00:00", factor = 0.3 }, { at = "06:30", factor = 0.6 }, { at = "07:30", factor = 0.8 }]

[probes]
penetration = 0.05

[[incident]]
corridor = "F1-E"
segment = 6
day = 3
at = "07:00"
duration_min = 15
capacity_drop = 0.67
report_delay_s = 120
"#;

fn run_suite(input: Input) {
    let (soak, seed, secs) = settings();
    let mut setup = Setup::new(input.name, PARTITIONS, input.catalog.as_deref());
    setup.domain_sets.extend(input.sets.iter().cloned());
    let (expected, expected_incidents) = replay_detecting(
        &setup.dir,
        &input.records,
        PARTITIONS as u32,
        &setup.domain_sets,
        input.incidents,
    );
    let expected_incidents = decisions(expected_incidents);
    if input.incidents {
        assert!(
            lifecycle(&expected_incidents).len() >= 2,
            "replay detects and clears the crash: {expected_incidents:?}"
        );
    }
    println!(
        "fault suite {}: {} records over {secs} s, seed {seed}, {} final windows and {} incident events expected",
        input.name,
        input.records.len(),
        expected.len(),
        expected_incidents.values().map(Vec::len).sum::<usize>(),
    );

    let mut fleet = Fleet::new(&setup, seed);
    let done = Arc::new(AtomicBool::new(false));
    let producer = produce_paced(
        setup.bootstrap.clone(),
        setup.input.clone(),
        input.records,
        input.rate,
        Arc::clone(&done),
    );
    let mut injected: BTreeMap<Fault, u32> = BTreeMap::new();
    let mut sequence = ALL.iter().copied();
    pause(4_000);
    loop {
        let next = match soak {
            None => sequence.next(),
            Some(_) if done.load(Ordering::SeqCst) => None,
            Some(_) => Some(ALL[fleet.rng.below(ALL.len() as u64) as usize]),
        };
        let Some(fault) = next else { break };
        println!("fault: {fault:?}");
        fleet.inject(fault);
        *injected.entry(fault).or_default() += 1;
        fleet.revive();
        pause(2_000 + fleet.rng.below(2_000));
    }
    producer.join().expect("producer thread");
    fleet.revive();

    let (got, repeats) = read_finals(&setup, expected.len(), Duration::from_secs(300));
    let problems = diff(&expected, &got, &[]);
    let offsets_settled = (0..60).any(|_| {
        let offsets = committed_and_end(&setup.bootstrap, &setup.group, &setup.input, PARTITIONS);
        // An empty partition has nothing to commit.
        let settled = offsets
            .iter()
            .all(|(c, end)| c == end || (*end == 0 && *c < 0));
        if !settled {
            pause(1_000);
        }
        settled
    });
    let faults: u32 = injected.values().sum();
    let wrong = expected
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(*v))
        .count()
        + got.keys().filter(|k| !expected.contains_key(*k)).count();
    println!(
        "fault suite result: {faults} faults injected {injected:?}; {} worker starts, {} exited by themselves; {} final windows expected, {} read, {repeats} duplicated, {wrong} missing, unexpected or mismatched",
        fleet.starts,
        fleet.revived,
        expected.len(),
        got.len(),
    );
    assert_eq!(repeats, 0, "no final window twice under read_committed");
    assert!(
        problems.is_empty(),
        "output differs from replay:\n{}",
        problems.join("\n")
    );
    assert!(
        offsets_settled,
        "the group committed the input end offsets: {:?}",
        committed_and_end(&setup.bootstrap, &setup.group, &setup.input, PARTITIONS)
    );
    if input.incidents {
        let wanted: usize = expected_incidents.values().map(Vec::len).sum();
        let topic = format!("{}-incidents", setup.input);
        let read = read_topic(&setup.bootstrap, &topic, Duration::from_secs(120), |rs| {
            rs.len() >= wanted
        });
        let got = decisions(
            read.iter()
                .filter_map(|r| serde_json::from_slice(r.value.as_deref()?).ok()),
        );
        println!(
            "fault suite incidents: {} events expected, {} read under read_committed",
            wanted,
            read.len()
        );
        assert_eq!(
            lifecycle(&got),
            lifecycle(&expected_incidents),
            "every incident detected and cleared once, as replay has it"
        );
    }
    for w in fleet.workers.iter_mut() {
        w.stop();
    }
}
