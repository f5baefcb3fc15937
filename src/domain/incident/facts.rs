//! Facts: one segment's final window as detection reads it — its measures, and what the
//! segment's own history says about them (the baseline deviation, the station's health and
//! occupancy two windows ago, what is usual at this time of day). They are computed where the
//! segment's windows are (the input task, see [`super::history`]) and travel to every
//! detection key that needs them, so a key never needs a neighbour's history, only its facts.
//!
//! Numbers are `f32`: a copy of a window's facts goes to several partitions, and replay and
//! the Kafka path read the very same values, so the rounding is the same everywhere.

use super::baseline::{take, Deviation, Usual, USUAL_BINS};
use super::probe::ProbeView;
use crate::domain::event::EpochMillis;

/// A detector station's reading in one window, once it passed its health checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StationFacts {
    /// Occupancy now, in percent.
    pub occ: f32,
    /// Occupancy two windows ago, in percent (None: no usable reading then).
    pub occ_2ago: Option<f32>,
    /// Relative speed drop over two windows, `(v(t−2) − v(t)) / v(t−2)`.
    pub speed_drop: Option<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Facts {
    pub window_start: EpochMillis,
    pub window_end: EpochMillis,
    /// Probe samples in the window.
    pub samples: u32,
    pub free_flow: f32,
    /// The window's speed from any source (probes first, then detectors).
    pub speed: Option<f32>,
    /// The speed detection judges: probes with enough samples, else a healthy station's.
    pub judged: Option<f32>,
    /// The baseline at this time of day, `(mean, sd)` with the sd floor applied.
    pub baseline: Option<(f32, f32)>,
    /// A speed good enough to read as "the segment downstream": the judged one, or the window
    /// speed of a few probes or a healthy station.
    pub seen: Option<f32>,
    pub station: Option<StationFacts>,
    /// The station read an empty road: zero volume and zero occupancy, with no probe on the
    /// segment to say otherwise (no usable station reading, but evidence for the segment
    /// upstream: see [`super::blockage`]).
    pub empty: bool,
    pub usual: Usual,
}

impl Facts {
    fn free_flow(&self) -> f64 {
        f64::from(self.free_flow).max(1.0)
    }

    /// The judged speed with its deviation from the baseline.
    pub fn view(&self) -> Option<ProbeView> {
        let speed = f64::from(self.judged?);
        let ff = self.free_flow();
        Some(ProbeView {
            speed,
            samples: self.samples,
            ratio: speed / ff,
            free_flow: ff,
            dev: self.baseline.map(|(mean, sd)| {
                let (mean, sd) = (f64::from(mean), f64::from(sd));
                Deviation {
                    mean,
                    sd,
                    z: (speed - mean) / sd,
                }
            }),
        })
    }

    /// What a segment upstream reads of this one: the view, else the window speed with no
    /// baseline.
    pub fn seen_view(&self) -> Option<ProbeView> {
        self.view().or_else(|| {
            let speed = f64::from(self.seen?);
            let ff = self.free_flow();
            Some(ProbeView {
                speed,
                samples: 0,
                ratio: speed / ff,
                free_flow: ff,
                dev: None,
            })
        })
    }

    /// Speed ratio from any source.
    pub fn ratio(&self) -> Option<f64> {
        self.speed.map(|v| f64::from(v) / self.free_flow())
    }

    /// Appends the binary form (little endian; absent numbers are NaN).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let f = |buf: &mut Vec<u8>, v: Option<f32>| {
            buf.extend_from_slice(&v.unwrap_or(f32::NAN).to_le_bytes())
        };
        buf.extend_from_slice(&self.window_start.to_le_bytes());
        buf.extend_from_slice(&self.window_end.to_le_bytes());
        buf.extend_from_slice(&self.samples.to_le_bytes());
        f(buf, Some(self.free_flow));
        f(buf, self.speed);
        f(buf, self.judged);
        f(buf, self.baseline.map(|b| b.0));
        f(buf, self.baseline.map(|b| b.1));
        f(buf, self.seen);
        f(buf, self.station.map(|s| s.occ));
        f(buf, self.station.and_then(|s| s.occ_2ago));
        f(buf, self.station.and_then(|s| s.speed_drop));
        buf.extend_from_slice(&self.usual.0);
        buf.push(u8::from(self.empty));
    }

    /// Reads what [`Facts::encode`] wrote, advancing `bytes`; None when they are not facts.
    pub fn decode(bytes: &mut &[u8]) -> Option<Facts> {
        Facts::decode_with(bytes, true)
    }

    /// [`Facts::decode`] of a form without the trailing `empty` byte (written before it
    /// existed) when `with_empty` is false; such facts read as not empty.
    pub fn decode_with(bytes: &mut &[u8], with_empty: bool) -> Option<Facts> {
        let num = |bytes: &mut &[u8]| {
            let v = f32::from_le_bytes(take(bytes)?);
            Some((!v.is_nan()).then_some(v))
        };
        let window_start = i64::from_le_bytes(take(bytes)?);
        let window_end = i64::from_le_bytes(take(bytes)?);
        let samples = u32::from_le_bytes(take(bytes)?);
        let free_flow = num(bytes)?.filter(|v| v.is_finite() && *v > 0.0)?;
        let speed = num(bytes)?;
        let judged = num(bytes)?;
        let baseline = match (num(bytes)?, num(bytes)?) {
            (Some(m), Some(s)) => Some((m, s)),
            _ => None,
        };
        let seen = num(bytes)?;
        let station = num(bytes)?;
        let occ_2ago = num(bytes)?;
        let speed_drop = num(bytes)?;
        let usual = Usual(take::<USUAL_BINS>(bytes)?);
        let empty = match with_empty.then(|| take::<1>(bytes)).flatten() {
            None if with_empty => return None,
            None | Some([0]) => false,
            Some([1]) => true,
            Some(_) => return None,
        };
        Some(Facts {
            window_start,
            window_end,
            samples,
            free_flow,
            speed,
            judged,
            baseline,
            seen,
            station: station.map(|occ| StationFacts {
                occ,
                occ_2ago,
                speed_drop,
            }),
            empty,
            usual,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn facts(start: i64, speed: f32, samples: u32) -> Facts {
        Facts {
            window_start: start,
            window_end: start + 60_000,
            samples,
            free_flow: 100.0,
            speed: Some(speed),
            judged: Some(speed),
            baseline: Some((90.0, 8.0)),
            seen: Some(speed),
            station: None,
            empty: false,
            usual: Usual::default(),
        }
    }

    #[test]
    fn views_by_hand_and_a_lossless_binary_form() {
        let mut f = facts(0, 50.0, 4);
        let v = f.view().unwrap();
        // z = (50 − 90) / 8 = −5.
        assert_eq!((v.ratio, v.z(), v.samples), (0.5, Some(-5.0), 4));
        f.judged = None;
        assert!(f.view().is_none());
        let seen = f.seen_view().unwrap();
        assert_eq!((seen.speed, seen.dev), (50.0, None));
        f.station = Some(StationFacts {
            occ: 12.5,
            occ_2ago: None,
            speed_drop: Some(0.25),
        });
        f.usual.0[3] = 41;
        f.empty = true;
        let mut buf = Vec::new();
        f.encode(&mut buf);
        let mut rest = buf.as_slice();
        assert_eq!(Facts::decode(&mut rest), Some(f));
        assert!(rest.is_empty());
        assert_eq!(Facts::decode(&mut &buf[..buf.len() - 1]), None);
    }
}
