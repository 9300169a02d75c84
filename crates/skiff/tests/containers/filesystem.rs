//! A container's filesystem: the image's user, workdir and volumes, named and anonymous volumes,
//! the shared init layer (mount points, the image's directory metadata), and `commit`.

use crate::common::{busybox, fixture};
use crate::inspect;

#[test]
fn commit_makes_an_image_of_the_changes() {
    let env = busybox();
    env.run(&["run", "--name", "maker", "busybox", "sh", "-c", "echo made > /made; rm /release"]).ok();
    let id = env.run(&["commit", "-m", "made it", "-c", "CMD [\"cat\", \"/made\"]", "maker", "made:1"]).ok().stdout();
    assert!(id.trim().starts_with("sha256:"), "{id}");
    // The new image runs with its CMD, sees the added file and not the deleted one.
    let r = env.run(&["run", "--rm", "made:1"]).ok();
    assert_eq!(r.stdout(), "made\n");
    let r = env.run(&["run", "--rm", "made:1", "ls", "/"]).ok().stdout();
    assert!(!r.contains("release") && r.contains("made"), "{r}");
    let hist = env.run(&["history", "--no-trunc", "--format", "{{.Comment}}", "made:1"]).ok().stdout();
    assert!(hist.starts_with("made it\n"), "{hist}");
    // The new image is free to go; busybox is in use by the container until it is removed.
    env.run(&["rmi", "made:1"]).ok();
    let r = env.run(&["rmi", "busybox"]).fails();
    assert!(r.stderr().contains("is using its referenced image"), "{}", r.stderr());
    env.run(&["rm", "maker"]).ok();
}

#[test]
fn named_and_anonymous_volumes() {
    let env = busybox();
    env.run(&["run", "--rm", "-v", "store:/data", "busybox", "sh", "-c", "echo kept > /data/f"]).ok();
    let r = env.run(&["run", "--rm", "-v", "store:/data:ro", "busybox", "sh", "-c", "cat /data/f; echo x > /data/g"]);
    assert_eq!(r.stdout(), "kept\n");
    assert!(r.stderr().contains("Read-only file system"), "{}", r.stderr());
    assert_eq!(std::fs::read_to_string(env.root().join("volumes/store/_data/f")).unwrap(), "kept\n");
    // -v /path: an anonymous volume, removed by rm -v.
    env.run(&["run", "--name", "anon", "-v", "/scratch", "busybox", "sh", "-c", "echo a > /scratch/a"]).ok();
    let mounts = inspect(&env, "anon")["Mounts"].clone();
    assert_eq!(mounts[0]["Type"], "volume", "{mounts}");
    assert_eq!(mounts[0]["Destination"], "/scratch");
    let src = std::path::PathBuf::from(mounts[0]["Source"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(src.join("a")).unwrap(), "a\n");
    env.run(&["rm", "-v", "anon"]).ok();
    assert!(!src.exists());
    assert!(env.root().join("volumes/store/_data/f").exists());
}

#[test]
fn features_image_user_workdir_volume_copy_up() {
    let env = busybox();
    env.run(&["load", "-i", fixture("features.docker.tar").to_str().unwrap()]).ok();
    // ENTRYPOINT + CMD, ENV, USER 1000 and WORKDIR /data, as Docker runs it.
    assert_eq!(env.run(&["run", "--rm", "features:1.0"]).ok().stdout(), "hello docker, world\n");
    let r = env.run(&["run", "--rm", "--entrypoint", "sh", "features:1.0", "-c", "id -u; pwd"]).ok();
    assert_eq!(r.stdout(), "1000\n/data\n");
    // VOLUME /data is an anonymous volume that starts with the image's content (owner and mode kept).
    let r = env
        .run(&[
            "run",
            "--rm",
            "-u",
            "0",
            "--entrypoint",
            "sh",
            "features:1.0",
            "-c",
            "cat /data/keep/a; stat -c %a /data/keep/a; mount | grep -c ' /data '",
        ])
        .ok();
    assert_eq!(r.stdout(), "one\n600\n1\n");
    assert_eq!(std::fs::read_dir(env.root().join("volumes")).unwrap().count(), 0, "--rm removes anonymous volumes");
}

#[test]
fn mount_points_come_from_the_shared_init_layer_not_the_writable_layer() {
    let env = busybox();
    let id = env.run(&["run", "-d", "busybox", "sleep", "600"]).ok().stdout().trim().to_string();
    // busybox has no /proc, /sys, /dev or /etc: the init layer provides them, so starting the
    // container writes nothing into its own layer, and `diff` reports nothing.
    let upper = env.root().join("containers").join(&id).join("upper");
    let written: Vec<_> = std::fs::read_dir(&upper).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(written.is_empty(), "the start wrote {written:?} into the writable layer");
    assert_eq!(env.run(&["diff", &id]).ok().stdout(), "");
    let hosts = env.run(&["exec", &id, "cat", "/etc/hosts"]).ok().stdout();
    assert!(hosts.contains("localhost"), "{hosts}");
    let layers: Vec<_> =
        std::fs::read_dir(env.root().join("init-layers")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(layers.len(), 1, "{layers:?}");
    let layer = layers[0].clone();
    for d in ["proc", "sys", "dev", "etc"] {
        assert!(layer.join(d).is_dir(), "{d}");
    }
    for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
        assert_eq!(std::fs::metadata(layer.join(f)).unwrap().len(), 0, "{f}");
    }
    // A change by the container shows, as before.
    env.run(&["exec", &id, "sh", "-c", "echo x > /new-file"]).ok();
    assert_eq!(env.run(&["diff", &id]).ok().stdout().trim(), "A /new-file");
    env.run(&["rm", "-f", &id]).ok();
    assert!(layer.is_dir(), "the init layer is shared: removing a container keeps it");
}

#[test]
fn the_init_layer_keeps_the_images_directory_metadata() {
    // busybox with an /etc of its own: mode 700, owner 5:6, a fixed mtime.
    let mut b = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(std::fs::File::open(fixture("busybox-rootfs.tar")).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut h = e.header().clone();
        let path = e.path().unwrap().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if h.entry_type().is_symlink() || h.entry_type().is_hard_link() {
            let target = e.link_name().unwrap().unwrap().into_owned();
            b.append_link(&mut h, &path, &target).unwrap();
        } else {
            b.append_data(&mut h, &path, &data[..]).unwrap();
        }
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o700);
    h.set_uid(5);
    h.set_gid(6);
    h.set_mtime(1_000_000_000);
    h.set_size(0);
    b.append_data(&mut h, "etc/", &[][..]).unwrap();
    let tar = b.into_inner().unwrap();
    let env = busybox();
    std::fs::write(env.path("etc.tar"), &tar).unwrap();
    env.run(&["import", env.path("etc.tar").to_str().unwrap(), "withetc"]).ok();
    let stat = |img: &str| env.run(&["run", "--rm", img, "busybox", "stat", "-c", "%a %u %g %Y", "/etc"]).ok().stdout();
    assert_eq!(stat("withetc"), "700 5 6 1000000000\n");
    // An image without /etc gets the layer's plain one; the two images use different init layers.
    assert_eq!(stat("busybox").split(' ').take(3).collect::<Vec<_>>(), ["755", "0", "0"]);
    let layers = || {
        let names = std::fs::read_dir(env.root().join("init-layers")).unwrap().flatten().map(|e| e.file_name());
        names.filter(|n| n.to_string_lossy().starts_with("init-layer")).count()
    };
    assert_eq!(layers(), 2);
    // `container prune` collects the layers no container uses: a running busybox container keeps
    // its own (and can still use it); withetc's goes, and is made again when needed.
    let id = env.run(&["run", "-d", "busybox", "sleep", "600"]).ok().stdout().trim().to_string();
    env.run(&["container", "prune", "-f"]).ok();
    assert_eq!(layers(), 1);
    assert_eq!(env.run(&["exec", &id, "cat", "/etc/hostname"]).ok().stdout(), format!("{}\n", &id[..12]));
    env.run(&["rm", "-f", &id]).ok();
    env.run(&["container", "prune", "-f"]).ok();
    assert_eq!(layers(), 0);
    assert_eq!(stat("withetc"), "700 5 6 1000000000\n");
}
