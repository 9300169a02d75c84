//! skiff's OCI runtime: an OCI runtime spec (`oci_spec::runtime::Spec`) and a prepared root
//! filesystem become a confined process. The runtime knows nothing of images or Docker flags.
//!
//! - [`spawn`] creates a container init as a direct child of the caller: namespaces (created or
//!   joined by path), cgroup, mounts resolved inside the rootfs, devices, pivot_root, masked and
//!   read-only paths, hostname, rlimits, user and groups, capabilities, no_new_privs, seccomp.
//! - [`start_created`] releases a container spawned with `wait_for_start` (`create` semantics);
//!   [`wait_exec`] then tells when it has executed its process, or why it failed to.
//! - [`hooks`] runs OCI lifecycle hooks: `spawn` runs those before the process starts, the
//!   caller `poststart` and `poststop`.
//! - [`exec`] runs another process in a running container's namespaces and cgroup with the same
//!   security settings.
//! - [`cgroups`] manages a container's cgroup (v1 and v2).
//!
//! Dependencies: `oci-spec` for the runtime types (seccomp profiles are compiled to BPF here, in
//! [`seccomp`]), `caps` for capability names, `libc` for the system calls. Synchronous only:
//! fork from a multi-threaded async runtime is not supported.
//!
//! This is the only crate of the workspace with `unsafe`; each block has a `// SAFETY:` comment.

pub mod capabilities;
pub mod cgroups;
mod exec;
pub mod hooks;
mod init;
pub mod rootfs;
pub mod seccomp;
mod spawn;
mod sys;
mod syscall_table;
pub mod timing;

use std::os::fd::OwnedFd;
use std::path::PathBuf;

pub use exec::{exec, exec_with};
pub use oci_spec;
pub use spawn::{spawn, start_created, wait_exec};
/// One message over an AF_UNIX socket, optionally carrying one fd (SCM_RIGHTS), e.g. runc's
/// `--console-socket` protocol. Errors are errno values.
pub use sys::{recv_msg, send_msg};

/// The version of the OCI runtime spec whose state and configs skiff speaks (as runc 1.1).
pub const OCI_VERSION: &str = "1.0.2";

/// The container's standard streams; `None` is `/dev/null`.
#[derive(Debug, Default)]
pub struct StdioSpec {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// Whether the process gets a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Terminal {
    #[default]
    None,
    /// Allocate a pty inside the container (its own devpts); the slave becomes the controlling
    /// terminal and stdio, the master is returned in [`Spawned::pty_master`].
    Pty,
}

/// How to spawn a container.
#[derive(Debug)]
pub struct SpawnOptions {
    /// Container id: the cgroup name when the spec has no cgroupsPath.
    pub id: String,
    pub stdio: StdioSpec,
    pub terminal: Terminal,
    /// Root of the cgroup filesystem, e.g. `/sys/fs/cgroup` (injectable for tests); the cgroup
    /// path inside it comes from `spec.linux.cgroupsPath` (default `skiff/<id>`).
    pub cgroup_root: PathBuf,
    /// `create` semantics: the child blocks before exec until [`start_created`] is called.
    pub wait_for_start: bool,
    /// Passed to the process as fds 3, 4, ...
    pub preserve_fds: Vec<OwnedFd>,
    /// The bundle directory, as hooks are told (empty: none).
    pub bundle: PathBuf,
}

/// A spawned (or exec'd) process.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub pty_master: Option<OwnedFd>,
    /// With `wait_for_start`: write one byte (or call [`start_created`]) to start the process.
    pub start_fd: Option<OwnedFd>,
    /// With `wait_for_start`: the sync socket, for [`wait_exec`] after the start.
    pub sync: Option<OwnedFd>,
}

/// Errors of spawn, start, exec and signal.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    #[error("{stage}: {}", sys::errno_text(*errno))]
    Sys { stage: String, errno: i32 },
    /// The container process failed before exec; `message` says what.
    #[error("{message}")]
    Child { message: String, errno: i32, exit_code: i32 },
    #[error(transparent)]
    Cgroup(#[from] cgroups::CgroupError),
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
    #[error(transparent)]
    Capability(#[from] capabilities::CapabilityError),
    #[error("user namespace mapping for pid {pid}: {source}")]
    UserMap { pid: i32, source: std::io::Error },
}

impl RuntimeError {
    /// Docker's exit code for this failure: 127 command not found, 126 not executable, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            RuntimeError::Child { exit_code, .. } => *exit_code,
            _ => 125,
        }
    }

    pub(crate) fn sys(stage: impl Into<String>, errno: i32) -> Self {
        RuntimeError::Sys { stage: stage.into(), errno }
    }
}

/// Sends a signal to a process.
pub fn signal(pid: i32, sig: i32) -> Result<(), RuntimeError> {
    sys::kill(pid, sig).map_err(|e| RuntimeError::sys(format!("sending signal {sig} to pid {pid}"), e))
}

/// AppArmor is applied where the kernel has it; this says whether it does.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").map(|s| s.trim() == "Y").unwrap_or(false)
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    /// A status as waitpid(2) reports it.
    pub fn from_wait_status(st: libc::c_int) -> ExitStatus {
        if libc::WIFSIGNALED(st) {
            ExitStatus::Signaled(libc::WTERMSIG(st))
        } else {
            ExitStatus::Exited(libc::WEXITSTATUS(st))
        }
    }

    /// The shell's (and Docker's) exit code: the status, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// Waits for a child process (the container init or an exec'd process) to end, and reaps it.
pub fn wait(pid: i32) -> Result<ExitStatus, RuntimeError> {
    let st = sys::waitpid(pid).map_err(|e| RuntimeError::sys(format!("waiting for pid {pid}"), e))?;
    Ok(ExitStatus::from_wait_status(st))
}
