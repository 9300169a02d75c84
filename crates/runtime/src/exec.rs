//! Running a further process in a running container: a helper marks itself non-dumpable
//! (CVE-2019-5736), joins the container's cgroup and every namespace that differs from ours (user
//! first, mount last), then clones the process with CLONE_PARENT so it is the caller's child and
//! inside the container's pid namespace. The process gets the same capabilities, no_new_privs and
//! seccomp as the spec says, and no fd but its stdio (and, with [`exec_with`], the preserved ones as 3, 4, ...).

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;

use oci_spec::runtime::{Process, Spec};

use crate::capabilities::CapabilityMasks;
use crate::child_error::ChildError;
use crate::init::{self, Plan};
use crate::spawn::{check_apparmor, child_error, compiled_seccomp, drive, join_cgroups, prepare_stdio};
use crate::{fd, process, sys, RuntimeError, Spawned, StdioSpec, Terminal};

/// Namespaces in the order they are joined; the user namespace first, mount last.
const NAMESPACES: [(&str, libc::c_int); 8] = [
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("time", libc::CLONE_NEWTIME),
    ("mnt", libc::CLONE_NEWNS),
];

/// The files through which the exec helper joins `pid`'s cgroups (found through /proc/PID/cgroup)
/// by writing "0": `tasks` in v1 hierarchies (see `CgroupManager::self_join_files`), `cgroup.procs`
/// in the v2 one. Hierarchies where the helper already is in that cgroup are left out.
fn cgroup_join_files(pid: i32) -> Vec<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let ours = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let base = "/sys/fs/cgroup";
    let mut out = Vec::new();
    for line in text.lines() {
        if ours.lines().any(|l| l == line) {
            continue;
        }
        let mut it = line.splitn(3, ':');
        let (_, ctrl, path) = match (it.next(), it.next(), it.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => continue,
        };
        let dir = if ctrl.is_empty() {
            if std::path::Path::new(&format!("{base}/cgroup.controllers")).exists() {
                format!("{base}{path}")
            } else {
                format!("{base}/unified{path}")
            }
        } else {
            let name = ctrl.strip_prefix("name=").unwrap_or(ctrl);
            format!("{base}/{name}{path}")
        };
        let f = if ctrl.is_empty() { format!("{dir}/cgroup.procs") } else { format!("{dir}/tasks") };
        if std::path::Path::new(&f).exists() {
            out.push(f);
        }
    }
    out
}

/// Runs `process` inside the running container whose init is `container_pid`.
pub fn exec(
    container_pid: i32,
    process: &Process,
    spec: &Spec,
    stdio: StdioSpec,
    terminal: Terminal,
) -> Result<Spawned, RuntimeError> {
    exec_with(container_pid, process, spec, stdio, terminal, Vec::new())
}

/// [`exec`], handing the process `preserve` as its fds 3, 4, ... (runc's `exec --preserve-fds`).
pub fn exec_with(
    container_pid: i32,
    process: &Process,
    spec: &Spec,
    stdio: StdioSpec,
    terminal: Terminal,
    preserve: Vec<OwnedFd>,
) -> Result<Spawned, RuntimeError> {
    let caps = CapabilityMasks::from_spec(process.capabilities().as_ref())?;
    check_apparmor(process)?;
    let seccomp = compiled_seccomp(spec)?;
    let mut joins: Vec<(OwnedFd, libc::c_int)> = Vec::new();
    for (name, flag) in NAMESPACES {
        let theirs = format!("/proc/{container_pid}/ns/{name}");
        let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(format!("/proc/self/ns/{name}"))) else {
            continue;
        };
        if a.ino() == b.ino() && a.dev() == b.dev() {
            continue;
        }
        let fd = sys::open(&theirs, libc::O_RDONLY).map_err(|e| RuntimeError::sys(format!("opening {theirs}"), e))?;
        joins.push((fd, flag));
    }
    let cgroup_join = cgroup_join_files(container_pid);
    // Stdio and the sync socket sit above the fds the process gets (0-2 and the preserved ones).
    let min = 3 + preserve.len() as RawFd + 3;
    let stdio = prepare_stdio(stdio, min)?;
    let (parent_sock, child_sock) =
        sys::seqpacket_pair().map_err(|e| RuntimeError::sys("creating the sync socket", e))?;
    let moved =
        fd::dup_cloexec(&child_sock, min).map_err(|e| RuntimeError::sys("moving the sync socket", e.errno()))?;
    // Only the moved copy may stay open: the caller learns of the exec from its end closing.
    drop(child_sock);
    let child_sock = moved;
    let plan = Plan {
        spec,
        process,
        caps,
        seccomp,
        sock: child_sock.as_raw_fd(),
        stdio: [stdio[0].as_fd(), stdio[1].as_fd(), stdio[2].as_fd()],
        pty: terminal == Terminal::Pty,
        start_rd: None,
        start_wr: None,
        preserve: preserve.iter().map(|f| f.as_fd()).collect(),
        cgroup_binds: Vec::new(),
        cgroup_join,
        hooks: None,
    };
    let helper = || -> std::convert::Infallible {
        let sock = plan.sock;
        let fail = |e: ChildError| -> ! {
            let _ = sys::send_msg(sock, &e.encode(), None);
            process::exit_now(125)
        };
        if let Err(e) = init::set_oom_score_adj(process) {
            fail(e);
        }
        if let Err(e) = sys::prctl(libc::PR_SET_DUMPABLE, 0) {
            fail(ChildError::new("making the helper non-dumpable".into(), e));
        }
        if let Err(e) = join_cgroups(&plan.cgroup_join) {
            fail(e);
        }
        for (fd, flag) in &joins {
            if let Err(e) = sys::setns(fd.as_raw_fd(), *flag) {
                fail(ChildError::new(format!("joining namespace {flag:#x} of pid {container_pid}"), e));
            }
        }
        match sys::clone_parent() {
            Ok(0) => init::run(&plan, false),
            Ok(pid) => {
                let mut m = vec![b'P'];
                m.extend_from_slice(&pid.to_le_bytes());
                let _ = sys::send_msg(sock, &m, None);
                process::exit_now(0)
            }
            Err(e) => fail(ChildError::new("cloning the exec process".into(), e)),
        }
    };
    let helper_pid = process::fork_child(helper)?;
    drop(child_sock);
    drop(stdio);
    drop(joins);
    drop(preserve);
    let outcome = drive(&parent_sock, helper_pid, spec, false, None);
    let _ = process::wait(helper_pid);
    let outcome = outcome?;
    if let Some(e) = outcome.error {
        if let Some(pid) = outcome.pid {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = process::wait(pid);
        }
        return Err(child_error(e));
    }
    let pid = outcome.pid.ok_or_else(|| RuntimeError::sys("exec helper exited without a pid", libc::ECHILD))?;
    Ok(Spawned { pid, pty_master: outcome.pty, start_fd: None, sync: None })
}
