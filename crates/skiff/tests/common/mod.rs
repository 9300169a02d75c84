//! The skiff CLI tests' glue to skiff-testutil: its helpers, with [`new_env`] aiming [`Env`] at
//! the skiff binary cargo built for this package (`CARGO_BIN_EXE_skiff`, known only here).

// Each test binary uses a different part of it.
#![allow(dead_code, unused_imports)]

pub use skiff_testutil::cli::{Env, Run, Store};
pub use skiff_testutil::registry::{start_registry, Registry};
pub use skiff_testutil::{alive, eventually, fixture, fixtures, gzip, require, sha256_hex, skip};

/// A temporary store and the skiff binary under test.
pub fn new_env() -> Env {
    Env::new(env!("CARGO_BIN_EXE_skiff"))
}

/// A store holding the seeds' busybox image (../shared/fixtures/busybox-rootfs.tar) as `busybox`,
/// its containers force-removed on drop.
pub fn busybox() -> Store {
    skiff_testutil::cli::busybox(new_env())
}

/// A tar of a few files, built in memory.
pub fn small_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}
