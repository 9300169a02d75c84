//! skiff's container engine: Docker's run options turned into OCI runtime
//! specs (a pure function, golden-tested against Docker's own), container
//! records under `containers/<id>/`, the overlay root filesystem, the
//! lifecycle (create, start, stop, kill, rm, wait, exec, ...), the json-file
//! log and the state the per-container monitor records under `/run/skiff`.

pub mod commit;
pub mod container;
pub mod exec;
pub mod fs;
pub mod lifecycle;
pub mod logs;
pub mod names;
pub mod options;
pub mod rootfs;
pub mod spec;
pub mod state;
pub mod units;
pub mod userdb;

pub use options::{NsMode, RunOptions};
