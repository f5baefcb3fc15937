//! A task over the whole `i64` range of time: events dated anywhere from the epoch to
//! `i64::MAX`, clock ticks and idle advances at any wall time, hopping and tumbling windows of
//! any size. Nothing may overflow (debug builds panic on it), loop forever, count a probe
//! twice or lose one, or emit a window twice; and `window.max_future` keeps a bogus clock from
//! stalling the partition.

use std::sync::Arc;

use proptest::prelude::*;

use super::event::RawEvent;
use super::future::{FutureBound, Reference};
use super::output::CongestionEvent;
use super::processor::{EmitMode, Outcome, ProcessorSettings, Task};
use super::window::WindowSpec;

fn settings(window: WindowSpec, emit: EmitMode, future: FutureBound) -> Arc<ProcessorSettings> {
    Arc::new(ProcessorSettings {
        idle_timeout_ms: Some(1_000),
        future,
        ..ProcessorSettings::new(window, emit)
    })
}

fn probe(segment: &'static str, ts: i64) -> RawEvent<'static> {
    RawEvent::probe(segment, ts, 50.0, "v")
}

/// What the driver does next.
#[derive(Debug, Clone)]
enum Step {
    Event(u8, i64),
    Tick(i64),
    Idle(i64),
}

/// Instants a validated event can have (≥ 0), with the end of time drawn often.
fn event_time() -> impl Strategy<Value = i64> {
    prop_oneof![
        0i64..1_000_000,
        1_767_225_600_000i64..1_767_229_200_000,
        (i64::MAX - 10_000_000)..=i64::MAX,
        0..=i64::MAX,
    ]
}

fn wall_time() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        (i64::MAX - 10_000_000)..=i64::MAX,
        Just(i64::MIN)
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u8..3, event_time()).prop_map(|(s, ts)| Step::Event(s, ts)),
        1 => wall_time().prop_map(Step::Tick),
        1 => wall_time().prop_map(Step::Idle),
    ]
}

fn spec() -> impl Strategy<Value = WindowSpec> {
    let advance = prop_oneof![1i64..120_000, (1i64..=i64::MAX)];
    (advance, 1i64..=4, prop_oneof![0i64..60_000, Just(i64::MAX)])
        .prop_map(|(a, k, grace)| WindowSpec::new(a.saturating_mul(k), a, grace))
}

/// Drives a task through `steps` and the end of input; returns the probes it aggregated and
/// everything it emitted.
fn drive(task: &mut Task, steps: &[Step]) -> (usize, Vec<CongestionEvent>) {
    let segs = ["A", "B", "C"];
    let mut out = Vec::new();
    let mut aggregated = 0;
    let mut last_st = None;
    for (offset, step) in steps.iter().enumerate() {
        match step {
            Step::Event(s, ts) => {
                let e = probe(segs[*s as usize], *ts);
                if task.admit(&e, *ts).is_ok()
                    && task.on_event(offset as i64, &e, *ts, &mut out) == Outcome::Aggregated
                {
                    aggregated += 1;
                }
            }
            Step::Tick(wall) => task.on_tick(*wall, &mut out),
            Step::Idle(wall) => task.on_idle(*wall, &mut out),
        }
        assert!(task.stream_time() >= last_st, "stream time went back");
        last_st = task.stream_time();
    }
    task.close_all(&mut out);
    (aggregated, out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// Tumbling windows: every aggregated probe is in exactly one final window, no window is
    /// final twice, and every window's bounds are its start plus size, saturated at i64::MAX.
    #[test]
    fn any_time_is_counted_once_and_bounded(steps in proptest::collection::vec(step(), 1..60), size in prop_oneof![1i64..120_000, 1i64..=i64::MAX], updates in any::<bool>()) {
        let emit = if updates { EmitMode::Updates { interval_ms: 10_000 } } else { EmitMode::Final };
        let spec = WindowSpec::tumbling(size, 30_000);
        let mut task = Task::new(settings(spec, emit, FutureBound::OFF));
        let (aggregated, out) = drive(&mut task, &steps);
        let finals: Vec<&CongestionEvent> = out.iter().filter(|e| e.is_final).collect();
        let counted: u64 = finals.iter().map(|e| u64::from(e.samples)).sum();
        prop_assert_eq!(counted, aggregated as u64);
        let mut keys: Vec<(&str, i64)> = finals.iter().map(|e| (e.segment_id.as_str(), e.window_start)).collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        prop_assert_eq!(keys.len(), n, "a window was final twice");
        for e in &out {
            prop_assert!(e.window_start >= 0 && e.window_start % size == 0);
            prop_assert_eq!(e.window_end, e.window_start.saturating_add(size));
        }
    }

    /// Hopping windows of any size and advance over any time: it ends, and each window is
    /// final at most once.
    #[test]
    fn hopping_windows_over_any_time_end(steps in proptest::collection::vec(step(), 1..40), spec in spec()) {
        let mut task = Task::new(settings(spec, EmitMode::Final, FutureBound::OFF));
        let (_, out) = drive(&mut task, &steps);
        let mut keys: Vec<(&str, i64)> = out.iter().map(|e| (e.segment_id.as_str(), e.window_start)).collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        prop_assert_eq!(keys.len(), n);
    }

    /// With `window.max_future` on (replay's reference, stream time), one record dated
    /// anywhere after the good ones changes nothing: it is refused, and no good record after
    /// it is late.
    #[test]
    fn one_bogus_record_cannot_stall_a_partition(bogus in (1_767_225_600_000i64 + 3_600_001)..=i64::MAX, at in 1usize..99) {
        let future = FutureBound::new(3_600_000, Reference::StreamTime);
        let spec = WindowSpec::tumbling(60_000, 30_000);
        let good: Vec<Step> = (0..100).map(|i| Step::Event(0, 1_767_225_600_000 + i * 1_000)).collect();
        let (expected_n, expected) = drive(&mut Task::new(settings(spec, EmitMode::Final, future)), &good);
        let mut with_bogus = good.clone();
        with_bogus.insert(at, Step::Event(0, bogus));
        let (n, got) = drive(&mut Task::new(settings(spec, EmitMode::Final, future)), &with_bogus);
        prop_assert_eq!(n, expected_n);
        prop_assert_eq!(got, expected);
    }
}
