//! A flood of distinct segment ids into one worker's task: what `limits.max_segments` holds.
//! `mature` known segments first get a day of one-minute windows each (learned free-flow
//! sketch and detection history as a long-running worker has them), then `ids` records of new
//! segment ids arrive, one known-segment record after every ten. Prints the live heap bytes
//! (counted by a global allocator) per mature and per flood segment, the refused count, and
//! the process's peak RSS; checks that the known segments' output equals a run without the
//! flood. Not a Criterion benchmark.
//!
//! Run: `cargo bench --bench flood` (1 M ids, limit 200 000, 1 000 mature segments), or
//! `cargo bench --bench flood -- --ids 1000000 --limit 0` to see the unbounded growth
//! (`--no-detection`: without detection history, as with `incidents.enabled = false`).
//! The reference run lives in the same process, so the heap and RSS printed hold its copy of
//! the mature segments too; `--no-reference` leaves it out (and the output check with it), to
//! measure one task alone: `cargo bench --bench flood -- --mature 35000 --ids 0 --no-reference`
//! is a worker's state at the default `limits.max_segments`, all of it mature.

mod support;

use std::sync::Arc;

use roadpulse::domain::catalog::Catalog;
use roadpulse::domain::congestion::Hysteresis;
use roadpulse::domain::event::RawEvent;
use roadpulse::domain::incident::probe::ProbeSettings;
use roadpulse::domain::limits::Limits;
use roadpulse::domain::output::CongestionEvent;
use roadpulse::domain::processor::{EmitMode, ProcessorSettings, Task};
use roadpulse::domain::window::WindowSpec;
use support::{arg, flag, live, peak_rss_mb, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIN: i64 = 60_000;
const START: i64 = 1_767_225_600_000;

fn settings(limit: u64, detection: bool) -> Arc<ProcessorSettings> {
    Arc::new(ProcessorSettings {
        window: WindowSpec::tumbling(MIN, 30_000),
        emit: EmitMode::Final,
        idle_timeout_ms: None,
        hysteresis: Hysteresis::default(),
        default_free_flow_kph: 50.0,
        catalog: Arc::new(Catalog::default()),
        future: roadpulse::domain::future::FutureBound::OFF,
        sampling: Default::default(),
        detection: detection.then(ProbeSettings::default),
        limits: Limits::new(Some(limit as usize).filter(|n| *n > 0), 7 * 24 * 60 * MIN),
    })
}

fn probe(id: &str, ts: i64, speed: f64) -> RawEvent<'_> {
    RawEvent::probe(id, ts, speed, "v")
}

/// Admits and folds in one event; true if it was refused.
fn feed(task: &mut Task, offset: i64, e: &RawEvent<'_>, out: &mut Vec<CongestionEvent>) -> bool {
    if task.admit(e, e.ts).is_err() {
        return true;
    }
    task.on_event(offset, e, e.ts, out);
    let _ = task.take_closed();
    task.drain_state_changes(|_, _| {});
    false
}

/// Checks that the known segments' windows come out as in the run without the flood (in the
/// same order; the flood only moves when they come), and forgets the part compared.
fn compare(out: &mut Vec<CongestionEvent>, reference: &mut Vec<CongestionEvent>) {
    out.retain(|e| e.segment_id.starts_with("known-"));
    let n = out.len().min(reference.len());
    assert!(
        out[..n] == reference[..n],
        "known segments as without the flood"
    );
    out.drain(..n);
    reference.drain(..n);
}

fn main() {
    let ids = arg("--ids", 1_000_000);
    let limit = arg("--limit", 200_000);
    let mature = arg("--mature", 1_000);
    let detection = !flag("--no-detection");
    let with_reference = !flag("--no-reference");
    let known: Vec<String> = (0..mature).map(|i| format!("known-{i:05}")).collect();
    let base = live();
    let mut task = Task::new(settings(limit, detection));
    let mut reference = Task::new(settings(0, detection));
    let (mut out, mut ref_out) = (Vec::new(), Vec::new());
    let mut offset = 0;
    // A day of windows for every known segment, speeds over the whole range.
    for minute in 0..1_440 {
        for (k, id) in known.iter().enumerate() {
            let speed = 5.0 + ((minute * 7 + k as i64 * 13) % 125) as f64;
            let e = probe(id, START + minute * MIN + k as i64, speed);
            feed(&mut task, offset, &e, &mut out);
            if with_reference {
                feed(&mut reference, offset, &e, &mut ref_out);
            }
            offset += 1;
        }
        check(with_reference, &mut out, &mut ref_out);
    }
    let per_mature = (live() - base) as f64 / mature as f64;
    let before_flood = live();
    let held_before = task.segments();
    let t0 = START + 1_440 * MIN;
    let mut refused = 0u64;
    let mut id = String::new();
    for n in 0..ids {
        let ts = t0 + (n as i64 * 50) / 10;
        id.clear();
        id.push_str(&format!("flood-{n:08}"));
        refused += u64::from(feed(&mut task, offset, &probe(&id, ts, 30.0), &mut out));
        offset += 1;
        if n % 10 == 0 && mature > 0 {
            let k = (n / 10 % mature) as usize;
            let e = probe(&known[k], ts, 20.0 + (n % 90) as f64);
            feed(&mut task, offset, &e, &mut out);
            if with_reference {
                feed(&mut reference, offset, &e, &mut ref_out);
            }
            offset += 1;
        }
        if n % 10_000 == 0 {
            check(with_reference, &mut out, &mut ref_out);
        }
    }
    check(with_reference, &mut out, &mut ref_out);
    let held = task.segments();
    let flood_held = held - held_before;
    let per_flood = (live() - before_flood) as f64 / flood_held.max(1) as f64;
    let detection = if detection { "on" } else { "off" };
    println!("ids {ids}, limit {limit}, mature segments {mature}, windows of 1 min + 30 s grace, detection {detection}");
    println!("bytes per mature segment (a day of windows, its open windows):  {per_mature:.0}");
    println!("bytes per flood segment (one window, closed or open):            {per_flood:.0}");
    println!(
        "segments held {held} (flood {flood_held}), refused {refused}, open windows {}",
        task.open_windows()
    );
    println!(
        "live heap {:.0} MB, peak RSS of this process {:.0} MB",
        live() as f64 / 1e6,
        peak_rss_mb()
    );
    if !with_reference {
        println!("no reference run (--no-reference): the output was not compared");
        return;
    }
    task.close_all(&mut out);
    reference.close_all(&mut ref_out);
    compare(&mut out, &mut ref_out);
    assert!(out.is_empty() && ref_out.is_empty());
    println!("known segments' output equal to a run without the flood: yes");
}

/// Compares with the reference run, or (without one) forgets the output.
fn check(
    with_reference: bool,
    out: &mut Vec<CongestionEvent>,
    reference: &mut Vec<CongestionEvent>,
) {
    if with_reference {
        compare(out, reference);
    } else {
        out.clear();
    }
}
