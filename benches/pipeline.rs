//! The in-process pipeline, decode JSON → window → encode JSON, in events per second on one
//! core (DESIGN.md §8 target: ≥ 3 M/s). Also each stage alone, to see where time goes.
//! Run: `cargo bench --bench pipeline`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use roadpulse::codec::{self, json};
use roadpulse::domain::congestion::Hysteresis;
use roadpulse::domain::processor::{EmitMode, ProcessorSettings, Task};
use roadpulse::domain::window::WindowSpec;
use roadpulse::sim::generator::{self, Workload, WorkloadConfig};

const EVENTS: u64 = 200_000;
const SEGMENTS: u32 = 10_000;

fn settings() -> Arc<ProcessorSettings> {
    Arc::new(ProcessorSettings {
        window: WindowSpec::tumbling(60_000, 30_000),
        emit: EmitMode::Final,
        idle_timeout_ms: None,
        hysteresis: Hysteresis::default(),
        default_free_flow_kph: 50.0,
        catalog: Arc::new(generator::catalog(SEGMENTS)),
    })
}

fn workload() -> Vec<Vec<u8>> {
    // 2 000 events/s of event time over 10 k segments: 100 s of traffic per batch.
    let cfg = WorkloadConfig {
        segments: SEGMENTS,
        events_per_sec: 2_000.0,
        ..WorkloadConfig::default()
    };
    Workload::new(cfg)
        .take(EVENTS)
        .into_iter()
        .map(|r| r.value)
        .collect()
}

/// Decode → window → encode over the whole batch; returns bytes encoded (kept alive).
fn pipeline(settings: &Arc<ProcessorSettings>, values: &[Vec<u8>]) -> usize {
    let mut task = Task::new(Arc::clone(settings));
    let mut out = Vec::new();
    let mut buf = Vec::with_capacity(1 << 16);
    for (offset, v) in values.iter().enumerate() {
        let _ = codec::with_raw_event(v, |e| task.on_event(offset as i64, e, e.ts, &mut out));
        for event in out.drain(..) {
            json::encode_congestion(&event, &mut buf);
            buf.push(b'\n');
        }
        if buf.len() > 1 << 15 {
            buf.clear();
        }
    }
    task.close_all(&mut out);
    buf.len() + out.len()
}

fn bench(c: &mut Criterion) {
    let values = workload();
    let settings = settings();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(EVENTS));
    g.sample_size(20);
    g.bench_function("decode_only", |b| {
        b.iter(|| {
            values
                .iter()
                .filter(|v| codec::with_raw_event(v, |e| e.ts).is_ok())
                .count()
        })
    });
    g.bench_function("decode_window_encode", |b| {
        b.iter_batched(
            || (),
            |_| pipeline(&settings, &values),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
