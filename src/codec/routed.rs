//! The records of the detection repartition topic (internal: only roadpulse writes and reads
//! them). Binary, little endian, versioned by the first byte:
//!
//! - a **batch** — `[2][1] start:i64 end:i64 n:u32 (len:u16 id facts)×n m:u32 (len:u32
//!   json(report))×m`: final windows of one window start for the keys of one partition, and
//!   the reports made in that window;
//! - a **mark** — `[2][2] topic:u32 partition:i32 closed_through:i64 idle:u8`: an input
//!   partition's watermark (`i64::MIN`: no record yet).
//!
//! Version 2 added the facts' `empty` flag (a station reading an empty road). A version 1
//! record, written by an older worker during a rolling upgrade, still decodes: its facts
//! have no such byte and read as not empty. Marks are the same in both versions.
//!
//! A record that does not decode is a bug or a foreign writer; the reader counts and skips it.

use crate::domain::incident::facts::Facts;
use crate::domain::incident::task::Batch;
use crate::domain::incident::watermark::{Input, Mark};
use crate::domain::incident::Report;

const VERSION: u8 = 2;
const BATCH: u8 = 1;
const MARK: u8 = 2;
const NONE: i64 = i64::MIN;

#[derive(Debug, Clone, PartialEq)]
pub enum Routed {
    Batch(Batch),
    Mark(Input, Mark),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a detection repartition record: {0}")]
pub struct RoutedError(&'static str);

/// Appends a batch record holding `windows` (a slice of one window's facts) and `reports`.
pub fn encode_batch(
    start: i64,
    end: i64,
    windows: &[(String, Facts)],
    reports: &[Report],
    buf: &mut Vec<u8>,
) {
    buf.clear();
    buf.extend_from_slice(&[VERSION, BATCH]);
    buf.extend_from_slice(&start.to_le_bytes());
    buf.extend_from_slice(&end.to_le_bytes());
    buf.extend_from_slice(&(windows.len() as u32).to_le_bytes());
    for (id, facts) in windows {
        let id = &id.as_bytes()[..id.len().min(u16::MAX as usize)];
        buf.extend_from_slice(&(id.len() as u16).to_le_bytes());
        buf.extend_from_slice(id);
        facts.encode(buf);
    }
    buf.extend_from_slice(&(reports.len() as u32).to_le_bytes());
    for r in reports {
        let json = serde_json::to_vec(r).unwrap_or_default();
        buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
        buf.extend_from_slice(&json);
    }
}

pub fn encode_mark(input: Input, mark: Mark, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(&[VERSION, MARK]);
    buf.extend_from_slice(&input.0.to_le_bytes());
    buf.extend_from_slice(&input.1.to_le_bytes());
    buf.extend_from_slice(&mark.closed_through.unwrap_or(NONE).to_le_bytes());
    buf.push(u8::from(mark.idle));
}

fn take<const N: usize>(b: &mut &[u8]) -> Result<[u8; N], RoutedError> {
    let (head, rest) = b.split_first_chunk::<N>().ok_or(RoutedError("truncated"))?;
    *b = rest;
    Ok(*head)
}

fn bytes<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], RoutedError> {
    if b.len() < n {
        return Err(RoutedError("truncated"));
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Ok(head)
}

pub fn decode(mut b: &[u8]) -> Result<Routed, RoutedError> {
    let b = &mut b;
    let [version, kind] = take::<2>(b)?;
    if version != VERSION && version != 1 {
        return Err(RoutedError("unknown version"));
    }
    let routed = match kind {
        BATCH => Routed::Batch(decode_batch(b, version)?),
        MARK => {
            let input = (u32::from_le_bytes(take(b)?), i32::from_le_bytes(take(b)?));
            let closed = i64::from_le_bytes(take(b)?);
            let idle = take::<1>(b)?[0] != 0;
            let closed_through = (closed != NONE).then_some(closed);
            Routed::Mark(
                input,
                Mark {
                    closed_through,
                    idle,
                },
            )
        }
        _ => return Err(RoutedError("unknown kind")),
    };
    if !b.is_empty() {
        return Err(RoutedError("trailing bytes"));
    }
    Ok(routed)
}

fn decode_batch(b: &mut &[u8], version: u8) -> Result<Batch, RoutedError> {
    let window_start = i64::from_le_bytes(take(b)?);
    let window_end = i64::from_le_bytes(take(b)?);
    let n = u32::from_le_bytes(take(b)?) as usize;
    // Every window takes more than 64 bytes: a count beyond that is not a batch.
    if n > b.len() / 64 {
        return Err(RoutedError("window count beyond the record"));
    }
    let mut windows = Vec::with_capacity(n);
    for _ in 0..n {
        let len = u16::from_le_bytes(take(b)?) as usize;
        let id = std::str::from_utf8(bytes(b, len)?).map_err(|_| RoutedError("segment id"))?;
        let facts = Facts::decode_with(b, version >= 2).ok_or(RoutedError("window facts"))?;
        windows.push((id.to_string(), facts));
    }
    let m = u32::from_le_bytes(take(b)?) as usize;
    if m > b.len() / 4 {
        return Err(RoutedError("report count beyond the record"));
    }
    let mut reports = Vec::with_capacity(m);
    for _ in 0..m {
        let len = u32::from_le_bytes(take(b)?) as usize;
        let r: Report =
            serde_json::from_slice(bytes(b, len)?).map_err(|_| RoutedError("report"))?;
        reports.push(r);
    }
    Ok(Batch {
        window_start,
        window_end,
        windows,
        reports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::baseline::Usual;

    #[test]
    fn batches_and_marks_round_trip_and_garbage_is_refused() {
        let facts = Facts {
            window_start: 60_000,
            window_end: 120_000,
            samples: 3,
            free_flow: 100.0,
            speed: Some(42.5),
            judged: Some(42.5),
            baseline: None,
            seen: Some(42.5),
            station: None,
            empty: false,
            usual: Usual::default(),
        };
        let windows = vec![("A1-N-012".to_string(), facts), ("b".to_string(), facts)];
        let reports = vec![Report {
            segment_id: "b".into(),
            ts: 61_000,
            report_id: Some("r1".into()),
            category: "accident".into(),
        }];
        let mut buf = Vec::new();
        encode_batch(60_000, 120_000, &windows, &reports, &mut buf);
        let want = Batch {
            window_start: 60_000,
            window_end: 120_000,
            windows,
            reports,
        };
        assert_eq!(decode(&buf), Ok(Routed::Batch(want)));
        for cut in [0, 1, 5, buf.len() - 1] {
            assert!(decode(&buf[..cut]).is_err(), "cut at {cut}");
        }
        let mark = Mark {
            closed_through: Some(7),
            idle: false,
        };
        encode_mark((2, 11), mark, &mut buf);
        assert_eq!(decode(&buf), Ok(Routed::Mark((2, 11), mark)));
        // A version 1 record: its facts end before the `empty` byte, here the last byte
        // before the report count (4 bytes) of a batch with one window and no reports.
        let one = vec![("a".to_string(), facts)];
        let mut v1 = Vec::new();
        encode_batch(60_000, 120_000, &one, &[], &mut v1);
        v1[0] = 1;
        v1.remove(v1.len() - 5);
        let want_v1 = Batch {
            window_start: 60_000,
            window_end: 120_000,
            windows: one,
            reports: Vec::new(),
        };
        assert_eq!(
            decode(&v1),
            Ok(Routed::Batch(want_v1)),
            "version 1 still reads"
        );
        assert!(decode(b"{\"window\":1}").is_err());
        assert!(decode(&[
            1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255
        ])
        .is_err());
    }
}
