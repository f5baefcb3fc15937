//! The value of a segment-state changelog record (see `kafka::changelog`): a segment's
//! long-lived [`SegmentState`] as JSON, keyed by segment id. Its serde form is a contract
//! between worker versions (fields are added with defaults, never renamed), and the bytes come
//! back from a topic anyone with access can write to, so decoding checks what it reads
//! (the speed sketch refuses unsorted or empty buckets).

use crate::domain::congestion::SegmentState;

/// Writes `state` into `buf` (cleared first).
pub fn encode(state: &SegmentState, buf: &mut Vec<u8>) {
    buf.clear();
    // Serializing plain data to a Vec cannot fail.
    let _ = serde_json::to_writer(buf, state);
}

pub fn decode(bytes: &[u8]) -> Result<SegmentState, serde_json::Error> {
    serde_json::from_slice(bytes)
}
