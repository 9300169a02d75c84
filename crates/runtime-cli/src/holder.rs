//! The holder: the small process `create` forks to parent a container's init. It spawns the init
//! with `wait_for_start`, records it in `state.json`, reports to `create` over a pipe (`P<pid>`
//! or `E<message>`, one line), then waits on a pidfd of the init and on the `start` FIFO. A
//! byte on the FIFO releases the init; the word `start` waits for comes back on the `execd` FIFO
//! (`0`, or `E<message>`). Once the init has exited the holder reaps it and writes its code to
//! `exit`. In a foreground `run` it keeps the terminal session and copies a pty to its stdio.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use skiff_runtime::fd::{self, PollFd, PollFlags};
use skiff_runtime::oci_spec::runtime::Spec;
use skiff_runtime::process::{self, PidFd};

use crate::state::{self, Record};
use crate::GlobalOpts;

/// What `create` (and `run`) ask for.
#[derive(Debug)]
pub struct CreateRequest<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub preserve_fds: u32,
    /// A foreground `run`: keep the terminal session and stdio (and copy a pty to them).
    pub foreground: bool,
}

/// How the holder treats its stdio.
struct HolderPlan {
    id: String,
    dir: PathBuf,
    spec: Spec,
    bundle: PathBuf,
    console_socket: Option<PathBuf>,
    preserve_fds: u32,
    foreground: bool,
}

/// Sends `fd` over the AF_UNIX socket at `path` (runc's `--console-socket` protocol: one SCM_RIGHTS message).
pub fn send_console(path: &Path, fd: RawFd) -> anyhow::Result<()> {
    let stream = std::os::unix::net::UnixStream::connect(path)
        .with_context(|| format!("connecting to console socket {}", path.display()))?;
    skiff_runtime::send_msg(stream.as_raw_fd(), b"/dev/ptmx", Some(fd))
        .map_err(|e| anyhow!("sending the console to {}: {}", path.display(), std::io::Error::from_raw_os_error(e)))?;
    Ok(())
}

/// Reads one `\n`-terminated message (the init keeps the pipe open until it execs, so no EOF).
pub fn read_line(from: impl AsFd) -> String {
    let mut out = Vec::new();
    while let Ok(Some(b)) = fd::read_byte(&from) {
        if b == b'\n' {
            break;
        }
        out.push(b);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A close-on-exec duplicate (at 3 or above) of our fd `n`: a standard stream, or one of the
/// `--preserve-fds` we were handed.
pub fn dup_cloexec(n: RawFd) -> anyhow::Result<OwnedFd> {
    let dup = match n {
        0 => fd::dup_cloexec(fd::stdin(), 3),
        1 => fd::dup_cloexec(fd::stdout(), 3),
        2 => fd::dup_cloexec(fd::stderr(), 3),
        _ => fd::claim_inherited(n).and_then(|owned| {
            let dup = fd::dup_cloexec(&owned, 3);
            // The handed-over fd stays open for the life of this process, as it was.
            std::mem::forget(owned);
            dup
        }),
    };
    dup.map_err(|e| anyhow!("duplicating fd {n}: {}", e.io()))
}

/// Forks the holder and returns the record once the init waits, and the holder's pid.
pub fn create(g: &GlobalOpts, req: &CreateRequest<'_>) -> anyhow::Result<(Record, i32)> {
    state::validate_id(req.id)?;
    let bundle = state::absolute(req.bundle)?;
    if !bundle.is_dir() {
        bail!("chdir {}: no such file or directory", req.bundle.display());
    }
    let mut spec = state::load_spec(&bundle)?;
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    if terminal && req.console_socket.is_none() && !req.foreground {
        bail!("cannot allocate tty if runc will detach without setting console socket");
    }
    if !terminal && req.console_socket.is_some() {
        bail!("cannot use console socket if runc will not detach or allocate tty");
    }
    std::fs::create_dir_all(&g.root).with_context(|| format!("mkdir {}", g.root.display()))?;
    let dir = g.root.join(req.id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!("container with given ID already exists"),
        Err(e) => return Err(e).with_context(|| format!("mkdir {}", dir.display())),
    }
    let result = (|| {
        if let Some(linux) = spec.linux().clone() {
            if linux.cgroups_path().is_none() {
                let mut l = linux;
                l.set_cgroups_path(Some(PathBuf::from(format!("/skiff-runtime/{}", req.id))));
                spec.set_linux(Some(l));
            }
        }
        // `exec` builds on the spec the container was created from, whatever the bundle holds later.
        std::fs::write(dir.join("config.json"), serde_json::to_vec(&spec)?)
            .with_context(|| format!("write {}", dir.join("config.json").display()))?;
        for name in ["start", "execd"] {
            fd::mkfifo(&dir.join(name), 0o600)?;
        }
        let plan = HolderPlan {
            id: req.id.to_string(),
            dir: dir.clone(),
            spec,
            bundle: bundle.clone(),
            console_socket: req.console_socket.map(state::absolute).transpose()?,
            preserve_fds: req.preserve_fds,
            foreground: req.foreground,
        };
        let (rd, wr) = fd::pipe().map_err(|e| anyhow!("pipe: {}", e.io()))?;
        // The read end is ours: the holder closes its copy first thing.
        let rd = std::cell::Cell::new(Some(rd));
        let child = process::fork_child(|| {
            drop(rd.take());
            holder(plan, wr)
        })?;
        let rd = rd.take().ok_or_else(|| anyhow!("the report pipe is gone"))?;
        let msg = read_line(&rd);
        if msg.strip_prefix('P').and_then(|p| p.parse::<i32>().ok()).is_some() {
            let (_, rec) = state::load(g, req.id)?;
            return Ok((rec, child));
        }
        let _ = process::wait(child);
        match msg.strip_prefix('E') {
            Some(m) => bail!("{m}"),
            None => bail!("container init failed to start"),
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// The holder: spawns the init, records it, reports, waits for `start` and the init's exit. Never returns.
fn holder(plan: HolderPlan, report: OwnedFd) -> ! {
    if !plan.foreground {
        let _ = process::setsid();
    }
    let fail = |msg: String| -> ! {
        let _ = fd::write_all(&report, format!("E{}\n", msg.replace('\n', " ")).as_bytes());
        std::process::exit(1)
    };
    let terminal = plan.spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    let stdio = if terminal {
        skiff_runtime::StdioSpec::default()
    } else {
        let d = |fd| dup_cloexec(fd).unwrap_or_else(|e| fail(e.to_string()));
        skiff_runtime::StdioSpec { stdin: Some(d(0)), stdout: Some(d(1)), stderr: Some(d(2)) }
    };
    let preserve: Vec<OwnedFd> =
        (0..plan.preserve_fds).map(|i| dup_cloexec(3 + i as RawFd).unwrap_or_else(|e| fail(e.to_string()))).collect();
    let opts = skiff_runtime::SpawnOptions {
        id: plan.id.clone(),
        stdio,
        terminal: if terminal { skiff_runtime::Terminal::Pty } else { skiff_runtime::Terminal::None },
        cgroup_root: PathBuf::from(skiff_runtime::cgroups::CGROUP_ROOT),
        wait_for_start: true,
        preserve_fds: preserve,
        bundle: plan.bundle.clone(),
    };
    let spawned = skiff_runtime::spawn(&plan.spec, opts).unwrap_or_else(|e| fail(e.to_string()));
    let pid = spawned.pid;
    let kill_fail = |msg: String| -> ! {
        let _ = skiff_runtime::signal(pid, libc::SIGKILL);
        let _ = skiff_runtime::wait(pid);
        fail(msg)
    };
    let mut pty = spawned.pty_master;
    if let (Some(sock), Some(m)) = (&plan.console_socket, &pty) {
        send_console(sock, m.as_raw_fd()).unwrap_or_else(|e| kill_fail(crate::describe(&e)));
        pty = None;
    }
    let rec = Record {
        id: plan.id.clone(),
        pid,
        pid_start: skiff_runtime::procs::start_time(pid).unwrap_or(0),
        holder: process::getpid(),
        bundle: plan.bundle.clone(),
        rootfs: plan.spec.root().as_ref().map(|r| r.path().clone()).unwrap_or_default(),
        created: state::now(),
        annotations: plan.spec.annotations().clone().unwrap_or_default().into_iter().collect(),
        cgroup: plan.spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()).unwrap_or_default(),
        hooks: plan.spec.hooks().clone(),
    };
    let tmp = plan.dir.join("state.json.tmp");
    let written = serde_json::to_vec(&rec)
        .map_err(|e| e.to_string())
        .and_then(|t| std::fs::write(&tmp, t).map_err(|e| e.to_string()))
        .and_then(|_| std::fs::rename(&tmp, plan.dir.join("state.json")).map_err(|e| e.to_string()));
    if let Err(e) = written {
        kill_fail(format!("writing the container state: {e}"));
    }
    let open_fifo = |name: &str| {
        let path = plan.dir.join(name);
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| kill_fail(format!("open {}: {e}", path.display())))
    };
    let fifo = open_fifo("start");
    // Where `start` learns that the process runs (or why it does not).
    let execd = open_fifo("execd");
    let sync = spawned.sync;
    let pidfd = PidFd::open(pid).unwrap_or_else(|e| kill_fail(e.to_string()));
    let _ = fd::write_all(&report, format!("P{pid}\n").as_bytes());
    drop(report);
    if !plan.foreground {
        let _ = fd::stdio_to_null();
        let _ = std::env::set_current_dir("/");
    }
    watch(Watch { pidfd: &pidfd, fifo: &fifo, execd: &execd, start_fd: spawned.start_fd, sync, pty });
    let code = skiff_runtime::wait(pid).map(|s| s.code()).unwrap_or(255);
    let tmp = plan.dir.join("exit.tmp");
    if std::fs::write(&tmp, format!("{code}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, plan.dir.join("exit"));
    }
    std::process::exit(0)
}

/// What the holder watches until the init exits.
struct Watch<'a> {
    pidfd: &'a PidFd,
    fifo: &'a std::fs::File,
    execd: &'a std::fs::File,
    /// Until `start`: the init's start pipe and sync socket.
    start_fd: Option<OwnedFd>,
    sync: Option<OwnedFd>,
    /// A foreground run's pty, copied to and from our stdio.
    pty: Option<OwnedFd>,
}

/// Releases the init when `start` asks, relays a pty, and returns once the init has exited.
fn watch(mut w: Watch<'_>) {
    let mut stdin_open = true;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let (stdin, pty) = (fd::stdin(), w.pty.as_ref());
        let mut fds = vec![PollFd::new(w.pidfd, PollFlags::IN)];
        let fifo_at = w.start_fd.is_some().then(|| {
            fds.push(PollFd::new(w.fifo, PollFlags::IN));
            fds.len() - 1
        });
        let (pty_at, stdin_at) = match pty {
            Some(p) => {
                fds.push(PollFd::new(p, PollFlags::IN));
                let pty_at = fds.len() - 1;
                let stdin_at = stdin_open.then(|| {
                    fds.push(PollFd::new(&stdin, PollFlags::IN));
                    fds.len() - 1
                });
                (Some(pty_at), stdin_at)
            }
            None => (None, None),
        };
        if fd::poll(&mut fds, None).is_err() {
            return;
        }
        let ready = |i: Option<usize>| i.is_some_and(|i| fd::ready(&fds[i]));
        let (exited, start, from_pty, from_stdin) =
            (fd::ready(&fds[0]), ready(fifo_at), ready(pty_at), ready(stdin_at));
        drop(fds);
        if start && fd::read_byte(w.fifo).is_ok_and(|b| b.is_some()) {
            if let Some(start_fd) = w.start_fd.take() {
                let started = skiff_runtime::start_created(start_fd)
                    .and_then(|_| w.sync.take().map(skiff_runtime::wait_exec).unwrap_or(Ok(())));
                let word = match started {
                    Ok(()) => "0\n".to_string(),
                    Err(e) => format!("E{}\n", e.to_string().replace('\n', " ")),
                };
                let _ = fd::write_all(w.execd, word.as_bytes());
            }
        }
        if let Some(p) = &w.pty {
            if from_pty {
                match fd::read(p, &mut buf) {
                    Ok(n) if n > 0 => {
                        let _ = fd::write_all(fd::stdout(), &buf[..n]);
                    }
                    _ => w.pty = None,
                }
            }
        }
        if let (Some(p), true) = (&w.pty, from_stdin) {
            match fd::read(fd::stdin(), &mut buf) {
                Ok(n) if n > 0 => {
                    let _ = fd::write_all(p, &buf[..n]);
                }
                _ => stdin_open = false,
            }
        }
        if exited {
            return;
        }
    }
}
