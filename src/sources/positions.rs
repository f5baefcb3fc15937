//! Source positions: for every location a source has published, the vendor timestamp of the
//! newest reading published from it. A reading at or before its location's position is not
//! published again. Positions live in a compacted topic (`poll.positions_topic`) and are
//! written in the same Kafka transaction as the readings they cover, like Kafka Connect's
//! exactly-once source offsets (KIP-618); at start each source reads them back with
//! `read_committed`, after its transactional producer fenced any predecessor, so what a
//! crashed poller had in flight is neither counted as published nor lost.
//!
//! Record key, Kafka Connect's offset-key form: `["<poll.id>",{"source":"<name>",
//! "location":"<location>"}]`; value `{"ts":<epoch ms>}`. A source's fence check (a
//! transaction written when it has committed nothing for `poll.fence_check_interval`) is one
//! record keyed `["<poll.id>",{"source":"<name>"}]`, value `{"checked":<epoch ms>}`: no
//! location, so it is no position; compaction keeps the newest one per source.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::domain::event::EpochMillis;

#[derive(Serialize, Deserialize)]
struct Partition<'a> {
    source: &'a str,
    location: &'a str,
}

#[derive(Serialize, Deserialize)]
struct Offset {
    ts: EpochMillis,
}

pub fn key(poll_id: &str, source: &str, location: &str) -> String {
    let k = (poll_id, Partition { source, location });
    // Serializing strings cannot fail.
    serde_json::to_string(&k).unwrap_or_default()
}

pub fn value(ts: EpochMillis) -> String {
    serde_json::to_string(&Offset { ts }).unwrap_or_default()
}

#[derive(Serialize)]
struct Source<'a> {
    source: &'a str,
}

/// The key of `source`'s fence-check record.
pub fn check_key(poll_id: &str, source: &str) -> String {
    serde_json::to_string(&(poll_id, Source { source })).unwrap_or_default()
}

/// The value of a fence-check record made at `now` (epoch ms).
pub fn check_value(now: EpochMillis) -> String {
    format!(r#"{{"checked":{now}}}"#)
}

/// Whether a record is a fence check (read back, it is skipped silently).
pub fn is_check(key: &[u8], value: &[u8]) -> bool {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Key {
        #[allow(dead_code)]
        source: String,
    }
    #[derive(Deserialize)]
    struct Checked {
        #[allow(dead_code)]
        checked: EpochMillis,
    }
    serde_json::from_slice::<(String, Key)>(key).is_ok()
        && serde_json::from_slice::<Checked>(value).is_ok()
}

/// `(poll id, source, location, ts)` of a position record, if it is one.
pub fn parse(key: &[u8], value: &[u8]) -> Option<(String, String, String, EpochMillis)> {
    let (poll_id, p): (String, Partition<'_>) = serde_json::from_slice(key).ok()?;
    let Offset { ts } = serde_json::from_slice(value).ok()?;
    Some((poll_id, p.source.to_string(), p.location.to_string(), ts))
}

/// One source's positions.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Positions {
    newest: HashMap<String, EpochMillis>,
}

impl Positions {
    /// Whether a reading at `location` and `ts` is newer than what was published from there.
    pub fn is_new(&self, location: &str, ts: EpochMillis) -> bool {
        self.newest.get(location).is_none_or(|p| ts > *p)
    }

    pub fn advance(&mut self, location: &str, ts: EpochMillis) {
        let p = self.newest.entry(location.to_string()).or_insert(ts);
        *p = (*p).max(ts);
    }

    pub fn len(&self) -> usize {
        self.newest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.newest.is_empty()
    }

    /// Every location with its position.
    pub fn iter(&self) -> impl Iterator<Item = (&str, EpochMillis)> {
        self.newest.iter().map(|(l, ts)| (l.as_str(), *ts))
    }

    /// The newest timestamp of all locations.
    pub fn newest(&self) -> Option<EpochMillis> {
        self.newest.values().copied().max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip_in_kafka_connects_shape() {
        let k = key("poll-1", "ndw", "RWS01_MONIBAS_0021hrl0403ra/lane1");
        assert_eq!(
            k,
            r#"["poll-1",{"source":"ndw","location":"RWS01_MONIBAS_0021hrl0403ra/lane1"}]"#
        );
        let v = value(1_767_225_600_000);
        assert_eq!(
            parse(k.as_bytes(), v.as_bytes()),
            Some((
                "poll-1".into(),
                "ndw".into(),
                "RWS01_MONIBAS_0021hrl0403ra/lane1".into(),
                1_767_225_600_000
            ))
        );
        assert_eq!(parse(b"[1]", v.as_bytes()), None);
        assert_eq!(parse(k.as_bytes(), b"{}"), None);
        assert!(!is_check(k.as_bytes(), v.as_bytes()));
    }

    #[test]
    fn a_fence_check_is_no_position() {
        let (k, v) = (check_key("poll-1", "ndw"), check_value(1_767_225_600_000));
        assert_eq!(k, r#"["poll-1",{"source":"ndw"}]"#);
        assert_eq!(v, r#"{"checked":1767225600000}"#);
        assert!(is_check(k.as_bytes(), v.as_bytes()));
        assert_eq!(parse(k.as_bytes(), v.as_bytes()), None);
    }

    #[test]
    fn only_newer_readings_are_new() {
        let mut p = Positions::default();
        assert!(p.is_new("a", 5));
        p.advance("a", 5);
        assert!(!p.is_new("a", 5) && !p.is_new("a", 4) && p.is_new("a", 6));
        p.advance("a", 3);
        assert!(!p.is_new("a", 5), "positions never move back");
        assert_eq!((p.len(), p.newest()), (1, Some(5)));
    }
}
