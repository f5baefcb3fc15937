//! One partition of the detection stage: the keys (segments) that hash to it, fed the routed
//! windows of their neighbourhoods and the input partitions' marks, judging each window once
//! every input partition has passed it ([`super::judge`] does the judging).
//!
//! Windows waiting for the watermark are not state: they are read again from the repartition
//! topic after a restart (the offset to commit is the first one still feeding a waiting
//! window, as for the windows of an input task). What is state — per segment, the
//! [`SegState`]; per partition, the marks and the newest window judged — changes key by key
//! and is handed out for the changelog one changed key at a time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::baseline::take;
use super::facts::Facts;
use super::judge::{Judge, Window};
pub(crate) use super::keys::Segments;
use super::route::Routing;
use super::state::SegState;
use super::watermark::{Input, Mark, Watermarks};
use super::{DetectSettings, IncidentEvent, Report};
use crate::domain::event::EpochMillis;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
type FastSet<K> = HashSet<K, foldhash::fast::FixedState>;

/// The changelog key of a partition's own state (marks, newest window judged); no segment
/// has an empty id.
pub const META_KEY: &str = "";

/// What one routed record carries: the final windows of one window start (from one input
/// partition, for the keys of one detection partition) and the reports made in that window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    pub window_start: EpochMillis,
    pub window_end: EpochMillis,
    pub windows: Vec<(String, Facts)>,
    pub reports: Vec<Report>,
}

/// Where a detection partition may resume.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageCheckpoint {
    /// First offset still feeding a window not judged yet (the offset to commit).
    pub offset: Option<i64>,
    /// Offset after the last record read.
    pub position: Option<i64>,
}

pub struct DetectionTask {
    routing: Arc<Routing>,
    settings: Arc<DetectSettings>,
    partition: u32,
    segs: Segments,
    pending: BTreeMap<EpochMillis, Window>,
    states: FastMap<u32, SegState>,
    marks: Watermarks,
    judged_through: Option<EpochMillis>,
    dirty: FastSet<u32>,
    meta_dirty: bool,
    position: Option<i64>,
    /// Records below this offset were read before the restore this task resumed from.
    replay_until: Option<i64>,
    late: u64,
    /// Final windows and reports of segments outside the network not used because the
    /// worker held `limits.max_detection_keys` of them.
    over_capacity: u64,
    /// Final windows judged before the watermark passed them (`limits.max_waiting_windows`).
    forced: u64,
    /// Final windows received (the partition's share of the routed load).
    received: u64,
}

impl DetectionTask {
    /// The task of detection partition `partition`; `inputs` holds the partition count of
    /// each input topic (every input partition's mark is waited for).
    pub fn new(
        routing: Arc<Routing>,
        settings: Arc<DetectSettings>,
        partition: u32,
        inputs: Vec<u32>,
    ) -> Self {
        DetectionTask {
            segs: Segments::new(Arc::clone(routing.network()), Arc::clone(&settings.keys)),
            routing,
            settings,
            partition,
            pending: BTreeMap::new(),
            states: FastMap::default(),
            marks: Watermarks::new(inputs),
            judged_through: None,
            dirty: FastSet::default(),
            meta_dirty: false,
            position: None,
            replay_until: None,
            late: 0,
            over_capacity: 0,
            forced: 0,
            received: 0,
        }
    }

    /// A new task for the same partition, with no state: what a restore starts from.
    pub fn fresh(&self) -> DetectionTask {
        DetectionTask::new(
            Arc::clone(&self.routing),
            Arc::clone(&self.settings),
            self.partition,
            self.marks.expected().to_vec(),
        )
    }

    fn read(&mut self, offset: Option<i64>) -> bool {
        let replayed = offset.is_some_and(|o| self.replay_until.is_some_and(|r| o < r));
        if let Some(o) = offset {
            self.position = Some(o + 1);
        }
        replayed
    }

    /// The windows and reports of one routed record (`offset`: its place in the repartition
    /// partition, None in replay).
    pub fn on_batch(&mut self, offset: Option<i64>, batch: Batch) {
        let replayed = self.read(offset);
        if self.judged_through.is_some_and(|j| batch.window_start <= j) {
            if !replayed {
                self.late += batch.windows.len() as u64;
            }
            return;
        }
        let Batch {
            window_start,
            window_end,
            windows,
            reports,
        } = batch;
        self.received += windows.len() as u64;
        let mut facts: Vec<(u32, Facts)> = Vec::with_capacity(windows.len());
        for (id, f) in windows {
            match self.segs.lookup(&id) {
                Some(i) => facts.push((i, f)),
                None if self.segs.has_room() => facts.push((self.segs.index(&id), f)),
                None => self.over_capacity += 1,
            }
        }
        let mut reports = reports;
        let held = |r: &Report| self.segs.lookup(&r.segment_id).is_some() || self.segs.has_room();
        let before = reports.len();
        reports.retain(held);
        self.over_capacity += (before - reports.len()) as u64;
        let w = self.pending.entry(window_start).or_insert_with(|| Window {
            start: window_start,
            end: window_end,
            facts: FastMap::default(),
            reports: Vec::new(),
            first_offset: offset,
        });
        w.first_offset = match (w.first_offset, offset) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let before = w.facts.len();
        w.facts.extend(facts);
        self.settings.waiting.take_many(w.facts.len() - before);
        w.reports.extend(reports);
    }

    /// An input partition's mark.
    pub fn on_mark(&mut self, offset: Option<i64>, input: Input, mark: Mark) {
        self.read(offset);
        self.meta_dirty |= self.marks.observe(input, mark);
    }

    /// Judges every window that every input partition has passed, oldest first.
    pub fn judge(&mut self, out: &mut Vec<IncidentEvent>) {
        let Some(through) = self.marks.through() else {
            return;
        };
        let judged = self.judged_through;
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > through {
                break;
            }
            let w = entry.remove();
            self.judge_one(&w, out);
        }
        self.judge_over_bound(out);
        if self.judged_through != judged {
            self.release_idle();
        }
    }

    /// While the worker holds more than `limits.max_waiting_windows` final windows waiting
    /// for the watermark, judges this partition's oldest waiting window now, as if the input
    /// partitions holding it back were idle: their windows of it that still come are late.
    fn judge_over_bound(&mut self, out: &mut Vec<IncidentEvent>) {
        let waiting = Arc::clone(&self.settings.waiting);
        let Some(max) = waiting.max() else {
            return;
        };
        while waiting.held() > max {
            let Some(entry) = self.pending.first_entry() else {
                break;
            };
            let w = entry.remove();
            self.forced += w.facts.len() as u64;
            self.judge_one(&w, out);
        }
    }

    /// Frees the segments outside the network with no state, no change to hand out and no
    /// waiting window: nothing of them is left here (once per window judged).
    fn release_idle(&mut self) {
        if self.segs.extra() == 0 {
            return;
        }
        let base = self.segs.net.len() as u32;
        let mut keep: FastSet<u32> = self.states.keys().copied().filter(|i| *i >= base).collect();
        keep.extend(self.dirty.iter().copied());
        for w in self.pending.values() {
            keep.extend(w.facts.keys().copied().filter(|i| *i >= base));
        }
        self.segs.release(|i| keep.contains(&i));
    }

    /// End of a bounded input: every waiting window, oldest first.
    pub fn finish(&mut self, out: &mut Vec<IncidentEvent>) {
        for w in std::mem::take(&mut self.pending).into_values() {
            self.judge_one(&w, out);
        }
    }

    fn judge_one(&mut self, w: &Window, out: &mut Vec<IncidentEvent>) {
        self.settings.waiting.release(w.facts.len());
        let mut judge = Judge {
            segs: &mut self.segs,
            routing: &self.routing,
            settings: &self.settings,
            partition: self.partition,
            states: &mut self.states,
            dirty: &mut self.dirty,
        };
        judge.window(w, out);
        self.judged_through = Some(w.start);
        self.meta_dirty = true;
    }

    pub fn checkpoint(&self) -> StageCheckpoint {
        StageCheckpoint {
            offset: self
                .pending
                .values()
                .filter_map(|w| w.first_offset)
                .min()
                .or(self.position),
            position: self.position,
        }
    }

    /// Hands out every key whose state changed since the last call, with its changelog value
    /// (None: the state is back to default, delete the key).
    pub fn drain_changes(&mut self, mut f: impl FnMut(&str, Option<&[u8]>)) {
        let mut buf = Vec::new();
        if std::mem::take(&mut self.meta_dirty) {
            self.encode_meta(&mut buf);
            f(META_KEY, Some(&buf));
        }
        let mut dirty: Vec<u32> = self.dirty.drain().collect();
        dirty.sort_unstable();
        for seg in dirty {
            let id = self.segs.id(seg);
            match self.states.get(&seg) {
                Some(s) if !s.is_default() => {
                    s.encode(&mut buf);
                    f(id, Some(&buf));
                }
                _ => {
                    self.states.remove(&seg);
                    f(id, None);
                }
            }
        }
    }

    /// Puts back one key as the changelog last recorded it (before any input). False when
    /// the value does not decode.
    pub fn restore(&mut self, key: &str, value: &[u8]) -> bool {
        if key == META_KEY {
            return self.decode_meta(value).is_some();
        }
        match SegState::decode(value) {
            Some(s) => {
                let seg = self.segs.index(key);
                self.states.insert(seg, s);
                true
            }
            None => false,
        }
    }

    /// The task resumes at `cp` after a restore: records before its position were read before.
    pub fn resume(&mut self, cp: StageCheckpoint) {
        self.replay_until = cp.position;
        self.position = cp.offset;
    }

    /// Incidents raised here and not cleared.
    pub fn active(&self) -> usize {
        let raised = self.states.values().flat_map(|s| s.raised.iter());
        raised.filter(|r| r.is_some()).count()
    }

    /// Windows that arrived after their window start had been judged.
    pub fn late_windows(&self) -> u64 {
        self.late
    }

    /// Final windows and reports of new segments outside the network not used at
    /// `limits.max_detection_keys`.
    pub fn over_capacity(&self) -> u64 {
        self.over_capacity
    }

    /// Final windows judged before every input partition had passed them, because the worker
    /// held `limits.max_waiting_windows` waiting windows.
    pub fn forced(&self) -> u64 {
        self.forced
    }

    /// Segments outside the network held here (what `limits.max_detection_keys` bounds).
    pub fn uncatalogued(&self) -> usize {
        self.segs.extra()
    }

    /// Final windows received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Segments with detection state here.
    pub fn keys(&self) -> usize {
        self.states.len()
    }

    /// Windows waiting for the watermark.
    pub fn waiting(&self) -> usize {
        self.pending.values().map(|w| w.facts.len()).sum()
    }

    /// Heap bytes held by the keys' state and the waiting windows, roughly: the map slots and
    /// each state's vectors (state-size accounting).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let states = self.states.capacity() * (size_of::<u32>() + size_of::<SegState>());
        let vectors: usize = self.states.values().map(SegState::heap_bytes).sum();
        let waiting: usize = self
            .pending
            .values()
            .map(|w| w.facts.capacity() * (size_of::<u32>() + size_of::<Facts>()))
            .sum();
        states + vectors + waiting
    }

    fn encode_meta(&self, buf: &mut Vec<u8>) {
        buf.clear();
        buf.push(1);
        buf.extend_from_slice(&self.judged_through.unwrap_or(i64::MIN).to_le_bytes());
        let marks: Vec<(Input, Mark)> = self.marks.marks().collect();
        buf.extend_from_slice(&(marks.len() as u32).to_le_bytes());
        for ((topic, partition), m) in marks {
            buf.extend_from_slice(&topic.to_le_bytes());
            buf.extend_from_slice(&partition.to_le_bytes());
            buf.extend_from_slice(&m.closed_through.unwrap_or(i64::MIN).to_le_bytes());
            buf.push(u8::from(m.idle));
        }
    }

    fn decode_meta(&mut self, mut bytes: &[u8]) -> Option<()> {
        let b = &mut bytes;
        if take::<1>(b)? != [1] {
            return None;
        }
        let judged = i64::from_le_bytes(take(b)?);
        let n = u32::from_le_bytes(take(b)?);
        let mut marks = Vec::new();
        for _ in 0..n {
            let input = (u32::from_le_bytes(take(b)?), i32::from_le_bytes(take(b)?));
            let closed = i64::from_le_bytes(take(b)?);
            let idle = take::<1>(b)?[0] != 0;
            let closed_through = (closed != i64::MIN).then_some(closed);
            marks.push((
                input,
                Mark {
                    closed_through,
                    idle,
                },
            ));
        }
        if !b.is_empty() {
            return None;
        }
        self.judged_through = (judged != i64::MIN).then_some(judged);
        for (input, mark) in marks {
            self.marks.observe(input, mark);
        }
        Some(())
    }
}

impl Drop for DetectionTask {
    /// A task dropped (its partition revoked, or rewound) gives its waiting windows back.
    fn drop(&mut self) {
        self.settings.waiting.release(self.waiting());
    }
}
