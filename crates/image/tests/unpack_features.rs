//! Unpacking the real `features:1.0` image (made by `docker build` + `docker save`) and comparing
//! the result with `docker export` of a container made from it.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use skiff_image::tarstream::TarStream;
use skiff_image::unpack::{unpack_layer, UnpackOptions, WhiteoutMode};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// The layer tars of a docker-archive, in manifest order.
fn docker_archive_layers(archive: &Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(archive).unwrap();
    let mut ts = TarStream::new(std::io::BufReader::new(f));
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    while let Some(mut e) = ts.next_entry().unwrap() {
        let p = e.display_path();
        if p == "manifest.json" || p.ends_with("/layer.tar") {
            let mut buf = Vec::new();
            e.read_to_end(&mut buf).unwrap();
            files.insert(p, buf);
        }
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    manifest[0]["Layers"].as_array().unwrap().iter().map(|l| files[l.as_str().unwrap()].clone()).collect()
}

/// Walks `root` the way `docker export` lists it (each directory's names in byte order, parents
/// before children) and describes every entry in the encoding of `facts/features.rootfs.json`.
fn describe(root: &Path) -> Vec<Value> {
    fn walk(root: &Path, dir: &Path, seen: &mut HashMap<(u64, u64), String>, out: &mut Vec<Value>) {
        let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let p = dir.join(&name);
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let ft = md.file_type();
            let mut v = json!({
                "path": rel,
                "type": "",
                "mode": format!("0o{:o}", md.mode()),
                "uid": md.uid(),
                "gid": md.gid(),
            });
            if ft.is_dir() {
                v["type"] = json!("dir");
                out.push(v);
                walk(root, &p, seen, out);
                continue;
            }
            if ft.is_symlink() {
                v["type"] = json!("symlink");
                let target = std::fs::read_link(&p).unwrap();
                v["link"] = json!(target.to_str().unwrap());
            } else if ft.is_fifo() {
                v["type"] = json!("fifo");
            } else if ft.is_file() {
                let key = (md.dev(), md.ino());
                if md.nlink() > 1 {
                    if let Some(first) = seen.get(&key) {
                        v["type"] = json!("hardlink");
                        v["link"] = json!(first);
                        out.push(v);
                        continue;
                    }
                    seen.insert(key, rel.clone());
                }
                v["type"] = json!("file");
                let data = std::fs::read(&p).unwrap();
                v["size"] = json!(data.len());
                v["sha256"] = json!(hex::encode(Sha256::digest(&data)));
            } else {
                v["type"] = json!("other");
            }
            out.push(v);
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut HashMap::new(), &mut out);
    out
}

/// Entries Docker adds to every container itself (its init layer), not found in any image layer.
/// FIXTURES.md lists all but `etc` and `etc/mtab`, which the init layer also creates
/// (`etc/mtab -> /proc/mounts`); the busybox base layer has no `etc` at all.
const RUNTIME_ENTRIES: &[&str] = &[
    ".dockerenv",
    "etc",
    "etc/hostname",
    "etc/hosts",
    "etc/mtab",
    "etc/resolv.conf",
    "dev",
    "dev/console",
    "dev/pts",
    "dev/shm",
    "proc",
    "sys",
];

#[test]
fn features_image_matches_docker_export() {
    let layers = docker_archive_layers(&fixtures().join("features.docker.tar"));
    assert_eq!(layers.len(), 4);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("rootfs");
    std::fs::create_dir(&root).unwrap();
    let opts = UnpackOptions { whiteouts: WhiteoutMode::Apply, max_bytes: None, preserve_owner: true };
    for layer in &layers {
        unpack_layer(&layer[..], &root, &opts).unwrap();
    }

    let facts: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("facts/features.rootfs.json")).unwrap()).unwrap();
    let expected: Vec<Value> = facts
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !RUNTIME_ENTRIES.contains(&e["path"].as_str().unwrap()))
        .cloned()
        .collect();
    let got = describe(&root);

    let by_path = |v: &[Value]| -> BTreeMap<String, Value> {
        v.iter().map(|e| (e["path"].as_str().unwrap().to_string(), e.clone())).collect()
    };
    let (want_map, got_map) = (by_path(&expected), by_path(&got));
    for (p, w) in &want_map {
        assert_eq!(got_map.get(p), Some(w), "entry {p}");
    }
    for p in got_map.keys() {
        assert!(want_map.contains_key(p), "unexpected entry {p}");
    }
    // Same walk order too.
    assert_eq!(got, expected);
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
