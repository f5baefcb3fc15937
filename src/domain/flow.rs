//! Vendor flow readings in a window. A TomTom or HERE reading is a speed many vehicles made
//! over the vendor's own road segment, with a confidence: an aggregate, not a ping. Readings
//! are weighted by that confidence. Their speed is the weighted harmonic mean (the mean travel
//! time over the segment, which is what averaging space-mean speeds over time must keep);
//! their free-flow speed the weighted mean; their confidence the plain mean. A closed road is
//! a standstill.

use super::event::FlowReading;

/// Σ of a window's vendor flow readings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowAgg {
    readings: u32,
    weight: f64,
    /// Σ weight / speed and Σ 1 / speed over readings above standstill.
    weight_per_speed: f64,
    per_speed: f64,
    /// Readings at standstill (or closed), and their weight: any with weight, or any when
    /// every weight is 0, makes the harmonic mean 0.
    standstill: u32,
    standstill_weight: f64,
    free_flow_weighted: f64,
    free_flow_weight: f64,
    closed: bool,
}

/// What a window's vendor flow readings say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowMeasures {
    pub readings: u32,
    /// Confidence-weighted harmonic mean of the speeds (unweighted when every weight is 0).
    pub speed_kph: f64,
    /// Confidence-weighted mean of the free-flow speeds the readings carried.
    pub free_flow_kph: Option<f64>,
    /// Mean confidence of the readings.
    pub confidence: f64,
    /// Some reading said the road is closed.
    pub closed: bool,
}

impl FlowAgg {
    pub fn add(&mut self, f: &FlowReading) {
        let w = f.confidence;
        self.readings += 1;
        self.weight += w;
        if f.speed_kph > 0.0 {
            self.weight_per_speed += w / f.speed_kph;
            self.per_speed += 1.0 / f.speed_kph;
        } else {
            self.standstill += 1;
            self.standstill_weight += w;
        }
        if let Some(ff) = f.free_flow_kph {
            self.free_flow_weighted += w * ff;
            self.free_flow_weight += w;
        }
        self.closed |= f.closed;
    }

    pub fn measures(&self) -> FlowMeasures {
        let n = f64::from(self.readings.max(1));
        let weighted = self.weight > 0.0;
        let speed_kph = match (weighted, self.standstill > 0) {
            (true, _) if self.standstill_weight > 0.0 => 0.0,
            (true, _) => self.weight / self.weight_per_speed,
            (false, true) => 0.0,
            (false, false) => n / self.per_speed,
        };
        FlowMeasures {
            readings: self.readings,
            speed_kph,
            free_flow_kph: (self.free_flow_weight > 0.0)
                .then(|| self.free_flow_weighted / self.free_flow_weight),
            confidence: self.weight / n,
            closed: self.closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::aggregate::WindowAgg;
    use crate::domain::sampling::Sampling;

    fn flow(speed: f64, confidence: f64, free_flow: Option<f64>) -> FlowReading {
        FlowReading {
            speed_kph: speed,
            free_flow_kph: free_flow,
            confidence,
            closed: false,
        }
    }

    #[test]
    fn confidence_weighted_travel_times_kept_apart_from_probes() {
        let mut a = WindowAgg::default();
        a.add_flow(&flow(30.0, 1.0, Some(80.0)));
        a.add_flow(&flow(60.0, 0.5, Some(90.0)));
        a.add_probe(100.0, Some("bus"), Sampling::Time);
        let m = a.measures(60_000, None);
        let f = m.flow.unwrap();
        // 1.5 / (1/30 + 0.5/60) = 36
        assert!((f.speed_kph - 36.0).abs() < 1e-9, "{f:?}");
        assert!((f.free_flow_kph.unwrap() - (80.0 + 45.0) / 1.5).abs() < 1e-9);
        assert_eq!((f.readings, f.confidence, f.closed), (2, 0.75, false));
        // the probe statistics know nothing of the vendor readings
        assert_eq!((m.samples, m.probe_time_mean_kph), (1, Some(100.0)));
        assert_eq!(WindowAgg::default().measures(60_000, None).flow, None);
    }

    #[test]
    fn a_closure_is_a_standstill() {
        let mut a = FlowAgg::default();
        a.add(&flow(70.0, 0.9, None));
        a.add(&FlowReading {
            closed: true,
            ..flow(0.0, 0.9, None)
        });
        let f = a.measures();
        assert_eq!((f.speed_kph, f.closed), (0.0, true));
    }

    #[test]
    fn zero_confidence_has_no_say_unless_nothing_else_does() {
        let mut a = FlowAgg::default();
        a.add(&flow(40.0, 1.0, None));
        a.add(&flow(0.0, 0.0, None));
        assert_eq!(a.measures().speed_kph, 40.0);
        let mut b = FlowAgg::default();
        b.add(&flow(40.0, 0.0, None));
        b.add(&flow(60.0, 0.0, None));
        let f = b.measures();
        assert!((f.speed_kph - 48.0).abs() < 1e-9, "2 / (1/40 + 1/60) = 48");
        assert_eq!(f.confidence, 0.0);
    }
}
