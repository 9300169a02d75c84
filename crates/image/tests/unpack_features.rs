//! Unpacking the real `features:1.0` image (made by `docker build` + `docker save`) and comparing
//! the result with `docker export` of a container made from it.

mod features_tree;

use features_tree::{docker_archive_layers, fixtures};
use skiff_image::unpack::{unpack_layer, UnpackOptions, WhiteoutMode};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

#[test]
fn features_image_matches_docker_export() {
    features_tree::assert_archive_matches_docker_export(&fixtures().join("features.docker.tar"));
}

#[test]
fn features_layer_as_overlay_lower_dir() {
    let layers = docker_archive_layers(&fixtures().join("features.docker.tar"));
    let tmp = tempfile::tempdir().unwrap();
    // The third layer removes /data/gone and /del-me and makes /opq opaque.
    let dir = tmp.path().join("layer3");
    std::fs::create_dir(&dir).unwrap();
    let opts = UnpackOptions { whiteouts: WhiteoutMode::Overlay, max_bytes: None, preserve_owner: true };
    let stats = unpack_layer(&layers[2][..], &dir, &opts).unwrap();
    assert!(stats.entries >= 10);

    for gone in ["data/gone", "del-me"] {
        let md = std::fs::symlink_metadata(dir.join(gone)).unwrap();
        assert!(md.file_type().is_char_device(), "{gone}");
        assert_eq!(md.rdev(), 0, "{gone}");
    }
    assert!(!dir.join("data/.wh.gone").exists());
    assert!(!dir.join(".wh.del-me").exists());
    assert!(std::fs::symlink_metadata(dir.join("opq/.wh..wh..opq")).is_err());
    let opaque = getxattr(&dir.join("opq"), "trusted.overlay.opaque");
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
    assert_eq!(getxattr(&dir.join("data"), "trusted.overlay.opaque"), None);
    assert_eq!(std::fs::read(dir.join("opq/z")).unwrap(), b"z\n");
    let fifo = std::fs::symlink_metadata(dir.join("fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o644);
}

fn getxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    match rustix::fs::lgetxattr(path, name, &mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(rustix::io::Errno::NODATA) => None,
        Err(e) => panic!("getxattr {}: {e}", path.display()),
    }
}
