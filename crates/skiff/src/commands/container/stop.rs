//! `skiff stop` and `skiff restart`.

use super::each;
use crate::commands::{run, GlobalOpts};
use clap::Args;
use skiff_engine::container::Attach;

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", visible_alias = "timeout")]
    pub time: Option<u64>,
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn stop(g: &GlobalOpts, a: StopArgs) -> anyhow::Result<u8> {
    each(g, &a.containers, |e, c| {
        let mut c = c.clone();
        if let Some(sig) = &a.signal {
            c.opts.stop_signal = Some(sig.clone());
        }
        e.stop(&c, a.time.or(c.opts.stop_timeout))
    })
}

pub fn restart(g: &GlobalOpts, a: StopArgs) -> anyhow::Result<u8> {
    each(g, &a.containers, |e, c| {
        e.stop(c, a.time.or(c.opts.stop_timeout))?;
        let then = Some(run::after_exit_command(g, &c.id, c.opts.auto_remove));
        e.start(c, Attach::default(), then).map(|_| ())
    })
}
