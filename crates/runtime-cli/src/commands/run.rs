//! `run`: create and start; in the foreground, wait for the init (forwarding signals), delete,
//! exit with its code.

use clap::Args;

use crate::commands::{create::Create, delete::delete, start::start};
use crate::{holder, state, GlobalOpts};

#[derive(Args, Debug)]
pub struct Run {
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub create: Create,
}

pub fn run(g: &GlobalOpts, a: &Run) -> anyhow::Result<u8> {
    if a.detach {
        let (rec, _) = holder::create(g, &a.create.request(false))?;
        start(g, &rec.id)?;
        a.create.write_pid_file(rec.pid)?;
        return Ok(0);
    }
    // Signals to forward are blocked before the holder is forked (it unblocks nothing it needs:
    // the init resets its signal mask before exec).
    let set = super::block_forwarded_signals()?;
    let (rec, holder_pid) = holder::create(g, &a.create.request(true))?;
    let dir = g.root.join(&rec.id);
    if let Err(e) = start(g, &rec.id) {
        let _ = delete(g, &rec.id, true);
        return Err(e);
    }
    a.create.write_pid_file(rec.pid)?;
    // With a terminal (the holder copies it to ours), keys go to the container unprocessed.
    let terminal = state::stored_spec(&dir, &rec)
        .ok()
        .and_then(|s| s.process().as_ref().and_then(|p| p.terminal()))
        .unwrap_or(false);
    let _raw = terminal.then(skiff_runtime::tty::RawTerminal::enter).flatten();
    let _ = skiff_runtime::signal::reap_forwarding(holder_pid, &set, |sig| {
        if sig != libc::SIGWINCH {
            let _ = skiff_runtime::signal(rec.pid, sig);
        }
    });
    let code = std::fs::read_to_string(dir.join("exit")).ok().and_then(|s| s.trim().parse::<i32>().ok()).unwrap_or(255);
    delete(g, &rec.id, true)?;
    Ok(code.clamp(0, 255) as u8)
}
