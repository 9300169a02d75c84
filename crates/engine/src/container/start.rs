//! `docker start` (and the start half of `docker run`): mounts the root filesystem, copies
//! volumes up, and forks the process that spawns the container and becomes its monitor.
//! Detached, that child execs `skiff-monitor`; attached (a foreground run), it monitors in place
//! and the caller waits in [`Engine::wait_attached`].

use super::lock;
use crate::error::{io, os, EngineError, Result};
use crate::record::{self, Container};
use crate::state;
use crate::{rootfs, Engine};
use skiff_runtime::signal::{SignalSet, FORWARDED_SIGNALS};
use skiff_runtime::{fd, process};
use std::io::Read;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// How `start` connects the container's stdio.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attach {
    /// Copy the output to our stdout/stderr and wait (foreground `run`, `start -a`).
    pub output: bool,
    /// Give the container our stdin (`-i`).
    pub stdin: bool,
}

/// A started container.
#[derive(Debug)]
pub struct Started {
    pub pid: i32,
    /// The monitor process (our child).
    pub monitor: i32,
    /// An attached start's line to its monitor, which runs in a process forked from ours.
    pub(super) handoff: Option<Handoff>,
}

/// The two pipes between an attached start and its in-place monitor. The monitor writes one byte
/// on `done` once the exit is recorded, then reads `after` to its end: the paths there
/// (NUL-separated) are directories for it to delete (a removed container's files) before it exits.
#[derive(Debug)]
pub(super) struct Handoff {
    pub(super) done: OwnedFd,
    after: Option<OwnedFd>,
    /// The monitor said the exit is recorded (so it exits as soon as `after` closes).
    pub(super) recorded: std::cell::Cell<bool>,
}

impl Started {
    /// Gives `dirs` to the monitor to delete after we have gone on; false (and `dirs` untouched)
    /// when this start has no monitor waiting for it.
    pub(super) fn hand_off(&mut self, dirs: &[PathBuf]) -> bool {
        let Some(h) = self.handoff.as_mut().filter(|h| h.recorded.get()) else { return false };
        let Some(after) = h.after.take() else { return false };
        // NUL-separated: the one byte no path holds.
        let list = dirs.iter().map(|d| d.as_os_str().as_bytes()).collect::<Vec<_>>().join(&0u8);
        // A pipe takes a write this small whole.
        let ok = rustix::io::write(&after, &list).is_ok_and(|n| n == list.len());
        // The monitor goes on alone (it is reaped when we exit): forget it.
        self.handoff = None;
        ok
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(h) = self.handoff.take() {
            // Let the monitor exit; reap it if it is about to.
            drop(h.after);
            let _ =
                if h.recorded.get() { process::wait(self.monitor).map(Some) } else { process::try_wait(self.monitor) };
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(os("creating a pipe"))
}

impl Engine {
    /// Starts a created (or exited) container. With `attach.output`, the caller then calls
    /// [`Engine::wait_attached`]. `then` is a command the monitor of a detached container execs
    /// once the exit is recorded.
    pub fn start(&self, c: &Container, attach: Attach, then: Option<Vec<String>>) -> Result<Started> {
        self.start_with_spec(c, attach, then, None)
    }

    /// [`Engine::start`] with the spec [`Engine::create_with_spec`] just generated and wrote for
    /// a container never started before (`run`); `None` generates it afresh, as every later
    /// start does.
    pub fn start_with_spec(
        &self,
        c: &Container,
        attach: Attach,
        then: Option<Vec<String>>,
        fresh: Option<oci_spec::runtime::Spec>,
    ) -> Result<Started> {
        let store = self.store();
        let forwarded = SignalSet::new(&FORWARDED_SIGNALS)?;
        if attach.output {
            // Queue the signals an attached CLI forwards from now on: one that arrives between
            // the container's start and `wait_attached` must reach the container, not kill us.
            forwarded.block()?;
        }
        let _lock = lock::lock(store, c)?;
        let st = self.status(c);
        if st.is_running() {
            return Err(EngineError::AlreadyRunning(c.id.clone()));
        }
        let monitor = self.monitor_path()?;
        let (layers, init_lock) = rootfs::container_layers(store, &c.image_id)?;
        let dir = c.dir(store);
        let root = rootfs::mount_with(&dir, &layers, false, c.opts.auto_remove)?;
        drop(init_lock);
        skiff_runtime::timing::mark("engine: rootfs mounted");
        for m in &c.opts.mounts {
            if let Some(name) = m.volume_name() {
                crate::files::copy_up(&root, &m.target, &store.root().join("volumes").join(name).join("_data"))?;
            }
        }
        let first_start = fresh.is_some();
        let spec = match fresh {
            Some(spec) => spec,
            None => {
                let spec = self.generate_spec(c)?;
                self.write_spec(c, &spec)?;
                spec
            }
        };
        let state_dir = self.state_dir(&c.id);
        state::reset(&state_dir).map_err(io("create", &state_dir))?;
        let cg = self.cgroup(&c.id).ok();
        if !first_start {
            // A previous run's cgroup (exited, not removed) is replaced.
            if let Some(cg) = &cg {
                let _ = cg.remove();
            }
        }
        let tty = c.opts.tty;
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (ready_r, ready_w) = pipe()?;
        // (done, after) pipes: read/write ends for us, the others for the monitor.
        let handoff = if attach.output { Some((pipe()?, pipe()?)) } else { None };
        // Ours: the read end of `done` and the write end of `after`; the monitor's: the others.
        let (handoff, child_handoff) = match handoff {
            Some(((done_r, done_w), (after_r, after_w))) => (
                Some(Handoff { done: done_r, after: Some(after_w), recorded: std::cell::Cell::new(false) }),
                Some((done_w, after_r)),
            ),
            None => (None, None),
        };
        // With a pty the container reads the pty; the monitor copies our stdin to it.
        let stdin = if attach.stdin && !tty {
            Some(rustix::io::fcntl_dupfd_cloexec(rustix::stdio::stdin(), 3).map_err(os("duplicating stdin"))?)
        } else {
            None
        };
        let monitor_args = crate::monitor::MonitorArgs {
            pid: 0,
            state: state_dir.clone(),
            log: Some(c.log_path(store)),
            attach: attach.output,
            stdin: attach.output && attach.stdin && tty,
            memcg: cg.as_ref().and_then(|cg| cg.dir("memory")),
            then: then.unwrap_or_default().into_iter().map(Into::into).collect(),
            handoff: None,
        };
        let id = c.id.clone();
        let runtime = crate::oci_runtime::resolve(c.opts.runtime.as_deref())?;
        // The child may write through our stdout's buffer (an in-place monitor): nothing of ours may
        // be left in it to be written twice.
        let _ = std::io::Write::flush(&mut std::io::stdout());
        skiff_runtime::timing::mark("engine: forking the monitor");
        let m = MonitorChild {
            id,
            spec,
            tty,
            detached: !attach.output,
            keep_stdin: attach.output && attach.stdin && tty,
            stdin,
            out: (out_r, out_w),
            err: (err_r, err_w),
            ready: ready_w,
            handoff: child_handoff,
            monitor,
            monitor_args,
            runtime,
            bundle: dir.clone(),
            state_dir: state_dir.clone(),
            cgroup_root: self.cgroup_root().to_path_buf(),
        };
        // The one fork of the start path: refused, naming the count, in a process with more
        // than one thread (the API server spawns `skiff` processes instead).
        let child = process::fork_child(move || {
            let _ = forwarded.unblock();
            monitor_child(m)
        })?;
        let mut msg = String::new();
        let _ = std::fs::File::from(ready_r).read_to_string(&mut msg);
        if let Some(pid) = msg.strip_prefix('P').and_then(|p| p.trim().parse::<i32>().ok()) {
            skiff_runtime::timing::mark("engine: container pid received");
            let _ = record::set_state(store, &c.id, "running");
            return Ok(Started { pid, monitor: child, handoff });
        }
        let _ = process::wait(child);
        let (code, message) = match msg.strip_prefix('E').and_then(|m| m.split_once('\t')) {
            Some((code, m)) => (code.parse().unwrap_or(125), m.to_string()),
            None => (125, format!("container start failed: {msg}")),
        };
        let _ = rootfs::unmount(&dir);
        state::remove(&state_dir);
        if let Ok(cg) = self.cgroup(&c.id) {
            let _ = cg.remove();
        }
        Err(EngineError::Start { message, code })
    }
}

struct MonitorChild {
    id: String,
    spec: oci_spec::runtime::Spec,
    tty: bool,
    detached: bool,
    keep_stdin: bool,
    stdin: Option<OwnedFd>,
    out: (OwnedFd, OwnedFd),
    err: (OwnedFd, OwnedFd),
    ready: OwnedFd,
    /// An attached start's (done, after) pipe ends (see [`Handoff`]).
    handoff: Option<(OwnedFd, OwnedFd)>,
    /// The `skiff-monitor` binary a detached container's monitor execs.
    monitor: PathBuf,
    monitor_args: crate::monitor::MonitorArgs,
    /// An installed OCI runtime (`--runtime`), else skiff's own.
    runtime: Option<PathBuf>,
    bundle: PathBuf,
    state_dir: PathBuf,
    cgroup_root: PathBuf,
}

fn write_fd(fd: &OwnedFd, msg: &str) {
    let _ = rustix::io::write(fd, msg.as_bytes());
}

/// The forked child: spawn the container, report, become the monitor. Never returns.
fn monitor_child(m: MonitorChild) -> ! {
    skiff_runtime::timing::mark("monitor-child: forked");
    if m.detached {
        let _ = rustix::process::setsid();
    }
    let spawned = match &m.runtime {
        Some(rt) => {
            let stdio = crate::oci_runtime::Stdio3 {
                stdin: m.stdin,
                stdout: if m.tty { None } else { Some(m.out.1) },
                stderr: if m.tty { None } else { Some(m.err.1) },
            };
            match crate::oci_runtime::create_and_start(rt, &m.id, &m.bundle, &m.state_dir, m.tty, stdio) {
                Ok(s) => skiff_runtime::Spawned { pid: s.pid, pty_master: s.pty_master, start_fd: None, sync: None },
                Err(e) => {
                    write_fd(&m.ready, &format!("E{}\t{e}", e.exit_code()));
                    std::process::exit(e.exit_code());
                }
            }
        }
        None => {
            let opts = skiff_runtime::SpawnOptions {
                id: m.id.clone(),
                stdio: skiff_runtime::StdioSpec {
                    stdin: m.stdin,
                    stdout: if m.tty { None } else { Some(m.out.1) },
                    stderr: if m.tty { None } else { Some(m.err.1) },
                },
                terminal: if m.tty { skiff_runtime::Terminal::Pty } else { skiff_runtime::Terminal::None },
                cgroup_root: m.cgroup_root.clone(),
                wait_for_start: false,
                preserve_fds: Vec::new(),
                bundle: m.bundle.clone(),
            };
            match skiff_runtime::spawn(&m.spec, opts) {
                Ok(s) => s,
                Err(e) => {
                    write_fd(&m.ready, &format!("E{}\t{e}", e.exit_code()));
                    std::process::exit(e.exit_code());
                }
            }
        }
    };
    skiff_runtime::timing::mark("monitor-child: container spawned");
    let me = process::getpid();
    if let Err(e) = state::record_start(&m.state_dir, spawned.pid, me, &now()) {
        let _ = skiff_runtime::signal(spawned.pid, libc::SIGKILL);
        write_fd(&m.ready, &format!("E125\trecording the container state: {e}"));
        std::process::exit(125);
    }
    // The container's output: stdout and stderr read ends, or the pty master.
    let sources: Vec<OwnedFd> = match spawned.pty_master {
        Some(p) if m.tty => vec![p],
        _ => vec![m.out.0, m.err.0],
    };
    let mut args = m.monitor_args;
    args.pid = spawned.pid;
    // fds 3 and 4 for the monitor: stdout and stderr read ends (or the pty master on 3); then the
    // handoff pipes of an attached start.
    let n = sources.len();
    let handoff: Vec<OwnedFd> = m.handoff.map(|(d, a)| vec![d, a]).unwrap_or_default();
    let high: Vec<OwnedFd> =
        sources.iter().chain(handoff.iter()).filter_map(|f| fd::dup_cloexec(f, 10).ok()).collect::<Vec<_>>();
    drop((sources, handoff));
    for (i, f) in high.iter().enumerate() {
        // Fds 3 and up are this child's to hand the monitor; the copies lack FD_CLOEXEC, as intended.
        let _ = fd::dup_onto(f, 3 + i as RawFd);
    }
    let streams: Vec<(RawFd, &'static str)> = (3..).zip(["stdout", "stderr"]).take(n).collect();
    if high.len() == n + 2 {
        args.handoff = Some((3 + n as RawFd, 4 + n as RawFd));
    }
    if !m.detached {
        // A foreground run: the CLI waits for us anyway, so monitor the container in place
        // instead of exec'ing the monitor binary.
        if !m.keep_stdin {
            if let Ok(null) = std::fs::File::open("/dev/null") {
                // The container owns stdin now; the monitor reads nothing from it.
                let _ = fd::stdin_from(&null);
            }
        }
        write_fd(&m.ready, &format!("P{}", spawned.pid));
        let keep = 3 + high.len() as u32;
        drop((m.ready, high));
        // Without the exec, close what the CLI had open (the store, the container's lock): a
        // monitor must not hold them for the container's life.
        let _ = fd::close_from(keep);
        crate::monitor::run(&args, &streams, false);
    }
    crate::monitor::stdio_to_null();
    write_fd(&m.ready, &format!("P{}", spawned.pid));
    drop(m.ready);
    let err = std::os::unix::process::CommandExt::exec(std::process::Command::new(&m.monitor).args(args.to_args()));
    eprintln!("skiff: exec {}: {err}", m.monitor.display());
    let _ = skiff_runtime::signal(spawned.pid, libc::SIGKILL);
    std::process::exit(125)
}
