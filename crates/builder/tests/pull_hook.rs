//! FROM through the [`ImagePuller`] hook: which FROM lines pull (missing
//! images; every image with `--pull`) and which never do (scratch, earlier
//! stages, local image ids). The puller here loads the busybox fixture archive,
//! as a registry would deliver it, and records what it was asked for.

mod common;

use common::*;
use skiff_builder::{BuildContext, BuildError, BuildOptions, ImagePuller, PullFailed};
use skiff_image::archive::{load, LoadOptions};
use skiff_image::{Digest, Reference, Store};
use std::cell::RefCell;
use std::io::Write;

const BUSYBOX_ID: &str = "sha256:b8fec42fe388bb1127f7a3df258520d7f5475fa3121aafc38401edae7ff3e520";

#[derive(Default)]
struct FixturePuller {
    /// (reference asked for, whether output was given)
    asked: RefCell<Vec<(String, bool)>>,
    fail: bool,
}

impl ImagePuller for FixturePuller {
    fn pull(&self, store: &Store, reference: &Reference, output: Option<&mut dyn Write>) -> Result<Digest, PullFailed> {
        self.asked.borrow_mut().push((reference.familiar(), output.is_some()));
        if self.fail {
            return Err(PullFailed {
                reference: reference.familiar(),
                message: format!("pull access denied for {}", reference.familiar()),
            });
        }
        if let Some(out) = output {
            writeln!(out, "Status: Downloaded newer image for {}", reference.familiar()).unwrap();
        }
        let mut f = std::fs::File::open(fixtures().join("busybox.docker.tar")).unwrap();
        let r = load(store, &mut f, &LoadOptions::new("busybox.docker.tar"), &mut |_| {}).unwrap();
        Ok(r.images[0].id.clone())
    }
}

fn run(store: &Store, o: &BuildOptions, puller: &FixturePuller) -> Result<String, (BuildError, String)> {
    let t = tempfile::tempdir().unwrap();
    let ctx = BuildContext::from_dir(t.path()).unwrap();
    let mut out = Vec::new();
    let r = skiff_builder::build_with_puller(store, &ctx, o, None, Some(puller), &mut out);
    let text = String::from_utf8(out).unwrap();
    r.map(|_| text.clone()).map_err(|e| (e, text))
}

fn asked(p: &FixturePuller) -> Vec<(String, bool)> {
    std::mem::take(&mut *p.asked.borrow_mut())
}

#[test]
fn missing_from_images_are_pulled_and_pull_always_asks() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(&t.path().join("root")).unwrap();
    let p = FixturePuller::default();
    let out = run(&store, &opts("FROM busybox\nLABEL a=b\n"), &p).unwrap();
    assert_eq!(asked(&p), [("busybox:latest".to_string(), true)]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..3],
        ["Step 1/2 : FROM busybox", "Status: Downloaded newer image for busybox:latest", " ---> b8fec42fe388"]
    );
    assert_eq!(store.resolve("busybox").unwrap().id.to_string(), BUSYBOX_ID);

    // In the store now: not pulled again, unless --pull.
    run(&store, &opts("FROM busybox\nLABEL a=b\n"), &p).unwrap();
    assert!(asked(&p).is_empty());
    let pull = BuildOptions { pull: true, ..opts("FROM busybox\nLABEL a=b\n") };
    run(&store, &pull, &p).unwrap();
    assert_eq!(asked(&p), [("busybox:latest".to_string(), true)]);

    // --pull never pulls scratch, an earlier stage, or an image named by its local id.
    let df = "FROM scratch AS empty\nLABEL x=y\nFROM busybox AS base\nFROM base\nFROM b8fec42fe388\nLABEL c=d\n";
    run(&store, &BuildOptions { pull: true, ..opts(df) }, &p).unwrap();
    assert_eq!(asked(&p), [("busybox:latest".to_string(), true)]);

    // Quiet builds pull without output.
    let quiet = BuildOptions { pull: true, quiet: true, ..opts("FROM busybox:latest\nLABEL q=1\n") };
    let out = run(&store, &quiet, &p).unwrap();
    assert_eq!(asked(&p), [("busybox:latest".to_string(), false)]);
    assert!(out.starts_with("sha256:") && out.lines().count() == 1, "{out}");
}

#[test]
fn a_failed_pull_fails_the_from_line() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(&t.path().join("root")).unwrap();
    let p = FixturePuller { fail: true, ..Default::default() };
    let (e, out) = run(&store, &opts("ARG V=1\nFROM example.com/lib/app:$V\nLABEL a=b\n"), &p).unwrap_err();
    assert_eq!(e.to_string(), "Dockerfile:2: pull access denied for example.com/lib/app:1");
    assert_eq!(out, "Step 1/3 : ARG V=1\nStep 2/3 : FROM example.com/lib/app:$V\n");
    assert_eq!(asked(&p), [("example.com/lib/app:1".to_string(), true)]);
    assert_eq!(image_count(&store), 0);
    // Without a puller, a missing image is an error naming it.
    let (e, _) = build(&store, t.path(), &opts("FROM nothere\n"), None).unwrap_err();
    assert!(e.to_string().contains("No such image: nothere"), "{e}");
    // ... and --pull without one builds on the local image.
    let (t2, with_busybox) = store_with_busybox();
    let (b, _) = build(
        &with_busybox,
        t2.path(),
        &BuildOptions {
            pull: true,
            ..opts(
                "FROM busybox
LABEL a=b
",
            )
        },
        None,
    )
    .unwrap_or_else(|(e, o)| panic!("{e}\n{o}"));
    assert_eq!(with_busybox.config(&b.id).unwrap().config.unwrap().labels.unwrap()["a"], "b");
}
