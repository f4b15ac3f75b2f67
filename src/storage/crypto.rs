//! The cryptographic building blocks of the encrypted blob format: per-blob data keys, wrapping a
//! data key under a master key, and sealing/opening numbered chunks with AES-256-GCM.
//!
//! Owns: key material handling (every key lives in a zeroizing [`SecretBox`]), nonce construction
//! and the AEAD calls. Deliberately does not own files, keyrings, blob keys or the header layout:
//! those are [`super::blob`]'s, which documents the at-rest format byte by byte. Keeping the
//! primitives apart from the file code lets a later object-store backend seal the same way.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{self, AeadInOut, KeyInit};
use secrecy::{ExposeSecret, SecretBox};

/// Length of every symmetric key here (AES-256), master and data keys alike.
pub const KEY_LEN: usize = 32;
/// Length of a GCM authentication tag; every sealed chunk is this much longer than its plaintext.
pub const TAG_LEN: usize = 16;
/// Length of a GCM nonce: the 96 bits GCM is specified and analysed for.
pub const NONCE_LEN: usize = 12;
/// Random per-blob part of each chunk nonce; the other 5 bytes are the chunk index and last flag.
pub const NONCE_PREFIX_LEN: usize = 7;
/// A wrapped data key: random nonce ‖ encrypted key ‖ tag. Fixed, so a header can be checked
/// for it before any decryption is attempted.
pub const WRAPPED_KEY_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;

/// Domain-separation label in the associated data of a key wrap, so a wrapped data key can never
/// be confused with any other GCM ciphertext made under a master key.
const WRAP_AAD_LABEL: &[u8] = b"voicegate/blob/data-key/v1\0";

/// What can go wrong in a primitive. Carries no key material and no plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The operating system's random source failed. Retryable in principle, but it means the
    /// host is unhealthy; nothing is sealed without fresh randomness.
    #[error("the system random source failed")]
    Random,
    /// A tag did not verify: wrong key, wrong position, or altered bytes. Not retryable.
    #[error("authentication failed")]
    Auth,
    /// An input has a length the format never produces (e.g. a wrapped key that is not
    /// [`WRAPPED_KEY_LEN`] bytes). Not retryable.
    #[error("input has an impossible length")]
    Length,
}

/// `N` bytes from the operating system's random source.
///
/// # Errors
/// [`CryptoError::Random`] when the source fails.
pub fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}

/// A per-blob AES-256 key. Fresh for every blob, so a nonce can never repeat under one key and a
/// leaked data key exposes one blob only.
pub struct DataKey(SecretBox<[u8; KEY_LEN]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

impl DataKey {
    /// A new random data key, generated directly inside its zeroizing box (no stack copy).
    ///
    /// # Errors
    /// [`CryptoError::Random`] when the random source fails.
    pub fn generate() -> Result<DataKey, CryptoError> {
        let mut failed = false;
        let key = SecretBox::init_with_mut(|k: &mut [u8; KEY_LEN]| failed = getrandom::fill(k).is_err());
        if failed {
            return Err(CryptoError::Random);
        }
        Ok(DataKey(key))
    }
}

/// Associated data of a key wrap: the label and the master key id, so a wrapped key moved under
/// another key id (with the same master key material) fails to unwrap.
fn wrap_aad(key_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_AAD_LABEL.len() + key_id.len());
    aad.extend_from_slice(WRAP_AAD_LABEL);
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

/// Wrap `data_key` under a master key with AES-256-GCM and a random nonce.
///
/// Output layout: nonce (12) ‖ encrypted data key (32) ‖ tag (16) = [`WRAPPED_KEY_LEN`] bytes.
///
/// # Errors
/// [`CryptoError::Random`] when no nonce can be drawn.
pub fn wrap_key(master: &[u8; KEY_LEN], key_id: &str, data_key: &DataKey) -> Result<Vec<u8>, CryptoError> {
    let aead = Aes256Gcm::new(master.into());
    let nonce: [u8; NONCE_LEN] = random_array()?;
    let mut out = vec![0u8; WRAPPED_KEY_LEN];
    out[..NONCE_LEN].copy_from_slice(&nonce);
    let body = &mut out[NONCE_LEN..NONCE_LEN + KEY_LEN];
    body.copy_from_slice(data_key.0.expose_secret());
    let tag = aead
        .encrypt_inout_detached((&nonce).into(), &wrap_aad(key_id), body.into())
        .map_err(|_| CryptoError::Auth)?;
    out[NONCE_LEN + KEY_LEN..].copy_from_slice(&tag);
    Ok(out)
}

/// Unwrap a data key made by [`wrap_key`] under the same master key and key id.
///
/// # Errors
/// [`CryptoError::Length`] for a malformed input, [`CryptoError::Auth`] for the wrong master key
/// or altered bytes.
pub fn unwrap_key(master: &[u8; KEY_LEN], key_id: &str, wrapped: &[u8]) -> Result<DataKey, CryptoError> {
    if wrapped.len() != WRAPPED_KEY_LEN {
        return Err(CryptoError::Length);
    }
    let aead = Aes256Gcm::new(master.into());
    let (nonce, rest) = wrapped.split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(KEY_LEN);
    let nonce = aead::Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| CryptoError::Length)?;
    let tag = aead::Tag::<Aes256Gcm>::try_from(tag).map_err(|_| CryptoError::Length)?;
    let aad = wrap_aad(key_id);
    let mut result = Ok(());
    // Decrypt inside the box so the plaintext key never sits in an unzeroized buffer.
    let key = SecretBox::init_with_mut(|k: &mut [u8; KEY_LEN]| {
        k.copy_from_slice(body);
        result = aead.decrypt_inout_detached(&nonce, &aad, k.as_mut_slice().into(), &tag);
    });
    result.map_err(|_| CryptoError::Auth)?;
    Ok(DataKey(key))
}

/// Seals and opens the chunks of one blob: the data key's cipher, the blob's nonce prefix, and
/// the associated data (the blob's header bytes) bound into every chunk.
pub struct ChunkCipher {
    /// AES-256-GCM keyed with the blob's data key; zeroized on drop by the `zeroize` feature.
    aead: Aes256Gcm,
    /// Random per blob; with the index and last flag it makes each chunk's nonce.
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    /// Authenticated with every chunk, so a chunk only opens under the header it was sealed with.
    aad: Vec<u8>,
}

impl std::fmt::Debug for ChunkCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunkCipher([redacted])")
    }
}

impl ChunkCipher {
    /// A cipher for the chunks of one blob.
    pub fn new(data_key: &DataKey, nonce_prefix: [u8; NONCE_PREFIX_LEN], aad: Vec<u8>) -> ChunkCipher {
        ChunkCipher {
            aead: Aes256Gcm::new(data_key.0.expose_secret().into()),
            nonce_prefix,
            aad,
        }
    }

    /// nonce = prefix (7) ‖ index u32 BE (4) ‖ last flag (1): the position is authenticated, so
    /// reordered, duplicated or dropped chunks fail to open.
    fn nonce(&self, index: u32, last: bool) -> [u8; NONCE_LEN] {
        let mut n = [0u8; NONCE_LEN];
        n[..NONCE_PREFIX_LEN].copy_from_slice(&self.nonce_prefix);
        n[NONCE_PREFIX_LEN..NONCE_LEN - 1].copy_from_slice(&index.to_be_bytes());
        n[NONCE_LEN - 1] = u8::from(last);
        n
    }

    /// Encrypt `buf` (one plaintext chunk) in place and append its tag.
    ///
    /// # Errors
    /// [`CryptoError::Length`] only for an input beyond GCM's limit (never for a blob chunk).
    pub fn seal(&self, index: u32, last: bool, buf: &mut Vec<u8>) -> Result<(), CryptoError> {
        let nonce = self.nonce(index, last);
        let tag = self
            .aead
            .encrypt_inout_detached((&nonce).into(), &self.aad, buf.as_mut_slice().into())
            .map_err(|_| CryptoError::Length)?;
        buf.extend_from_slice(&tag);
        Ok(())
    }

    /// Verify and decrypt one sealed chunk (ciphertext ‖ tag) in place. On success the first
    /// returned-length bytes of `sealed` are the plaintext; on failure its contents are undefined
    /// and must be discarded.
    ///
    /// # Errors
    /// [`CryptoError::Length`] if `sealed` is shorter than a tag, [`CryptoError::Auth`] if the
    /// chunk does not belong at this position of this blob or was altered.
    pub fn open(&self, index: u32, last: bool, sealed: &mut [u8]) -> Result<usize, CryptoError> {
        let plain_len = sealed.len().checked_sub(TAG_LEN).ok_or(CryptoError::Length)?;
        let (body, tag) = sealed.split_at_mut(plain_len);
        let tag = aead::Tag::<Aes256Gcm>::try_from(&*tag).map_err(|_| CryptoError::Length)?;
        let nonce = self.nonce(index, last);
        self.aead
            .decrypt_inout_detached((&nonce).into(), &self.aad, body.into(), &tag)
            .map_err(|_| CryptoError::Auth)?;
        Ok(plain_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(aad: &[u8]) -> (DataKey, ChunkCipher) {
        let key = DataKey::generate().unwrap();
        let c = ChunkCipher::new(&key, [7; NONCE_PREFIX_LEN], aad.to_vec());
        (key, c)
    }

    #[test]
    fn wrap_round_trips_and_binds_key_id_and_master() {
        let master = [1u8; KEY_LEN];
        let dk = DataKey::generate().unwrap();
        let wrapped = wrap_key(&master, "k1", &dk).unwrap();
        assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
        let back = unwrap_key(&master, "k1", &wrapped).unwrap();
        assert_eq!(back.0.expose_secret(), dk.0.expose_secret());
        assert!(matches!(unwrap_key(&master, "k2", &wrapped), Err(CryptoError::Auth)));
        assert!(matches!(
            unwrap_key(&[2u8; KEY_LEN], "k1", &wrapped),
            Err(CryptoError::Auth)
        ));
        assert!(matches!(
            unwrap_key(&master, "k1", &wrapped[1..]),
            Err(CryptoError::Length)
        ));
        let mut flipped = wrapped.clone();
        flipped[20] ^= 1;
        assert!(matches!(unwrap_key(&master, "k1", &flipped), Err(CryptoError::Auth)));
    }

    #[test]
    fn chunk_opens_only_at_its_own_position_and_header() {
        let (key, c) = cipher(b"header");
        let mut buf = b"hello chunk".to_vec();
        c.seal(3, false, &mut buf).unwrap();
        assert_eq!(buf.len(), 11 + TAG_LEN);
        assert_ne!(&buf[..11], b"hello chunk");
        for (index, last) in [(4, false), (3, true)] {
            let mut b = buf.clone();
            assert!(matches!(c.open(index, last, &mut b), Err(CryptoError::Auth)));
        }
        let other = ChunkCipher::new(&key, [7; NONCE_PREFIX_LEN], b"other header".to_vec());
        assert!(matches!(other.open(3, false, &mut buf.clone()), Err(CryptoError::Auth)));
        let n = c.open(3, false, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello chunk");
        assert!(matches!(c.open(0, true, &mut [0u8; 5]), Err(CryptoError::Length)));
    }

    #[test]
    fn debug_never_shows_key_material() {
        let (key, c) = cipher(b"h");
        assert_eq!(format!("{key:?}"), "DataKey([redacted])");
        assert_eq!(format!("{c:?}"), "ChunkCipher([redacted])");
    }
}
