//! A writer's raw-event schema resolved against ours (the specification's "Schema
//! Resolution"), compiled once per writer schema into a flat list of steps: read this writer
//! field into that event field (with promotion), or skip it. Decoding a record then walks the
//! steps over the bytes, borrowing strings from them; no `Value` tree, no per-record lookup.
//!
//! Whether the writer's schema may be read with ours at all is apache-avro's
//! `SchemaCompatibility::can_read` (a partly compatible writer is taken: a datum that does not
//! resolve fails alone); this module turns a compatible pair into steps.

use apache_avro::schema::{Name, ResolvedSchema, Schema, UuidSchema};
use apache_avro::schema_compatibility::SchemaCompatibility;

use super::binary::{BinaryError, Cursor};
use super::skip::{skip_plan, Skip};
use crate::domain::event::{InvalidEvent, InvalidKind, RawEventFields};

/// Deepest nesting of writer types we compile (records in arrays in records…); deeper or
/// recursive writer schemas are refused when the plan is built, never while decoding.
pub(super) const MAX_DEPTH: usize = 32;

/// How one writer schema is read as our raw event.
#[derive(Debug)]
pub struct RawPlan {
    steps: Vec<Step>,
}

#[derive(Debug)]
enum Step {
    Skip(Skip),
    Read(Slot, Read),
}

/// The raw-event fields the domain uses (the others in raw_event.avsc are carried, not read).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Kind,
    SegmentId,
    Ts,
    SpeedKph,
    VehicleId,
    Source,
    OffsetM,
    DetectorId,
    Lane,
    IntervalS,
    Volume,
    Occupancy,
    ReportId,
    Category,
    Severity,
    EventType,
    FreeFlowKph,
    Confidence,
    Closed,
}

impl Slot {
    fn of(field: &str) -> Option<Slot> {
        Some(match field {
            "type" => Slot::Kind,
            "segment_id" => Slot::SegmentId,
            "ts" => Slot::Ts,
            "speed_kph" => Slot::SpeedKph,
            "vehicle_id" => Slot::VehicleId,
            "source" => Slot::Source,
            "offset_m" => Slot::OffsetM,
            "detector_id" => Slot::DetectorId,
            "lane" => Slot::Lane,
            "interval_s" => Slot::IntervalS,
            "volume" => Slot::Volume,
            "occupancy" => Slot::Occupancy,
            "report_id" => Slot::ReportId,
            "category" => Slot::Category,
            "severity" => Slot::Severity,
            "event_type" => Slot::EventType,
            "free_flow_kph" => Slot::FreeFlowKph,
            "confidence" => Slot::Confidence,
            "closed" => Slot::Closed,
            _ => return None,
        })
    }
}

/// Reading one writer value that lands in a slot.
#[derive(Debug)]
enum Read {
    Null,
    Bool,
    /// int or long (also their millisecond logical types).
    Long,
    Float,
    Double,
    /// string, bytes or uuid, as UTF-8.
    Str,
    /// Writer symbol index → the symbol as our enum reads it.
    Enum(Vec<String>),
    Union(Vec<Read>),
}

/// A decoded writer value before it is put in its slot.
enum Scalar<'a> {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    Str(&'a str),
}

/// Why a writer schema cannot be read as our raw event.
pub fn incompatible(why: impl std::fmt::Display) -> String {
    format!("cannot be read as a roadpulse raw event: {why}")
}

impl RawPlan {
    /// Resolves `writer` against `reader` (our raw_event.avsc).
    pub fn compile(writer: &Schema, reader: &Schema) -> Result<RawPlan, String> {
        SchemaCompatibility::can_read(writer, reader).map_err(incompatible)?;
        let resolved = ResolvedSchema::try_from(writer).map_err(incompatible)?;
        let names = resolved.get_names();
        let Schema::Record(record) = writer else {
            return Err(incompatible("the writer schema is not a record"));
        };
        let reader_enums = enum_readers(reader);
        let mut steps = Vec::with_capacity(record.fields.len());
        for field in &record.fields {
            let step = match Slot::of(&field.name) {
                Some(slot) => {
                    let symbols = reader_enums.iter().find(|(s, _)| *s == slot).map(|e| &e.1);
                    Step::Read(slot, read_plan(&field.schema, names, symbols, 0)?)
                }
                None => Step::Skip(skip_plan(&field.schema, names, 0)?),
            };
            steps.push(step);
        }
        Ok(RawPlan { steps })
    }

    /// Decodes one datum (the bytes after the wire-format header).
    pub fn decode<'a>(&'a self, bytes: &'a [u8]) -> Result<RawEventFields<'a>, InvalidEvent> {
        let mut c = Cursor::new(bytes);
        let mut f = RawEventFields::default();
        for step in &self.steps {
            match step {
                Step::Skip(s) => s.skip(&mut c).map_err(malformed)?,
                Step::Read(slot, r) => put(&mut f, *slot, r.read(&mut c).map_err(malformed)?)?,
            }
        }
        if c.remaining() != 0 {
            return Err(InvalidEvent::new(
                InvalidKind::Malformed,
                format!("{} bytes after the Avro record", c.remaining()),
            ));
        }
        Ok(f)
    }
}

fn malformed(e: BinaryError) -> InvalidEvent {
    InvalidEvent::new(InvalidKind::Malformed, format!("Avro: {e}"))
}

/// Our enum fields: their symbols and default, for mapping writer symbols.
type EnumReader = (Slot, (Vec<String>, Option<String>));

fn enum_readers(reader: &Schema) -> Vec<EnumReader> {
    let Schema::Record(r) = reader else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for field in &r.fields {
        let inner = match &field.schema {
            Schema::Union(u) => u.variants().iter().find(|v| matches!(v, Schema::Enum(_))),
            other => Some(other),
        };
        if let (Some(Schema::Enum(e)), Some(slot)) = (inner, Slot::of(&field.name)) {
            out.push((slot, (e.symbols.clone(), e.default.clone())));
        }
    }
    out
}

pub(super) fn deref<'s>(schema: &'s Schema, names: &'s NamesRef<'s>) -> Result<&'s Schema, String> {
    match schema {
        Schema::Ref { name } => names
            .get(name)
            .copied()
            .ok_or_else(|| incompatible(format!("unknown type {}", name.fullname(None)))),
        other => Ok(other),
    }
}

pub(super) type NamesRef<'s> = std::collections::HashMap<Name, &'s Schema>;

fn read_plan(
    schema: &Schema,
    names: &NamesRef<'_>,
    symbols: Option<&(Vec<String>, Option<String>)>,
    depth: usize,
) -> Result<Read, String> {
    if depth > MAX_DEPTH {
        return Err(incompatible("types nest too deeply"));
    }
    Ok(match deref(schema, names)? {
        Schema::Null => Read::Null,
        Schema::Boolean => Read::Bool,
        Schema::Int
        | Schema::Long
        | Schema::Date
        | Schema::TimeMillis
        | Schema::TimestampMillis
        | Schema::LocalTimestampMillis => Read::Long,
        Schema::Float => Read::Float,
        Schema::Double => Read::Double,
        Schema::String | Schema::Bytes | Schema::Uuid(UuidSchema::String | UuidSchema::Bytes) => {
            Read::Str
        }
        Schema::Enum(e) => Read::Enum(
            e.symbols
                .iter()
                .map(|s| match symbols {
                    Some((ours, default)) if !ours.contains(s) => {
                        default.clone().unwrap_or_else(|| s.clone())
                    }
                    _ => s.clone(),
                })
                .collect(),
        ),
        Schema::Union(u) => Read::Union(
            u.variants()
                .iter()
                .map(|v| read_plan(v, names, symbols, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(incompatible(format!("a field we read is a {other:?}"))),
    })
}

impl Read {
    fn read<'a>(&'a self, c: &mut Cursor<'a>) -> Result<Scalar<'a>, BinaryError> {
        Ok(match self {
            Read::Null => Scalar::Null,
            Read::Bool => Scalar::Bool(c.boolean()?),
            Read::Long => Scalar::Long(c.long()?),
            Read::Float => Scalar::Double(f64::from(c.float()?)),
            Read::Double => Scalar::Double(c.double()?),
            Read::Str => Scalar::Str(c.string()?),
            Read::Enum(symbols) => {
                let i = c.length()?;
                let s = symbols
                    .get(i)
                    .ok_or(BinaryError::Invalid("enum index out of range"))?;
                Scalar::Str(s)
            }
            Read::Union(branches) => {
                let i = c.length()?;
                branches
                    .get(i)
                    .ok_or(BinaryError::Invalid("union branch out of range"))?
                    .read(c)?
            }
        })
    }
}

fn put<'a>(f: &mut RawEventFields<'a>, slot: Slot, v: Scalar<'a>) -> Result<(), InvalidEvent> {
    let wrong = || {
        InvalidEvent::new(
            InvalidKind::InvalidValue,
            format!("Avro field for {slot:?} has a type roadpulse cannot read"),
        )
    };
    let text = |v: Scalar<'a>| match v {
        Scalar::Str(s) => Ok(Some(s)),
        Scalar::Null => Ok(None),
        _ => Err(wrong()),
    };
    let long = |v: Scalar<'a>| match v {
        Scalar::Long(x) => Ok(Some(x)),
        Scalar::Null => Ok(None),
        _ => Err(wrong()),
    };
    let double = |v: Scalar<'a>| match v {
        Scalar::Double(x) => Ok(Some(x)),
        Scalar::Long(x) => Ok(Some(x as f64)),
        Scalar::Null => Ok(None),
        _ => Err(wrong()),
    };
    if let Slot::Closed = slot {
        f.closed = match v {
            Scalar::Bool(b) => Some(b),
            Scalar::Null => None,
            _ => return Err(wrong()),
        };
        return Ok(());
    }
    if matches!(v, Scalar::Bool(_)) {
        return Err(wrong());
    }
    match slot {
        Slot::Kind => f.kind = text(v)?,
        Slot::SegmentId => f.segment_id = text(v)?,
        Slot::Ts => f.ts = long(v)?,
        Slot::SpeedKph => f.speed_kph = double(v)?,
        Slot::VehicleId => f.vehicle_id = text(v)?,
        Slot::Source => f.source = text(v)?,
        Slot::OffsetM => f.offset_m = double(v)?,
        Slot::DetectorId => f.detector_id = text(v)?,
        Slot::Lane => f.lane = long(v)?,
        Slot::IntervalS => f.interval_s = long(v)?,
        Slot::Volume => f.volume = long(v)?,
        Slot::Occupancy => f.occupancy = double(v)?,
        Slot::ReportId => f.report_id = text(v)?,
        Slot::Category => f.category = text(v)?,
        Slot::Severity => f.severity = text(v)?,
        Slot::EventType => f.event_type = text(v)?,
        Slot::FreeFlowKph => f.free_flow_kph = double(v)?,
        Slot::Confidence => f.confidence = double(v)?,
        Slot::Closed => {}
    }
    Ok(())
}
