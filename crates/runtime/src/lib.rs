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
//! And the process plumbing of the whole workspace, as safe functions (one way per call):
//! - [`process`]: the one fork entry point ([`process::fork_child`], which refuses in a
//!   multi-threaded process; `spawn` and `exec` fork through the same check), waiting and wait
//!   statuses, pidfds, `setsid`, child subreaper.
//! - [`signal`](mod@signal): signal names, the signals a foreground CLI forwards, the signal mask, waiting
//!   while forwarding queued signals (signalfd), dispositions.
//! - [`tty`]: raw mode, window sizes, the pty relay.
//! - [`fd`]: reads and writes that retry `EINTR`, `poll`, pipes, duplicates, FIFOs, the fixed fd
//!   numbers of a hand-over.
//! - [`procs`]: `/proc/PID/stat` start times and `ps -ef` rows.
//!
//! Dependencies: `oci-spec` for the runtime types (seccomp profiles are compiled to BPF here, in
//! [`seccomp`]), `caps` for capability names, `rustix` for the system calls it has safe forms
//! of, `libc` for the rest. Synchronous only: fork from a multi-threaded async runtime is not
//! supported (and refused).
//!
//! By intent the only crate of the workspace with `unsafe`: every other crate calls these
//! functions instead (the engine still has a little, on its way here). Each block has a
//! `// SAFETY:` comment.

pub mod capabilities;
pub mod cgroups;
mod child_error;
mod exec;
pub mod fd;
pub mod hooks;
mod init;
pub mod process;
pub mod procs;
pub mod rootfs;
pub mod seccomp;
pub mod signal;
mod spawn;
mod sys;
mod syscall_table;
pub mod timing;
pub mod tty;

use std::os::fd::OwnedFd;
use std::path::PathBuf;

pub use exec::{exec, exec_with};
pub use oci_spec;
pub use process::{wait, ExitStatus};
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
    #[error(transparent)]
    Process(#[from] process::ProcessError),
    #[error(transparent)]
    Fd(#[from] fd::FdError),
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
