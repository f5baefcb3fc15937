//! A flood of distinct segment ids through the real path: one exactly-once worker process
//! reads a raw topic (2 partitions) where 20 known segments' records are interleaved with
//! records of new segment ids, ten after each known record, one record per id. Its budget
//! (`limits.max_segments`, [`BUDGET`]) holds the known segments and a few of the new ones;
//! every other record is refused. Checked: the worker's peak RSS stays under a bound derived
//! from the budget ([`rss_bound_kb`]); the known segments' final windows equal `roadpulse
//! replay` of their records alone; `roadpulse_over_capacity_total` and the dead-letter topic
//! (read_committed, kind `over_capacity`, each origin once) both hold every refused record.
//!
//! A second test sends the same flood to a worker with every limit off: it must break the
//! bound, or the bound shows nothing. CI floods 200 000 ids; the full million:
//!
//! ```sh
//! RP_FLOOD_IDS=1000000 cargo test --release --test flood -- --nocapture --test-threads=1
//! ```

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use roadpulse::sim::generator::{Record, Workload, WorkloadConfig};

/// `limits.max_segments` of the bounded worker.
const BUDGET: usize = 2_000;
const KNOWN_SEGMENTS: u32 = 20;
/// Known records produced (and consumed) before the flood, so that the known segments are
/// held first whichever partition the worker reads first. All 20 segments appear in them.
const LEAD: usize = 1_000;
/// New ids after each known record.
const PER_KNOWN: usize = 10;

/// Bytes a held segment may cost: a mature one (a day of windows, detection history) costs
/// 8 286 in `cargo bench --bench flood`, a flood segment of one record 440; the bound takes
/// the larger, so that it holds whatever the budget is filled with.
const SEGMENT_BYTES: u64 = 8_300;
/// What the flood adds beside segment state, whatever the budget: the consumer's prefetch
/// queue (`queued.max.messages.kbytes` = 4 MiB) and fetch buffers, the producer's dead
/// letters of one commit interval (200 ms) with their batches and compression buffers, and
/// allocator slack. Measured with a budget of 2 000: the peak grew by 42 MB with 200 000 new
/// ids and by 45 MB with 1 000 000 (flat in the flood's size); without the limit by 160 MB
/// and 578 MB.
const MARGIN_KB: u64 = 64 * 1024;

/// Distinct new ids to flood with (`RP_FLOOD_IDS`, default 200 000).
fn flood_ids() -> usize {
    std::env::var("RP_FLOOD_IDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

/// The peak RSS a worker that held `base_kb` before the flood may reach with `budget`
/// segments.
fn rss_bound_kb(base_kb: u64, budget: usize) -> u64 {
    base_kb + budget as u64 * SEGMENT_BYTES / 1024 + MARGIN_KB
}

/// A `/proc/<pid>/status` field in kB (VmRSS, VmHWM).
fn status_kb(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("worker status");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// The known segments' records: one second of event time per 1 000.
fn known_records(ids: usize) -> Vec<Record> {
    Workload::new(WorkloadConfig {
        segments: KNOWN_SEGMENTS,
        events_per_sec: 1_000.0,
        poison_ratio: 0.0,
        seed: 1616,
        ..WorkloadConfig::default()
    })
    .take((LEAD + ids.div_ceil(PER_KNOWN)) as u64)
}

/// The input after the lead: each known record, then [`PER_KNOWN`] new ids dated like it,
/// `ids` new ids in all. Made while it is produced.
fn flood<'a>(known: &'a [Record], ids: usize) -> impl Iterator<Item = Record> + 'a {
    let mut n = 0;
    known[LEAD..].iter().flat_map(move |r| {
        let new = PER_KNOWN.min(ids - n);
        let first = n;
        n += new;
        let ts = r.ts;
        std::iter::once(r.clone()).chain((first..first + new).map(move |i| {
            let id = format!("flood-{i:07}");
            probe_record(&id, ts, 30.0, "f")
        }))
    })
}

/// What one flood run measured.
struct Run {
    setup: Setup,
    known: BTreeSet<String>,
    ids: usize,
    /// Peak RSS after the lead and at the end, kB.
    base_kb: u64,
    peak_kb: u64,
    port: u16,
    worker: Worker,
}

/// Starts a worker with `limits` (its `[limits]` settings), feeds it the lead and then the
/// flood, and waits until it has consumed everything.
fn run(name: &str, limits: &[&str]) -> Run {
    let ids = flood_ids();
    let setup = Setup::new(name, 2, None);
    let known = known_records(ids);
    let port = free_port();
    let listen = format!("http.listen=\"127.0.0.1:{port}\"");
    // The idle close (which replay does not have) only ends the tail, after the flood.
    let mut sets = vec![
        "kafka.processing_guarantee=\"exactly_once\"",
        "window.idle_timeout=\"10s\"",
        &listen,
    ];
    sets.extend_from_slice(limits);
    let worker = setup.start_worker("w", &sets);
    let pid = worker.pid().expect("worker runs");
    produce(&setup.bootstrap, &setup.input, &known[..LEAD]);
    wait_consumed(&setup, port, LEAD, Duration::from_secs(60));
    let base_kb = status_kb(pid, "VmHWM");
    let started = Instant::now();
    produce(&setup.bootstrap, &setup.input, flood(&known, ids));
    let produced = started.elapsed();
    let total = known.len() + ids;
    wait_consumed(&setup, port, total, Duration::from_secs(300));
    let peak_kb = status_kb(pid, "VmHWM");
    println!(
        "{name}: {ids} new ids, {} known records, {limits:?}: produced in {:.1} s, \
         consumed in {:.1} s; peak RSS {:.1} MB before the flood, {:.1} MB after",
        known.len(),
        produced.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        base_kb as f64 / 1024.0,
        peak_kb as f64 / 1024.0,
    );
    Run {
        known: known.iter().map(|r| r.key.clone()).collect(),
        setup,
        ids,
        base_kb,
        peak_kb,
        port,
        worker,
    }
}

#[test]
fn a_flood_of_new_ids_keeps_rss_bounded_known_segments_exact_and_every_refusal_counted() {
    let limit = format!("limits.max_segments={BUDGET}");
    let mut r = run("flood", &[&limit]);
    let setup = &r.setup;
    let admitted = BUDGET - r.known.len();
    let refused = r.ids - admitted;

    let refused_ids = over_capacity_letters(
        setup,
        refused,
        "limits.max_segments",
        Duration::from_secs(300),
    );
    assert_eq!(refused_ids.len(), refused, "each refused id once");
    assert!(refused_ids.iter().all(|id| id.starts_with("flood-")));

    let metrics = metrics_text(r.port);
    let value = |name: &str| metric(&metrics, name).unwrap_or_else(|| panic!("{name}"));
    assert_eq!(
        value("roadpulse_over_capacity_total{limit=\"max_segments\"}"),
        refused.to_string()
    );
    assert_eq!(value("roadpulse_state_segments"), BUDGET.to_string());
    assert_eq!(value("roadpulse_state_segments_limit"), BUDGET.to_string());

    let known = known_records(r.ids);
    let expected = replay(&setup.dir, &known, 2, &setup.domain_sets);
    let windows = expected.len() + admitted;
    let (got, repeats) = read_finals(setup, windows, Duration::from_secs(120));
    assert_eq!(repeats, 0);
    let (of_known, of_flood): (BTreeMap<_, _>, BTreeMap<_, _>) = got
        .into_iter()
        .partition(|((id, _), _)| r.known.contains(id));
    let problems = diff(&expected, &of_known, &[]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(of_flood.len(), admitted, "one window per admitted new id");

    // The peak over the whole run, tail windows included.
    let peak_kb = r.peak_kb.max(status_kb(r.worker.pid().unwrap(), "VmHWM"));
    let bound = rss_bound_kb(r.base_kb, BUDGET);
    println!("peak RSS {peak_kb} kB, bound {bound} kB");
    assert!(
        peak_kb <= bound,
        "peak RSS {peak_kb} kB over the bound {bound} kB (base {} kB + {BUDGET} × {SEGMENT_BYTES} B + {MARGIN_KB} kB)",
        r.base_kb
    );
    r.worker.stop();
}

/// The control: the same flood with the limit off breaks the bound the limited worker holds.
#[test]
fn without_the_limit_the_same_flood_breaks_the_bound() {
    let off = [
        "limits.max_segments=0",
        "limits.max_open_windows=0",
        "limits.max_detection_keys=0",
        "limits.max_waiting_windows=0",
    ];
    let mut r = run("flood-unbounded", &off);
    let bound = rss_bound_kb(r.base_kb, BUDGET);
    assert!(
        r.peak_kb > bound,
        "peak RSS {} kB within {bound} kB without the limit: the bound shows nothing",
        r.peak_kb
    );
    // Every new id held: the gauge (set once per 200 ms tick) says so.
    let all = (r.ids + r.known.len()).to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&metrics_text(r.port), "roadpulse_state_segments").as_ref() != Some(&all) {
        assert!(Instant::now() < deadline, "{all} segments held");
        std::thread::sleep(Duration::from_millis(100));
    }
    r.worker.stop();
}
