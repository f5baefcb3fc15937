//! How far the published speeds are from the true space-mean speed: the relative error
//! `|speed − true| / true` of final congestion windows against the truth windows, kept per
//! kind of estimate, with the median and the mean.
//!
//! Kinds: `probe` (`speed_kph` of windows measured from probes with at least
//! [`MIN_PROBE_SAMPLES`] samples), `probe_mean` (`mean_speed_kph`, the arithmetic mean of the
//! same windows' pings, for comparison), and `detector` (`speed_kph` measured from detectors).
//! `zero_windows` counts windows that read 0 km/h while the true speed was above 5 km/h.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::output::CongestionEvent;

/// Probe samples a window needs before its probe speed is judged.
pub const MIN_PROBE_SAMPLES: u32 = 3;
/// A true speed below this is a standstill, where a relative error means little.
const STANDSTILL_KPH: f64 = 5.0;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SpeedError {
    pub windows: u64,
    pub median: Option<f64>,
    pub mean: Option<f64>,
    pub zero_windows: u64,
}

#[derive(Debug, Default)]
pub struct SpeedErrors {
    errors: BTreeMap<&'static str, (Vec<f64>, u64)>,
}

impl SpeedErrors {
    /// Judges one final window against its true speed.
    pub fn add(&mut self, e: &CongestionEvent, true_kph: f64) {
        if true_kph < STANDSTILL_KPH {
            return;
        }
        let probe = e.speed_source == "probe";
        if probe && e.samples < MIN_PROBE_SAMPLES {
            return;
        }
        let kind = if probe { "probe" } else { "detector" };
        if e.speed_source == "none" {
            return;
        }
        self.push(kind, e.speed_kph, true_kph);
        if probe {
            self.push("probe_mean", e.mean_speed_kph, true_kph);
        }
    }

    fn push(&mut self, kind: &'static str, speed: Option<f64>, true_kph: f64) {
        let Some(v) = speed else {
            return;
        };
        let slot = self.errors.entry(kind).or_default();
        slot.0.push((v - true_kph).abs() / true_kph);
        slot.1 += u64::from(v == 0.0);
    }

    pub fn report(&self) -> BTreeMap<String, SpeedError> {
        self.errors
            .iter()
            .map(|(kind, (errors, zeros))| {
                let mut sorted = errors.clone();
                sorted.sort_by(f64::total_cmp);
                let n = sorted.len();
                let median = (n > 0).then(|| {
                    if n % 2 == 1 {
                        sorted[n / 2]
                    } else {
                        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
                    }
                });
                let mean = (n > 0).then(|| sorted.iter().sum::<f64>() / n as f64);
                let e = SpeedError {
                    windows: n as u64,
                    median,
                    mean,
                    zero_windows: *zeros,
                };
                (kind.to_string(), e)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(source: &str, samples: u32, speed: f64, mean: f64) -> CongestionEvent {
        let mut e: CongestionEvent = serde_json::from_str(
            r#"{"segment_id":"a","window_start":0,"window_end":60000,"samples":0,
            "vehicles":0,"speed_kph":null,"speed_source":"none","mean_speed_kph":null,
            "p85_speed_kph":null,"min_speed_kph":null,"max_speed_kph":null,"volume":0,
            "flow_vph":0.0,"occupancy":null,"free_flow_kph":100.0,"free_flow_source":"catalog",
            "speed_ratio":null,"travel_time_index":null,"level":"free","los":"A",
            "confidence":0.5,"final":true}"#,
        )
        .unwrap();
        e.speed_source = source.to_string().into();
        e.samples = samples;
        e.speed_kph = Some(speed);
        e.mean_speed_kph = Some(mean);
        e
    }

    #[test]
    fn median_mean_and_zero_windows_by_hand() {
        let mut s = SpeedErrors::default();
        s.add(&window("probe", 5, 0.0, 40.0), 50.0); // error 1.0, a zero window
        s.add(&window("probe", 5, 45.0, 50.0), 50.0); // 0.1
        s.add(&window("probe", 3, 60.0, 48.0), 50.0); // 0.2
        s.add(&window("probe", 2, 10.0, 10.0), 50.0); // too few samples
        s.add(&window("probe", 9, 10.0, 10.0), 2.0); // standstill: not judged
        s.add(&window("detector", 0, 55.0, 0.0), 50.0); // 0.1
        let r = s.report();
        let p = &r["probe"];
        assert_eq!((p.windows, p.zero_windows), (3, 1));
        assert!((p.median.unwrap() - 0.2).abs() < 1e-12);
        assert!((p.mean.unwrap() - 1.3 / 3.0).abs() < 1e-12);
        let m = &r["probe_mean"];
        assert!((m.median.unwrap() - 0.04).abs() < 1e-12); // 0.2, 0, 0.04
        assert_eq!(
            (r["detector"].windows, r["detector"].median),
            (1, Some(0.1))
        );
    }
}
