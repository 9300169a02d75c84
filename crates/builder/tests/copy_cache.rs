//! COPY/ADD semantics, `.dockerignore`, the layer cache, multi-stage builds and
//! line-numbered errors, built into a real store.

mod common;

use common::*;
use skiff_builder::BuildError;
use skiff_image::{Digest, Store};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The entries of an image's top layer: path → (type char, mode, uid, gid, size, link).
fn top_layer(store: &Store, id: &Digest) -> BTreeMap<String, (char, u32, u64, u64, u64, String)> {
    let layers = store.image_layers(id).unwrap();
    let f = store.blobs().open(&layers.last().unwrap().blob).unwrap();
    let mut ar = tar::Archive::new(f);
    let mut out = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        let ty = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            _ => 'f',
        };
        let path = String::from_utf8(e.path_bytes().to_vec()).unwrap().trim_end_matches('/').to_string();
        let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
        out.insert(path, (ty, h.mode().unwrap(), h.uid().unwrap(), h.gid().unwrap(), h.size().unwrap(), link));
    }
    out
}

fn write(dir: &Path, rel: &str, data: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, data).unwrap();
    std::fs::set_permissions(&p, PermissionsExt::from_mode(0o644)).unwrap();
}

fn history(store: &Store, id: &Digest) -> Vec<String> {
    store.config(id).unwrap().history.iter().map(|h| h.created_by.clone().unwrap_or_default()).collect()
}

#[test]
fn copy_only_dockerfile_matches_docker_format() {
    // The features Dockerfile without its RUN lines: every remaining history entry is Docker's.
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    copy_context("features-context", &ctx);
    let full = std::fs::read_to_string(ctx.join("Dockerfile")).unwrap();
    let df: String = full.lines().filter(|l| !l.starts_with("RUN ")).map(|l| format!("{l}\n")).collect();
    let (b, out) = build(&store, &ctx, &opts(&df), None).unwrap_or_else(|(e, o)| panic!("{e}\n{o}"));
    assert!(out.contains("Step 11/11 : CMD [\"world\"]\n ---> Running in "), "{out}");
    let docker: Vec<String> = std::fs::read_to_string(fixtures().join("facts/history-features_1.0.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["CreatedBy"].as_str().unwrap().to_string())
        .filter(|c| !c.starts_with("|1 "))
        .collect();
    let mut ours = history(&store, &b.id);
    ours.reverse();
    assert_eq!(ours, docker);
    let cfg = store.config(&b.id).unwrap();
    assert!(cfg.history.last().unwrap().empty_layer);
    // busybox, the COPY, and WORKDIR /data (busybox has no /data without the RUN lines).
    assert_eq!(cfg.rootfs.diff_ids.len(), 3);
    let mut id = b.id.clone();
    while !history(&store, &id).last().unwrap().contains(" COPY ") {
        id = store.image(&id).unwrap().parent.unwrap();
    }
    let layer = top_layer(&store, &id);
    assert_eq!(layer.keys().collect::<Vec<_>>(), vec!["usr", "usr/local", "usr/local/bin", "usr/local/bin/hello.sh"]);
    // Docker's mode fields carry the file type bits (facts: features.docker.tar).
    assert_eq!(layer["usr/local/bin/hello.sh"], ('f', 0o100755, 0, 0, 31, String::new()));
    assert_eq!(layer["usr"].1, 0o40755);
}

#[test]
fn dockerignore_rules_apply_to_copy() {
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    for f in ["a.md", "README.md", "src/main.c", "src/gen/x.tmp", "build/out.o", "keep.tmp", "docs/x/draft1"] {
        write(&ctx, f, f);
    }
    write(&ctx, ".dockerignore", "# docs\n*.md\n!README.md\nbuild\n**/*.tmp\n!keep.tmp\ndocs/**/draft*\n");
    let (b, _) =
        build(&store, &ctx, &opts("FROM scratch\nCOPY . /app/\n"), None).unwrap_or_else(|(e, o)| panic!("{e}\n{o}"));
    let files: Vec<String> = top_layer(&store, &b.id).into_iter().filter(|(_, v)| v.0 == 'f').map(|(k, _)| k).collect();
    assert_eq!(files, vec!["app/.dockerignore", "app/README.md", "app/keep.tmp", "app/src/main.c"]);
    // An excluded file cannot be named either.
    let (e, _) = build(&store, &ctx, &opts("FROM scratch\nCOPY build/out.o /\n"), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dockerfile:2: COPY failed: file not found in build context or excluded by .dockerignore: stat build/out.o: file does not exist"
    );
}

#[test]
fn cache_hits_and_invalidation() {
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    write(&ctx, "one.txt", "1");
    write(&ctx, "two.txt", "2");
    let df = "FROM busybox\nENV A=1\nCOPY one.txt /one.txt\nLABEL x=y\nCOPY two.txt /two.txt\nCMD [\"sh\"]\n";
    let (first, _) = build(&store, &ctx, &opts(df), None).unwrap();
    assert_eq!(first.created.len(), 5);
    let n = image_count(&store);
    let (again, out) = build(&store, &ctx, &opts(df), None).unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.cache_hits, 5);
    assert!(again.created.is_empty());
    assert_eq!(image_count(&store), n, "an unchanged rebuild creates nothing");
    assert_eq!(out.matches(" ---> Using cache").count(), 5);
    // Changing the second file rebuilds from its COPY on.
    write(&ctx, "two.txt", "22");
    let (third, out) = build(&store, &ctx, &opts(df), None).unwrap();
    assert_eq!(third.cache_hits, 3, "{out}");
    assert_eq!(third.created.len(), 2);
    assert_ne!(third.id, first.id);
    // A changed mode is a change too (it is in Docker's file hash).
    std::fs::set_permissions(ctx.join("one.txt"), PermissionsExt::from_mode(0o600)).unwrap();
    let (fourth, _) = build(&store, &ctx, &opts(df), None).unwrap();
    assert_eq!(fourth.cache_hits, 1);
    // --no-cache builds everything again.
    let mut o = opts(df);
    o.no_cache = true;
    let (fifth, out) = build(&store, &ctx, &o, None).unwrap();
    assert_eq!(fifth.cache_hits, 0);
    assert!(!out.contains("Using cache"));
}

#[test]
fn cache_never_trusts_images_it_did_not_build() {
    // An image loaded from an archive has the same parent and the same history
    // text as a build step would, but it is not in the build cache (CVE-2024-24557).
    let (t, store) = store_with_busybox();
    let mut f = std::fs::File::open(fixtures().join("features.docker.tar")).unwrap();
    skiff_image::archive::load(&store, &mut f, &skiff_image::archive::LoadOptions::new("x"), &mut |_| {}).unwrap();
    let ctx = t.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let (b, out) =
        build(&store, &ctx, &opts("FROM busybox\nLABEL org.example.purpose=\"layer features fixture\"\n"), None)
            .unwrap();
    assert!(!out.contains("Using cache"));
    assert_ne!(b.id.to_string(), "sha256:574884ef118f8656a247bc1045eb8c435be01020a047ad3262d237bc7833358e");
}

#[test]
fn copy_semantics() {
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    write(&ctx, "dir/a.txt", "a");
    write(&ctx, "dir/sub/b.txt", "bb");
    write(&ctx, "x.conf", "x");
    write(&ctx, "y.conf", "yy");
    write(&ctx, "passwd", "root:x:0:0:root:/root:/bin/sh\nredis:x:999:998::/data:/bin/false\n");
    write(&ctx, "group", "root:x:0:\nredis:x:998:\n");
    std::os::unix::fs::symlink("a.txt", ctx.join("dir/link")).unwrap();
    let df = "FROM busybox\n\
              COPY passwd group /etc/\n\
              WORKDIR /srv\n\
              COPY dir /opt/dir\n\
              COPY *.conf conf/\n\
              COPY --chown=redis:redis --chmod=600 x.conf /owned\n\
              COPY --chown=1000 y.conf ./rel.conf\n";
    let (b, out) = build(&store, &ctx, &opts(df), None).unwrap_or_else(|(e, o)| panic!("{e}\n{o}"));
    let mut id = b.id.clone();
    let mut layers = Vec::new();
    loop {
        let c = store.config(&id).unwrap();
        if !c.history.last().unwrap().empty_layer {
            layers.push(top_layer(&store, &id));
        }
        match store.image(&id).unwrap().parent {
            Some(p) if p.to_string() != "sha256:b8fec42fe388bb1127f7a3df258520d7f5475fa3121aafc38401edae7ff3e520" => {
                id = p
            }
            _ => break,
        }
    }
    layers.reverse();
    // 0: /etc/passwd, /etc/group; 1: WORKDIR /srv (missing, so created); 2: dir contents; 3: globs; 4: chown names; 5: numeric chown.
    assert_eq!(layers.len(), 6, "{out}");
    assert!(layers[0].contains_key("etc/passwd") && layers[0].contains_key("etc/group"));
    assert_eq!(layers[1].keys().collect::<Vec<_>>(), vec!["srv"]);
    assert_eq!(
        layers[2].keys().collect::<Vec<_>>(),
        vec!["opt", "opt/dir", "opt/dir/a.txt", "opt/dir/link", "opt/dir/sub", "opt/dir/sub/b.txt"]
    );
    assert_eq!(layers[2]["opt/dir/link"].0, 'l');
    assert_eq!(layers[2]["opt/dir/link"].5, "a.txt");
    assert_eq!(layers[3].keys().collect::<Vec<_>>(), vec!["srv", "srv/conf", "srv/conf/x.conf", "srv/conf/y.conf"]);
    assert_eq!(layers[4]["owned"], ('f', 0o100600, 999, 998, 1, String::new()));
    assert_eq!(layers[5]["srv/rel.conf"].2, 1000);
    assert_eq!(layers[5]["srv/rel.conf"].3, 1000);
    let h = history(&store, &b.id);
    // h[0] is busybox's import.
    assert!(h[1].starts_with("/bin/sh -c #(nop) COPY multi:") && h[1].ends_with(" in /etc/ "), "{}", h[1]);
    assert_eq!(h[2], "/bin/sh -c #(nop) WORKDIR /srv");
    assert!(h[3].starts_with("/bin/sh -c #(nop) COPY dir:") && h[3].ends_with(" in /opt/dir "), "{}", h[3]);
}

#[test]
fn add_extracts_local_tars_and_refuses_urls() {
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    // A gzip'd tar made by a real tar.
    write(&ctx, "src/hello.txt", "hello");
    let st = std::process::Command::new("tar")
        .args(["-czf", "bundle.tar.gz", "-C", "src", "hello.txt"])
        .current_dir(&ctx)
        .status()
        .unwrap();
    assert!(st.success());
    let (b, _) =
        build(&store, &ctx, &opts("FROM scratch\nADD bundle.tar.gz /x/\nCOPY bundle.tar.gz /y/\n"), None).unwrap();
    let parent = store.image(&b.id).unwrap().parent.unwrap();
    let added = top_layer(&store, &parent);
    assert_eq!(added["x/hello.txt"].4, 5);
    let copied = top_layer(&store, &b.id);
    assert!(copied.contains_key("y/bundle.tar.gz"), "COPY does not extract");
    let (e, _) = build(&store, &ctx, &opts("FROM scratch\nADD https://example.com/f.tar /\n"), None).unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("Dockerfile:2: ADD https://example.com/f.tar: downloading remote files"), "{msg}");
}

#[test]
fn sources_outside_the_context_are_refused() {
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(t.path().join("outside"), "secret").unwrap();
    std::os::unix::fs::symlink(t.path().join("outside"), ctx.join("escape")).unwrap();
    let (e, _) = build(&store, &ctx, &opts("FROM scratch\nCOPY ../outside /\n"), None).unwrap_err();
    assert_eq!(e.to_string(), "Dockerfile:2: COPY failed: forbidden path outside the build context: ../outside ()");
    // A symlink to an absolute path resolves inside the context, where there is nothing.
    let (e, _) = build(&store, &ctx, &opts("FROM scratch\nCOPY escape /\n"), None).unwrap_err();
    assert!(e.to_string().contains("file not found in build context"), "{e}");
}

#[test]
fn multi_stage_and_target() {
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    write(&ctx, "prog.sh", "#!/bin/sh\necho built\n");
    let df = "ARG BASE=busybox\n\
              FROM ${BASE} AS builder\n\
              ARG BASE\n\
              COPY prog.sh /out/prog\n\
              LABEL base=$BASE\n\
              FROM scratch\n\
              COPY --from=builder /out/prog /prog\n\
              COPY --from=builder /bin/busybox /bin/\n\
              CMD [\"/prog\"]\n";
    let (b, out) = build(&store, &ctx, &opts(df), None).unwrap_or_else(|(e, o)| panic!("{e}\n{o}"));
    assert!(
        out.starts_with("Step 1/9 : ARG BASE=busybox\nStep 2/9 : FROM ${BASE} AS builder\n ---> b8fec42fe388\n"),
        "{out}"
    );
    let cfg = store.config(&b.id).unwrap();
    assert_eq!(cfg.rootfs.diff_ids.len(), 2, "only the final stage's layers");
    let last = top_layer(&store, &store.image(&b.id).unwrap().parent.unwrap());
    assert_eq!(last["bin/busybox"].4, 1982256);
    // The history hash of an image file, as Docker 20.10 (the peer) wrote it for this same COPY.
    let h = history(&store, &b.id);
    assert_eq!(
        h[h.len() - 2],
        "/bin/sh -c #(nop) COPY file:66622fc90963203af10fc3a97e5fe6b1fe276e60aba66707f20b436ae322b75c in /bin/ "
    );
    // --target stops at the named stage.
    let mut o = opts(df);
    o.target = Some("builder".into());
    let (tb, out) = build(&store, &ctx, &o, None).unwrap();
    assert!(out.contains("Step 5/5 : LABEL base=$BASE"), "{out}");
    let labels = store.config(&tb.id).unwrap().config.unwrap().labels.unwrap();
    assert_eq!(labels["base"], "busybox");
    let mut o = opts(df);
    o.target = Some("nope".into());
    assert_eq!(
        build(&store, &ctx, &o, None).unwrap_err().0.to_string(),
        "failed to reach build target nope in Dockerfile"
    );
}

#[test]
fn build_args_labels_and_metadata_instructions() {
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let df = "FROM busybox\n\
              ARG VER=1.0\n\
              ENV APP_VER=${VER:-none} HOME=/root\n\
              ENV OLD legacy form\n\
              EXPOSE 80 53/udp\n\
              VOLUME /a /b\n\
              SHELL [\"/bin/ash\", \"-c\"]\n\
              ENTRYPOINT exec app\n\
              STOPSIGNAL SIGQUIT\n\
              HEALTHCHECK --interval=5s --retries=3 CMD wget -q localhost\n\
              ONBUILD COPY . /src\n\
              USER app\n";
    let mut o = opts(df);
    o.build_args = vec![("VER".into(), Some("2.0".into())), ("UNUSED".into(), Some("x".into()))];
    o.labels = vec![("com.example.l".into(), "v".into())];
    let (b, out) = build(&store, &ctx, &o, None).unwrap_or_else(|(e, o)| panic!("{e}\n{o}"));
    assert!(out.contains("Step 13/13 : LABEL \"com.example.l\"='v'"), "{out}");
    assert!(out.contains("[Warning] One or more build-args [UNUSED] were not consumed"), "{out}");
    let c = store.config(&b.id).unwrap().config.unwrap();
    assert_eq!(
        c.env.unwrap(),
        vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "APP_VER=2.0",
            "HOME=/root",
            "OLD=legacy form"
        ]
    );
    assert_eq!(c.exposed_ports.unwrap().keys().collect::<Vec<_>>(), vec!["53/udp", "80/tcp"]);
    assert_eq!(c.volumes.unwrap().keys().collect::<Vec<_>>(), vec!["/a", "/b"]);
    assert_eq!(c.entrypoint.unwrap(), vec!["/bin/ash", "-c", "exec app"]);
    assert_eq!(c.cmd, None);
    assert_eq!(c.stop_signal, "SIGQUIT");
    assert_eq!(
        serde_json::to_string(&c.healthcheck.unwrap()).unwrap(),
        r#"{"Test":["CMD-SHELL","wget -q localhost"],"Interval":5000000000,"Retries":3}"#
    );
    assert_eq!(c.on_build.unwrap(), vec!["COPY . /src"]);
    assert_eq!(c.user, "app");
    assert_eq!(c.labels.unwrap()["com.example.l"], "v");
    let h = history(&store, &b.id);
    assert_eq!(h[1], "/bin/sh -c #(nop)  ARG VER=1.0");
    assert_eq!(h[2], "/bin/sh -c #(nop)  ENV APP_VER=2.0 HOME=/root");
    // As written, sorted (checked against Docker 20.10: `EXPOSE 53/udp 80 8000-8001`).
    assert_eq!(h[4], "/bin/sh -c #(nop)  EXPOSE 53/udp 80");
    assert_eq!(h[5], "/bin/sh -c #(nop)  VOLUME [/a /b]");
    // The commit after SHELL already uses the new shell, as Docker's does.
    assert_eq!(h[6], "/bin/ash -c #(nop)  SHELL [/bin/ash -c]");
    assert_eq!(h[7], "/bin/ash -c #(nop)  ENTRYPOINT [\"/bin/ash\" \"-c\" \"exec app\"]");
    assert_eq!(
        h[9],
        "/bin/ash -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"wget -q localhost\"] \"5s\" \"0s\" \"0s\" '\\x03'}"
    );
}

#[test]
fn errors_name_the_line() {
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let err = |df: &str| -> String { build(&store, &ctx, &opts(df), None).unwrap_err().0.to_string() };
    assert_eq!(err("FROM scratch\nLABEL a=b\nFOO bar\n"), "Dockerfile:3: unknown instruction: FOO");
    assert_eq!(
        err("FROM busybox\nENV A=1\nRUN echo hi\n"),
        "Dockerfile:3: RUN is not supported yet: the container runtime is not available"
    );
    assert_eq!(
        err("FROM scratch\n\nCOPY missing.txt /\n"),
        "Dockerfile:3: COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist"
    );
    assert!(err("FROM nosuchimage\n").starts_with("Dockerfile:1: FROM nosuchimage: image not found locally"));
    assert_eq!(err("LABEL a=b\n"), "Dockerfile:1: no build stage in current context");
    write(&ctx, "a", "a");
    write(&ctx, "b", "b");
    assert_eq!(
        err("FROM scratch\nCOPY a b /notdir\n"),
        "Dockerfile:2: When using COPY with more than one source file, the destination must be a directory and end with a /"
    );
    let (e, _) = build(&store, &ctx, &opts("FROM busybox\nRUN false\n"), None).unwrap_err();
    assert!(matches!(e, BuildError::Step { line: 2, .. }));
}

#[test]
fn onbuild_triggers_run_in_the_child_build() {
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    write(&ctx, "app.txt", "app");
    let mut o = opts("FROM busybox\nONBUILD COPY app.txt /app/\nONBUILD LABEL built=child\n");
    o.tags = vec![skiff_image::Reference::parse_with_default_tag("base:onbuild").unwrap()];
    build(&store, &ctx, &o, None).unwrap();
    let (b, out) = build(&store, &ctx, &opts("FROM base:onbuild\nCMD [\"cat\", \"/app/app.txt\"]\n"), None).unwrap();
    assert!(out.contains("# Executing 2 build triggers\n"), "{out}");
    let c = store.config(&b.id).unwrap().config.unwrap();
    assert_eq!(c.on_build, None, "triggers do not pass on to grandchildren");
    assert_eq!(c.labels.unwrap()["built"], "child");
    let h = history(&store, &b.id);
    assert!(h.iter().any(|l| l.contains("COPY file:") && l.ends_with(" in /app/ ")), "{h:?}");
}

#[test]
fn copy_heredoc_and_unsupported_flags() {
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let df = "FROM scratch\nARG WHO=world\nCOPY <<EOF /greeting.txt\nhello $WHO\nEOF\nCOPY <<'RAW' /raw.txt\nhello $WHO\nRAW\n";
    let (b, _) = build(&store, &ctx, &opts(df), None).unwrap_or_else(|(e, o)| panic!("{e}\n{o}"));
    let raw = top_layer(&store, &b.id);
    assert_eq!(raw["raw.txt"].4, "hello $WHO\n".len() as u64);
    let greeting = top_layer(&store, &store.image(&b.id).unwrap().parent.unwrap());
    assert_eq!(greeting["greeting.txt"].4, "hello world\n".len() as u64);
    // Flags the classic builder does not know are refused, not silently ignored.
    let (e, _) = build(&store, &ctx, &opts("FROM scratch\nCOPY --exclude=*.md . /\n"), None).unwrap_err();
    assert_eq!(e.to_string(), "Dockerfile:2: COPY: unknown flag: exclude");
    let (e, _) = build(&store, &ctx, &opts("FROM scratch\nRUN --mount=type=cache,target=/x true\n"), None).unwrap_err();
    assert_eq!(e.to_string(), "Dockerfile:2: RUN: unknown flag: mount");
}

#[test]
fn hard_links_and_archive_owners_as_docker_keeps_them() {
    // Expectations observed from Docker 20.10.24 (the peer) building the same tree.
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    write(&ctx, "t/f", "d\n");
    std::fs::set_permissions(ctx.join("t"), PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::hard_link(ctx.join("t/f"), ctx.join("t/hl")).unwrap();
    let st = std::process::Command::new("tar")
        .args(["--owner=7", "--group=8", "-cf", "../own.tar", "f", "hl"])
        .current_dir(ctx.join("t"))
        .status()
        .unwrap();
    assert!(st.success());
    let df = "FROM busybox\nCOPY --chown=999 t /tdir\nADD --chown=1:2 own.tar /untar2\n";
    let (b, _) = build(&store, &ctx, &opts(df), None).unwrap_or_else(|(e, o)| panic!("{e}\n{o}"));
    let h = history(&store, &b.id);
    assert_eq!(
        h[1],
        "/bin/sh -c #(nop) COPY --chown=999dir:90e6a7308ae4de78584392f03d7c2177f333ffa48241e723e1be12b6ebd74a91 in /tdir "
    );
    let copied = top_layer(&store, &store.image(&b.id).unwrap().parent.unwrap());
    assert_eq!(copied["tdir/f"], ('f', 0o100644, 999, 999, 2, String::new()));
    assert_eq!(copied["tdir/hl"], ('h', 0o100644, 999, 999, 0, "tdir/f".to_string()));
    let added = top_layer(&store, &b.id);
    assert_eq!(added["untar2/f"].2, 7, "ADD keeps the archive's owners");
    assert_eq!(added["untar2/hl"].0, 'h');
}

/// A stand-in runtime that records what it was asked and changes one file.
struct Recorder(std::cell::RefCell<Vec<skiff_builder::RunSpec>>, tempfile::TempDir);

impl skiff_builder::RunExecutor for Recorder {
    fn run(
        &self,
        _store: &Store,
        _image: Option<&Digest>,
        spec: &skiff_builder::RunSpec,
        _out: &mut dyn std::io::Write,
    ) -> Result<skiff_builder::LayerDiff, skiff_builder::RunError> {
        self.0.borrow_mut().push(spec.clone());
        if spec.argv.last().map(String::as_str) == Some("exit 3") {
            return Err(skiff_builder::RunError::Exit(3));
        }
        let up = self.1.path().join(format!("u{}", self.0.borrow().len()));
        write(&up, "ran", "1");
        std::fs::create_dir_all(up.join("proc")).unwrap();
        Ok(skiff_builder::LayerDiff::UpperDir { path: up, remove: true, exclude: vec!["proc".into()] })
    }
}

#[test]
fn run_steps_through_the_executor() {
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let rec = Recorder(Default::default(), tempfile::tempdir().unwrap());
    let df = "FROM busybox\nARG V=1\nENV E=e\nUSER 5\nWORKDIR /tmp\nRUN echo $V\nRUN [\"/bin/true\", \"x\"]\n";
    let mut o = opts(df);
    o.build_args = vec![("http_proxy".into(), Some("http://proxy:3128".into()))];
    o.network = Some("none".into());
    let (b, out) = build(&store, &ctx, &o, Some(&rec)).unwrap_or_else(|(e, o)| panic!("{e}\n{o}"));
    assert!(!out.contains("[Warning]"), "proxy args are never unused: {out}");
    let calls = rec.0.borrow();
    assert_eq!(calls[0].argv, vec!["/bin/sh", "-c", "echo $V"]);
    assert_eq!(calls[0].user, "5");
    assert_eq!(calls[0].workdir, "/tmp");
    assert_eq!(calls[0].network.as_deref(), Some("none"));
    assert_eq!(
        calls[0].env,
        vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "E=e",
            "V=1",
            "http_proxy=http://proxy:3128"
        ]
    );
    assert_eq!(calls[1].argv, vec!["/bin/true", "x"]);
    drop(calls);
    let h = history(&store, &b.id);
    assert_eq!(h[h.len() - 2], "|1 V=1 /bin/sh -c echo $V");
    assert_eq!(h[h.len() - 1], "|1 V=1 /bin/true x");
    // The layer is the upper directory, without the excluded mount point.
    let layer = top_layer(&store, &b.id);
    assert_eq!(layer.keys().collect::<Vec<_>>(), vec!["ran"]);
    assert!(out.contains(" ---> Running in "));
    // A failing command names its line and exit code.
    let (e, _) = build(&store, &ctx, &opts("FROM busybox\n\nRUN exit 3\n"), Some(&rec)).unwrap_err();
    assert_eq!(e.to_string(), "Dockerfile:3: the command '/bin/sh -c exit 3' returned a non-zero code: 3");
}

#[test]
fn removed_images_are_cache_misses() {
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    write(&ctx, "f", "f");
    let mut o = opts("FROM busybox\nCOPY f /f\nLABEL a=b\n");
    o.tags = vec![skiff_image::Reference::parse_with_default_tag("gone:1").unwrap()];
    let (first, _) = build(&store, &ctx, &o, None).unwrap();
    // rmi takes the image and its now-dangling build parents.
    let events = store.remove("gone:1", false).unwrap();
    assert!(events.len() >= 3, "{events:?}");
    let (second, out) = build(&store, &ctx, &o, None).unwrap();
    assert!(!out.contains("Using cache"), "{out}");
    assert_eq!(second.created.len(), 2);
    assert_ne!(second.id, first.id);
}
