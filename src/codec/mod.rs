//! Bytes ⇄ domain values. Each format decodes into the domain's borrowed event fields and
//! leaves validation to the domain; errors carry a kind from a small fixed set.

pub mod json;

use crate::domain::event::{InvalidEvent, RawEvent};

/// Decodes and validates one raw event, handing it to `f` while the input is borrowed.
pub fn with_raw_event<R>(
    bytes: &[u8],
    f: impl FnOnce(&RawEvent<'_>) -> R,
) -> Result<R, InvalidEvent> {
    let parsed = json::JsonEvent::parse(bytes)?;
    let fields = parsed.fields()?;
    let event = fields.validate()?;
    Ok(f(&event))
}
