//! Each record is judged by the worker's own decoder and validation ([`crate::codec`]): JSON
//! with the same fast path and serde_json fallback, Avro with the same writer-schema lookup
//! and resolution. A record that passes is written unchanged, keyed by its `segment_id`; one
//! that fails is rejected with the kind and sentence a dead-letter record would carry.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use crate::codec::avro::{RawDecoder, WriterSchemas};
use crate::codec::registry::Registry;
use crate::codec::{with_raw_event, DecodeError};
use crate::config::{Config, ConfigError, Format};
use crate::domain::event::InvalidEvent;

/// Bodies larger than this are validated on the blocking pool, off the async workers.
const INLINE_BYTES: usize = 256 << 10;

/// One record after validation.
#[derive(Debug)]
pub enum Checked {
    /// Valid: written with this key (the segment id) and the record's bytes as they came.
    Valid { key: Box<[u8]>, value: Bytes },
    /// Invalid: never written.
    Rejected(InvalidEvent),
    /// Cannot be judged now (the schema registry does not answer): the client resends.
    Unavailable(String),
}

/// The decoder of the ingest topic's format.
#[derive(Clone)]
pub enum Validator {
    Json,
    /// Writer schemas are cached in the decoder, hence the lock (registry lookups block).
    Avro(Arc<Mutex<RawDecoder>>),
}

impl Validator {
    /// The validator for `topic`'s format; Avro needs the registry or a fixed schema id.
    pub fn for_topic(config: &Config, topic: &str) -> Result<Validator, ConfigError> {
        if config.formats.input_format(topic) == Format::Json {
            return Ok(Validator::Json);
        }
        let sr = &config.schema_registry;
        let source = match sr.ids.get(topic) {
            _ if sr.has_registry() => WriterSchemas::Registry(
                Registry::new(sr)
                    .map_err(|e| ConfigError::invalid("schema_registry", e.to_string()))?,
            ),
            Some(id) => WriterSchemas::Fixed(*id),
            None => {
                return Err(ConfigError::invalid(
                    &format!("schema_registry.ids.{topic}"),
                    format!("the ingest topic `{topic}` is Avro: give its schema id here, or set schema_registry.url"),
                ))
            }
        };
        let decoder = RawDecoder::new(source).map_err(|e| ConfigError::invalid("formats", e))?;
        Ok(Validator::Avro(Arc::new(Mutex::new(decoder))))
    }

    /// Judges every record, in order.
    pub async fn check(&self, records: Vec<Bytes>) -> Vec<Checked> {
        let size: usize = records.iter().map(Bytes::len).sum();
        if matches!(self, Validator::Json) && size <= INLINE_BYTES {
            return self.check_now(records);
        }
        let this = self.clone();
        let count = records.len();
        tokio::task::spawn_blocking(move || this.check_now(records))
            .await
            .unwrap_or_else(|e| {
                let why = format!("validation did not finish: {e}");
                (0..count)
                    .map(|_| Checked::Unavailable(why.clone()))
                    .collect()
            })
    }

    fn check_now(&self, records: Vec<Bytes>) -> Vec<Checked> {
        match self {
            Validator::Json => records.into_iter().map(check_json).collect(),
            Validator::Avro(decoder) => {
                // A panic while decoding would already have failed that request.
                let mut decoder = decoder.lock().unwrap_or_else(|p| p.into_inner());
                records
                    .into_iter()
                    .map(|value| {
                        let key = decoder.decode(&value, |e| key_of(e.segment_id));
                        checked(key, value)
                    })
                    .collect()
            }
        }
    }
}

fn key_of(segment_id: &str) -> Box<[u8]> {
    segment_id.as_bytes().into()
}

fn check_json(value: Bytes) -> Checked {
    let key = with_raw_event(&value, |e| key_of(e.segment_id)).map_err(DecodeError::Invalid);
    checked(key, value)
}

fn checked(key: Result<Box<[u8]>, DecodeError>, value: Bytes) -> Checked {
    match key {
        Ok(key) => Checked::Valid { key, value },
        Err(DecodeError::Invalid(e)) => Checked::Rejected(e),
        Err(DecodeError::Unavailable(why)) => Checked::Unavailable(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::InvalidKind;

    fn check(json: &str) -> Checked {
        check_json(Bytes::copy_from_slice(json.as_bytes()))
    }

    #[test]
    fn json_records_are_judged_by_the_worker_rules() {
        match check(r#"{"type":"probe","segment_id":"A1-\u004e","ts":1,"speed_kph":50}"#) {
            Checked::Valid { key, value } => {
                assert_eq!(&*key, b"A1-N");
                assert!(value.starts_with(b"{\"type\""), "written unchanged");
            }
            other => panic!("{other:?}"),
        }
        let kind = |json: &str| match check(json) {
            Checked::Rejected(e) => e.kind,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            kind(r#"{"type":"probe","segment_id":"s","speed_kph":1}"#),
            InvalidKind::MissingField
        );
        assert_eq!(
            kind(r#"{"type":"probe","segment_id":"s","ts":1,"speed_kph":900}"#),
            InvalidKind::InvalidValue
        );
        assert_eq!(kind("{\"type\":"), InvalidKind::Malformed);
    }

    #[test]
    fn avro_topic_needs_a_schema_id() {
        let sets = [
            "formats.input=\"avro\"",
            "schema_registry.ids.traffic.raw=7",
        ];
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let config = Config::load(None, vec![], &sets).unwrap();
        assert!(matches!(
            Validator::for_topic(&config, "traffic.raw"),
            Ok(Validator::Avro(_))
        ));
        let e = Validator::for_topic(&config, "other.topic").err().unwrap();
        assert!(
            e.to_string().contains("schema_registry.ids.other.topic"),
            "{e}"
        );
    }
}
