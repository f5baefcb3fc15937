//! Probe vehicles' tracks along a segment within one window: the first and the last ping
//! (time, position from the segment's upstream end) of each vehicle whose pings carry
//! `offset_m`. Distance over time summed over the vehicles, `Σ Δx / Σ Δt`, is the space-mean
//! speed of the tracked vehicles (Edie's definition, over them); for a vehicle whose pings
//! span the segment its share is the segment length over its traversal time.
//!
//! Kept only for pings that give a position, so windows without them pay nothing. The result
//! does not depend on the order the pings arrive in (ties in time are broken by position).

use super::aggregate::fnv1a_32;
use super::event::EpochMillis;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tracks(Vec<Track>);

#[derive(Debug, Clone, Copy, PartialEq)]
struct Track {
    first_ts: EpochMillis,
    last_ts: EpochMillis,
    /// 32-bit hash of the vehicle id (as in the window's vehicle set); sorted by it.
    vehicle: u32,
    first_m: f32,
    last_m: f32,
}

impl Tracks {
    pub fn add(&mut self, vehicle_id: &str, ts: EpochMillis, offset_m: f64) {
        let vehicle = fnv1a_32(vehicle_id.as_bytes());
        let x = offset_m as f32;
        match self.0.binary_search_by_key(&vehicle, |t| t.vehicle) {
            Ok(i) => {
                let t = &mut self.0[i];
                if (ts, x) < (t.first_ts, t.first_m) {
                    (t.first_ts, t.first_m) = (ts, x);
                }
                if (ts, x) > (t.last_ts, t.last_m) {
                    (t.last_ts, t.last_m) = (ts, x);
                }
            }
            Err(i) => self.0.insert(
                i,
                Track {
                    first_ts: ts,
                    last_ts: ts,
                    vehicle,
                    first_m: x,
                    last_m: x,
                },
            ),
        }
    }

    /// `(speed km/h, vehicles)` over the vehicles seen at two different times, or None. A
    /// vehicle whose position went backwards (position noise while standing) moved 0 m.
    pub fn speed_kph(&self) -> Option<(f64, u32)> {
        let (mut metres, mut ms, mut n) = (0.0, 0i64, 0u32);
        for t in self.0.iter().filter(|t| t.last_ts > t.first_ts) {
            metres += f64::from((t.last_m - t.first_m).max(0.0));
            ms += t.last_ts - t.first_ts;
            n += 1;
        }
        (n > 0).then(|| (metres / (ms as f64 / 1000.0) * 3.6, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_over_time_of_the_tracked_vehicles() {
        let mut t = Tracks::default();
        // a: 300 m in 20 s (54 km/h); b: waits 40 s at a red light, then 100 m in 10 s;
        // c: one ping only (not tracked).
        for (id, ts, x) in [
            ("a", 10_000, 100.0),
            ("b", 0, 400.0),
            ("a", 30_000, 400.0),
            ("b", 40_000, 400.0),
            ("c", 5_000, 50.0),
            ("a", 20_000, 250.0),
            ("b", 50_000, 500.0),
        ] {
            t.add(id, ts, x);
        }
        let (v, n) = t.speed_kph().unwrap();
        assert_eq!(n, 2);
        // (300 + 100) m over (20 + 50) s.
        assert!((v - 400.0 / 70.0 * 3.6).abs() < 1e-9, "{v}");
    }

    #[test]
    fn order_of_arrival_does_not_matter_and_backwards_is_standing() {
        let pings = [(0, 10.0), (10_000, 8.0), (10_000, 9.0), (20_000, 5.0)];
        let mut forward = Tracks::default();
        let mut backward = Tracks::default();
        for (ts, x) in pings {
            forward.add("v", ts, x);
        }
        for (ts, x) in pings.iter().rev() {
            backward.add("v", *ts, *x);
        }
        assert_eq!(forward, backward);
        assert_eq!(forward.speed_kph(), Some((0.0, 1)));
        let mut one = Tracks::default();
        one.add("v", 0, 1.0);
        assert_eq!(one.speed_kph(), None);
    }
}
