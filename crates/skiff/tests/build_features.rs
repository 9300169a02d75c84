//! `skiff build` of ../shared/fixtures/features-context, with RUN steps in real containers, gives the
//! image Docker built from it: the same root filesystem as `docker export` (facts/features.rootfs.json),
//! the same config bar times and ids (facts/inspect-features_1.0.json), the same history (CREATED BY, SIZE).

mod common;
#[path = "../../image/tests/features_tree/mod.rs"]
mod features_tree;

use common::*;

#[test]
fn features_context_builds_into_dockers_image() {
    let env = new_env();
    env.run(&["import", fixture("busybox-rootfs.tar").to_str().unwrap(), "busybox"]).ok();
    // The context as Docker had it: ../shared is laid out without write bits, while FIXTURES.md
    // says hello.sh is 0755 (COPY keeps the mode), so build from a copy with the modes restored.
    let ctx = env.path("features-context");
    std::fs::create_dir(&ctx).unwrap();
    for (name, mode) in [("Dockerfile", 0o644), ("hello.sh", 0o755)] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::copy(fixture("features-context").join(name), ctx.join(name)).unwrap();
        std::fs::set_permissions(ctx.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let ctx = ctx.to_str().unwrap();
    let r = env.run(&["build", "-t", "features:1.0", ctx]).ok();
    assert!(r.stdout().contains("Successfully tagged features:1.0"), "{}", r.stdout());

    // Root filesystem: save, then apply the layers as the loader test does.
    let archive = env.path("features.tar");
    env.run(&["save", "-o", archive.to_str().unwrap(), "features:1.0"]).ok();
    features_tree::assert_archive_matches_docker_export(&archive);

    // Config: every field but times, ids and the build container's name.
    let ours: serde_json::Value = serde_json::from_str(&env.run(&["inspect", "features:1.0"]).ok().stdout()).unwrap();
    let theirs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("facts/inspect-features_1.0.json")).unwrap()).unwrap();
    // (RootFS.Layers are DiffIDs: hashes of tars that carry the build's file times, so ids too.)
    assert_eq!(ours[0]["RootFS"]["Layers"].as_array().unwrap().len(), 4);
    assert_eq!(ours[0]["RootFS"]["Layers"][0], theirs[0]["RootFS"]["Layers"][0], "the busybox base layer is shared");
    for k in ["Config", "ContainerConfig", "Architecture", "Os", "Size"] {
        let (mut o, mut t) = (ours[0][k].clone(), theirs[0][k].clone());
        // Ids: the parent image's (in both), and the build container's host name (ContainerConfig).
        for v in [&mut o, &mut t] {
            if let Some(obj) = v.as_object_mut() {
                obj.insert("Image".into(), serde_json::Value::Null);
                if k == "ContainerConfig" {
                    obj.insert("Hostname".into(), serde_json::Value::Null);
                }
            }
        }
        assert_eq!(o, t, "{k}");
    }

    // History: CREATED BY and SIZE as Docker's classic builder wrote them.
    let ours = env.run(&["history", "--no-trunc", "--format", "{{json .}}", "features:1.0"]).ok().stdout();
    let theirs = std::fs::read_to_string(fixture("facts/history-features_1.0.jsonl")).unwrap();
    let ours: Vec<serde_json::Value> = ours.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let theirs: Vec<serde_json::Value> = theirs.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(ours.len(), theirs.len());
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(o["CreatedBy"], t["CreatedBy"]);
        assert_eq!(o["Size"], t["Size"], "{}", t["CreatedBy"]);
    }

    // It runs as Docker's did, and a rebuild is all cache.
    assert_eq!(env.run(&["run", "--rm", "features:1.0"]).ok().stdout(), "hello docker, world\n");
    let before = env.run(&["images", "-a", "-q"]).ok().stdout();
    let again = env.run(&["build", "-t", "features:1.0", ctx]).ok().stdout();
    assert!(again.contains("Using cache"), "{again}");
    assert_eq!(env.run(&["images", "-a", "-q"]).ok().stdout(), before);
}
