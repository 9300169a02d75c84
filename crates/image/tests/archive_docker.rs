//! Against real Docker (the peer daemon at unix:///run/peer-docker.sock, Docker 20.10 here):
//! Docker loads what skiff saves (same IDs, and the images run), and skiff loads what Docker saves.
//! Without a reachable Docker these tests print `skipped: real Docker not available` and pass.
//! They only touch images under the `skiff-archive-test/` names, and untag those afterwards.

mod archive_util;

use archive_util::*;
use skiff_image::archive::{save, SaveFormat, SaveItem};
use skiff_image::{Digest, Reference};
use std::process::{Command, Output};

const PEER: &str = "unix:///run/peer-docker.sock";

fn docker(args: &[&str]) -> Output {
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| PEER.to_string());
    Command::new("docker").env("DOCKER_HOST", host).args(args).output().expect("run docker")
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn docker_available() -> bool {
    let ok = Command::new("docker")
        .env("DOCKER_HOST", std::env::var("DOCKER_HOST").unwrap_or_else(|_| PEER.to_string()))
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        println!("skipped: real Docker not available");
    }
    ok
}

/// Untags on drop, so a failed assertion still cleans up.
struct Untag(Vec<String>);
impl Drop for Untag {
    fn drop(&mut self) {
        for t in &self.0 {
            let _ = docker(&["rmi", t]);
        }
    }
}

#[test]
fn docker_loads_and_runs_what_skiff_saves() {
    if !docker_available() {
        return;
    }
    let (_d, store) = new_store();
    load_fixture(&store, "multi.docker.tar");
    let features = "skiff-archive-test/features:1.0";
    let busybox = "skiff-archive-test/busybox:latest";
    let _cleanup = Untag(vec![features.into(), busybox.into()]);
    let items = vec![
        SaveItem { id: Digest::parse(FEATURES_ID).unwrap(), refs: vec![Reference::parse(features).unwrap()] },
        SaveItem { id: Digest::parse(BUSYBOX_ID).unwrap(), refs: vec![Reference::parse(busybox).unwrap()] },
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saved.tar");
    let mut f = std::fs::File::create(&path).unwrap();
    save(&store, &items, &SaveFormat::DockerArchive, &mut f, &mut |_| {}).unwrap();
    drop(f);

    let out = docker_ok(&["load", "-i", path.to_str().unwrap()]);
    assert!(out.contains(&format!("Loaded image: {features}")), "{out}");
    assert!(out.contains(&format!("Loaded image: {busybox}")), "{out}");
    assert_eq!(docker_ok(&["image", "inspect", "--format", "{{.Id}}", features]).trim(), FEATURES_ID);
    assert_eq!(docker_ok(&["image", "inspect", "--format", "{{.Id}}", busybox]).trim(), BUSYBOX_ID);
    let layers = docker_ok(&["image", "inspect", "--format", "{{json .RootFS.Layers}}", features]);
    let layers: Vec<String> = serde_json::from_str(layers.trim()).unwrap();
    assert_eq!(layers, facts_diff_ids("features_1.0"));
    assert_eq!(docker_ok(&["run", "--rm", busybox, "/bin/busybox", "cat", "/release"]).trim(), "KatacodaPrivateBuild");
    assert_eq!(docker_ok(&["run", "--rm", features]).trim(), "hello docker, world");
}

#[test]
fn skiff_loads_what_docker_saves() {
    if !docker_available() {
        return;
    }
    let tag = "skiff-archive-test/imported:1";
    let _cleanup = Untag(vec![tag.into()]);
    let rootfs = fixture("busybox-rootfs.tar");
    let id = docker_ok(&["import", rootfs.to_str().unwrap(), tag]).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker-saved.tar");
    docker_ok(&["save", "-o", path.to_str().unwrap(), tag]);

    let (_d, store) = new_store();
    let r = load_fixture_path(&store, &path);
    assert_eq!(r.images[0].id.to_string(), id);
    assert_eq!(r.messages(), vec![format!("Loaded image: {tag}")]);
    let diff: Vec<String> =
        store.image_layers(&r.images[0].id).unwrap().iter().map(|l| l.diff_id.to_string()).collect();
    assert_eq!(diff, facts_diff_ids("busybox_latest"), "docker import keeps the tar byte for byte");
    let docker_size = docker_ok(&["image", "inspect", "--format", "{{.Size}}", tag]);
    assert_eq!(store.image(&r.images[0].id).unwrap().size.to_string(), docker_size.trim());
}

fn load_fixture_path(store: &skiff_image::Store, path: &std::path::Path) -> skiff_image::archive::LoadReport {
    let mut f = std::fs::File::open(path).unwrap();
    skiff_image::archive::load(store, &mut f, &skiff_image::archive::LoadOptions::new("docker-saved.tar"), &mut |_| {})
        .unwrap()
}
