//! Judging one window in one detection partition.
//!
//! A segment is *judged* in a window when it or a direct neighbour has a final window then, and
//! the partition *tracks* it: it is one of the partition's keys or a direct neighbour of one
//! (the ownership rule needs the neighbours' episodes). Both depend only on the segment's
//! neighbourhood, so every partition that tracks a segment judges it in the same windows and
//! comes to the same signals and episodes. Per window: (1) the window's reports join the state
//! of their segments; (2) every judged segment's [`Signals`] are computed, stepping its probe
//! persistence and detector-pair machines; (3) every judged segment's episodes move on and new
//! ones open; (4) for the keys this partition owns, raised incidents are updated or cleared,
//! and new episodes are raised unless a neighbour's episode blocks them ([`super::episode`]).

use std::collections::{HashMap, HashSet};

use super::baseline::{Usual, USUAL_BINS};
use super::blockage::{self, Downstream};
use super::facts::Facts;
use super::pair::PairMeasures;
use super::probe::{edge, slowed, ProbeSettings};
use super::reports;
use super::route::Routing;
use super::signals::Signals;
use super::state::SegState;
use super::task::Segments;
use super::{Algorithm, DetectSettings, IncidentEvent, Severity, Status};
use crate::domain::event::EpochMillis;
use crate::domain::output::round;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
type FastSet<K> = HashSet<K, foldhash::fast::FixedState>;

/// One window start's facts and reports, as they arrived from every input partition.
pub(crate) struct Window {
    pub start: EpochMillis,
    pub end: EpochMillis,
    pub facts: FastMap<u32, Facts>,
    pub reports: Vec<super::Report>,
    /// First repartition offset that fed this window (None in replay).
    pub first_offset: Option<i64>,
}

pub(crate) struct Judge<'a> {
    pub segs: &'a mut Segments,
    pub routing: &'a Routing,
    pub settings: &'a DetectSettings,
    pub partition: u32,
    pub states: &'a mut FastMap<u32, SegState>,
    pub dirty: &'a mut FastSet<u32>,
}

/// What the episodes did in this window, per judged segment and rule.
#[derive(Clone, Copy, Default)]
struct Step {
    opened: bool,
    closed: bool,
}

impl Judge<'_> {
    pub fn window(&mut self, w: &Window, out: &mut Vec<IncidentEvent>) {
        for r in &w.reports {
            let seg = self.segs.index(&r.segment_id);
            let state = self.states.entry(seg).or_default();
            reports::prune(&mut state.reports, w.end, self.settings.report_ttl_ms);
            state.reports.push(r.clone());
            self.dirty.insert(seg);
        }
        let judged = self.judged(w);
        let signals: Vec<(u32, Signals)> =
            judged.iter().map(|&j| (j, self.signals(j, w))).collect();
        let rules = self.settings.algorithms.len();
        let mut steps = vec![Step::default(); signals.len() * rules];
        for ((j, s), steps) in signals.iter().zip(steps.chunks_mut(rules.max(1))) {
            self.episodes(*j, s, w.end, steps);
        }
        for (i, (k, s)) in signals.iter().enumerate() {
            if self.owned(*k) {
                let steps = &steps[i * rules..(i + 1) * rules];
                self.events(*k, s, steps, &signals, w, out);
            }
        }
    }

    /// Runs `f` on segment `j`'s state: the stored one, or a default one kept only if `f`
    /// leaves something in it (a quiet segment costs no allocation). Marks it dirty when `f`
    /// says it changed it.
    fn with_state<R>(&mut self, j: u32, f: impl FnOnce(&mut SegState) -> (R, bool)) -> R {
        let (r, changed) = match self.states.get_mut(&j) {
            Some(st) => f(st),
            None => {
                let mut st = SegState::default();
                let out = f(&mut st);
                if !st.is_default() {
                    self.states.insert(j, st);
                }
                out
            }
        };
        if changed {
            self.dirty.insert(j);
        }
        r
    }

    fn owned(&self, seg: u32) -> bool {
        (seg as usize) >= self.segs.net.len()
            || self.routing.partition_of_index(seg) == self.partition
    }

    fn tracked(&self, seg: u32) -> bool {
        self.owned(seg) || self.adjacent(seg).any(|n| self.owned(n))
    }

    fn adjacent(&self, seg: u32) -> impl Iterator<Item = u32> + '_ {
        let net = &self.segs.net;
        net.downstream(seg).iter().chain(net.upstream(seg)).copied()
    }

    /// Tracked segments with a final window of their own or of a direct neighbour, in index
    /// (id) order.
    fn judged(&self, w: &Window) -> Vec<u32> {
        let mut v = Vec::with_capacity(w.facts.len() * 3);
        for &s in w.facts.keys() {
            for j in std::iter::once(s).chain(self.adjacent(s)) {
                if self.tracked(j) {
                    v.push(j);
                }
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    fn signals(&mut self, j: u32, w: &Window) -> Signals {
        let p = self.settings.probe;
        let net = &self.segs.net;
        let (downs, ups) = (net.downstream(j), net.upstream(j));
        let own = w.facts.get(&j);
        let view = own.and_then(Facts::view);
        let down = downs
            .iter()
            .filter_map(|d| w.facts.get(d).and_then(Facts::seen_view))
            .max_by(|a, b| a.ratio.total_cmp(&b.ratio));
        let mut s = Signals {
            view,
            down,
            up_z: ups
                .iter()
                .filter_map(|u| w.facts.get(u)?.view()?.z())
                .reduce(f64::min),
            ratio: own.and_then(Facts::ratio),
            ..Signals::default()
        };
        s.uninformative = view.is_none_or(|v| v.uninformative(&p));
        let down_unknown = down.is_none() && !downs.is_empty();
        if let Some(v) = view.filter(|_| !down_unknown) {
            let down_usual: Vec<&Usual> = downs
                .iter()
                .filter_map(|d| w.facts.get(d).map(|f| &f.usual))
                .collect();
            let usual =
                own.is_some_and(|f| usual_edge(&f.usual, &down_usual, !downs.is_empty(), &p));
            s.usual_head = usual;
            s.head = Some(v.head(down.as_ref(), &p));
            s.probe_edge = !usual && edge(&v, down.as_ref(), p.z_crit, &p);
            s.strong_edge = s.probe_edge
                && v.samples >= 2 * p.min_samples
                && edge(&v, down.as_ref(), 2.0 * p.z_crit, &p);
            s.weak_edge = !usual && edge(&v, down.as_ref(), p.z_weak, &p);
        }
        s.slowed = view.is_some_and(|v| slowed(&v, &p));
        // The blockage test judges a segment with no baseline that is not usually slow now.
        let fresh = own.is_some_and(|f| {
            f.baseline.is_none() && !blockage::usual_slow(&f.usual, &p) && !net.signalised(j)
        });
        s.queued = fresh && view.is_some_and(|v| v.ratio < p.slow_ratio);
        let below: Vec<Downstream> = downs
            .iter()
            .map(|d| Downstream {
                facts: w.facts.get(d),
                bottleneck: net.bottleneck(j, *d),
            })
            .collect();
        let bs = self.settings.blockage;
        let zone = std::iter::once(j)
            .chain(ups.iter().copied())
            .chain(downs.iter().copied());
        let near = zone
            .filter_map(|z| self.states.get(&z))
            .flat_map(|st| st.reports.iter());
        (s.reports, s.report_kind) =
            reports::corroborating(near, w.end, self.settings.report_ttl_ms);
        let stations: Vec<_> = downs
            .iter()
            .map(|d| {
                match (
                    own.and_then(|f| f.station),
                    w.facts.get(d).and_then(|f| f.station),
                ) {
                    (Some(a), Some(b)) => Some(PairMeasures::of(&a, &b)),
                    _ => None,
                }
            })
            .collect();
        self.with_state(j, |state| {
            let before = (state.run, state.blockage, state.since);
            (s.blockage_edge, s.blockage) = state.blockage.step(w.end, own, &below, fresh, &bs);
            let mut changed = false;
            for (i, m) in stations.iter().enumerate() {
                let old = state.pairs.get(i).copied().unwrap_or_default();
                let mut pair = old;
                s.california |= pair.0.step(m.as_ref());
                s.cal_tentative |= pair.0.tentative();
                s.apid |= pair.1.step(m.as_ref());
                s.apid_pending |= pair.1.pending();
                s.pair = s.pair.or(*m);
                if pair != old {
                    if state.pairs.len() <= i {
                        state.pairs.resize(stations.len(), Default::default());
                    }
                    state.pairs[i] = pair;
                    changed = true;
                }
            }
            let judged = s
                .view
                .filter(|v| v.dev.is_some() && !down_unknown)
                .map(|_| s.probe_edge);
            s.probe_alarm = state.run.step(judged, &p);
            state.since = if s.any() {
                Some(state.since.unwrap_or(w.start))
            } else {
                None
            };
            (
                (),
                changed || before != (state.run, state.blockage, state.since),
            )
        });
        s
    }

    fn episodes(&mut self, j: u32, s: &Signals, end: EpochMillis, steps: &mut [Step]) {
        let algorithms = &self.settings.algorithms;
        let lifecycle = self.settings.lifecycle;
        let (states, dirty) = (&mut *self.states, &mut *self.dirty);
        let mut judge = |state: &mut SegState| {
            let mut changed = false;
            for (rule, a) in algorithms.iter().enumerate() {
                let old = state.episodes.get(rule).copied().unwrap_or_default();
                let mut e = old;
                let closed = e.advance(end, s.impacted(*a), &lifecycle);
                let opened = e.open(end, s.decide(*a).is_some());
                steps[rule] = Step { opened, closed };
                if e != old {
                    if state.episodes.len() <= rule {
                        state.episodes.resize(algorithms.len(), Default::default());
                    }
                    state.episodes[rule] = e;
                    changed = true;
                }
            }
            changed
        };
        let changed = match states.get_mut(&j) {
            Some(st) => judge(st),
            None => {
                let mut st = SegState::default();
                let changed = judge(&mut st);
                if !st.is_default() {
                    states.insert(j, st);
                }
                changed
            }
        };
        if changed {
            dirty.insert(j);
        }
    }

    /// Whether neighbour `n` goes before `k` when both open an episode in one window: the
    /// segment downstream goes first; between two that are both, the smaller id.
    fn first(&self, n: u32, k: u32) -> bool {
        let net = &self.segs.net;
        match (net.is_downstream(k, n), net.is_downstream(n, k)) {
            (true, false) => true,
            (true, true) => n < k,
            _ => false,
        }
    }

    fn blocked(&self, k: u32, rule: usize, end: EpochMillis) -> bool {
        self.adjacent(k).filter(|n| *n != k).any(|n| {
            let episode = self.states.get(&n).and_then(|st| st.episodes.get(rule));
            episode.is_some_and(|e| e.blocks(end, self.first(n, k)))
        })
    }

    fn events(
        &mut self,
        k: u32,
        s: &Signals,
        steps: &[Step],
        all: &[(u32, Signals)],
        w: &Window,
        out: &mut Vec<IncidentEvent>,
    ) {
        let rules = self.settings.algorithms.len();
        for rule in 0..rules {
            let a = self.settings.algorithms[rule];
            let step = steps.get(rule).copied().unwrap_or_default();
            let raised = self
                .states
                .get(&k)
                .is_some_and(|st| st.raised.get(rule).is_some_and(Option::is_some));
            if !raised && !step.opened {
                continue;
            }
            let extent = self.extent(k, a, all, w);
            let raise = step.opened && !self.blocked(k, rule, w.end);
            let candidate = raise.then(|| self.candidate(k, s, a, w));
            let severity = s.ratio.map(Severity::from_ratio);
            self.with_state(k, |state| {
                if state.raised.len() < rules {
                    state.raised.resize(rules, None);
                }
                let slot = &mut state.raised[rule];
                let mut changed = false;
                if let Some(event) = slot.as_mut() {
                    if step.closed {
                        event.status = Status::Cleared;
                        event.cleared_at = Some(w.end);
                        out.push(event.clone());
                        *slot = None;
                        changed = true;
                    } else if severity.is_some_and(|v| v > event.severity)
                        || extent > event.evidence.extent
                    {
                        event.severity = event.severity.max(severity.unwrap_or(Severity::Minor));
                        event.evidence.extent = event.evidence.extent.max(extent);
                        event.status = Status::Updated;
                        out.push(event.clone());
                        changed = true;
                    }
                }
                if let Some(event) = candidate {
                    out.push(event.clone());
                    *slot = Some(event);
                    changed = true;
                }
                ((), changed)
            });
        }
    }

    /// Segments of the queue behind `k` (itself first) impacted under `a`: the segment, the one
    /// directly upstream if it is judged impacted, and the next one up if its probes are slow.
    fn extent(&self, k: u32, a: Algorithm, all: &[(u32, Signals)], w: &Window) -> u32 {
        let impacted = |seg: u32| {
            all.binary_search_by_key(&seg, |(j, _)| *j)
                .is_ok_and(|i| all[i].1.impacted(a))
        };
        if !impacted(k) {
            return 0;
        }
        let net = &self.segs.net;
        let Some(&u1) = net.upstream(k).first().filter(|u| impacted(**u)) else {
            return 1;
        };
        let slow = |seg: u32| {
            let v = w.facts.get(&seg).and_then(Facts::view);
            v.is_some_and(|v| slowed(&v, &self.settings.probe))
        };
        match net.upstream(u1).first() {
            Some(&u2) if u2 != k && slow(u2) => 3,
            _ => 2,
        }
    }

    fn candidate(&self, k: u32, s: &Signals, a: Algorithm, w: &Window) -> IncidentEvent {
        let started_at = self.states.get(&k).and_then(|st| st.since).unwrap_or(w.end);
        let suffix = match a {
            Algorithm::Combined => String::new(),
            a => format!("/{}", a.as_str()),
        };
        let id = self.segs.id(k);
        IncidentEvent {
            incident_id: format!("{id}@{started_at}{suffix}"),
            segment_id: id.to_string(),
            status: Status::Detected,
            kind: s.report_kind.clone().unwrap_or_else(|| "unknown".into()),
            severity: Severity::from_ratio(s.ratio.unwrap_or(1.0)),
            started_at,
            detected_at: w.end,
            cleared_at: None,
            algorithm: a,
            confidence: round(s.confidence(self.settings.probe.z_weak), 2),
            evidence: s.evidence(s.decide(a).unwrap_or_default()),
        }
    }
}

/// Whether the baselines say this segment is usually the head of a queue around this time of
/// day: in some bin within ± 30 minutes it is usually slow and a segment downstream usually
/// clearly faster (a recurrent bottleneck). An edge there is not news.
fn usual_edge(here: &Usual, downs: &[&Usual], has_downstream: bool, p: &ProbeSettings) -> bool {
    (0..USUAL_BINS).any(|k| {
        let Some(r) = here.ratio(k).filter(|r| *r < p.slow_ratio) else {
            return false;
        };
        !has_downstream
            || downs
                .iter()
                .any(|d| d.ratio(k).is_some_and(|rd| rd - r >= p.gap_ratio))
    })
}
