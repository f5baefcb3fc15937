//! `[limits]` and `[state]`: what bounds a worker's memory (see `domain::limits`). Defaults
//! live here and nowhere else.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Duration};
use crate::domain::limits::{Budget, Limits};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Distinct segments one worker holds state for, over all its input tasks (0 = no bound).
    /// Records of a new segment beyond it go to the dead-letter topic, kind `over_capacity`.
    pub max_segments: u64,
    /// Open (segment, window) accumulators one worker holds, over all its input tasks (0 = no
    /// bound). A record that would open more goes to the dead-letter topic, kind
    /// `over_capacity`.
    pub max_open_windows: u64,
    /// Segments outside the catalogue one worker's detection partitions hold (0 = no bound;
    /// the catalogue's own are bounded by it). Windows and reports of a new one beyond it are
    /// not used for detection, and counted.
    pub max_detection_keys: u64,
    /// Final windows one worker's detection partitions hold waiting for every input
    /// partition's watermark (0 = no bound). Beyond it the oldest waiting window is judged at
    /// once, as if the partitions holding it back were idle, and counted.
    pub max_waiting_windows: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            // Measured with `cargo bench --bench flood` (README, "State size"): a segment with
            // a day of windows behind it (learned free-flow sketch, detection history) and its
            // open windows holds about 8.3 KB, so 35 000 of them take about 290 MB above the
            // ~100 MiB base: under 80 % of the 512 MiB the shipped pod may use.
            max_segments: 35_000,
            // With the default windows (60 s, grace 30 s) a segment has records in at most 2
            // window starts that have not closed: 70 000 for 35 000 segments, which the
            // segment figure above already counts. The rest is room for a longer grace or
            // hopping windows: 30 000 more at the 307 bytes an open window costs (`cargo bench
            // --bench state`) are about 9 MB.
            max_open_windows: 100_000,
            // A detection key outside the catalogue costs its id twice and a map slot (~150
            // bytes) while quiet, its state (~30 bytes to ~1 KB) while not; 100 000 take
            // 15–100 MB. A worker's input tasks hold at most 35 000 segments, and its
            // detection partitions a share of every worker's.
            max_detection_keys: 100_000,
            // A waiting final window (one segment's facts in one detection partition) holds
            // about 250 bytes with its map slot; 250 000 are about 60 MB: a few windows of
            // skew for 35 000 segments and their neighbourhood copies.
            max_waiting_windows: 250_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Evict a segment's long-lived state (tombstone to its changelog) once its last window
    /// ended this long ago in its partition's stream time (0 = keep forever).
    pub retention: Duration,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_millis(7 * 24 * 3_600_000),
        }
    }
}

impl LimitsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("limits.max_segments", self.max_segments),
            ("limits.max_open_windows", self.max_open_windows),
            ("limits.max_detection_keys", self.max_detection_keys),
            ("limits.max_waiting_windows", self.max_waiting_windows),
        ] {
            if value > u64::from(u32::MAX) {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be at most {} (0 = no bound)", u32::MAX),
                ));
            }
        }
        Ok(())
    }
}

impl StateConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.retention.millis() < 0 {
            return Err(ConfigError::invalid(
                "state.retention",
                "must not be negative (0 = keep forever)",
            ));
        }
        Ok(())
    }
}

fn bound(n: u64) -> Option<usize> {
    Some(n as usize).filter(|n| *n > 0)
}

/// The memory rules of one worker (or one replay): a fresh budget each call.
pub fn memory_limits(limits: &LimitsConfig, state: &StateConfig) -> Limits {
    Limits::new(bound(limits.max_segments), state.retention.millis())
        .with_max_open_windows(bound(limits.max_open_windows))
}

/// The detection budgets of one worker (or one replay), fresh each call: keys outside the
/// catalogue, and windows waiting for the watermark.
pub fn detection_limits(limits: &LimitsConfig) -> (Arc<Budget>, Arc<Budget>) {
    use crate::domain::limits::{MAX_DETECTION_KEYS, MAX_WAITING_WINDOWS};
    let keys = Budget::new(MAX_DETECTION_KEYS, bound(limits.max_detection_keys));
    let waiting = Budget::new(MAX_WAITING_WINDOWS, bound(limits.max_waiting_windows));
    (Arc::new(keys), Arc::new(waiting))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn load(set: &str) -> Result<Config, crate::config::ConfigError> {
        Config::load(None, vec![], &[set.to_string()])
    }

    #[test]
    fn defaults_bad_values_and_unknown_keys_name_the_key() {
        let c = Config::load(None, vec![], &[]).unwrap();
        assert_eq!(c.limits.max_segments, 35_000);
        assert_eq!(c.state.retention.to_string(), "168h");
        let l = super::memory_limits(&c.limits, &c.state);
        assert_eq!(l.segments.max(), Some(35_000));
        assert_eq!(l.windows.max(), Some(100_000));
        let (keys, waiting) = super::detection_limits(&c.limits);
        assert_eq!((keys.max(), waiting.max()), (Some(100_000), Some(250_000)));
        let off = load("limits.max_detection_keys=0").unwrap();
        assert_eq!(super::detection_limits(&off.limits).0.max(), None);
        let off = load("limits.max_waiting_windows=0").unwrap();
        assert_eq!(super::detection_limits(&off.limits).1.max(), None);
        assert_eq!(l.retention_ms, Some(604_800_000));
        let off = load("limits.max_segments=0").unwrap();
        assert_eq!(
            super::memory_limits(&off.limits, &off.state).segments.max(),
            None
        );
        let off = load("limits.max_open_windows=0").unwrap();
        let l = super::memory_limits(&off.limits, &off.state);
        assert_eq!((l.windows.max(), l.segments.max()), (None, Some(35_000)));
        for (set, key) in [
            ("limits.max_segments=-1", "limits.max_segments"),
            ("limits.max_segments=\"many\"", "limits.max_segments"),
            ("limits.max_segments=5000000000", "limits.max_segments"),
            ("limits.max_open_windows=-3", "limits.max_open_windows"),
            ("limits.max_open_windows=\"all\"", "limits.max_open_windows"),
            (
                "limits.max_open_windows=5000000000",
                "limits.max_open_windows",
            ),
            ("state.retention=-5s", "state.retention"),
            ("state.retention=7d", "state.retention"),
            ("limits.max_windows=3", "max_windows"),
        ] {
            let e = load(set).unwrap_err().to_string();
            assert!(e.contains(key), "{set}: {e}");
        }
        let env = vec![("ROADPULSE_STATE_RETENTION".to_string(), "2h".to_string())];
        let c = Config::load(None, env, &[]).unwrap();
        assert_eq!(c.state.retention.millis(), 7_200_000);
    }
}
