//! Helpers shared by the archive tests: fixtures, temporary stores, and re-packing tars.
#![allow(dead_code, unused_imports)]

use skiff_image::archive::{load, LoadOptions, LoadReport};
use skiff_image::Store;
use std::io::Read;

pub use skiff_testutil::store::new_store;
pub use skiff_testutil::{fixture, gzip, sha256_hex};

pub fn facts_diff_ids(image: &str) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture(&format!("facts/inspect-{image}.json"))).unwrap()).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    v["RootFS"]["Layers"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect()
}

pub const FEATURES_ID: &str = "sha256:af2583f835cab710c5ce30fa9ffb68605b8db6ea7af672a8dfd94cbb4ef5ccdb";
pub const BUSYBOX_ID: &str = "sha256:b8fec42fe388bb1127f7a3df258520d7f5475fa3121aafc38401edae7ff3e520";
pub const EMPTY_ID: &str = "sha256:8919065eb311ff8468904904cbe29673e0b502b8f9d996c5cc5e57e926b177fd";
/// The config Podman and skopeo wrote into their OCI layouts (they re-serialise Docker's config).
pub const FEATURES_OCI_ID: &str = "sha256:fb84537b627092374e58f41d2ccd3a0a5a41b34cd950f4924714bcfb5b714ed8";

pub fn load_bytes(store: &Store, name: &str, data: &[u8]) -> Result<LoadReport, skiff_image::archive::ArchiveError> {
    let mut r: &[u8] = data;
    load(store, &mut r, &LoadOptions::new(name), &mut |_| {})
}

pub fn load_fixture(store: &Store, name: &str) -> LoadReport {
    let mut f = std::fs::File::open(fixture(name)).unwrap();
    load(store, &mut f, &LoadOptions::new(name), &mut |_| {}).unwrap()
}

/// Names of the files under the store's blob directory.
pub fn blob_files(store: &Store) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(store.blobs().dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// One entry of a tar, read with the `tar` crate (fixtures are trusted).
#[derive(Clone, Debug)]
pub struct Entry {
    pub path: String,
    pub kind: tar::EntryType,
    pub link: Option<String>,
    pub data: Vec<u8>,
    pub mode: u32,
    pub mtime: u64,
    pub uid: u64,
}

pub fn read_tar(data: &[u8]) -> Vec<Entry> {
    let mut ar = tar::Archive::new(data);
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).unwrap();
        out.push(Entry {
            path: e.path().unwrap().to_string_lossy().into_owned(),
            kind: e.header().entry_type(),
            link: e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned()),
            data: buf,
            mode: e.header().mode().unwrap(),
            mtime: e.header().mtime().unwrap(),
            uid: e.header().uid().unwrap(),
        });
    }
    out
}

pub fn read_fixture_tar(name: &str) -> Vec<Entry> {
    read_tar(&std::fs::read(fixture(name)).unwrap())
}

/// Builds a tar from entries (regular files, directories and symlinks).
pub fn write_tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(e.kind);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_size(if e.kind == tar::EntryType::Regular { e.data.len() as u64 } else { 0 });
        if let Some(l) = &e.link {
            b.append_link(&mut h, &e.path, l).unwrap();
        } else {
            b.append_data(&mut h, &e.path, &e.data[..]).unwrap();
        }
    }
    b.into_inner().unwrap()
}

pub fn file(path: &str, data: impl Into<Vec<u8>>) -> Entry {
    Entry {
        path: path.into(),
        kind: tar::EntryType::Regular,
        link: None,
        data: data.into(),
        mode: 0o644,
        mtime: 0,
        uid: 0,
    }
}

pub fn symlink(path: &str, target: &str) -> Entry {
    Entry {
        path: path.into(),
        kind: tar::EntryType::Symlink,
        link: Some(target.into()),
        data: Vec::new(),
        mode: 0o777,
        mtime: 0,
        uid: 0,
    }
}

pub fn hardlink(path: &str, target: &str) -> Entry {
    Entry { kind: tar::EntryType::Link, ..symlink(path, target) }
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut x = liblzma::write::XzEncoder::new(Vec::new(), 1);
    x.write_all(data).unwrap();
    x.finish().unwrap()
}

/// The legacy docker-archive fixture's pieces: (config bytes, layers in manifest order, manifest item).
pub fn legacy_parts(name: &str) -> (Vec<u8>, Vec<Vec<u8>>, serde_json::Value) {
    let entries = read_fixture_tar(name);
    let get = |p: &str| entries.iter().find(|e| e.path == p).unwrap_or_else(|| panic!("{p} in {name}")).clone();
    let manifest: serde_json::Value = serde_json::from_slice(&get("manifest.json").data).unwrap();
    let item = manifest[0].clone();
    let config = get(item["Config"].as_str().unwrap()).data;
    let layers = item["Layers"].as_array().unwrap().iter().map(|l| get(l.as_str().unwrap()).data).collect();
    (config, layers, item)
}
