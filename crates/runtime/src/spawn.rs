//! Spawning a container init. The caller forks a helper, puts it in the container's cgroup and
//! lets it go; the helper creates or joins the namespaces (asking the caller to write uid/gid maps
//! for a new user namespace), then clones the init with CLONE_PARENT so that the init is the
//! caller's direct child (and pid 1 of a new pid namespace), reports its pid and exits. The init
//! sets itself up (see `init`) and reports errors, readiness (create) and the pty master over a
//! close-on-exec SOCK_SEQPACKET socket; EOF on that socket means execve succeeded.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::capabilities::CapabilityMasks;
use crate::cgroups::CgroupManager;
use crate::child_error::{self, ChildError};
use crate::hooks::{self, HookContext, HookKind};
use crate::init::{self, Plan};
use crate::seccomp::{self, CompiledSeccomp};
use crate::{fd, process, sys, RuntimeError, SpawnOptions, Spawned, StdioSpec, Terminal};

/// Compiled seccomp profiles by their JSON, so each profile is compiled to BPF once per process.
static SECCOMP_CACHE: Mutex<Option<HashMap<String, CompiledSeccomp>>> = Mutex::new(None);

pub(crate) fn compiled_seccomp(spec: &Spec) -> Result<Option<CompiledSeccomp>, RuntimeError> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else { return Ok(None) };
    let key = serde_json::to_string(profile).unwrap_or_default();
    let mut cache = SECCOMP_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(c) = cache.get(&key) {
        return Ok(Some(c.clone()));
    }
    let compiled = seccomp::compile(profile)?;
    cache.insert(key, compiled.clone());
    Ok(Some(compiled))
}

/// A process that names an AppArmor profile needs a kernel with AppArmor: without it, the
/// profile could not confine anything, and that is said rather than passed over.
pub(crate) fn check_apparmor(process: &oci_spec::runtime::Process) -> Result<(), RuntimeError> {
    match process.apparmor_profile().as_deref() {
        Some(p) if !p.is_empty() && !crate::apparmor_enabled() => Err(RuntimeError::InvalidSpec(format!(
            "the process is to run under the AppArmor profile {p:?}, but this kernel has no AppArmor"
        ))),
        _ => Ok(()),
    }
}

/// Stdio fds for the child, moved to numbers >= `min` (close-on-exec); `None` becomes /dev/null.
pub(crate) fn prepare_stdio(stdio: StdioSpec, min: RawFd) -> Result<Vec<OwnedFd>, RuntimeError> {
    let mut out = Vec::new();
    for (fd, write) in [(stdio.stdin, false), (stdio.stdout, true), (stdio.stderr, true)] {
        let fd = match fd {
            Some(fd) => fd,
            None => sys::open("/dev/null", if write { libc::O_WRONLY } else { libc::O_RDONLY })
                .map_err(|e| RuntimeError::sys("opening /dev/null", e))?,
        };
        out.push(fd::dup_cloexec(&fd, min).map_err(|e| RuntimeError::sys("duplicating stdio", e.errno()))?);
    }
    Ok(out)
}

fn ns_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

fn send_err(sock: RawFd, e: ChildError) -> ! {
    let _ = sys::send_msg(sock, &e.encode(), None);
    process::exit_now(125)
}

/// Brings up the loopback interface of the current (new) network namespace.
fn loopback_up() -> Result<(), i32> {
    // SAFETY: socket takes integers only.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(sys::errno());
    }
    // SAFETY: ifreq is plain old data; zeroed is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo\0".iter().enumerate() {
        ifr.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: ifr is a valid ifreq; SIOCGIFFLAGS fills ifru_flags.
    let mut rc = unsafe { libc::ioctl(s, libc::SIOCGIFFLAGS, &mut ifr) };
    if rc == 0 {
        // SAFETY: reading and writing the flags member of the union SIOCGIFFLAGS just filled.
        unsafe { ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
        // SAFETY: ifr is a valid ifreq.
        rc = unsafe { libc::ioctl(s, libc::SIOCSIFFLAGS, &ifr) };
    }
    let e = sys::errno();
    // SAFETY: closing the socket we opened.
    unsafe { libc::close(s) };
    if rc != 0 {
        Err(e)
    } else {
        Ok(())
    }
}

/// The helper between fork and the init's clone.
fn helper(spec: &Spec, plan: &Plan<'_>) -> ! {
    let sock = plan.sock;
    match sys::recv_msg(sock) {
        Ok((m, _)) if m == b"G" => {}
        _ => process::exit_now(125),
    }
    init::set_oom_score_adj(plan.process).unwrap_or_else(|e| send_err(sock, e));
    // Until execve, /proc/PID/exe of this process and the init is the host's skiff binary: keep
    // it out of reach of any process already in a joined pid namespace (CVE-2019-5736).
    if let Err(e) = sys::prctl(libc::PR_SET_DUMPABLE, 0) {
        send_err(sock, ChildError::new("making the helper non-dumpable".into(), e));
    }
    crate::timing::mark("helper: started");
    join_cgroups(&plan.cgroup_join).unwrap_or_else(|e| send_err(sock, e));
    crate::timing::mark("helper: cgroups joined");
    let nss = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
    let join = |t: LinuxNamespaceType, path: &std::path::Path| {
        let p = path.to_string_lossy();
        let fd = sys::open(&p, libc::O_RDONLY)
            .unwrap_or_else(|e| send_err(sock, ChildError::new(format!("opening namespace {p}"), e)));
        sys::setns(fd.as_raw_fd(), ns_flag(t))
            .unwrap_or_else(|e| send_err(sock, ChildError::new(format!("joining namespace {p}"), e)));
    };
    if let Some(u) = nss.iter().find(|n| n.typ() == LinuxNamespaceType::User) {
        match u.path() {
            Some(p) => join(LinuxNamespaceType::User, p),
            None => {
                sys::unshare(libc::CLONE_NEWUSER)
                    .unwrap_or_else(|e| send_err(sock, ChildError::new("creating the user namespace".into(), e)));
                let _ = sys::send_msg(sock, b"U", None);
                match sys::recv_msg(sock) {
                    Ok((m, _)) if m == b"M" => {}
                    _ => process::exit_now(125),
                }
                // Become the namespace's root, so files we create are owned by a mapped id.
                // SAFETY: setresgid/setresuid take integers only.
                if unsafe { libc::setresgid(0, 0, 0) } != 0 || unsafe { libc::setresuid(0, 0, 0) } != 0 {
                    send_err(sock, ChildError::new("becoming root in the user namespace".into(), sys::errno()));
                }
            }
        }
    }
    let mut flags = 0;
    for n in nss.iter().filter(|n| n.typ() != LinuxNamespaceType::User) {
        match n.path() {
            Some(p) => join(n.typ(), p),
            None => flags |= ns_flag(n.typ()),
        }
    }
    sys::unshare(flags).unwrap_or_else(|e| send_err(sock, ChildError::new("creating namespaces".into(), e)));
    if flags & libc::CLONE_NEWNET != 0 {
        loopback_up().unwrap_or_else(|e| send_err(sock, ChildError::new("bringing up loopback".into(), e)));
    }
    crate::timing::mark("helper: namespaces created");
    match sys::clone_parent() {
        Ok(0) => init::run(plan, true),
        Ok(pid) => {
            let mut m = vec![b'P'];
            m.extend_from_slice(&pid.to_le_bytes());
            let _ = sys::send_msg(sock, &m, None);
            process::exit_now(0)
        }
        Err(e) => send_err(sock, ChildError::new("cloning the container init".into(), e)),
    }
}

/// Moves the calling (single-threaded) helper into the cgroups named by `files` by writing "0" to
/// each, before it creates namespaces: the container's processes are its descendants.
pub(crate) fn join_cgroups(files: &[String]) -> Result<(), ChildError> {
    for f in files {
        let fd = sys::open(f, libc::O_WRONLY).map_err(|e| ChildError::new(format!("joining cgroup {f}"), e))?;
        fd::write_all(&fd, b"0").map_err(|e| ChildError::new(format!("joining cgroup {f}"), e.errno()))?;
    }
    Ok(())
}

fn write_map(pid: i32, file: &str, maps: &[LinuxIdMapping]) -> Result<(), RuntimeError> {
    let text: String = maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect();
    std::fs::write(format!("/proc/{pid}/{file}"), text).map_err(|source| RuntimeError::UserMap { pid, source })
}

/// What the caller learns from the child side.
pub(crate) struct Outcome {
    pub pid: Option<i32>,
    pub pty: Option<OwnedFd>,
    pub error: Option<ChildError>,
}

/// The caller's side of the sync socket: answers map requests, collects the pid, the pty master,
/// readiness or an error; returns at EOF (exec done), at readiness when `until_ready`, or at error.
///
/// With `hooks`, a spawn's init asks ('H') for the `prestart` and `createRuntime` hooks before it
/// pivots; they run here once the init's pid is known, and the answer carries that pid.
pub(crate) fn drive(
    sock: &OwnedFd,
    helper_pid: i32,
    spec: &Spec,
    until_ready: bool,
    hooks: Option<&HookContext>,
) -> Result<Outcome, RuntimeError> {
    let mut out = Outcome { pid: None, pty: None, error: None };
    let mut hooks_asked = false;
    loop {
        if let (true, Some(pid), Some(ctx)) = (hooks_asked, out.pid, hooks) {
            hooks_asked = false;
            let state = ctx.state("creating", pid);
            let h = spec.hooks().as_ref();
            let ran =
                hooks::run_all(HookKind::Prestart, hooks::of_kind(h, HookKind::Prestart), &state).and_then(|_| {
                    hooks::run_all(HookKind::CreateRuntime, hooks::of_kind(h, HookKind::CreateRuntime), &state)
                });
            match ran {
                Ok(()) => {
                    let mut m = vec![b'h'];
                    m.extend_from_slice(&pid.to_le_bytes());
                    sys::send_msg(sock.as_raw_fd(), &m, None)
                        .map_err(|e| RuntimeError::sys("answering the container init", e))?;
                }
                Err(message) => {
                    let _ = sys::send_msg(sock.as_raw_fd(), b"x", None);
                    out.error = Some(ChildError::message(message));
                    break;
                }
            }
        }
        let (msg, fd) = sys::recv_msg(sock.as_raw_fd()).map_err(|e| RuntimeError::sys("reading the sync socket", e))?;
        match msg.first() {
            None => break,
            Some(b'U') => {
                let linux = spec.linux().as_ref();
                write_map(helper_pid, "uid_map", &linux.and_then(|l| l.uid_mappings().clone()).unwrap_or_default())?;
                write_map(helper_pid, "gid_map", &linux.and_then(|l| l.gid_mappings().clone()).unwrap_or_default())?;
                sys::send_msg(sock.as_raw_fd(), b"M", None)
                    .map_err(|e| RuntimeError::sys("answering the helper", e))?;
            }
            Some(b'P') if msg.len() == 5 => out.pid = Some(i32::from_le_bytes([msg[1], msg[2], msg[3], msg[4]])),
            Some(b'T') => out.pty = fd,
            Some(b'H') => hooks_asked = true,
            Some(b'R') if until_ready => break,
            Some(b'E') => {
                out.error = ChildError::decode(&msg);
                break;
            }
            _ => {}
        }
    }
    Ok(out)
}

pub(crate) fn child_error(e: ChildError) -> RuntimeError {
    let exit_code = match e.kind {
        child_error::KIND_NOT_FOUND => 127,
        child_error::KIND_NOT_EXECUTABLE => 126,
        _ => 125,
    };
    let message = if e.kind == child_error::KIND_OTHER {
        format!("{}: {}", e.message, sys::errno_text(e.errno))
    } else {
        e.message
    };
    RuntimeError::Child { message, errno: e.errno, exit_code }
}

/// Creates the container process described by `spec` as a direct child of the caller. Runs the
/// spec's `prestart`, `createRuntime`, `createContainer` and `startContainer` hooks (see
/// [`crate::hooks`]); `poststart` and `poststop` are the caller's, which knows when they are due.
pub fn spawn(spec: &Spec, opts: SpawnOptions) -> Result<Spawned, RuntimeError> {
    let process = spec.process().as_ref().ok_or_else(|| RuntimeError::InvalidSpec("no process".into()))?;
    let root = spec.root().as_ref().ok_or_else(|| RuntimeError::InvalidSpec("no root".into()))?;
    if !root.path().is_dir() {
        return Err(RuntimeError::InvalidSpec(format!("root {} is not a directory", root.path().display())));
    }
    let linux = spec.linux().as_ref();
    let nss = linux.and_then(|l| l.namespaces().clone()).unwrap_or_default();
    if !nss.iter().any(|n| n.typ() == LinuxNamespaceType::Mount && n.path().is_none()) {
        return Err(RuntimeError::InvalidSpec("a new mount namespace is required".into()));
    }
    let caps = CapabilityMasks::from_spec(process.capabilities().as_ref())?;
    check_apparmor(process)?;
    let seccomp = compiled_seccomp(spec)?;
    crate::timing::mark("runtime: seccomp compiled");
    let cg_path = linux
        .and_then(|l| l.cgroups_path().clone())
        .unwrap_or_else(|| std::path::PathBuf::from(format!("skiff/{}", opts.id)));
    let cgroup = CgroupManager::new(&opts.cgroup_root, &cg_path)?;
    cgroup.create(linux.and_then(|l| l.resources().as_ref()))?;
    crate::timing::mark("runtime: cgroup created");
    let result = spawn_in(spec, opts, caps, seccomp, &cgroup, process);
    if result.is_err() {
        let _ = cgroup.remove();
    }
    result
}

fn spawn_in(
    spec: &Spec,
    opts: SpawnOptions,
    caps: CapabilityMasks,
    seccomp: Option<CompiledSeccomp>,
    cgroup: &CgroupManager,
    process: &oci_spec::runtime::Process,
) -> Result<Spawned, RuntimeError> {
    let min = 3 + opts.preserve_fds.len() as RawFd + 3;
    let stdio = prepare_stdio(opts.stdio, min)?;
    let (parent_sock, child_sock) =
        sys::seqpacket_pair().map_err(|e| RuntimeError::sys("creating the sync socket", e))?;
    let moved =
        fd::dup_cloexec(&child_sock, min).map_err(|e| RuntimeError::sys("moving the sync socket", e.errno()))?;
    drop(child_sock);
    let child_sock = moved;
    let start = if opts.wait_for_start {
        let (r, w) = fd::pipe().map_err(|e| RuntimeError::sys("creating the start pipe", e.errno()))?;
        Some((fd::dup_cloexec(&r, min).map_err(|e| RuntimeError::sys("moving the start pipe", e.errno()))?, w))
    } else {
        None
    };
    let plan = Plan {
        spec,
        process,
        caps,
        seccomp,
        sock: child_sock.as_raw_fd(),
        stdio: [stdio[0].as_fd(), stdio[1].as_fd(), stdio[2].as_fd()],
        pty: opts.terminal == Terminal::Pty,
        start_rd: start.as_ref().map(|s| s.0.as_fd()),
        start_wr: start.as_ref().map(|s| s.1.as_raw_fd()),
        preserve: opts.preserve_fds.iter().map(|f| f.as_fd()).collect(),
        cgroup_binds: cgroup.v1_dirs(),
        cgroup_join: cgroup.self_join_files().iter().map(|p| p.to_string_lossy().into_owned()).collect(),
        hooks: hooks::any(spec.hooks().as_ref()).then(|| HookContext::new(spec, &opts.id, &opts.bundle)),
    };
    let helper_pid = process::fork_child(|| helper(spec, &plan))?;
    let hook_ctx = plan.hooks;
    drop(child_sock);
    drop(stdio);
    let start_fd = start.map(|(r, w)| {
        drop(r);
        w
    });
    // v1: the helper joins the cgroup itself (plan.cgroup_join); v2: move it from here.
    let attach = match cgroup.version() {
        crate::cgroups::CgroupVersion::V2 => cgroup.add_pid(helper_pid),
        crate::cgroups::CgroupVersion::V1 => Ok(()),
    };
    let outcome = attach
        .map_err(RuntimeError::from)
        .and_then(|_| {
            sys::send_msg(parent_sock.as_raw_fd(), b"G", None).map_err(|e| RuntimeError::sys("starting the helper", e))
        })
        .and_then(|_| drive(&parent_sock, helper_pid, spec, opts.wait_for_start, hook_ctx.as_ref()));
    let helper_status = process::wait(helper_pid);
    let fail = |pid: Option<i32>| {
        if let Some(pid) = pid {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = process::wait(pid);
        }
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let _ = sys::kill(helper_pid, libc::SIGKILL);
            return Err(e);
        }
    };
    if let Some(e) = outcome.error {
        fail(outcome.pid);
        return Err(child_error(e));
    }
    let Some(pid) = outcome.pid else {
        return Err(RuntimeError::sys(
            format!("container helper exited ({helper_status:?}) without a pid"),
            libc::ECHILD,
        ));
    };
    let sync = start_fd.is_some().then_some(parent_sock);
    Ok(Spawned { pid, pty_master: outcome.pty, start_fd, sync })
}

/// After [`start_created`]: waits until the process has been executed (Ok) or its init failed on
/// the way (the error, e.g. a failed `startContainer` hook). `sync` is [`Spawned::sync`].
pub fn wait_exec(sync: OwnedFd) -> Result<(), RuntimeError> {
    loop {
        match sys::recv_msg(sync.as_raw_fd()) {
            Ok((m, _)) if m.is_empty() => return Ok(()),
            Ok((m, _)) if m.first() == Some(&b'E') => {
                return match ChildError::decode(&m) {
                    Some(e) => Err(child_error(e)),
                    None => Err(RuntimeError::sys("the container init failed", libc::EIO)),
                }
            }
            Ok(_) => {}
            Err(e) => return Err(RuntimeError::sys("reading the sync socket", e)),
        }
    }
}

/// Starts a container spawned with `wait_for_start`.
pub fn start_created(spawned_start_fd: OwnedFd) -> Result<(), RuntimeError> {
    fd::write_all(&spawned_start_fd, b"1").map_err(|e| RuntimeError::sys("starting the container", e.errno()))
}
