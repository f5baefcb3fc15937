//! The accumulator of one (segment, window): what probes and detectors said, folded as they
//! arrive, and the traffic measures it yields when the window is read (docs/traffic.md "Measures").
//!
//! It is additive and order-insensitive except for floating-point summation order, which the
//! processor keeps deterministic by feeding events in offset order. It knows nothing of
//! windows, keys or output formats.

use super::event::DetectorReading;
use super::sketch::SpeedSketch;

/// PeMS single-loop g-factor: effective vehicle length plus detector length, in feet.
pub const G_FACTOR_FT: f64 = 22.0;
const KPH_PER_MPH: f64 = 1.609_344;

/// Distinct probe vehicles, kept as sorted 32-bit hashes of their ids (4 bytes a vehicle):
/// exact unless two ids in one window share a hash, which for n vehicles happens with
/// probability about n²/2³³ (one in 10⁴ windows at 1 000 vehicles). Probes without a
/// `vehicle_id` add samples but no vehicle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VehicleSet(Vec<u32>);

impl VehicleSet {
    pub fn insert(&mut self, vehicle_id: &str) {
        let h = fnv1a_32(vehicle_id.as_bytes());
        if let Err(at) = self.0.binary_search(&h) {
            self.0.insert(at, h);
        }
    }

    pub fn len(&self) -> u32 {
        self.0.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// FNV-1a, 32 bit: stable across builds and platforms, unlike `std`'s hasher.
pub fn fnv1a_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowAgg {
    samples: u32,
    sum_speed: f64,
    sum_inverse_speed: f64,
    /// Probes at standstill: any makes the harmonic mean 0 rather than a division error.
    zero_speeds: u32,
    min_speed: f64,
    max_speed: f64,
    vehicles: VehicleSet,
    sketch: SpeedSketch,
    readings: u32,
    volume: u64,
    occupancy_sum: f64,
    /// Σ speed × volume and Σ volume over readings with a speed (given or g-factor estimate).
    detector_speed_weighted: f64,
    detector_speed_weight: f64,
}

/// Everything a window says about its segment, ready for the congestion step.
#[derive(Debug, Clone, PartialEq)]
pub struct Measures {
    pub samples: u32,
    pub vehicles: u32,
    /// Space-mean (harmonic) probe speed.
    pub probe_space_mean_kph: Option<f64>,
    /// Time-mean (arithmetic) probe speed.
    pub probe_time_mean_kph: Option<f64>,
    pub p85_speed_kph: Option<f64>,
    pub min_speed_kph: Option<f64>,
    pub max_speed_kph: Option<f64>,
    pub readings: u32,
    pub volume: u64,
    pub flow_vph: f64,
    pub occupancy: Option<f64>,
    /// Flow-weighted detector speed (measured, or PeMS g-factor estimate).
    pub detector_speed_kph: Option<f64>,
}

impl WindowAgg {
    pub fn add_probe(&mut self, speed_kph: f64, vehicle_id: Option<&str>) {
        if self.samples == 0 {
            self.min_speed = speed_kph;
            self.max_speed = speed_kph;
        } else {
            self.min_speed = self.min_speed.min(speed_kph);
            self.max_speed = self.max_speed.max(speed_kph);
        }
        self.samples += 1;
        self.sum_speed += speed_kph;
        if speed_kph > 0.0 {
            self.sum_inverse_speed += 1.0 / speed_kph;
        } else {
            self.zero_speeds += 1;
        }
        if let Some(id) = vehicle_id {
            self.vehicles.insert(id);
        }
        self.sketch.add(speed_kph);
    }

    pub fn add_detector(&mut self, d: &DetectorReading<'_>) {
        self.readings += 1;
        self.volume += u64::from(d.volume);
        self.occupancy_sum += d.occupancy;
        if let Some(v) = d.speed_kph.or_else(|| g_factor_speed_kph(d)) {
            let w = f64::from(d.volume);
            self.detector_speed_weighted += v * w;
            self.detector_speed_weight += w;
        }
    }

    pub fn sketch_heap_bytes(&self) -> usize {
        self.sketch.heap_bytes()
    }

    pub fn measures(&self, window_ms: i64) -> Measures {
        let n = f64::from(self.samples);
        let probes = self.samples > 0;
        let space_mean = if self.zero_speeds > 0 {
            0.0
        } else {
            n / self.sum_inverse_speed
        };
        Measures {
            samples: self.samples,
            vehicles: self.vehicles.len(),
            probe_space_mean_kph: probes.then_some(space_mean),
            probe_time_mean_kph: probes.then(|| self.sum_speed / n),
            p85_speed_kph: self.sketch.quantile(0.85),
            min_speed_kph: probes.then_some(self.min_speed),
            max_speed_kph: probes.then_some(self.max_speed),
            readings: self.readings,
            volume: self.volume,
            flow_vph: self.volume as f64 * 3_600_000.0 / window_ms as f64,
            occupancy: (self.readings > 0).then(|| self.occupancy_sum / f64::from(self.readings)),
            detector_speed_kph: (self.detector_speed_weight > 0.0)
                .then(|| self.detector_speed_weighted / self.detector_speed_weight),
        }
    }
}

/// PeMS: `v_mph = volume_5min × g / (occupancy × 440)`, scaled from the reading's interval.
pub fn g_factor_speed_kph(d: &DetectorReading<'_>) -> Option<f64> {
    if d.volume == 0 || d.occupancy <= 0.0 {
        return None;
    }
    let volume_5min = f64::from(d.volume) * 300.0 / f64::from(d.interval_s);
    let mph = volume_5min * G_FACTOR_FT / (d.occupancy * 440.0);
    Some((mph * KPH_PER_MPH).min(super::event::MAX_SPEED_KPH))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(volume: u32, occupancy: f64, interval_s: u32) -> DetectorReading<'static> {
        DetectorReading {
            detector_id: None,
            lane: None,
            interval_s,
            volume,
            occupancy,
            speed_kph: None,
        }
    }

    #[test]
    fn time_mean_and_space_mean_oracle() {
        let mut a = WindowAgg::default();
        a.add_probe(30.0, Some("a"));
        a.add_probe(60.0, Some("b"));
        let m = a.measures(60_000);
        assert_eq!(m.probe_time_mean_kph, Some(45.0));
        assert!((m.probe_space_mean_kph.unwrap() - 40.0).abs() < 1e-9);
        assert_eq!((m.min_speed_kph, m.max_speed_kph), (Some(30.0), Some(60.0)));
        assert_eq!(m.vehicles, 2);
    }

    #[test]
    fn p85_is_the_nearest_rank_within_one_percent() {
        let mut a = WindowAgg::default();
        for v in 1..=20 {
            a.add_probe(f64::from(v) * 5.0, None);
        }
        let p85 = a.measures(60_000).p85_speed_kph.unwrap();
        assert!(
            (p85 - 85.0).abs() <= 0.85,
            "17th of 20 samples is 85 km/h, got {p85}"
        );
    }

    #[test]
    fn standstill_makes_harmonic_mean_zero() {
        let mut a = WindowAgg::default();
        a.add_probe(0.0, None);
        a.add_probe(50.0, None);
        assert_eq!(a.measures(60_000).probe_space_mean_kph, Some(0.0));
    }

    #[test]
    fn distinct_vehicles() {
        let mut a = WindowAgg::default();
        for id in ["v1", "v2", "v1", "v3", "v2"] {
            a.add_probe(50.0, Some(id));
        }
        a.add_probe(50.0, None);
        let m = a.measures(60_000);
        assert_eq!((m.samples, m.vehicles), (6, 3));
    }

    #[test]
    fn g_factor_oracle_50_mph() {
        // volume 100 in 5 minutes at occupancy 0.10 → 50 mph.
        let v = g_factor_speed_kph(&reading(100, 0.10, 300)).unwrap();
        assert!((v - 50.0 * KPH_PER_MPH).abs() < 1e-9);
        // the same flow reported per 30 s gives the same speed.
        let v30 = g_factor_speed_kph(&reading(10, 0.10, 30)).unwrap();
        assert!((v30 - v).abs() < 1e-9);
        assert_eq!(g_factor_speed_kph(&reading(0, 0.1, 30)), None);
    }

    #[test]
    fn flow_occupancy_and_flow_weighted_detector_speed() {
        let mut a = WindowAgg::default();
        let fast = DetectorReading {
            speed_kph: Some(100.0),
            ..reading(30, 0.05, 30)
        };
        let slow = DetectorReading {
            speed_kph: Some(40.0),
            ..reading(10, 0.25, 30)
        };
        a.add_detector(&fast);
        a.add_detector(&slow);
        let m = a.measures(60_000);
        assert_eq!(m.volume, 40);
        assert_eq!(m.flow_vph, 2_400.0); // 40 vehicles in one minute
        assert!((m.occupancy.unwrap() - 0.15).abs() < 1e-12);
        assert!((m.detector_speed_kph.unwrap() - 85.0).abs() < 1e-9); // (30·100 + 10·40) / 40
        assert_eq!(m.probe_space_mean_kph, None);
    }
}
