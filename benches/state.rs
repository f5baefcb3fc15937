//! State size at scale: bytes per open (segment, window) and per segment, counted by a global
//! allocator that tracks every live byte (not estimated), and the process's peak RSS.
//! docs/architecture.md §8: ≤ 256 bytes per open (segment, window) without the percentile sketch.
//!
//! Run: `cargo bench --bench state` (100 k segments, 12 events each, inside one window), or
//! `cargo bench --bench state -- --segments 20000 --events-per-segment 60`.

mod support;

use std::sync::Arc;

use roadpulse::codec;
use roadpulse::domain::congestion::SegmentState;
use roadpulse::domain::processor::{EmitMode, ProcessorSettings, Task};
use roadpulse::domain::window::WindowSpec;
use roadpulse::sim::generator::{self, Workload, WorkloadConfig};
use support::{arg, live, peak_rss_mb, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let segments = arg("--segments", 100_000) as u32;
    let per_segment = arg("--events-per-segment", 12);
    let events = u64::from(segments) * per_segment;
    // Every event inside one 1-minute window (50 s of event time from a window start), so the
    // open windows are exactly the segments seen.
    let start_ms = 1_700_000_040_000;
    let mut workload = Workload::new(WorkloadConfig {
        segments,
        start_ms,
        events_per_sec: events as f64 / 50.0,
        poison_ratio: 0.0,
        disorder_ms: 0,
        ..WorkloadConfig::default()
    });
    let settings = Arc::new(ProcessorSettings {
        catalog: Arc::new(generator::catalog(segments)),
        ..ProcessorSettings::new(WindowSpec::tumbling(60_000, 30_000), EmitMode::Final)
    });
    let step = 50_000.0 / events as f64;
    let base = live();
    let mut task = Task::new(Arc::clone(&settings));
    let mut out = Vec::new();
    for k in 0..events {
        let record = workload.record_at(start_ms + (k as f64 * step) as i64);
        let _ = codec::with_raw_event(&record.value, |e| {
            task.on_event(k as i64, e, e.ts, &mut out)
        });
    }
    assert!(out.is_empty(), "no window may close during the fill");
    let with_windows = live() - base;
    let windows = task.open_windows();
    let sketches = task.sketch_heap_bytes();
    task.close_all(&mut out);
    let closed = out.len();
    let seen = task.segments();
    drop((task, out));
    // The long-lived state of the same segments alone, in a task that never opened a window.
    let base = live();
    let mut alone = Task::new(Arc::clone(&settings));
    for i in 0..segments {
        alone.restore_segment(
            &generator::segment_id(i),
            Some((SegmentState::default(), None)),
        );
    }
    let segment_state = live() - base;
    let window_bytes = with_windows - segment_state;
    let per_window = window_bytes as f64 / windows as f64;
    let per_window_no_sketch = (window_bytes - sketches) as f64 / windows as f64;
    println!("segments {segments} ({seen} seen), events {events}, open (segment, window) pairs {windows}, closed {closed}");
    println!("bytes per open window, all included:          {per_window:.0}");
    println!("bytes per open window, without the sketch:    {per_window_no_sketch:.0}  (docs/architecture.md §8: ≤ 256)");
    println!(
        "bytes per segment of long-lived state:        {:.0}",
        segment_state as f64 / f64::from(segments)
    );
    println!(
        "peak RSS of this process:                     {:.0} MB",
        peak_rss_mb()
    );
}
