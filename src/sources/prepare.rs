//! From a poll's readings to the records to publish: each reading's segments (mapping or
//! snapping), its identity checked against the positions (a reading already published, or
//! repeated within the poll, is dropped as `seen`), the contract's validation (the worker's
//! own rules: an invalid reading is dropped, never published as poison), then the JSON form.

use std::collections::HashMap;

use super::locate::Locator;
use super::positions::Positions;
use super::reading::Reading;
use crate::codec::json::{encode_raw, Provenance};
use crate::domain::event::EpochMillis;

/// Readings further in the future than this (vendor clock against ours) are invalid.
pub const MAX_FUTURE_MS: i64 = 10 * 60 * 1000;

/// One raw event, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The identity it advances (the reading's location, `@segment` for line readings).
    pub location: String,
    pub ts: EpochMillis,
    pub segment: String,
    pub value: Vec<u8>,
}

/// What a poll's readings came to.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Prepared>,
    /// Readings not published, by reason (`roadpulse_source_readings_dropped_total`).
    pub dropped: HashMap<&'static str, u64>,
}

impl Batch {
    fn drop(&mut self, reason: &'static str) {
        *self.dropped.entry(reason).or_default() += 1;
    }
}

/// `published` holds what was committed; `pending` what was sent in the open transaction.
pub fn prepare(
    source: &str,
    readings: &[Reading],
    locator: &Locator,
    published: &Positions,
    pending: &Positions,
    now_ms: EpochMillis,
) -> Batch {
    let mut batch = Batch::default();
    let mut this_poll = Positions::default();
    for r in readings {
        let segments = match locator.locate(r) {
            Ok(s) => s,
            Err(why) => {
                batch.drop(why.as_str());
                continue;
            }
        };
        for segment in segments {
            let location = if r.spread {
                format!("{}@{segment}", r.location)
            } else {
                r.location.clone()
            };
            let new = [published, pending, &this_poll]
                .iter()
                .all(|p| p.is_new(&location, r.ts));
            if !new {
                batch.drop("seen");
                continue;
            }
            if r.ts > now_ms + MAX_FUTURE_MS {
                tracing::debug!(
                    source,
                    location,
                    ts = r.ts,
                    "reading from the future dropped"
                );
                batch.drop("invalid");
                continue;
            }
            let fields = r.fields(&segment);
            let event = match fields.validate() {
                Ok(e) => e,
                Err(e) => {
                    tracing::debug!(source, location, "invalid reading dropped: {e}");
                    batch.drop("invalid");
                    continue;
                }
            };
            let mut value = Vec::with_capacity(192);
            let p = Provenance {
                source: Some(source),
                location: Some(&r.location),
                severity: r.severity(),
            };
            encode_raw(&event, p, &mut value);
            this_poll.advance(&location, r.ts);
            batch.events.push(Prepared {
                location,
                ts: r.ts,
                segment: segment.clone(),
                value,
            });
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::Catalog;
    use crate::sources::locate::parse_mapping;
    use crate::sources::reading::{Body, Point};

    fn flow(location: &str, ts: i64, speed: f64) -> Reading {
        Reading {
            location: location.into(),
            ts,
            keys: vec![location.into()],
            points: vec![],
            spread: false,
            body: Body::Flow {
                speed_kph: Some(speed),
                free_flow_kph: Some(70.0),
                confidence: Some(0.9),
                closed: false,
            },
        }
    }

    fn locator() -> Locator {
        let mapping = parse_mapping("location,segment_id\nL1,S1\nL2,S2\n").unwrap();
        Locator::new(mapping, &Catalog::default(), 30.0)
    }

    #[test]
    fn publishes_each_reading_once_and_counts_the_rest() {
        let mut published = Positions::default();
        published.advance("L1", 1_000);
        let readings = [
            flow("L1", 1_000, 40.0), // published before
            flow("L1", 2_000, 41.0),
            flow("L1", 2_000, 41.0),      // the feed repeats itself
            flow("L2", 2_000, -5.0),      // invalid speed
            flow("L3", 2_000, 50.0),      // no segment
            flow("L2", 10_000_000, 50.0), // far in the future
        ];
        let b = prepare(
            "tomtom",
            &readings,
            &locator(),
            &published,
            &Positions::default(),
            2_000,
        );
        assert_eq!(b.events.len(), 1);
        assert_eq!(
            (b.events[0].location.as_str(), b.events[0].segment.as_str()),
            ("L1", "S1")
        );
        let json: serde_json::Value = serde_json::from_slice(&b.events[0].value).unwrap();
        assert_eq!(json["type"], "flow");
        assert_eq!(json["source"], "tomtom");
        assert_eq!(b.dropped["seen"], 2);
        assert_eq!(b.dropped["invalid"], 2);
        assert_eq!(b.dropped["unmapped"], 1);
    }

    #[test]
    fn pending_positions_count_as_published_and_lines_spread() {
        let mut pending = Positions::default();
        pending.advance("L2", 5);
        let b = prepare(
            "x",
            &[flow("L2", 5, 50.0)],
            &locator(),
            &Positions::default(),
            &pending,
            5,
        );
        assert_eq!(b.dropped["seen"], 1);
        let catalog = Catalog::parse_csv(
            "segment_id,free_flow_kph,geometry\nA,50,4.9 52.3;4.9 52.31\nB,50,4.9 52.31;4.9 52.32\n",
        )
        .unwrap();
        let l = Locator::new(HashMap::new(), &catalog, 30.0);
        let incident = Reading {
            location: "tt-1".into(),
            ts: 7,
            keys: vec![],
            points: vec![Point::new(52.305, 4.9), Point::new(52.315, 4.9)],
            spread: true,
            body: Body::Report {
                report_id: "tt-1".into(),
                category: "closure",
                severity: Some("major".into()),
            },
        };
        let b = prepare(
            "x",
            &[incident],
            &l,
            &Positions::default(),
            &Positions::default(),
            7,
        );
        let at: Vec<_> = b.events.iter().map(|e| e.location.as_str()).collect();
        assert_eq!(at, ["tt-1@A", "tt-1@B"]);
        let json: serde_json::Value = serde_json::from_slice(&b.events[1].value).unwrap();
        assert_eq!(
            (json["category"].as_str(), json["severity"].as_str()),
            (Some("closure"), Some("major"))
        );
    }
}
