//! `update`: new limits for a created, running or paused container's cgroup, from `-r` (an OCI
//! `resources` object) and the flags (which win).

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use clap::Args;

use crate::state;
use crate::GlobalOpts;

#[derive(Args, Debug)]
pub struct Update {
    /// Path to a file containing the resources to update or '-' to read from the standard input
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    /// Specifies per cgroup weight, range is from 10 to 1000
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CPU(s) to use
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory node(s) to use
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit (in bytes)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory reservation or soft_limit (in bytes)
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids allowed in the container
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    pub id: String,
}

/// A memory flag: bytes, with Docker's units; -1 is unlimited.
fn memory_bytes(flag: &str, v: &str) -> anyhow::Result<i64> {
    if v == "-1" {
        return Ok(-1);
    }
    crate::units::ram_in_bytes(v).map_err(|e| anyhow!("invalid value for {flag}: {e}"))
}

/// Sets `r[section][key]`, making `r[section]` an object first if it is not one.
fn set_resource(r: &mut serde_json::Value, section: &str, key: &str, v: serde_json::Value) {
    if !r[section].is_object() {
        r[section] = serde_json::json!({});
    }
    r[section][key] = v;
}

pub fn run(g: &GlobalOpts, o: &Update) -> anyhow::Result<u8> {
    let (dir, rec) = state::load(g, &o.id)?;
    if state::status(&dir, &rec) == "stopped" {
        bail!("container not running");
    }
    let mut r: serde_json::Value = match &o.resources {
        Some(p) => {
            let text = if p.as_os_str() == "-" {
                let mut t = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut t)?;
                t
            } else {
                std::fs::read(p).with_context(|| format!("open {}", p.display()))?
            };
            serde_json::from_slice(&text).context("decoding the resources")?
        }
        None => serde_json::json!({}),
    };
    if !r.is_object() {
        bail!("decoding the resources: not a JSON object");
    }
    let mut set = |section: &str, key: &str, v: serde_json::Value| set_resource(&mut r, section, key, v);
    if let Some(v) = o.blkio_weight {
        set("blockIO", "weight", v.into());
    }
    if let Some(v) = o.cpu_period {
        set("cpu", "period", v.into());
    }
    if let Some(v) = o.cpu_quota {
        set("cpu", "quota", v.into());
    }
    if let Some(v) = o.cpu_share {
        set("cpu", "shares", v.into());
    }
    if let Some(v) = &o.cpuset_cpus {
        set("cpu", "cpus", v.as_str().into());
    }
    if let Some(v) = &o.cpuset_mems {
        set("cpu", "mems", v.as_str().into());
    }
    if let Some(v) = &o.memory {
        set("memory", "limit", memory_bytes("--memory", v)?.into());
    }
    if let Some(v) = &o.memory_reservation {
        set("memory", "reservation", memory_bytes("--memory-reservation", v)?.into());
    }
    if let Some(v) = &o.memory_swap {
        set("memory", "swap", memory_bytes("--memory-swap", v)?.into());
    }
    if let Some(v) = o.pids_limit {
        set("pids", "limit", v.into());
    }
    let res: skiff_runtime::oci_spec::runtime::LinuxResources =
        serde_json::from_value(r).context("decoding the resources")?;
    let cg = state::cgroup(&rec).ok_or_else(|| anyhow!("container {} has no cgroup", o.id))?;
    cg.update(&res)?;
    Ok(0)
}
