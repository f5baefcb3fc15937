//! The segments one task holds: interned ids, each segment's long-lived state, which of them
//! changed since the changelog last took them, and which were evicted since (tombstones). The
//! worker's segment budget and `state.retention` are enforced here (see [`super::limits`]).

use super::congestion::{Level, SegmentState};
use super::event::EpochMillis;
use super::incident::history::History;
use super::intern::SegmentIds;
use super::limits::Limits;
use super::urban::Road;
use super::window::WindowSpec;

pub(super) struct Segment {
    pub state: SegmentState,
    /// What the catalogue says of the road, looked up once.
    pub road: Road,
    /// Changed by a final window since the last [`SegmentTable::drain_changes`].
    pub dirty: bool,
    /// Detection history (detection on only; boxed so that it costs a pointer otherwise).
    pub history: Option<Box<History>>,
    /// The newest window start this segment has records in (open or closed).
    pub latest_start: Option<EpochMillis>,
}

impl Segment {
    pub fn new(road: Road, history: Option<Box<History>>) -> Self {
        Segment {
            state: SegmentState::default(),
            road,
            dirty: false,
            history,
            latest_start: None,
        }
    }

    /// Due for eviction at stream time `now`: its last final window ended `retention` ago, and
    /// the newest window it has records in was emitted (it set `last_seen` to its end).
    fn expired(&self, limits: &Limits, spec: &WindowSpec, now: EpochMillis) -> bool {
        let Some(seen) = self.state.last_seen() else {
            return false;
        };
        let emitted = self.latest_start.is_none_or(|s| seen >= spec.end(s));
        emitted && limits.expired(seen, now)
    }
}

/// A change for the state changelog: the segment's state, or `None` when it was evicted.
pub type Change<'a> = Option<(&'a SegmentState, Option<&'a History>)>;

pub(super) struct SegmentTable {
    limits: Limits,
    ids: SegmentIds,
    /// By id index; `None` for an index freed by an eviction.
    slots: Vec<Option<Segment>>,
    /// Segments whose state changed since it was last drained, in change order.
    dirty: Vec<u32>,
    /// Ids evicted since the last drain.
    evicted: Vec<Box<str>>,
    /// The advance grid point of the last sweep.
    swept_through: Option<EpochMillis>,
}

impl SegmentTable {
    pub fn new(limits: Limits) -> Self {
        SegmentTable {
            limits,
            ids: SegmentIds::default(),
            slots: Vec::new(),
            dirty: Vec::new(),
            evicted: Vec::new(),
            swept_through: None,
        }
    }

    /// The index of `id` when it is held (a record of it never counts against the budget).
    pub fn find(&self, id: &str) -> Option<u32> {
        self.ids.find(id)
    }

    /// The index of `id`, added (made by `make`) when it is not held or was due for eviction at
    /// stream time `now` (then it is evicted first, tombstone and all).
    pub fn lookup(
        &mut self,
        id: &str,
        now: EpochMillis,
        spec: &WindowSpec,
        make: impl FnOnce() -> Segment,
    ) -> u32 {
        if let Some(i) = self.ids.find(id) {
            let expired = self
                .get(i)
                .is_some_and(|s| s.expired(&self.limits, spec, now));
            if !expired {
                return i;
            }
            self.evict(i, true);
        }
        self.add(id, make())
    }

    /// Index of `id`, added when not held, without any eviction (restoring state).
    pub fn restore(&mut self, id: &str, make: impl FnOnce() -> Segment) -> u32 {
        match self.ids.find(id) {
            Some(i) => i,
            None => self.add(id, make()),
        }
    }

    /// Drops `id` without a tombstone (its changelog said it was evicted).
    pub fn forget(&mut self, id: &str) {
        if let Some(i) = self.ids.find(id) {
            self.evict(i, false);
        }
    }

    fn add(&mut self, id: &str, segment: Segment) -> u32 {
        let (i, _) = self.ids.intern(id);
        self.limits.segments.take();
        if self.slots.len() < self.ids.capacity() {
            self.slots.resize_with(self.ids.capacity(), || None);
        }
        self.slots[i as usize] = Some(segment);
        i
    }

    fn evict(&mut self, i: u32, tombstone: bool) {
        let Some(segment) = self.slots.get_mut(i as usize).and_then(Option::take) else {
            return;
        };
        if segment.dirty {
            self.dirty.retain(|&d| d != i);
        }
        if tombstone {
            self.evicted.push(self.ids.get(i).into());
        }
        self.ids.remove(i);
        self.limits.segments.release(1);
    }

    /// Evicts every segment that was due when stream time last crossed the window advance grid
    /// (at most one pass per advance; a record of a segment due later finds it evicted on
    /// [`SegmentTable::lookup`]). Aligned to the grid, the passes of a restored task evict what
    /// those of a task that ran on did. Call it before closing windows, so that the segments of
    /// windows just closed are still held when detection reads them.
    pub fn sweep(&mut self, now: EpochMillis, spec: &WindowSpec) {
        if self.limits.retention_ms.is_none() {
            return;
        }
        let grid = now - now.rem_euclid(spec.advance_ms.max(1));
        if self.swept_through.is_some_and(|g| grid <= g) {
            return;
        }
        self.swept_through = Some(grid);
        for i in 0..self.slots.len() as u32 {
            let due = self.slots[i as usize]
                .as_ref()
                .is_some_and(|s| s.expired(&self.limits, spec, grid));
            if due {
                self.evict(i, true);
            }
        }
    }

    pub fn get(&self, i: u32) -> Option<&Segment> {
        self.slots.get(i as usize).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, i: u32) -> Option<&mut Segment> {
        self.slots.get_mut(i as usize).and_then(Option::as_mut)
    }

    /// A final window changed segment `i`'s state.
    pub fn mark_dirty(&mut self, i: u32) {
        if let Some(segment) = self.slots.get_mut(i as usize).and_then(Option::as_mut) {
            if !segment.dirty {
                segment.dirty = true;
                self.dirty.push(i);
            }
        }
    }

    /// Segment `i` with its id.
    pub fn entry(&mut self, i: u32) -> Option<(&str, &mut Segment)> {
        let segment = self.slots.get_mut(i as usize).and_then(Option::as_mut)?;
        Some((self.ids.get(i), segment))
    }

    pub fn id(&self, i: u32) -> &str {
        self.ids.get(i)
    }

    pub fn ranks(&mut self) -> &[u32] {
        self.ids.ranks()
    }

    /// Segments held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Segments held by the level of their last final window, in [`Level::ALL`] order.
    pub fn levels(&self) -> [usize; Level::ALL.len()] {
        let mut counts = [0; Level::ALL.len()];
        let levels = self.slots.iter().flatten();
        for level in levels.filter_map(|s| s.state.current_level()) {
            counts[level as usize] += 1;
        }
        counts
    }

    /// Hands over the evictions (as `None`) and then the changed states since the last call,
    /// each once: in this order a segment evicted and seen again ends with its new state.
    pub fn drain_changes(&mut self, mut f: impl FnMut(&str, Change<'_>)) {
        for id in self.evicted.drain(..) {
            f(&id, None);
        }
        for i in self.dirty.drain(..) {
            if let Some(segment) = self.slots.get_mut(i as usize).and_then(Option::as_mut) {
                segment.dirty = false;
                f(
                    self.ids.get(i),
                    Some((&segment.state, segment.history.as_deref())),
                );
            }
        }
    }
}

impl Drop for SegmentTable {
    /// A task dropped (its partition revoked, or rewound) gives its segments back to the budget.
    fn drop(&mut self) {
        self.limits.segments.release(self.len());
    }
}
