//! Bytes ⇄ domain values, per topic in the topic's format (JSON or Avro in the Confluent wire
//! format). Each format decodes into the domain's borrowed event fields and leaves validation
//! to the domain; errors carry a kind from a small fixed set. [`Codecs::start`] builds every
//! topic's codec from the config, registering our output schemas when a registry is set.

pub mod avro;
pub mod json;
pub mod registry;
pub mod routed;
pub mod state;

use crate::config::{Config, Format};
use crate::domain::event::{InvalidEvent, RawEvent};
use crate::domain::output::CongestionEvent;
use avro::{RawDecoder, WriterSchemas};
use registry::Registry;

/// Why a record was not decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The record is bad: it goes to the dead-letter topic.
    #[error(transparent)]
    Invalid(#[from] InvalidEvent),
    /// The record cannot be judged now (the schema registry does not answer): stop without
    /// committing it, so it is read again after a restart.
    #[error("{0}")]
    Unavailable(String),
}

pub use json::with_raw_event;

/// How one input topic's records are decoded.
pub enum InputCodec {
    Json,
    Avro(Box<RawDecoder>),
}

impl InputCodec {
    pub fn decode<R>(
        &mut self,
        bytes: &[u8],
        f: impl FnOnce(&RawEvent<'_>) -> R,
    ) -> Result<R, DecodeError> {
        match self {
            InputCodec::Json => Ok(with_raw_event(bytes, f)?),
            InputCodec::Avro(d) => d.decode(bytes, f),
        }
    }
}

/// How one output topic's records are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputCodec {
    Json,
    /// Confluent wire format with this schema id.
    Avro {
        schema_id: u32,
    },
}

impl OutputCodec {
    /// Appends the encoded congestion event to `buf` (which the caller clears and reuses).
    pub fn encode_congestion(&self, event: &CongestionEvent, buf: &mut Vec<u8>) {
        match self {
            OutputCodec::Json => json::encode_congestion(event, buf),
            OutputCodec::Avro { schema_id } => avro::encode_congestion(*schema_id, event, buf),
        }
    }
}

/// Every topic's codec.
pub struct Codecs {
    /// Input topic name → its decoder, in `kafka.input_topics` order.
    pub inputs: Vec<(String, InputCodec)>,
    pub congestion: OutputCodec,
    /// The incidents topic's codec, for its producer (the schema is registered already).
    pub incidents: OutputCodec,
}

/// Why the codecs could not be set up (the worker does not start).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CodecSetupError(String);

impl Codecs {
    /// Builds the codecs; with a registry, registers the Avro output schemas under
    /// `<topic>-value` first (the registry's compatibility rules apply there).
    pub fn start(config: &Config) -> Result<Codecs, CodecSetupError> {
        let f = &config.formats;
        let sr = &config.schema_registry;
        let registry = match sr.has_registry() {
            true => Some(Registry::new(sr).map_err(|e| CodecSetupError(e.to_string()))?),
            false => None,
        };
        let fixed = |topic: &str| sr.ids.get(topic).copied();
        let output = |topic: &str, schema: &str| -> Result<OutputCodec, CodecSetupError> {
            if f.output_format(topic) == Format::Json {
                return Ok(OutputCodec::Json);
            }
            avro::parse(schema).map_err(CodecSetupError)?;
            let schema_id = match (&registry, fixed(topic)) {
                (Some(r), _) => r.register(&format!("{topic}-value"), schema).map_err(|e| {
                    CodecSetupError(format!("cannot register the schema of {topic}: {e}"))
                })?,
                (None, Some(id)) => id,
                (None, None) => {
                    return Err(CodecSetupError(format!(
                        "no schema id for Avro topic {topic}"
                    )))
                }
            };
            tracing::info!(topic, schema_id, "writing Avro");
            Ok(OutputCodec::Avro { schema_id })
        };
        let k = &config.kafka;
        let mut inputs = Vec::with_capacity(k.input_topics.len());
        for topic in &k.input_topics {
            let codec = match (f.input_format(topic), &registry, fixed(topic)) {
                (Format::Json, _, _) => InputCodec::Json,
                (Format::Avro, Some(r), _) => avro_input(WriterSchemas::Registry(r.clone()))?,
                (Format::Avro, None, Some(id)) => avro_input(WriterSchemas::Fixed(id))?,
                (Format::Avro, None, None) => {
                    return Err(CodecSetupError(format!(
                        "no schema id for Avro topic {topic}"
                    )))
                }
            };
            inputs.push((topic.clone(), codec));
        }
        Ok(Codecs {
            inputs,
            congestion: output(&k.congestion_topic, avro::CONGESTION_EVENT_SCHEMA)?,
            incidents: output(&k.incidents_topic, avro::INCIDENT_EVENT_SCHEMA)?,
        })
    }
}

fn avro_input(source: WriterSchemas) -> Result<InputCodec, CodecSetupError> {
    Ok(InputCodec::Avro(Box::new(
        RawDecoder::new(source).map_err(CodecSetupError)?,
    )))
}
