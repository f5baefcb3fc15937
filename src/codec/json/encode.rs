//! The JSON form of a validated raw event, as roadpulse's own producers (the poller) write
//! it: the contract's fields for the event's type, nothing else, so [`super::with_raw_event`]
//! reads back exactly the event that was written.

use serde::Serialize;

use crate::domain::event::{EpochMillis, EventBody, RawEvent};

#[derive(Serialize, Default)]
struct Out<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    segment_id: &'a str,
    ts: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    speed_kph: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vehicle_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detector_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lane: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval_s: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    volume: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    occupancy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    free_flow_kph: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<f64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    closed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset_m: Option<f64>,
}

/// Where a raw event came from: carried in the record, never read by the worker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Provenance<'a> {
    /// The producing system (the poller's source name).
    pub source: Option<&'a str>,
    /// Where that system located the reading (an OpenLR code, a site id, a vehicle, a point).
    pub location: Option<&'a str>,
    /// A report's severity as the reporting system states it.
    pub severity: Option<&'a str>,
}

/// Appends the JSON of `e` to `buf`.
pub fn encode_raw(e: &RawEvent<'_>, p: Provenance<'_>, buf: &mut Vec<u8>) {
    let mut out = Out {
        kind: "probe",
        segment_id: e.segment_id,
        ts: e.ts,
        severity: p.severity,
        source: p.source,
        location: p.location,
        ..Out::default()
    };
    match &e.body {
        EventBody::Probe {
            speed_kph,
            vehicle_id,
            source,
            offset_m,
        } => {
            out.speed_kph = Some(*speed_kph);
            out.vehicle_id = *vehicle_id;
            out.source = source.or(p.source);
            out.offset_m = *offset_m;
        }
        EventBody::Detector(d) => {
            out.kind = "detector";
            out.speed_kph = d.speed_kph;
            out.detector_id = d.detector_id;
            out.lane = d.lane;
            out.interval_s = Some(d.interval_s);
            out.volume = Some(d.volume);
            out.occupancy = d.occupancy;
        }
        EventBody::Report {
            report_id,
            category,
        } => {
            out.kind = "report";
            out.report_id = *report_id;
            out.category = Some(category.as_str());
        }
        EventBody::Flow(f) => {
            out.kind = "flow";
            out.speed_kph = Some(f.speed_kph);
            out.free_flow_kph = f.free_flow_kph;
            out.confidence = Some(f.confidence);
            out.closed = f.closed;
        }
    }
    // Serializing a plain struct of numbers and strings into a Vec cannot fail.
    let _ = serde_json::to_writer(buf, &out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{DetectorReading, FlowReading, ReportCategory};

    fn round_trip(e: &RawEvent<'_>) {
        let mut buf = Vec::new();
        let p = Provenance {
            source: Some("ndw"),
            location: Some("RWS01_MONIBAS_0021hrl0403ra"),
            severity: None,
        };
        encode_raw(e, p, &mut buf);
        let back = super::super::with_raw_event(&buf, |b| format!("{b:?}")).unwrap();
        assert_eq!(back, format!("{e:?}"), "{}", String::from_utf8_lossy(&buf));
    }

    #[test]
    fn every_type_reads_back_as_written() {
        let at = |body| RawEvent {
            segment_id: "A10-07",
            ts: 1_767_225_600_000,
            body,
        };
        round_trip(&at(EventBody::Probe {
            speed_kph: 43.2,
            vehicle_id: Some("bus-7"),
            source: Some("ndw"),
            offset_m: Some(120.5),
        }));
        round_trip(&at(EventBody::Detector(DetectorReading {
            detector_id: Some("lane1"),
            lane: Some(1),
            interval_s: 60,
            volume: 12,
            occupancy: None,
            speed_kph: Some(97.0),
        })));
        round_trip(&at(EventBody::Report {
            report_id: Some("tt-1"),
            category: ReportCategory::Closure,
        }));
        for closed in [false, true] {
            round_trip(&at(EventBody::Flow(FlowReading {
                speed_kph: if closed { 0.0 } else { 41.0 },
                free_flow_kph: Some(70.0),
                confidence: 0.59,
                closed,
            })));
        }
    }
}
