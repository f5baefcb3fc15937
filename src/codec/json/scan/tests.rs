//! The fast path against serde_json: whatever the fast path accepts, serde_json reads the same.

use proptest::prelude::*;

use super::parse;
use crate::codec::json::JsonEvent;
use crate::domain::event::RawEventFields;
use crate::sim::generator::{Workload, WorkloadConfig};

/// Fails when the fast path accepts `bytes` and serde_json disagrees.
fn agree(bytes: &[u8]) -> Option<RawEventFields<'_>> {
    let fast = parse(bytes)?;
    let slow = JsonEvent::parse(bytes);
    let slow = slow.as_ref().map(|e| e.fields());
    assert!(
        matches!(slow, Ok(Ok(ref f)) if *f == fast),
        "fast path and serde_json disagree on {:?}: {fast:?} vs {slow:?}",
        String::from_utf8_lossy(bytes)
    );
    Some(fast)
}

fn generated(n: u64) -> Vec<Vec<u8>> {
    let cfg = WorkloadConfig {
        segments: 50,
        events_per_sec: 100.0,
        ..WorkloadConfig::default()
    };
    Workload::new(cfg)
        .take(n)
        .into_iter()
        .map(|r| r.value)
        .collect()
}

#[test]
fn takes_every_well_formed_generated_event() {
    let mut taken = 0;
    for v in generated(2_000) {
        let well_formed = JsonEvent::parse(&v)
            .ok()
            .and_then(|e| e.fields().ok().and_then(|f| f.validate().ok().map(drop)));
        if well_formed.is_some() {
            assert!(
                agree(&v).is_some(),
                "declined {:?}",
                String::from_utf8_lossy(&v)
            );
            taken += 1;
        }
    }
    assert!(taken > 1_500, "{taken}");
}

#[test]
fn declines_what_it_does_not_fully_understand() {
    for s in [
        r#"{"type":"pr\u006fbe","segment_id":"s","ts":1}"#,
        r#"{"type":"probe","type":"probe"}"#,
        r#"{"segment_id":null}"#,
        r#"{"lane":1.0}"#,
        r#"{"lane":-0}"#,
        r#"{"ts":1e3}"#,
        r#"{"speed_kph":1.00000000000000001}"#,
        r#"{"x":{"y":1}}"#,
        r#"{"x":[1]}"#,
        r#"{"lane":01}"#,
        r#"{"ts":1,}"#,
        r#"{"ts":1} x"#,
        r#"[1]"#,
        "{\"type\":\"a\tb\"}",
        r#"{"ts":nul}"#,
        r#"{"closed":1}"#,
        r#"{"closed":null}"#,
        r#"{"closed":truex}"#,
        r#"{"closed":true,"closed":false}"#,
    ] {
        assert!(parse(s.as_bytes()).is_none(), "{s}");
    }
}

#[test]
fn takes_plain_objects_like_serde() {
    for s in [
        "{}",
        " { \"ts\" : 5 , \"extra\" : true , \"n\":null, \"f\":false, \"s\":\"x\", \"d\":-1.5 } \n",
        r#"{"type":"probe","segment_id":"ség","ts":"2023-11-14T22:13:20Z","speed_kph":-0}"#,
        r#"{"ts":-17,"speed_kph":12,"occupancy":0.12345678901234,"volume":9999999999999999}"#,
        r#"{"type":"flow","segment_id":"A","ts":1,"speed_kph":41,"free_flow_kph":70,"confidence":0.59,"closed":false}"#,
        r#"{"type":"flow","segment_id":"A","ts":1,"closed" : true,"source":"tomtom","location":"52.4,4.8"}"#,
        r#"{"type":"probe","event_type":"flow","segment_id":"A","ts":1,"speed_kph":0}"#,
    ] {
        assert!(agree(s.as_bytes()).is_some(), "{s}");
    }
}

/// Bytes that make JSON interesting.
fn edit() -> impl Strategy<Value = (usize, u8, bool)> {
    let byte = prop::sample::select(b"{}[]\",:\\ -+.0159eEtrufalsn\x01\xc3\xa9\xff".to_vec());
    (any::<usize>(), byte, any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn never_disagrees_with_serde_on_mutated_events(
        pick in 0usize..200,
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let events = generated(200);
        let mut bytes = events[pick % events.len()].clone();
        for (at, byte, insert) in edits {
            let at = at % (bytes.len() + 1);
            if insert || at == bytes.len() {
                bytes.insert(at, byte);
            } else {
                bytes[at] = byte;
            }
        }
        agree(&bytes);
    }
}
