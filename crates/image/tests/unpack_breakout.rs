//! Breakout corpus: layers that try to create, change or delete something outside the unpack
//! destination (ported in spirit from moby's and containerd's archive tests and the CVEs they pin).
//! Each case asserts that the `victim/` directory beside `dest/` is unchanged and that the unpack
//! either fails or stays inside `dest`.

mod unpack_common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use skiff_image::unpack::{UnpackError, WhiteoutMode};
use unpack_common::{layer, Sandbox, E};

/// Runs the layers in both whiteout modes; checks the outside is untouched; returns the Apply run.
fn run(layers: &[Vec<u8>]) -> (Sandbox, Result<(), UnpackError>) {
    let overlay = Sandbox::new();
    let before = overlay.outside();
    let _ = overlay.apply(layers, WhiteoutMode::Overlay);
    assert_eq!(overlay.outside(), before, "overlay mode changed the outside");

    let sb = Sandbox::new();
    let before = sb.outside();
    let res = sb.apply(layers, WhiteoutMode::Apply).map(|_| ());
    assert_eq!(sb.outside(), before, "apply mode changed the outside");
    (sb, res)
}

#[test]
fn cve_2014_6407_symlink_loophole() {
    let (sb, _) = run(&[layer(&[
        E::Symlink("loophole", "../victim"),
        E::File("loophole/file", b"pwned", 0o644),
        E::File("loophole/new", b"pwned", 0o644),
    ])]);
    assert!(!sb.victim.join("new").exists());
}

#[test]
fn cve_2014_6407_symlink_loophole_from_earlier_layer() {
    let (sb, _) = run(&[
        layer(&[E::Symlink("loophole", "../victim")]),
        layer(&[E::File("loophole/file", b"pwned", 0o644), E::Dir("loophole/dir/", 0o777)]),
    ]);
    assert!(std::fs::symlink_metadata(sb.dest.join("loophole")).unwrap().file_type().is_symlink());
}

#[test]
fn cve_2014_6407_hardlink_loophole() {
    let (_, res) = run(&[layer(&[E::Hardlink("loophole", "../victim/file"), E::File("loophole", b"pwned", 0o644)])]);
    assert!(matches!(res, Err(UnpackError::InvalidHardlinkTarget { .. })), "{res:?}");
}

#[test]
fn cve_2014_6407_hardlink_to_symlink_loophole() {
    let (sb, _) = run(&[layer(&[
        E::Symlink("sym", "../victim"),
        E::Hardlink("hl", "sym"),
        E::File("hl/file", b"pwned", 0o644),
        E::File("hl/new", b"pwned", 0o644),
    ])]);
    // The hardlink is a link to the symlink itself, not to what it points at.
    if let Ok(md) = std::fs::symlink_metadata(sb.dest.join("hl")) {
        assert!(md.file_type().is_symlink());
    }
}

#[test]
fn cve_2014_9356_absolute_symlink_stays_in_root() {
    assert!(!std::path::Path::new("/etc/unbroken").exists());
    let (sb, res) = run(&[layer(&[
        E::Dir("etc/", 0o755),
        E::Symlink("localetc", "/etc"),
        E::File("localetc/unbroken", b"inside", 0o644),
    ])]);
    res.unwrap();
    assert_eq!(std::fs::read(sb.dest.join("etc/unbroken")).unwrap(), b"inside");
    assert!(!std::path::Path::new("/etc/unbroken").exists());
}

#[test]
fn cve_2014_9356_absolute_symlink_to_victim_path() {
    let sb_probe = Sandbox::new();
    // An absolute link naming the real victim directory of the run below cannot be known in
    // advance, so point at this probe's victim: resolved inside the root it must miss it.
    let target = sb_probe.victim.to_str().unwrap().to_string();
    let before = sb_probe.outside();
    let l = layer(&[E::Symlink("abs", &target), E::File("abs/file", b"pwned", 0o644), E::Dir("abs/dir/", 0o777)]);
    let sb = Sandbox::new();
    let _ = sb.apply(std::slice::from_ref(&l), WhiteoutMode::Apply);
    assert_eq!(sb_probe.outside(), before);
    // Same with the victim directory existing inside the root: the write lands there.
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.dest.join(target.trim_start_matches('/'))).unwrap();
    sb.apply(&[l], WhiteoutMode::Apply).unwrap();
    assert_eq!(std::fs::read(sb.dest.join(target.trim_start_matches('/')).join("file")).unwrap(), b"pwned");
    assert_eq!(sb_probe.outside(), before);
}

#[test]
fn moby_invalid_filenames_dotdot() {
    for name in ["../victim/file", "/../victim/file", "a/../../victim/file", "../x"] {
        let (sb, res) = run(&[layer(&[E::File(name, b"pwned", 0o644)])]);
        match res {
            Err(UnpackError::InvalidName { name: n }) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
        assert!(!sb.tmp.path().join("x").exists());
        let msg = sb.apply(&[layer(&[E::File(name, b"pwned", 0o644)])], WhiteoutMode::Apply).unwrap_err().to_string();
        assert!(msg.starts_with("invalid entry name"), "{msg}");
    }
}

#[test]
fn absolute_names_are_stripped_into_root() {
    let (sb, res) = run(&[layer(&[E::File("/abs/file", b"inside", 0o644)])]);
    res.unwrap();
    assert_eq!(std::fs::read(sb.dest.join("abs/file")).unwrap(), b"inside");
}

#[test]
fn moby_invalid_hardlink_to_host_passwd() {
    for target in ["../../etc/passwd", "/../../../etc/passwd", "../victim/file"] {
        let (_, res) = run(&[layer(&[E::Hardlink("passwd", target)])]);
        match res {
            Err(e @ UnpackError::InvalidHardlinkTarget { .. }) => {
                assert!(e.to_string().contains("invalid hardlink target"), "{e}")
            }
            other => panic!("{target}: {other:?}"),
        }
    }
}

#[test]
fn absolute_hardlink_target_stays_in_root() {
    // `/etc/passwd` means the root's etc/passwd: it does not exist there, so linking fails.
    let (sb, res) = run(&[layer(&[E::Hardlink("passwd", "/etc/passwd")])]);
    assert!(res.is_err());
    assert!(!sb.dest.join("passwd").exists());
}

#[test]
fn cve_2021_32760_chmod_through_symlink() {
    let (sb, _) = run(&[layer(&[E::Symlink("link", "../victim/file"), E::File("link", b"replaced", 0o4777)])]);
    let md = std::fs::symlink_metadata(sb.dest.join("link")).unwrap();
    assert!(md.is_file());
    assert_eq!(md.mode() & 0o7777, 0o4777);

    // Directory entry over the symlink, and over a symlink to a directory.
    let (_, res) = run(&[layer(&[E::Symlink("link", "../victim/file"), E::Dir("link/", 0o4777)])]);
    res.unwrap();
    let (_, res) = run(&[layer(&[E::Symlink("link", "../victim"), E::Dir("link", 0o777)])]);
    res.unwrap();
    // Across layers, with a fifo and a hardlink entry at the symlink's name.
    let (sb, res) = run(&[
        layer(&[E::Symlink("link", "/victim/file"), E::Symlink("l2", "../victim/file")]),
        layer(&[E::Fifo("link", 0o4777), E::Hardlink("l2", "link")]),
    ]);
    res.unwrap();
    let md = std::fs::symlink_metadata(sb.dest.join("l2")).unwrap();
    assert!(md.file_type().is_fifo() && md.mode() & 0o7777 == 0o4777);
}

#[test]
fn containerd_whiteout_parent_and_current_directory_rejected() {
    for name in [".wh.", ".wh..", ".wh...", "etc/.wh..", "etc/.wh...", "victim/.wh.."] {
        let (sb, res) = run(&[
            layer(&[E::Dir("etc/", 0o755), E::File("etc/keep", b"k", 0o644)]),
            layer(&[E::File(name, b"", 0o644)]),
        ]);
        match res {
            Err(e @ UnpackError::InvalidWhiteout { .. }) => {
                assert!(e.to_string().contains(name.trim_end_matches('/')), "{e}")
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(sb.dest.join("etc/keep").exists(), "{name}");
    }
}

#[test]
fn containerd_whiteout_through_symlink_dir() {
    let (sb, res) = run(&[
        layer(&[E::Symlink("link", "../victim")]),
        layer(&[E::File("link/.wh.file", b"", 0o644), E::File("link/.wh.dir", b"", 0o644)]),
    ]);
    res.unwrap();
    assert!(sb.victim.join("file").exists());

    // Absolute symlink to the victim's real path: resolved inside the root.
    let sb = Sandbox::new();
    let before = sb.outside();
    let target = sb.victim.to_str().unwrap().to_string();
    sb.apply(
        &[
            layer(&[E::Symlink("link", &target)]),
            layer(&[E::File("link/.wh.file", b"", 0o644), E::File("link/.wh..wh..opq", b"", 0o644)]),
        ],
        WhiteoutMode::Apply,
    )
    .unwrap();
    assert_eq!(sb.outside(), before);
}

#[test]
fn containerd_whiteout_of_symlink_removes_only_the_symlink() {
    let (sb, res) = run(&[
        layer(&[E::Symlink("localvictim", "../victim"), E::Symlink("abs", "/etc")]),
        layer(&[E::File(".wh.localvictim", b"", 0o644), E::File(".wh.abs", b"", 0o644)]),
    ]);
    res.unwrap();
    assert!(std::fs::symlink_metadata(sb.dest.join("localvictim")).is_err());
    assert!(std::fs::symlink_metadata(sb.dest.join("abs")).is_err());
    assert!(std::path::Path::new("/etc/passwd").exists());
}

#[test]
fn containerd_directory_override_symlink() {
    let (sb, res) = run(&[layer(&[
        E::Symlink("link", "../victim"),
        E::Dir("link/", 0o700),
        E::File("link/file", b"inside", 0o644),
    ])]);
    res.unwrap();
    let md = std::fs::symlink_metadata(sb.dest.join("link")).unwrap();
    assert!(md.is_dir());
    assert_eq!(md.mode() & 0o7777, 0o700);
    assert_eq!(std::fs::read(sb.dest.join("link/file")).unwrap(), b"inside");
}

#[test]
fn tar_rs_238_symlink_to_parent_then_nested_write() {
    let (sb, res) = run(&[layer(&[E::Symlink("symlink", ".."), E::File("symlink/exploit/foo/bar", b"pwned", 0o644)])]);
    // `..` of the root is the root: whatever was written is inside dest.
    if res.is_ok() {
        assert!(sb.dest.join("exploit/foo/bar").exists());
    }
    assert!(!sb.tmp.path().join("exploit").exists());
}

#[test]
fn moby_malicious_symlink_chain() {
    let (sb, _) = run(&[layer(&[
        E::Symlink("a", "b"),
        E::Symlink("b", "../../../victim"),
        E::File("a/file", b"pwned", 0o644),
        E::Symlink("c", "/../../victim/dir"),
        E::Dir("c/sub/", 0o755),
    ])]);
    assert!(!sb.victim.join("dir/sub").exists());
}
