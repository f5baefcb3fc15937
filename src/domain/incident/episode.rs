//! Episodes, and the ownership rule that makes every incident raised once.
//!
//! An **episode** of a segment, under one decision rule, is a stretch of its windows that
//! begins when the rule decides on the segment and lasts while the segment stays impacted,
//! plus a cooldown after it (the queue discharging behind a cleared blockage looks like a new
//! edge). Whether an episode opens depends only on the segment's own signals, which depend only
//! on the facts of the segment and its direct neighbours — so every detection key that holds
//! those facts computes the same episodes for the segment, whichever partition it is in.
//!
//! **Ownership.** An incident is raised by the key of the segment it is on, when that
//! segment's episode opens and no direct neighbour has an episode that is open or cooling down,
//! or one that opens in the same window with priority (a segment downstream wins over one
//! upstream: the head of a queue over its tail; between two segments that are both, the smaller
//! id). An episode that was not raised (a *shadow*) still blocks its own neighbours, so a
//! sequence of adjacent episodes — a queue discharging from its front, a slowdown spreading
//! upstream — is one incident, raised by the segment where it began. Hence two neighbouring
//! keys never raise overlapping episodes: of two adjacent episodes, the later one (or the one
//! without priority) always sees the other.

use crate::domain::event::EpochMillis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleSettings {
    /// Quiet windows (neither the segment nor its queue impacted) that end an episode.
    pub clear_windows: u32,
    /// How long after an episode ends no episode of the segment or its neighbours is raised.
    pub cooldown_ms: i64,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self {
            clear_windows: 3,
            cooldown_ms: 15 * 60_000,
        }
    }
}

/// One segment's episode under one decision rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Episode {
    #[default]
    Idle,
    /// Opened by the window ending at `opened`; `quiet` windows since the segment was last
    /// impacted.
    Open { opened: EpochMillis, quiet: u8 },
    /// Ended; blocks until `until`.
    Cooling { until: EpochMillis },
}

impl Episode {
    /// The window ending at `end` was judged: an open episode stays open while the segment is
    /// `impacted` and ends after `clear_windows` quiet windows. True when it ended now.
    pub fn advance(&mut self, end: EpochMillis, impacted: bool, s: &LifecycleSettings) -> bool {
        match self {
            Episode::Open { quiet, .. } => {
                *quiet = if impacted { 0 } else { quiet.saturating_add(1) };
                if u32::from(*quiet) >= s.clear_windows {
                    *self = Episode::Cooling {
                        until: end.saturating_add(s.cooldown_ms),
                    };
                    return true;
                }
                false
            }
            Episode::Cooling { until } if *until <= end => {
                *self = Episode::Idle;
                false
            }
            _ => false,
        }
    }

    /// Opens an episode when the rule `decided` and none is open or cooling down. True when
    /// it opened now.
    pub fn open(&mut self, end: EpochMillis, decided: bool) -> bool {
        let free = match *self {
            Episode::Idle => true,
            Episode::Cooling { until } => until <= end,
            Episode::Open { .. } => false,
        };
        if decided && free {
            *self = Episode::Open {
                opened: end,
                quiet: 0,
            };
        }
        decided && free
    }

    /// Whether this episode keeps a neighbour's episode opening in the window ending at `end`
    /// from being raised; `first` says this segment has priority over that neighbour.
    pub fn blocks(&self, end: EpochMillis, first: bool) -> bool {
        match *self {
            Episode::Idle => false,
            Episode::Open { opened, .. } => opened < end || first,
            Episode::Cooling { until } => end < until,
        }
    }

    pub fn is_idle(&self) -> bool {
        *self == Episode::Idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: i64 = 60_000;

    #[test]
    fn an_episode_opens_lasts_while_impacted_and_cools_down() {
        let s = LifecycleSettings::default();
        let mut e = Episode::default();
        assert!(!e.open(W, false));
        assert!(e.open(2 * W, true));
        assert!(!e.open(3 * W, true), "already open");
        assert!(!e.advance(3 * W, true, &s));
        for k in 4..6 {
            assert!(!e.advance(k * W, false, &s));
        }
        assert!(e.advance(6 * W, false, &s), "third quiet window");
        assert_eq!(
            e,
            Episode::Cooling {
                until: 6 * W + s.cooldown_ms
            }
        );
        assert!(!e.open(7 * W, true), "cooling down");
        assert!(e.open(6 * W + s.cooldown_ms, true), "cooled down");
    }

    #[test]
    fn blocking_between_neighbours() {
        let open_before = Episode::Open {
            opened: W,
            quiet: 0,
        };
        let open_now = Episode::Open {
            opened: 2 * W,
            quiet: 0,
        };
        assert!(open_before.blocks(2 * W, false));
        assert!(!open_now.blocks(2 * W, false), "same window, no priority");
        assert!(open_now.blocks(2 * W, true), "same window, priority");
        let cooling = Episode::Cooling { until: 3 * W };
        assert!(cooling.blocks(2 * W, false) && !cooling.blocks(3 * W, false));
        assert!(!Episode::Idle.blocks(2 * W, true));
    }
}
