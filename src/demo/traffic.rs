//! The demo's traffic: the scenario simulator ([`crate::sim::simulate`]) plays the demo
//! scenario (`src/demo/scenario.toml`: a commuter freeway with a crash) in compressed time —
//! [`SPEEDUP`] simulated seconds per wall-clock second — while the workload generator adds
//! background traffic on `--segments` other segments, at `--rate` records per wall second.
//!
//! One clock: every record is stamped in simulated time. The generator's records carry the
//! scenario's progress (the newest scenario timestamp sent), not the wall clock, so a stalled
//! thread on a loaded machine delays the traffic but never makes the scenario's own records
//! late against the background ones. After the scenario's last hour the generator goes on
//! alone, stamped with the paced clock.

use std::io;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

use crate::domain::catalog::Catalog;
use crate::kafka::Shutdown;
use crate::sim::generator::{Workload, WorkloadConfig};
use crate::sim::scenario::{time_of_day_ms, Scenario, ScenarioError};
use crate::sim::simulate;

/// Simulated seconds per wall-clock second: a 60 s window closes about every second.
pub const SPEEDUP: i64 = 60;

/// The demo scenario, also runnable offline with `roadpulse simulate --scenario`.
pub const SCENARIO: &str = include_str!("scenario.toml");

pub fn scenario() -> Result<Scenario, ScenarioError> {
    Scenario::parse(SCENARIO)
}

/// Epoch ms at which the scenario's traffic starts (its first day's `from`).
pub fn scenario_start_ms(s: &Scenario) -> Result<i64, ScenarioError> {
    Ok(s.start_ms()? + time_of_day_ms(&s.from)?)
}

/// The scenario's segments (with their topology) beside the generator's.
pub fn merged_catalog(s: &Scenario, background: Catalog) -> Result<Catalog, String> {
    let mut c = background;
    let scenario = Catalog::parse_csv(&simulate::catalog_csv(s)).map_err(|e| e.to_string())?;
    for (id, info) in scenario.iter() {
        c.insert(id, info.clone());
    }
    Ok(c)
}

/// Records produced, by origin.
#[derive(Debug, Default, Clone, Copy)]
pub struct Produced {
    pub scenario: u64,
    pub background: u64,
}

struct Feed<'a> {
    producer: ThreadedProducer<DefaultProducerContext>,
    workload: Workload,
    shutdown: &'a Shutdown,
    started: Instant,
    origin_ms: i64,
    rate: u32,
    /// Newest scenario timestamp sent: the stamp of background records while it plays.
    progress_ms: i64,
    produced: Produced,
}

impl Feed<'_> {
    fn clock_ms(&self) -> i64 {
        self.origin_ms + self.started.elapsed().as_millis() as i64 * SPEEDUP
    }

    /// Background records due by now at `rate` per wall second, stamped `stamp_ms`.
    fn background(&mut self, stamp_ms: i64) {
        let due = (self.started.elapsed().as_secs_f64() * f64::from(self.rate)) as u64;
        while self.produced.background < due {
            let r = self.workload.record_at(stamp_ms);
            let record = BaseRecord::<String, Vec<u8>>::to("traffic.raw")
                .key(&r.key)
                .payload(&r.value);
            if self.producer.send(record).is_err() {
                break; // local queue full: the embedded broker sets the pace
            }
            self.produced.background += 1;
        }
    }

    /// Sends one scenario record once the paced clock reaches its timestamp, never dropping it.
    fn scenario_record(&mut self, key: &str, value: &[u8]) -> io::Result<()> {
        let ts = serde_json::from_slice::<Stamp>(value)
            .map_err(io::Error::other)?
            .ts;
        while self.clock_ms() < ts {
            self.stop_if_asked()?;
            self.background(self.progress_ms);
            std::thread::sleep(Duration::from_millis(5));
        }
        self.progress_ms = self.progress_ms.max(ts);
        let mut record = BaseRecord::to("traffic.raw").key(key).payload(value);
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    self.stop_if_asked()?;
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(io::Error::other(e)),
            }
        }
        self.produced.scenario += 1;
        Ok(())
    }

    fn stop_if_asked(&self) -> io::Result<()> {
        if self.shutdown.is_triggered() {
            return Err(io::Error::other("demo stopped"));
        }
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct Stamp {
    ts: i64,
}

/// Plays the scenario and the background traffic to `traffic.raw` until shutdown.
pub fn produce(
    bootstrap: &str,
    shutdown: &Shutdown,
    rate: u32,
    segments: u32,
    scenario: &Scenario,
) -> Produced {
    let producer: ThreadedProducer<DefaultProducerContext> = match ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "20")
        .create()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("demo: cannot create the simulator's producer: {e}");
            return Produced::default();
        }
    };
    let origin_ms = match scenario_start_ms(scenario) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("demo: {e}");
            return Produced::default();
        }
    };
    let cfg = WorkloadConfig {
        segments,
        disorder_ms: 5_000,
        congestion_period_ms: 20 * 60_000,
        seed: origin_ms as u64,
        ..WorkloadConfig::default()
    };
    let mut feed = Feed {
        producer,
        workload: Workload::new(cfg),
        shutdown,
        started: Instant::now(),
        origin_ms,
        rate,
        progress_ms: origin_ms,
        produced: Produced::default(),
    };
    let mut sink = |key: &str, value: &[u8]| feed.scenario_record(key, value);
    if let Err(e) = simulate::simulate(scenario, &mut sink, &mut io::sink()) {
        if !shutdown.is_triggered() {
            eprintln!("demo: the scenario stopped: {e}");
        }
    }
    while !shutdown.is_triggered() {
        feed.background(feed.clock_ms());
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = feed.producer.flush(Duration::from_secs(2));
    feed.produced
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_scenario_parses_and_injects_an_incident_on_its_corridor() {
        let s = scenario().unwrap();
        assert_eq!(s.incidents.len(), 1);
        let c = merged_catalog(&s, crate::sim::generator::catalog(3)).unwrap();
        assert_eq!(c.len(), 3 + 12);
        let six = c.get("M4-E-06").unwrap();
        assert_eq!(
            (six.upstream.as_slice(), six.downstream.as_slice()),
            (&["M4-E-05".to_string()][..], &["M4-E-07".to_string()][..])
        );
        assert_eq!(
            scenario_start_ms(&s).unwrap(),
            s.start_ms().unwrap() + 7 * 3_600_000
        );
    }
}
