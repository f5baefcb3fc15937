//! A deterministic traffic workload: probe pings, loop-detector readings and a few incident
//! reports over a set of road segments, some of which congest and recover periodically.
//!
//! The same seed gives the same records, byte for byte, which is what the integration tests
//! and benchmarks need; the demo feeds it wall-clock timestamps instead. Optional poison
//! records (broken JSON, missing or out-of-range fields) exercise the dead-letter path.

use crate::domain::catalog::{Catalog, SegmentInfo};

/// SplitMix64: small, fast, and the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Standard normal (Box–Muller).
    pub fn gauss(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    /// Poisson with mean `lambda` (Knuth below 30, normal approximation above).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda >= 30.0 {
            return (lambda + lambda.sqrt() * self.gauss()).round().max(0.0) as u64;
        }
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p = self.unit();
        while p > limit {
            k += 1;
            p *= self.unit();
        }
        k
    }
}

#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    pub segments: u32,
    /// Event time of the first record.
    pub start_ms: i64,
    /// Records per second of event time.
    pub events_per_sec: f64,
    /// Share of records that are poison (0..1).
    pub poison_ratio: f64,
    /// Largest amount an event's timestamp lags the workload clock (out-of-order delivery).
    pub disorder_ms: i64,
    /// Period of the congestion cycle of hot-spot segments, in event time.
    pub congestion_period_ms: i64,
    pub seed: u64,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self {
            segments: 200,
            start_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
            events_per_sec: 1_000.0,
            poison_ratio: 0.0,
            disorder_ms: 2_000,
            congestion_period_ms: 600_000,
            seed: 42,
        }
    }
}

/// One record to produce: key (the segment id) and JSON value.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: String,
    pub value: Vec<u8>,
    pub ts: i64,
    pub poison: bool,
}

const ROADS: [&str; 6] = ["A1", "A7", "M4", "M25", "I-5", "B12"];

/// The id of segment `i`: road, direction and kilometre, like `M25-S-017`.
pub fn segment_id(i: u32) -> String {
    let road = ROADS[(i as usize) % ROADS.len()];
    let dir = if (i / ROADS.len() as u32) % 2 == 0 {
        'N'
    } else {
        'S'
    };
    format!("{road}-{dir}-{:03}", i / (2 * ROADS.len() as u32))
}

/// Free-flow speed of segment `i` (motorways 120, trunk roads 90, urban 50).
pub fn free_flow_kph(i: u32) -> f64 {
    [120.0, 100.0, 90.0, 120.0, 105.0, 50.0][(i as usize) % ROADS.len()]
}

/// A catalogue matching the generated segments.
pub fn catalog(segments: u32) -> Catalog {
    let mut c = Catalog::default();
    for i in 0..segments {
        let info = SegmentInfo {
            free_flow_kph: free_flow_kph(i),
            lanes: Some(2 + i % 3),
            ..SegmentInfo::default()
        };
        c.insert(segment_id(i), info);
    }
    c
}

pub struct Workload {
    cfg: WorkloadConfig,
    rng: Rng,
    n: u64,
    ids: Vec<String>,
}

impl Workload {
    pub fn new(cfg: WorkloadConfig) -> Self {
        let ids = (0..cfg.segments.max(1)).map(segment_id).collect();
        Workload {
            rng: Rng::new(cfg.seed),
            n: 0,
            ids,
            cfg,
        }
    }

    /// Share of free-flow speed segment `i` runs at, at event time `ts`: one in five segments
    /// is a hot spot that congests deeply once per period; the rest dip slightly.
    pub fn speed_factor(&self, i: u32, ts: i64) -> f64 {
        let period = self.cfg.congestion_period_ms.max(1);
        let phase = (ts + i64::from(i) * 7_919).rem_euclid(period) as f64 / period as f64;
        let bump = (1.0 - (phase - 0.5).abs() * 4.0).max(0.0); // a triangle over half the period
        let depth = if i % 5 == 0 { 0.85 } else { 0.2 };
        1.0 - depth * bump
    }

    /// The record at workload clock `clock_ms`.
    pub fn record_at(&mut self, clock_ms: i64) -> Record {
        self.n += 1;
        let i = self.rng.below(self.ids.len() as u64) as u32;
        let lag = if self.cfg.disorder_ms > 0 {
            self.rng.below(self.cfg.disorder_ms as u64) as i64
        } else {
            0
        };
        let ts = (clock_ms - lag).max(0);
        let key = self.ids[i as usize].clone();
        if self.rng.unit() < self.cfg.poison_ratio {
            return Record {
                value: self.poison(&key, ts),
                key,
                ts,
                poison: true,
            };
        }
        let roll = self.rng.unit();
        let value = if roll < 0.80 {
            self.probe(&key, i, ts)
        } else if roll < 0.999 {
            self.detector(&key, i, ts)
        } else {
            format!(
                r#"{{"type":"report","segment_id":"{key}","ts":{ts},"report_id":"r{}","category":"accident","source":"sim"}}"#,
                self.n
            )
        };
        Record {
            key,
            value: value.into_bytes(),
            ts,
            poison: false,
        }
    }

    fn probe(&mut self, key: &str, i: u32, ts: i64) -> String {
        let noise = 0.9 + 0.2 * (self.rng.unit() + self.rng.unit()) / 2.0;
        let speed = free_flow_kph(i) * self.speed_factor(i, ts) * noise;
        let vehicle = self.rng.below(5_000);
        format!(
            r#"{{"type":"probe","segment_id":"{key}","ts":{ts},"speed_kph":{speed:.1},"vehicle_id":"veh-{vehicle}","source":"sim"}}"#
        )
    }

    fn detector(&mut self, key: &str, i: u32, ts: i64) -> String {
        let lane = 1 + self.rng.below(2);
        let factor = self.speed_factor(i, ts);
        let speed = free_flow_kph(i) * factor;
        let flow_per_lane =
            1_800.0 * (0.4 + 0.6 * (1.0 - factor).min(0.5) * 2.0).min(1.0) * factor.max(0.3);
        let volume = (flow_per_lane / 120.0 * (0.8 + 0.4 * self.rng.unit())).round();
        let occupancy = (flow_per_lane / speed.max(5.0) * 6.7 / 1000.0).clamp(0.0, 0.95);
        format!(
            r#"{{"type":"detector","segment_id":"{key}","ts":{ts},"detector_id":"det-{i}-{lane}","lane":{lane},"interval_s":30,"volume":{volume},"occupancy":{occupancy:.4},"speed_kph":{speed:.1}}}"#
        )
    }

    fn poison(&mut self, key: &str, ts: i64) -> Vec<u8> {
        match self.rng.below(4) {
            0 => format!(r#"{{"type":"probe","segment_id":"{key}","ts":{ts},"speed_kph":"#)
                .into_bytes(),
            1 => format!(r#"{{"type":"probe","segment_id":"{key}","ts":{ts}}}"#).into_bytes(),
            2 => format!(r#"{{"type":"probe","segment_id":"{key}","ts":{ts},"speed_kph":-12}}"#)
                .into_bytes(),
            _ => vec![0xff, 0xfe, b'{', 0x00],
        }
    }

    /// `count` records on an event-time clock starting at `start_ms`.
    pub fn take(mut self, count: u64) -> Vec<Record> {
        let step = 1_000.0 / self.cfg.events_per_sec.max(0.001);
        (0..count)
            .map(|k| self.record_at(self.cfg.start_ms + (k as f64 * step) as i64))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn same_seed_same_records_and_records_decode() {
        let cfg = WorkloadConfig {
            poison_ratio: 0.05,
            ..WorkloadConfig::default()
        };
        let a = Workload::new(cfg.clone()).take(2_000);
        let b = Workload::new(cfg).take(2_000);
        assert_eq!(a, b);
        let poison = a.iter().filter(|r| r.poison).count();
        assert!(
            (50..=150).contains(&poison),
            "about 5% poison, got {poison}"
        );
        for r in &a {
            let ok = codec::with_raw_event(&r.value, |e| e.segment_id == r.key).unwrap_or(false);
            assert_eq!(
                ok,
                !r.poison,
                "record {:?}",
                String::from_utf8_lossy(&r.value)
            );
        }
    }

    #[test]
    fn segment_ids_are_distinct() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(segment_id).collect();
        assert_eq!(ids.len(), 10_000);
    }
}
