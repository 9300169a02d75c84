//! skiff's test support, shared by every crate's integration tests and used only as a
//! dev-dependency (never published, never linked into skiff itself). It owns what the tests used
//! to copy into each binary:
//!
//! - [`mod@fixtures`]: where `../shared/fixtures` is, and the Docker facts read from it;
//! - [`mod@poll`]: waiting for something with a deadline ([`eventually`]), never sleep-then-assert;
//! - [`process`]: whether a pid is a live (not zombie) process;
//! - [`encode`]: the sha256 and gzip of bytes a test builds;
//! - [`peers`] and [`host`]: what this machine offers (the peer Docker daemons, docker-registry,
//!   runc, tini, AppArmor, a static busybox, the Debian root filesystem), each answering
//!   `Err(Missing)` with the reason a test that needs it skips;
//! - [`skip!`] and [`require!`]: a skip that is counted (see [`mod@skip`]), not a silent pass;
//! - [`registry`]: a real CNCF distribution registry on a free loopback port;
//! - [`cli`]: running a skiff binary against a temporary store (the binary's path is a parameter:
//!   only the skiff package's own tests know `CARGO_BIN_EXE_skiff`);
//! - `store` (feature `store`): a `skiff_image::Store` in a temporary directory.

#![forbid(unsafe_code)]

pub mod cli;
pub mod encode;
pub mod fixtures;
pub mod host;
pub mod peers;
pub mod poll;
pub mod process;
pub mod registry;
pub mod skip;
#[cfg(feature = "store")]
pub mod store;

pub use encode::{gzip, sha256_hex};
pub use fixtures::{docker_oci_config, fixture, fixtures};
pub use poll::{eventually, poll};
pub use process::alive;
pub use skip::Missing;
