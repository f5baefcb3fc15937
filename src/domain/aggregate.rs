//! The accumulator of one (segment, window): what probes, detectors and vendor flow readings
//! said, folded as they arrive, and the traffic measures it yields when the window is read
//! (docs/traffic.md "Measures").
//!
//! Space-mean speed (distance travelled / vehicle-time) is estimated the way each kind of
//! sample allows: probe pings sampled by time by their arithmetic mean, pings sampled by
//! distance by their harmonic mean (see [`super::sampling`]), a window with both by the two
//! estimates weighted by their ping counts; loop readings by the harmonic mean of their
//! speeds weighted by volume (spot speeds at a point); vehicles whose pings carry their
//! position along the segment by distance over time ([`Tracks`]).
//!
//! Vendor flow readings (TomTom, HERE) are aggregates, not pings: they never enter the probe
//! statistics; [`super::flow`] keeps them apart.
//!
//! It is additive and order-insensitive except for floating-point summation order, which the
//! processor keeps deterministic by feeding events in offset order. It knows nothing of
//! windows, keys or output formats.

use super::event::{DetectorReading, FlowReading};
use super::flow::{FlowAgg, FlowMeasures};
use super::sampling::Sampling;
use super::sketch::SpeedSketch;
use super::tracks::Tracks;

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
    /// Pings sampled by distance (spot speeds), a subset of `samples`.
    spot_samples: u32,
    /// Σ speed of every ping (the time-mean) and of the distance-sampled ones.
    sum_speed: f64,
    spot_sum_speed: f64,
    /// Σ 1/speed of the distance-sampled pings; infinite once one stood still, which makes
    /// their harmonic mean 0 rather than a division error.
    sum_inverse_speed: f64,
    min_speed: f64,
    max_speed: f64,
    vehicles: VehicleSet,
    sketch: SpeedSketch,
    readings: u32,
    /// Detector readings that carried an occupancy (count-and-speed stations do not).
    occupancy_readings: u32,
    volume: u64,
    occupancy_sum: f64,
    /// Σ volume / speed and Σ volume over readings with vehicles and a speed (given or
    /// g-factor estimate): their ratio is the volume-weighted harmonic mean.
    detector_inverse_weighted: f64,
    detector_speed_weight: f64,
    /// Vendor flow readings, boxed: most windows have none, and an empty box costs 8 bytes.
    flow: Option<Box<FlowAgg>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Measures {
    pub samples: u32,
    pub vehicles: u32,
    /// Space-mean probe speed, estimated by the pings' sampling (`probe_estimator`).
    pub probe_space_mean_kph: Option<f64>,
    /// How: `time_mean`, `harmonic` or `blend` (both kinds of ping in the window).
    pub probe_estimator: Option<&'static str>,
    /// Distance over time of the vehicles whose pings give their track along the segment,
    /// and how many vehicles that is.
    pub trajectory_kph: Option<f64>,
    pub tracked_vehicles: u32,
    /// Time-mean (arithmetic) probe speed.
    pub probe_time_mean_kph: Option<f64>,
    pub p85_speed_kph: Option<f64>,
    pub min_speed_kph: Option<f64>,
    pub max_speed_kph: Option<f64>,
    pub readings: u32,
    pub volume: u64,
    pub flow_vph: f64,
    pub occupancy: Option<f64>,
    /// Volume-weighted harmonic mean of the detector speeds (measured, or PeMS g-factor).
    pub detector_speed_kph: Option<f64>,
    pub flow: Option<FlowMeasures>,
}

impl WindowAgg {
    pub fn add_flow(&mut self, f: &FlowReading) {
        self.flow.get_or_insert_with(Box::default).add(f);
    }

    pub fn add_probe(&mut self, speed_kph: f64, vehicle_id: Option<&str>, sampling: Sampling) {
        if self.samples == 0 {
            self.min_speed = speed_kph;
            self.max_speed = speed_kph;
        } else {
            self.min_speed = self.min_speed.min(speed_kph);
            self.max_speed = self.max_speed.max(speed_kph);
        }
        self.samples += 1;
        self.sum_speed += speed_kph;
        if sampling == Sampling::Distance {
            self.spot_samples += 1;
            self.spot_sum_speed += speed_kph;
            // 1/0 is +∞: the harmonic mean of a standstill is 0.
            self.sum_inverse_speed += 1.0 / speed_kph;
        }
        if let Some(id) = vehicle_id {
            self.vehicles.insert(id);
        }
        self.sketch.add(speed_kph);
    }

    pub fn add_detector(&mut self, d: &DetectorReading<'_>) {
        self.readings += 1;
        self.volume += u64::from(d.volume);
        if let Some(o) = d.occupancy {
            self.occupancy_readings += 1;
            self.occupancy_sum += o;
        }
        match d.speed_kph.or_else(|| g_factor_speed_kph(d)) {
            Some(v) if d.volume > 0 => {
                let w = f64::from(d.volume);
                self.detector_inverse_weighted += w / v; // +∞ at 0 km/h: a standstill
                self.detector_speed_weight += w;
            }
            _ => {}
        }
    }

    pub fn sketch_heap_bytes(&self) -> usize {
        self.sketch.heap_bytes()
    }

    /// The probe estimate of the space-mean speed and its name.
    fn probe_space_mean(&self) -> Option<(f64, &'static str)> {
        let timed = self.samples - self.spot_samples;
        let time_mean = (self.sum_speed - self.spot_sum_speed) / f64::from(timed.max(1));
        let harmonic = f64::from(self.spot_samples) / self.sum_inverse_speed;
        match (timed, self.spot_samples) {
            (0, 0) => None,
            (_, 0) => Some((time_mean, "time_mean")),
            (0, _) => Some((harmonic, "harmonic")),
            (t, d) => {
                let (t, d) = (f64::from(t), f64::from(d));
                Some(((time_mean * t + harmonic * d) / (t + d), "blend"))
            }
        }
    }

    pub fn measures(&self, window_ms: i64, tracks: Option<&Tracks>) -> Measures {
        let n = f64::from(self.samples);
        let probes = self.samples > 0;
        let space_mean = self.probe_space_mean();
        let trajectory = tracks.and_then(Tracks::speed_kph);
        Measures {
            samples: self.samples,
            vehicles: self.vehicles.len(),
            probe_space_mean_kph: space_mean.map(|(v, _)| v),
            probe_estimator: space_mean.map(|(_, how)| how),
            trajectory_kph: trajectory.map(|(v, _)| v),
            tracked_vehicles: trajectory.map_or(0, |(_, n)| n),
            probe_time_mean_kph: probes.then(|| self.sum_speed / n),
            p85_speed_kph: self.sketch.quantile(0.85),
            min_speed_kph: probes.then_some(self.min_speed),
            max_speed_kph: probes.then_some(self.max_speed),
            readings: self.readings,
            volume: self.volume,
            flow_vph: self.volume as f64 * 3_600_000.0 / window_ms as f64,
            occupancy: (self.occupancy_readings > 0)
                .then(|| self.occupancy_sum / f64::from(self.occupancy_readings)),
            detector_speed_kph: (self.detector_speed_weight > 0.0)
                .then(|| self.detector_speed_weight / self.detector_inverse_weighted),
            flow: self.flow.as_deref().map(FlowAgg::measures),
        }
    }
}

/// PeMS: `v_mph = volume_5min × g / (occupancy × 440)`, scaled from the reading's interval.
pub fn g_factor_speed_kph(d: &DetectorReading<'_>) -> Option<f64> {
    let occupancy = d.occupancy.filter(|o| *o > 0.0)?;
    if d.volume == 0 {
        return None;
    }
    let volume_5min = f64::from(d.volume) * 300.0 / f64::from(d.interval_s);
    let mph = volume_5min * G_FACTOR_FT / (occupancy * 440.0);
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
            occupancy: Some(occupancy),
            speed_kph: None,
        }
    }

    #[test]
    fn distance_sampled_time_mean_and_space_mean_oracle() {
        let mut a = WindowAgg::default();
        a.add_probe(30.0, Some("a"), Sampling::Distance);
        a.add_probe(60.0, Some("b"), Sampling::Distance);
        let m = a.measures(60_000, None);
        assert_eq!(m.probe_time_mean_kph, Some(45.0));
        assert!((m.probe_space_mean_kph.unwrap() - 40.0).abs() < 1e-9);
        assert_eq!((m.min_speed_kph, m.max_speed_kph), (Some(30.0), Some(60.0)));
        assert_eq!(m.vehicles, 2);
    }

    #[test]
    fn p85_is_the_nearest_rank_within_one_percent() {
        let mut a = WindowAgg::default();
        for v in 1..=20 {
            a.add_probe(f64::from(v) * 5.0, None, Sampling::Time);
        }
        let p85 = a.measures(60_000, None).p85_speed_kph.unwrap();
        assert!(
            (p85 - 85.0).abs() <= 0.85,
            "17th of 20 samples is 85 km/h, got {p85}"
        );
    }

    #[test]
    fn standstill_makes_harmonic_mean_zero() {
        let mut a = WindowAgg::default();
        a.add_probe(0.0, None, Sampling::Distance);
        a.add_probe(50.0, None, Sampling::Distance);
        assert_eq!(a.measures(60_000, None).probe_space_mean_kph, Some(0.0));
    }

    #[test]
    fn distinct_vehicles() {
        let mut a = WindowAgg::default();
        for id in ["v1", "v2", "v1", "v3", "v2"] {
            a.add_probe(50.0, Some(id), Sampling::Time);
        }
        a.add_probe(50.0, None, Sampling::Time);
        let m = a.measures(60_000, None);
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
        let m = a.measures(60_000, None);
        assert_eq!(m.volume, 40);
        assert_eq!(m.flow_vph, 2_400.0); // 40 vehicles in one minute
        assert!((m.occupancy.unwrap() - 0.15).abs() < 1e-12);
        // Spot speeds at a point: the harmonic mean weighted by volume, 40 / (30/100 + 10/40)
        // (the arithmetic one, (30·100 + 10·40) / 40 = 85, is the time-mean).
        assert!((m.detector_speed_kph.unwrap() - 40.0 / 0.55).abs() < 1e-9);
        assert_eq!(m.probe_space_mean_kph, None);
    }

    #[test]
    fn detectors_without_occupancy_do_not_dilute_the_mean_occupancy() {
        let mut a = WindowAgg::default();
        a.add_detector(&reading(10, 0.2, 60));
        a.add_detector(&DetectorReading {
            occupancy: None,
            speed_kph: Some(90.0),
            ..reading(20, 0.0, 60)
        });
        let m = a.measures(60_000, None);
        assert_eq!((m.readings, m.volume, m.occupancy), (2, 30, Some(0.2)));
        // volume-weighted harmonic: 30 / (10 / the g-factor speed + 20 / 90)
        let g = g_factor_speed_kph(&reading(10, 0.2, 60)).unwrap();
        let want = 30.0 / (10.0 / g + 20.0 / 90.0);
        assert!((m.detector_speed_kph.unwrap() - want).abs() < 1e-9);
    }

    #[test]
    fn harmonic_g_factor_speeds_are_the_g_factor_of_the_totals() {
        let mut a = WindowAgg::default();
        a.add_detector(&reading(10, 0.05, 30));
        a.add_detector(&reading(5, 0.20, 30));
        // 15 vehicles in the minute at a mean occupancy of 0.125.
        let whole = g_factor_speed_kph(&reading(15, 0.125, 60)).unwrap();
        assert!((a.measures(60_000, None).detector_speed_kph.unwrap() - whole).abs() < 1e-9);
    }

    #[test]
    fn a_stopped_loop_reading_means_standstill_and_empty_ones_weigh_nothing() {
        let mut a = WindowAgg::default();
        let stopped = DetectorReading {
            speed_kph: Some(0.0),
            ..reading(3, 0.9, 30)
        };
        let empty = DetectorReading {
            speed_kph: Some(0.0),
            ..reading(0, 0.0, 30)
        };
        a.add_detector(&empty);
        assert_eq!(a.measures(60_000, None).detector_speed_kph, None);
        a.add_detector(&stopped);
        assert_eq!(a.measures(60_000, None).detector_speed_kph, Some(0.0));
    }

    #[test]
    fn time_sampled_pings_take_the_arithmetic_mean() {
        // A probe pinging at a red light: the time-sampled estimate stays the mean.
        let mut a = WindowAgg::default();
        a.add_probe(0.0, Some("a"), Sampling::Time);
        a.add_probe(50.0, Some("b"), Sampling::Time);
        let m = a.measures(60_000, None);
        assert_eq!(m.probe_space_mean_kph, Some(25.0));
        assert_eq!(m.probe_estimator, Some("time_mean"));
    }

    #[test]
    fn mixed_sampling_blends_the_estimates_by_ping_count() {
        let mut a = WindowAgg::default();
        for v in [30.0, 60.0] {
            a.add_probe(v, None, Sampling::Distance); // harmonic 40
        }
        a.add_probe(70.0, None, Sampling::Time); // arithmetic 70
        let m = a.measures(60_000, None);
        assert!((m.probe_space_mean_kph.unwrap() - (2.0 * 40.0 + 70.0) / 3.0).abs() < 1e-9);
        assert_eq!(m.probe_estimator, Some("blend"));
        assert!((m.probe_time_mean_kph.unwrap() - 160.0 / 3.0).abs() < 1e-9);
    }
}
