//! `skiff start`: starts created or exited containers, detached or attached (`-a`, `-i`).

use super::each;
use crate::commands::{daemon_error, open_engine, run, GlobalOpts};
use clap::Args;
use skiff_engine::container::{Attach, RemoveOptions};
use skiff_engine::EngineError;

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn start(g: &GlobalOpts, a: StartArgs) -> anyhow::Result<u8> {
    if !a.attach {
        return each(g, &a.containers, |e, c| {
            let then = Some(run::after_exit_command(g, &c.id, c.opts.auto_remove));
            match e.start(c, Attach::default(), then) {
                Ok(_) | Err(EngineError::AlreadyRunning(_)) => Ok(()),
                Err(e) => Err(e),
            }
        });
    }
    let engine = open_engine(g)?;
    let c = engine.find(&a.containers[0])?;
    match engine.start(&c, Attach { output: true, stdin: a.interactive }, None) {
        Ok(st) => {
            let code = engine.wait_attached(&c, &st);
            engine.status(&c);
            if c.opts.auto_remove {
                let _ = engine.remove(&c, RemoveOptions { force: true, volumes: true });
            }
            Ok(code.clamp(0, 255) as u8)
        }
        Err(e) => {
            daemon_error(&e);
            Ok(e.exit_code().clamp(0, 255) as u8)
        }
    }
}
