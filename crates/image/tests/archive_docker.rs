//! Against real Docker (the peer daemon at unix:///run/peer-docker.sock, Docker 20.10 here):
//! Docker loads what skiff saves (same IDs, and the images run), and skiff loads what Docker saves.
//! Without a reachable Docker (`$DOCKER_HOST`, else the peer) these tests skip, counted as skips.
//! They only touch images under the `skiff-archive-test/` names, and untag those afterwards.

mod archive_util;

use archive_util::*;
use skiff_image::archive::{save, SaveFormat, SaveItem};
use skiff_image::{Digest, Reference};
use skiff_testutil::peers::Docker;
use skiff_testutil::require;

/// Untags on drop, so a failed assertion still cleans up.
struct Untag<'a>(&'a Docker, Vec<String>);
impl Drop for Untag<'_> {
    fn drop(&mut self) {
        for t in &self.1 {
            let _ = self.0.run(&["rmi", t]);
        }
    }
}

#[test]
fn docker_loads_and_runs_what_skiff_saves() {
    let docker = require!(Docker::from_env().require());
    let (_d, store) = new_store();
    load_fixture(&store, "multi.docker.tar");
    let features = "skiff-archive-test/features:1.0";
    let busybox = "skiff-archive-test/busybox:latest";
    let _cleanup = Untag(&docker, vec![features.into(), busybox.into()]);
    let items = vec![
        SaveItem { id: Digest::parse(FEATURES_ID).unwrap(), refs: vec![Reference::parse(features).unwrap()] },
        SaveItem { id: Digest::parse(BUSYBOX_ID).unwrap(), refs: vec![Reference::parse(busybox).unwrap()] },
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saved.tar");
    let mut f = std::fs::File::create(&path).unwrap();
    save(&store, &items, &SaveFormat::DockerArchive, &mut f, &mut |_| {}).unwrap();
    drop(f);

    let out = docker.ok(&["load", "-i", path.to_str().unwrap()]);
    assert!(out.contains(&format!("Loaded image: {features}")), "{out}");
    assert!(out.contains(&format!("Loaded image: {busybox}")), "{out}");
    assert_eq!(docker.ok(&["image", "inspect", "--format", "{{.Id}}", features]).trim(), FEATURES_ID);
    assert_eq!(docker.ok(&["image", "inspect", "--format", "{{.Id}}", busybox]).trim(), BUSYBOX_ID);
    let layers = docker.ok(&["image", "inspect", "--format", "{{json .RootFS.Layers}}", features]);
    let layers: Vec<String> = serde_json::from_str(layers.trim()).unwrap();
    assert_eq!(layers, facts_diff_ids("features_1.0"));
    assert_eq!(docker.ok(&["run", "--rm", busybox, "/bin/busybox", "cat", "/release"]).trim(), "KatacodaPrivateBuild");
    assert_eq!(docker.ok(&["run", "--rm", features]).trim(), "hello docker, world");
}

#[test]
fn skiff_loads_what_docker_saves() {
    let docker = require!(Docker::from_env().require());
    let tag = "skiff-archive-test/imported:1";
    let _cleanup = Untag(&docker, vec![tag.into()]);
    let rootfs = fixture("busybox-rootfs.tar");
    let id = docker.ok(&["import", rootfs.to_str().unwrap(), tag]).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker-saved.tar");
    docker.ok(&["save", "-o", path.to_str().unwrap(), tag]);

    let (_d, store) = new_store();
    let r = load_fixture_path(&store, &path);
    assert_eq!(r.images[0].id.to_string(), id);
    assert_eq!(r.messages(), vec![format!("Loaded image: {tag}")]);
    let diff: Vec<String> =
        store.image_layers(&r.images[0].id).unwrap().iter().map(|l| l.diff_id.to_string()).collect();
    assert_eq!(diff, facts_diff_ids("busybox_latest"), "docker import keeps the tar byte for byte");
    let docker_size = docker.ok(&["image", "inspect", "--format", "{{.Size}}", tag]);
    assert_eq!(store.image(&r.images[0].id).unwrap().size.to_string(), docker_size.trim());
}

fn load_fixture_path(store: &skiff_image::Store, path: &std::path::Path) -> skiff_image::archive::LoadReport {
    let mut f = std::fs::File::open(path).unwrap();
    skiff_image::archive::load(store, &mut f, &skiff_image::archive::LoadOptions::new("docker-saved.tar"), &mut |_| {})
        .unwrap()
}
