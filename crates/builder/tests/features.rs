//! The features fixture built by the builder, held to what Docker produced for the
//! same Dockerfile (facts/inspect-features_1.0.json, facts/history-features_1.0.jsonl,
//! facts/features.rootfs.json).
//!
//! RUN needs the container runtime (another crate); here a stand-in runtime
//! returns the overlay upper directory the two RUN commands produce (as
//! overlayfs would record them: copy-ups, whiteout devices, an opaque
//! directory), so everything the builder itself does is exercised for real.

mod common;

use common::*;
use serde_json::Value;
use skiff_builder::{LayerDiff, RunError, RunExecutor, RunSpec};
use skiff_image::{Digest, Store};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// (path, type, permission bits, size, symlink target)
type Row = (String, String, u32, Option<u64>, Option<String>);

struct FeaturesRuntime {
    scratch: tempfile::TempDir,
    calls: std::cell::RefCell<Vec<RunSpec>>,
}

fn write(p: &Path, data: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

impl RunExecutor for FeaturesRuntime {
    fn run(
        &self,
        store: &Store,
        image: Option<&Digest>,
        spec: &RunSpec,
        output: &mut dyn Write,
    ) -> Result<LayerDiff, RunError> {
        self.calls.borrow_mut().push(spec.clone());
        let n = self.calls.borrow().len();
        let up = self.scratch.path().join(format!("upper{n}"));
        std::fs::create_dir_all(&up).unwrap();
        let script = spec.argv.last().unwrap();
        writeln!(output, "(ran {})", &script[..20]).unwrap();
        if script.starts_with("mkdir -p /data/keep /data/gone /opq") {
            // chmod 4755 /bin/busybox copies busybox up.
            let layers = store.unpacked_layers(image.unwrap()).unwrap();
            std::fs::create_dir_all(up.join("bin")).unwrap();
            std::fs::copy(layers[0].join("bin/busybox"), up.join("bin/busybox")).unwrap();
            std::fs::set_permissions(up.join("bin/busybox"), PermissionsExt::from_mode(0o4755)).unwrap();
            write(&up.join("data/keep/a"), "one\n");
            write(&up.join("data/gone/b"), "two\n");
            write(&up.join("opq/x"), "x\n");
            write(&up.join("opq/y"), "y\n");
            write(&up.join("del-me"), "del\n");
            std::os::unix::fs::symlink("/release", up.join("rel-link")).unwrap();
            write(&up.join("hl-src"), "hl\n");
            std::fs::hard_link(up.join("hl-src"), up.join("hl-dst")).unwrap();
        } else if script.starts_with("rm -rf /data/gone /del-me") {
            let dev = |p: &Path| {
                rustix::fs::mknodat(rustix::fs::CWD, p, rustix::fs::FileType::CharacterDevice, 0.into(), 0).unwrap()
            };
            std::fs::create_dir_all(up.join("data/keep")).unwrap();
            dev(&up.join("data/gone"));
            dev(&up.join("del-me"));
            write(&up.join("data/keep/a"), "one\n");
            std::fs::set_permissions(up.join("data/keep/a"), PermissionsExt::from_mode(0o600)).unwrap();
            write(&up.join("opq/z"), "z\n");
            rustix::fs::lsetxattr(up.join("opq"), "trusted.overlay.opaque", b"y", rustix::fs::XattrFlags::empty())
                .unwrap();
            let d = "d".repeat(120);
            let f = "f".repeat(120);
            write(&up.join("long").join(&d).join(&f), "deep\n");
            write(&up.join("ünïcødé name.txt"), "uni\n");
            rustix::fs::mknodat(rustix::fs::CWD, up.join("fifo"), rustix::fs::FileType::Fifo, 0o644.into(), 0).unwrap();
        } else {
            return Err(RunError::Exit(127));
        }
        Ok(LayerDiff::UpperDir { path: up, remove: true, exclude: vec![] })
    }
}

fn docker_inspect() -> Value {
    let v: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("facts/inspect-features_1.0.json")).unwrap()).unwrap();
    v[0].clone()
}

fn docker_history() -> Vec<Value> {
    std::fs::read_to_string(fixtures().join("facts/history-features_1.0.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn features_context_builds_what_docker_built() {
    let (t, store) = store_with_busybox();
    let ctx = t.path().join("ctx");
    copy_context("features-context", &ctx);
    let dockerfile = std::fs::read_to_string(ctx.join("Dockerfile")).unwrap();
    let mut o = opts(&dockerfile);
    o.tags = vec![skiff_image::Reference::parse_with_default_tag("features:1.0").unwrap()];
    let rt = FeaturesRuntime { scratch: tempfile::tempdir().unwrap(), calls: Default::default() };
    let (outcome, out) = build(&store, &ctx, &o, Some(&rt)).unwrap_or_else(|(e, out)| panic!("{e}\n{out}"));

    // Classic builder output.
    assert!(out.starts_with("Step 1/13 : FROM busybox\n ---> b8fec42fe388\nStep 2/13 : LABEL org.example.purpose=\"layer features fixture\"\n ---> Running in "), "{out}");
    assert!(out.contains("Step 7/13 : COPY hello.sh /usr/local/bin/hello.sh\n ---> "), "{out}");
    assert!(
        out.ends_with(&format!("Successfully built {}\nSuccessfully tagged features:1.0\n", outcome.id.short())),
        "{out}"
    );
    assert_eq!(outcome.created.len(), 12);

    // RUN got the environment Docker gives it: image env plus build args.
    let calls = rt.calls.borrow();
    assert_eq!(calls[0].env, vec!["PATH=/usr/local/bin:/bin", "GREETING=hello docker", "BUILD_NOTE=fixture"]);
    assert_eq!(calls[0].argv[..2], ["/bin/sh".to_string(), "-c".to_string()]);
    assert_eq!(calls[0].workdir, "/");

    // Config: equal to Docker's in every field but ids and times.
    let docker = docker_inspect();
    let cfg = store.config(&outcome.id).unwrap();
    let mut ours = serde_json::to_value(cfg.config.as_ref().unwrap()).unwrap();
    let mut theirs = docker["Config"].clone();
    assert!(ours["Image"].as_str().unwrap().starts_with("sha256:"));
    ours["Image"] = Value::Null;
    theirs["Image"] = Value::Null;
    assert_eq!(ours, theirs);
    let mut ours_cc = serde_json::to_value(cfg.container_config.as_ref().unwrap()).unwrap();
    let mut theirs_cc = docker["ContainerConfig"].clone();
    for v in [&mut ours_cc, &mut theirs_cc] {
        v["Image"] = Value::Null;
        v["Hostname"] = Value::Null;
    }
    assert_eq!(ours_cc, theirs_cc);
    // The layers: busybox's, then three the build wrote.
    assert_eq!(cfg.rootfs.diff_ids.len(), 4);
    assert_eq!(cfg.rootfs.diff_ids[0].to_string(), docker["RootFS"]["Layers"][0].as_str().unwrap());
    let img = store.image(&outcome.id).unwrap();
    assert_eq!(img.size, docker["Size"].as_u64().unwrap());

    // History: CREATED BY and sizes as `docker history` shows them, newest first, with the parent chain.
    let hist = docker_history();
    let layers = store.image_layers(&outcome.id).unwrap();
    let mut sizes = Vec::new();
    let mut li = layers.iter();
    for h in &cfg.history {
        sizes.push(if h.empty_layer { 0 } else { li.next().unwrap().size });
    }
    let ours: Vec<(String, u64)> =
        cfg.history.iter().zip(sizes).rev().map(|(h, s)| (h.created_by.clone().unwrap_or_default(), s)).collect();
    assert_eq!(ours.len(), hist.len());
    let docker_sizes = ["0B", "0B", "0B", "0B", "0B", "0B", "31B", "15B", "1.98MB", "0B", "0B", "0B", "1.98MB"];
    for (i, ((created_by, size), h)) in ours.iter().zip(&hist).enumerate() {
        assert_eq!(created_by, h["CreatedBy"].as_str().unwrap(), "history entry {i}");
        let human = match size {
            0 => "0B".to_string(),
            s if *s < 1000 => format!("{s}B"),
            s => format!("{:.3}MB", *s as f64 / 1e6).trim_end_matches('0').to_string(),
        };
        assert_eq!(human.replace("1.982MB", "1.98MB"), docker_sizes[i], "size of history entry {i}");
    }
    // Every step's image is recorded with its parent, so history can show the IDs.
    let mut chain = vec![outcome.id.clone()];
    while let Some(p) = store.image(chain.last().unwrap()).unwrap().parent {
        chain.push(p);
    }
    assert_eq!(chain.len(), 13);
    assert_eq!(
        chain.last().unwrap().to_string(),
        "sha256:b8fec42fe388bb1127f7a3df258520d7f5475fa3121aafc38401edae7ff3e520"
    );

    // Root filesystem: what `docker export` listed, minus what Docker adds to containers.
    let facts: Vec<Value> =
        serde_json::from_slice(&std::fs::read(fixtures().join("facts/features.rootfs.json")).unwrap()).unwrap();
    // (`etc/` itself too: busybox has none, Docker's container setup made it and the /etc/mtab link.)
    let docker_added = [".dockerenv", "etc", "dev", "proc", "sys"];
    let size_of = |p: &str| facts.iter().find(|e| e["path"] == p).and_then(|e| e["size"].as_u64());
    let want: Vec<Row> = facts
        .iter()
        .filter(|e| {
            let p = e["path"].as_str().unwrap();
            !docker_added.iter().any(|d| p == *d || p.starts_with(&format!("{d}/")))
        })
        .map(|e| {
            let ty = match e["type"].as_str().unwrap() {
                "hardlink" => "file".to_string(),
                t => t.to_string(),
            };
            let mode = u32::from_str_radix(e["mode"].as_str().unwrap().trim_start_matches("0o"), 8).unwrap() & 0o7777;
            let link = if ty == "symlink" { e["link"].as_str().map(String::from) } else { None };
            let size = match e["type"].as_str().unwrap() {
                "hardlink" => size_of(e["link"].as_str().unwrap()),
                _ => e["size"].as_u64(),
            };
            (e["path"].as_str().unwrap().to_string(), ty, mode, size, link)
        })
        .collect();
    let view = skiff_image::overlay::MergedView::new(store.unpacked_layers(&outcome.id).unwrap());
    let mut got = Vec::new();
    for (path, real) in view.walk("/") {
        let m = std::fs::symlink_metadata(&real).unwrap();
        let ft = m.file_type();
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let ty = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_fifo() {
            "fifo"
        } else {
            "file"
        };
        let size = (ty == "file").then_some(m.len());
        let link = (ty == "symlink").then(|| std::fs::read_link(&real).unwrap().to_string_lossy().into_owned());
        got.push((path, ty.to_string(), m.mode() & 0o7777, size, link));
    }
    got.sort();
    let mut want = want;
    want.sort();
    assert_eq!(got, want);

    // The layers the build wrote list the same entries, with the same types, modes, owners,
    // sizes and links, as the layers Docker wrote (features.docker.tar), in the same order.
    let docker_layers = layer_listings_from_archive(&fixtures().join("features.docker.tar"));
    for (i, l) in store.image_layers(&outcome.id).unwrap().iter().enumerate().skip(1) {
        let ours = listing(store.blobs().open(&l.blob).unwrap());
        let mut theirs = docker_layers[i].clone();
        for e in &mut theirs {
            // Docker quirk: overlayfs shares one inode among whiteouts, Docker's archiver takes the
            // second for a hard link to the first, and its whiteout conversion then makes it a
            // regular file but leaves the link name behind (`.wh.del-me` -> "data/gone").
            if e.0.rsplit('/').next().unwrap().starts_with(".wh.") {
                e.6.clear();
            }
        }
        assert_eq!(ours, theirs, "layer {i}");
    }

    // An unchanged rebuild creates nothing.
    let before = image_count(&store);
    let (again, out2) = build(&store, &ctx, &o, Some(&rt)).unwrap_or_else(|(e, out)| panic!("{e}\n{out}"));
    assert_eq!(again.id, outcome.id);
    assert!(again.created.is_empty());
    assert_eq!(again.cache_hits, 12);
    assert_eq!(image_count(&store), before);
    assert_eq!(out2.matches(" ---> Using cache").count(), 12, "{out2}");
    assert_eq!(rt.calls.borrow().len(), 2, "cached RUN steps do not run");
}

/// (path, type, mode, uid, gid, size, link) of each entry of a layer tar, in order.
type Listing = Vec<(String, u8, u32, u64, u64, u64, String)>;

fn listing<R: std::io::Read>(r: R) -> Listing {
    let mut ar = tar::Archive::new(r);
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            let path = String::from_utf8(e.path_bytes().to_vec()).unwrap();
            let path = path.trim_start_matches("./").trim_end_matches('/').to_string();
            let link = e.link_name_bytes().map(|l| String::from_utf8(l.to_vec()).unwrap()).unwrap_or_default();
            (
                path,
                h.entry_type().as_byte(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.size().unwrap(),
                link,
            )
        })
        .collect()
}

fn layer_listings_from_archive(archive: &Path) -> Vec<Listing> {
    let bytes = std::fs::read(archive).unwrap();
    let mut files = std::collections::HashMap::new();
    let mut ar = tar::Archive::new(bytes.as_slice());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        files.insert(name, data);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    manifest[0]["Layers"].as_array().unwrap().iter().map(|l| listing(files[l.as_str().unwrap()].as_slice())).collect()
}
