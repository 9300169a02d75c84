//! `kill`: sends a signal (default SIGTERM) to the init, or with `--all` to every process in
//! the container's cgroup too.

use anyhow::{anyhow, bail};
use clap::Args;

use crate::state;
use crate::GlobalOpts;

#[derive(Args, Debug)]
pub struct Kill {
    /// Send the specified signal to all processes inside the container
    #[arg(short = 'a', long)]
    pub all: bool,
    pub id: String,
    pub signal: Option<String>,
}

pub fn run(g: &GlobalOpts, a: &Kill) -> anyhow::Result<u8> {
    let signal = a.signal.as_deref().unwrap_or("SIGTERM");
    let (dir, rec) = state::load(g, &a.id)?;
    let sig = skiff_runtime::signal::parse_signal(signal).map_err(|_| anyhow!("unknown signal {signal:?}"))?;
    if state::status(&dir, &rec) == "stopped" {
        bail!("container not running");
    }
    if a.all {
        if let Some(cg) = state::cgroup(&rec) {
            cg.kill_all(sig)?;
        }
    }
    skiff_runtime::signal(rec.pid, sig)?;
    Ok(0)
}
