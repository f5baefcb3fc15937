//! What a request body holds: the media types `POST /v1/events` takes, and how a body splits
//! into records (shared slices of the body, never copies) before any record is validated.
//!
//! - `application/json`: one raw event (an object), or a JSON array of them;
//! - `application/x-ndjson` (also `application/ndjson`, `application/jsonl`): one event a line,
//!   blank lines skipped;
//! - `application/vnd.confluent.avro`: one record in the Confluent wire format (magic byte 0,
//!   4-byte schema id, Avro binary datum), as a Confluent serializer writes it.
//!
//! A record's index is its position among the body's records (for NDJSON: among its non-blank
//! lines), counted from 0.

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::config::Format;

/// The media type of one Confluent-framed Avro record.
pub const AVRO_MEDIA_TYPE: &str = "application/vnd.confluent.avro";

/// How the body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Ndjson,
    Avro,
}

impl BodyFormat {
    /// From the `Content-Type` header value, or why it is not one we take (415).
    pub fn from_content_type(value: Option<&str>) -> Result<BodyFormat, String> {
        let value = value.ok_or("no Content-Type: send application/json, application/x-ndjson or application/vnd.confluent.avro")?;
        let mut parts = value.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let format = match essence.as_str() {
            "application/json" => BodyFormat::Json,
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
                BodyFormat::Ndjson
            }
            AVRO_MEDIA_TYPE => BodyFormat::Avro,
            _ => return Err(format!("Content-Type {essence:?} is not taken: send application/json, application/x-ndjson or {AVRO_MEDIA_TYPE}")),
        };
        for param in parts {
            let (name, v) = param.split_once('=').unwrap_or((param, ""));
            let v = v.trim().trim_matches('"');
            if name.trim().eq_ignore_ascii_case("charset") && !v.eq_ignore_ascii_case("utf-8") {
                return Err(format!("charset {v:?} is not taken: JSON must be UTF-8"));
            }
        }
        Ok(format)
    }

    /// The topic format records of this body can be written to unchanged.
    pub fn topic_format(self) -> Format {
        match self {
            BodyFormat::Json | BodyFormat::Ndjson => Format::Json,
            BodyFormat::Avro => Format::Avro,
        }
    }

    /// Splits `body` into its records, or says why the body as a whole cannot be read (400).
    pub fn split(self, body: &Bytes) -> Result<Vec<Bytes>, String> {
        let records = match self {
            BodyFormat::Json => json_records(body)?,
            BodyFormat::Ndjson => body
                .split(|b| *b == b'\n')
                .map(|line| line.trim_ascii())
                .filter(|line| !line.is_empty())
                .map(|line| body.slice_ref(line))
                .collect(),
            BodyFormat::Avro if body.is_empty() => Vec::new(),
            BodyFormat::Avro => vec![body.clone()],
        };
        if records.is_empty() {
            return Err("the body holds no records".into());
        }
        Ok(records)
    }
}

/// An array's elements, or the whole body as one record (judged by the record validation, so
/// a broken object is a rejected record, not a broken body).
fn json_records(body: &Bytes) -> Result<Vec<Bytes>, String> {
    let trimmed = body.trim_ascii();
    if !trimmed.starts_with(b"[") {
        return Ok(if trimmed.is_empty() {
            Vec::new()
        } else {
            vec![body.slice_ref(trimmed)]
        });
    }
    let elements: Vec<&RawValue> = serde_json::from_slice(trimmed)
        .map_err(|e| format!("the body is not a valid JSON array of records: {e}"))?;
    Ok(elements
        .iter()
        .map(|e| body.slice_ref(e.get().as_bytes()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(format: BodyFormat, body: &str) -> Result<Vec<String>, String> {
        let body = Bytes::copy_from_slice(body.as_bytes());
        let records = format.split(&body)?;
        Ok(records
            .iter()
            .map(|r| String::from_utf8(r.to_vec()).unwrap())
            .collect())
    }

    #[test]
    fn content_types() {
        let f = |v: &str| BodyFormat::from_content_type(Some(v));
        assert_eq!(f("application/json").unwrap(), BodyFormat::Json);
        assert_eq!(
            f("Application/JSON; charset=UTF-8").unwrap(),
            BodyFormat::Json
        );
        assert_eq!(f("application/x-ndjson").unwrap(), BodyFormat::Ndjson);
        assert_eq!(f("application/jsonl").unwrap(), BodyFormat::Ndjson);
        assert_eq!(f(AVRO_MEDIA_TYPE).unwrap(), BodyFormat::Avro);
        assert!(f("text/plain").unwrap_err().contains("text/plain"));
        assert!(f("application/json; charset=latin1")
            .unwrap_err()
            .contains("latin1"));
        assert!(BodyFormat::from_content_type(None).is_err());
    }

    #[test]
    fn json_object_array_and_ndjson() {
        assert_eq!(
            split(BodyFormat::Json, " {\"a\":1} \n").unwrap(),
            ["{\"a\":1}"]
        );
        assert_eq!(
            split(BodyFormat::Json, "[{\"a\":1}, {\"b\":\"]\"} ,3]").unwrap(),
            ["{\"a\":1}", "{\"b\":\"]\"}", "3"]
        );
        // A broken object is one record (rejected later); a broken array is a broken body.
        assert_eq!(split(BodyFormat::Json, "{\"a\":").unwrap(), ["{\"a\":"]);
        assert!(split(BodyFormat::Json, "[{\"a\":1},").is_err());
        assert!(split(BodyFormat::Json, "[]").is_err());
        assert!(split(BodyFormat::Json, "  ").is_err());
        assert_eq!(
            split(BodyFormat::Ndjson, "{\"a\":1}\r\n\n  \n{broken\n{\"c\":3}").unwrap(),
            ["{\"a\":1}", "{broken", "{\"c\":3}"]
        );
        assert!(split(BodyFormat::Ndjson, "\n\n").is_err());
        assert!(split(BodyFormat::Avro, "").is_err());
    }
}
