//! `skiff update`: new resource limits.

use super::each;
use crate::commands::GlobalOpts;
use clap::Args;

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn update(g: &GlobalOpts, a: UpdateArgs) -> anyhow::Result<u8> {
    use crate::commands::run::{flag_cpus, flag_size};
    let u = skiff_engine::Resources {
        memory: flag_size("update", "-m, --memory", &a.memory)?,
        memory_swap: flag_size("update", "--memory-swap", &a.memory_swap)?,
        memory_reservation: flag_size("update", "--memory-reservation", &a.memory_reservation)?,
        nano_cpus: flag_cpus("update", &a.cpus)?,
        cpu_shares: a.cpu_shares,
        cpuset_cpus: a.cpuset_cpus.clone(),
        pids_limit: a.pids_limit,
        blkio_weight: a.blkio_weight,
    };
    each(g, &a.containers, |e, c| e.update(c, &u))
}
