//! The shared fixtures (`../shared/fixtures` beside the workspace, read-only; FIXTURES.md there
//! says what each is) and the Docker facts several crates' tests hold skiff to.

use std::path::{Path, PathBuf};

/// The fixtures directory: `<workspace>/../shared/fixtures`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// One fixture by its path under [`fixtures`], e.g. `busybox-rootfs.tar` or `facts/...`.
pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// The OCI runtime spec Docker generated for `docker run -d busybox sleep 60`
/// (`facts/docker-oci-config.json`), as JSON.
pub fn docker_oci_config() -> serde_json::Value {
    let path = fixture("facts/docker-oci-config.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
