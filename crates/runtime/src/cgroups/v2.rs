//! cgroup v2 controllers on the unified hierarchy: controllers are enabled down the path through
//! `cgroup.subtree_control`, then memory.max/swap.max/low, cpu.weight/max, cpuset, pids.max,
//! io.weight; stats from memory.current, cpu.stat, io.stat, pids.current, memory.events.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::{blkio_to_io_weight, keyed, read, read_u64, shares_to_weight, write, CgroupError, CgroupStats, Result};

pub(super) fn create(root: &Path, rel: &Path) -> Result<()> {
    let dir = root.join(rel);
    std::fs::create_dir_all(&dir).map_err(|source| CgroupError::Create { path: dir.clone(), source })?;
    // Enable every available controller on each level above the container's cgroup.
    let mut level = root.to_path_buf();
    for comp in rel.components() {
        let avail = read(&level.join("cgroup.controllers")).unwrap_or_default();
        let enable: Vec<String> = avail
            .split_whitespace()
            .filter(|c| ["cpu", "cpuset", "io", "memory", "pids"].contains(c))
            .map(|c| format!("+{c}"))
            .collect();
        if !enable.is_empty() {
            write(&level.join("cgroup.subtree_control"), &enable.join(" "))?;
        }
        level = level.join(comp);
    }
    Ok(())
}

fn limit(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

pub(super) fn apply(d: &Path, r: &LinuxResources) -> Result<()> {
    if let Some(mem) = r.memory() {
        if let Some(l) = mem.limit() {
            write(&d.join("memory.max"), &limit(l))?;
        }
        if let Some(s) = mem.swap() {
            // OCI's swap is memory+swap (v1 memsw); v2's swap.max is swap alone.
            let v = match (s, mem.limit()) {
                (s, _) if s < 0 => "max".to_string(),
                (s, Some(l)) if l >= 0 => (s - l).max(0).to_string(),
                (s, _) => s.to_string(),
            };
            write(&d.join("memory.swap.max"), &v)?;
        }
        if let Some(res) = mem.reservation() {
            write(&d.join("memory.low"), &limit(res))?;
        }
    }
    if let Some(cpu) = r.cpu() {
        if let Some(s) = cpu.shares().filter(|s| *s != 0) {
            write(&d.join("cpu.weight"), &shares_to_weight(s).to_string())?;
        }
        let quota = cpu.quota().filter(|q| *q != 0);
        let period = cpu.period().filter(|p| *p != 0);
        if quota.is_some() || period.is_some() {
            let q = match quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".into(),
            };
            write(&d.join("cpu.max"), &format!("{q} {}", period.unwrap_or(100_000)))?;
        }
        if let Some(c) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
            write(&d.join("cpuset.cpus"), c)?;
        }
        if let Some(c) = cpu.mems().as_deref().filter(|c| !c.is_empty()) {
            write(&d.join("cpuset.mems"), c)?;
        }
    }
    if let Some(p) = r.pids() {
        let v = if p.limit() > 0 { p.limit().to_string() } else { "max".to_string() };
        write(&d.join("pids.max"), &v)?;
    }
    if let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()).filter(|w| *w != 0) {
        write(&d.join("io.weight"), &format!("default {}", blkio_to_io_weight(w as u64)))?;
    }
    Ok(())
}

pub(super) fn stats(d: &Path) -> Result<CgroupStats> {
    let mut s = CgroupStats {
        cpu_usage_ns: keyed(&d.join("cpu.stat"), "usage_usec").unwrap_or(0) * 1000,
        memory_usage: read_u64(&d.join("memory.current"))?,
        ..Default::default()
    };
    s.memory_limit = read(&d.join("memory.max")).ok().and_then(|v| v.trim().parse().ok());
    s.oom_kill_count = keyed(&d.join("memory.events"), "oom_kill").unwrap_or(0);
    s.pids_current = read_u64(&d.join("pids.current")).unwrap_or(0);
    s.pids_limit = read(&d.join("pids.max")).ok().and_then(|v| v.trim().parse().ok());
    for line in read(&d.join("io.stat")).unwrap_or_default().lines() {
        for kv in line.split_whitespace().skip(1) {
            if let Some((k, v)) = kv.split_once('=') {
                let v: u64 = v.parse().unwrap_or(0);
                match k {
                    "rbytes" => s.blkio_read_bytes += v,
                    "wbytes" => s.blkio_write_bytes += v,
                    _ => {}
                }
            }
        }
    }
    Ok(s)
}

/// Writes cgroup.freeze and, where the kernel reports it (cgroup.events), waits until the
/// cgroup's `frozen` state matches.
pub(super) fn set_frozen(d: &Path, frozen: bool) -> Result<()> {
    write(&d.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
    let events = d.join("cgroup.events");
    if events.exists() {
        let want = u64::from(frozen);
        while keyed(&events, "frozen").is_some_and(|v| v != want) {
            std::thread::yield_now();
        }
    }
    Ok(())
}
