//! The Avro contracts in schemas/ parse with the apache-avro crate, document every field, and
//! name exactly the fields of the JSON forms roadpulse reads and writes.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

fn schema_json(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    apache_avro::Schema::parse_str(&text)
        .unwrap_or_else(|e| panic!("{name} is not valid Avro: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn fields(schema: &Value) -> BTreeSet<String> {
    schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_schema_parses_and_documents_every_field_in_one_namespace() {
    for name in [
        "raw_event.avsc",
        "congestion_event.avsc",
        "incident_event.avsc",
    ] {
        let s = schema_json(name);
        assert_eq!(s["namespace"], "io.roadpulse.v1", "{name}");
        assert!(s["doc"].is_string(), "{name} has a doc");
        for f in s["fields"].as_array().unwrap() {
            assert!(
                f["doc"].as_str().is_some_and(|d| !d.is_empty()),
                "{name}: field {} has no doc",
                f["name"]
            );
            let nullable = f["type"].as_array().is_some_and(|u| u[0] == "null");
            if nullable {
                assert!(
                    f.get("default").is_some_and(Value::is_null),
                    "{name}: optional {} defaults to null",
                    f["name"]
                );
            }
        }
    }
}

#[test]
fn congestion_schema_names_exactly_the_json_fields() {
    let mut catalog = roadpulse::domain::catalog::Catalog::default();
    catalog.insert(
        "A",
        roadpulse::domain::catalog::SegmentInfo {
            free_flow_kph: 100.0,
            ..Default::default()
        },
    );
    let settings = std::sync::Arc::new(roadpulse::domain::processor::ProcessorSettings {
        catalog: std::sync::Arc::new(catalog),
        ..roadpulse::domain::processor::ProcessorSettings::new(
            roadpulse::domain::window::WindowSpec::tumbling(60_000, 0),
            roadpulse::domain::processor::EmitMode::Final,
        )
    });
    let input = r#"{"type":"probe","segment_id":"A","ts":1000,"speed_kph":50,"vehicle_id":"v"}"#;
    let mut out = Vec::new();
    roadpulse::replay::replay(settings, 1, input.as_bytes(), &mut out).unwrap();
    let event: Value = serde_json::from_slice(&out).unwrap();
    let json_fields: BTreeSet<String> = event.as_object().unwrap().keys().cloned().collect();
    assert_eq!(json_fields, fields(&schema_json("congestion_event.avsc")));
}

#[test]
fn raw_schema_holds_every_field_producers_send() {
    let schema = fields(&schema_json("raw_event.avsc"));
    let cfg = roadpulse::sim::generator::WorkloadConfig::default();
    for record in roadpulse::sim::generator::Workload::new(cfg).take(5_000) {
        let v: Value = serde_json::from_slice(&record.value).unwrap();
        for key in v.as_object().unwrap().keys() {
            assert!(
                schema.contains(key),
                "raw field {key} is missing from raw_event.avsc"
            );
        }
    }
}
