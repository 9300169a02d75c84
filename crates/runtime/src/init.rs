//! The container side of spawn and exec: everything the new process does between fork and
//! execve. Errors are sent to the caller over the CLOEXEC sync socket (so an exec that succeeds
//! closes it and the caller sees EOF) and the process exits.
//!
//! Order (init): mounts and devices, pty, pivot_root, sysctls, masked and read-only paths,
//! hostname, rlimits, setsid and stdio, working directory, executable lookup, fds
//! marked close-on-exec except stdio and preserved ones, wait for `start`, then the security
//! settings: bounding set, user and groups, capability sets, no_new_privs, seccomp, execve.
//! Without no_new_privs, seccomp is installed before capabilities are dropped (it needs
//! CAP_SYS_ADMIN then), as runc does.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use oci_spec::runtime::{Process, Spec};

use crate::capabilities::{self, CapabilityMasks};
use crate::child_error::{ChildError, KIND_NOT_EXECUTABLE, KIND_NOT_FOUND, KIND_OTHER};
use crate::hooks::{self, HookContext, HookKind};
use crate::seccomp::{self, CompiledSeccomp};
use crate::{fd, process, rootfs, signal, sys, tty};

/// Everything the child needs, computed by the caller before fork.
pub(crate) struct Plan<'a> {
    pub spec: &'a Spec,
    pub process: &'a Process,
    pub caps: CapabilityMasks,
    pub seccomp: Option<CompiledSeccomp>,
    /// The sync socket (child end).
    pub sock: RawFd,
    /// stdin, stdout, stderr to install (already >= 3 and close-on-exec).
    pub stdio: [BorrowedFd<'a>; 3],
    pub pty: bool,
    /// Read end of the start pipe (create semantics).
    pub start_rd: Option<BorrowedFd<'a>>,
    /// Write end of the start pipe, which the child must close.
    pub start_wr: Option<RawFd>,
    pub preserve: Vec<BorrowedFd<'a>>,
    /// v1 cgroup binds for `/sys/fs/cgroup`: (hierarchy, host dir).
    pub cgroup_binds: Vec<(String, String)>,
    /// Files the helper writes "0" to, joining the container's cgroups itself (see
    /// `CgroupManager::self_join_files`).
    pub cgroup_join: Vec<String>,
    /// What hooks are told of the container (spawn only).
    pub hooks: Option<HookContext>,
}

/// Runs the child side of spawn (`init` = true) or exec, and never returns.
pub(crate) fn run(plan: &Plan<'_>, init: bool) -> ! {
    let err = match setup(plan, init) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = sys::send_msg(plan.sock, &err.encode(), None);
    process::exit_now(match err.kind {
        KIND_NOT_FOUND => 127,
        KIND_NOT_EXECUTABLE => 126,
        _ => 125,
    })
}

fn c(stage: &str, e: i32) -> ChildError {
    ChildError::new(stage.to_string(), e)
}

fn write_proc(path: &str, value: &str) -> Result<(), ChildError> {
    std::fs::write(path, value)
        .map_err(|e| ChildError::new(format!("writing {path}"), e.raw_os_error().unwrap_or(libc::EIO)))
}

enum Never {}

/// Sets `process.oomScoreAdj` on the calling helper, while it is still host root and dumpable
/// (its /proc files stay writable to it); the container process inherits the value.
pub(crate) fn set_oom_score_adj(process: &Process) -> Result<(), ChildError> {
    match process.oom_score_adj() {
        Some(adj) => write_proc("/proc/self/oom_score_adj", &adj.to_string()),
        None => Ok(()),
    }
}

fn setup(plan: &Plan<'_>, init: bool) -> Result<Never, ChildError> {
    let spec = plan.spec;
    let linux = spec.linux().as_ref();
    if let Some(w) = plan.start_wr {
        // SAFETY: closing our inherited copy of the start pipe's write end, which nothing else uses here.
        unsafe { libc::close(w) };
    }
    let mut pty_slave: Option<OwnedFd> = None;
    // Our pid as the host sees it, learnt when hooks need it.
    let mut host_pid = 0;
    if init {
        crate::timing::mark("init: started");
        let rootfd = rootfs::prepare(spec, &plan.cgroup_binds)?;
        crate::timing::mark("init: mounts done");
        host_pid = hook_phase(plan)?;
        if plan.pty {
            let (master, slave) = open_pty_in(&rootfd, plan.process)?;
            // /dev/console is the pty, as in runc.
            if let Ok(console) = rootfs::resolve_create(&rootfd, "/dev/console", true, 0x04) {
                let _ = sys::mount(Some(&sys::fd_path(&slave)), &sys::fd_path(&console), None, libc::MS_BIND, None);
            }
            sys::send_msg(plan.sock, b"T", Some(master.as_raw_fd())).map_err(|e| c("sending the pty master", e))?;
            pty_slave = Some(slave);
        }
        rootfs::pivot(&rootfd)?;
        drop(rootfd);
        crate::timing::mark("init: pivoted");
        if let Some(prop) = linux.and_then(|l| l.rootfs_propagation().clone()) {
            let o = rootfs::parse_options(&[prop]);
            if o.propagation != 0 {
                sys::mount(None, "/", None, o.propagation, None).map_err(|e| c("setting rootfs propagation", e))?;
            }
        }
        for (k, v) in linux.and_then(|l| l.sysctl().clone()).unwrap_or_default() {
            write_proc(&format!("/proc/sys/{}", k.replace('.', "/")), &v)?;
        }
        rootfs::mask_paths(&linux.and_then(|l| l.masked_paths().clone()).unwrap_or_default())?;
        rootfs::readonly_paths(&linux.and_then(|l| l.readonly_paths().clone()).unwrap_or_default())?;
        if spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
            rootfs::readonly_root()?;
        }
        if let Some(h) = spec.hostname() {
            let h = sys::cstr(h);
            // SAFETY: h is a valid C string of the given length.
            if unsafe { libc::sethostname(h.as_ptr(), h.as_bytes().len()) } != 0 {
                return Err(c("setting the hostname", sys::errno()));
            }
        }
        if let Some(d) = spec.domainname() {
            let d = sys::cstr(d);
            // SAFETY: d is a valid C string of the given length.
            if unsafe { libc::setdomainname(d.as_ptr(), d.as_bytes().len()) } != 0 {
                return Err(c("setting the domain name", sys::errno()));
            }
        }
    } else if plan.pty {
        let root = sys::open("/", libc::O_PATH | libc::O_DIRECTORY).map_err(|e| c("opening /", e))?;
        let (master, slave) = open_pty_in(&root, plan.process)?;
        sys::send_msg(plan.sock, b"T", Some(master.as_raw_fd())).map_err(|e| c("sending the pty master", e))?;
        pty_slave = Some(slave);
    }
    let process = plan.process;
    for r in process.rlimits().iter().flatten() {
        let res = rlimit_number(&r.typ().to_string())
            .ok_or_else(|| c(&format!("unknown rlimit {}", r.typ()), libc::EINVAL))?;
        let lim = libc::rlimit { rlim_cur: r.soft(), rlim_max: r.hard() };
        // SAFETY: lim is a valid rlimit struct.
        if unsafe { libc::setrlimit(res as _, &lim) } != 0 {
            return Err(c(&format!("setting rlimit {}", r.typ()), sys::errno()));
        }
    }
    // A new session; with a terminal, the pty slave becomes the controlling terminal and stdio.
    // Fails only if we already lead a group, which is harmless.
    let _ = process::setsid();
    if let Some(slave) = &pty_slave {
        sys::ioctl_int(slave.as_raw_fd(), libc::TIOCSCTTY, 0)
            .map_err(|e| c("making the pty the controlling terminal", e))?;
        for t in 0..3 {
            fd::dup_onto(slave, t).map_err(|e| c("installing the pty as stdio", e.errno()))?;
        }
    } else {
        for (t, fd) in plan.stdio.iter().enumerate() {
            fd::dup_onto(fd, t as RawFd).map_err(|e| c("installing stdio", e.errno()))?;
        }
    }
    drop(pty_slave);
    // Working directory, resolved inside the root (never through a leaked fd).
    let cwd = process.cwd().to_string_lossy().to_string();
    let cwd_fd = rootfs::open_cwd(&cwd)?;
    sys::fchdir(cwd_fd.as_raw_fd()).map_err(|e| c(&format!("chdir to {cwd}"), e))?;
    drop(cwd_fd);
    match std::env::current_dir() {
        Ok(p) if p.is_absolute() => {}
        _ => return Err(c(&format!("working directory {cwd} is outside the container"), libc::EPERM)),
    }
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(c("no command specified", libc::EINVAL));
    }
    let env: Vec<String> = process.env().clone().unwrap_or_default();
    let path = find_executable(&args[0], &env)?;
    let c_path = sys::cstr(&path);
    let c_args: Vec<CString> = args.iter().map(|a| sys::cstr(a)).collect();
    let c_env: Vec<CString> = env.iter().map(|a| sys::cstr(a)).collect();
    // Preserved fds go to 3, 4, ...; every other fd is closed on exec (CVE-2024-21626).
    let staged: Vec<OwnedFd> = plan
        .preserve
        .iter()
        .map(|fd| fd::dup_cloexec(fd, 1000 + plan.preserve.len() as RawFd))
        .collect::<Result<_, _>>()
        .map_err(|e| c("staging preserved fds", e.errno()))?;
    for (i, fd) in staged.iter().enumerate() {
        fd::dup_onto(fd, 3 + i as RawFd).map_err(|e| c("installing preserved fds", e.errno()))?;
    }
    drop(staged);
    let keep = 3 + plan.preserve.len() as u32;
    fd::cloexec_from(keep).map_err(|e| c("marking fds close-on-exec", e.errno()))?;
    if let Some(rd) = plan.start_rd {
        sys::send_msg(plan.sock, b"R", None).map_err(|e| c("reporting ready", e))?;
        match fd::read_byte(rd) {
            Ok(Some(_)) => {}
            _ => process::exit_now(0),
        }
    }
    signal::reset_for_exec();
    crate::timing::mark("init: process set up");
    // (The caller refused a profile where the kernel has no AppArmor.)
    if let Some(profile) = process.apparmor_profile().as_deref().filter(|p| !p.is_empty()) {
        apply_apparmor(profile)?;
    }
    // Security settings, last.
    let nnp = process.no_new_privileges().unwrap_or(false);
    if !nnp {
        if let Some(s) = &plan.seccomp {
            seccomp::install(s).map_err(|e| c("installing the seccomp filter", e))?;
        }
    }
    capabilities::drop_bounding(plan.caps.bounding).map_err(|e| c("dropping bounding capabilities", e))?;
    sys::prctl(libc::PR_SET_KEEPCAPS, 1).map_err(|e| c("keeping capabilities", e))?;
    set_user(process)?;
    capabilities::apply_sets(&plan.caps).map_err(|e| c("setting capabilities", e))?;
    if nnp {
        sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map_err(|e| c("setting no_new_privs", e))?;
        if let Some(s) = &plan.seccomp {
            seccomp::install(s).map_err(|e| c("installing the seccomp filter", e))?;
        }
    }
    if let Some(ctx) = plan.hooks.as_ref().filter(|_| init) {
        // As runc: in the container, with its user, capabilities and seccomp filter.
        let start = hooks::of_kind(spec.hooks().as_ref(), HookKind::StartContainer);
        if !start.is_empty() {
            without_sigpipe(|| hooks::run_all(HookKind::StartContainer, start, &ctx.state("created", host_pid)))
                .map_err(ChildError::message)?;
        }
    }
    let mut argv: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = c_env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    crate::timing::mark("init: exec");
    // SAFETY: path, argv and envp are valid null-terminated arrays of C strings that outlive the call.
    unsafe { libc::execve(c_path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let e = sys::errno();
    let mut ce = ChildError::new(format!("exec: \"{}\": {}", args[0], sys::errno_text(e)), e);
    ce.kind = match e {
        libc::ENOENT => KIND_NOT_FOUND,
        libc::EACCES | libc::ENOEXEC | libc::EPERM | libc::EISDIR => KIND_NOT_EXECUTABLE,
        _ => KIND_OTHER,
    };
    Err(ce)
}

/// Before pivot_root: when the spec has hooks that run before the process, asks the caller to
/// run `prestart` and `createRuntime` (it answers with our host pid), then runs `createContainer`.
/// Returns the host pid (0 without such hooks).
fn hook_phase(plan: &Plan<'_>) -> Result<i32, ChildError> {
    let Some(ctx) = &plan.hooks else { return Ok(0) };
    let h = plan.spec.hooks().as_ref();
    let kinds = [HookKind::Prestart, HookKind::CreateRuntime, HookKind::CreateContainer, HookKind::StartContainer];
    if kinds.iter().all(|k| hooks::of_kind(h, *k).is_empty()) {
        return Ok(0);
    }
    sys::send_msg(plan.sock, b"H", None).map_err(|e| c("asking for the createRuntime hooks", e))?;
    let pid = match sys::recv_msg(plan.sock) {
        Ok((m, _)) if m.len() == 5 && m[0] == b'h' => i32::from_le_bytes([m[1], m[2], m[3], m[4]]),
        // The caller failed (and said why) or is gone.
        _ => process::exit_now(125),
    };
    let create = hooks::of_kind(h, HookKind::CreateContainer);
    if !create.is_empty() {
        without_sigpipe(|| hooks::run_all(HookKind::CreateContainer, create, &ctx.state("creating", pid)))
            .map_err(ChildError::message)?;
    }
    Ok(pid)
}

/// Runs `f` with SIGPIPE ignored (a hook that does not read its stdin must not kill us), then
/// restores its disposition.
fn without_sigpipe<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: SIG_IGN is a valid disposition; the previous one is restored below.
    let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let r = f();
    // SAFETY: restoring the disposition signal() returned.
    unsafe { libc::signal(libc::SIGPIPE, old) };
    r
}

/// Asks AppArmor to confine the process with `profile` from its next execve, writing through a
/// verified procfs file (CVE-2019-16884: never into a fake /proc).
fn apply_apparmor(profile: &str) -> Result<(), ChildError> {
    let path = ["/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or_else(|| c("apparmor: no exec attribute in /proc", libc::ENOENT))?;
    let fd = sys::open(path, libc::O_WRONLY).map_err(|e| c(&format!("opening {path}"), e))?;
    // SAFETY: statfs is plain old data; fstatfs fills it.
    let mut sf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: sf is a valid, writable statfs buffer and fd is open.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut sf) } != 0 || sf.f_type != libc::PROC_SUPER_MAGIC {
        return Err(c(&format!("{path} is not on procfs"), libc::EPERM));
    }
    fd::write_all(&fd, format!("exec {profile}").as_bytes())
        .map_err(|e| c(&format!("applying apparmor profile {profile}"), e.errno()))
}

fn set_user(process: &Process) -> Result<(), ChildError> {
    let user = process.user();
    let gids: Vec<libc::gid_t> = user.additional_gids().clone().unwrap_or_default();
    // SAFETY: gids is a valid array of the given length.
    if unsafe { libc::setgroups(gids.len(), gids.as_ptr()) } != 0 {
        let e = sys::errno();
        // In a user namespace with setgroups denied, only an empty list could work anyway.
        if !(e == libc::EPERM && gids.is_empty()) {
            return Err(c("setting supplementary groups", e));
        }
    }
    // SAFETY: setresgid/setresuid take integers only.
    if unsafe { libc::setresgid(user.gid(), user.gid(), user.gid()) } != 0 {
        return Err(c(&format!("setting gid {}", user.gid()), sys::errno()));
    }
    // SAFETY: as above.
    if unsafe { libc::setresuid(user.uid(), user.uid(), user.uid()) } != 0 {
        return Err(c(&format!("setting uid {}", user.uid()), sys::errno()));
    }
    if let Some(umask) = user.umask() {
        // SAFETY: umask takes an integer.
        unsafe { libc::umask(umask as libc::mode_t) };
    }
    Ok(())
}

/// Opens a pty from the container's devpts (`/dev/pts/ptmx` under `root`), sized as
/// `process.consoleSize` says.
fn open_pty_in(root: &OwnedFd, process: &Process) -> Result<(OwnedFd, OwnedFd), ChildError> {
    let master = sys::openat2(root.as_raw_fd(), "dev/pts/ptmx", libc::O_RDWR | libc::O_NOCTTY, 0, 0x10 | 0x02)
        .map_err(|e| c("opening /dev/pts/ptmx", e))?;
    sys::unlock_pty(master.as_raw_fd()).map_err(|e| c("unlocking the pty", e))?;
    if let Some(size) = process.console_size() {
        let ws = tty::Winsize { ws_row: size.height() as u16, ws_col: size.width() as u16, ws_xpixel: 0, ws_ypixel: 0 };
        tty::set_window_size(&master, ws).map_err(|e| c("setting the console size", e.errno()))?;
    }
    let slave =
        sys::ioctl_int(master.as_raw_fd(), libc::TIOCGPTPEER, (libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) as _)
            .map_err(|e| c("opening the pty slave", e))?;
    // SAFETY: TIOCGPTPEER returned a new fd that nothing else owns.
    let slave = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(slave) };
    Ok((master, slave))
}

/// Finds the program like execvp, using the container's PATH; not found -> 127, not executable -> 126.
fn find_executable(arg0: &str, env: &[String]) -> Result<String, ChildError> {
    let not_found = |msg: String| ChildError { message: msg, errno: libc::ENOENT, kind: KIND_NOT_FOUND };
    let check = |p: &str| -> Result<bool, ChildError> {
        let cp = sys::cstr(p);
        // SAFETY: stat is plain old data; stat fills it and cp is a valid C string.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::stat(cp.as_ptr(), &mut st) } != 0 {
            return Ok(false);
        }
        // SAFETY: cp is a valid C string.
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR || unsafe { libc::access(cp.as_ptr(), libc::X_OK) } != 0 {
            return Err(ChildError {
                message: format!("exec: \"{arg0}\": permission denied"),
                errno: libc::EACCES,
                kind: KIND_NOT_EXECUTABLE,
            });
        }
        Ok(true)
    };
    if arg0.contains('/') {
        return if check(arg0)? {
            Ok(arg0.to_string())
        } else {
            Err(not_found(format!("exec: \"{arg0}\": stat {arg0}: no such file or directory")))
        };
    }
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let mut denied = None;
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = format!("{dir}/{arg0}");
        match check(&cand) {
            Ok(true) => return Ok(cand),
            Ok(false) => {}
            Err(e) => denied = denied.or(Some(e)),
        }
    }
    Err(denied.unwrap_or_else(|| not_found(format!("exec: \"{arg0}\": executable file not found in $PATH"))))
}

fn rlimit_number(name: &str) -> Option<u32> {
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    })
}
