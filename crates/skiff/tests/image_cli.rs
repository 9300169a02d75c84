//! End-to-end tests of the image commands: the built `skiff` against a temporary store,
//! held to what real Docker reported for the same input (../shared/fixtures/FIXTURES.md).

mod common;
use common::*;

#[test]
fn seed_empty_image_is_zero_bytes() {
    // `tar cv --files-from /dev/null | docker import - empty`: GNU tar writes 10240 zero bytes.
    let env = new_env();
    let empty_tar = vec![0u8; 10240];
    let r = env.run_stdin(&["import", "-", "empty"], Some(&empty_tar)).ok();
    let id = r.stdout().trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let images = env.run(&["images"]).ok().stdout();
    let lines: Vec<&str> = images.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], "empty");
    assert_eq!(row[1], "latest");
    assert_eq!(row[2], &id[7..19]);
    assert_eq!(*row.last().unwrap(), "0B");
    // Docker's diff_id for the empty tar (facts: empty image).
    let inspect = env.run(&["image", "inspect", "empty"]).ok().stdout();
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v[0]["RootFS"]["Layers"][0], "sha256:84ff92691f909a05b224e1c56abb4864f01b4f8e3c854e4bb4c7baf1d3f6d652");
    assert_eq!(v[0]["Size"], 0);
    assert_eq!(v[0]["Comment"], "Imported from -");
}

#[test]
fn import_keeps_the_tar_bytes_like_docker() {
    let env = new_env();
    let tar = std::fs::read(fixture("busybox-rootfs.tar")).unwrap();
    let id = env.run_stdin(&["import", "-", "busybox"], Some(&tar)).ok().stdout();
    let v: serde_json::Value = serde_json::from_str(&env.run(&["inspect", id.trim()]).ok().stdout()).unwrap();
    // FIXTURES.md: Docker's diff_id for this import is the sha256 of the tar itself, size 1982354.
    assert_eq!(v[0]["RootFS"]["Layers"][0], "sha256:4b7e86637799f84a0355f07dbaefe6edba0df30356e7779b0357dd674358e838");
    assert_eq!(v[0]["Size"], 1982354);
    assert_eq!(v[0]["RepoTags"][0], "busybox:latest");
    assert_eq!(v[0]["Architecture"], "amd64");
    assert_eq!(v[0]["Os"], "linux");
    // The same from a file argument, and gzip-compressed: same layer.
    let gz = env.path("rootfs.tar.gz");
    std::fs::write(&gz, gzip(&tar)).unwrap();
    let id2 = env.run(&["import", gz.to_str().unwrap(), "busybox:gz"]).ok().stdout();
    let v2: serde_json::Value = serde_json::from_str(&env.run(&["inspect", id2.trim()]).ok().stdout()).unwrap();
    assert_eq!(v2[0]["RootFS"]["Layers"], v[0]["RootFS"]["Layers"]);
    let h = env.run(&["history", "busybox"]).ok().stdout();
    assert!(h.lines().next().unwrap().starts_with("IMAGE"), "{h}");
    assert!(h.contains("Imported from -"), "{h}");
    assert!(h.contains("1.98MB"), "{h}");
}

#[test]
fn import_changes_are_applied_and_invalid_ones_rejected_by_name() {
    let env = new_env();
    let tar = small_tar(&[("hello", b"hi")]);
    let id = env
        .run_stdin(
            &["import", "-c", "CMD [\"/hello\"]", "-c", "ENV A=1", "-c", "EXPOSE 80", "-m", "my message", "-", "x:1"],
            Some(&tar),
        )
        .ok()
        .stdout();
    let v: serde_json::Value = serde_json::from_str(&env.run(&["inspect", id.trim()]).ok().stdout()).unwrap();
    assert_eq!(v[0]["Config"]["Cmd"][0], "/hello");
    assert_eq!(v[0]["Config"]["Env"][0], "A=1");
    assert!(v[0]["Config"]["ExposedPorts"]["80/tcp"].is_object());
    assert_eq!(v[0]["Comment"], "my message");
    let r = env.run_stdin(&["import", "-c", "RUN echo hi", "-", "bad"], Some(&tar)).fails();
    assert!(r.stderr().contains("run is not a valid change command"), "{}", r.stderr());
    // Nothing was created by the failed import.
    assert_eq!(env.run(&["images", "-q"]).ok().stdout().lines().count(), 1);
}

#[test]
fn import_of_garbage_fails_naming_the_input_and_leaves_nothing() {
    let env = new_env();
    env.run(&["images"]).ok();
    let r = env.run_stdin(&["import", "-", "junk"], Some(&[b'x'; 4096])).fails();
    assert!(r.stderr().contains("import -"), "{}", r.stderr());
    let missing = env.run(&["import", "/nonexistent.tar"]).fails();
    assert!(missing.stderr().contains("/nonexistent.tar"), "{}", missing.stderr());
    assert_eq!(env.run(&["images", "-q"]).ok().stdout(), "");
    let blobs = std::fs::read_dir(env.root().join("blobs/sha256")).unwrap().count();
    assert_eq!(blobs, 0);
    env.run(&["system", "check"]).ok();
}

#[test]
fn tag_and_rmi_untag_before_deleting_and_keep_shared_layers() {
    let env = new_env();
    let tar = std::fs::read(fixture("busybox-rootfs.tar")).unwrap();
    let id = env.run_stdin(&["import", "-", "busybox"], Some(&tar)).ok().stdout().trim().to_string();
    env.run(&["tag", "busybox", "mybox:1"]).ok();
    env.run(&["tag", &id[7..19], "localhost:5000/mybox"]).ok();
    let r = env.run(&["rmi", "mybox:1"]).ok();
    assert_eq!(r.stdout().trim(), "Untagged: mybox:1");
    // By ID with references in several repositories: must be forced.
    let r = env.run(&["rmi", &id[7..19]]).fails();
    assert!(r.stderr().contains("must be forced"), "{}", r.stderr());
    // A second image sharing the layer (same tar, different config).
    let id2 =
        env.run_stdin(&["import", "-c", "CMD [\"sh\"]", "-", "other"], Some(&tar)).ok().stdout().trim().to_string();
    assert_ne!(id, id2);
    let r = env.run(&["rmi", "-f", &id[7..19]]).ok();
    let out = r.stdout();
    assert!(out.contains("Untagged: busybox:latest") && out.contains("Untagged: localhost:5000/mybox:latest"), "{out}");
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    // The layer is still there for `other`.
    let blob = env.root().join("blobs/sha256/4b7e86637799f84a0355f07dbaefe6edba0df30356e7779b0357dd674358e838");
    assert!(blob.exists());
    let r = env.run(&["rmi", "other"]).ok();
    assert!(r.stdout().contains("Deleted: sha256:4b7e86637799"), "{}", r.stdout());
    assert!(!blob.exists());
    // What Docker's daemon reports comes as its answer; the CLI's own errors do not.
    for args in
        [&["rmi", "nosuch"][..], &["history", "nosuch"], &["tag", "nosuch", "x"], &["save", "-o", "x.tar", "nosuch"]]
    {
        let r = env.run(args).fails();
        assert_eq!(r.stderr(), "Error response from daemon: No such image: nosuch:latest\n", "{args:?}");
    }
    for args in [&["logs", "nosuch"][..], &["top", "nosuch"], &["diff", "nosuch"], &["rm", "nosuch"]] {
        let r = env.run(args).fails();
        assert_eq!(r.stderr(), "Error response from daemon: No such container: nosuch\n", "{args:?}");
    }
    let r = env.run(&["load", "-i", "/nonexistent/x.tar"]).fails();
    assert!(r.stderr().starts_with("Error: ") && r.stderr().contains("/nonexistent/x.tar"), "{}", r.stderr());
    env.run(&["system", "check"]).ok();
}

#[test]
fn images_filters_quiet_and_format() {
    let env = new_env();
    let a = small_tar(&[("a", b"a")]);
    let b = small_tar(&[("b", b"b")]);
    env.run_stdin(&["import", "-", "alpha:1"], Some(&a)).ok();
    let bid = env.run_stdin(&["import", "-"], Some(&b)).ok().stdout().trim().to_string();
    let out = env.run(&["images", "--filter", "dangling=true", "-q"]).ok().stdout();
    assert_eq!(out.trim(), &bid[7..19]);
    let out = env.run(&["images", "--filter", "reference=alp*", "--format", "{{.Repository}}:{{.Tag}}"]).ok().stdout();
    assert_eq!(out.trim(), "alpha:1");
    let out = env.run(&["images", "--no-trunc", "--format", "{{json .}}", "alpha"]).ok().stdout();
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["Repository"], "alpha");
    assert!(v["ID"].as_str().unwrap().starts_with("sha256:"));
    let out = env.run(&["images", "--format", "table {{.Repository}}\t{{.Size}}"]).ok().stdout();
    assert!(out.starts_with("REPOSITORY"), "{out}");
    assert!(out.contains("<none>"), "{out}");
    let r = env.run(&["images", "--filter", "bogus=1"]).fails();
    assert!(r.stderr().contains("bogus"), "{}", r.stderr());
    // The rows are Go structs in Docker: a field they lack is an error, not "<no value>".
    let r = env.run(&["images", "--format", "{{.Nope}}"]).fails();
    // Printed bare, as Docker's CLI prints Go's template errors.
    assert_eq!(
        r.stderr(),
        "template parsing error: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.imageContext\n"
    );
    let r = env.run(&["history", "alpha:1", "--format", "{{.Nope}}"]).fails();
    assert!(r.stderr().contains("can't evaluate field Nope in type *image.historyContext"), "{}", r.stderr());
    // CreatedAt in whole seconds (Go's time.Unix(s, 0)); VirtualSize to four digits, Size to three.
    let big = vec![b'x'; 12346];
    env.run_stdin(&["import", "-", "sized:1"], Some(&small_tar(&[("big", &big)]))).ok();
    let out = env.run(&["images", "--format", "{{.CreatedAt}}|{{.Size}}|{{.VirtualSize}}", "sized"]).ok().stdout();
    let (at, sizes) = out.trim().split_once('|').unwrap();
    assert!(at.ends_with(" +0000 UTC") && !at.contains('.'), "{out}");
    assert_eq!(sizes, "12.3kB|12.35kB", "{out}");
    env.run(&["rmi", "sized:1"]).ok();
    // prune removes the dangling one only.
    let out = env.run(&["image", "prune", "-f"]).ok().stdout();
    assert!(out.contains(&format!("deleted: {bid}")), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(env.run(&["images", "-q"]).ok().stdout().lines().count(), 1);
}

#[test]
fn history_shows_docker_columns() {
    let env = new_env();
    env.run_stdin(&["import", "-", "h"], Some(&small_tar(&[("x", b"12345")]))).ok();
    let out = env.run(&["history", "h"]).ok().stdout();
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]);
    let raw = env.run(&["history", "-H=false", "--format", "{{.Size}}|{{.CreatedSince}}", "h"]).ok().stdout();
    assert!(raw.starts_with("5|20"), "{raw}");
    let q = env.run(&["history", "-q", "h"]).ok().stdout();
    assert_eq!(q.trim().len(), 12);
}

#[test]
fn help_for_every_command() {
    let env = new_env();
    for c in [
        vec!["--help"],
        vec!["import", "--help"],
        vec!["images", "--help"],
        vec!["history", "--help"],
        vec!["inspect", "--help"],
        vec!["tag", "--help"],
        vec!["rmi", "--help"],
        vec!["save", "--help"],
        vec!["load", "--help"],
        vec!["image", "prune", "--help"],
        vec!["system", "df", "--help"],
        vec!["system", "check", "--help"],
        vec!["info", "--help"],
        vec!["version", "--help"],
    ] {
        let r = env.run(&c).ok();
        assert!(r.stdout().contains("Usage"), "{c:?}: {}", r.stdout());
    }
    let r = env.run(&["nosuchcommand"]);
    assert_eq!(r.code(), 125);
}

#[test]
fn info_version_and_df() {
    let env = new_env();
    env.run_stdin(&["import", "-", "d"], Some(&small_tar(&[("x", b"12345")]))).ok();
    let info = env.run(&["info"]).ok().stdout();
    for want in
        ["Images: 1", "Storage Driver: overlay", "Kernel Version:", "CPUs:", "Total Memory:", "Docker Root Dir:"]
    {
        assert!(info.contains(want), "{want} missing in {info}");
    }
    let v = env.run(&["version"]).ok().stdout();
    assert!(v.contains(env!("CARGO_PKG_VERSION")));
    let df = env.run(&["system", "df"]).ok().stdout();
    assert!(df.starts_with("TYPE"), "{df}");
    assert!(df.lines().nth(1).unwrap().starts_with("Images"), "{df}");
}

/// `history` and `inspect` of an image loaded from Docker's archive print what Docker printed for it
/// (facts/history-features_1.0.jsonl, facts/inspect-features_1.0.json), except what depends on the
/// store Docker had (parent image IDs on the build machine, graph driver paths, tag times).
#[test]
fn history_and_inspect_of_a_docker_image_match_dockers_own_output() {
    let env = new_env();
    env.run(&["load", "-i", fixture("features.docker.tar").to_str().unwrap()]).ok();
    let ours = env.run(&["history", "--no-trunc", "--format", "{{json .}}", "features:1.0"]).ok().stdout();
    let theirs = std::fs::read_to_string(fixture("facts/history-features_1.0.jsonl")).unwrap();
    let ours: Vec<serde_json::Value> = ours.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let theirs: Vec<serde_json::Value> = theirs.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(ours.len(), theirs.len());
    for (o, t) in ours.iter().zip(&theirs) {
        for k in ["CreatedBy", "Size", "Comment", "CreatedAt"] {
            assert_eq!(o[k], t[k], "{k}");
        }
    }
    assert_eq!(ours[0]["ID"], theirs[0]["ID"]);
    let ours: serde_json::Value = serde_json::from_str(&env.run(&["inspect", "features:1.0"]).ok().stdout()).unwrap();
    let theirs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("facts/inspect-features_1.0.json")).unwrap()).unwrap();
    for k in [
        "Id",
        "RepoTags",
        "Comment",
        "Created",
        "Container",
        "ContainerConfig",
        "DockerVersion",
        "Author",
        "Config",
        "Architecture",
        "Os",
        "Size",
        "VirtualSize",
        "RootFS",
    ] {
        assert_eq!(ours[0][k], theirs[0][k], "{k}");
    }
    // The same keys, in Docker's order, bar the ones only Docker's daemon has.
    let keys = |v: &serde_json::Value| v[0].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&ours), keys(&theirs));
}

#[test]
fn import_of_an_empty_stream_is_refused() {
    let env = new_env();
    let r = env.run_stdin(&["import", "-", "nothing"], Some(b"")).fails();
    assert!(r.stderr().contains("import -: the input is empty"), "{}", r.stderr());
    assert_eq!(env.run(&["images", "-q"]).ok().stdout(), "");
}

/// `skiff images | head -0`: when the reader has gone, skiff ends as Docker's CLI does, killed
/// by SIGPIPE without a word, rather than printing an error.
#[test]
fn a_closed_stdout_ends_the_command_silently_by_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    let env = new_env();
    for args in [&["images"][..], &["ps", "-a"], &["version"]] {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        drop(read);
        let out = env.cmd().args(args).stdout(write).stderr(std::process::Stdio::piped()).output().unwrap();
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{args:?}: {:?}", out.status);
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}
