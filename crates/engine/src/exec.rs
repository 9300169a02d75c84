//! `docker exec`, `top` and `stats`: work on a running container's
//! namespaces and cgroup.

use crate::error::{io, json, os, EngineError, Result};
use crate::record::Container;
use crate::spec;
use crate::state::Status;
use crate::Engine;
use skiff_image::userdb::UserDb;
use skiff_runtime::tty;
use std::os::fd::OwnedFd;

/// `exec` options.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
    pub privileged: bool,
}

impl Engine {
    fn running_pid(&self, c: &Container) -> Result<i32> {
        match self.status(c) {
            Status::Running { pid, .. } => Ok(pid),
            Status::Paused { .. } => Err(EngineError::Paused { id: c.id.clone(), action: "exec" }),
            _ => Err(EngineError::NotRunning(c.id.clone())),
        }
    }

    /// Runs a process in the container; returns its exit code (0 at once with `detach`).
    pub fn exec(&self, c: &Container, o: &ExecOptions) -> Result<i32> {
        exec(self, c, o)
    }

    /// `docker top`: the host's `ps -ef` rows (UID PID PPID C STIME TTY TIME CMD)
    /// for the processes in the container's cgroup.
    pub fn top(&self, c: &Container) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        self.running_pid(c)?;
        ps_rows(&self.cgroup(&c.id)?.pids()?)
    }

    /// Samples a running container's cgroup.
    pub fn sample(&self, c: &Container) -> Result<Sample> {
        sample(self, c)
    }
}

fn dup(fd: std::os::fd::BorrowedFd<'_>) -> Result<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(os("dup"))
}

fn exec(engine: &Engine, c: &Container, o: &ExecOptions) -> Result<i32> {
    let store = engine.store();
    let pid = engine.running_pid(c)?;
    let spec_path = c.dir(store).join("config.json");
    let spec_text = std::fs::read(&spec_path).map_err(io("read", &spec_path))?;
    let spec: oci_spec::runtime::Spec = serde_json::from_slice(&spec_text).map_err(json("container spec"))?;
    let base = spec.process().clone().unwrap_or_default();
    let mut v = serde_json::to_value(&base).map_err(json("container spec"))?;
    v["args"] = serde_json::json!(o.cmd);
    v["terminal"] = serde_json::json!(o.tty);
    let mut env: Vec<String> = base.env().clone().unwrap_or_default();
    if o.tty {
        spec::replace_or_append(&mut env, "TERM=xterm");
    }
    if let Some(u) = &o.user {
        let layers = store.unpacked_layers(&c.image_id)?;
        let r = UserDb::from_layers(&layers).resolve(u).map_err(spec::SpecError::from)?;
        v["user"] = serde_json::json!({"uid": r.uid, "gid": r.gid, "additionalGids": r.additional_gids});
        spec::replace_or_append(&mut env, &format!("HOME={}", r.home));
    }
    for e in &o.env {
        spec::replace_or_append(&mut env, e);
    }
    v["env"] = serde_json::json!(env);
    if let Some(w) = &o.workdir {
        v["cwd"] = serde_json::json!(w);
    }
    if o.privileged {
        let all: Vec<&str> = spec::ALL_CAPS.to_vec();
        v["capabilities"] = serde_json::json!({"bounding": all, "effective": all, "permitted": all});
    }
    let process: oci_spec::runtime::Process = serde_json::from_value(v).map_err(json("exec process"))?;
    let stdio = if o.detach {
        skiff_runtime::StdioSpec::default()
    } else {
        skiff_runtime::StdioSpec {
            stdin: if o.interactive { Some(dup(rustix::stdio::stdin())?) } else { None },
            stdout: Some(dup(rustix::stdio::stdout())?),
            stderr: Some(dup(rustix::stdio::stderr())?),
        }
    };
    let terminal = if o.tty { skiff_runtime::Terminal::Pty } else { skiff_runtime::Terminal::None };
    let spawned = skiff_runtime::exec(pid, &process, &spec, stdio, terminal)?;
    if o.detach {
        return Ok(0);
    }
    if let Some(master) = spawned.pty_master {
        // Failures (no terminal) are ignored.
        let _ = tty::copy_window_size(skiff_runtime::fd::stdin(), &master);
        let _raw = if o.interactive { tty::RawTerminal::enter() } else { None };
        tty::relay_pty(&master, o.interactive);
    }
    // The process is cloned as our child; a wait that fails reads as 0, as it always has.
    Ok(skiff_runtime::wait(spawned.pid).map_or(0, |s| s.code()))
}

/// The host's `ps -ef` header and rows for `pids` (the last column, CMD, with its spaces).
fn ps_rows(pids: &[i32]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    skiff_runtime::procs::ps_rows(pids).map_err(|skiff_runtime::procs::ProcsError::Run { program, source }| {
        EngineError::Io { op: "run", path: program.into(), source }
    })
}

/// One `stats` sample.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub cpu_ns: u64,
    pub system_ns: u64,
    pub online_cpus: u32,
    pub memory_usage: u64,
    pub memory_limit: u64,
    pub pids: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub net_rx: u64,
    pub net_tx: u64,
}

fn host_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let first = text.lines().next().unwrap_or_default();
    let ticks: u64 = first.split_whitespace().skip(1).take(8).filter_map(|v| v.parse::<u64>().ok()).sum();
    // USER_HZ is 100 on Linux.
    ticks * 10_000_000
}

fn host_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn net_dev(pid: i32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    let mut rx = 0;
    let mut tx = 0;
    for l in text.lines().skip(2) {
        let Some((iface, rest)) = l.split_once(':') else { continue };
        if iface.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

fn sample(engine: &Engine, c: &Container) -> Result<Sample> {
    let st = engine.status(c);
    let Some(pid) = st.pid() else { return Ok(Sample::default()) };
    let s = engine.cgroup(&c.id)?.stats()?;
    let host_mem = host_memory();
    let (net_rx, net_tx) = net_dev(pid);
    Ok(Sample {
        cpu_ns: s.cpu_usage_ns,
        system_ns: host_cpu_ns(),
        online_cpus: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
        memory_usage: s.memory_usage,
        memory_limit: s.memory_limit.filter(|l| *l < host_mem).unwrap_or(host_mem),
        pids: s.pids_current,
        block_read: s.blkio_read_bytes,
        block_write: s.blkio_write_bytes,
        net_rx,
        net_tx,
    })
}

/// Docker's CPU %: container CPU delta over system CPU delta, times the CPUs.
pub fn cpu_percent(prev: &Sample, cur: &Sample) -> f64 {
    let cpu = cur.cpu_ns.saturating_sub(prev.cpu_ns) as f64;
    let sys = cur.system_ns.saturating_sub(prev.system_ns) as f64;
    if sys > 0.0 && cpu > 0.0 {
        cpu / sys * cur.online_cpus as f64 * 100.0
    } else {
        0.0
    }
}
