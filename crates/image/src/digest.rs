//! Content digests (`sha256:<hex>`): parsing, validation and hashing while streaming.
//!
//! Image IDs, layer DiffIDs, ChainIDs and blob names are all sha256 digests
//! (OCI image-spec `descriptor.md` §Digests). Only sha256 is produced; other
//! algorithms are rejected by name so nothing unverifiable enters the store.

use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

/// A sha256 digest, stored as 64 lower-case hex characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

/// Why a string is not a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("invalid digest {0:?}: expected sha256:<64 hex characters>")]
    Invalid(String),
    #[error("unsupported digest algorithm in {0:?}: only sha256 is supported")]
    Algorithm(String),
}

impl Digest {
    /// Parses `sha256:<hex>`.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        match s.split_once(':') {
            Some(("sha256", hex)) => Digest::from_hex(hex).map_err(|_| DigestError::Invalid(s.to_string())),
            Some((_, _)) => Err(DigestError::Algorithm(s.to_string())),
            None => Err(DigestError::Invalid(s.to_string())),
        }
    }

    /// Parses a bare 64-character lower-case hex string.
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Digest { hex: hex.to_string() })
        } else {
            Err(DigestError::Invalid(hex.to_string()))
        }
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest::from_raw(Sha256::digest(data).into())
    }

    fn from_raw(raw: [u8; 32]) -> Digest {
        Digest { hex: hex::encode(raw) }
    }

    /// The 64 hex characters, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex characters, as `docker images` prints IDs.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }

    /// ChainID of a layer stack: `chain(L0) = diff(L0)`,
    /// `chain(L0..Ln) = sha256(chain(L0..Ln-1) + " " + diff(Ln))` (image-spec `config.md`).
    pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
        let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
        for d in diff_ids {
            let next = match out.last() {
                None => d.clone(),
                Some(parent) => Digest::of(format!("{parent} {d}").as_bytes()),
            };
            out.push(next);
        }
        out
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A running sha256 with a byte count.
#[derive(Default, Clone)]
pub struct Hasher {
    inner: Sha256,
    len: u64,
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher::default()
    }
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
        self.len += data.len() as u64;
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn finish(self) -> Digest {
        Digest::from_raw(self.inner.finalize().into())
    }
}

/// The bytes a [`ThreadedHasher`] hands its thread at a time.
pub const HASH_CHUNK: usize = 1 << 20;

/// A sha256 computed on a thread of its own, fed [`HASH_CHUNK`]-sized buffers that come back
/// for reuse, so hashing overlaps the caller's copying (writing a blob, decompressing a layer):
/// about half the time to take in a layer on two cores or more. At most four chunks wait.
pub struct ThreadedHasher {
    buf: Vec<u8>,
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    handle: std::thread::JoinHandle<Hasher>,
}

fn stopped() -> io::Error {
    io::Error::other("hashing thread stopped")
}

impl ThreadedHasher {
    /// Starts the thread, carrying on from `hasher` (which may have hashed a first part inline).
    pub fn start(hasher: Hasher) -> ThreadedHasher {
        let (tx, chunks) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let (give_back, spare) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            let mut h = hasher;
            for chunk in chunks {
                h.update(&chunk);
                let _ = give_back.send(chunk);
            }
            h
        });
        ThreadedHasher { buf: Vec::with_capacity(HASH_CHUNK), tx, spare, handle }
    }

    /// Copies `data` in; a chunk goes to the thread each time one fills.
    pub fn update(&mut self, data: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= HASH_CHUNK {
            self.send_buffered()?;
        }
        Ok(())
    }

    /// Hands `chunk` over without copying (after anything [`Self::update`] buffered); returns an
    /// empty buffer to fill next, a recycled one when the thread has given one back.
    pub fn update_owned(&mut self, chunk: Vec<u8>) -> io::Result<Vec<u8>> {
        if !self.buf.is_empty() {
            self.send_buffered()?;
        }
        let mut next = self.spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(HASH_CHUNK));
        next.clear();
        self.tx.send(chunk).map_err(|_| stopped())?;
        Ok(next)
    }

    fn send_buffered(&mut self) -> io::Result<()> {
        let mut next = self.spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(HASH_CHUNK));
        next.clear();
        let full = std::mem::replace(&mut self.buf, next);
        self.tx.send(full).map_err(|_| stopped())
    }

    /// Waits for the thread and returns the digest of everything fed.
    pub fn finish(mut self) -> io::Result<Digest> {
        if !self.buf.is_empty() {
            self.send_buffered()?;
        }
        drop(self.tx);
        Ok(self.handle.join().map_err(|_| io::Error::other("hashing thread panicked"))?.finish())
    }
}

/// A reader that hashes everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Hasher::new() }
    }
    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }
    pub fn finish(self) -> (Digest, u64, R) {
        let len = self.hasher.len();
        (self.hasher.finish(), len, self.inner)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Hasher::new() }
    }
    pub fn finish(self) -> (Digest, u64, W) {
        let len = self.hasher.len();
        (self.hasher.finish(), len, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let d = Digest::parse("sha256:4b7e86637799f84a0355f07dbaefe6edba0df30356e7779b0357dd674358e838").unwrap();
        assert_eq!(d.short(), "4b7e86637799");
        assert!(Digest::parse("sha256:XYZ").is_err());
        assert!(matches!(Digest::parse("sha512:00"), Err(DigestError::Algorithm(_))));
        assert!(Digest::parse("4b7e86637799f84a0355f07dbaefe6edba0df30356e7779b0357dd674358e838").is_err());
    }

    #[test]
    fn a_threaded_hash_equals_the_inline_one_however_it_is_fed() {
        let data: Vec<u8> = (0..3 * HASH_CHUNK + 17).map(|i| (i * 31 % 251) as u8).collect();
        let mut first = Hasher::new();
        first.update(&data[..5]);
        let mut t = ThreadedHasher::start(first);
        t.update(&data[5..HASH_CHUNK + 9]).unwrap();
        let mut spare = t.update_owned(data[HASH_CHUNK + 9..2 * HASH_CHUNK].to_vec()).unwrap();
        assert!(spare.is_empty());
        spare.extend_from_slice(&data[2 * HASH_CHUNK..]);
        t.update_owned(spare).unwrap();
        assert_eq!(t.finish().unwrap(), Digest::of(&data));
    }

    /// Test vector from moby v28.1.1's RootFS.ChainID (reference notes §1.4).
    #[test]
    fn chain_id_matches_moby_vector() {
        let a = Digest::from_hex(&"1".repeat(64)).unwrap();
        let b = Digest::from_hex(&"2".repeat(64)).unwrap();
        let chain = Digest::chain_ids(&[a.clone(), b]);
        assert_eq!(chain[0], a);
        assert_eq!(chain[1].hex(), "9932074217c35353d2e03a3f5a86549f7c67bfeb0ba53e23d69f4d4c8f7958f5");
    }
}
