//! Containers: the record ([`crate::record`], re-exported here) and one file per operation, each an `impl` block on
//! [`Engine`] (youki's `container_<op>.rs` layout): [`create`](Engine::create),
//! [`start`](Engine::start) (and the attached run's wait in `attach`), [`stop`](Engine::stop),
//! [`kill`](Engine::kill), [`remove`](Engine::remove), [`pause`](Engine::pause) and
//! [`unpause`](Engine::unpause), [`update`](Engine::update), [`rename`](Engine::rename),
//! [`prune`](Engine::prune), [`wait`](Engine::wait) and [`status`](Engine::status).
//!
//! Process model (daemonless): `start` forks; the child calls `skiff_runtime::spawn` (the
//! container init becomes its child), records the pid, and execs `skiff-monitor`, which holds the
//! stdio pipes, writes the json-file log, reaps the init and records the exit. The parent learns
//! the pid (or the spawn error) over a pipe; detached, it returns at once; attached, it waits for
//! the monitor and forwards signals to the container.

mod attach;
mod create;
mod find;
mod kill;
mod lock;
mod pause;
mod prune;
mod remove;
mod rename;
mod spec_file;
mod start;
mod status;
mod stop;
mod update;
mod wait;

#[cfg(doc)]
use crate::Engine;

pub use crate::record::{
    container_dir, counts, delete, find, insert, list, parse_record, save, set_state, using_image, write_json,
    Container, RecordError,
};
pub use remove::RemoveOptions;
pub use start::{Attach, Started};
