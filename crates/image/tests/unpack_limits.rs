//! Resource limits and damaged input: huge PAX records, truncated layers, the byte cap and a full
//! filesystem all fail cleanly with an error naming the entry.

mod unpack_common;

use std::io::Read;

use skiff_image::tarstream::{TarStream, TarStreamError};
use skiff_image::unpack::{unpack_layer, UnpackError, UnpackOptions, WhiteoutMode};
use unpack_common::{layer, Sandbox, E};

fn opts() -> UnpackOptions {
    UnpackOptions { whiteouts: WhiteoutMode::Apply, max_bytes: None, preserve_owner: true }
}

/// A reader producing one header followed by `total` bytes of filler, counting what was read.
struct Generated {
    head: Vec<u8>,
    pos: u64,
    total: u64,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.total - self.pos).min(buf.len() as u64) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let p = self.pos as usize + i;
            *b = self.head.get(p).copied().unwrap_or(b'a');
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Go CVE-2022-2879 class: a 64 MiB PAX record is refused after reading about 1 MiB of it.
#[test]
fn go_cve_2022_2879_huge_pax_record_bounded_memory() {
    let size: u64 = 64 * 1024 * 1024;
    let mut h = tar::Header::new_ustar();
    h.set_path("PaxHeaders/huge").unwrap();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_size(size);
    h.set_cksum();
    let mut head = h.as_bytes().to_vec();
    head.extend_from_slice(format!("{size} path=").as_bytes());
    let mut src = Generated { head, pos: 0, total: 512 + size + 1024 };
    let sb = Sandbox::new();
    let err = unpack_layer(&mut src, &sb.dest, &opts()).unwrap_err();
    assert!(matches!(err, UnpackError::Tar(TarStreamError::MetadataTooLarge { .. })), "{err}");
    assert!(err.to_string().contains("exceeds"), "{err}");
    assert!(src.pos < 2 * 1024 * 1024, "read {} bytes", src.pos);
}

fn busybox_layer() -> Vec<u8> {
    let p = skiff_testutil::fixture("busybox-rootfs.tar");
    std::fs::read(p).unwrap()
}

#[test]
fn truncated_layer_names_the_entry() {
    let full = busybox_layer();
    // Find where bin/busybox's data starts, then cut the archive in the middle of it.
    let mut ts = TarStream::new(&full[..]);
    let mut cut = None;
    while let Some(e) = ts.next_entry().unwrap() {
        if e.display_path() == "./bin/busybox" {
            cut = Some((e.size() / 2) as usize);
            break;
        }
    }
    let data_start = ts.offset() as usize;
    let cut = data_start + cut.expect("busybox entry");
    let sb = Sandbox::new();
    let err = unpack_layer(&full[..cut], &sb.dest, &opts()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("./bin/busybox"), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");

    // Cut inside a header: an error too, not a silent end.
    let err = unpack_layer(&full[..data_start - 300], &sb.dest, &opts()).unwrap_err();
    assert!(matches!(err, UnpackError::Tar(TarStreamError::Header { .. })), "{err}");
}

#[test]
fn whole_busybox_layer_unpacks_and_reads_to_the_end() {
    let full = busybox_layer();
    let sb = Sandbox::new();
    let mut reader = &full[..];
    let stats = unpack_layer(&mut reader, &sb.dest, &opts()).unwrap();
    assert!(reader.is_empty(), "{} bytes left unread", reader.len());
    assert_eq!(stats.bytes, 1_982_256 + 21);
    assert!(sb.dest.join("bin/sh").symlink_metadata().unwrap().file_type().is_symlink());
}

#[test]
fn max_bytes_exceeded_is_an_error() {
    let l = layer(&[E::File("a", &[1u8; 600], 0o644), E::File("b", &[2u8; 600], 0o644)]);
    let sb = Sandbox::new();
    let o = UnpackOptions { max_bytes: Some(1000), ..opts() };
    match unpack_layer(&l[..], &sb.dest, &o) {
        Err(UnpackError::TooLarge { path, limit }) => {
            assert_eq!((path.as_str(), limit), ("b", 1000))
        }
        other => panic!("{other:?}"),
    }
    let o = UnpackOptions { max_bytes: Some(1200), ..opts() };
    assert_eq!(unpack_layer(&l[..], &sb.dest, &o).unwrap().bytes, 1200);
}

/// A tmpfs of 256 KiB mounted for the test, unmounted on drop.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(self.dir.path(), rustix::mount::UnmountFlags::DETACH);
    }
}

#[test]
fn enospc_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    rustix::mount::mount("tmpfs", dir.path(), "tmpfs", rustix::mount::MountFlags::empty(), c"size=256k")
        .unwrap_or_else(|e| panic!("mounting a small tmpfs (tests run as root): {e}"));
    let fs = SmallFs { dir };
    let big = vec![7u8; 1024 * 1024];
    let l = layer(&[E::File("small", b"ok", 0o644), E::File("big", &big, 0o644)]);
    match unpack_layer(&l[..], fs.dir.path(), &opts()) {
        Err(e @ UnpackError::NoSpace { .. }) => {
            assert_eq!(e.to_string(), "entry big: no space left on device")
        }
        other => panic!("{other:?}"),
    }
}
