//! Shared by the tests that hold an image's root filesystem to `docker export` of Docker's own
//! `features:1.0` (facts/features.rootfs.json): the loader's, and the builder's (crates/skiff).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::{json, Value};
use skiff_image::tarstream::TarStream;
use skiff_image::unpack::{unpack_layer, UnpackOptions, WhiteoutMode};

pub use skiff_testutil::fixtures;

/// The layer tars of a docker-archive, in manifest order.
pub fn docker_archive_layers(archive: &Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(archive).unwrap();
    let mut ts = TarStream::new(std::io::BufReader::new(f));
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    while let Some(mut e) = ts.next_entry().unwrap() {
        let p = e.display_path();
        if let Some(target) = e.link_name() {
            // `<v1id>/layer.tar -> ../blobs/sha256/<diffid>`: one copy of the bytes.
            let base = Path::new(&p).parent().unwrap_or(Path::new(""));
            let mut parts: Vec<String> = Vec::new();
            for c in base.join(target).components() {
                match c {
                    std::path::Component::ParentDir => {
                        parts.pop();
                    }
                    std::path::Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
                    _ => {}
                }
            }
            links.insert(p, parts.join("/"));
        } else if p == "manifest.json" || p.ends_with("/layer.tar") || p.starts_with("blobs/") {
            let mut buf = Vec::new();
            e.read_to_end(&mut buf).unwrap();
            files.insert(p, buf);
        }
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let l = l.as_str().unwrap();
            let real = links.get(l).map(String::as_str).unwrap_or(l);
            files[real].clone()
        })
        .collect()
}

/// Walks `root` the way `docker export` lists it (each directory's names in byte order, parents
/// before children) and describes every entry in the encoding of `facts/features.rootfs.json`.
pub fn describe(root: &Path) -> Vec<Value> {
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
                v["sha256"] = json!(skiff_testutil::sha256_hex(&data));
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
pub const RUNTIME_ENTRIES: &[&str] = &[
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

/// Applies the layers of the docker-archive at `archive` and asserts the tree equals Docker's export.
pub fn assert_archive_matches_docker_export(archive: &Path) {
    let layers = docker_archive_layers(archive);
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
