//! What an unpacked layer keeps: owners, modes with setuid/setgid/sticky, device nodes, fifos,
//! hardlinks, xattrs, mtimes (directories' after their children), and opaque/whiteout semantics
//! across layers.

mod unpack_common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use skiff_image::unpack::{unpack_layer, UnpackOptions, WhiteoutMode};
use unpack_common::{layer, raw_header, Sandbox, E};

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body_len = 1 + key.len() + 1 + value.len() + 1;
    let mut len = body_len + 1;
    while format!("{len}").len() + body_len != len {
        len += 1;
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

fn apply_opts() -> UnpackOptions {
    UnpackOptions { whiteouts: WhiteoutMode::Apply, max_bytes: None, preserve_owner: true }
}

#[test]
fn keeps_owners_modes_devices_xattrs_and_mtimes() {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |mut h: tar::Header, uid: u64, gid: u64, mtime: u64, data: &[u8]| {
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    add(raw_header(b"d/", tar::EntryType::Directory, b"", 0o2755, 0), 0, 50, 1000, b"");
    add(raw_header(b"d/suid", tar::EntryType::Regular, b"", 0o4755, 3), 1234, 5678, 2000, b"abc");
    add(raw_header(b"tmp/", tar::EntryType::Directory, b"", 0o1777, 0), 0, 0, 3000, b"");
    let mut null = raw_header(b"d/null", tar::EntryType::Char, b"", 0o666, 0);
    null.set_device_major(1).unwrap();
    null.set_device_minor(3).unwrap();
    add(null, 0, 0, 4000, b"");
    let mut loop0 = raw_header(b"d/loop0", tar::EntryType::Block, b"", 0o660, 0);
    loop0.set_device_major(7).unwrap();
    loop0.set_device_minor(0).unwrap();
    add(loop0, 0, 6, 4000, b"");
    add(raw_header(b"d/fifo", tar::EntryType::Fifo, b"", 0o640, 0), 7, 8, 4000, b"");
    add(raw_header(b"d/sym", tar::EntryType::Symlink, b"suid", 0o777, 0), 9, 10, 5000, b"");
    add(raw_header(b"d/hl", tar::EntryType::Link, b"d/suid", 0o4755, 0), 1234, 5678, 2000, b"");
    // PAX xattrs (a file capability and a user xattr) and a sub-second mtime.
    let mut recs = pax_record("SCHILY.xattr.user.skiff", b"value");
    recs.extend(pax_record("SCHILY.xattr.security.capability", &cap_net_bind()));
    recs.extend(pax_record("SCHILY.xattr.trusted.overlay.opaque", b"y"));
    recs.extend(pax_record("mtime", b"6000.5"));
    add(raw_header(b"PaxHeaders/x", tar::EntryType::XHeader, b"", 0o644, recs.len() as u64), 0, 0, 0, &recs);
    add(raw_header(b"d/cap", tar::EntryType::Regular, b"", 0o750, 2), 0, 0, 0, b"hi");
    // The root entry sets the destination's own mode.
    add(raw_header(b"./", tar::EntryType::Directory, b"", 0o755, 0), 0, 0, 7000, b"");
    let data = b.into_inner().unwrap();

    let sb = Sandbox::new();
    std::fs::set_permissions(&sb.dest, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let stats = unpack_layer(&data[..], &sb.dest, &apply_opts()).unwrap();
    assert_eq!(stats.bytes, 5);
    assert_eq!(stats.entries, 10);

    let md = |p: &str| std::fs::symlink_metadata(sb.dest.join(p)).unwrap();
    let d = md("d");
    assert_eq!((d.mode() & 0o7777, d.uid(), d.gid(), d.mtime()), (0o2755, 0, 50, 1000));
    let suid = md("d/suid");
    assert_eq!((suid.mode() & 0o7777, suid.uid(), suid.gid()), (0o4755, 1234, 5678));
    assert_eq!((suid.mtime(), suid.nlink()), (2000, 2));
    assert_eq!(md("d/hl").ino(), suid.ino());
    assert_eq!(md("tmp").mode() & 0o7777, 0o1777);
    let null = md("d/null");
    assert!(null.file_type().is_char_device());
    assert_eq!((null.rdev(), null.mode() & 0o7777), (rustix::fs::makedev(1, 3), 0o666));
    let loop0 = md("d/loop0");
    assert!(loop0.file_type().is_block_device());
    assert_eq!((loop0.rdev(), loop0.gid()), (rustix::fs::makedev(7, 0), 6));
    let fifo = md("d/fifo");
    assert!(fifo.file_type().is_fifo());
    assert_eq!((fifo.mode() & 0o7777, fifo.uid(), fifo.gid()), (0o640, 7, 8));
    let sym = md("d/sym");
    assert!(sym.file_type().is_symlink());
    assert_eq!((sym.uid(), sym.gid(), sym.mtime()), (9, 10, 5000));
    let cap = md("d/cap");
    assert_eq!((cap.mode() & 0o7777, cap.mtime(), cap.mtime_nsec()), (0o750, 6000, 500_000_000));
    let x = |name: &str| getxattr(&sb.dest.join("d/cap"), name);
    assert_eq!(x("user.skiff").as_deref(), Some(&b"value"[..]));
    assert_eq!(x("security.capability"), Some(cap_net_bind()));
    // overlayfs's own xattrs are never taken from a layer.
    assert_eq!(x("trusted.overlay.opaque"), None);
    let root = std::fs::metadata(&sb.dest).unwrap();
    assert_eq!((root.mode() & 0o7777, root.mtime()), (0o755, 7000));
}

/// `security.capability` v2 granting cap_net_bind_service (bit 10), permitted + effective.
fn cap_net_bind() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0x0200_0001u32.to_le_bytes()); // VFS_CAP_REVISION_2 | EFFECTIVE
    v.extend_from_slice(&(1u32 << 10).to_le_bytes()); // permitted[0]
    v.extend_from_slice(&0u32.to_le_bytes()); // inheritable[0]
    v.extend_from_slice(&0u32.to_le_bytes()); // permitted[1]
    v.extend_from_slice(&0u32.to_le_bytes()); // inheritable[1]
    v
}

fn getxattr(path: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    match rustix::fs::lgetxattr(path, name, &mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(rustix::io::Errno::NODATA) => None,
        Err(e) => panic!("getxattr {}: {e}", path.display()),
    }
}

#[test]
fn opaque_marker_applies_before_the_layers_own_entries_in_any_order() {
    let sb = Sandbox::new();
    let lower = layer(&[
        E::Dir("o/", 0o755),
        E::File("o/old", b"1", 0o644),
        E::Dir("o/sub/", 0o755),
        E::File("o/sub/old", b"1", 0o644),
        E::File("o/keep-name", b"lower", 0o644),
        E::File("other", b"1", 0o644),
    ]);
    // The marker comes after entries of the same layer in the same directory.
    let upper = layer(&[
        E::Dir("o/", 0o755),
        E::File("o/new", b"2", 0o644),
        E::File("o/sub/new", b"2", 0o644),
        E::File("o/keep-name", b"upper", 0o644),
        E::File("o/.wh..wh..opq", b"", 0o644),
        E::File("o/late", b"3", 0o644),
    ]);
    sb.apply(&[lower, upper], WhiteoutMode::Apply).unwrap();
    let mut names: Vec<String> = walk(&sb.dest.join("o"));
    names.sort();
    assert_eq!(names, ["keep-name", "late", "new", "sub", "sub/new"]);
    assert_eq!(std::fs::read(sb.dest.join("o/keep-name")).unwrap(), b"upper");
    assert!(sb.dest.join("other").exists());
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if e.file_type().unwrap().is_dir() {
            for c in walk(&e.path()) {
                out.push(format!("{name}/{c}"));
            }
        }
        out.push(name);
    }
    out
}

#[test]
fn whiteouts_delete_lower_entries_recursively_but_not_this_layers() {
    let sb = Sandbox::new();
    let lower = layer(&[
        E::Dir("a/", 0o755),
        E::Dir("a/b/", 0o755),
        E::File("a/b/c", b"1", 0o644),
        E::File("f", b"1", 0o644),
        E::File("same", b"lower", 0o644),
    ]);
    let upper = layer(&[
        E::File(".wh.a", b"", 0o644),
        E::File(".wh.f", b"", 0o644),
        E::File(".wh.missing", b"", 0o644),
        E::File("same", b"upper", 0o644),
        E::File(".wh.same", b"", 0o644),
        E::File(".wh..wh.plnk", b"", 0o644),
        E::Dir(".wh..wh.plnk/", 0o700),
        E::File(".wh..wh.plnk/1234.5678", b"aufs", 0o644),
    ]);
    sb.apply(&[lower, upper], WhiteoutMode::Apply).unwrap();
    let mut names = walk(&sb.dest);
    names.sort();
    assert_eq!(names, ["same"]);
    assert_eq!(std::fs::read(sb.dest.join("same")).unwrap(), b"upper");
}

#[test]
fn replacing_entries() {
    let sb = Sandbox::new();
    let lower = layer(&[
        E::File("file-to-dir", b"1", 0o644),
        E::Dir("dir-to-file/", 0o755),
        E::File("dir-to-file/child", b"1", 0o644),
        E::Dir("dir-stays/", 0o700),
        E::File("dir-stays/child", b"1", 0o644),
        E::File("shared", b"lower", 0o644),
        E::Hardlink("shared-link", "shared"),
    ]);
    let upper = layer(&[
        E::Dir("file-to-dir/", 0o755),
        E::File("dir-to-file", b"now a file", 0o644),
        E::Dir("dir-stays/", 0o751),
        // Rewriting one name of a hardlinked file must not change the other.
        E::File("shared", b"upper", 0o644),
    ]);
    sb.apply(&[lower, upper], WhiteoutMode::Apply).unwrap();
    assert!(sb.dest.join("file-to-dir").is_dir());
    assert_eq!(std::fs::read(sb.dest.join("dir-to-file")).unwrap(), b"now a file");
    let stays = std::fs::metadata(sb.dest.join("dir-stays")).unwrap();
    assert_eq!(stays.mode() & 0o7777, 0o751);
    assert!(sb.dest.join("dir-stays/child").exists());
    assert_eq!(std::fs::read(sb.dest.join("shared")).unwrap(), b"upper");
    assert_eq!(std::fs::read(sb.dest.join("shared-link")).unwrap(), b"lower");
}

#[test]
fn missing_parents_are_created_0755() {
    let sb = Sandbox::new();
    sb.apply(&[layer(&[E::File("x/y/z/file", b"1", 0o600)])], WhiteoutMode::Apply).unwrap();
    for d in ["x", "x/y", "x/y/z"] {
        assert_eq!(std::fs::metadata(sb.dest.join(d)).unwrap().mode() & 0o7777, 0o755, "{d}");
    }
}

#[test]
fn non_root_owner_not_preserved_when_asked() {
    let sb = Sandbox::new();
    let mut h = raw_header(b"f", tar::EntryType::Regular, b"", 0o644, 1);
    h.set_uid(4321);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"x"[..]).unwrap();
    let opts = UnpackOptions { preserve_owner: false, ..apply_opts() };
    unpack_layer(&b.into_inner().unwrap()[..], &sb.dest, &opts).unwrap();
    assert_eq!(std::fs::metadata(sb.dest.join("f")).unwrap().uid(), rustix::process::geteuid().as_raw());
}
