//! Every decoder of outside bytes, driven with arbitrary bytes: the bodies of the cargo-fuzz
//! targets in `tests/fuzz` (one three-line target per function here) and of the unit test that
//! replays their committed corpora and every crash ever found. Built for tests and for
//! `cargo fuzz` (which sets `--cfg fuzzing`), never into the product.
//!
//! Each function must return for any input without panicking (debug assertions and overflow
//! checks are on in fuzz builds) and checks what must hold of what it decoded: a decoded event
//! passed validation, an encoding decodes to what was encoded, a decoded value drives the
//! domain without overflow. `roadpulse poll`'s presets other than DATEX II are in [`poll`]:
//! each answer through the preset's feed, the poller's locator and its preparation.
//! To cover a new decoder: add a function here, a target that calls
//! it (copy `tests/fuzz/fuzz_targets/checkpoint.rs`), a `[[bin]]` in `tests/fuzz/Cargo.toml`
//! and seeds in `tests/fuzz/corpus/<target>/`; `.ci/run` and the corpus test find it by name
//! in [`TARGETS`].

use std::sync::Arc;

use crate::codec::avro::{self, RawDecoder, RawPlan, WriterSchemas};
use crate::codec::json::JsonEvent;
use crate::codec::registry;
use crate::domain::catalog::Catalog;
use crate::domain::event::{EventBody, RawEvent};
use crate::domain::future::{FutureBound, Reference};
use crate::domain::incident::probe::ProbeSettings;
use crate::domain::processor::{EmitMode, ProcessorSettings, Task};
use crate::domain::window::WindowSpec;

mod poll;
pub use poll::{
    poll_gtfs_rt, poll_here_flow, poll_here_incidents, poll_json, poll_tomtom_flow,
    poll_tomtom_incidents,
};

/// Every target, by name, with its function: `cargo fuzz run <name>` and the corpus test.
pub const TARGETS: [(&str, fn(&[u8])); 17] = [
    ("json_raw_event", json_raw_event),
    ("avro_raw_event", avro_raw_event),
    ("registry_response", registry_response),
    ("checkpoint", checkpoint),
    ("changelog", changelog),
    ("catalog_csv", catalog_csv),
    ("config_toml", config_toml),
    ("repartition", repartition),
    ("detection_state", detection_state),
    ("ingest_body", ingest_body),
    ("datex_xml", datex_xml),
    ("poll_tomtom_flow", poll_tomtom_flow),
    ("poll_tomtom_incidents", poll_tomtom_incidents),
    ("poll_here_flow", poll_here_flow),
    ("poll_here_incidents", poll_here_incidents),
    ("poll_gtfs_rt", poll_gtfs_rt),
    ("poll_json", poll_json),
];

/// Settings with a bound on the future, for decoded events and restored state to drive.
fn settings(future: FutureBound) -> Arc<ProcessorSettings> {
    Arc::new(ProcessorSettings {
        idle_timeout_ms: Some(1_000),
        future,
        detection: Some(ProbeSettings::default()),
        ..ProcessorSettings::new(
            WindowSpec::new(60_000, 20_000, 30_000),
            EmitMode::Updates { interval_ms: 1_000 },
        )
    })
}

/// A value decoded from outside bytes, encoded again: those bytes must decode, and encode to
/// themselves (compared as bytes: facts may hold NaN, unequal to itself). Returns the value
/// decoded the second time.
fn stable<T>(
    value: &T,
    encode: impl Fn(&T, &mut Vec<u8>),
    decode: impl Fn(&[u8]) -> Option<T>,
    what: &str,
) -> T {
    let mut once = Vec::new();
    encode(value, &mut once);
    let again = decode(&once).unwrap_or_else(|| panic!("a re-encoded {what} decodes"));
    let mut twice = Vec::new();
    encode(&again, &mut twice);
    assert_eq!(twice, once, "{what} round trip");
    again
}

fn task(future: FutureBound) -> Task {
    Task::new(settings(future))
}

/// What every validated event must satisfy (the contract's ranges), then through a task.
fn drive(event: &RawEvent<'_>) {
    assert!(event.ts >= 0 && !event.segment_id.is_empty());
    match &event.body {
        EventBody::Probe { speed_kph, .. } => assert!((0.0..=400.0).contains(speed_kph)),
        EventBody::Detector(d) => {
            assert!(d.occupancy.is_some_and(|o| (0.0..=1.0).contains(&o)) || d.speed_kph.is_some())
        }
        EventBody::Flow(f) => assert!((0.0..=400.0).contains(&f.speed_kph)),
        EventBody::Report { .. } => {}
    }
    let mut t = task(FutureBound::new(3_600_000, Reference::StreamTime));
    let mut out = Vec::new();
    for (offset, ts) in [(0, event.ts), (1, event.ts.saturating_add(90_000))] {
        let at = RawEvent {
            ts,
            ..event.clone()
        };
        if t.admit(&at, event.ts).is_ok() {
            t.on_event(offset, &at, ts, &mut out);
        }
    }
    t.on_tick(event.ts, &mut out);
    t.on_idle(event.ts.saturating_add(10_000), &mut out);
    t.close_all(&mut out);
}

/// JSON raw events: the one-pass fast path and serde_json must agree, and what they accept is
/// valid.
pub fn json_raw_event(data: &[u8]) {
    let fast = crate::codec::with_raw_event(data, |e| {
        drive(e);
        format!("{e:?}")
    });
    let slow = JsonEvent::parse(data).and_then(|j| {
        let fields = j.fields()?;
        fields.validate().map(|e| format!("{e:?}"))
    });
    match (&fast, &slow) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "fast path and serde_json decode differently"),
        (Err(a), Err(b)) => assert_eq!(a.kind, b.kind, "{a} / {b}"),
        _ => panic!("fast path {fast:?}, serde_json {slow:?}"),
    }
}

/// Avro: byte 0 picks the writer schema (ours, a released or older version, or one carried in
/// the input: a 2-byte length, the schema text, then the datum), the rest is the datum. Also
/// the whole framed record through the decoder a topic with a fixed id uses.
pub fn avro_raw_event(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // Our schema, a released version and an older producer's, compiled once.
    static KNOWN: std::sync::OnceLock<Vec<RawPlan>> = std::sync::OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        let reader = avro::parse(avro::RAW_EVENT_SCHEMA).expect("bundled schema");
        [
            avro::RAW_EVENT_SCHEMA,
            include_str!("../schemas/released/v1/raw_event.avsc"),
            include_str!("../tests/clients/raw_event_v0.avsc"),
        ]
        .iter()
        .map(|w| RawPlan::compile(&avro::parse(w).expect("schema"), &reader).expect("readable"))
        .collect()
    });
    let decode = |plan: &RawPlan, datum: &[u8]| {
        if let Ok(event) = plan.decode(datum).and_then(|f| f.validate()) {
            drive(&event);
        }
    };
    match known.get(usize::from(mode % 4)) {
        Some(plan) => decode(plan, rest),
        None => {
            let Some((len, tail)) = rest.split_first_chunk::<2>() else {
                return;
            };
            let n = usize::from(u16::from_le_bytes(*len)).min(tail.len());
            let text = String::from_utf8_lossy(&tail[..n]);
            let reader = avro::parse(avro::RAW_EVENT_SCHEMA).expect("bundled schema");
            if let Ok(writer) = apache_avro::Schema::parse_str(&text) {
                if let Ok(plan) = RawPlan::compile(&writer, &reader) {
                    decode(&plan, &tail[n..]);
                }
            }
        }
    }
    if let Ok(mut decoder) = RawDecoder::new(WriterSchemas::Fixed(7)) {
        let _ = decoder.decode(rest, drive);
    }
}

/// Schema Registry answers: 2 bytes of status, the rest the body. What a 2xx body yields is
/// parsed and compiled as the worker would.
pub fn registry_response(data: &[u8]) {
    let Some((status, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let status = 100 + u16::from_le_bytes(*status) % 500;
    let body = String::from_utf8_lossy(body).into_owned();
    let url = "https://registry.test/schemas/ids/1";
    let Ok(text) = registry::judge(status, body, url) else {
        return;
    };
    let _ = registry::id_answer(&text, url);
    if let Ok(schema) = registry::schema_answer(1, &text, url) {
        if let Ok(writer) = apache_avro::Schema::parse_str(&schema) {
            let reader = avro::parse(avro::RAW_EVENT_SCHEMA).expect("bundled schema");
            let _ = RawPlan::compile(&writer, &reader);
        }
    }
}

/// Offset-commit metadata: 8 bytes of committed offset, the rest the metadata text. A decoded
/// checkpoint encodes to metadata that decodes to it again, and a task restored from it (with
/// and without the `window.max_future` cleaning) keeps working.
pub fn checkpoint(data: &[u8]) {
    use crate::kafka::checkpoint::{decode, encode};
    let Some((offset, meta)) = data.split_first_chunk::<8>() else {
        return;
    };
    let offset = Some(i64::from_le_bytes(*offset));
    let cp = decode(offset, &String::from_utf8_lossy(meta));
    assert_eq!(decode(cp.offset, &encode(&cp)), cp);
    let wall = 1_767_225_600_000;
    let bound = FutureBound::new(3_600_000, Reference::WallClock);
    let cleaned = crate::domain::processor::Checkpoint {
        stream_time: bound.restorable(cp.stream_time, wall),
        ..cp
    };
    for from in [cp, cleaned] {
        let mut t = Task::restore(settings(bound), from);
        let mut out = Vec::new();
        let base = from.stream_time.unwrap_or(wall);
        let probe = |ts| RawEvent {
            segment_id: "s",
            ts,
            body: EventBody::Probe {
                speed_kph: 50.0,
                vehicle_id: None,
                source: None,
                offset_m: None,
            },
        };
        for (i, ts) in [base, base.saturating_add(60_000), wall, 0]
            .into_iter()
            .enumerate()
        {
            let at = from.position.unwrap_or(0).saturating_add(i as i64);
            if ts >= 0 && t.admit(&probe(ts), wall).is_ok() {
                t.on_event(at, &probe(ts), wall, &mut out);
            }
        }
        t.on_idle(wall.saturating_add(120_000), &mut out);
        let _ = t.checkpoint();
    }
}

/// Segment-state changelog records (JSON state, binary detection history): a decoded record
/// re-encodes to bytes that decode and re-encode to the same bytes, and restored into a task
/// it takes part in closing windows (hysteresis, learned free flow, detection history).
pub fn changelog(data: &[u8]) {
    use crate::codec::state::{decode, encode};
    let Ok(record) = decode(data) else {
        return;
    };
    let bytes = |(s, h): &(_, Option<_>), buf: &mut Vec<u8>| encode(s, h.as_ref(), buf);
    let again = stable(&record, bytes, |b| decode(b).ok(), "changelog record");
    assert_eq!(again.0, record.0, "changelog round trip");
    let (state, history) = record;
    let mut t = task(FutureBound::OFF);
    t.restore_segment("s", Some((state, history)));
    let mut out = Vec::new();
    for (i, (ts, speed)) in [(0, 10.0), (61_000, 120.0), (200_000, 0.0), (400_000, 55.0)]
        .into_iter()
        .enumerate()
    {
        let e = RawEvent::probe("s", ts, speed, "v");
        t.on_event(i as i64, &e, ts, &mut out);
    }
    t.close_all(&mut out);
    let mut buf = Vec::new();
    t.drain_state_changes(|_, change| {
        if let Some((s, h)) = change {
            encode(s, h, &mut buf)
        }
    });
}

/// The segment catalogue (a UTF-8 file): parsed, then used as the worker uses it.
pub fn catalog_csv(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(catalog) = Catalog::parse_csv(text) else {
        return;
    };
    for id in catalog.ids() {
        let free_flow = catalog.free_flow_kph(id).expect("listed ids are found");
        assert!(
            free_flow.is_finite() && free_flow > 0.0,
            "{id}: {free_flow}"
        );
    }
    // The catalogue's links become detection's network and routing (any graph, any ids).
    let net = std::sync::Arc::new(crate::domain::incident::network::Network::from_catalog(
        &catalog,
    ));
    let routing = crate::domain::incident::route::Routing::new(std::sync::Arc::clone(&net), 2, 7);
    for id in catalog.ids().take(100) {
        let i = net
            .index(id)
            .expect("every catalogue segment is in the network");
        assert!(net.neighbourhood(i, 2).contains(&i));
        routing.destinations(id, |p| assert!(p < 7));
    }
}

/// The config file (TOML, UTF-8), or `--set` lines when it starts with `--set\n`: what
/// validates must give settings the domain accepts, and print with secrets redacted.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = match text.strip_prefix("--set\n") {
        Some(sets) => {
            let sets: Vec<String> = sets.lines().map(str::to_string).collect();
            crate::config::Config::parse(None, Vec::new(), &sets)
        }
        None => crate::config::Config::parse(Some((text, "fuzz.toml")), Vec::new(), &[]),
    };
    let Ok(config) = parsed else {
        return;
    };
    let spec = config.window.spec();
    assert!(spec.size_ms > 0 && spec.advance_ms > 0 && spec.advance_ms <= spec.size_ms);
    let _ = (config.window.emit_mode(), config.window.future_bound());
    // Secrets are shown as ***, and what is shown is TOML again.
    let shown: toml::Table = config
        .redacted_toml()
        .parse()
        .expect("check-config prints TOML");
    let registry_password = shown
        .get("schema_registry")
        .and_then(|t| t.get("password"))
        .and_then(toml::Value::as_str);
    assert!(
        registry_password.is_none_or(|p| p == "***"),
        "{registry_password:?}"
    );
}

/// Detection repartition records (batches of final windows and reports, input watermarks): a
/// decoded record re-encodes to bytes that decode to the same record.
pub fn repartition(data: &[u8]) {
    use crate::codec::routed::{decode, encode_batch, encode_mark, Routed};
    let Ok(routed) = decode(data) else {
        return;
    };
    let encode = |r: &Routed, buf: &mut Vec<u8>| match r {
        Routed::Batch(b) => encode_batch(b.window_start, b.window_end, &b.windows, &b.reports, buf),
        Routed::Mark(input, mark) => encode_mark(*input, *mark, buf),
    };
    stable(&routed, encode, |b| decode(b).ok(), "repartition record");
}

/// A detecting segment's state from the detection changelog: what decodes re-encodes to bytes
/// that decode and re-encode to the same bytes.
pub fn detection_state(data: &[u8]) {
    use crate::domain::incident::state::SegState;
    let Some(state) = SegState::decode(data) else {
        return;
    };
    let again = stable(
        &state,
        SegState::encode,
        SegState::decode,
        "detection state",
    );
    let _ = again.is_default();
}

/// `POST /v1/events` bodies: the first byte picks the layout (JSON, NDJSON, Avro), the rest is
/// the body. Each record it splits into is a piece of the body, and what then decodes as a raw
/// event passed validation.
pub fn ingest_body(data: &[u8]) {
    use crate::ingest::body::BodyFormat;
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let format = [BodyFormat::Json, BodyFormat::Ndjson, BodyFormat::Avro][usize::from(pick % 3)];
    let body = bytes::Bytes::copy_from_slice(body);
    let Ok(records) = format.split(&body) else {
        return;
    };
    for r in &records {
        assert!(r.len() <= body.len(), "a record is a piece of the body");
        if format != BodyFormat::Avro {
            let _ = crate::codec::with_raw_event(r, |e| drive(e));
        }
    }
}

/// DATEX II v2 XML, as `roadpulse poll`'s `ndw` preset reads NDW's open data: the same bytes
/// as a measurement site table and as a measured-data publication. Every number either yields
/// is finite (a bad one is a parse error, never a NaN reading).
pub fn datex_xml(data: &[u8]) {
    use crate::sources::datex::{measurements, site_table, Value};
    if let Ok(sites) = site_table(data) {
        for site in sites.values() {
            if let Some((lat, lon)) = site.point {
                assert!(lat.is_finite() && lon.is_finite(), "{lat} {lon}");
            }
            for c in site.indexes.values() {
                assert!(c.period_s.is_none_or(f64::is_finite));
            }
        }
    }
    let _ = measurements(data, |m| {
        for (_, v) in &m.values {
            if let Value::FlowRate(x) | Value::Speed(x) = v {
                assert!(x.is_finite(), "{x}");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    /// Every committed corpus file and every crash ever found, through its target: the fuzz
    /// targets' regression suite, run by `cargo test` without nightly.
    #[test]
    fn corpora_replay_without_a_failure() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
        let mut total = 0;
        for (name, target) in super::TARGETS {
            let mut files = 0;
            for dir in ["corpus", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let bytes = std::fs::read(entry.path()).expect("corpus file");
                    target(&bytes);
                    files += 1;
                }
            }
            assert!(files > 0, "no corpus for fuzz target {name}");
            total += files;
        }
        eprintln!("{total} corpus files replayed");
    }

    /// Writes the seeds of the binary formats from their own encoders (run once with
    /// `cargo test --lib write_binary_seeds -- --ignored`; the text formats' seeds come from
    /// tests/fuzz/make_seeds.py).
    #[test]
    #[ignore]
    fn write_binary_seeds() {
        use crate::codec::routed::{encode_batch, encode_mark};
        use crate::domain::event::RawEvent;
        use crate::domain::incident::blockage::BlockageRun;
        use crate::domain::incident::facts::Facts;
        use crate::domain::incident::probe::ProbeRun;
        use crate::domain::incident::state::SegState;
        use crate::domain::incident::watermark::Mark;
        use crate::domain::incident::Report;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus");
        let write = |target: &str, seeds: Vec<Vec<u8>>| {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, s) in seeds.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i:02}")), s).unwrap();
            }
        };
        let t0 = 1_767_225_600_000;
        let facts = Facts {
            window_start: t0,
            window_end: t0 + 60_000,
            samples: 4,
            free_flow: 100.0,
            speed: Some(31.5),
            judged: Some(31.5),
            baseline: Some((96.0, 6.0)),
            seen: Some(31.5),
            station: None,
            empty: false,
            usual: Default::default(),
        };
        let report = Report {
            segment_id: "A13-0042".into(),
            ts: t0 + 1_000,
            report_id: Some("r-1".into()),
            category: "accident".into(),
        };
        let windows = vec![
            ("A13-0042".to_string(), facts),
            ("A13-0043".to_string(), facts),
        ];
        let mut seeds = Vec::new();
        let mut buf = Vec::new();
        encode_batch(t0, t0 + 60_000, &windows, &[report.clone()], &mut buf);
        seeds.push(buf.clone());
        encode_batch(t0, t0 + 60_000, &windows[..1], &[], &mut buf);
        seeds.push(buf.clone());
        for (closed, idle) in [(Some(t0), false), (None, true), (Some(i64::MAX), false)] {
            let mark = Mark {
                closed_through: closed,
                idle,
            };
            encode_mark((0, 3), mark, &mut buf);
            seeds.push(buf.clone());
        }
        write("repartition", seeds);
        let mut seeds = Vec::new();
        SegState::default().encode(&mut buf);
        seeds.push(buf.clone());
        let busy = SegState {
            run: ProbeRun { run: 3 },
            blockage: BlockageRun {
                run: 1,
                clear_at: Some(t0),
                queued_at: None,
            },
            since: Some(t0),
            pairs: vec![Default::default(); 2],
            episodes: Vec::new(),
            reports: vec![report],
            raised: vec![None],
        };
        busy.encode(&mut buf);
        seeds.push(buf.clone());
        write("detection_state", seeds);
        let event = r#"{"type":"probe","segment_id":"A13-0042","ts":1767225600000,"speed_kph":54.5,"vehicle_id":"v1"}"#;
        let mut seeds = Vec::new();
        for (pick, body) in [
            (0u8, event.to_string()),
            (0, format!("[{event},{event}]")),
            (0, "[{\"type\":\"probe\"},1,\"x\"]".to_string()),
            (1, format!("{event}\n\n{event}\n")),
            (2, "\0\0\0\0\x05\x02ab".to_string()),
        ] {
            let mut s = vec![pick];
            s.extend_from_slice(body.as_bytes());
            seeds.push(s);
        }
        write("ingest_body", seeds);
        // Changelog records with a detection history: a segment driven through 30 windows.
        let mut t = super::task(super::FutureBound::OFF);
        let mut out = Vec::new();
        for i in 0..120 {
            let e = RawEvent::probe(
                "A13-0042",
                t0 + i * 15_000,
                40.0 + (i % 7) as f64 * 9.0,
                "v",
            );
            t.on_event(i, &e, e.ts, &mut out);
        }
        let mut seeds = Vec::new();
        t.drain_state_changes(|_, change| {
            if let Some((s, h)) = change {
                crate::codec::state::encode(s, h, &mut buf);
                seeds.push(buf.clone());
            }
        });
        assert!(!seeds.is_empty());
        let dir = root.join("changelog");
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-history-{i:02}")), s).unwrap();
        }
    }
}
