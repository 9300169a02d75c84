//! `events`: with `--stats`, one stats event; else a stats event every `--interval` and an `oom`
//! event for each OOM kill, until the container stops.

use std::io::Write;

use anyhow::{anyhow, bail};
use clap::Args;
use skiff_runtime::cgroups::{CgroupManager, CgroupVersion};

use crate::state;
use crate::GlobalOpts;

#[derive(Args, Debug)]
pub struct Events {
    /// Display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
    /// Set the stats collection interval
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

/// One `stats` event as runc prints it (the fields skiff's cgroup manager reads; as in runc's,
/// an unlimited pids limit and empty block I/O counters are left out, an unlimited memory limit
/// is the cgroup's own figure for it).
fn stats_event(id: &str, cg: &CgroupManager) -> anyhow::Result<serde_json::Value> {
    let s = cg.stats()?;
    let unlimited = match cg.version() {
        CgroupVersion::V1 => 9_223_372_036_854_771_712,
        CgroupVersion::V2 => u64::MAX,
    };
    let mut pids = serde_json::json!({"current": s.pids_current});
    if let Some(l) = s.pids_limit {
        pids["limit"] = l.into();
    }
    let mut blkio = serde_json::json!({});
    if s.blkio_read_bytes > 0 || s.blkio_write_bytes > 0 {
        blkio["ioServiceBytesRecursive"] = serde_json::json!([
            {"op": "Read", "value": s.blkio_read_bytes},
            {"op": "Write", "value": s.blkio_write_bytes},
        ]);
    }
    Ok(serde_json::json!({
        "type": "stats",
        "id": id,
        "data": {
            "cpu": {"usage": {"total": s.cpu_usage_ns}},
            "memory": {"usage": {"usage": s.memory_usage, "limit": s.memory_limit.unwrap_or(unlimited)}},
            "pids": pids,
            "blkio": blkio,
        },
    }))
}

pub fn run(g: &GlobalOpts, a: &Events) -> anyhow::Result<u8> {
    let (id, interval) = (&a.id, &a.interval);
    let every = crate::units::parse_duration(interval)
        .filter(|ns| *ns >= 0)
        .map(|ns| std::time::Duration::from_nanos(ns as u64))
        .ok_or_else(|| anyhow!("invalid --interval {interval:?}"))?;
    if every.is_zero() {
        bail!("duration interval must be greater than 0");
    }
    let (dir, rec) = state::load(g, id)?;
    if state::status(&dir, &rec) == "stopped" {
        bail!("container with id {id} is not running");
    }
    let cg = state::cgroup(&rec).ok_or_else(|| anyhow!("container {id} has no cgroup"))?;
    let mut out = std::io::stdout().lock();
    if a.stats {
        writeln!(out, "{}", serde_json::to_string(&stats_event(id, &cg)?)?)?;
        return Ok(0);
    }
    // A reader that went away (`| head`) ends the stream quietly.
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    let mut ooms = cg.oom_kill_count().unwrap_or(0);
    let step = std::time::Duration::from_millis(100).min(every);
    let mut next = std::time::Instant::now();
    while state::status(&dir, &rec) != "stopped" {
        let n = cg.oom_kill_count().unwrap_or(ooms);
        let mut lines = String::new();
        for _ in ooms..n {
            lines.push_str(&format!("{}\n", serde_json::json!({"type": "oom", "id": id})));
        }
        ooms = n;
        if std::time::Instant::now() >= next {
            if let Ok(ev) = stats_event(id, &cg) {
                lines.push_str(&format!("{ev}\n"));
            }
            next += every;
        }
        match out.write_all(lines.as_bytes()).and_then(|_| out.flush()) {
            Err(e) if gone(&e) => return Ok(0),
            r => r?,
        }
        std::thread::sleep(step);
    }
    Ok(0)
}
