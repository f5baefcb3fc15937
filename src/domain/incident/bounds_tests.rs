//! The memory bounds of detection partitions. `limits.max_detection_keys`: at most that many
//! segments outside the catalogue over a worker's partitions; windows and reports of a new one
//! beyond it are not used and are counted, segments already held go on, and a segment with
//! nothing left (no state, no change to hand out, no waiting window) is given back once its
//! window is judged. `limits.max_waiting_windows`: beyond it the oldest waiting window is
//! judged at once, as if the partitions holding it back were idle.

use std::sync::Arc;

use super::network::Network;
use super::probe::ProbeSettings;
use super::route::Routing;
use super::task::{Batch, DetectionTask};
use super::watermark::Mark;
use super::DetectSettings;
use crate::domain::catalog::Catalog;
use crate::domain::event::RawEvent;
use crate::domain::limits::{Budget, MAX_DETECTION_KEYS, MAX_WAITING_WINDOWS};
use crate::domain::processor::{EmitMode, ProcessorSettings, Task};
use crate::domain::window::WindowSpec;

const W: i64 = 60_000;

/// The routed batches of window `k` holding one quiet probe window of each of `ids[k]`, as
/// an input task closes them.
fn batches(ids: &[&[&str]]) -> Vec<Batch> {
    let settings = Arc::new(ProcessorSettings {
        detection: Some(ProbeSettings::default()),
        ..ProcessorSettings::new(WindowSpec::tumbling(W, 0), EmitMode::Final)
    });
    let mut task = Task::new(settings);
    let mut offset = 0;
    for (k, window) in ids.iter().enumerate() {
        for id in *window {
            let e = RawEvent::probe(id, k as i64 * W + 1_000, 90.0, "v");
            task.on_event(offset, &e, e.ts, &mut Vec::new());
            offset += 1;
        }
    }
    task.close_all(&mut Vec::new());
    let closed = task.take_closed();
    let name = |s: u32| task.segment_id(s).to_string();
    closed
        .into_iter()
        .map(|c| Batch {
            window_start: c.start,
            window_end: c.end,
            windows: c.windows.iter().map(|(s, f)| (name(*s), *f)).collect(),
            reports: c.reports,
        })
        .collect()
}

/// A detection partition with no catalogue, fed by one input partition, sharing `keys`.
fn stage(keys: &Arc<Budget>) -> DetectionTask {
    bounded(keys, &Arc::new(Budget::new(MAX_WAITING_WINDOWS, None)), 1)
}

/// The same, fed by `inputs` input partitions, with a waiting bound.
fn bounded(keys: &Arc<Budget>, waiting: &Arc<Budget>, inputs: u32) -> DetectionTask {
    let net = Arc::new(Network::from_catalog(&Catalog::default()));
    let settings = DetectSettings {
        keys: Arc::clone(keys),
        waiting: Arc::clone(waiting),
        ..DetectSettings::default()
    };
    let routing = Arc::new(Routing::new(net, 2, 1));
    DetectionTask::new(routing, Arc::new(settings), 0, vec![inputs])
}

fn mark(through: i64) -> Mark {
    Mark {
        closed_through: Some(through),
        idle: false,
    }
}

#[test]
fn new_keys_beyond_the_limit_are_not_used_and_idle_ones_are_given_back() {
    let keys = Arc::new(Budget::new(MAX_DETECTION_KEYS, Some(3)));
    let mut task = stage(&keys);
    let mut b = batches(&[&["a", "b", "c", "d"], &["d", "e", "a"]]).into_iter();
    task.on_batch(Some(0), b.next().unwrap());
    assert_eq!((task.uncatalogued(), keys.held()), (3, 3));
    assert_eq!(task.over_capacity(), 1, "d's window is not used");
    task.on_mark(Some(1), (0, 0), mark(0));
    task.judge(&mut Vec::new());
    task.drain_changes(|_, _| {});
    // Quiet segments keep no state: once their window is judged nothing of them is left.
    assert_eq!((task.keys(), task.uncatalogued(), keys.held()), (0, 0, 0));
    task.on_batch(Some(2), b.next().unwrap());
    assert_eq!((task.uncatalogued(), task.over_capacity()), (3, 1));
    drop(task);
    assert_eq!(keys.held(), 0, "a dropped task gives its keys back");
}

#[test]
fn the_limit_is_shared_by_the_partitions_of_a_worker_and_held_keys_go_on() {
    let keys = Arc::new(Budget::new(MAX_DETECTION_KEYS, Some(2)));
    let (mut p0, mut p1) = (stage(&keys), stage(&keys));
    let b = batches(&[&["a", "b"], &["a", "b"], &["c"]]);
    p0.on_batch(None, b[0].clone());
    p1.on_batch(None, b[2].clone());
    assert_eq!((p1.uncatalogued(), p1.over_capacity()), (0, 1));
    // a and b are held: their next window is taken although the budget is spent.
    p0.on_batch(None, b[1].clone());
    assert_eq!(
        (p0.uncatalogued(), p0.over_capacity(), p0.waiting()),
        (2, 0, 4)
    );
    let unbounded = Arc::new(Budget::new(MAX_DETECTION_KEYS, None));
    let mut free = stage(&unbounded);
    for batch in &b {
        free.on_batch(None, batch.clone());
    }
    assert_eq!((free.uncatalogued(), free.over_capacity()), (3, 0));
}

#[test]
fn past_the_waiting_bound_the_oldest_window_is_judged_as_if_the_lagging_partition_were_idle() {
    let unbounded = Arc::new(Budget::new(MAX_DETECTION_KEYS, None));
    let waiting = Arc::new(Budget::new(MAX_WAITING_WINDOWS, Some(4)));
    // Two input partitions; partition 1 has closed nothing yet, so nothing can be judged.
    let mut task = bounded(&unbounded, &waiting, 2);
    let b = batches(&[&["a", "b"], &["a", "b"], &["a", "b"], &["a"]]);
    task.on_mark(None, (0, 1), mark(-1));
    let mut out = Vec::new();
    for batch in &b[..2] {
        task.on_batch(None, batch.clone());
        task.on_mark(None, (0, 0), mark(batch.window_start));
        task.judge(&mut out);
    }
    assert_eq!((task.waiting(), waiting.held(), task.forced()), (4, 4, 0));
    // Five waiting: the oldest window (2 windows) is judged now.
    task.on_batch(None, b[2].clone());
    task.judge(&mut out);
    assert_eq!((task.waiting(), waiting.held(), task.forced()), (4, 4, 2));
    task.on_batch(None, b[3].clone());
    task.judge(&mut out);
    assert_eq!((task.waiting(), task.forced()), (3, 4));
    // What partition 1 sends of a window judged early is late, as after an idle partition.
    let mut lagging = batches(&[&["c"]]).remove(0);
    lagging.window_start = b[0].window_start;
    task.on_batch(None, lagging);
    assert_eq!(task.late_windows(), 1);
    drop(task);
    assert_eq!(
        waiting.held(),
        0,
        "a dropped task gives its waiting windows back"
    );
}
