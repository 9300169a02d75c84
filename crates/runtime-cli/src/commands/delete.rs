//! `delete`: removes a stopped (or, with `--force`, any) container: kills what is left, waits
//! for the init and the holder to be gone, removes the cgroup and the state, runs the poststop
//! hooks.

use anyhow::{bail, Context};
use clap::Args;

use crate::state;
use crate::GlobalOpts;

#[derive(Args, Debug)]
pub struct Delete {
    /// Forcibly deletes the container if it is still running (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    pub id: String,
}

pub fn run(g: &GlobalOpts, a: &Delete) -> anyhow::Result<u8> {
    delete(g, &a.id, a.force)?;
    Ok(0)
}

/// Deletes container `id`.
pub(crate) fn delete(g: &GlobalOpts, id: &str, force: bool) -> anyhow::Result<()> {
    let (dir, rec) = match state::load(g, id) {
        Ok(x) => x,
        Err(_) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    match state::status(&dir, &rec) {
        "stopped" => {}
        "created" => {
            let _ = skiff_runtime::signal(rec.pid, libc::SIGKILL);
        }
        _ if force => {
            if let Some(cg) = state::cgroup(&rec) {
                let _ = cg.kill_all(libc::SIGKILL);
                let _ = cg.thaw();
            }
            let _ = skiff_runtime::signal(rec.pid, libc::SIGKILL);
        }
        st => bail!("cannot delete container {id} that is not stopped: {st}"),
    }
    state::wait_gone(rec.pid);
    state::wait_gone(rec.holder);
    if let Some(cg) = state::cgroup(&rec) {
        let _ = cg.remove();
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
    state::run_hooks_warning(g, &rec, skiff_runtime::hooks::HookKind::Poststop, "stopped");
    Ok(())
}
