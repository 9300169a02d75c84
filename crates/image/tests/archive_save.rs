//! `save`: the Docker 25 layout (OCI layout + manifest.json), oci-archive and OCI directories,
//! checked by walking the written layout and by loading it back.

mod archive_util;

use archive_util::*;
use skiff_image::archive::{save, save_items, SaveFormat, SaveItem};
use skiff_image::{Digest, Reference, Store};
use std::collections::HashMap;

fn saved(store: &Store, names: &[&str], format: SaveFormat) -> Vec<u8> {
    let items = save_items(store, &names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let mut out = Vec::new();
    save(store, &items, &format, &mut out, &mut |_| {}).unwrap();
    out
}

/// Walks the OCI layout of a saved tar as an OCI reader would, checking every blob against its name.
/// Returns (tag annotations, manifest digests) from index.json.
fn check_oci_layout(entries: &[Entry]) -> Vec<(Option<String>, Option<String>, String)> {
    let by_path: HashMap<&str, &Entry> = entries.iter().map(|e| (e.path.as_str(), e)).collect();
    assert_eq!(by_path["oci-layout"].data, br#"{"imageLayoutVersion": "1.0.0"}"#);
    for e in entries.iter().filter(|e| e.path.starts_with("blobs/sha256/") && e.kind == tar::EntryType::Regular) {
        assert_eq!(e.path, format!("blobs/sha256/{}", sha256_hex(&e.data)), "blob content must hash to its name");
    }
    let blob = |d: &str| &by_path[format!("blobs/sha256/{}", d.strip_prefix("sha256:").unwrap()).as_str()].data;
    let index: serde_json::Value = serde_json::from_slice(&by_path["index.json"].data).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let mut out = Vec::new();
    for d in index["manifests"].as_array().unwrap() {
        assert_eq!(d["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        let m_bytes = blob(d["digest"].as_str().unwrap());
        assert_eq!(d["size"].as_u64().unwrap(), m_bytes.len() as u64);
        let m: serde_json::Value = serde_json::from_slice(m_bytes).unwrap();
        assert_eq!(m["schemaVersion"], 2);
        assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(m["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
        let config = blob(m["config"]["digest"].as_str().unwrap());
        assert_eq!(m["config"]["size"].as_u64().unwrap(), config.len() as u64);
        let cfg: serde_json::Value = serde_json::from_slice(config).unwrap();
        let diff_ids = cfg["rootfs"]["diff_ids"].as_array().unwrap();
        let layers = m["layers"].as_array().unwrap();
        assert_eq!(layers.len(), diff_ids.len());
        for (l, diff) in layers.iter().zip(diff_ids) {
            assert_eq!(l["mediaType"], "application/vnd.oci.image.layer.v1.tar");
            assert_eq!(l["digest"], *diff, "uncompressed layers: digest == DiffID");
            assert_eq!(l["size"].as_u64().unwrap(), blob(l["digest"].as_str().unwrap()).len() as u64);
        }
        let ann = |k: &str| d["annotations"][k].as_str().map(str::to_string);
        out.push((
            ann("io.containerd.image.name"),
            ann("org.opencontainers.image.ref.name"),
            m["config"]["digest"].as_str().unwrap().to_string(),
        ));
    }
    out
}

#[test]
fn docker_archive_round_trip() {
    let (_d, store) = new_store();
    load_fixture(&store, "features.docker.tar");
    let tar = saved(&store, &["features:1.0"], SaveFormat::DockerArchive);
    let entries = read_tar(&tar);

    let index = check_oci_layout(&entries);
    assert_eq!(
        index,
        vec![(Some("docker.io/library/features:1.0".into()), Some("1.0".into()), FEATURES_ID.to_string())]
    );
    let get = |p: &str| entries.iter().find(|e| e.path == p).unwrap_or_else(|| panic!("{p}"));
    let diffs = facts_diff_ids("features_1.0");
    // The seeds' layout, file for file as Docker 20.10 wrote it for the same image: manifest.json,
    // repositories, the config as <id>.json, and <v1id>/{VERSION,json,layer.tar} with Docker's v1 IDs;
    // each layer.tar links to the layer's one copy under blobs/.
    let docker = read_tar(&std::fs::read(fixture("features.docker.tar")).unwrap());
    let docker_get = |p: &str| docker.iter().find(|e| e.path == p).unwrap_or_else(|| panic!("docker's {p}"));
    for name in ["manifest.json", "repositories", &format!("{}.json", &FEATURES_ID[7..])] {
        assert_eq!(
            String::from_utf8_lossy(&get(name).data),
            String::from_utf8_lossy(&docker_get(name).data),
            "{name} differs from Docker's"
        );
    }
    let manifest: serde_json::Value = serde_json::from_slice(&get("manifest.json").data).unwrap();
    for (i, layer) in manifest[0]["Layers"].as_array().unwrap().iter().enumerate() {
        let layer = layer.as_str().unwrap();
        let dir = layer.trim_end_matches("/layer.tar");
        assert_eq!(get(&format!("{dir}/VERSION")).data, b"1.0");
        assert_eq!(
            String::from_utf8_lossy(&get(&format!("{dir}/json")).data),
            String::from_utf8_lossy(&docker_get(&format!("{dir}/json")).data)
        );
        let link = get(layer);
        assert_eq!(link.kind, tar::EntryType::Symlink);
        assert_eq!(link.link.as_deref(), Some(format!("../blobs/sha256/{}", &diffs[i][7..]).as_str()));
    }
    // Ownership, modes and times as Docker writes them.
    let created = chrono::DateTime::parse_from_rfc3339("2026-11-24T01:30:00Z").unwrap().timestamp() as u64;
    for e in &entries {
        assert_eq!(e.uid, 0);
        match e.kind {
            tar::EntryType::Directory => assert_eq!(e.mode, 0o755, "{}", e.path),
            tar::EntryType::Symlink => assert_eq!(e.mode, 0o777, "{}", e.path),
            _ => assert_eq!(e.mode, 0o644, "{}", e.path),
        }
        if ["manifest.json", "repositories", "index.json", "oci-layout"].contains(&e.path.as_str()) {
            assert_eq!(e.mtime, 0, "{}", e.path);
        }
    }
    let layer0 = get(&format!("blobs/sha256/{}", &diffs[0][7..]));
    assert!(layer0.mtime >= created && layer0.mtime < created + 60, "layer blobs carry the image's created time");

    // Load it back into a fresh store.
    let (_d2, store2) = new_store();
    let r = load_bytes(&store2, "saved.tar", &tar).unwrap();
    assert_eq!(r.images[0].id.to_string(), FEATURES_ID);
    assert_eq!(r.messages(), vec!["Loaded image: features:1.0"]);
    let got: Vec<String> =
        store2.image_layers(&r.images[0].id).unwrap().iter().map(|l| l.diff_id.to_string()).collect();
    assert_eq!(got, diffs);
}

#[test]
fn multi_image_save_writes_shared_layer_once() {
    let (_d, store) = new_store();
    load_fixture(&store, "multi.docker.tar");
    let tar = saved(&store, &["features:1.0", "busybox"], SaveFormat::DockerArchive);
    let entries = read_tar(&tar);
    let busybox_layer = format!("blobs/sha256/{}", &facts_diff_ids("busybox_latest")[0][7..]);
    assert_eq!(entries.iter().filter(|e| e.path == busybox_layer).count(), 1);
    let index = check_oci_layout(&entries);
    assert_eq!(index.len(), 2);
    let manifest: serde_json::Value =
        serde_json::from_slice(&entries.iter().find(|e| e.path == "manifest.json").unwrap().data).unwrap();
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["features:1.0"]));
    assert_eq!(manifest[1]["RepoTags"], serde_json::json!(["busybox:latest"]));
    let (_d2, store2) = new_store();
    let r = load_bytes(&store2, "multi-saved.tar", &tar).unwrap();
    assert_eq!(r.messages(), vec!["Loaded image: features:1.0", "Loaded image: busybox:latest"]);
}

#[test]
fn save_by_id_has_no_tags() {
    let (_d, store) = new_store();
    load_fixture(&store, "busybox.docker.tar");
    let tar = saved(&store, &[&BUSYBOX_ID[7..19]], SaveFormat::DockerArchive);
    let entries = read_tar(&tar);
    assert!(!entries.iter().any(|e| e.path == "repositories"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&entries.iter().find(|e| e.path == "manifest.json").unwrap().data).unwrap();
    assert_eq!(manifest[0]["RepoTags"], serde_json::Value::Null);
    assert_eq!(check_oci_layout(&entries), vec![(None, None, BUSYBOX_ID.to_string())]);
    let (_d2, store2) = new_store();
    let r = load_bytes(&store2, "id.tar", &tar).unwrap();
    assert_eq!(r.messages(), vec![format!("Loaded image ID: {BUSYBOX_ID}")]);
}

#[test]
fn oci_archive_has_no_docker_files_and_loads_by_index() {
    let (_d, store) = new_store();
    load_fixture(&store, "features.docker.tar");
    let tar = saved(&store, &["features:1.0"], SaveFormat::OciArchive);
    let entries = read_tar(&tar);
    assert!(!entries.iter().any(|e| e.path == "manifest.json" || e.path == "repositories"));
    check_oci_layout(&entries);
    let (_d2, store2) = new_store();
    let r = load_bytes(&store2, "oci.tar", &tar).unwrap();
    assert_eq!(r.images[0].id.to_string(), FEATURES_ID, "the config bytes are kept");
    assert_eq!(r.messages(), vec!["Loaded image: features:1.0"]);
}

#[test]
fn oci_dir_is_written_and_a_non_empty_dir_refused() {
    let (_d, store) = new_store();
    load_fixture(&store, "busybox.docker.tar");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("layout");
    let items = vec![SaveItem {
        id: Digest::parse(BUSYBOX_ID).unwrap(),
        refs: vec![Reference::parse("busybox:latest").unwrap()],
    }];
    save(&store, &items, &SaveFormat::OciDir(dir.clone()), &mut std::io::sink(), &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(dir.join("oci-layout")).unwrap(), br#"{"imageLayoutVersion": "1.0.0"}"#);
    let layer = dir.join(format!("blobs/sha256/{}", &facts_diff_ids("busybox_latest")[0][7..]));
    assert_eq!(std::fs::read(&layer).unwrap(), std::fs::read(fixture("busybox-rootfs.tar")).unwrap());
    assert!(!dir.join("manifest.json").exists());
    let err = save(&store, &items, &SaveFormat::OciDir(dir.clone()), &mut std::io::sink(), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[test]
fn save_items_follows_dockers_name_rules() {
    let (_d, store) = new_store();
    load_fixture(&store, "multi.docker.tar");
    let id = Digest::parse(BUSYBOX_ID).unwrap();
    store.tag(&id, &Reference::parse("busybox:other").unwrap()).unwrap();
    let names = |v: &[&str]| save_items(&store, &v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    // A bare repository name saves all its tags.
    let items = names(&["busybox"]);
    assert_eq!(items.len(), 1);
    let mut refs: Vec<String> = items[0].refs.iter().map(|r| r.familiar()).collect();
    refs.sort();
    assert_eq!(refs, vec!["busybox:latest", "busybox:other"]);
    // A tag saves only that tag; an ID saves no tag; names of one image merge.
    let items = names(&["busybox:other", BUSYBOX_ID, "features:1.0"]);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].refs.iter().map(|r| r.familiar()).collect::<Vec<_>>(), vec!["busybox:other"]);
    assert_eq!(items[1].id.to_string(), FEATURES_ID);
    assert!(save_items(&store, &["nosuch:1".to_string()]).is_err());
}

/// A pulled image keeps its layers compressed (`LayerBlob::StagedCompressed`); `save` writes
/// them out as the uncompressed tars Docker's layout names by DiffID, and loading that archive
/// into a fresh store gives back the same image.
#[test]
fn save_decompresses_layers_kept_compressed() {
    use skiff_image::store::{LayerBlob, NewImage, NewLayer};
    use std::io::Write;
    let entries = read_fixture_tar("busybox.docker.tar");
    let get = |suffix: &str| entries.iter().find(|e| e.path.ends_with(suffix)).unwrap().data.clone();
    let config = get(&format!("{}.json", &BUSYBOX_ID[7..]));
    let layer = get("layer.tar");
    let diff_id = Digest::of(&layer);
    for (compressed, media_type) in [
        (gzip(&layer), "application/vnd.docker.image.rootfs.diff.tar.gzip"),
        (zstd(&layer), "application/vnd.oci.image.layer.v1.tar+zstd"),
    ] {
        let (_d, store) = new_store();
        let mut w = store.blobs().writer().unwrap();
        w.write_all(&compressed).unwrap();
        let blob = w.finish().unwrap();
        let blob_digest = blob.digest.clone();
        let committed = store
            .commit_image(NewImage {
                config: config.clone(),
                layers: vec![NewLayer {
                    diff_id: diff_id.clone(),
                    blob: LayerBlob::StagedCompressed(blob),
                    size: 0,
                    media_type: media_type.into(),
                }],
                tags: vec![Reference::parse("busybox:latest").unwrap()],
                parent: None,
                source: "test".into(),
            })
            .unwrap();
        assert_eq!(committed.id.to_string(), BUSYBOX_ID);
        let layers = store.image_layers(&committed.id).unwrap();
        assert_eq!(layers[0].blob, blob_digest, "the store keeps the blob as received");
        assert_eq!(layers[0].media_type, media_type);
        assert!(store.check(false).unwrap().is_consistent());
        let out = saved(&store, &["busybox:latest"], SaveFormat::DockerArchive);
        let saved_entries = read_tar(&out);
        let layer_entry = saved_entries.iter().find(|e| e.path == format!("blobs/sha256/{}", diff_id.hex())).unwrap();
        assert_eq!(layer_entry.data, layer, "the saved layer is the uncompressed tar");
        check_oci_layout(&saved_entries);
        let (_d2, fresh) = new_store();
        let report = load_bytes(&fresh, "saved.tar", &out).unwrap();
        assert_eq!(fresh.resolve("busybox:latest").unwrap().id.to_string(), BUSYBOX_ID, "{report:?}");
    }
}
