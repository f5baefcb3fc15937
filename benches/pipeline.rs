// apache-avro's plain datum functions (deprecated in 0.22 for a builder API) are the reference.
#![allow(deprecated)]
//! The in-process pipeline, decode → window → encode, in events per second on one core
//! (docs/architecture.md §8 target: ≥ 3 M/s), in JSON and in Avro (Confluent wire format, the raw
//! events' writer schema resolved once). Also each stage alone, to see where time goes.
//! Run: `cargo bench --bench pipeline` (only Avro: `cargo bench --bench pipeline -- avro`).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use roadpulse::codec::avro::{self, RawDecoder, WriterSchemas};
use roadpulse::codec::{self, InputCodec, OutputCodec};
use roadpulse::domain::processor::{EmitMode, ProcessorSettings, Task};
use roadpulse::domain::window::WindowSpec;
use roadpulse::sim::generator::{self, Workload, WorkloadConfig};

const EVENTS: u64 = 200_000;
const SEGMENTS: u32 = 10_000;

fn settings() -> Arc<ProcessorSettings> {
    Arc::new(ProcessorSettings {
        catalog: Arc::new(generator::catalog(SEGMENTS)),
        ..ProcessorSettings::new(WindowSpec::tumbling(60_000, 30_000), EmitMode::Final)
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

/// The same events as Avro in the Confluent wire format (schema id 1), written by apache-avro.
fn avro_workload(values: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let schema = avro::parse(avro::RAW_EVENT_SCHEMA).expect("raw schema");
    values
        .iter()
        .map(|v| {
            let json: serde_json::Value = serde_json::from_slice(v).expect("JSON event");
            let value = apache_avro::types::Value::try_from(json)
                .expect("JSON value")
                .resolve(&schema)
                .expect("event fits the schema");
            let mut framed = Vec::new();
            avro::put_header(&mut framed, 1);
            framed.extend(apache_avro::to_avro_datum(&schema, value).expect("encodes"));
            framed
        })
        .collect()
}

fn avro_input() -> InputCodec {
    InputCodec::Avro(Box::new(
        RawDecoder::new(WriterSchemas::Fixed(1)).expect("decoder"),
    ))
}

/// Decode → window → encode over the whole batch; returns bytes encoded (kept alive).
fn pipeline(
    settings: &Arc<ProcessorSettings>,
    values: &[Vec<u8>],
    input: &mut InputCodec,
    output: OutputCodec,
) -> usize {
    let mut task = Task::new(Arc::clone(settings));
    let mut out = Vec::new();
    let mut buf = Vec::with_capacity(1 << 16);
    for (offset, v) in values.iter().enumerate() {
        let _ = input.decode(v, |e| task.on_event(offset as i64, e, e.ts, &mut out));
        for event in out.drain(..) {
            output.encode_congestion(&event, &mut buf);
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
            || InputCodec::Json,
            |mut input| pipeline(&settings, &values, &mut input, OutputCodec::Json),
            BatchSize::SmallInput,
        )
    });
    let avro_values = avro_workload(&values);
    g.bench_function("avro_decode_only", |b| {
        let mut input = avro_input();
        b.iter(|| {
            avro_values
                .iter()
                .filter(|v| input.decode(v, |e| e.ts).is_ok())
                .count()
        })
    });
    // For comparison: apache-avro's own reader, which resolves the schemas per record.
    let schema = avro::parse(avro::RAW_EVENT_SCHEMA).expect("raw schema");
    g.bench_function("avro_decode_only_apache_avro_value", |b| {
        b.iter(|| {
            avro_values
                .iter()
                .filter(|v| {
                    let mut datum = &v[avro::HEADER_LEN..];
                    apache_avro::from_avro_datum(&schema, &mut datum, Some(&schema)).is_ok()
                })
                .count()
        })
    });
    let avro_out = OutputCodec::Avro { schema_id: 2 };
    g.bench_function("avro_decode_window_encode", |b| {
        b.iter_batched(
            avro_input,
            |mut input| pipeline(&settings, &avro_values, &mut input, avro_out),
            BatchSize::SmallInput,
        )
    });
    g.finish();
    encode_only(c, &settings, &values);
}

/// Encoding alone, in congestion events per second.
fn encode_only(c: &mut Criterion, settings: &Arc<ProcessorSettings>, values: &[Vec<u8>]) {
    let mut task = Task::new(Arc::clone(settings));
    let mut events = Vec::new();
    for (offset, v) in values.iter().enumerate() {
        let _ = codec::with_raw_event(v, |e| task.on_event(offset as i64, e, e.ts, &mut events));
    }
    task.close_all(&mut events);
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.sample_size(20);
    for (name, output) in [
        ("json_encode_only", OutputCodec::Json),
        ("avro_encode_only", OutputCodec::Avro { schema_id: 2 }),
    ] {
        g.bench_function(name, |b| {
            let mut buf = Vec::with_capacity(1 << 20);
            b.iter(|| {
                buf.clear();
                for e in &events {
                    output.encode_congestion(e, &mut buf);
                }
                buf.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
