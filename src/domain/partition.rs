//! Kafka's default key partitioner, reproduced bit for bit so that roadpulse's
//! offline replay assigns every keyed record to the same partition a Java
//! producer would (`BuiltInPartitioner.partitionForKey`, formerly
//! `DefaultPartitioner`): `toPositive(murmur2(key)) % numPartitions`.
//! A librdkafka producer matches this only with `partitioner=murmur2_random`
//! (librdkafka's own default, `consistent_random`, uses CRC32 and does not).
//! This module owns the hash and the key-to-partition rule and nothing else:
//! it must never do I/O, look at record values, handle null keys (Kafka
//! spreads those by a different, sticky rule) or depend on external crates.

/// Seed used by Kafka's `Utils.murmur2` (`0x9747b28c`).
const SEED: u32 = 0x9747_b28c;
/// Multiplier `m` of MurmurHash2.
const M: u32 = 0x5bd1_e995;
/// Shift `r` of MurmurHash2.
const R: u32 = 24;

/// MurmurHash2 exactly as Java `org.apache.kafka.common.utils.Utils.murmur2`.
///
/// Java works on signed 32-bit `int`s with wrapping multiplication and
/// logical (`>>>`) shifts; the same bits come out of `u32` wrapping arithmetic
/// here, reinterpreted as `i32` at the end. Body bytes and tail bytes are both
/// masked with `& 0xff` in Java, so bytes are read unsigned, as here.
pub fn murmur2(data: &[u8]) -> i32 {
    // Java arrays are shorter than 2^31, so `length` fits an `int`; the
    // truncating cast mirrors Java's int for every length Java can have.
    let length = data.len() as u32;
    let mut h: u32 = SEED ^ length;

    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    // Java's fall-through `switch (length % 4)`: case 3 also runs 2 and 1.
    let tail = blocks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&first) = tail.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java `Utils.toPositive`: clears the sign bit (`n & 0x7fffffff`).
///
/// Not `abs`: `i32::MIN` maps to 0 and negative numbers map to
/// `n + 2^31`, exactly as Kafka does.
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// Partition of a record with a non-null serialized `key` on a topic with
/// `partitions` partitions: `to_positive(murmur2(key)) % partitions`.
///
/// `partitions` must be at least 1; passing 0 is a caller bug (a topic always
/// has a partition), and this returns 0 then instead of panicking.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    if partitions == 0 {
        return 0;
    }
    // to_positive's result is in 0..=i32::MAX, so the cast is lossless.
    let positive = to_positive(murmur2(key)) as u32;
    positive % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100-byte key: "abc...z" repeated, cut at 100 chars.
    fn hundred_char_key() -> Vec<u8> {
        (0..100u8).map(|i| b'a' + (i % 26)).collect()
    }

    /// (key, murmur2, partition for N=1, N=3, N=12).
    /// These values came from Java kafka-clients 4.3.1 `Utils.murmur2`,
    /// with partitions cross-checked against
    /// `BuiltInPartitioner.partitionForKey` (keys encoded as UTF-8).
    fn java_vectors() -> Vec<(Vec<u8>, i32, [u32; 3])> {
        vec![
            (b"".to_vec(), 275646681, [0, 0, 9]),
            (b"a".to_vec(), -1563381124, [0, 1, 4]),
            (b"ab".to_vec(), 316155434, [0, 2, 2]),
            (b"abc".to_vec(), 479470107, [0, 0, 3]),
            (b"abcd".to_vec(), -1323649548, [0, 2, 8]),
            (b"abcde".to_vec(), 461995741, [0, 1, 1]),
            (b"seg-0001".to_vec(), 1157093009, [0, 2, 5]),
            (b"seg-12345".to_vec(), 1626083794, [0, 1, 10]),
            (b"A-1 northbound km 12.5".to_vec(), -424190943, [0, 2, 5]),
            ("Straße-7".as_bytes().to_vec(), 296556592, [0, 1, 4]),
            (hundred_char_key(), -1346712823, [0, 1, 1]),
        ]
    }

    #[test]
    fn murmur2_matches_java() {
        for (key, expected, _) in java_vectors() {
            assert_eq!(
                murmur2(&key),
                expected,
                "key {:?}",
                String::from_utf8_lossy(&key)
            );
        }
    }

    #[test]
    fn partition_for_key_matches_java() {
        for (key, _, parts) in java_vectors() {
            for (n, expected) in [1u32, 3, 12].iter().zip(parts) {
                assert_eq!(partition_for_key(&key, *n), expected, "key {key:?} N={n}");
            }
        }
    }

    #[test]
    fn high_bit_bytes_match_java() {
        // Bytes >= 0x80 are negative in Java; tail and body must read them
        // unsigned. Prefixes of this array, lengths 1..=7, from kafka-clients
        // 4.3.1 Utils.murmur2.
        let bytes = [0xff, 0x80, 0xc3, 0x9f, 0x7f, 0xfe, 0x01];
        let expected = [
            -311467685,
            -442788720,
            1419509556,
            532325053,
            -470910750,
            -1465009668,
            1697358960,
        ];
        for (len, want) in (1..=bytes.len()).zip(expected) {
            assert_eq!(murmur2(&bytes[..len]), want, "len {len}");
        }
    }

    #[test]
    fn non_ascii_key_is_hashed_as_utf8_bytes() {
        let key = "Straße-7";
        assert_eq!(key.len(), 9, "ß is two UTF-8 bytes");
        assert_eq!(murmur2(key.as_bytes()), 296556592);
    }

    #[test]
    fn to_positive_clears_sign_bit_only() {
        assert_eq!(to_positive(0), 0);
        assert_eq!(to_positive(5), 5);
        assert_eq!(to_positive(i32::MAX), i32::MAX);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1563381124), 584_102_524); // n + 2^31
    }

    #[test]
    fn zero_partitions_is_tolerated() {
        assert_eq!(partition_for_key(b"seg-0001", 0), 0);
    }

    #[test]
    fn partition_is_in_range() {
        for n in 1..=64u32 {
            for (key, _, _) in java_vectors() {
                assert!(partition_for_key(&key, n) < n);
            }
        }
    }
}
