//! The fast path for raw events: one flat JSON object of strings and numbers, the shape every
//! producer we know of sends. It decodes in one pass straight into the domain's borrowed
//! fields, without copying and without serde's per-field machinery, and it gives up (returns
//! `None`) on anything else: escapes, control characters, nesting, `null` and booleans in
//! known fields (but `closed`, which takes a boolean), a repeated field, numbers that are long
//! or in exponent form, bad UTF-8, trailing bytes. serde_json then decides those inputs, so the two paths cannot disagree on what they
//! both accept; the tests check that on generated and mutated events.

use super::parse_rfc3339;
use crate::domain::event::{EpochMillis, RawEventFields};

/// The event's fields, or `None` when serde_json must decide.
pub(super) fn parse(bytes: &[u8]) -> Option<RawEventFields<'_>> {
    // One UTF-8 check for the whole value; every slice taken below starts and ends at an
    // ASCII delimiter, so it is a valid `str` too.
    let text = std::str::from_utf8(bytes).ok()?;
    let mut c = Cursor {
        text,
        b: bytes,
        i: 0,
    };
    let mut event = RawEventFields::default();
    let mut seen = 0u32;
    c.expect(b'{')?;
    if c.peek()? == b'}' {
        c.i += 1;
    } else {
        loop {
            let key = c.string()?;
            c.expect(b':')?;
            member(&mut c, key, &mut event, &mut seen)?;
            match c.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    c.skip_whitespace();
    (c.i == bytes.len()).then_some(event)
}

/// Reads the value of member `key` into `event`; unknown members are skipped.
fn member<'a>(
    c: &mut Cursor<'a>,
    key: &str,
    event: &mut RawEventFields<'a>,
    seen: &mut u32,
) -> Option<()> {
    let bit = match key {
        "type" => 0,
        "segment_id" => 1,
        "ts" => 2,
        "speed_kph" => 3,
        "vehicle_id" => 4,
        "detector_id" => 5,
        "lane" => 6,
        "interval_s" => 7,
        "volume" => 8,
        "occupancy" => 9,
        "report_id" => 10,
        "category" => 11,
        "severity" => 12,
        "source" => 13,
        "offset_m" => 14,
        "event_type" => 15,
        "free_flow_kph" => 16,
        "confidence" => 17,
        "closed" => 18,
        _ => return c.skip_scalar(),
    };
    if *seen & (1 << bit) != 0 {
        return None;
    }
    *seen |= 1 << bit;
    let text = |c: &mut Cursor<'a>| c.string().map(Some);
    match bit {
        0 => event.kind = text(c)?,
        1 => event.segment_id = text(c)?,
        2 => event.ts = Some(c.timestamp()?),
        3 => event.speed_kph = Some(c.float()?),
        4 => event.vehicle_id = text(c)?,
        5 => event.detector_id = text(c)?,
        6 => event.lane = Some(c.integer()?),
        7 => event.interval_s = Some(c.integer()?),
        8 => event.volume = Some(c.integer()?),
        9 => event.occupancy = Some(c.float()?),
        10 => event.report_id = text(c)?,
        11 => event.category = text(c)?,
        12 => event.severity = text(c)?,
        13 => event.source = text(c)?,
        14 => event.offset_m = Some(c.float()?),
        15 => event.event_type = text(c)?,
        16 => event.free_flow_kph = Some(c.float()?),
        17 => event.confidence = Some(c.float()?),
        _ => event.closed = Some(c.boolean()?),
    }
    Some(())
}

struct Cursor<'a> {
    text: &'a str,
    /// `text` as bytes.
    b: &'a [u8],
    i: usize,
}

/// Longest number text taken here; longer ones (and exponents) are left to serde_json, so
/// that every float both paths read is one they round identically (≤ 15 significant digits).
const MAX_NUMBER_LEN: usize = 16;

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// A string without escapes or control characters, borrowed.
    fn string(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let len = self.b[start..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if self.b[start + len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        self.text.get(start..start + len)
    }

    /// The text of a plain decimal number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, short enough.
    fn number(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let b = self.b;
        let start = self.i;
        let mut i = start + usize::from(b.get(start) == Some(&b'-'));
        let digits = |mut i: usize| {
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
            i
        };
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = digits(i),
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return None;
            }
            i = end;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) || i - start > MAX_NUMBER_LEN {
            return None;
        }
        self.i = i;
        self.text.get(start..i)
    }

    /// An integer; `-0` is left to serde_json, which reads it as a float.
    fn integer(&mut self) -> Option<i64> {
        let text = self.number()?;
        if text.contains('.') || text.starts_with("-0") {
            return None;
        }
        text.parse().ok()
    }

    fn float(&mut self) -> Option<f64> {
        self.number()?.parse().ok()
    }

    /// Epoch milliseconds, or an RFC 3339 string (a bad one is serde_json's to report).
    fn timestamp(&mut self) -> Option<EpochMillis> {
        if self.peek()? == b'"' {
            return parse_rfc3339(self.string()?).ok();
        }
        self.integer()
    }

    /// `true` or `false`.
    fn boolean(&mut self) -> Option<bool> {
        self.skip_whitespace();
        let rest = &self.b[self.i..];
        let (word, value) = [(&b"true"[..], true), (b"false", false)]
            .into_iter()
            .find(|(w, _)| rest.starts_with(w))?;
        self.i += word.len();
        Some(value)
    }

    /// Skips the value of an unknown member: a string, a number, `true`, `false` or `null`.
    fn skip_scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ => {
                let rest = &self.b[self.i..];
                let word = [&b"true"[..], b"false", b"null"]
                    .into_iter()
                    .find(|w| rest.starts_with(w))?;
                self.i += word.len();
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
