//! A plain little-endian byte reader for the targets whose input is a sequence of operations.
//!
//! The formats are ours and documented per target (instead of `arbitrary`'s), so the seed corpora
//! can be real protocol frames written down byte for byte (`make_seeds.py`).

// Each target uses only some of the readers.
#![allow(dead_code)]

/// Reads from the front; every read of more than is left returns `None`, which ends the input.
pub struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader(data)
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }

    pub fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.bytes(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Option<u64> {
        self.bytes(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    }

    /// `n` samples of PCM16 LE.
    pub fn samples(&mut self, n: usize) -> Option<Vec<i16>> {
        self.bytes(2 * n)
            .map(|b| b.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect())
    }

    /// A string of `len` bytes, invalid UTF-8 replaced (the fuzzer still steers the bytes).
    pub fn string(&mut self, len: usize) -> Option<String> {
        self.bytes(len).map(|b| String::from_utf8_lossy(b).into_owned())
    }
}
