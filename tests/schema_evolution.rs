// apache-avro's plain datum functions (deprecated in 0.22 for a builder API) are the reference.
#![allow(deprecated)]
//! Schema evolution of the contracts in schemas/: for each schema, an older version (an
//! optional field removed) and a newer one (an optional field added) round-trip in both
//! directions (BACKWARD: the newer reads the older's data; FORWARD: the older reads the
//! newer's), with apache-avro and with roadpulse's own raw-event decoder; and the current
//! schemas are checked against the latest release in schemas/released/ both ways.

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::types::Value;
use apache_avro::{from_avro_datum, to_avro_datum, Schema};
use serde_json::{json, Value as Json};

use roadpulse::codec::avro::RawPlan;
use roadpulse::sim::generator::{Workload, WorkloadConfig};

const LATEST_RELEASE: &str = "schemas/released/v1";
const SCHEMAS: [&str; 3] = [
    "raw_event.avsc",
    "congestion_event.avsc",
    "incident_event.avsc",
];

fn read(dir: &str, name: &str) -> Json {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(dir)
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn parse(j: &Json) -> Schema {
    Schema::parse_str(&j.to_string()).unwrap()
}

/// The schema without its last optional (null-defaulted) field.
fn older(schema: &Json) -> (Json, String) {
    let mut s = schema.clone();
    let fields = s["fields"].as_array_mut().unwrap();
    let i = fields
        .iter()
        .rposition(|f| f.get("default").is_some_and(Json::is_null))
        .expect("an optional field");
    let removed = fields.remove(i);
    (s, removed["name"].as_str().unwrap().to_string())
}

/// The schema with an optional field appended.
fn newer(schema: &Json) -> Json {
    let mut s = schema.clone();
    s["fields"].as_array_mut().unwrap().push(json!({
        "name": "added_later", "doc": "A field a later version adds.",
        "type": ["null", "string"], "default": null
    }));
    s
}

/// Sample data of each schema, as JSON objects in the schema's shape.
fn samples(name: &str) -> Vec<Json> {
    match name {
        "raw_event.avsc" => Workload::new(WorkloadConfig::default())
            .take(500)
            .into_iter()
            .map(|r| serde_json::from_slice(&r.value).unwrap())
            .collect(),
        "congestion_event.avsc" => vec![json!({
            "segment_id": "A1", "window_start": 0, "window_end": 60000, "samples": 3,
            "vehicles": 2, "speed_kph": 42.5, "speed_source": "probe", "mean_speed_kph": 44.0,
            "p85_speed_kph": 50.1, "min_speed_kph": 30.0, "max_speed_kph": 51.0, "volume": 0,
            "flow_vph": 0.0, "occupancy": null, "free_flow_kph": 80.0,
            "free_flow_source": "catalog", "speed_ratio": 0.531, "travel_time_index": 1.882,
            "level": "moderate", "los": "D", "confidence": 0.7, "final": true
        })],
        _ => vec![json!({
            "incident_id": "i-1", "segment_id": "A1", "status": "detected", "kind": "unknown",
            "severity": "major", "started_at": 1000, "detected_at": 2000, "cleared_at": null,
            "algorithm": "california8", "confidence": 0.9, "evidence": {"occdf_pct": 31.5}
        })],
    }
}

/// Writes `sample` with `writer`, reads it with `reader`; returns the fields read.
fn round_trip(sample: &Json, writer: &Schema, reader: &Schema) -> Vec<(String, Value)> {
    let value = Value::try_from(sample.clone())
        .unwrap()
        .resolve(writer)
        .unwrap();
    let datum = to_avro_datum(writer, value).unwrap();
    match from_avro_datum(writer, &mut &datum[..], Some(reader)).unwrap() {
        Value::Record(fields) => fields,
        other => panic!("not a record: {other:?}"),
    }
}

/// Both directions between `a` and `b`, checked and exercised on data.
fn compatible_both_ways(name: &str, a: &Json, b: &Json) {
    let (sa, sb) = (parse(a), parse(b));
    SchemaCompatibility::can_read(&sa, &sb).unwrap_or_else(|e| panic!("{name}: {e}"));
    SchemaCompatibility::can_read(&sb, &sa).unwrap_or_else(|e| panic!("{name}: {e}"));
    for sample in samples(name) {
        for (w, r) in [(&sa, &sb), (&sb, &sa)] {
            let written = |f: &str| matches!(w, Schema::Record(rec) if rec.lookup.contains_key(f));
            for (field, value) in round_trip(&sample, w, r) {
                let sent = sample.get(&field).cloned().unwrap_or(Json::Null);
                let expected = if written(&field) { sent } else { Json::Null };
                assert!(
                    same(&plain(value.clone()), &expected),
                    "{name}.{field}: wrote {expected}, read {value:?}"
                );
            }
        }
    }
}

/// An apache-avro value as JSON.
fn plain(v: Value) -> Json {
    match v {
        Value::Union(_, inner) => plain(*inner),
        Value::Null => Json::Null,
        Value::Boolean(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Long(i) | Value::TimestampMillis(i) => json!(i),
        Value::Float(f) => json!(f),
        Value::Double(d) => json!(d),
        Value::String(s) | Value::Enum(_, s) => json!(s),
        Value::Map(m) => Json::Object(m.into_iter().map(|(k, v)| (k, plain(v))).collect()),
        other => panic!("unexpected {other:?}"),
    }
}

/// Equal, numbers by value (50 and 50.0 are the same speed).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn older_and_newer_versions_round_trip_both_ways() {
    for name in SCHEMAS {
        let current = read("schemas", name);
        let (old, removed) = older(&current);
        compatible_both_ways(name, &old, &current);
        compatible_both_ways(name, &current, &newer(&current));
        compatible_both_ways(name, &old, &newer(&current));
        assert!(!removed.is_empty());
    }
}

#[test]
fn roadpulse_reads_older_and_newer_raw_producers_like_apache_avro() {
    let current = read("schemas", "raw_event.avsc");
    let reader = parse(&current);
    for writer_json in [older(&current).0, newer(&current)] {
        let writer = parse(&writer_json);
        let plan = RawPlan::compile(&writer, &reader).unwrap();
        for sample in samples("raw_event.avsc") {
            let value = Value::try_from(sample.clone())
                .unwrap()
                .resolve(&writer)
                .unwrap();
            let datum = to_avro_datum(&writer, value).unwrap();
            let ours = plan.decode(&datum).unwrap();
            assert_eq!(ours.segment_id, sample["segment_id"].as_str());
            assert_eq!(ours.ts, sample["ts"].as_i64());
            assert_eq!(ours.kind, sample["type"].as_str());
            assert_eq!(ours.speed_kph, sample["speed_kph"].as_f64());
            assert_eq!(ours.volume, sample["volume"].as_i64());
        }
    }
}

#[test]
fn current_schemas_are_compatible_with_the_latest_release_both_ways() {
    for name in SCHEMAS {
        compatible_both_ways(name, &read(LATEST_RELEASE, name), &read("schemas", name));
    }
}

#[test]
fn the_check_catches_breaking_changes() {
    let current = read("schemas", "congestion_event.avsc");
    let mut required = current.clone();
    required["fields"].as_array_mut().unwrap().push(json!({
        "name": "lanes_closed", "doc": "x", "type": "int"
    }));
    let mut retyped = current.clone();
    retyped["fields"][0]["type"] = json!("long");
    for broken in [required, retyped] {
        let (old, new) = (parse(&current), parse(&broken));
        let backward = SchemaCompatibility::can_read(&old, &new);
        let forward = SchemaCompatibility::can_read(&new, &old);
        assert!(backward.is_err() || forward.is_err(), "{broken}");
    }
}
