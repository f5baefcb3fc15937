//! The value of a segment-state changelog record (see `kafka::changelog`), keyed by segment id:
//! a segment's long-lived [`SegmentState`] as JSON and, with incident detection on, its
//! detection [`History`] in binary. The JSON's serde form is a contract between worker
//! versions (fields are added with defaults, never renamed), and the bytes come back from a
//! topic anyone with access can write to, so decoding checks what it reads (the speed sketch
//! refuses unsorted or empty buckets, the history its own lengths).
//!
//! A record with history starts with [`WITH_HISTORY`], then the length of the JSON (u32,
//! little endian), the JSON, and the history. A record without history is the JSON alone (it
//! starts with `{`), as written before detection kept history.

use crate::domain::congestion::SegmentState;
use crate::domain::incident::history::History;

/// First byte of a record that also holds the segment's detection history.
const WITH_HISTORY: u8 = 2;

/// Writes `state` (and `history`, when given) into `buf` (cleared first).
pub fn encode(state: &SegmentState, history: Option<&History>, buf: &mut Vec<u8>) {
    buf.clear();
    let Some(history) = history else {
        // Serializing plain data to a Vec cannot fail.
        let _ = serde_json::to_writer(buf, state);
        return;
    };
    buf.push(WITH_HISTORY);
    buf.extend_from_slice(&[0; 4]);
    let _ = serde_json::to_writer(&mut *buf, state);
    let len = (buf.len() - 5) as u32;
    buf[1..5].copy_from_slice(&len.to_le_bytes());
    history.encode(buf);
}

/// Why a changelog record was not read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("segment state: {0}")]
    Json(#[from] serde_json::Error),
    #[error("segment state record is truncated or its detection history does not decode")]
    History,
}

pub fn decode(bytes: &[u8]) -> Result<(SegmentState, Option<History>), StateError> {
    let Some((&WITH_HISTORY, rest)) = bytes.split_first() else {
        return Ok((serde_json::from_slice(bytes)?, None));
    };
    let (len, rest) = rest.split_first_chunk::<4>().ok_or(StateError::History)?;
    let len = u32::from_le_bytes(*len) as usize;
    let json = rest.get(..len).ok_or(StateError::History)?;
    let mut tail = &rest[len..];
    let history = History::decode(&mut tail).ok_or(StateError::History)?;
    if !tail.is_empty() {
        return Err(StateError::History);
    }
    Ok((serde_json::from_slice(json)?, Some(history)))
}
