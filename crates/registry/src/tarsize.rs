//! Docker's layer size from a tar stream, computed while the layer is
//! decompressed (a pulled layer is never written out uncompressed here).
//!
//! Same rule as `skiff_image::layer_scan`, whose header parsing (numeric fields,
//! checksum, PAX records) it shares: regular file bytes plus the length of each
//! symlink target; PAX `size`/`linkpath` and GNU long links count.

use skiff_image::layer_scan::{checksum_ok, parse_numeric, pax_records};

/// Largest PAX or GNU long-name record kept in memory.
const MAX_META: u64 = 1 << 20;

/// A streaming tar header walker (fed through [`std::io::Write`]).
#[derive(Default)]
pub struct TarSizer {
    /// Docker's layer size so far.
    pub size: u64,
    /// Total bytes seen (the tar's length).
    pub len: u64,
    block: Vec<u8>,
    /// Data bytes (with padding) still to skip or collect.
    skip: u64,
    collect: Option<(u8, u64, Vec<u8>)>,
    pax_size: Option<u64>,
    long_link: Option<usize>,
    done: bool,
    /// Set when a header is malformed.
    pub error: Option<String>,
}

impl TarSizer {
    fn header(&mut self) {
        let b = std::mem::take(&mut self.block);
        if b.iter().all(|&x| x == 0) {
            self.done = true; // end-of-archive marker: the rest is padding
            return;
        }
        let block: &[u8; 512] = b[..].try_into().expect("a header block is 512 bytes");
        if !checksum_ok(block) {
            self.error.get_or_insert_with(|| format!("invalid tar header at offset {}: checksum mismatch", self.len));
            self.done = true;
            return;
        }
        let Some(hsize) = parse_numeric(&b[124..136]) else {
            self.error.get_or_insert_with(|| format!("invalid tar header at offset {}: bad size", self.len));
            self.done = true;
            return;
        };
        let t = b[156];
        let size = match t {
            b'x' | b'g' | b'L' | b'K' => hsize,
            _ => self.pax_size.take().unwrap_or(hsize),
        };
        let padded = size.div_ceil(512) * 512;
        match t {
            b'x' | b'K' if size <= MAX_META => self.collect = Some((t, size, Vec::new())),
            b'x' | b'K' | b'L' | b'g' => {}
            _ => {
                let link_len =
                    self.long_link.take().unwrap_or_else(|| b[157..257].iter().take_while(|&&c| c != 0).count());
                match t {
                    b'0' | 0 | b'7' => self.size += size,
                    b'2' => self.size += link_len as u64,
                    _ => {}
                }
            }
        }
        self.skip = padded;
    }

    fn finish_meta(&mut self, t: u8, data: Vec<u8>) {
        if t == b'K' {
            self.long_link = Some(data.iter().take_while(|&&c| c != 0).count());
            return;
        }
        for (k, v) in pax_records(&data) {
            if k == b"size" {
                self.pax_size = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
            } else if k == b"linkpath" {
                self.long_link = Some(v.len());
            }
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.done {
            if self.skip > 0 {
                let n = (self.skip.min(data.len() as u64)) as usize;
                if let Some((_, size, buf)) = &mut self.collect {
                    let want = (*size as usize).saturating_sub(buf.len()).min(n);
                    buf.extend_from_slice(&data[..want]);
                }
                self.skip -= n as u64;
                self.len += n as u64;
                data = &data[n..];
                if self.skip == 0 {
                    if let Some((t, _, buf)) = self.collect.take() {
                        self.finish_meta(t, buf);
                    }
                }
                continue;
            }
            let n = (512 - self.block.len()).min(data.len());
            self.block.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.block.len() == 512 {
                self.header();
                self.len += 512;
            }
        }
        self.len += data.len() as u64;
    }

    /// Checks the stream ended on a header boundary.
    pub fn check_end(&self) -> Result<(), String> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if !self.done && (self.skip > 0 || !self.block.is_empty()) {
            return Err(format!("truncated tar archive after {} bytes", self.len));
        }
        Ok(())
    }
}

impl std::io::Write for TarSizer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.feed(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Agrees with the store's own scan on the real busybox layer (fed in odd-sized pieces).
    #[test]
    fn matches_layer_scan_on_the_busybox_rootfs() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/busybox-rootfs.tar");
        let data = std::fs::read(&p).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let want = skiff_image::layer_scan::scan_layer(&f).unwrap();
        let mut s = TarSizer::default();
        for c in data.chunks(777) {
            s.write_all(c).unwrap();
        }
        s.check_end().unwrap();
        assert_eq!(s.size, want.size);
        assert_eq!(s.len, data.len() as u64);
        let mut t = TarSizer::default();
        t.write_all(&data[..data.len() / 2 + 3]).unwrap();
        assert!(t.check_end().is_err() || t.size < want.size);
    }
}
