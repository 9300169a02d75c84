//! Encodings of bytes a test builds itself: the sha256 that names a blob, and gzip for the
//! compressed layers and tar streams skiff must read.

use std::io::Write;

/// The lower-case hex sha256 of `data` (a blob's name under `blobs/sha256/`).
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// `data` gzip-compressed (one member, fastest level).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_the_empty_string() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn gzip_round_trips_through_a_decoder() {
        let data = b"hello, layer\n".repeat(1000);
        let gz = gzip(&data);
        assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out).unwrap();
        assert_eq!(out, data);
    }
}
