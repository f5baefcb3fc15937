//! Skipping writer fields roadpulse does not read (any Avro type, nested), compiled once per
//! writer schema like the rest of the plan. Never reads past the buffer and never loops on a
//! count alone: every repeated item consumes bytes, or is not repeated at all.

use apache_avro::schema::{InnerDecimalSchema, Schema, UuidSchema};

use super::binary::{BinaryError, Cursor};
use super::plan::{deref, incompatible, NamesRef, MAX_DEPTH};

/// Skipping one writer value nobody reads.
#[derive(Debug)]
pub(super) enum Skip {
    Nothing,
    Varint,
    Fixed(usize),
    /// Length-prefixed: bytes, string.
    Bytes,
    Array(Box<Skip>),
    Map(Box<Skip>),
    Union(Vec<Skip>),
    Record(Vec<Skip>),
}

pub(super) fn skip_plan(
    schema: &Schema,
    names: &NamesRef<'_>,
    depth: usize,
) -> Result<Skip, String> {
    if depth > MAX_DEPTH {
        return Err(incompatible("types nest too deeply (or recursively)"));
    }
    let next = |s: &Schema| skip_plan(s, names, depth + 1);
    Ok(match deref(schema, names)? {
        Schema::Null => Skip::Nothing,
        Schema::Boolean => Skip::Fixed(1),
        Schema::Float => Skip::Fixed(4),
        Schema::Double => Skip::Fixed(8),
        Schema::Int
        | Schema::Long
        | Schema::Enum(_)
        | Schema::Date
        | Schema::TimeMillis
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => Skip::Varint,
        Schema::Bytes | Schema::String | Schema::BigDecimal => Skip::Bytes,
        Schema::Uuid(UuidSchema::Fixed(f)) => Skip::Fixed(f.size),
        Schema::Uuid(_) => Skip::Bytes,
        Schema::Fixed(f) => Skip::Fixed(f.size),
        Schema::Duration(_) => Skip::Fixed(12),
        Schema::Decimal(d) => match &d.inner {
            InnerDecimalSchema::Bytes => Skip::Bytes,
            InnerDecimalSchema::Fixed(f) => Skip::Fixed(f.size),
        },
        Schema::Array(a) => Skip::Array(Box::new(next(&a.items)?)),
        Schema::Map(m) => Skip::Map(Box::new(next(&m.types)?)),
        Schema::Union(u) => Skip::Union(u.variants().iter().map(next).collect::<Result<_, _>>()?),
        Schema::Record(r) => Skip::Record(
            r.fields
                .iter()
                .map(|f| next(&f.schema))
                .collect::<Result<_, _>>()?,
        ),
        Schema::Ref { name } => return Err(incompatible(format!("unresolved {name:?}"))),
    })
}

impl Skip {
    /// True when a value of this type takes no bytes (so a count of them needs no loop).
    fn is_empty(&self) -> bool {
        match self {
            Skip::Nothing => true,
            Skip::Fixed(n) => *n == 0,
            Skip::Record(fields) => fields.iter().all(Skip::is_empty),
            _ => false,
        }
    }

    pub(super) fn skip(&self, c: &mut Cursor<'_>) -> Result<(), BinaryError> {
        match self {
            Skip::Nothing => {}
            Skip::Varint => {
                c.long()?;
            }
            Skip::Fixed(n) => {
                c.fixed(*n)?;
            }
            Skip::Bytes => {
                c.bytes()?;
            }
            Skip::Array(item) => skip_blocks(c, &[item])?,
            Skip::Map(value) => skip_blocks(c, &[&Skip::Bytes, value])?,
            Skip::Union(branches) => {
                let i = c.length()?;
                branches
                    .get(i)
                    .ok_or(BinaryError::Invalid("union branch out of range"))?
                    .skip(c)?;
            }
            Skip::Record(fields) => {
                for f in fields {
                    f.skip(c)?;
                }
            }
        }
        Ok(())
    }
}

/// Array and map blocks: a count (negative: followed by the block's size in bytes), items,
/// until a zero count. Every non-empty item consumes bytes, so the loop ends with the buffer.
fn skip_blocks(c: &mut Cursor<'_>, item: &[&Skip]) -> Result<(), BinaryError> {
    let empty = item.iter().all(|s| s.is_empty());
    loop {
        let count = c.long()?;
        if count == 0 {
            return Ok(());
        }
        if count < 0 {
            let size = c.length()?;
            c.fixed(size)?;
            continue;
        }
        if empty {
            continue;
        }
        for _ in 0..count {
            for s in item {
                s.skip(c)?;
            }
        }
    }
}
