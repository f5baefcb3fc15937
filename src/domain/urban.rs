//! Signalised streets, after the HCM urban street segment method: a segment's travel speed is
//! its length over the running time plus the control delay at its downstream signal, and on
//! such a street congestion is delay beyond the delay the signal causes anyway.
//!
//! - The **base free-flow speed** is the catalogue's `free_flow_kph` (mid-block, no signal).
//!   Level of service compares the travel speed with it (A > 80 %, B > 67 %, C > 50 %,
//!   D > 40 %, E > 30 %, F), so the normal signal delay counts, as the HCM has it.
//! - The **reference speed** is the travel speed of the uncongested street: the length over
//!   the free-flow running time plus the normal control delay, the HCM uniform delay at low
//!   flow with random arrivals, `0.5·C·(1 − g/C)²` (cycle C, effective green g). The speed
//!   ratio, the travel time index and the congestion level compare with it, so a street that
//!   only waits at its red lights is `free`.
//!
//! Not modelled: progression between signals (the arrival type's adjustment), the
//! incremental delay of the HCM's d2 (it is what the measured speed shows), and LOS F for a
//! volume-to-capacity ratio above 1 (roadpulse does not know the capacity).

use super::catalog::SegmentInfo;

/// Timing of the signal at a segment's downstream end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signal {
    pub cycle_s: f64,
    /// Effective green time of the segment's through movement.
    pub green_s: f64,
}

impl Signal {
    /// Mean control delay per vehicle of an uncongested approach: `0.5·C·(1 − g/C)²`.
    pub fn normal_delay_s(&self) -> f64 {
        let red_share = 1.0 - self.green_s / self.cycle_s;
        0.5 * self.cycle_s * red_share * red_share
    }
}

/// What the congestion step knows of a segment's road, looked up once from the catalogue.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Road {
    pub free_flow_kph: Option<f64>,
    pub length_m: Option<f64>,
    /// Normal control delay at the downstream signal (signalised segments only).
    pub signal_delay_s: Option<f64>,
}

impl Road {
    pub fn from_catalog(info: Option<&SegmentInfo>) -> Road {
        let Some(info) = info else {
            return Road::default();
        };
        Road {
            free_flow_kph: Some(info.free_flow_kph),
            length_m: info.length_m,
            signal_delay_s: info.signal.map(|s| s.normal_delay_s()),
        }
    }

    /// The speed of the uncongested segment: `free_flow` without a signal, the travel speed
    /// with the normal signal delay with one.
    pub fn reference_kph(&self, free_flow_kph: f64) -> f64 {
        match (self.length_m, self.signal_delay_s) {
            (Some(l), Some(d)) if l > 0.0 && free_flow_kph > 0.0 => {
                let running_s = l / (free_flow_kph / 3.6);
                l / (running_s + d) * 3.6
            }
            _ => free_flow_kph,
        }
    }

    /// The travel speed of a vehicle running at `running_kph` that also waits the normal
    /// signal delay: a loop mid-block measures running speed, not the wait at the stop
    /// line. None without a signal.
    pub fn with_signal_delay(&self, running_kph: f64) -> Option<f64> {
        let (l, d) = (self.length_m?, self.signal_delay_s?);
        (running_kph > 0.0 && l > 0.0).then(|| l / (l / (running_kph / 3.6) + d) * 3.6)
    }

    /// Seconds per vehicle beyond the reference travel time at `speed_kph` (negative when
    /// faster); None without a length or at standstill.
    pub fn delay_s(&self, speed_kph: f64, reference_kph: f64) -> Option<f64> {
        let l = self.length_m.filter(|l| *l > 0.0)?;
        (speed_kph > 0.0).then(|| l / (speed_kph / 3.6) - l / (reference_kph / 3.6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcm_uniform_delay_and_reference_speed_by_hand() {
        // C = 90 s, g = 45 s: 0.5 · 90 · 0.25 = 11.25 s.
        let s = Signal {
            cycle_s: 90.0,
            green_s: 45.0,
        };
        assert!((s.normal_delay_s() - 11.25).abs() < 1e-12);
        // 600 m at 54 km/h is 40 s of running, plus 11.25 s: 600 / 51.25 m/s = 42.146 km/h.
        let road = Road {
            free_flow_kph: Some(54.0),
            length_m: Some(600.0),
            signal_delay_s: Some(s.normal_delay_s()),
        };
        let reference = road.reference_kph(54.0);
        assert!((reference - 600.0 / 51.25 * 3.6).abs() < 1e-9);
        // At 27 km/h the segment takes 80 s: 28.75 s beyond the reference's 51.25 s.
        assert!((road.delay_s(27.0, reference).unwrap() - 28.75).abs() < 1e-9);
        assert_eq!(road.delay_s(0.0, reference), None);
        // A loop reading 54 km/h mid-block: the travel speed is the reference speed.
        assert!((road.with_signal_delay(54.0).unwrap() - reference).abs() < 1e-9);
        assert_eq!(road.with_signal_delay(0.0), None);
    }

    #[test]
    fn without_a_signal_the_reference_is_the_free_flow_speed() {
        let road = Road {
            free_flow_kph: Some(100.0),
            length_m: Some(800.0),
            signal_delay_s: None,
        };
        assert_eq!(road.reference_kph(100.0), 100.0);
        assert_eq!(road.with_signal_delay(80.0), None);
        assert_eq!(Road::default().reference_kph(50.0), 50.0);
        // 800 m at 50 km/h is 57.6 s, 28.8 s more than at 100 km/h.
        assert!((road.delay_s(50.0, 100.0).unwrap() - 28.8).abs() < 1e-9);
    }
}
