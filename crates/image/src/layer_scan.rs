//! A header-only pass over a layer tar already on disk: validates its framing
//! and computes the layer size as Docker reports it.
//!
//! Docker's layer size (`docker images` SIZE, `docker history` SIZE) is what the
//! layer occupies unpacked: the bytes of its regular files plus the length of
//! each symlink's target (hardlinks and directories count nothing). That
//! matches `facts/inspect-features_1.0.json` (3964683 for the features image).
//! The scan reads only the 512-byte headers (and GNU/PAX metadata records) with
//! positioned reads, skipping file data, so a 185 MB layer costs a few ms.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Largest PAX or GNU long-name record accepted (memory stays bounded).
pub const MAX_META_RECORD: u64 = 1 << 20;

/// What the scan found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerScan {
    /// Docker's layer size: regular file bytes plus symlink target lengths.
    pub size: u64,
    /// Number of entries (not counting PAX/GNU metadata records).
    pub entries: u64,
}

/// Why a layer tar is malformed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("reading layer: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid tar header at offset {offset}{}: {reason}", entry_suffix(.entry))]
    BadHeader { offset: u64, entry: Option<String>, reason: String },
    #[error("truncated tar archive: entry {entry:?} needs {needed} bytes at offset {offset}, the layer has {len}")]
    Truncated { entry: String, offset: u64, needed: u64, len: u64 },
    #[error("tar metadata record for {entry:?} is {size} bytes, more than the {MAX_META_RECORD} allowed")]
    MetaTooLarge { entry: String, size: u64 },
}

fn entry_suffix(entry: &Option<String>) -> String {
    entry.as_ref().map(|e| format!(" (after entry {e:?})")).unwrap_or_default()
}

/// Parses a tar numeric field: octal text, or GNU base-256 when the top bit is set (negative
/// values are refused). Shared with the registry's streaming sizer.
pub fn parse_numeric(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        if field[0] & 0x40 != 0 {
            return None; // negative
        }
        let mut v: u64 = u64::from(field[0] & 0x3f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let text: Vec<u8> = field.iter().copied().take_while(|&b| b != 0).filter(|b| *b != b' ').collect();
    if text.is_empty() {
        return Some(0);
    }
    let s = std::str::from_utf8(&text).ok()?;
    u64::from_str_radix(s, 8).ok()
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// Whether a 512-byte header block's checksum field matches its bytes.
pub fn checksum_ok(block: &[u8; 512]) -> bool {
    let Some(stored) = parse_numeric(&block[148..156]) else { return false };
    let mut sum: u64 = 0;
    for (i, &b) in block.iter().enumerate() {
        sum += if (148..156).contains(&i) { u64::from(b' ') } else { u64::from(b) };
    }
    sum == stored
}

/// Reads PAX records (`"%d %s=%s\n"`) and returns (key, value) pairs.
pub fn pax_records(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Some(sp) = rest.iter().position(|&b| b == b' ') else { break };
        let Some(len) = std::str::from_utf8(&rest[..sp]).ok().and_then(|s| s.parse::<usize>().ok()) else { break };
        if len <= sp + 1 || len > rest.len() {
            break;
        }
        let record = &rest[sp + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            out.push((&record[..eq], &record[eq + 1..]));
        }
        rest = &rest[len..];
    }
    out
}

/// Scans the tar in `file` (of length `len`) header by header.
pub fn scan_layer(file: &File) -> Result<LayerScan, ScanError> {
    let len = file.metadata()?.len();
    let mut scan = LayerScan::default();
    let mut offset: u64 = 0;
    let mut block = [0u8; 512];
    let mut last_entry: Option<String> = None;
    // Overrides from a preceding PAX header or GNU long-name/long-link record.
    let mut pax_size: Option<u64> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut long_name: Option<Vec<u8>> = None;
    loop {
        if offset + 512 > len {
            if offset == len && (offset == 0 || last_entry.is_some()) {
                // A stream without the two zero blocks: GNU tar accepts it, so does Docker.
                return Ok(scan);
            }
            return Err(ScanError::Truncated { entry: last_entry.unwrap_or_default(), offset, needed: 512, len });
        }
        file.read_exact_at(&mut block, offset)?;
        if block.iter().all(|&b| b == 0) {
            return Ok(scan); // end-of-archive marker
        }
        if !checksum_ok(&block) {
            return Err(ScanError::BadHeader { offset, entry: last_entry, reason: "header checksum mismatch".into() });
        }
        let name = long_name.take().unwrap_or_else(|| {
            let mut n = Vec::new();
            if &block[257..262] == b"ustar" {
                let prefix = cstr(&block[345..500]);
                if !prefix.is_empty() {
                    n.extend_from_slice(prefix);
                    n.push(b'/');
                }
            }
            n.extend_from_slice(cstr(&block[0..100]));
            n
        });
        let name_str = String::from_utf8_lossy(&name).into_owned();
        let header_size = parse_numeric(&block[124..136]).ok_or_else(|| ScanError::BadHeader {
            offset,
            entry: Some(name_str.clone()),
            reason: "bad size field".into(),
        })?;
        let typeflag = block[156];
        let size = match typeflag {
            b'x' | b'g' | b'L' | b'K' => header_size,
            _ => pax_size.take().unwrap_or(header_size),
        };
        let data_start = offset + 512;
        let padded = size.div_ceil(512).checked_mul(512).ok_or_else(|| ScanError::BadHeader {
            offset,
            entry: Some(name_str.clone()),
            reason: "size out of range".into(),
        })?;
        if data_start + padded > len && data_start + size > len {
            return Err(ScanError::Truncated { entry: name_str, offset: data_start, needed: size, len });
        }
        match typeflag {
            b'x' | b'L' | b'K' => {
                if size > MAX_META_RECORD {
                    return Err(ScanError::MetaTooLarge { entry: name_str, size });
                }
                let mut data = vec![0u8; size as usize];
                file.read_exact_at(&mut data, data_start)?;
                match typeflag {
                    b'L' => long_name = Some(cstr(&data).to_vec()),
                    b'K' => long_link = Some(cstr(&data).to_vec()),
                    _ => {
                        for (k, v) in pax_records(&data) {
                            match k {
                                b"size" => pax_size = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()),
                                b"path" => long_name = Some(v.to_vec()),
                                b"linkpath" => long_link = Some(v.to_vec()),
                                _ => {}
                            }
                        }
                    }
                }
            }
            b'g' => {}
            _ => {
                let link = long_link.take().unwrap_or_else(|| cstr(&block[157..257]).to_vec());
                match typeflag {
                    b'0' | 0 | b'7' => scan.size += size,
                    b'2' => scan.size += link.len() as u64,
                    _ => {}
                }
                scan.entries += 1;
                last_entry = Some(name_str);
            }
        }
        offset = data_start + padded;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_file(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> File {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        let data = b.into_inner().unwrap();
        let mut f = tempfile_in_tmp();
        f.write_all(&data).unwrap();
        f
    }

    fn tempfile_in_tmp() -> File {
        let path =
            std::env::temp_dir().join(format!("skiff-scan-{}-{:?}", std::process::id(), std::thread::current().id()));
        let f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn counts_files_and_symlink_targets() {
        let f = tar_file(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(5);
            h.set_cksum();
            b.append_data(&mut h, "a", &b"hello"[..]).unwrap();
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, "l", "/release").unwrap();
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            b.append_link(&mut h, "hl", "a").unwrap();
            let long = "d".repeat(150);
            let mut h = tar::Header::new_gnu();
            h.set_size(3);
            b.append_data(&mut h, format!("{long}/f"), &b"abc"[..]).unwrap();
        });
        let s = scan_layer(&f).unwrap();
        assert_eq!(s, LayerScan { size: 5 + 8 + 3, entries: 4 });
    }

    #[test]
    fn empty_stream_is_an_empty_layer() {
        let f = tempfile_in_tmp();
        assert_eq!(scan_layer(&f).unwrap(), LayerScan::default());
        let f = tar_file(|_| {});
        assert_eq!(scan_layer(&f).unwrap(), LayerScan::default());
    }

    #[test]
    fn truncated_entry_is_an_error_naming_it() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(4000);
        b.append_data(&mut h, "big", &vec![7u8; 4000][..]).unwrap();
        let data = b.into_inner().unwrap();
        let mut f = tempfile_in_tmp();
        f.write_all(&data[..2000]).unwrap();
        let err = scan_layer(&f).unwrap_err().to_string();
        assert!(err.contains("truncated") && err.contains("big"), "{err}");
    }

    #[test]
    fn garbage_is_a_bad_header() {
        let mut f = tempfile_in_tmp();
        f.write_all(&[b'x'; 1024]).unwrap();
        assert!(matches!(scan_layer(&f), Err(ScanError::BadHeader { .. })));
    }

    #[test]
    fn busybox_rootfs_fixture_size_matches_docker() {
        // Docker reported 1982354 bytes for the image imported from this tar (facts/inspect-busybox_latest.json).
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/busybox-rootfs.tar");
        let f = File::open(p).unwrap();
        assert_eq!(scan_layer(&f).unwrap().size, 1982354);
    }
}
