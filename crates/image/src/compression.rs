//! Compression detection and in-process decompression (gzip, zstd, xz).
//!
//! Docker's loaders sniff every stream (`DecompressStream`); so do we, from the
//! magic bytes, and never exec an external decompressor (CVE-2014-9357).

use std::io::{self, BufRead, BufReader, Read};

/// The compression of a stream, detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

impl Compression {
    /// Detects the compression from a stream's first bytes.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
        }
    }
}

/// Wraps `reader` in the decoder its first bytes call for; plain streams pass through.
/// Returns the detected compression too.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut buffered = BufReader::with_capacity(1 << 20, reader);
    let head = buffered.fill_buf()?;
    let kind = Compression::detect(head);
    let out: Box<dyn Read + 'a> = match kind {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(buffered)),
        Compression::Bzip2 => {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "bzip2-compressed streams are not supported"));
        }
    };
    Ok((kind, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(data: &[u8], compressed: Vec<u8>, expect: Compression) {
        let (kind, mut r) = decompress(&compressed[..]).unwrap();
        assert_eq!(kind, expect);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn detects_and_decodes_each_format() {
        let data = b"hello layer".repeat(1000);
        roundtrip(&data, data.clone(), Compression::None);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        roundtrip(&data, gz.finish().unwrap(), Compression::Gzip);
        roundtrip(&data, zstd::encode_all(&data[..], 3).unwrap(), Compression::Zstd);
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&data).unwrap();
        roundtrip(&data, xz.finish().unwrap(), Compression::Xz);
    }

    #[test]
    fn empty_stream_is_plain() {
        roundtrip(b"", Vec::new(), Compression::None);
    }
}
