//! What the field sees of the model: GPS probe pings from a share of the vehicles, with speed
//! noise, and loop-detector stations that count vehicles leaving their segment and measure
//! occupancy (density × effective vehicle length) over fixed intervals, with faults.

use super::generator::Rng;
use super::scenario::{self, FaultMode};
use crate::domain::aggregate::G_FACTOR_FT;

/// Effective vehicle length seen by a loop (the PeMS g-factor), in km.
const EFFECTIVE_LENGTH_KM: f64 = G_FACTOR_FT * 0.3048 / 1000.0;

#[derive(Debug, Clone)]
pub struct Probes {
    penetration: f64,
    ping_s: f64,
    noise: f64,
}

impl Probes {
    pub fn new(p: &scenario::Probes) -> Self {
        Probes {
            penetration: p.penetration,
            ping_s: p.ping_s,
            noise: p.noise,
        }
    }

    /// The pings sent during one step `(t, step_ms)` from a segment holding `vehicles` moving
    /// at `speed_kph`: `(ts, speed, vehicle number)`.
    pub fn pings(
        &self,
        vehicles: f64,
        speed_kph: f64,
        free_flow_kph: f64,
        (t, step_ms): (i64, i64),
        rng: &mut Rng,
    ) -> Vec<(i64, f64, u64)> {
        let lambda = vehicles * self.penetration * step_ms as f64 / 1000.0 / self.ping_s;
        (0..rng.poisson(lambda))
            .map(|_| {
                let ts = t + rng.below(step_ms as u64) as i64;
                let speed =
                    (speed_kph * (1.0 + self.noise * rng.gauss())).clamp(0.0, free_flow_kph * 1.4);
                (ts, speed, rng.below(1_000_000))
            })
            .collect()
    }
}

/// One detector reading, before encoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub volume: u64,
    pub occupancy: f64,
    pub speed_kph: Option<f64>,
}

/// A detector station accumulating the current interval.
#[derive(Debug, Clone, Default)]
pub struct Detector {
    counted: f64,
    density_time: f64,
    time_h: f64,
    vehicle_km: f64,
    vehicle_h: f64,
    last: Option<Reading>,
}

impl Detector {
    /// One model step: `passed` vehicles crossed the station; the segment held `vehicles` at
    /// `density` (veh/km/lane) moving at `speed_kph`.
    pub fn add(&mut self, passed: f64, density: f64, vehicles: f64, speed_kph: f64, dt_h: f64) {
        self.counted += passed;
        self.density_time += density * dt_h;
        self.time_h += dt_h;
        self.vehicle_km += vehicles * speed_kph * dt_h;
        self.vehicle_h += vehicles * dt_h;
    }

    /// Closes the interval: the reading the station sends (none when it is dead).
    pub fn reading(
        &mut self,
        fault: Option<FaultMode>,
        occupancy_noise: f64,
        rng: &mut Rng,
    ) -> Option<Reading> {
        let acc = std::mem::take(self);
        self.last = acc.last;
        let density = acc.density_time / acc.time_h.max(1e-12);
        let fraction = acc.counted.fract();
        let volume = acc.counted.trunc() as u64 + u64::from(rng.unit() < fraction);
        let good = Reading {
            volume,
            occupancy: (density * EFFECTIVE_LENGTH_KM + occupancy_noise * rng.gauss())
                .clamp(0.0, 1.0),
            speed_kph: (acc.vehicle_h > 1e-9 && volume > 0).then(|| acc.vehicle_km / acc.vehicle_h),
        };
        match fault {
            None => {
                self.last = Some(good);
                Some(good)
            }
            Some(FaultMode::Dead) => None,
            Some(FaultMode::Zero) => Some(Reading {
                volume: 0,
                occupancy: 0.0,
                speed_kph: None,
            }),
            Some(FaultMode::Stuck) => Some(self.last.unwrap_or(good)),
        }
    }
}
