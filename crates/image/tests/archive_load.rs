//! `load` of real archives made by Docker 20.10, Podman and skopeo (../shared/fixtures), of
//! compressed copies, and of Docker 25 and containerd-store layouts re-packed from a fixture.

mod archive_util;

use archive_util::*;
use skiff_image::Digest;

fn diff_ids(store: &skiff_image::Store, id: &str) -> Vec<String> {
    store.image_layers(&Digest::parse(id).unwrap()).unwrap().iter().map(|l| l.diff_id.to_string()).collect()
}

fn tags(store: &skiff_image::Store, id: &str) -> Vec<String> {
    store.image(&Digest::parse(id).unwrap()).unwrap().tags.iter().map(|t| t.familiar()).collect()
}

#[test]
fn loads_docker_20_features_archive() {
    let (_d, store) = new_store();
    let report = load_fixture(&store, "features.docker.tar");
    assert_eq!(report.images.len(), 1);
    assert_eq!(report.images[0].id.to_string(), FEATURES_ID);
    assert_eq!(report.messages(), vec!["Loaded image: features:1.0".to_string()]);
    assert_eq!(diff_ids(&store, FEATURES_ID), facts_diff_ids("features_1.0"));
    let rec = store.image(&Digest::parse(FEATURES_ID).unwrap()).unwrap();
    assert_eq!(rec.size, 3964683, "docker images SIZE from facts/inspect-features_1.0.json");
    assert_eq!(tags(&store, FEATURES_ID), vec!["features:1.0"]);
}

#[test]
fn loads_busybox_and_empty() {
    let (_d, store) = new_store();
    let r = load_fixture(&store, "busybox.docker.tar");
    assert_eq!(r.images[0].id.to_string(), BUSYBOX_ID);
    assert_eq!(diff_ids(&store, BUSYBOX_ID), facts_diff_ids("busybox_latest"));
    assert_eq!(store.image(&r.images[0].id).unwrap().size, 1982354);
    let r = load_fixture(&store, "empty.docker.tar");
    assert_eq!(r.images[0].id.to_string(), EMPTY_ID);
    assert_eq!(diff_ids(&store, EMPTY_ID), facts_diff_ids("empty_latest"));
    assert_eq!(store.image(&r.images[0].id).unwrap().size, 0);
    assert_eq!(r.messages(), vec!["Loaded image: empty:latest".to_string()]);
}

#[test]
fn multi_image_archive_shares_the_busybox_layer() {
    let (_d, store) = new_store();
    // In this archive busybox's layer.tar is a symlink to features' first layer.tar, and comes first.
    let r = load_fixture(&store, "multi.docker.tar");
    let ids: Vec<String> = r.images.iter().map(|i| i.id.to_string()).collect();
    assert_eq!(ids, vec![FEATURES_ID.to_string(), BUSYBOX_ID.to_string()]);
    assert_eq!(r.messages(), vec!["Loaded image: features:1.0", "Loaded image: busybox:latest"]);
    let f = store.image_layers(&Digest::parse(FEATURES_ID).unwrap()).unwrap();
    let b = store.image_layers(&Digest::parse(BUSYBOX_ID).unwrap()).unwrap();
    assert_eq!(f[0].chain_id, b[0].chain_id);
    // 4 distinct layers + 2 configs, each once.
    assert_eq!(blob_files(&store).len(), 6);
    assert_eq!(store.layer_bytes().unwrap(), 3964683);
}

#[test]
fn podman_docker_archive_keeps_dockers_config() {
    let (_d, store) = new_store();
    let r = load_fixture(&store, "features.podman-docker.tar");
    assert_eq!(r.images[0].id.to_string(), FEATURES_ID, "podman keeps the config bytes in docker-archive");
    assert_eq!(r.messages(), vec!["Loaded image: localhost/features:1.0"]);
    assert_eq!(diff_ids(&store, FEATURES_ID), facts_diff_ids("features_1.0"));
}

#[test]
fn oci_archives_have_podmans_reserialised_config() {
    // Podman and skopeo re-serialise the config for OCI, so the ID differs from Docker's, while the
    // layers (gzip blobs here) decompress to Docker's DiffIDs.
    let (_d, store) = new_store();
    let r = load_fixture(&store, "features.oci.tar");
    assert_eq!(r.images[0].id.to_string(), FEATURES_OCI_ID);
    assert_ne!(FEATURES_OCI_ID, FEATURES_ID);
    assert_eq!(r.messages(), vec!["Loaded image: localhost/features:1.0"]);
    assert_eq!(diff_ids(&store, FEATURES_OCI_ID), facts_diff_ids("features_1.0"));
    assert_eq!(store.image(&r.images[0].id).unwrap().size, 3964683);

    // skopeo's layout names the image only `1.0` (a bare tag): loaded untagged.
    let (_d2, store2) = new_store();
    let r = load_fixture(&store2, "features.oci-layout.tar");
    assert_eq!(r.images[0].id.to_string(), FEATURES_OCI_ID);
    assert_eq!(r.messages(), vec![format!("Loaded image ID: {FEATURES_OCI_ID}")]);
    assert!(tags(&store2, FEATURES_OCI_ID).is_empty());
    assert_eq!(diff_ids(&store2, FEATURES_OCI_ID), facts_diff_ids("features_1.0"));
}

#[test]
fn compressed_archives_load() {
    let raw = std::fs::read(fixture("features.docker.tar")).unwrap();
    for (name, data) in [("gzip", gzip(&raw)), ("zstd", zstd(&raw)), ("xz", xz(&raw))] {
        let (_d, store) = new_store();
        let r = load_bytes(&store, &format!("features.docker.tar.{name}"), &data).unwrap();
        assert_eq!(r.images[0].id.to_string(), FEATURES_ID, "{name}");
        assert_eq!(diff_ids(&store, FEATURES_ID), facts_diff_ids("features_1.0"));
    }
}

#[test]
fn loading_twice_is_idempotent_and_retag_is_reported() {
    let (_d, store) = new_store();
    load_fixture(&store, "busybox.docker.tar");
    let files = blob_files(&store);
    let r = load_fixture(&store, "busybox.docker.tar");
    assert!(r.images[0].existed);
    assert_eq!(r.messages(), vec!["Loaded image: busybox:latest"]);
    assert_eq!(store.images().unwrap().len(), 1);
    assert_eq!(blob_files(&store), files);

    // The empty image re-packed under the tag busybox:latest takes the tag over.
    let (config, layers, _) = legacy_parts("empty.docker.tar");
    let manifest = format!(
        r#"[{{"Config":"{}.json","RepoTags":["busybox:latest"],"Layers":["l/layer.tar"]}}]"#,
        sha256_hex(&config)
    );
    let tar = write_tar(&[
        file(&format!("{}.json", sha256_hex(&config)), config.clone()),
        file("l/layer.tar", layers[0].clone()),
        file("manifest.json", manifest),
    ]);
    let r = load_bytes(&store, "retag.tar", &tar).unwrap();
    assert_eq!(
        r.messages(),
        vec![
            format!(
                "The image busybox:latest already exists, renaming the old one with ID {BUSYBOX_ID} to empty string"
            ),
            "Loaded image: busybox:latest".to_string(),
        ]
    );
    assert!(tags(&store, BUSYBOX_ID).is_empty());
    assert_eq!(tags(&store, EMPTY_ID), vec!["busybox:latest"]);
}

#[test]
fn docker_25_layout_loads() {
    // Re-pack features.docker.tar as Docker 25 writes it: blobs named by digest, manifest.json into blobs/.
    let (config, layers, _) = legacy_parts("features.docker.tar");
    let mut entries = vec![file(&format!("blobs/sha256/{}", sha256_hex(&config)), config.clone())];
    let mut paths = Vec::new();
    for l in &layers {
        let p = format!("blobs/sha256/{}", sha256_hex(l));
        entries.push(file(&p, l.clone()));
        paths.push(format!("\"{p}\""));
    }
    entries.push(file(
        "manifest.json",
        format!(
            "[{{\"Config\":\"blobs/sha256/{}\",\"RepoTags\":[\"features:1.0\"],\"Layers\":[{}]}}]\n",
            sha256_hex(&config),
            paths.join(",")
        ),
    ));
    entries.push(file("oci-layout", r#"{"imageLayoutVersion": "1.0.0"}"#));
    let (_d, store) = new_store();
    let r = load_bytes(&store, "docker25.tar", &write_tar(&entries)).unwrap();
    assert_eq!(r.images[0].id.to_string(), FEATURES_ID);
    assert_eq!(diff_ids(&store, FEATURES_ID), facts_diff_ids("features_1.0"));
}

#[test]
fn containerd_store_layout_with_compressed_layers_loads() {
    // As Docker's containerd store writes it: manifest.json naming gzip and zstd blobs.
    let (config, layers, _) = legacy_parts("features.docker.tar");
    let mut entries = vec![file(&format!("blobs/sha256/{}", sha256_hex(&config)), config.clone())];
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let blob = if i % 2 == 0 { gzip(l) } else { zstd(l) };
        let p = format!("blobs/sha256/{}", sha256_hex(&blob));
        entries.push(file(&p, blob));
        paths.push(format!("\"{p}\""));
    }
    entries.push(file(
        "manifest.json",
        format!(
            "[{{\"Config\":\"blobs/sha256/{}\",\"RepoTags\":[\"features:1.0\"],\"Layers\":[{}]}}]\n",
            sha256_hex(&config),
            paths.join(",")
        ),
    ));
    let (_d, store) = new_store();
    let r = load_bytes(&store, "containerd.tar", &write_tar(&entries)).unwrap();
    assert_eq!(r.images[0].id.to_string(), FEATURES_ID);
    assert_eq!(diff_ids(&store, FEATURES_ID), facts_diff_ids("features_1.0"));
    assert_eq!(store.image(&r.images[0].id).unwrap().size, 3964683);
}

#[test]
fn nested_oci_index_is_followed() {
    // features.oci.tar with index.json pointing at an image index that holds the manifest.
    let mut entries = read_fixture_tar("features.oci.tar");
    let index = entries.iter().find(|e| e.path == "index.json").unwrap().data.clone();
    let top: serde_json::Value = serde_json::from_slice(&index).unwrap();
    let mut inner = top.clone();
    inner["mediaType"] = "application/vnd.oci.image.index.v1+json".into();
    inner["manifests"][0]["platform"] = serde_json::json!({"architecture": "amd64", "os": "linux"});
    inner["manifests"][0].as_object_mut().unwrap().remove("annotations");
    let inner_bytes = serde_json::to_vec(&inner).unwrap();
    let nested = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": format!("sha256:{}", sha256_hex(&inner_bytes)),
        "size": inner_bytes.len(),
        "annotations": {"io.containerd.image.name": "example.com/nested/features:2"}
    }]});
    entries.retain(|e| e.path != "index.json");
    entries.push(file(&format!("blobs/sha256/{}", sha256_hex(&inner_bytes)), inner_bytes));
    entries.push(file("index.json", serde_json::to_vec(&nested).unwrap()));
    let (_d, store) = new_store();
    let r = load_bytes(&store, "nested.tar", &write_tar(&entries)).unwrap();
    assert_eq!(r.images[0].id.to_string(), FEATURES_OCI_ID);
    assert_eq!(r.messages(), vec!["Loaded image: example.com/nested/features:2"]);
}

#[test]
fn hardlinked_layer_inside_the_archive_resolves() {
    let (config, layers, _) = legacy_parts("busybox.docker.tar");
    let manifest = r#"[{"Config":"c.json","RepoTags":["busybox:latest"],"Layers":["b/layer.tar"]}]"#;
    let tar = write_tar(&[
        file("a/layer.tar", layers[0].clone()),
        hardlink("b/layer.tar", "a/layer.tar"),
        file("c.json", config),
        file("manifest.json", manifest),
    ]);
    let (_d, store) = new_store();
    let r = load_bytes(&store, "hardlink.tar", &tar).unwrap();
    assert_eq!(r.images[0].id.to_string(), BUSYBOX_ID);
}

/// busybox's config with one more history entry and one more (empty) layer: a valid child.
fn child_of_busybox() -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>) {
    let (parent, layers, _) = legacy_parts("busybox.docker.tar");
    let (_, empty_layers, _) = legacy_parts("empty.docker.tar");
    let mut v: serde_json::Value = serde_json::from_slice(&parent).unwrap();
    v["history"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"created": "2026-11-24T02:00:00Z", "created_by": "child"}));
    v["rootfs"]["diff_ids"].as_array_mut().unwrap().push(format!("sha256:{}", sha256_hex(&empty_layers[0])).into());
    (parent, serde_json::to_vec(&v).unwrap(), vec![layers[0].clone(), empty_layers[0].clone()])
}

fn parent_archive(parent_cfg: &[u8], child_cfg: &[u8], layers: &[Vec<u8>], parent_field: &str) -> Vec<u8> {
    let (p, c) = (sha256_hex(parent_cfg), sha256_hex(child_cfg));
    let manifest = format!(
        r#"[{{"Config":"{p}.json","RepoTags":["p:1"],"Layers":["l0/layer.tar"]}},
            {{"Config":"{c}.json","RepoTags":["c:1"],"Layers":["l0/layer.tar","l1/layer.tar"]{parent_field}}}]"#
    );
    write_tar(&[
        file(&format!("{p}.json"), parent_cfg.to_vec()),
        file(&format!("{c}.json"), child_cfg.to_vec()),
        file("l0/layer.tar", layers[0].clone()),
        file("l1/layer.tar", layers[1].clone()),
        file("manifest.json", manifest),
    ])
}

#[test]
fn parent_is_applied_only_when_valid() {
    let (parent, child, layers) = child_of_busybox();
    let child_id = Digest::of(&child);
    let (_d, store) = new_store();
    let tar = parent_archive(&parent, &child, &layers, &format!(r#","Parent":"{BUSYBOX_ID}""#));
    load_bytes(&store, "parent.tar", &tar).unwrap();
    assert_eq!(store.image(&child_id).unwrap().parent.map(|p| p.to_string()), Some(BUSYBOX_ID.to_string()));

    // Saved together, the link is kept in manifest.json and survives a round trip.
    let items = skiff_image::archive::save_items(&store, &["p:1".to_string(), "c:1".to_string()]).unwrap();
    let mut saved = Vec::new();
    skiff_image::archive::save(&store, &items, &Default::default(), &mut saved, &mut |_| {}).unwrap();
    let m = read_tar(&saved).into_iter().find(|e| e.path == "manifest.json").unwrap();
    let m: serde_json::Value = serde_json::from_slice(&m.data).unwrap();
    assert_eq!(m[1]["Parent"], BUSYBOX_ID);
    assert!(m[0].get("Parent").is_none());
    let (_d3, store3) = new_store();
    load_bytes(&store3, "saved-parent.tar", &saved).unwrap();
    assert_eq!(store3.image(&child_id).unwrap().parent.map(|p| p.to_string()), Some(BUSYBOX_ID.to_string()));

    // features is not busybox plus one history entry: the Parent field is ignored.
    let (_d2, store2) = new_store();
    load_fixture(&store2, "busybox.docker.tar");
    let (fcfg, flayers, _) = legacy_parts("features.docker.tar");
    let manifest = format!(
        r#"[{{"Config":"f.json","RepoTags":["features:1.0"],"Layers":["0","1","2","3"],"Parent":"{BUSYBOX_ID}"}}]"#
    );
    let mut entries = vec![file("f.json", fcfg), file("manifest.json", manifest)];
    for (i, l) in flayers.iter().enumerate() {
        entries.push(file(&i.to_string(), l.clone()));
    }
    let r = load_bytes(&store2, "bad-parent.tar", &write_tar(&entries)).unwrap();
    assert_eq!(store2.image(&r.images[0].id).unwrap().parent, None);
}
