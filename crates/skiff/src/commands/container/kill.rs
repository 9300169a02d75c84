//! `skiff kill`.

use super::each;
use crate::commands::GlobalOpts;
use clap::Args;

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn kill(g: &GlobalOpts, a: KillArgs) -> anyhow::Result<u8> {
    let sig = skiff_runtime::signal::parse_signal(&a.signal).map_err(skiff_engine::EngineError::from)?;
    each(g, &a.containers, |e, c| e.kill(c, sig))
}
