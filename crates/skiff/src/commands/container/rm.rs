//! `skiff rm`.

use super::each;
use crate::commands::GlobalOpts;
use clap::Args;
use skiff_engine::container::RemoveOptions;

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(long)]
    pub link: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn rm(g: &GlobalOpts, a: RmArgs) -> anyhow::Result<u8> {
    each(g, &a.containers, |e, c| e.remove(c, RemoveOptions { force: a.force, volumes: a.volumes }))
}
