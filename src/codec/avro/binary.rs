//! Avro binary encoding primitives (the specification's "Binary Encoding"): zig-zag varints,
//! length-prefixed bytes and strings, IEEE floats. Reading never panics and never reads past
//! the buffer; a bad length or varint is an error, not a huge allocation.

/// Why a datum could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    #[error("the datum ends early")]
    Truncated,
    #[error("{0}")]
    Invalid(&'static str),
}

/// A read position in one datum. Strings and bytes are borrowed from the buffer.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, BinaryError> {
        let b = *self.buf.get(self.pos).ok_or(BinaryError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BinaryError> {
        if n > self.remaining() {
            return Err(BinaryError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A zig-zag varint `long` (at most 10 bytes).
    pub fn long(&mut self) -> Result<i64, BinaryError> {
        let mut raw: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                return Err(BinaryError::Invalid("varint overflows 64 bits"));
            }
            raw |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err(BinaryError::Invalid("varint longer than 10 bytes"))
    }

    pub fn boolean(&mut self) -> Result<bool, BinaryError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(BinaryError::Invalid("boolean byte is neither 0 nor 1")),
        }
    }

    pub fn float(&mut self) -> Result<f32, BinaryError> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn double(&mut self) -> Result<f64, BinaryError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    /// A length (of bytes, or a count of items) that must not be negative.
    pub fn length(&mut self) -> Result<usize, BinaryError> {
        usize::try_from(self.long()?).map_err(|_| BinaryError::Invalid("negative length"))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], BinaryError> {
        let n = self.length()?;
        self.take(n)
    }

    pub fn string(&mut self) -> Result<&'a str, BinaryError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| BinaryError::Invalid("string is not UTF-8"))
    }

    pub fn fixed(&mut self, n: usize) -> Result<&'a [u8], BinaryError> {
        self.take(n)
    }
}

/// Appends a zig-zag varint `long` (or `int`).
pub fn put_long(buf: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.push((z as u8) | 0x80);
        z >>= 7;
    }
    buf.push(z as u8);
}

pub fn put_double(buf: &mut Vec<u8>, v: f64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

pub fn put_bool(buf: &mut Vec<u8>, v: bool) {
    buf.push(u8::from(v));
}

pub fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_long(buf, s.len() as i64);
    buf.extend_from_slice(s.as_bytes());
}

/// A `["null", "double"]` union: branch 0 for None, 1 and the value for Some.
pub fn put_opt_double(buf: &mut Vec<u8>, v: Option<f64>) {
    match v {
        None => put_long(buf, 0),
        Some(x) => {
            put_long(buf, 1);
            put_double(buf, x);
        }
    }
}

/// A `["null", "string"]` union.
pub fn put_opt_str(buf: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => put_long(buf, 0),
        Some(s) => {
            put_long(buf, 1);
            put_str(buf, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_garbage() {
        for v in [0, 1, -1, 63, -64, 64, 1 << 40, i64::MIN, i64::MAX] {
            let mut buf = Vec::new();
            put_long(&mut buf, v);
            let mut c = Cursor::new(&buf);
            assert_eq!(c.long(), Ok(v));
            assert_eq!(c.remaining(), 0);
        }
        assert_eq!(Cursor::new(&[0x80]).long(), Err(BinaryError::Truncated));
        assert!(Cursor::new(&[0xff; 11]).long().is_err());
        // A length far beyond the buffer is an error, not an allocation.
        let mut buf = Vec::new();
        put_long(&mut buf, 1 << 50);
        assert_eq!(Cursor::new(&buf).bytes(), Err(BinaryError::Truncated));
        assert!(Cursor::new(&[1]).bytes().is_err(), "negative length");
        assert!(Cursor::new(&[2, 0xff]).string().is_err(), "not UTF-8");
        assert!(Cursor::new(&[2]).boolean().is_err());
    }
}
