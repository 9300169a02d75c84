//! OCI lifecycle hooks (`hooks` in config.json): programs the runtime runs at fixed points of a
//! container's life, each reading the container's state (JSON) on its stdin.
//!
//! Where each kind runs (runtime-spec, "POSIX-platform Hooks"):
//! - `prestart` (deprecated) and `createRuntime`: during create, once the namespaces, cgroup and
//!   mounts exist and before pivot_root, by the caller of [`crate::spawn`] (the runtime namespace);
//! - `createContainer`: right after them, by the container init (the container's namespaces, the
//!   mounts not yet pivoted, so the path resolves as in the runtime namespace);
//! - `startContainer`: by the init just before it executes the process (after pivot_root: the path
//!   resolves in the container);
//! - `poststart`: once the process runs, before start returns; `poststop`: when the container is
//!   deleted. Both in the runtime namespace, by the caller; their failures are warnings.
//!
//! A hook fails when it cannot be started, exits non-zero or outlives its `timeout`; the error
//! carries what it wrote to stdout and stderr.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Spec};

use crate::fd::{self, PollFd, PollFlags};
use crate::sys;

/// The points of a container's life at which hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl HookKind {
    /// The name config.json uses.
    pub fn name(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }
}

/// The hooks of `kind` in `hooks` (none when absent).
pub fn of_kind(hooks: Option<&oci_spec::runtime::Hooks>, kind: HookKind) -> &[Hook] {
    let Some(h) = hooks else { return &[] };
    #[allow(deprecated)]
    let list = match kind {
        HookKind::Prestart => h.prestart(),
        HookKind::CreateRuntime => h.create_runtime(),
        HookKind::CreateContainer => h.create_container(),
        HookKind::StartContainer => h.start_container(),
        HookKind::Poststart => h.poststart(),
        HookKind::Poststop => h.poststop(),
    };
    list.as_deref().unwrap_or(&[])
}

/// Whether `hooks` has any hook at all.
pub fn any(hooks: Option<&oci_spec::runtime::Hooks>) -> bool {
    ALL.iter().any(|k| !of_kind(hooks, *k).is_empty())
}

const ALL: [HookKind; 6] = [
    HookKind::Prestart,
    HookKind::CreateRuntime,
    HookKind::CreateContainer,
    HookKind::StartContainer,
    HookKind::Poststart,
    HookKind::Poststop,
];

/// What a hook learns of the container besides its status and pid.
#[derive(Debug, Clone, Default)]
pub struct HookContext {
    pub id: String,
    /// The bundle directory (empty when the container has none).
    pub bundle: PathBuf,
    pub annotations: BTreeMap<String, String>,
}

impl HookContext {
    /// The context of container `id` run from `spec`.
    pub fn new(spec: &Spec, id: &str, bundle: &Path) -> Self {
        Self {
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            annotations: spec.annotations().clone().unwrap_or_default().into_iter().collect(),
        }
    }

    /// The OCI state a hook reads on stdin.
    pub fn state(&self, status: &str, pid: i32) -> Vec<u8> {
        let v = serde_json::json!({
            "ociVersion": crate::OCI_VERSION,
            "id": self.id,
            "status": status,
            "pid": pid,
            "bundle": self.bundle,
            "annotations": self.annotations,
        });
        serde_json::to_vec(&v).unwrap_or_default()
    }
}

/// Runs `hooks` in order with `state` on each one's stdin; stops at the first that fails.
pub fn run_all(kind: HookKind, hooks: &[Hook], state: &[u8]) -> Result<(), String> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state)
            .map_err(|e| format!("error running {} hook #{i} ({}): {e}", kind.name(), h.path().display()))?;
    }
    Ok(())
}

/// Runs `hooks` in order, each whatever the others did; returns the failures (warnings).
pub fn run_all_warn(kind: HookKind, hooks: &[Hook], state: &[u8]) -> Vec<String> {
    hooks
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            run_one(h, state)
                .err()
                .map(|e| format!("error running {} hook #{i} ({}): {e}", kind.name(), h.path().display()))
        })
        .collect()
}

/// Runs one hook: its path with its args (`args[0]` is `argv[0]`) and env (the caller's when it has
/// none), `state` on stdin; waits for it, at most `timeout` seconds.
pub fn run_one(hook: &Hook, state: &[u8]) -> Result<(), String> {
    if !hook.path().is_absolute() {
        return Err("the hook path must be absolute".into());
    }
    let timeout = match hook.timeout() {
        Some(t) if t <= 0 => return Err(format!("timeout must be greater than zero, not {t}")),
        Some(t) => Some(Duration::from_secs(t as u64)),
        None => None,
    };
    let mut cmd = Command::new(hook.path());
    let args = hook.args().clone().unwrap_or_default();
    if let Some((first, rest)) = args.split_first() {
        cmd.arg0(first).args(rest);
    }
    if let Some(env) = hook.env() {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let pid = child.id() as i32;
    let pidfd = match crate::process::PidFd::open(pid) {
        Ok(p) => p,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("pidfd_open: {}", sys::errno_text(e.errno())));
        }
    };
    let stdin = child.stdin.take().map(OwnedFd::from);
    let stdout = child.stdout.take().map(OwnedFd::from);
    let stderr = child.stderr.take().map(OwnedFd::from);
    for f in [&stdin, &stdout, &stderr].into_iter().flatten() {
        let _ = fd::set_nonblocking(f, true);
    }
    let mut io = HookIo { stdin, state, written: 0, out: [stdout, stderr], captured: [Vec::new(), Vec::new()] };
    let deadline = timeout.map(|t| Instant::now() + t);
    let exited = io.pump(&pidfd, deadline);
    if !exited {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    io.drain();
    let [out, err] = &io.captured;
    let (out, err) = (String::from_utf8_lossy(out), String::from_utf8_lossy(err));
    let out = out.trim_end();
    let err = err.trim_end();
    if !exited {
        return Err(format!(
            "hook ran past its timeout of {}s, stdout: {out}, stderr: {err}",
            timeout.unwrap_or_default().as_secs()
        ));
    }
    if status.success() {
        return Ok(());
    }
    let why = match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    };
    Err(format!("{why}, stdout: {out}, stderr: {err}"))
}

/// A running hook's pipes: the state still to write, the output read so far.
struct HookIo<'a> {
    stdin: Option<OwnedFd>,
    state: &'a [u8],
    written: usize,
    out: [Option<OwnedFd>; 2],
    captured: [Vec<u8>; 2],
}

impl HookIo<'_> {
    /// Feeds stdin and collects output until the hook exits (true) or the deadline passes (false).
    fn pump(&mut self, pidfd: &crate::process::PidFd, deadline: Option<Instant>) -> bool {
        if self.state.is_empty() {
            self.stdin = None;
        }
        loop {
            let wait = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    Some(left)
                }
                None => None,
            };
            let mut fds = vec![PollFd::new(pidfd, PollFlags::IN)];
            let stdin_at = self.stdin.as_ref().map(|f| {
                fds.push(PollFd::new(f, PollFlags::OUT));
                fds.len() - 1
            });
            let mut out_at = [None, None];
            for (i, f) in self.out.iter().enumerate() {
                out_at[i] = f.as_ref().map(|f| {
                    fds.push(PollFd::new(f, PollFlags::IN));
                    fds.len() - 1
                });
            }
            if fd::poll(&mut fds, wait).is_err() {
                return true;
            }
            let ready = |i: Option<usize>| i.is_some_and(|i| fd::ready(&fds[i]));
            let (feed, read, exited) = (ready(stdin_at), [ready(out_at[0]), ready(out_at[1])], fd::ready(&fds[0]));
            drop(fds);
            if feed {
                self.feed();
            }
            for (i, r) in read.into_iter().enumerate() {
                if r {
                    self.read(i);
                }
            }
            if exited {
                return true;
            }
        }
    }

    fn feed(&mut self) {
        let Some(f) = &self.stdin else { return };
        let rest = &self.state[self.written..];
        match fd::write(f, rest) {
            Ok(n) => {
                self.written += n;
                if self.written >= self.state.len() {
                    self.stdin = None;
                }
            }
            Err(e) if e.errno() == libc::EAGAIN => {}
            // A hook need not read its stdin (EPIPE).
            Err(_) => self.stdin = None,
        }
    }

    /// Reads what output stream `i` has now; closes it at EOF or error.
    fn read(&mut self, i: usize) {
        let mut buf = [0u8; 4096];
        while let Some(f) = &self.out[i] {
            match fd::read(f, &mut buf) {
                Ok(0) => self.out[i] = None,
                Ok(n) => {
                    // Enough for an error message; a chatty hook is not kept in memory whole.
                    if self.captured[i].len() < 64 * 1024 {
                        self.captured[i].extend_from_slice(&buf[..n]);
                    }
                }
                Err(e) if e.errno() == libc::EAGAIN => return,
                Err(_) => self.out[i] = None,
            }
        }
    }

    /// After the exit: what is left in the pipes (a child of the hook holding them open is not waited for).
    fn drain(&mut self) {
        for i in 0..2 {
            self.read(i);
        }
    }
}
