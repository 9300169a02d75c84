//! Shared helpers for the builder's integration tests.

#![allow(dead_code)]

use skiff_builder::{BuildContext, BuildOptions, BuildOutcome, RunExecutor};
use skiff_image::archive::{load, LoadOptions};
use skiff_image::Store;
use std::path::Path;

pub use skiff_testutil::fixtures;

/// A store in a temp dir with `busybox:latest` imported from the fixture rootfs.
pub fn store_with_busybox() -> (tempfile::TempDir, Store) {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(&t.path().join("root")).unwrap();
    let mut f = std::fs::File::open(fixtures().join("busybox.docker.tar")).unwrap();
    let r = load(&store, &mut f, &LoadOptions::new("busybox.docker.tar"), &mut |_| {}).unwrap();
    assert_eq!(r.images[0].id.to_string(), "sha256:b8fec42fe388bb1127f7a3df258520d7f5475fa3121aafc38401edae7ff3e520");
    (t, store)
}

/// Copies a fixture context into `dir` (the fixtures are read-only; modes restored as FIXTURES.md gives them).
pub fn copy_context(name: &str, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(fixtures().join(name)).unwrap() {
        let e = e.unwrap();
        let to = dir.join(e.file_name());
        std::fs::copy(e.path(), &to).unwrap();
        let mode = if e.file_name().to_string_lossy().ends_with(".sh") { 0o755 } else { 0o644 };
        std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
}

pub fn opts(dockerfile: &str) -> BuildOptions {
    BuildOptions { dockerfile_name: "Dockerfile".into(), dockerfile: dockerfile.into(), ..Default::default() }
}

/// Builds and returns the outcome and the printed output.
pub fn build(
    store: &Store,
    ctx_dir: &Path,
    o: &BuildOptions,
    runner: Option<&dyn RunExecutor>,
) -> Result<(BuildOutcome, String), (skiff_builder::BuildError, String)> {
    let ctx = BuildContext::from_dir(ctx_dir).unwrap();
    let mut out = Vec::new();
    let r = skiff_builder::build(store, &ctx, o, runner, &mut out);
    let text = String::from_utf8(out).unwrap();
    match r {
        Ok(b) => Ok((b, text)),
        Err(e) => Err((e, text)),
    }
}

pub fn image_count(store: &Store) -> usize {
    store.images().unwrap().len()
}
