// apache-avro 0.22 deprecates its datum functions for a builder API; these tests keep the
// plain ones as the independent reference writer and reader.
#![allow(deprecated)]
//! The Avro codec against apache-avro (the reference implementation in Rust): what we write,
//! it reads with schemas/; what it writes with our schema or an evolved one, we read.

use apache_avro::types::Value;
use apache_avro::{from_avro_datum, to_avro_datum, Schema};
use proptest::prelude::*;

use super::*;
use crate::codec::json::JsonEvent;
use crate::domain::event::RawEventFields;
use crate::sim::generator::{Workload, WorkloadConfig};

fn raw_schema() -> Schema {
    parse(RAW_EVENT_SCHEMA).unwrap()
}

/// A JSON raw event as apache-avro writes it with `schema`.
fn avro_datum(json: &[u8], schema: &Schema) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_slice(json).unwrap();
    let value = Value::try_from(v).unwrap().resolve(schema).unwrap();
    to_avro_datum(schema, value).unwrap()
}

fn framed(id: u32, datum: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    put_header(&mut buf, id);
    buf.extend_from_slice(datum);
    buf
}

fn json_fields(json: &[u8]) -> RawEventFields<'static> {
    let j = JsonEvent::parse(json).unwrap();
    let f = j.fields().unwrap();
    // Leak for a 'static comparison value; tests only.
    let leak = |s: Option<&str>| s.map(|s| &*Box::leak(s.to_string().into_boxed_str()));
    RawEventFields {
        kind: leak(f.kind),
        segment_id: leak(f.segment_id),
        vehicle_id: leak(f.vehicle_id),
        source: leak(f.source),
        detector_id: leak(f.detector_id),
        report_id: leak(f.report_id),
        category: leak(f.category),
        severity: leak(f.severity),
        event_type: leak(f.event_type),
        ..f
    }
}

#[test]
fn reads_what_apache_avro_writes_with_our_schema() {
    let schema = raw_schema();
    let plan = RawPlan::compile(&schema, &schema).unwrap();
    let workload = Workload::new(WorkloadConfig::default()).take(3_000);
    for record in workload {
        let datum = avro_datum(&record.value, &schema);
        assert_eq!(plan.decode(&datum).unwrap(), json_fields(&record.value));
    }
}

/// An older producer: no detector fields, no description, `ts` a plain long, a field we
/// never had (a nested record in an array) and a category enum with fewer symbols.
const OLD_WRITER: &str = r#"{"type":"record","name":"RawEvent","namespace":"io.roadpulse.v1","fields":[
  {"name":"segment_id","type":"string"},
  {"name":"trail","type":{"type":"array","items":{"type":"record","name":"Fix","fields":[
     {"name":"lat","type":"double"},{"name":"tag","type":["null","string"]}]}},"default":[]},
  {"name":"type","type":{"type":"enum","name":"EventType","symbols":["probe","report"]}},
  {"name":"ts","type":"long"},
  {"name":"speed_kph","type":["null","float"],"default":null},
  {"name":"vehicle_id","type":["null","string"],"default":null},
  {"name":"attrs","type":{"type":"map","values":"long"},"default":{}},
  {"name":"category","type":["null",{"type":"enum","name":"ReportCategory","symbols":["accident","other"]}],"default":null}
]}"#;

#[test]
fn reads_an_evolved_writer_once_resolved() {
    let writer = Schema::parse_str(OLD_WRITER).unwrap();
    let plan = RawPlan::compile(&writer, &raw_schema()).unwrap();
    let value = Value::Record(vec![
        ("segment_id".into(), Value::String("A1".into())),
        (
            "trail".into(),
            Value::Array(vec![Value::Record(vec![
                ("lat".into(), Value::Double(52.1)),
                (
                    "tag".into(),
                    Value::Union(1, Box::new(Value::String("x".into()))),
                ),
            ])]),
        ),
        ("type".into(), Value::Enum(0, "probe".into())),
        ("ts".into(), Value::Long(1_700_000_000_123)),
        (
            "speed_kph".into(),
            Value::Union(1, Box::new(Value::Float(42.5))),
        ),
        ("vehicle_id".into(), Value::Union(0, Box::new(Value::Null))),
        (
            "attrs".into(),
            Value::Map([("k".to_string(), Value::Long(7))].into_iter().collect()),
        ),
        ("category".into(), Value::Union(0, Box::new(Value::Null))),
    ]);
    let datum = to_avro_datum(&writer, value).unwrap();
    let f = plan.decode(&datum).unwrap();
    assert_eq!(f.kind, Some("probe"));
    assert_eq!(f.segment_id, Some("A1"));
    assert_eq!(f.ts, Some(1_700_000_000_123));
    assert_eq!(f.speed_kph, Some(42.5));
    assert_eq!(f.vehicle_id, None);
    assert_eq!(f.volume, None, "absent in the writer: our default");
}

#[test]
fn refuses_a_writer_our_schema_cannot_read() {
    let no_segment = r#"{"type":"record","name":"RawEvent","namespace":"io.roadpulse.v1","fields":[
        {"name":"type","type":"string"},{"name":"ts","type":"long"}]}"#;
    let writer = Schema::parse_str(no_segment).unwrap();
    let err = RawPlan::compile(&writer, &raw_schema()).unwrap_err();
    assert!(err.contains("cannot be read"), "{err}");
}

#[test]
fn fixed_id_decoder_reads_its_id_and_rejects_others() {
    let schema = raw_schema();
    let json = br#"{"type":"probe","segment_id":"S","ts":5000,"speed_kph":30.5}"#;
    let datum = avro_datum(json, &schema);
    let mut d = RawDecoder::new(WriterSchemas::Fixed(7)).unwrap();
    let got = d.decode(&framed(7, &datum), |e| (e.segment_id.to_string(), e.ts));
    assert_eq!(got, Ok(("S".to_string(), 5000)));
    let kind = |r: Result<(), DecodeError>| match r {
        Err(DecodeError::Invalid(e)) => e.kind,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        kind(d.decode(&framed(8, &datum), |_| ())),
        InvalidKind::Schema
    );
    assert_eq!(
        kind(d.decode(b"{\"type\":1}", |_| ())),
        InvalidKind::Malformed
    );
    assert_eq!(kind(d.decode(&[0, 0, 0], |_| ())), InvalidKind::Malformed);
    let mut long = framed(7, &datum);
    long.push(0);
    assert_eq!(kind(d.decode(&long, |_| ())), InvalidKind::Malformed);
    let bad_speed = avro_datum(
        br#"{"type":"probe","segment_id":"S","ts":5000,"speed_kph":-3}"#,
        &schema,
    );
    assert_eq!(
        kind(d.decode(&framed(7, &bad_speed), |_| ())),
        InvalidKind::InvalidValue
    );
}

#[test]
fn congestion_events_read_back_with_the_schema_file_and_match_json() {
    let schema = parse(CONGESTION_EVENT_SCHEMA).unwrap();
    let settings = std::sync::Arc::new(crate::domain::processor::ProcessorSettings {
        catalog: std::sync::Arc::new(crate::sim::generator::catalog(50)),
        ..crate::domain::processor::ProcessorSettings::new(
            crate::domain::window::WindowSpec::tumbling(60_000, 0),
            crate::domain::processor::EmitMode::Final,
        )
    });
    let cfg = WorkloadConfig {
        segments: 50,
        ..WorkloadConfig::default()
    };
    let mut task = crate::domain::processor::Task::new(settings);
    let mut out = Vec::new();
    for (i, r) in Workload::new(cfg).take(20_000).into_iter().enumerate() {
        let _ = crate::codec::with_raw_event(&r.value, |e| task.on_event(i as i64, e, 0, &mut out));
    }
    task.close_all(&mut out);
    assert!(out.len() >= 50, "{}", out.len());
    for event in &out {
        let mut buf = Vec::new();
        encode_congestion(42, event, &mut buf);
        let (id, datum) = split_header(&buf).unwrap();
        assert_eq!(id, 42);
        let mut rest = datum;
        let value = from_avro_datum(&schema, &mut rest, None).unwrap();
        assert!(rest.is_empty());
        let json: serde_json::Value = serde_json::to_value(event).unwrap();
        let Value::Record(fields) = value else {
            panic!()
        };
        assert_eq!(fields.len(), json.as_object().unwrap().len());
        for (name, v) in fields {
            assert_eq!(plain(v), json[&name], "field {name}");
        }
    }
}

/// An apache-avro value as the JSON form writes it.
fn plain(v: Value) -> serde_json::Value {
    use serde_json::json;
    match v {
        Value::Union(_, inner) => plain(*inner),
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Long(i) | Value::TimestampMillis(i) => json!(i),
        Value::Double(d) => json!(d),
        Value::String(s) | Value::Enum(_, s) => json!(s),
        other => panic!("unexpected {other:?}"),
    }
}

proptest! {
    #[test]
    fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let schema = raw_schema();
        let plan = RawPlan::compile(&schema, &schema).unwrap();
        let _ = plan.decode(&bytes);
        let writer = Schema::parse_str(OLD_WRITER).unwrap();
        let old = RawPlan::compile(&writer, &schema).unwrap();
        let _ = old.decode(&bytes);
    }

    #[test]
    fn truncated_or_flipped_records_are_errors_not_panics(cut in 0usize..60, flip in 0usize..60, bit in 0u8..8) {
        let schema = raw_schema();
        let plan = RawPlan::compile(&schema, &schema).unwrap();
        let json = br#"{"type":"detector","segment_id":"S-1","ts":99,"detector_id":"d","lane":2,"volume":4,"occupancy":0.2}"#;
        let mut datum = avro_datum(json, &schema);
        if flip < datum.len() { datum[flip] ^= 1 << bit; }
        let _ = plan.decode(&datum);
        let whole = avro_datum(json, &schema);
        if cut < whole.len() { prop_assert!(plan.decode(&whole[..cut]).is_err()); }
    }
}
