//! The raw-event contract's validation rules, case by case.

use super::*;

fn probe(speed: f64) -> RawEventFields<'static> {
    RawEventFields {
        kind: Some("probe"),
        segment_id: Some("s1"),
        ts: Some(1_000),
        speed_kph: Some(speed),
        ..Default::default()
    }
}

#[test]
fn valid_probe() {
    let e = probe(42.0).validate().unwrap();
    assert_eq!(e.segment_id, "s1");
    assert_eq!(
        e.body,
        EventBody::Probe {
            speed_kph: 42.0,
            vehicle_id: None,
            source: None,
            offset_m: None,
        }
    );
    let bad_offset = RawEventFields {
        offset_m: Some(-3.0),
        ..probe(1.0)
    };
    assert_eq!(
        bad_offset.validate().unwrap_err().kind,
        InvalidKind::InvalidValue
    );
}

#[test]
fn errors_have_kinds() {
    let kind = |f: RawEventFields| f.validate().unwrap_err().kind;
    assert_eq!(kind(probe(-1.0)), InvalidKind::InvalidValue);
    assert_eq!(kind(probe(f64::NAN)), InvalidKind::InvalidValue);
    assert_eq!(
        kind(RawEventFields {
            speed_kph: None,
            ..probe(1.0)
        }),
        InvalidKind::MissingField
    );
    assert_eq!(
        kind(RawEventFields {
            ts: Some(-5),
            ..probe(1.0)
        }),
        InvalidKind::InvalidTimestamp
    );
    assert_eq!(
        kind(RawEventFields {
            kind: Some("car"),
            ..probe(1.0)
        }),
        InvalidKind::UnknownType
    );
    assert_eq!(
        kind(RawEventFields {
            segment_id: Some(""),
            ..probe(1.0)
        }),
        InvalidKind::InvalidValue
    );
}

#[test]
fn detector_defaults_and_ranges() {
    let f = RawEventFields {
        kind: Some("detector"),
        segment_id: Some("s"),
        ts: Some(0),
        volume: Some(10),
        occupancy: Some(0.2),
        ..Default::default()
    };
    match f.validate().unwrap().body {
        EventBody::Detector(d) => assert_eq!(d.interval_s, DEFAULT_INTERVAL_S),
        other => panic!("not a detector: {other:?}"),
    }
    let bad_occ = RawEventFields {
        occupancy: Some(1.5),
        ..f.clone()
    };
    assert_eq!(
        bad_occ.validate().unwrap_err().kind,
        InvalidKind::InvalidValue
    );
    let bad_vol = RawEventFields {
        volume: Some(-1),
        ..f.clone()
    };
    assert_eq!(
        bad_vol.validate().unwrap_err().kind,
        InvalidKind::InvalidValue
    );
    // Count-and-speed stations: no occupancy, but a speed.
    let no_occ = |speed| RawEventFields {
        occupancy: None,
        speed_kph: speed,
        ..f.clone()
    };
    match no_occ(Some(88.0)).validate().unwrap().body {
        EventBody::Detector(d) => assert_eq!((d.occupancy, d.speed_kph), (None, Some(88.0))),
        other => panic!("not a detector: {other:?}"),
    }
    assert_eq!(
        no_occ(None).validate().unwrap_err().kind,
        InvalidKind::MissingField
    );
}

fn flow() -> RawEventFields<'static> {
    RawEventFields {
        kind: Some("flow"),
        segment_id: Some("s"),
        ts: Some(0),
        speed_kph: Some(41.0),
        free_flow_kph: Some(70.0),
        confidence: Some(0.59),
        ..Default::default()
    }
}

#[test]
fn flow_readings() {
    let body = |f: RawEventFields| match f.validate().map(|e| e.body) {
        Ok(EventBody::Flow(r)) => Ok(r),
        Ok(other) => panic!("not a flow reading: {other:?}"),
        Err(e) => Err(e.kind),
    };
    let r = body(flow()).unwrap();
    assert_eq!(
        (r.speed_kph, r.free_flow_kph, r.confidence, r.closed),
        (41.0, Some(70.0), 0.59, false)
    );
    let no_conf = body(RawEventFields {
        confidence: None,
        ..flow()
    })
    .unwrap();
    assert_eq!(no_conf.confidence, 1.0);
    // A closed road is a standstill, whatever speed the vendor put beside it.
    let closed = RawEventFields {
        closed: Some(true),
        speed_kph: None,
        ..flow()
    };
    assert_eq!(body(closed.clone()).unwrap().speed_kph, 0.0);
    let closed_fast = RawEventFields {
        speed_kph: Some(70.0),
        ..closed
    };
    assert_eq!(body(closed_fast).unwrap().speed_kph, 0.0);
    for bad in [
        RawEventFields {
            speed_kph: None,
            ..flow()
        },
        RawEventFields {
            confidence: Some(1.5),
            ..flow()
        },
        RawEventFields {
            free_flow_kph: Some(0.0),
            ..flow()
        },
        RawEventFields {
            speed_kph: Some(-3.0),
            ..flow()
        },
    ] {
        assert!(body(bad).is_err());
    }
}

#[test]
fn event_type_overrides_a_stand_in_type() {
    let stand_in = RawEventFields {
        kind: Some("probe"),
        event_type: Some("flow"),
        ..flow()
    };
    assert!(matches!(
        stand_in.validate().unwrap().body,
        EventBody::Flow(_)
    ));
    // A symbol from a newer writer maps to `unknown`: `type` decides.
    let newer = RawEventFields {
        kind: Some("probe"),
        event_type: Some(UNKNOWN_EVENT_TYPE),
        ..flow()
    };
    assert!(
        matches!(newer.validate().unwrap().body, EventBody::Probe { speed_kph, .. } if speed_kph == 41.0)
    );
}
