//! What detection keeps per segment where the segment's windows are computed (the input task):
//! its time-of-day [`Baseline`] and its detector [`Station`]'s last readings. Both depend on
//! the segment's own windows only, in window order, so the input task that owns the segment
//! keeps them, mirrors them to its state changelog with the segment's other long-lived state,
//! and hands each final window on as [`Facts`] — the same wherever and however often the
//! window is read downstream.
//!
//! A station judges its own data: a window with no reading, with zero volume and zero
//! occupancy, or repeating exactly the readings of the two windows before it (a stuck loop) is
//! not used. Zero volume and zero occupancy is also what an empty road behind a blockage reads:
//! such a window is passed on as `empty` (unless a probe on the segment shows it is not), and
//! the blockage test reads it as an empty road when the segment upstream is queued
//! ([`super::blockage`]) — never this station alone, and never as an occupancy for the pair
//! algorithms.

use super::baseline::{take, Baseline};
use super::facts::{Facts, StationFacts};
use super::probe::ProbeSettings;
use crate::domain::event::EpochMillis;
use crate::domain::output::CongestionEvent;

/// One window's station reading (NaN: absent).
#[derive(Debug, Clone, Copy)]
struct Reading {
    start: EpochMillis,
    volume: u32,
    raw_occ: f32,
    /// Usable occupancy (%), NaN when the reading failed its checks.
    occ: f32,
    /// The window speed, when the reading was usable.
    speed: f32,
}

fn some(v: f32) -> Option<f32> {
    (!v.is_nan()).then_some(v)
}

/// The last two windows of one detector station.
#[derive(Debug, Clone, Default)]
pub struct Station {
    last: [Option<Reading>; 2],
}

impl Station {
    fn at(&self, start: EpochMillis) -> Option<&Reading> {
        self.last.iter().flatten().find(|r| r.start == start)
    }

    /// Folds in the window `[start, start + size)`; returns its facts when it is usable.
    fn push(
        &mut self,
        start: EpochMillis,
        size: i64,
        volume: u64,
        occupancy: Option<f64>,
        speed: Option<f64>,
    ) -> Option<StationFacts> {
        let raw = occupancy.map(|o| (volume.min(u64::from(u32::MAX)) as u32, o as f32));
        let same = |r: Option<&Reading>| {
            r.is_some_and(|r| raw == Some((r.volume, r.raw_occ)) && !r.raw_occ.is_nan())
        };
        let dead = raw.is_some_and(|(v, o)| v == 0 && o == 0.0);
        let stuck = same(self.at(start - size)) && same(self.at(start - 2 * size));
        let usable = raw.filter(|_| !dead && !stuck);
        let reading = Reading {
            start,
            volume: raw.map_or(0, |r| r.0),
            raw_occ: raw.map_or(f32::NAN, |r| r.1),
            occ: usable.map_or(f32::NAN, |(_, o)| o * 100.0),
            speed: usable.and(speed).map_or(f32::NAN, |v| v as f32),
        };
        let before = self.at(start - 2 * size).copied();
        self.last = [self.last[1].filter(|r| r.start < start), Some(reading)];
        let occ = some(reading.occ)?;
        Some(StationFacts {
            occ,
            occ_2ago: before.and_then(|r| some(r.occ)),
            speed_drop: match (before.and_then(|r| some(r.speed)), some(reading.speed)) {
                (Some(a), Some(b)) if a > 0.0 => Some((a - b) / a),
                _ => None,
            },
        })
    }
}

/// A segment's detection history.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub baseline: Baseline,
    station: Station,
}

impl History {
    /// Folds in a final window of the segment (windows come in start order) and returns what
    /// detection reads of it. The baseline learns the judged speed (else a few probes' speed:
    /// a quiet hour has few windows with enough samples, but its baseline must still fill).
    pub fn observe(&mut self, e: &CongestionEvent, s: &ProbeSettings) -> Facts {
        let size = e.window_end - e.window_start;
        let probe_speed = (e.speed_source == "probe").then_some(e.speed_kph).flatten();
        let station = self
            .station
            .push(e.window_start, size, e.volume, e.occupancy, e.speed_kph);
        let ff = e.free_flow_kph.max(1.0);
        let judged = match probe_speed {
            Some(v) if e.samples >= s.min_samples => Some(v),
            Some(_) => None,
            None => e.speed_kph.filter(|_| station.is_some()),
        };
        let floor = s.sd_floor_ratio * ff;
        let baseline = judged
            .and_then(|v| {
                self.baseline
                    .deviation(e.window_start, v, s.min_history, floor)
            })
            .map(|d| (d.mean as f32, d.sd as f32));
        let seen_ok = e.samples > 0 || station.is_some();
        let empty = e.samples == 0 && e.volume == 0 && e.occupancy == Some(0.0);
        let facts = Facts {
            window_start: e.window_start,
            window_end: e.window_end,
            samples: e.samples,
            free_flow: ff as f32,
            speed: e.speed_kph.map(|v| v as f32),
            judged: judged.map(|v| v as f32),
            baseline,
            seen: judged.or(e.speed_kph.filter(|_| seen_ok)).map(|v| v as f32),
            station,
            empty,
            usual: self.baseline.usual(e.window_start, ff, s.min_history / 3.0),
        };
        if let Some(v) = judged.or(probe_speed) {
            self.baseline.learn(e.window_start, v, s.min_history, floor);
        }
        facts
    }

    /// Appends the binary form (for the state changelog).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        self.baseline.encode(buf);
        for r in &self.station.last {
            match r {
                None => buf.push(0),
                Some(r) => {
                    buf.push(1);
                    buf.extend_from_slice(&r.start.to_le_bytes());
                    buf.extend_from_slice(&r.volume.to_le_bytes());
                    for v in [r.raw_occ, r.occ, r.speed] {
                        buf.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
    }

    pub fn decode(bytes: &mut &[u8]) -> Option<History> {
        let baseline = Baseline::decode(bytes)?;
        let mut station = Station::default();
        for slot in station.last.iter_mut() {
            *slot = match take::<1>(bytes)? {
                [0] => None,
                [1] => Some(Reading {
                    start: i64::from_le_bytes(take(bytes)?),
                    volume: u32::from_le_bytes(take(bytes)?),
                    raw_occ: f32::from_le_bytes(take(bytes)?),
                    occ: f32::from_le_bytes(take(bytes)?),
                    speed: f32::from_le_bytes(take(bytes)?),
                }),
                _ => return None,
            };
        }
        Some(History { baseline, station })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: i64 = 60_000;

    fn station(s: &mut Station, k: i64, volume: u64, occ: f64) -> Option<StationFacts> {
        s.push(k * W, W, volume, Some(occ), Some(80.0 - occ * 100.0))
    }

    #[test]
    fn station_measures_by_hand_and_failed_loops() {
        let mut s = Station::default();
        station(&mut s, 0, 20, 0.12);
        station(&mut s, 1, 21, 0.12);
        let f = station(&mut s, 2, 9, 0.05).unwrap();
        // Occupancy 5 %, 12 % two windows ago; speed 75 now, 68 then: drop (68 − 75)/68.
        assert!((f.occ - 5.0).abs() < 1e-4);
        assert!((f.occ_2ago.unwrap() - 12.0).abs() < 1e-4);
        assert!((f.speed_drop.unwrap() - (68.0 - 75.0) / 68.0).abs() < 1e-4);
        assert_eq!(station(&mut s, 3, 0, 0.0), None, "a dead loop");
        assert!(station(&mut s, 4, 17, 0.2).is_some());
        assert!(station(&mut s, 5, 17, 0.2).is_some());
        assert_eq!(station(&mut s, 6, 17, 0.2), None, "third identical reading");
        // Window 8 follows a gap: nothing two windows ago (window 6 failed, 7 absent).
        let f = station(&mut s, 8, 10, 0.1).unwrap();
        assert_eq!(f.occ_2ago, None);
        assert_eq!(s.push(9 * W, W, 5, None, Some(50.0)), None, "no reading");
    }

    fn event(
        start: i64,
        samples: u32,
        speed: Option<f64>,
        source: &'static str,
    ) -> CongestionEvent {
        let mut e: CongestionEvent = serde_json::from_str(
            r#"{"segment_id":"s","window_start":0,"window_end":60000,"samples":0,"vehicles":0,
            "speed_kph":null,"speed_source":"none","mean_speed_kph":null,"p85_speed_kph":null,
            "min_speed_kph":null,"max_speed_kph":null,"volume":0,"flow_vph":0.0,"occupancy":null,
            "free_flow_kph":100.0,"free_flow_source":"catalog","speed_ratio":null,
            "travel_time_index":null,"level":"free","los":"A","confidence":1.0,"final":true}"#,
        )
        .unwrap();
        (e.window_start, e.window_end) = (start, start + W);
        (e.samples, e.speed_kph, e.speed_source) = (samples, speed, source.into());
        e
    }

    #[test]
    fn judged_speed_baseline_and_learning() {
        let s = ProbeSettings::default();
        let mut h = History::default();
        for day in 0..16 {
            h.observe(&event(day * 86_400_000, 5, Some(90.0), "probe"), &s);
        }
        let f = h.observe(&event(16 * 86_400_000, 5, Some(50.0), "probe"), &s);
        let v = f.view().unwrap();
        // 16 windows of 90 (≥ 15 to trust): sd 0, floor 8 → z = (50 − 90) / 8.
        assert_eq!(v.z(), Some(-5.0));
        assert_eq!(f.usual.ratio(6), Some(0.9), "the window's own bin");
        let few = h.observe(&event(17 * 86_400_000, 2, Some(40.0), "probe"), &s);
        assert_eq!((few.judged, few.seen), (None, Some(40.0)), "2 < 3 samples");
        let none = h.observe(&event(18 * 86_400_000, 0, Some(60.0), "detector"), &s);
        assert_eq!(none.judged, None, "detector speed without a usable station");
        let mut buf = Vec::new();
        h.encode(&mut buf);
        let mut again = Vec::new();
        History::decode(&mut buf.as_slice())
            .unwrap()
            .encode(&mut again);
        assert_eq!(again, buf);
        assert!(History::decode(&mut &buf[..buf.len() - 2]).is_none());
    }
}
