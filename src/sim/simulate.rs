//! `roadpulse simulate`: runs a [`Scenario`] through the cell transmission model and writes what
//! the field would see — probe pings, 30-s detector readings, incident reports, in the raw event
//! contract — plus the ground truth ([`TruthRecord`]) and the segment catalogue.
//!
//! Every simulated day starts from an empty corridor warmed up for 30 minutes before `from`.
//! Events come out in model-step order; a ping's time is spread inside its step and a detector
//! reading is stamped with its interval's start, so the input is slightly out of order, as real
//! feeds are (well within the default 30 s grace). The same scenario and seed give the same
//! bytes.

use std::io::{self, Write};

use super::generator::Rng;
use super::network::Network;
use super::scenario::{time_of_day_ms, Corridor, FaultMode, Scenario, ScenarioError, DAY_MS};
use super::sensors::{Detector, Probes};
use super::truth::{TruthRecord, WindowTruth};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("cannot write the simulation output: {0}")]
    Io(#[from] io::Error),
}

/// Where raw events go: `(key, JSON value)` per event.
pub type EventSink<'a> = dyn FnMut(&str, &[u8]) -> io::Result<()> + 'a;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct SimSummary {
    pub events: u64,
    pub incidents: usize,
    pub truth_windows: u64,
}

const WARM_UP_MS: i64 = 30 * 60_000;

/// An incident of the scenario in absolute time.
#[derive(Debug, Clone)]
struct Planned {
    id: String,
    corridor: usize,
    cell: usize,
    start: i64,
    end: i64,
    drop: f64,
    kind: String,
    report_at: Option<i64>,
}

/// A scheduled report (true or false) not yet written.
#[derive(Debug, Clone)]
struct Report {
    at: i64,
    segment_id: String,
    category: String,
    id: String,
}

/// The catalogue of the scenario's segments (CSV, as `congestion.catalog` reads it).
pub fn catalog_csv(s: &Scenario) -> String {
    let mut out = String::from("segment_id,free_flow_kph,lanes,length_m,upstream,downstream\n");
    for c in &s.corridors {
        for i in 1..=c.segments {
            let up = if i > 1 {
                c.segment_id(i - 1)
            } else {
                String::new()
            };
            let down = if i < c.segments {
                c.segment_id(i + 1)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "{},{},{},{},{up},{down}\n",
                c.segment_id(i),
                c.free_flow_kph,
                c.lanes_at(i),
                c.length_m
            ));
        }
    }
    out
}

fn plan(s: &Scenario, start_ms: i64) -> Result<(Vec<Planned>, Vec<Report>), ScenarioError> {
    let mut planned = Vec::new();
    let mut reports = Vec::new();
    for (n, i) in s.incidents.iter().enumerate() {
        let corridor = s.corridor_index(&i.corridor)?;
        let start = start_ms + i64::from(i.day.max(1) - 1) * DAY_MS + time_of_day_ms(&i.at)?;
        let p = Planned {
            id: format!("sim-{}", n + 1),
            corridor,
            cell: (i.segment - 1) as usize,
            start,
            end: start + (i.duration_min * 60_000.0) as i64,
            drop: i.capacity_drop,
            kind: i.kind.clone(),
            report_at: i.report_delay_s.map(|d| start + (d * 1000.0) as i64),
        };
        if let Some(at) = p.report_at {
            let c = &s.corridors[corridor];
            reports.push(Report {
                at,
                segment_id: c.segment_id(i.segment),
                category: i.kind.clone(),
                id: format!("{}-report", p.id),
            });
        }
        planned.push(p);
    }
    for (n, r) in s.false_reports.iter().enumerate() {
        let c = &s.corridors[s.corridor_index(&r.corridor)?];
        reports.push(Report {
            at: start_ms + i64::from(r.day.max(1) - 1) * DAY_MS + time_of_day_ms(&r.at)?,
            segment_id: c.segment_id(r.segment),
            category: r.category.clone(),
            id: format!("false-{}", n + 1),
        });
    }
    reports.sort_by_key(|r| r.at);
    Ok((planned, reports))
}

/// One corridor during one simulated day.
struct Run<'a> {
    spec: &'a Corridor,
    index: usize,
    net: Network,
    ids: Vec<String>,
    truth: Vec<WindowTruth>,
    detectors: Vec<Option<Detector>>,
    day_factor: f64,
}

impl<'a> Run<'a> {
    fn new(s: &'a Scenario, index: usize, rng: &mut Rng) -> Self {
        let spec = &s.corridors[index];
        let n = spec.segments as usize;
        let spacing = s.detectors.spacing as usize;
        Run {
            spec,
            index,
            net: Network::new(spec),
            ids: (1..=spec.segments).map(|i| spec.segment_id(i)).collect(),
            truth: vec![WindowTruth::default(); n],
            detectors: (0..n)
                .map(|i| (spacing > 0 && i % spacing == 0).then(Detector::default))
                .collect(),
            day_factor: (1.0 + spec.daily_variation * rng.gauss()).max(0.0),
        }
    }

    fn demand(&self, tod_ms: i64) -> f64 {
        self.spec.demand_vph * self.spec.demand_factor(tod_ms) * self.day_factor
    }
}

/// Runs the whole scenario, handing each raw event to `sink` and writing truth to `truth`.
pub fn simulate(
    s: &Scenario,
    sink: &mut EventSink<'_>,
    truth: &mut dyn Write,
) -> Result<SimSummary, SimError> {
    let start_ms = s.start_ms()?;
    let (planned, mut reports) = plan(s, start_ms)?;
    let mut summary = SimSummary {
        incidents: planned.len(),
        ..SimSummary::default()
    };
    for p in &planned {
        let c = &s.corridors[p.corridor];
        let record = TruthRecord::Incident {
            incident_id: p.id.clone(),
            corridor: c.id.clone(),
            segment_id: c.segment_id(p.cell as u32 + 1),
            start: p.start,
            end: p.end,
            capacity_drop: p.drop,
            kind: p.kind.clone(),
        };
        write_truth(truth, &record)?;
    }
    let mut rng = Rng::new(s.seed);
    let (from, to) = (time_of_day_ms(&s.from)?, time_of_day_ms(&s.to)?);
    let mut out = Emitter {
        sink,
        truth,
        summary: &mut summary,
        probes: Probes::new(&s.probes),
    };
    for day in 0..i64::from(s.days) {
        let midnight = start_ms + day * DAY_MS;
        let mut runs: Vec<Run> = (0..s.corridors.len())
            .map(|i| Run::new(s, i, &mut rng))
            .collect();
        for run in runs.iter_mut() {
            let mut t = from - WARM_UP_MS;
            while t < from {
                run.net.step(f64::from(s.step_s), run.demand(t));
                t += i64::from(s.step_s) * 1000;
            }
        }
        let day_span = (midnight + from, midnight + to);
        simulate_day(
            s,
            day_span,
            &mut runs,
            &planned,
            &mut reports,
            &mut rng,
            &mut out,
        )?;
    }
    Ok(summary)
}

struct Emitter<'a, 'b> {
    sink: &'a mut EventSink<'b>,
    truth: &'a mut dyn Write,
    summary: &'a mut SimSummary,
    probes: Probes,
}

impl Emitter<'_, '_> {
    fn event(&mut self, key: &str, value: &str) -> io::Result<()> {
        self.summary.events += 1;
        (self.sink)(key, value.as_bytes())
    }
}

fn write_truth(out: &mut dyn Write, record: &TruthRecord) -> io::Result<()> {
    let line = serde_json::to_string(record).map_err(io::Error::other)?;
    writeln!(out, "{line}")
}

fn simulate_day(
    s: &Scenario,
    (begin, end): (i64, i64),
    runs: &mut [Run],
    planned: &[Planned],
    reports: &mut Vec<Report>,
    rng: &mut Rng,
    out: &mut Emitter,
) -> Result<(), SimError> {
    let step_ms = i64::from(s.step_s) * 1000;
    let window_ms = i64::from(s.window_s) * 1000;
    let interval_ms = i64::from(s.detectors.interval_s) * 1000;
    let mut t = begin;
    while t < end {
        let tod = t.rem_euclid(DAY_MS);
        for run in runs.iter_mut() {
            apply_incidents(run, planned, t);
            run.net.step(f64::from(s.step_s), run.demand(tod));
            mark_affected(run, planned, t);
            observe(run, t, step_ms, rng, out)?;
        }
        while reports.first().is_some_and(|r| r.at < t + step_ms) {
            let r = reports.remove(0);
            let json = format!(
                r#"{{"type":"report","segment_id":"{}","ts":{},"report_id":"{}","category":"{}","source":"sim"}}"#,
                r.segment_id, r.at, r.id, r.category
            );
            out.event(&r.segment_id, &json)?;
        }
        t += step_ms;
        if (t - begin) % interval_ms == 0 {
            for run in runs.iter_mut() {
                detector_readings(s, run, (t - interval_ms, t), rng, out)?;
            }
        }
        if t.rem_euclid(window_ms) == 0 || t >= end {
            let w_start = (t - 1).div_euclid(window_ms) * window_ms;
            for run in runs.iter_mut() {
                for (i, acc) in run.truth.iter_mut().enumerate() {
                    let record = acc.finish(
                        &run.ids[i],
                        (w_start, w_start + window_ms),
                        run.spec.free_flow_kph,
                    );
                    write_truth(out.truth, &record)?;
                    out.summary.truth_windows += 1;
                }
            }
        }
    }
    Ok(())
}

fn apply_incidents(run: &mut Run, planned: &[Planned], t: i64) {
    for cell in 0..run.net.len() {
        run.net.set_capacity_factor(cell, 1.0);
    }
    for p in planned.iter().filter(|p| p.corridor == run.index) {
        if p.start <= t && t < p.end {
            run.net.set_capacity_factor(p.cell, 1.0 - p.drop);
        }
    }
}

/// Marks the segments an incident's effect covers at `t`: while it lasts, its segment and the
/// congested segments upstream of it; after clearance, the queue until it has discharged
/// (at most 30 minutes).
fn mark_affected(run: &mut Run, planned: &[Planned], t: i64) {
    for p in planned.iter().filter(|p| p.corridor == run.index) {
        if t < p.start || t >= p.end + 30 * 60_000 {
            continue;
        }
        let active = t < p.end;
        for cell in (0..=p.cell).rev() {
            let congested = run.net.density(cell) > run.net.critical_density(cell) * 1.05;
            if congested || (active && cell == p.cell) {
                run.truth[cell].incident = Some(p.id.clone());
            } else if cell < p.cell {
                break;
            }
        }
    }
}

fn observe(
    run: &mut Run,
    t: i64,
    step_ms: i64,
    rng: &mut Rng,
    out: &mut Emitter,
) -> io::Result<()> {
    let dt_h = step_ms as f64 / 3_600_000.0;
    for cell in 0..run.net.len() {
        let (n, v) = (run.net.vehicles(cell), run.net.speed_kph(cell));
        run.truth[cell].add(n, v, dt_h);
        if let Some(d) = run.detectors[cell].as_mut() {
            let density = run.net.density(cell);
            d.add(run.net.outflow_vph(cell) * dt_h, density, n, v, dt_h);
        }
        let ff = run.spec.free_flow_kph;
        for (ts, speed, vehicle) in out.probes.pings(n, v, ff, (t, step_ms), rng) {
            let id = &run.ids[cell];
            let json = format!(
                r#"{{"type":"probe","segment_id":"{id}","ts":{ts},"speed_kph":{speed:.1},"vehicle_id":"{}-v{vehicle}","source":"sim"}}"#,
                run.spec.id
            );
            out.event(id, &json)?;
        }
    }
    Ok(())
}

fn fault_at(s: &Scenario, run: &Run, cell: usize, t: i64) -> Option<FaultMode> {
    let start = s.start_ms().ok()?;
    let day = (t - start).div_euclid(DAY_MS) as u32 + 1;
    let tod = (t - start).rem_euclid(DAY_MS);
    s.detector_faults.iter().find_map(|f| {
        let here = f.corridor == run.spec.id && f.segment as usize == cell + 1;
        let today = f.day.is_none_or(|d| d == day);
        let from = time_of_day_ms(&f.from).ok()?;
        let to = time_of_day_ms(&f.to).ok()?;
        (here && today && from <= tod && tod < to).then_some(f.mode)
    })
}

fn detector_readings(
    s: &Scenario,
    run: &mut Run,
    (start, end): (i64, i64),
    rng: &mut Rng,
    out: &mut Emitter,
) -> io::Result<()> {
    let interval_s = (end - start) / 1000;
    for cell in 0..run.net.len() {
        let fault = fault_at(s, run, cell, start);
        let Some(d) = run.detectors[cell].as_mut() else {
            continue;
        };
        let Some(r) = d.reading(fault, s.detectors.occupancy_noise, rng) else {
            continue;
        };
        let id = &run.ids[cell];
        let speed = r
            .speed_kph
            .map_or(String::new(), |v| format!(r#","speed_kph":{v:.1}"#));
        let json = format!(
            r#"{{"type":"detector","segment_id":"{id}","ts":{start},"detector_id":"{id}-d","interval_s":{interval_s},"volume":{},"occupancy":{:.4}{speed}}}"#,
            r.volume, r.occupancy
        );
        out.event(id, &json)?;
    }
    Ok(())
}
