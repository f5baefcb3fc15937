//! Watermarks through the repartition stage: which windows every input partition has closed.
//!
//! Each input task sends, after the windows it routes, its partition's *mark*: the newest
//! window start it has closed (from its stream time, as windows close), or none when it has
//! seen no record. A detection key judges window `W` only once every input partition's mark
//! is at or past `W` — then every final window of `W` from every partition has arrived, in
//! whatever order the partitions ran, so the judgement is the same for any partitioning and any
//! skew between partitions (a backfill of days needs no setting).
//!
//! An input partition never heard from holds everything back (its windows may still come). One
//! that reports no record yet and is *idle* (caught up, nothing to read) is left out, as Flink
//! leaves out idle sources; if records come later, windows they close that were already judged
//! arrive late and are counted. A partition with records that goes quiet advances its stream
//! time by the idle timeout, like its congestion windows, so its mark moves on too.

use std::collections::BTreeMap;

use crate::domain::event::EpochMillis;

/// An input partition: its input topic's index (in configuration order) and its number.
pub type Input = (u32, i32);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mark {
    /// Every window starting at or before this is closed in that partition.
    pub closed_through: Option<EpochMillis>,
    /// No record yet, and nothing to read (only meaningful without `closed_through`).
    pub idle: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watermarks {
    /// Partition count of each input topic, by index: every one of them is waited for.
    expected: Vec<u32>,
    marks: BTreeMap<Input, Mark>,
}

impl Watermarks {
    pub fn new(expected: Vec<u32>) -> Self {
        Watermarks {
            expected,
            marks: BTreeMap::new(),
        }
    }

    /// Takes in a partition's mark; a mark never moves back. True when anything changed.
    pub fn observe(&mut self, input: Input, mark: Mark) -> bool {
        let slot = self.marks.entry(input).or_default();
        let closed = match (slot.closed_through, mark.closed_through) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let next = Mark {
            closed_through: closed,
            idle: mark.idle,
        };
        let changed = *slot != next;
        *slot = next;
        changed
    }

    /// The newest window start closed in every input partition (None: nothing can be judged).
    pub fn through(&self) -> Option<EpochMillis> {
        let expected = self
            .expected
            .iter()
            .enumerate()
            .flat_map(|(t, n)| (0..*n as i32).map(move |p| (t as u32, p)));
        let extra = self.marks.keys().copied();
        let mut low: Option<EpochMillis> = None;
        for input in expected.chain(extra) {
            match self.marks.get(&input) {
                None => return None,
                Some(m) => match m.closed_through {
                    Some(t) => low = Some(low.map_or(t, |l| l.min(t))),
                    None if m.idle => {}
                    None => return None,
                },
            }
        }
        low
    }

    /// The partition count of each input topic.
    pub fn expected(&self) -> &[u32] {
        &self.expected
    }

    pub fn marks(&self) -> impl Iterator<Item = (Input, Mark)> + '_ {
        self.marks.iter().map(|(k, v)| (*k, *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(t: Option<i64>, idle: bool) -> Mark {
        Mark {
            closed_through: t,
            idle,
        }
    }

    #[test]
    fn the_slowest_partition_decides_and_marks_never_move_back() {
        let mut w = Watermarks::new(vec![3]);
        assert!(w.observe((0, 0), mark(Some(600), false)));
        w.observe((0, 1), mark(Some(300), false));
        assert_eq!(w.through(), None, "partition 2 never heard from");
        w.observe((0, 2), mark(None, false));
        assert_eq!(w.through(), None, "no record yet, not idle: may still send");
        w.observe((0, 2), mark(None, true));
        assert_eq!(
            w.through(),
            Some(300),
            "an idle empty partition is left out"
        );
        assert!(!w.observe((0, 1), mark(Some(200), false)), "never back");
        assert_eq!(w.through(), Some(300));
        w.observe((0, 2), mark(Some(100), false));
        assert_eq!(w.through(), Some(100), "it has records now");
        // A partition beyond the expected count (the topic grew) counts once heard from.
        w.observe((0, 7), mark(Some(50), false));
        assert_eq!(w.through(), Some(50));
    }
}
