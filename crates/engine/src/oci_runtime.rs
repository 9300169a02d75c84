//! Running containers with an installed OCI runtime (`--runtime runc`, or a
//! path) instead of skiff's own: the container's directory is the bundle
//! (`config.json`, with `root.path` the mounted rootfs), the runtime's state
//! lives under `<run root>/.runtime-<name>/`, and `create` + `start` are run
//! from the process that then becomes the container's monitor. That process
//! is made a child subreaper first, so the init (whose parent, the runtime,
//! exits) is reparented to it and the monitor reaps it as with skiff's own
//! runtime. With a terminal, the pty master arrives over `--console-socket`.
//! Also: `--init`'s binary (Debian's `tini-static`).

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why an external runtime could not be used or failed.
#[derive(Debug, thiserror::Error)]
pub enum OciRuntimeError {
    #[error("unknown or invalid runtime name: {0}")]
    Unknown(String),
    #[error("docker-init binary not found at {0}: install Debian's tini package (it provides tini-static)")]
    NoInit(PathBuf),
    /// The runtime refused or failed; `code` is Docker's (127 not found, 126 not executable, else 125).
    #[error("OCI runtime {stage} failed: {message}: unknown")]
    Failed { stage: &'static str, message: String, code: i32 },
    #[error("{op}: {source}")]
    Io { op: String, source: std::io::Error },
}

impl OciRuntimeError {
    /// Docker's exit code for the failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            OciRuntimeError::Failed { code, .. } => *code,
            _ => 125,
        }
    }
}

type Result<T> = std::result::Result<T, OciRuntimeError>;

/// Resolves `--runtime`: `None`, `""` and `skiff` are skiff's own runtime (`Ok(None)`); a name is
/// looked up in `PATH`, a path must be an executable file.
pub fn resolve(name: Option<&str>) -> Result<Option<PathBuf>> {
    let Some(name) = name.filter(|n| !n.is_empty() && *n != "skiff") else { return Ok(None) };
    let executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if executable(&p) { Ok(Some(p)) } else { Err(OciRuntimeError::Unknown(name.to_string())) };
    }
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| executable(p))
        .map(Some)
        .ok_or_else(|| OciRuntimeError::Unknown(name.to_string()))
}

/// The runtime's `--root` for skiff's containers: `<run root>/.runtime-<name>`.
pub fn state_root(runtime: &Path, run_root: &Path) -> PathBuf {
    let name = runtime.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "oci".into());
    run_root.join(format!(".runtime-{name}"))
}

/// The init `--init` binds into containers: `$SKIFF_INIT_PATH`, else Debian's static tini.
pub fn init_binary() -> Result<PathBuf> {
    let p =
        std::env::var_os("SKIFF_INIT_PATH").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/tini-static"));
    if p.is_file() {
        Ok(p)
    } else {
        Err(OciRuntimeError::NoInit(p))
    }
}

fn command(runtime: &Path, run_root: &Path) -> Command {
    let mut c = Command::new(runtime);
    c.arg("--root").arg(state_root(runtime, run_root));
    c
}

/// `RUNTIME delete --force ID`, ignoring failures (nothing to delete is fine).
pub fn delete(runtime: &Path, run_root: &Path, id: &str) {
    let _ = command(runtime, run_root)
        .args(["delete", "--force", id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The last error message in a runtime's JSON log, else the whole log's text.
fn last_error(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["level"] == "error" || v["level"] == "fatal")
        .find_map(|v| v["msg"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.trim().to_string())
}

/// Docker's codes for a runtime's start failure.
fn code_for(message: &str) -> i32 {
    if message.contains("executable file not found") || message.contains("no such file or directory") {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        125
    }
}

/// The container's stdio for the runtime.
pub struct Stdio3 {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// A started container: the init's pid and, with a terminal, the pty master.
pub struct Started {
    pub pid: i32,
    pub pty_master: Option<OwnedFd>,
}

fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> OciRuntimeError {
    let op = op.into();
    move |source| OciRuntimeError::Io { op, source }
}

/// Creates and starts container `id` from `bundle` with `runtime`; the caller becomes the
/// init's parent (a child subreaper). `state_dir` holds the pid file, log and console socket.
pub fn create_and_start(
    runtime: &Path,
    id: &str,
    bundle: &Path,
    state_dir: &Path,
    tty: bool,
    stdio: Stdio3,
) -> Result<Started> {
    let name = runtime.display().to_string();
    let fail =
        |stage: &'static str, message: String| OciRuntimeError::Failed { stage, code: code_for(&message), message };
    if let Err(e) = skiff_runtime::process::set_child_subreaper() {
        return Err(io("becoming a child subreaper")(std::io::Error::from_raw_os_error(e.errno())));
    }
    // The run root holds every container's state directory, and the runtime's own root.
    let run_root = state_dir.parent().unwrap_or(state_dir);
    // A previous run's state (the container exited, it was not removed) goes first.
    delete(runtime, run_root, id);
    let pid_file = state_dir.join("runtime.pid");
    let log = state_dir.join("runtime.log");
    let sock_path = state_dir.join("console.sock");
    let listener = if tty {
        let _ = std::fs::remove_file(&sock_path);
        let l =
            std::os::unix::net::UnixListener::bind(&sock_path).map_err(io(format!("bind {}", sock_path.display())))?;
        l.set_nonblocking(true).map_err(io("console socket"))?;
        Some(l)
    } else {
        None
    };
    let to_stdio = |fd: Option<OwnedFd>| fd.map(Stdio::from).unwrap_or_else(Stdio::null);
    let mut c = command(runtime, run_root);
    c.arg("--log").arg(&log).args(["--log-format", "json", "create", "--bundle"]).arg(bundle);
    c.arg("--pid-file").arg(&pid_file);
    if tty {
        c.arg("--console-socket").arg(&sock_path);
    }
    c.arg(id).stdin(to_stdio(stdio.stdin)).stdout(to_stdio(stdio.stdout)).stderr(to_stdio(stdio.stderr));
    let mut child = c.spawn().map_err(io(format!("running {name}")))?;
    drop(c);
    let mut pty = None;
    if let Some(l) = &listener {
        loop {
            match l.accept() {
                Ok((s, _)) => {
                    pty = skiff_runtime::recv_msg(s.as_raw_fd()).ok().and_then(|(_, fd)| fd);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if child.try_wait().ok().flatten().is_some() {
                        break;
                    }
                    use skiff_runtime::fd::{poll, PollFd, PollFlags};
                    // A timeout, so the runtime's exit is noticed.
                    let _ = poll(&mut [PollFd::new(l, PollFlags::IN)], Some(std::time::Duration::from_millis(50)));
                }
                Err(e) => return Err(io("accepting the console")(e)),
            }
        }
        let _ = std::fs::remove_file(&sock_path);
    }
    let status = child.wait().map_err(io(format!("waiting for {name}")))?;
    if !status.success() {
        return Err(fail("create", last_error(&log)));
    }
    let mut text = String::new();
    std::fs::File::open(&pid_file)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(io(format!("read {}", pid_file.display())))?;
    let pid: i32 = text.trim().parse().map_err(|_| fail("create", format!("bad pid file {}", pid_file.display())))?;
    let out = command(runtime, run_root)
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "start", id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(io(format!("running {name}")))?;
    if !out.success() {
        let message = last_error(&log);
        delete(runtime, run_root, id);
        return Err(fail("start", message));
    }
    Ok(Started { pid, pty_master: pty })
}
