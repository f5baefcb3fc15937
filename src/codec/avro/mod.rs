//! Avro in the Confluent wire format: one magic byte 0, the writer schema's registry id as a
//! 4-byte big-endian integer, then the Avro binary datum.
//!
//! Output: congestion events are written with schemas/congestion_event.avsc under the id the
//! registry gave it (or the id fixed in config). Input: each record is read with the schema its
//! producer wrote it with, found by id, resolved against schemas/raw_event.avsc once per id
//! ([`plan::RawPlan`]) and cached; unknown or unreadable ids go to the DLQ, never a panic.

mod binary;
mod compat;
pub mod encode;
mod plan;
mod skip;

use apache_avro::Schema;

pub use binary::BinaryError;
pub use compat::can_read;
pub use plan::RawPlan;

use super::registry::{Registry, RegistryError};
use super::DecodeError;
use crate::domain::event::{InvalidEvent, InvalidKind, RawEvent};
use crate::domain::output::CongestionEvent;

/// The first byte of every Confluent-framed record.
pub const MAGIC: u8 = 0;
/// Magic byte and schema id.
pub const HEADER_LEN: usize = 5;

pub const RAW_EVENT_SCHEMA: &str = include_str!("../../../schemas/raw_event.avsc");
pub const CONGESTION_EVENT_SCHEMA: &str = include_str!("../../../schemas/congestion_event.avsc");
pub const INCIDENT_EVENT_SCHEMA: &str = include_str!("../../../schemas/incident_event.avsc");

/// Negative answers (unknown or unreadable ids) kept at most, so random ids cannot grow the
/// cache without bound.
const MAX_CACHED_FAILURES: usize = 1024;

/// Splits a framed record into its schema id and datum.
pub fn split_header(bytes: &[u8]) -> Result<(u32, &[u8]), InvalidEvent> {
    match bytes {
        [MAGIC, a, b, c, d, datum @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), datum)),
        [MAGIC, ..] => Err(InvalidEvent::new(
            InvalidKind::Malformed,
            format!("{} bytes: too short for the Avro wire format", bytes.len()),
        )),
        [other, ..] => Err(InvalidEvent::new(
            InvalidKind::Malformed,
            format!("first byte {other} is not the Avro wire format's magic byte 0"),
        )),
        [] => Err(InvalidEvent::new(InvalidKind::Malformed, "empty record")),
    }
}

/// Appends the header for `schema_id`.
pub fn put_header(buf: &mut Vec<u8>, schema_id: u32) {
    buf.push(MAGIC);
    buf.extend_from_slice(&schema_id.to_be_bytes());
}

/// Appends a framed congestion event (header and datum).
pub fn encode_congestion(schema_id: u32, event: &CongestionEvent, buf: &mut Vec<u8>) {
    put_header(buf, schema_id);
    encode::congestion(event, buf);
}

/// Our schema of a topic's records, parsed. Only fails if schemas/ is broken.
pub fn parse(schema: &str) -> Result<Schema, String> {
    Schema::parse_str(schema).map_err(|e| format!("bundled Avro schema does not parse: {e}"))
}

/// Where writer schemas come from.
pub enum WriterSchemas {
    Registry(Registry),
    /// No registry: the one id this topic's producers use, written with our own schema.
    Fixed(u32),
}

/// Decodes raw events of one input topic.
pub struct RawDecoder {
    reader: Schema,
    source: WriterSchemas,
    plans: foldhash::HashMap<u32, Result<RawPlan, String>>,
    failures: usize,
}

impl RawDecoder {
    pub fn new(source: WriterSchemas) -> Result<RawDecoder, String> {
        Ok(RawDecoder {
            reader: parse(RAW_EVENT_SCHEMA)?,
            source,
            plans: Default::default(),
            failures: 0,
        })
    }

    /// Decodes and validates one framed record, handing the event to `f` while it is borrowed.
    pub fn decode<R>(
        &mut self,
        bytes: &[u8],
        f: impl FnOnce(&RawEvent<'_>) -> R,
    ) -> Result<R, DecodeError> {
        let (id, datum) = split_header(bytes)?;
        let plan = self.plan(id)?;
        let fields = plan.decode(datum)?;
        let event = fields.validate()?;
        Ok(f(&event))
    }

    fn plan(&mut self, id: u32) -> Result<&RawPlan, DecodeError> {
        if !self.plans.contains_key(&id) {
            let built = self.build(id)?;
            match &built {
                Ok(_) => tracing::info!(schema_id = id, "reading a new Avro writer schema"),
                Err(why) => tracing::warn!(schema_id = id, "Avro writer schema unusable: {why}"),
            }
            if built.is_err() {
                if self.failures >= MAX_CACHED_FAILURES {
                    return Err(schema_error(id, built.err().unwrap_or_default()));
                }
                self.failures += 1;
            }
            self.plans.insert(id, built);
        }
        match self.plans.get(&id) {
            Some(Ok(plan)) => Ok(plan),
            Some(Err(why)) => Err(schema_error(id, why.clone())),
            None => Err(schema_error(id, "not cached".into())),
        }
    }

    /// The plan for `id`, or why records with it cannot be read. A registry that does not
    /// answer is not the record's fault: that error is returned, not cached.
    fn build(&self, id: u32) -> Result<Result<RawPlan, String>, DecodeError> {
        match &self.source {
            WriterSchemas::Fixed(fixed) if *fixed == id => {
                Ok(RawPlan::compile(&self.reader, &self.reader))
            }
            WriterSchemas::Fixed(fixed) => Ok(Err(format!(
                "this topic's configured schema id is {fixed} (no registry)"
            ))),
            WriterSchemas::Registry(registry) => match fetch_with_retries(registry, id) {
                Ok(text) => Ok(Schema::parse_str(&text)
                    .map_err(|e| format!("the registry's schema does not parse: {e}"))
                    .and_then(|writer| RawPlan::compile(&writer, &self.reader))),
                Err(e) if e.is_not_the_records_fault() => {
                    Err(DecodeError::Unavailable(e.to_string()))
                }
                Err(other) => Ok(Err(other.to_string())),
            },
        }
    }
}

/// A registry lookup retried on a short blip (at most ~1.5 s: the consumer loop waits).
fn fetch_with_retries(registry: &Registry, id: u32) -> Result<std::sync::Arc<str>, RegistryError> {
    let mut result = registry.schema(id);
    for pause_ms in [250, 1_000] {
        if !matches!(result, Err(RegistryError::Unavailable(_))) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(pause_ms));
        result = registry.schema(id);
    }
    result
}

fn schema_error(id: u32, why: String) -> DecodeError {
    DecodeError::Invalid(InvalidEvent::new(
        InvalidKind::Schema,
        format!("writer schema id {id}: {why}"),
    ))
}

#[cfg(test)]
mod tests;
