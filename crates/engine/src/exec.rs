//! `docker exec`, `top` and `stats`: work on a running container's
//! namespaces and cgroup.

use crate::container::Container;
use crate::lifecycle::{self, EngineError};
use crate::spec;
use crate::state::Status;
use skiff_image::userdb::UserDb;
use skiff_image::Store;
use std::os::fd::{AsRawFd, OwnedFd};

type Result<T> = std::result::Result<T, EngineError>;

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

fn running_pid(store: &Store, c: &Container) -> Result<i32> {
    match lifecycle::status(store, c) {
        Status::Running { pid, .. } => Ok(pid),
        Status::Paused { .. } => {
            Err(EngineError::Sys(format!("Container {} is paused, unpause the container before exec", c.id)))
        }
        _ => Err(EngineError::NotRunning(c.id.clone())),
    }
}

fn dup(fd: std::os::fd::BorrowedFd<'_>) -> Result<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| EngineError::Sys(format!("dup: {e}")))
}

/// Runs a process in the container; returns its exit code (0 at once with `detach`).
pub fn exec(store: &Store, c: &Container, o: &ExecOptions) -> Result<i32> {
    let pid = running_pid(store, c)?;
    let spec_text = std::fs::read(c.dir(store).join("config.json")).map_err(|source| EngineError::Io {
        op: "read",
        path: c.dir(store).join("config.json"),
        source,
    })?;
    let spec: oci_spec::runtime::Spec =
        serde_json::from_slice(&spec_text).map_err(|e| EngineError::Sys(format!("container spec: {e}")))?;
    let base = spec.process().clone().unwrap_or_default();
    let mut v = serde_json::to_value(&base).map_err(|e| EngineError::Sys(e.to_string()))?;
    v["args"] = serde_json::json!(o.cmd);
    v["terminal"] = serde_json::json!(o.tty);
    let mut env: Vec<String> = base.env().clone().unwrap_or_default();
    if o.tty {
        spec::replace_or_append(&mut env, "TERM=xterm");
    }
    if let Some(u) = &o.user {
        let image_id = skiff_image::Digest::parse(&c.image_id).map_err(|e| EngineError::Sys(e.to_string()))?;
        let layers = store.unpacked_layers(&image_id)?;
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
    let process: oci_spec::runtime::Process =
        serde_json::from_value(v).map_err(|e| EngineError::Sys(format!("exec process: {e}")))?;
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
        // SAFETY: `ws` is a valid winsize for both ioctls; failures (no terminal) are ignored.
        unsafe {
            let mut ws: libc::winsize = std::mem::zeroed();
            if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
                libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
            }
        }
        let _raw = if o.interactive { lifecycle::RawTerminal::enter() } else { None };
        relay_pty(&master, o.interactive);
    }
    let mut status = 0;
    // SAFETY: reaping our own child; `status` is a valid out pointer.
    let r = unsafe { libc::waitpid(spawned.pid, &mut status, 0) };
    if r != spawned.pid {
        return Ok(0);
    }
    Ok(skiff_runtime::ExitStatus::from_wait_status(status).code())
}

/// Copies a pty master to stdout (and stdin to it) until the pty closes.
pub fn relay_pty(master: &OwnedFd, stdin: bool) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut stdin_open = stdin;
    loop {
        let mut fds = vec![libc::pollfd { fd: master.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if stdin_open {
            fds.push(libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 });
        }
        // SAFETY: `fds` is a valid pollfd array of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        if fds[0].revents != 0 {
            match rustix::io::read(master, &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(k) => {
                    let _ = rustix::io::write(rustix::stdio::stdout(), &buf[..k]);
                }
            }
        }
        if stdin_open && fds[1].revents != 0 {
            match rustix::io::read(rustix::stdio::stdin(), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(k) => {
                    let _ = rustix::io::write(master, &buf[..k]);
                }
            }
        }
    }
}

/// `docker top`: the host's `ps -ef` rows (UID PID PPID C STIME TTY TIME CMD)
/// for the processes in the container's cgroup.
pub fn top(store: &Store, c: &Container) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    running_pid(store, c)?;
    ps_rows(&lifecycle::cgroup(&c.id)?.pids()?)
}

/// The host's `ps -ef` header and rows for `pids` (the last column, CMD, with its spaces).
pub fn ps_rows(pids: &[i32]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let out = std::process::Command::new("ps").arg("-ef").output().map_err(|source| EngineError::Io {
        op: "run",
        path: "ps".into(),
        source,
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap_or_default().split_whitespace().map(str::to_string).collect();
    let ncol = header.len().max(8);
    let mut rows = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < ncol {
            continue;
        }
        let Ok(pid) = f[1].parse::<i32>() else { continue };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = f[..ncol - 1].iter().map(|s| s.to_string()).collect();
        row.push(f[ncol - 1..].join(" "));
        rows.push(row);
    }
    Ok((header, rows))
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

/// Samples a running container's cgroup.
pub fn sample(store: &Store, c: &Container) -> Result<Sample> {
    let st = lifecycle::status(store, c);
    let Some(pid) = st.pid() else { return Ok(Sample::default()) };
    let s = lifecycle::cgroup(&c.id)?.stats()?;
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
