//! `start`: releases a created container (a byte on its `start` FIFO) and waits for the holder's
//! word that the process was executed, then runs the poststart hooks.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{anyhow, bail, Context};
use clap::Args;

use crate::state;
use crate::GlobalOpts;

#[derive(Args, Debug)]
pub struct Start {
    pub id: String,
}

pub fn run(g: &GlobalOpts, a: &Start) -> anyhow::Result<u8> {
    start(g, &a.id)?;
    Ok(0)
}

/// Starts container `id`.
pub(crate) fn start(g: &GlobalOpts, id: &str) -> anyhow::Result<()> {
    let (dir, rec) = state::load(g, id)?;
    match state::status(&dir, &rec) {
        "created" => {}
        "stopped" => bail!("cannot start a container that has stopped"),
        _ => bail!("cannot start an already running container"),
    }
    std::fs::write(dir.join("started"), state::now())
        .with_context(|| format!("write {}", dir.join("started").display()))?;
    // Opened before the start, without waiting for a writer: if the holder is gone, reads see EOF.
    let execd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join("execd"))
        .map_err(|e| anyhow!("cannot start a container that has stopped: {e}"))?;
    // Blocking again, so the read below waits for the word.
    let _ = skiff_runtime::fd::set_nonblocking(&execd, false);
    let fifo = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join("start"))
        .map_err(|e| anyhow!("cannot start a container that has stopped: {e}"))?;
    (&fifo).write_all(b"1").context("starting the container")?;
    let word = crate::holder::read_line(&execd);
    if let Some(e) = word.strip_prefix('E') {
        bail!("{e}");
    }
    if word != "0" {
        bail!("container {id} exited before it started");
    }
    state::run_hooks_warning(g, &rec, skiff_runtime::hooks::HookKind::Poststart, "running");
    Ok(())
}
