//! The detector of one corridor: fed the corridor's closed windows one window start at a time,
//! in window order, plus reports; emits incident events. All of its state is plain data that
//! serialises (serde), so it can be mirrored to a changelog and restored.
//!
//! Per window it (1) reads every segment's probe speed against its baseline, (2) folds the
//! detector readings into the stations and steps every pair's California and APID machines,
//! (3) gathers [`Signals`] per segment, (4) moves each active incident on (updated, cleared),
//! (5) raises new incidents per algorithm, downstream segments first so a queue's head wins
//! over its tail, and (6) learns the window into the baselines.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::baseline::Baseline;
use super::corridor::Topology;
use super::lifecycle::{Candidate, Lifecycle, LifecycleSettings, Observation};
use super::pair::{Apid, California, PairMeasures, Station};
use super::probe::{edge, slowed, ProbeRun, ProbeSettings, ProbeView};
use super::reports::ReportBook;
use super::signals::Signals;
use super::{Algorithm, Evidence, IncidentEvent, Report, SegmentWindow, Severity};
use crate::domain::event::EpochMillis;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectorSettings {
    pub probe: ProbeSettings,
    pub lifecycle: LifecycleSettings,
    /// How long a report waits for a measurement to confirm it.
    pub report_ttl_ms: i64,
}

impl Default for DetectorSettings {
    fn default() -> Self {
        Self {
            probe: ProbeSettings::default(),
            lifecycle: LifecycleSettings::default(),
            report_ttl_ms: 20 * 60_000,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct SegState {
    baseline: Baseline,
    probe: ProbeRun,
    station: Station,
    /// Start of the first window of the current run of signals (an anomaly's start).
    since: Option<EpochMillis>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PairSlot {
    up: String,
    down: String,
    california: California,
    apid: Apid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    topo: Topology,
    settings: DetectorSettings,
    segments: BTreeMap<String, SegState>,
    pairs: Vec<PairSlot>,
    reports: ReportBook,
    lifecycles: Vec<Lifecycle>,
}

type Views = BTreeMap<String, ProbeView>;

impl Detector {
    pub fn new(topo: Topology, settings: DetectorSettings, algorithms: &[Algorithm]) -> Self {
        let pairs = topo
            .order
            .iter()
            .flat_map(|up| {
                topo.downstream_of(up).iter().map(|down| PairSlot {
                    up: up.clone(),
                    down: down.clone(),
                    california: California::default(),
                    apid: Apid::default(),
                })
            })
            .collect();
        Detector {
            segments: topo
                .order
                .iter()
                .map(|s| (s.clone(), SegState::default()))
                .collect(),
            pairs,
            topo,
            settings,
            reports: ReportBook::default(),
            lifecycles: algorithms.iter().map(|a| Lifecycle::new(*a)).collect(),
        }
    }

    pub fn corridor(&self) -> &str {
        &self.topo.id
    }

    /// The corridor's segments, upstream first.
    pub fn order(&self) -> &[String] {
        &self.topo.order
    }

    pub fn active(&self) -> usize {
        self.lifecycles.iter().map(|l| l.active().len()).sum()
    }

    pub fn on_report(&mut self, r: Report) {
        self.reports.add(r);
    }

    /// One window start of the corridor (every window shares `window_start`).
    pub fn on_window(&mut self, windows: &[SegmentWindow], out: &mut Vec<IncidentEvent>) {
        let Some(first) = windows.first() else {
            return;
        };
        let (start, end) = (first.window_start, first.window_end);
        self.reports.expire(end, self.settings.report_ttl_ms);
        let by_seg: BTreeMap<&str, &SegmentWindow> =
            windows.iter().map(|w| (w.segment_id.as_str(), w)).collect();
        for (seg, state) in self.segments.iter_mut() {
            state.station.push(by_seg.get(seg.as_str()).copied());
        }
        let views = self.views(&by_seg);
        let signals = self.signals(&by_seg, &views, start, end);
        self.observe(&signals, end, out);
        self.raise(&signals, end, out);
        self.learn(&by_seg, &signals, start);
    }

    /// Every window with a speed feeds the baseline — the judged one, else a few probes' (a
    /// quiet hour has few windows with enough samples to judge, but its baseline must still
    /// fill); queue heads are learned from judged windows only.
    fn learn(
        &mut self,
        by_seg: &BTreeMap<&str, &SegmentWindow>,
        signals: &BTreeMap<String, Signals>,
        start: EpochMillis,
    ) {
        let p = &self.settings.probe;
        for (seg, w) in by_seg {
            let judged = signals.get(*seg).and_then(|s| s.view).map(|v| v.speed);
            let speed = judged.or(w.probe_speed_kph);
            let (Some(speed), Some(state)) = (speed, self.segments.get_mut(*seg)) else {
                continue;
            };
            let floor = p.sd_floor_ratio * w.free_flow_kph.max(1.0);
            state.baseline.learn(start, speed, p.min_history, floor);
            if let Some(head) = signals.get(*seg).and_then(|s| s.head) {
                state.baseline.learn_head(start, head);
            }
        }
    }

    fn views(&self, by_seg: &BTreeMap<&str, &SegmentWindow>) -> Views {
        by_seg
            .iter()
            .filter_map(|(seg, w)| {
                let state = self.segments.get(*seg)?;
                let ok = state.station.occ().is_some();
                let v = ProbeView::of(w, &state.baseline, &self.settings.probe, ok)?;
                Some((seg.to_string(), v))
            })
            .collect()
    }

    fn pair_signals(&mut self, seg: &str, s: &mut Signals) {
        for slot in self.pairs.iter_mut().filter(|p| p.up == seg) {
            let (Some(up), Some(down)) =
                (self.segments.get(&slot.up), self.segments.get(&slot.down))
            else {
                continue;
            };
            let m = PairMeasures::of(&up.station, &down.station);
            s.california |= slot.california.step(m.as_ref());
            s.cal_tentative |= slot.california.tentative();
            s.apid |= slot.apid.step(m.as_ref());
            s.apid_pending |= slot.apid.pending();
            s.pair = s.pair.or(m);
        }
    }

    fn signals(
        &mut self,
        by_seg: &BTreeMap<&str, &SegmentWindow>,
        views: &Views,
        start: EpochMillis,
        end: EpochMillis,
    ) -> BTreeMap<String, Signals> {
        let p = self.settings.probe;
        let mut all = BTreeMap::new();
        for seg in self.topo.order.clone() {
            let mut s = Signals {
                view: views.get(&seg).copied(),
                down: self.downstream(&seg, views, by_seg),
                up_z: self
                    .topo
                    .upstream_of(&seg)
                    .iter()
                    .filter_map(|u| views.get(u).and_then(ProbeView::z))
                    .reduce(f64::min),
                ratio: by_seg
                    .get(seg.as_str())
                    .and_then(|w| w.speed_kph.map(|v| v / w.free_flow_kph.max(1.0))),
                ..Signals::default()
            };
            s.uninformative = s.view.is_none_or(|v| v.uninformative(&p));
            let down_unknown = s.down.is_none() && !self.topo.downstream_of(&seg).is_empty();
            if let Some(v) = s.view.filter(|_| !down_unknown).as_ref() {
                let usual = self
                    .segments
                    .get(&seg)
                    .is_some_and(|st| st.baseline.usual_head(start, p.min_history / 3.0));
                s.usual_head = usual;
                s.head = Some(v.head(s.down.as_ref(), &p));
                s.probe_edge = !usual && edge(v, s.down.as_ref(), p.z_crit, &p);
                s.strong_edge = s.probe_edge
                    && v.samples >= 2 * p.min_samples
                    && edge(v, s.down.as_ref(), 2.0 * p.z_crit, &p);
                s.weak_edge = !usual && edge(v, s.down.as_ref(), p.z_weak, &p);
            }
            s.slowed = s.view.is_some_and(|v| slowed(&v, &p));
            self.pair_signals(&seg, &mut s);
            let zone = self.topo.zone(&seg);
            let zone: Vec<&str> = zone.iter().map(String::as_str).collect();
            (s.reports, s.report_kind) = self.reports.near(&zone, end);
            if let Some(state) = self.segments.get_mut(&seg) {
                let judged = s
                    .view
                    .filter(|v| v.dev.is_some() && !down_unknown)
                    .map(|_| s.probe_edge);
                s.probe_alarm = state.probe.step(judged, &p);
                state.since = if s.any() {
                    Some(state.since.unwrap_or(start))
                } else {
                    None
                };
            }
            all.insert(seg, s);
        }
        all
    }

    /// The fastest segment downstream: its view, or else its window speed however measured
    /// (a few probes, or a station that passed its checks; no baseline then); None when none
    /// of them has data (or there is none).
    fn downstream(
        &self,
        seg: &str,
        views: &Views,
        by_seg: &BTreeMap<&str, &SegmentWindow>,
    ) -> Option<ProbeView> {
        let from_any = |d: &String| {
            views.get(d).copied().or_else(|| {
                let w = by_seg.get(d.as_str())?;
                let station_ok = self
                    .segments
                    .get(d)
                    .is_some_and(|s| s.station.occ().is_some());
                if w.samples == 0 && !station_ok {
                    return None;
                }
                let ff = w.free_flow_kph.max(1.0);
                w.speed_kph.map(|v| ProbeView {
                    speed: v,
                    samples: 0,
                    ratio: v / ff,
                    free_flow: ff,
                    dev: None,
                })
            })
        };
        self.topo
            .downstream_of(seg)
            .iter()
            .filter_map(from_any)
            .max_by(|a, b| a.ratio.total_cmp(&b.ratio))
    }

    /// Segments of the queue behind `seg` (itself first) impacted under `algorithm`.
    fn extent(&self, seg: &str, signals: &BTreeMap<String, Signals>, a: Algorithm) -> Vec<String> {
        let mut queue = Vec::new();
        let mut at = Some(seg.to_string());
        while let Some(s) = at.take() {
            if queue.contains(&s) || !signals.get(&s).is_some_and(|x| x.impacted(a)) {
                break;
            }
            at = self.topo.upstream_of(&s).first().cloned();
            queue.push(s);
        }
        queue
    }

    fn observe(
        &mut self,
        signals: &BTreeMap<String, Signals>,
        end: EpochMillis,
        out: &mut Vec<IncidentEvent>,
    ) {
        let settings = self.settings.lifecycle;
        let mut lifecycles = std::mem::take(&mut self.lifecycles);
        for l in lifecycles.iter_mut() {
            let a = l.algorithm;
            l.observe(
                end,
                &settings,
                |active| {
                    let seg = &active.event.segment_id;
                    let queue = self.extent(seg, signals, a);
                    let mut zone: Vec<String> = queue.clone();
                    for q in &queue {
                        zone.extend(self.topo.upstream_of(q).iter().cloned());
                    }
                    Observation {
                        impacted: !queue.is_empty(),
                        severity: signals
                            .get(seg)
                            .and_then(|s| s.ratio)
                            .map(Severity::from_ratio),
                        extent: queue.len() as u32,
                        zone,
                    }
                },
                out,
            );
        }
        self.lifecycles = lifecycles;
    }

    fn raise(
        &mut self,
        signals: &BTreeMap<String, Signals>,
        end: EpochMillis,
        out: &mut Vec<IncidentEvent>,
    ) {
        let z_weak = self.settings.probe.z_weak;
        for seg in self.topo.order.iter().rev() {
            let Some(s) = signals.get(seg) else { continue };
            for l in self.lifecycles.iter_mut() {
                let Some(tests) = s.decide(l.algorithm) else {
                    continue;
                };
                if l.blocked(seg, end) {
                    continue;
                }
                let since = self.segments.get(seg).and_then(|st| st.since);
                let candidate = Candidate {
                    segment: seg.clone(),
                    started_at: since.unwrap_or(end),
                    detected_at: end,
                    severity: Severity::from_ratio(s.ratio.unwrap_or(1.0)),
                    confidence: crate::domain::output::round(s.confidence(z_weak), 2),
                    kind: s.report_kind.clone().unwrap_or_else(|| "unknown".into()),
                    evidence: evidence(s, tests),
                    zone: self.topo.zone(seg),
                };
                let zone: Vec<&str> = candidate.zone.iter().map(String::as_str).collect();
                if l.algorithm == Algorithm::Combined {
                    self.reports.consume(&zone, end);
                }
                l.open(&self.topo.id, candidate, out);
            }
        }
    }
}

fn evidence(s: &Signals, tests: Vec<&'static str>) -> Evidence {
    let r = |v: f64| crate::domain::output::round(v, 2);
    Evidence {
        tests: tests.into_iter().map(String::from).collect(),
        speed_kph: s.view.map(|v| r(v.speed)),
        baseline_kph: s.view.and_then(|v| v.dev).map(|d| r(d.mean)),
        z: s.view.and_then(|v| v.z()).map(r),
        downstream_speed_kph: s.down.map(|v| r(v.speed)),
        downstream_z: s.down.and_then(|v| v.z()).map(r),
        upstream_z: s.up_z.map(r),
        occdf: s.pair.map(|m| r(m.occdf)),
        occrdf: s.pair.map(|m| r(m.occrdf)),
        docctd: s.pair.and_then(|m| m.docctd).map(r),
        docc: s.pair.map(|m| r(m.docc)),
        reports: s.reports.clone(),
        extent: 1,
    }
}
