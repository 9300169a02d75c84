//! Layers unpack on first use in overlay format, and an overlay mount of them shows the image's tree.

use skiff_image::archive::{load, LoadOptions};
use skiff_image::Store;
use skiff_testutil::fixture;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

#[test]
fn features_layers_unpack_once_and_overlay_mount_shows_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root")).unwrap();
    let mut f = std::fs::File::open(fixture("features.docker.tar")).unwrap();
    let report = load(&store, &mut f, &LoadOptions::new("features.docker.tar"), &mut |_| {}).unwrap();
    let id = report.images[0].id.clone();
    let dirs = store.unpacked_layers(&id).unwrap();
    assert_eq!(dirs.len(), 4);
    // Layer 3 (the second RUN) removed /del-me: an overlay whiteout, a 0:0 character device.
    let wh = std::fs::symlink_metadata(dirs[2].join("del-me")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    // Idempotent: a second call unpacks nothing new and gives the same directories.
    let inode = std::fs::metadata(&dirs[0]).unwrap().ino();
    assert_eq!(store.unpacked_layers(&id).unwrap(), dirs);
    assert_eq!(std::fs::metadata(&dirs[0]).unwrap().ino(), inode);
    assert!(store.check(false).unwrap().is_consistent());
    // Mount the layers as overlayfs lowers (top first) and look at the merged tree.
    let mnt = dir.path().join("merged");
    std::fs::create_dir(&mnt).unwrap();
    let lower: Vec<String> = dirs.iter().rev().map(|d| d.display().to_string()).collect();
    let st = std::process::Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &format!("lowerdir={}", lower.join(":"))])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(st.success(), "overlay mount needs root and overlayfs (CI is root)");
    let merged = || {
        assert!(!mnt.join("del-me").exists());
        assert!(!mnt.join("data/gone").exists());
        assert_eq!(std::fs::read_to_string(mnt.join("hl-dst")).unwrap(), "hl\n");
        let opq: Vec<String> = std::fs::read_dir(mnt.join("opq"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(opq, vec!["z"]);
        assert_eq!(std::fs::read_to_string(mnt.join("release")).unwrap(), "KatacodaPrivateBuild\n");
    };
    let result = std::panic::catch_unwind(merged);
    std::process::Command::new("umount").arg(&mnt).status().unwrap();
    result.unwrap();
    // Removing the image removes its unpacked layers too.
    store.remove(&id.to_string(), true).unwrap();
    assert!(dirs.iter().all(|d| !d.exists()));
}
