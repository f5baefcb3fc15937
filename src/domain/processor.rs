//! The state machine of one task (one input partition): events in offset order and clock ticks
//! in, congestion events out. The Kafka loop and `roadpulse replay` drive the very same code,
//! which is why a replay is the reference for every distributed run.
//!
//! Open windows live in an ordered map keyed by window start, each holding the accumulators of
//! the segments seen in it; closing is "remove every start whose window ended at least `grace`
//! before stream time". A [`Checkpoint`] says which input offset is safe to commit so that a
//! restart rebuilds every open window (Kafka Streams keeps stream time in commit metadata the
//! same way). Nothing here reads a clock: wall time comes in as an argument.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::aggregate::WindowAgg;
use super::catalog::Catalog;
use super::congestion::{Hysteresis, Level, SegmentState};
use super::event::{EpochMillis, EventBody, InvalidEvent, RawEvent};
use super::future::{FutureBound, Reference};
use super::incident::facts::Facts;
use super::incident::history::History;
use super::incident::probe::ProbeSettings;
use super::incident::Report;
use super::limits::Limits;
use super::output::{CongestionEvent, Verdict};
use super::sampling::{Sampling, SamplingRules};
use super::segments::{Change, Segment, SegmentTable};
use super::tracks::Tracks;
use super::urban::Road;
use super::window::{StreamTime, WindowSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitMode {
    /// One result per window, when it closes.
    Final,
    /// Also early results (`final: false`) for changed windows, at most every `interval_ms`.
    Updates { interval_ms: i64 },
}

/// Hash maps with a fast, fixed-seed hasher: lookups by segment id are on the hot path, and a
/// fixed seed keeps every run identical.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
type FastSet<K> = HashSet<K, foldhash::fast::FixedState>;

/// Settings shared by every task of a worker.
#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    pub window: WindowSpec,
    pub emit: EmitMode,
    /// Advance stream time by wall-clock time after this long without records (None = off).
    pub idle_timeout_ms: Option<i64>,
    pub hysteresis: Hysteresis,
    pub default_free_flow_kph: f64,
    pub catalog: Arc<Catalog>,
    /// How far ahead an event may be (`window.max_future`); see [`Task::admit`].
    pub future: FutureBound,
    /// How each input's probe pings were sampled.
    pub sampling: SamplingRules,
    /// Incident detection on: keep each segment's detection history and hand closed windows
    /// (their facts and the reports made in them) on through [`Task::take_closed`].
    pub detection: Option<ProbeSettings>,
    /// The worker's segment budget and state retention (`[limits]`, `state.retention`),
    /// shared by every task made from these settings.
    pub limits: Limits,
}

impl ProcessorSettings {
    /// `window` and `emit`, with everything else at its plainest: no idle clock, the default
    /// hysteresis, 50 km/h of free flow where nothing says otherwise (the config's default), an
    /// empty catalogue, no bound on the future, pings sampled by time, detection off. Settings
    /// built by hand (tests, benchmarks) start here and set what they need; the worker's come
    /// from config (`pipeline::processor_settings`).
    pub fn new(window: WindowSpec, emit: EmitMode) -> Self {
        ProcessorSettings {
            window,
            emit,
            idle_timeout_ms: None,
            hysteresis: Hysteresis::default(),
            default_free_flow_kph: 50.0,
            catalog: Arc::default(),
            future: FutureBound::OFF,
            sampling: SamplingRules::default(),
            detection: None,
            limits: Limits::default(),
        }
    }
}

/// What became of one event, for the adapter's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Aggregated,
    /// Every window the event belongs to had closed.
    Late,
    /// A late event at an offset the previous owner of the partition already processed.
    Replayed,
    /// Reports feed incident detection, not congestion windows.
    Report,
}

/// Where a task may safely resume: the input offset to commit and the stream time to restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// First offset not yet fully reflected in emitted output (the offset to commit).
    pub offset: Option<i64>,
    pub stream_time: Option<EpochMillis>,
    /// Offset after the last processed record when the checkpoint was taken; records below it
    /// are being re-read after a restart and are not counted late twice.
    pub position: Option<i64>,
}

#[derive(Default)]
struct Bucket {
    aggs: FastMap<u32, WindowAgg>,
    /// Segments changed since the last early update (`updates` mode only; empty otherwise,
    /// so final-only windows pay nothing for it).
    changed: FastSet<u32>,
    /// Tracks of the probe vehicles whose pings give their position, by segment (empty
    /// unless pings carry `offset_m`).
    tracks: FastMap<u32, Tracks>,
    /// Smallest input offset that contributed to any window with this start.
    first_offset: i64,
    /// Reports made in this window (detection on): they go on with its final windows.
    reports: Vec<Report>,
}

/// A window start that closed, as incident detection reads it (detection on only).
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    pub start: EpochMillis,
    pub end: EpochMillis,
    /// Each segment's facts, by segment index (see [`Task::segment_id`]).
    pub windows: Vec<(u32, Facts)>,
    pub reports: Vec<Report>,
}

pub struct Task {
    settings: Arc<ProcessorSettings>,
    stream_time: StreamTime,
    /// The segments held: ids ⇄ indices, long-lived state, changes for the changelog.
    segments: SegmentTable,
    windows: BTreeMap<EpochMillis, Bucket>,
    /// The emptied map of the last window closed, reused by the next window opened: it is
    /// already as large as a window gets, so filling it neither allocates nor moves slots.
    spare: Option<FastMap<u32, WindowAgg>>,
    position: Option<i64>,
    replay_until: Option<i64>,
    last_record_wall: Option<i64>,
    stream_time_at_last_record: Option<EpochMillis>,
    next_update_at: Option<i64>,
    /// Sampling of the probes of this task's input topic that name no listed source.
    topic_sampling: Sampling,
    /// Closed windows for incident detection, until [`Task::take_closed`].
    closed: Vec<Closed>,
}

impl Task {
    pub fn new(settings: Arc<ProcessorSettings>) -> Self {
        Self::restore(settings, Checkpoint::default())
    }

    /// A task resuming from a committed checkpoint (after a rebalance or a restart).
    pub fn restore(settings: Arc<ProcessorSettings>, from: Checkpoint) -> Self {
        Task {
            stream_time: StreamTime::new(from.stream_time),
            segments: SegmentTable::new(settings.limits.clone()),
            windows: BTreeMap::new(),
            spare: None,
            position: from.offset,
            replay_until: from.position,
            last_record_wall: None,
            stream_time_at_last_record: from.stream_time,
            next_update_at: None,
            closed: Vec::new(),
            topic_sampling: settings.sampling.default,
            settings,
        }
    }

    /// Names the input topic this task reads, whose sampling setting its probes take.
    pub fn set_input_topic(&mut self, topic: &str) {
        self.topic_sampling = self.settings.sampling.for_topic(Some(topic));
    }

    pub fn stream_time(&self) -> Option<EpochMillis> {
        self.stream_time.get()
    }

    pub fn open_windows(&self) -> usize {
        self.windows.values().map(|b| b.aggs.len()).sum()
    }

    /// Heap bytes held by the open windows' speed sketches (state-size accounting).
    pub fn sketch_heap_bytes(&self) -> usize {
        let aggs = self.windows.values().flat_map(|b| b.aggs.values());
        aggs.map(WindowAgg::sketch_heap_bytes).sum()
    }

    /// Whether an event may enter at all: refused (kind `invalid_timestamp`) when it lies more
    /// than `window.max_future` ahead of the wall clock `wall_ms`, or in replay of this task's
    /// stream time; refused (kind `over_capacity`) when it is of a segment this task does not
    /// hold while the worker's segment budget is spent. A refused event must not reach
    /// [`Task::on_event`].
    pub fn admit(&self, event: &RawEvent<'_>, wall_ms: i64) -> Result<(), InvalidEvent> {
        self.check_future(event.ts, wall_ms)?;
        self.check_room(event)
    }

    /// The `window.max_future` half of [`Task::admit`].
    pub fn check_future(&self, ts: EpochMillis, wall_ms: i64) -> Result<(), InvalidEvent> {
        let reference = match self.settings.future.reference {
            Reference::WallClock => Some(wall_ms),
            Reference::StreamTime => self.stream_time.get(),
        };
        self.settings.future.check(ts, reference)
    }

    /// The `limits.max_segments` and `limits.max_open_windows` half of [`Task::admit`].
    pub fn check_room(&self, event: &RawEvent<'_>) -> Result<(), InvalidEvent> {
        if matches!(event.body, EventBody::Report { .. }) {
            return Ok(());
        }
        let limits = &self.settings.limits;
        let held = self.segments.find(event.segment_id);
        if held.is_none() {
            limits.segments.check_room(event.segment_id)?;
        }
        // Far from the limit, even a record opening every window it belongs to fits.
        let most = self.settings.window.starts_for(event.ts).count();
        if !limits.windows.fits(most) {
            let (more, freed) = self.windows_to_open(held, event.ts);
            limits
                .windows
                .check_windows(event.segment_id, more, freed)?;
        }
        Ok(())
    }

    /// The last window an event at `ts` belongs to, `(start, end)`: for a late event, the
    /// one that closed last.
    pub fn last_window_of(&self, ts: EpochMillis) -> (EpochMillis, EpochMillis) {
        let spec = self.settings.window;
        let start = spec.starts_for(ts).last().unwrap_or(ts);
        (start, spec.end(start))
    }

    /// Whether the record at `offset` was read before the checkpoint this task resumed from:
    /// everything it led to (a dead letter included) is committed already.
    pub fn replayed(&self, offset: i64) -> bool {
        self.replay_until.is_some_and(|p| offset < p)
    }

    /// How many (segment, window) accumulators a record of segment index `held` (`None`: not
    /// held) at `ts` would open, and how many the stream time it brings would close first.
    fn windows_to_open(&self, held: Option<u32>, ts: EpochMillis) -> (usize, usize) {
        let spec = self.settings.window;
        let now = self.stream_time.get().map_or(ts, |t| t.max(ts));
        let open = |start: &EpochMillis| match (held, self.windows.get(start)) {
            (Some(seg), Some(bucket)) => bucket.aggs.contains_key(&seg),
            _ => false,
        };
        let more = spec
            .starts_for(ts)
            .filter(|s| !spec.is_closed(*s, now) && !open(s))
            .count();
        let closing = self.windows.range(..=spec.closed_through(now));
        (more, closing.map(|(_, b)| b.aggs.len()).sum())
    }

    /// Folds one event in and appends every window it closes to `out`. `wall_ms` is the wall
    /// clock (for the idle timeout); replay passes the event time.
    pub fn on_event(
        &mut self,
        offset: i64,
        event: &RawEvent<'_>,
        wall_ms: i64,
        out: &mut Vec<CongestionEvent>,
    ) -> Outcome {
        self.position = Some(offset.saturating_add(1));
        self.last_record_wall = Some(wall_ms);
        let now = self.stream_time.observe(event.ts);
        self.stream_time_at_last_record = Some(now);
        let outcome = match &event.body {
            EventBody::Report { .. } => self.hold_report(offset, event),
            body => self.aggregate(offset, event.segment_id, event.ts, body),
        };
        self.close_windows(out);
        match outcome {
            Outcome::Late if self.replayed(offset) => Outcome::Replayed,
            other => other,
        }
    }

    fn aggregate(
        &mut self,
        offset: i64,
        segment_id: &str,
        ts: EpochMillis,
        body: &EventBody<'_>,
    ) -> Outcome {
        let spec = self.settings.window;
        let updates = matches!(self.settings.emit, EmitMode::Updates { .. });
        let now = self.stream_time.get().unwrap_or(ts);
        let Some(latest) = spec
            .starts_for(ts)
            .filter(|s| !spec.is_closed(*s, now))
            .last()
        else {
            return Outcome::Late;
        };
        let seg = self.segment_index(segment_id, now);
        if let Some(segment) = self.segments.get_mut(seg) {
            segment.latest_start = Some(segment.latest_start.map_or(latest, |s| s.max(latest)));
        }
        for start in spec.starts_for(ts).filter(|s| !spec.is_closed(*s, now)) {
            let spare = &mut self.spare;
            let bucket = self.windows.entry(start).or_insert_with(|| Bucket {
                aggs: spare.take().unwrap_or_default(),
                changed: FastSet::default(),
                tracks: FastMap::default(),
                first_offset: offset,
                reports: Vec::new(),
            });
            bucket.first_offset = bucket.first_offset.min(offset);
            if updates {
                bucket.changed.insert(seg);
            }
            let agg = bucket.aggs.entry(seg).or_insert_with(|| {
                self.settings.limits.windows.take();
                WindowAgg::default()
            });
            match body {
                EventBody::Probe {
                    speed_kph,
                    vehicle_id,
                    source,
                    offset_m,
                } => {
                    let rules = &self.settings.sampling;
                    let sampling = rules.for_probe(self.topic_sampling, *source);
                    agg.add_probe(*speed_kph, *vehicle_id, sampling);
                    if let (Some(v), Some(x)) = (vehicle_id, offset_m) {
                        bucket.tracks.entry(seg).or_default().add(v, ts, *x);
                    }
                }
                EventBody::Detector(d) => agg.add_detector(d),
                EventBody::Flow(f) => agg.add_flow(f),
                EventBody::Report { .. } => {}
            }
        }
        Outcome::Aggregated
    }

    /// With detection on, a report waits in the window it was made in and goes on with that
    /// window's final results; one whose window has closed is late, like any event.
    fn hold_report(&mut self, offset: i64, event: &RawEvent<'_>) -> Outcome {
        let Some(report) = self.settings.detection.and(Report::from_event(event)) else {
            return Outcome::Report;
        };
        let spec = self.settings.window;
        let now = self.stream_time.get().unwrap_or(event.ts);
        let Some(start) = spec.starts_for(event.ts).find(|s| !spec.is_closed(*s, now)) else {
            return Outcome::Late;
        };
        let spare = &mut self.spare;
        let bucket = self.windows.entry(start).or_insert_with(|| Bucket {
            aggs: spare.take().unwrap_or_default(),
            changed: FastSet::default(),
            tracks: FastMap::default(),
            first_offset: offset,
            reports: Vec::new(),
        });
        bucket.first_offset = bucket.first_offset.min(offset);
        bucket.reports.push(report);
        Outcome::Report
    }

    /// The segment's index at stream time `now` (a segment due for eviction starts afresh).
    fn segment_index(&mut self, id: &str, now: EpochMillis) -> u32 {
        let settings = &self.settings;
        let make = || new_segment(settings, id);
        self.segments.lookup(id, now, &settings.window, make)
    }

    /// Emits and forgets every window closed at the current stream time, oldest first, segments
    /// in id order within a window.
    fn close_windows(&mut self, out: &mut Vec<CongestionEvent>) {
        let Some(now) = self.stream_time.get() else {
            return;
        };
        self.segments.sweep(now, &self.settings.window);
        let through = self.settings.window.closed_through(now);
        while let Some(entry) = self.windows.first_entry() {
            if *entry.key() > through {
                break;
            }
            let (start, bucket) = entry.remove_entry();
            self.emit_final(start, bucket, out);
        }
    }

    fn emit_final(&mut self, start: EpochMillis, bucket: Bucket, out: &mut Vec<CongestionEvent>) {
        let (mut aggs, tracks) = (bucket.aggs, bucket.tracks);
        self.settings.limits.windows.release(aggs.len());
        let all = aggs.iter().map(|(s, agg)| (*s, agg, tracks.get(s)));
        let windows = self.emit_bucket(start, all, true, out);
        aggs.clear();
        self.spare = Some(aggs);
        // The facts of the closed window's segments (folded into their detection history just
        // now) and its reports go on to incident detection.
        if self.settings.detection.is_some() && (!windows.is_empty() || !bucket.reports.is_empty())
        {
            self.closed.push(Closed {
                start,
                end: self.settings.window.end(start),
                windows,
                reports: bucket.reports,
            });
        }
    }

    /// The windows closed since the last call, for incident detection, oldest first.
    pub fn take_closed(&mut self) -> Vec<Closed> {
        std::mem::take(&mut self.closed)
    }

    /// The id of segment index `seg` (as [`Closed::windows`] names segments).
    pub fn segment_id(&self, seg: u32) -> &str {
        self.segments.id(seg)
    }

    /// Every window starting at or before this is closed (None before the first record): the
    /// partition's mark for incident detection. It moves once per window advance.
    pub fn closed_through(&self) -> Option<EpochMillis> {
        self.stream_time
            .get()
            .map(|t| self.settings.window.newest_closed_start(t))
    }

    fn emit_bucket<'w>(
        &mut self,
        start: EpochMillis,
        aggs: impl Iterator<Item = (u32, &'w WindowAgg, Option<&'w Tracks>)>,
        is_final: bool,
        out: &mut Vec<CongestionEvent>,
    ) -> Vec<(u32, Facts)> {
        let settings = Arc::clone(&self.settings);
        let spec = settings.window;
        let detection = settings.detection.filter(|_| is_final);
        let mut facts = Vec::new();
        let ranks = self.segments.ranks();
        let mut sorted: Vec<_> = aggs
            .map(|(seg, agg, tracks)| (ranks[seg as usize], seg, agg, tracks))
            .collect();
        sorted.sort_unstable_by_key(|a| a.0);
        for (_, seg, agg, tracks) in sorted {
            if is_final {
                self.segments.mark_dirty(seg);
            }
            let Some((id, segment)) = self.segments.entry(seg) else {
                continue;
            };
            if is_final {
                segment.state.seen(spec.end(start));
            }
            let verdict = Verdict {
                road: segment.road,
                default_free_flow: settings.default_free_flow_kph,
                hysteresis: settings.hysteresis,
                state: &mut segment.state,
            };
            let measures = agg.measures(spec.size_ms, tracks);
            let event =
                CongestionEvent::build(id, start, spec.end(start), measures, is_final, verdict);
            if let (Some(p), Some(h)) = (&detection, segment.history.as_mut()) {
                facts.push((seg, h.observe(&event, p)));
            }
            out.push(event);
        }
        facts
    }

    /// Clock tick: in `updates` mode, emits early results of the windows that changed since
    /// the last update, at most every update interval.
    pub fn on_tick(&mut self, wall_ms: i64, out: &mut Vec<CongestionEvent>) {
        if let EmitMode::Updates { interval_ms } = self.settings.emit {
            let due = self.next_update_at.is_none_or(|t| wall_ms >= t);
            if due {
                self.next_update_at = Some(wall_ms.saturating_add(interval_ms));
                self.emit_updates(out);
            }
        }
    }

    /// The partition is caught up and the broker reachable: after `idle_timeout` without
    /// records, stream time advances by the wall-clock time since the last record (or since
    /// the last [`Task::hold_idle`]) and closes what that closes.
    pub fn on_idle(&mut self, wall_ms: i64, out: &mut Vec<CongestionEvent>) {
        let (Some(timeout), Some(last_wall), Some(base)) = (
            self.settings.idle_timeout_ms,
            self.last_record_wall,
            self.stream_time_at_last_record,
        ) else {
            return;
        };
        let idle = wall_ms.saturating_sub(last_wall);
        if idle >= timeout {
            self.stream_time.observe(base.saturating_add(idle));
            self.close_windows(out);
        }
    }

    /// Time that must not count as idle (the partition has a backlog, or the broker is out
    /// of reach): the idle clock restarts at `wall_ms`, from the current stream time.
    pub fn hold_idle(&mut self, wall_ms: i64) {
        if self.last_record_wall.is_some() {
            self.last_record_wall = Some(wall_ms);
            self.stream_time_at_last_record = self.stream_time.get();
        }
    }

    fn emit_updates(&mut self, out: &mut Vec<CongestionEvent>) {
        type Changed = (u32, WindowAgg, Option<Tracks>);
        let mut changed: Vec<(EpochMillis, Vec<Changed>)> = Vec::new();
        for (start, bucket) in self.windows.iter_mut() {
            let (aggs, tracks) = (&bucket.aggs, &bucket.tracks);
            let dirty: Vec<Changed> = bucket
                .changed
                .drain()
                .filter_map(|seg| {
                    let agg = aggs.get(&seg)?.clone();
                    Some((seg, agg, tracks.get(&seg).cloned()))
                })
                .collect();
            if !dirty.is_empty() {
                changed.push((*start, dirty));
            }
        }
        for (start, aggs) in changed {
            let all = aggs.iter().map(|(s, a, t)| (*s, a, t.as_ref()));
            self.emit_bucket(start, all, false, out);
        }
    }

    /// End of a bounded input: every open window is final (an infinite watermark).
    pub fn close_all(&mut self, out: &mut Vec<CongestionEvent>) {
        let windows = std::mem::take(&mut self.windows);
        for (start, bucket) in windows {
            self.emit_final(start, bucket, out);
        }
    }

    /// Hands over, for the state changelog, each segment evicted since the last call (`None`:
    /// a tombstone), then the long-lived state of every segment a final window changed (its
    /// congestion state and, with detection on, its detection history); each once, in that
    /// order.
    pub fn drain_state_changes(&mut self, f: impl FnMut(&str, Change<'_>)) {
        self.segments.drain_changes(f);
    }

    /// Puts back a segment's long-lived state, as the changelog last recorded it (`None`: a
    /// tombstone, the segment was evicted). Called on a restored task before its first event.
    /// Restored state is taken back even over the segment budget.
    pub fn restore_segment(&mut self, id: &str, state: Option<(SegmentState, Option<History>)>) {
        let Some((mut state, history)) = state else {
            return self.segments.forget(id);
        };
        // A record from before retention existed: retention counts from the restored time.
        if let (None, Some(t)) = (state.last_seen(), self.stream_time.get()) {
            state.seen(t);
        }
        let settings = &self.settings;
        let seg = self.segments.restore(id, || new_segment(settings, id));
        let Some(segment) = self.segments.get_mut(seg) else {
            return;
        };
        segment.state = state;
        if let (Some(h), Some(slot)) = (history, segment.history.as_mut()) {
            **slot = h;
        }
    }

    /// Segments with long-lived state in this task.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }

    /// This task's segments by the level of their last final window, in `Level::ALL` order.
    pub fn levels(&self) -> [usize; Level::ALL.len()] {
        self.segments.levels()
    }

    pub fn checkpoint(&self) -> Checkpoint {
        let oldest_open = self.windows.values().map(|b| b.first_offset).min();
        Checkpoint {
            offset: match (oldest_open, self.position) {
                (Some(o), _) => Some(o),
                (None, p) => p,
            },
            stream_time: self.stream_time.get(),
            position: self.position.max(self.replay_until),
        }
    }
}

impl Drop for Task {
    /// A task dropped (its partition revoked, or rewound) gives its open windows back to the
    /// budget (its segments go back with its segment table).
    fn drop(&mut self) {
        self.settings.limits.windows.release(self.open_windows());
    }
}

fn new_segment(settings: &ProcessorSettings, id: &str) -> Segment {
    let road = Road::from_catalog(settings.catalog.get(id));
    Segment::new(road, settings.detection.map(|_| Box::default()))
}
