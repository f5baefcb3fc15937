// apache-avro's plain datum functions (deprecated in 0.22 for a builder API) are the reference.
#![allow(deprecated)]
//! Schema evolution of the contracts in schemas/: for each schema, an older version (an
//! optional field removed) and a newer one (an optional field added) round-trip in both
//! directions (BACKWARD: the newer reads the older's data; FORWARD: the older reads the
//! newer's), with apache-avro and with roadpulse's own raw-event decoder; and the current
//! schemas are checked against every release in schemas/released/ both ways (what a
//! registry's FULL_TRANSITIVE compatibility checks).

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::types::Value;
use apache_avro::{from_avro_datum, to_avro_datum, Schema};
use serde_json::{json, Value as Json};

use roadpulse::codec::avro::{can_read, RawPlan};
use roadpulse::sim::generator::{Workload, WorkloadConfig};

/// Every released version, oldest first; the last is the latest release.
const RELEASES: [&str; 2] = ["schemas/released/v1", "schemas/released/v2"];
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
        "raw_event.avsc" => {
            let mut v: Vec<Json> = Workload::new(WorkloadConfig::default())
                .take(500)
                .into_iter()
                .map(|r| serde_json::from_slice(&r.value).unwrap())
                .collect();
            v.extend(flow_samples());
            v
        }
        "congestion_event.avsc" => with_vendor_flow(json!({
            "segment_id": "A1", "window_start": 0, "window_end": 60000, "samples": 3,
            "vehicles": 2, "speed_kph": 42.5, "speed_source": "probe", "mean_speed_kph": 44.0,
            "p85_speed_kph": 50.1, "min_speed_kph": 30.0, "max_speed_kph": 51.0, "volume": 0,
            "flow_vph": 0.0, "occupancy": null, "free_flow_kph": 80.0,
            "free_flow_source": "catalog", "speed_ratio": 0.531, "travel_time_index": 1.882,
            "level": "moderate", "los": "D", "confidence": 0.7, "final": true,
            "speed_estimator": "harmonic", "reference_speed_kph": 80.0, "delay_s": 60.5
        })),
        _ => vec![json!({
            "incident_id": "i-1", "segment_id": "A1", "status": "detected", "kind": "unknown",
            "severity": "major", "started_at": 1000, "detected_at": 2000, "cleared_at": null,
            "algorithm": "california8", "confidence": 0.9, "evidence": {"occdf_pct": 31.5}
        })],
    }
}

/// A congestion event, and the same window measured by vendor flow readings (symbols that
/// version 1 reads as its enums' defaults).
fn with_vendor_flow(probe: Json) -> Vec<Json> {
    let mut flow = probe.clone();
    flow["speed_source"] = json!("flow");
    flow["free_flow_source"] = json!("vendor");
    flow["speed_estimator"] = json!("vendor_flow");
    vec![probe, flow]
}

/// Vendor flow readings in their Avro shape: `type` probe (what a version-1 reader can read),
/// the real type in `event_type`.
fn flow_samples() -> Vec<Json> {
    [(41.0, Some(0.59), false), (0.0, None, true)]
        .into_iter()
        .map(|(speed, confidence, closed)| {
            json!({
                "type": "probe", "event_type": "flow", "segment_id": "A10-07",
                "ts": 1767225600000i64, "speed_kph": speed, "free_flow_kph": 70.0,
                "confidence": confidence, "closed": closed, "source": "tomtom",
                "location": "52.41072,4.84239"
            })
        })
        .collect()
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

/// What `reader` reads for a symbol `sent` in `field`: the symbol, or the default of the
/// field's enum when the enum lacks it (the specification's enum resolution).
fn as_read(reader: &Json, field: &str, sent: Json) -> Json {
    let Some(f) = reader["fields"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["name"] == field))
    else {
        return sent;
    };
    let branches = match &f["type"] {
        Json::Array(u) => u.clone(),
        other => vec![other.clone()],
    };
    match branches.iter().find(|b| b["type"] == "enum") {
        Some(e) if !sent.is_null() && !e["symbols"].as_array().unwrap().contains(&sent) => {
            e["default"].clone()
        }
        _ => sent,
    }
}

/// Both directions between `a` and `b`, checked (by the specification's rules: apache-avro's
/// check plus enum defaults, as roadpulse and the registry check them) and exercised on data
/// with apache-avro's own resolution.
fn compatible_both_ways(name: &str, a: &Json, b: &Json) {
    let (sa, sb) = (parse(a), parse(b));
    can_read(&sa, &sb).unwrap_or_else(|e| panic!("{name}: {e}"));
    can_read(&sb, &sa).unwrap_or_else(|e| panic!("{name}: {e}"));
    for sample in samples(name) {
        for ((w, r), (writer, reader)) in [((&sa, &sb), (a, b)), ((&sb, &sa), (b, a))] {
            let written = |f: &str| matches!(w, Schema::Record(rec) if rec.lookup.contains_key(f));
            for (field, value) in round_trip(&sample, w, r) {
                let sent = sample.get(&field).cloned().unwrap_or(Json::Null);
                // A symbol the writer's enum lacks was written as its default already.
                let expected = if written(&field) {
                    as_read(reader, &field, as_read(writer, &field, sent))
                } else {
                    Json::Null
                };
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
            assert_eq!(ours.event_type, sample["event_type"].as_str());
            assert_eq!(ours.confidence, sample["confidence"].as_f64());
            assert_eq!(ours.closed, sample["closed"].as_bool());
        }
    }
}

#[test]
fn current_schemas_are_compatible_with_every_release_both_ways() {
    for release in RELEASES {
        for name in SCHEMAS {
            compatible_both_ways(name, &read(release, name), &read("schemas", name));
        }
    }
}

#[test]
fn a_flow_reading_reads_as_a_probe_with_version_1_and_as_flow_now() {
    let current = parse(&read("schemas", "raw_event.avsc"));
    let v1 = parse(&read(RELEASES[0], "raw_event.avsc"));
    for sample in flow_samples() {
        let read_by_v1 = round_trip(&sample, &current, &v1);
        let field = |name: &str| {
            read_by_v1
                .iter()
                .find(|(f, _)| f == name)
                .map(|(_, v)| plain(v.clone()))
        };
        assert_eq!(field("type"), Some(json!("probe")));
        assert_eq!(field("event_type"), None, "version 1 has no such field");
        let plan = RawPlan::compile(&current, &current).unwrap();
        let value = Value::try_from(sample.clone())
            .unwrap()
            .resolve(&current)
            .unwrap();
        let datum = to_avro_datum(&current, value).unwrap();
        let event = plan.decode(&datum).unwrap().validate().unwrap();
        assert!(matches!(
            event.body,
            roadpulse::domain::event::EventBody::Flow(_)
        ));
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
