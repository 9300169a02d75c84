//! `pause` and `resume`: freeze and thaw the container's cgroup.

use clap::Args;

use crate::state::cgroup_when;
use crate::GlobalOpts;

#[derive(Args, Debug)]
pub struct Pause {
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Resume {
    pub id: String,
}

pub fn pause(g: &GlobalOpts, a: &Pause) -> anyhow::Result<u8> {
    cgroup_when(g, &a.id, &["running"], "running")?.freeze()?;
    Ok(0)
}

pub fn resume(g: &GlobalOpts, a: &Resume) -> anyhow::Result<u8> {
    cgroup_when(g, &a.id, &["paused"], "paused")?.thaw()?;
    Ok(0)
}
