//! The container lifecycle: create, start (detached or attached), stop,
//! kill, wait, rm, restart, pause/unpause, rename, update, prune.
//!
//! Process model (daemonless): `start` forks; the child calls
//! `skiff_runtime::spawn` (the container init becomes its child), records the
//! pid, and execs `skiff-monitor`, which holds the stdio pipes, writes the
//! json-file log, reaps the init and records the exit. The parent learns the
//! pid (or the spawn error) over a pipe; detached, it returns at once;
//! attached, it waits for the monitor and forwards signals to the container.

use crate::container::{self, Container, RecordError};
use crate::names;
use crate::options::{NsMode, RunOptions};
use crate::rootfs::{self, RootfsError};
use crate::spec::{self, SpecError, SpecInput};
use crate::state::{self, Status};
use skiff_image::userdb::UserDb;
use skiff_image::{Store, StoreError};
use skiff_runtime::cgroups::CgroupManager;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where the cgroup filesystem is mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Errors of the lifecycle operations. `exit_code` maps them to Docker's codes.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] skiff_image::blob::BlobError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Runtime(#[from] skiff_runtime::RuntimeError),
    #[error(transparent)]
    Cgroup(#[from] skiff_runtime::cgroups::CgroupError),
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Sys(String),
    /// The container process could not be started; `code` is 126, 127 or 125.
    #[error("failed to create task for container: {message}")]
    Start { message: String, code: i32 },
    #[error("Container {0} is not running")]
    NotRunning(String),
    /// `start` of a running container (Docker's CLI treats it as done).
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    #[error("Container {0} is paused, unpause the container before stopping or killing")]
    Paused(String),
    #[error("Container {0} is not paused")]
    NotPaused(String),
    #[error("You cannot remove a running container {0}. Stop the container before attempting removal or force remove")]
    RemoveRunning(String),
    #[error("cannot join {what} of a non running container: {id}")]
    JoinNotRunning { what: &'static str, id: String },
    #[error("skiff-monitor not found at {0}")]
    NoMonitor(PathBuf),
    #[error("invalid signal: {0}")]
    BadSignal(String),
    #[error(transparent)]
    OciRuntime(#[from] crate::oci_runtime::OciRuntimeError),
    #[error(transparent)]
    Options(#[from] crate::options::OptionsError),
}

impl EngineError {
    /// Docker's exit code: 126/127 when the command cannot be invoked or found, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::Start { code, .. } => *code,
            EngineError::Runtime(e) => e.exit_code(),
            EngineError::OciRuntime(e) => e.exit_code(),
            _ => 125,
        }
    }
}

type Result<T> = std::result::Result<T, EngineError>;

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> EngineError + 'a {
    move |source| EngineError::Io { op, path: path.to_path_buf(), source }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The cgroup of a container.
pub fn cgroup(id: &str) -> Result<CgroupManager> {
    Ok(CgroupManager::new(Path::new(CGROUP_ROOT), Path::new(&format!("/skiff/{id}")))?)
}

fn frozen(id: &str) -> bool {
    let Ok(cg) = cgroup(id) else { return false };
    if let Some(d) = cg.dir("freezer") {
        if let Ok(s) = std::fs::read_to_string(d.join("freezer.state")) {
            return s.trim() == "FROZEN";
        }
        if let Ok(s) = std::fs::read_to_string(d.join("cgroup.freeze")) {
            return s.trim() == "1";
        }
    }
    false
}

/// Serialises start, stop and rm of one container across skiff processes:
/// an exclusive `flock` on `containers/<id>/lock`, released on drop.
fn lock(store: &Store, c: &Container) -> Result<Option<std::fs::File>> {
    let p = c.dir(store).join("lock");
    let f = match std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&p) {
        Ok(f) => f,
        // Already removed by a concurrent rm: nothing to serialise with.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EngineError::Io { op: "open", path: p, source: e }),
    };
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).map_err(|e| EngineError::Io {
        op: "lock",
        path: p,
        source: e.into(),
    })?;
    Ok(Some(f))
}

/// A container's current status (and the db's state word brought up to date).
pub fn status(store: &Store, c: &Container) -> Status {
    let s = state::status(&c.id, || frozen(&c.id));
    let _ = container::set_state(store, &c.id, s.word());
    if matches!(s, Status::Exited { .. }) {
        release_rootfs(store, c);
    }
    s
}

/// An exited container's overlay is unmounted, as Docker unmounts on exit (cp, export and
/// diff mount it again on demand). Only when no start, stop or rm holds the container's lock:
/// a concurrent start may have just mounted it.
fn release_rootfs(store: &Store, c: &Container) {
    let p = c.dir(store).join("lock");
    let Ok(f) = std::fs::OpenOptions::new().write(true).open(&p) else { return };
    let op = rustix::fs::FlockOperation::NonBlockingLockExclusive;
    if rustix::fs::flock(&f, op).is_ok() && matches!(state::status(&c.id, || false), Status::Exited { .. }) {
        let _ = rootfs::unmount(&c.dir(store));
    }
}

fn hosts_file(hostname: &str, network: &NsMode) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if *network == NsMode::Host {
        return std::fs::read_to_string("/etc/hosts").unwrap_or(s);
    }
    s.push_str(&format!("127.0.1.1\t{hostname}\n"));
    s
}

fn resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out = String::new();
    let mut servers = 0;
    for l in host.lines() {
        let t = l.trim();
        if let Some(ns) = t.strip_prefix("nameserver") {
            let ns = ns.trim();
            if ns.starts_with("127.") || ns == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(l);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

fn join_paths(store: &Store, o: &RunOptions) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (kind, file, what, mode) in [
        ("network", "net", "network", &o.network),
        ("pid", "pid", "pid namespace", &o.pid),
        ("ipc", "ipc", "ipc namespace", &o.ipc),
        ("uts", "uts", "uts namespace", &o.uts),
    ] {
        if let NsMode::Container(name) = mode {
            let other = container::find(store, name)?;
            let pid = status(store, &other).pid().ok_or(EngineError::JoinNotRunning { what, id: other.id.clone() })?;
            out.insert(kind.to_string(), format!("/proc/{pid}/ns/{file}"));
        }
    }
    Ok(out)
}

/// Generates a container's spec from its record (joins resolved now).
pub fn generate_spec(store: &Store, c: &Container) -> Result<oci_spec::runtime::Spec> {
    let image_id = skiff_image::Digest::parse(&c.image_id)
        .map_err(|e| EngineError::Sys(format!("container {}: image id {}: {e}", c.id, c.image_id)))?;
    let cfg = store.config(&image_id)?;
    let layers = store.unpacked_layers(&image_id)?;
    let users = UserDb::from_layers(&layers);
    let seccomp_profile = match c.opts.seccomp_file() {
        Some(f) => Some(std::fs::read_to_string(f).map_err(io("read seccomp profile", Path::new(f)))?),
        None => None,
    };
    let apparmor_profile = crate::apparmor::choose(
        skiff_runtime::apparmor_enabled(),
        crate::apparmor::requested(&c.opts.security_opt),
        c.opts.privileged,
    );
    if apparmor_profile.as_deref() == Some(crate::apparmor::DEFAULT_PROFILE) {
        crate::apparmor::ensure_default_loaded(&store.tmp_dir())?;
    }
    let dir = c.dir(store);
    let rootfs = c.rootfs(store);
    let input = SpecInput {
        id: &c.id,
        image: &cfg,
        opts: &c.opts,
        users: &users,
        container_dir: &dir,
        rootfs: &rootfs,
        join: join_paths(store, &c.opts)?,
        seccomp_profile,
        volumes_dir: &store.root().join("volumes"),
        apparmor_profile,
    };
    let mut spec = spec::generate(&input)?;
    if c.opts.init {
        spec::add_init(&mut spec, &crate::oci_runtime::init_binary()?)?;
    }
    Ok(spec)
}

/// Gives `-v /path` and the image's `VOLUME`s (not covered by a `-v`) volume names.
fn name_anonymous_volumes(opts: &mut RunOptions, image: &skiff_image::config::ImageConfig) {
    let mut out = Vec::new();
    for v in &opts.volumes {
        if v.starts_with('/') && !v.contains(':') {
            let name = names::new_id();
            opts.anonymous_volumes.push(name.clone());
            out.push(format!("{name}:{v}"));
        } else {
            out.push(v.clone());
        }
    }
    let image_volumes = image.config.as_ref().and_then(|c| c.volumes.clone()).unwrap_or_default();
    for dest in image_volumes.keys() {
        if !out.iter().any(|v| v.split(':').nth(1) == Some(dest.as_str())) {
            let name = names::new_id();
            opts.anonymous_volumes.push(name.clone());
            out.push(format!("{name}:{dest}"));
        }
    }
    opts.volumes = out;
}

/// `docker create`: resolves the image, names the container, writes its
/// directory (config.json, hostname, hosts, resolv.conf) and record.
pub fn create(store: &Store, opts: RunOptions) -> Result<Container> {
    create_with_spec(store, opts).map(|(c, _)| c)
}

/// [`create`], also returning the spec it generated, for a [`start_with_spec`] right after
/// (`run`): generating it again would give the same spec.
pub fn create_with_spec(store: &Store, opts: RunOptions) -> Result<(Container, oci_spec::runtime::Spec)> {
    opts.check(crate::options::HostCpus::read)?;
    crate::oci_runtime::resolve(opts.runtime.as_deref())?;
    let img = store.resolve(&opts.image)?;
    let cfg = store.config(&img.id)?;
    let id = names::new_id();
    skiff_runtime::timing::mark("create: image resolved");
    if let Some(n) = &opts.name {
        if !names::valid_name(n.strip_prefix('/').unwrap_or(n)) {
            return Err(RecordError::InvalidName(n.clone()).into());
        }
    }
    let mut opts = opts;
    name_anonymous_volumes(&mut opts, &cfg);
    let args = spec::process_args(&cfg, &opts);
    if args.is_empty() {
        return Err(SpecError::NoCommand.into());
    }
    let mut c = Container {
        id: id.clone(),
        name: String::new(),
        image: opts.image.clone(),
        image_id: img.id.to_string(),
        created: now(),
        path: args[0].clone(),
        args: args[1..].to_vec(),
        opts,
        restart_count: 0,
    };
    let dir = c.dir(store);
    std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    let result = (|| -> Result<oci_spec::runtime::Spec> {
        let hostname = c.opts.hostname.clone().unwrap_or_else(|| spec::default_hostname(&id));
        let write = |f: &str, text: String| std::fs::write(dir.join(f), text).map_err(io("write", &dir.join(f)));
        write("hostname", format!("{hostname}\n"))?;
        write("hosts", hosts_file(&hostname, &c.opts.network))?;
        write("resolv.conf", resolv_conf())?;
        for v in &c.opts.volumes {
            let src = v.split(':').next().unwrap_or_default();
            if !src.starts_with('/') && names::valid_name(src) {
                let data = store.root().join("volumes").join(src).join("_data");
                std::fs::create_dir_all(&data).map_err(io("create", &data))?;
            }
        }
        skiff_runtime::timing::mark("create: files written");
        // Validate the spec now, so `create` reports bad users, caps and mounts.
        let spec = generate_spec(store, &c)?;
        skiff_runtime::timing::mark("create: spec generated");
        let text = serde_json::to_vec_pretty(&spec).map_err(|e| EngineError::Sys(e.to_string()))?;
        std::fs::write(dir.join("config.json"), text).map_err(io("write", &dir.join("config.json")))?;
        skiff_runtime::timing::mark("create: spec written");
        match c.opts.name.clone() {
            Some(n) => {
                c.name = n.strip_prefix('/').unwrap_or(&n).to_string();
                container::insert(store, &c)?;
            }
            None => {
                let mut retry = 0;
                loop {
                    c.name = names::random_name(retry);
                    match container::insert(store, &c) {
                        Err(RecordError::NameInUse { .. }) if retry < 10 => retry += 1,
                        r => break r?,
                    }
                }
            }
        }
        skiff_runtime::timing::mark("create: record inserted");
        container::write_json(&dir.join("config.v2.json"), &c)?;
        Ok(spec)
    })();
    match result {
        Ok(spec) => Ok((c, spec)),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(e)
        }
    }
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
    handoff: Option<Handoff>,
}

/// The two pipes between an attached start and its in-place monitor. The monitor writes one byte
/// on `done` once the exit is recorded, then reads `after` to its end: the paths there
/// (NUL-separated) are directories for it to delete (a removed container's files) before it exits.
#[derive(Debug)]
struct Handoff {
    done: OwnedFd,
    after: Option<OwnedFd>,
    /// The monitor said the exit is recorded (so it exits as soon as `after` closes).
    recorded: std::cell::Cell<bool>,
}

impl Started {
    /// Gives `dirs` to the monitor to delete after we have gone on; false (and `dirs` untouched)
    /// when this start has no monitor waiting for it.
    fn hand_off(&mut self, dirs: &[PathBuf]) -> bool {
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
            let flags = if h.recorded.get() { 0 } else { libc::WNOHANG };
            let mut status = 0;
            // SAFETY: reaping our own child; `status` is a valid out pointer.
            unsafe { libc::waitpid(self.monitor, &mut status, flags) };
        }
    }
}

/// Finds `skiff-monitor` next to the running binary (`SKIFF_MONITOR` overrides).
pub fn monitor_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SKIFF_MONITOR") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(io("locate", Path::new("/proc/self/exe")))?;
    let p = exe.with_file_name("skiff-monitor");
    if p.exists() {
        Ok(p)
    } else {
        Err(EngineError::NoMonitor(p))
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| EngineError::Sys(format!("creating a pipe: {e}")))
}

/// Starts a created (or exited) container. With `attach.output`, the caller
/// then calls [`wait_attached`].
pub fn start(store: &Store, c: &Container, attach: Attach, then: Option<Vec<String>>) -> Result<Started> {
    start_with_spec(store, c, attach, then, None)
}

/// [`start`] with the spec [`create_with_spec`] just generated and wrote for a container never
/// started before (`run`); `None` generates it afresh, as every later start does.
pub fn start_with_spec(
    store: &Store,
    c: &Container,
    attach: Attach,
    then: Option<Vec<String>>,
    fresh: Option<oci_spec::runtime::Spec>,
) -> Result<Started> {
    if attach.output {
        // Queue the signals an attached CLI forwards from now on: one that arrives between
        // the container's start and `wait_attached` must reach the container, not kill us.
        set_forwarded_signals(libc::SIG_BLOCK);
    }
    let _lock = lock(store, c)?;
    let st = status(store, c);
    if st.is_running() {
        return Err(EngineError::AlreadyRunning(c.id.clone()));
    }
    let monitor = monitor_path()?;
    let (layers, init_lock) = rootfs::container_layers(store, &c.image_id)?;
    let dir = c.dir(store);
    let root = rootfs::mount_with(&dir, &layers, false, c.opts.auto_remove)?;
    drop(init_lock);
    skiff_runtime::timing::mark("engine: rootfs mounted");
    for v in &c.opts.volumes {
        let mut parts = v.split(':');
        let (Some(src), Some(dest)) = (parts.next(), parts.next()) else { continue };
        if !src.starts_with('/') && names::valid_name(src) {
            crate::fs::copy_up(&root, dest, &store.root().join("volumes").join(src).join("_data"))?;
        }
    }
    let first_start = fresh.is_some();
    let spec = match fresh {
        Some(spec) => spec,
        None => {
            let spec = generate_spec(store, c)?;
            let text = serde_json::to_vec_pretty(&spec).map_err(|e| EngineError::Sys(e.to_string()))?;
            std::fs::write(dir.join("config.json"), text).map_err(io("write", &dir.join("config.json")))?;
            spec
        }
    };
    let state_dir = state::reset(&c.id).map_err(io("create", &state::state_dir(&c.id)))?;
    let cg = cgroup(&c.id).ok();
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
    // With a pty the container reads the pty; the monitor copies our stdin to it.
    let stdin = if attach.stdin && !tty {
        Some(rustix::io::fcntl_dupfd_cloexec(rustix::stdio::stdin(), 3).map_err(|e| EngineError::Sys(e.to_string()))?)
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
    // SAFETY: skiff is single-threaded here (no runtime threads are started by
    // the CLI), so the child may allocate and run ordinary Rust code.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(EngineError::Sys(format!("fork: {}", std::io::Error::last_os_error())));
    }
    if child == 0 {
        drop(ready_r);
        let handoff = handoff.map(|((done_r, done_w), (after_r, after_w))| {
            drop((done_r, after_w));
            (done_w, after_r)
        });
        set_forwarded_signals(libc::SIG_UNBLOCK);
        monitor_child(MonitorChild {
            id,
            spec,
            tty,
            detached: !attach.output,
            keep_stdin: attach.output && attach.stdin && tty,
            stdin,
            out: (out_r, out_w),
            err: (err_r, err_w),
            ready: ready_w,
            handoff,
            monitor,
            monitor_args,
            runtime,
            bundle: dir.clone(),
            state_dir: state_dir.clone(),
        });
    }
    drop((out_r, out_w, err_r, err_w, ready_w, stdin));
    let handoff = handoff.map(|((done_r, done_w), (after_r, after_w))| {
        drop((done_w, after_r));
        Handoff { done: done_r, after: Some(after_w), recorded: std::cell::Cell::new(false) }
    });
    let mut msg = String::new();
    let _ = std::fs::File::from(ready_r).read_to_string(&mut msg);
    if let Some(pid) = msg.strip_prefix('P').and_then(|p| p.trim().parse::<i32>().ok()) {
        skiff_runtime::timing::mark("engine: container pid received");
        let _ = container::set_state(store, &c.id, "running");
        return Ok(Started { pid, monitor: child, handoff });
    }
    let mut status = 0;
    // SAFETY: reaping our own child; `status` is a valid out pointer.
    unsafe { libc::waitpid(child, &mut status, 0) };
    let (code, message) = match msg.strip_prefix('E').and_then(|m| m.split_once('\t')) {
        Some((code, m)) => (code.parse().unwrap_or(125), m.to_string()),
        None => (125, format!("container start failed: {msg}")),
    };
    let _ = rootfs::unmount(&dir);
    state::remove(&c.id);
    if let Ok(cg) = cgroup(&c.id) {
        let _ = cg.remove();
    }
    Err(EngineError::Start { message, code })
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
                cgroup_root: PathBuf::from(CGROUP_ROOT),
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
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    if let Err(e) = state::record_start(&m.id, spawned.pid, me, &now()) {
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
    let high: Vec<OwnedFd> = sources
        .iter()
        .chain(handoff.iter())
        .filter_map(|f| rustix::io::fcntl_dupfd_cloexec(f, 10).ok())
        .collect::<Vec<_>>();
    drop((sources, handoff));
    for (i, f) in high.iter().enumerate() {
        // SAFETY: dup2 onto fds 3 and up, which we own in this child; the new fds lack FD_CLOEXEC, as intended.
        unsafe { libc::dup2(f.as_raw_fd(), 3 + i as RawFd) };
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
                // SAFETY: the container owns stdin now; the monitor reads nothing from it.
                unsafe { libc::dup2(null.as_raw_fd(), 0) };
            }
        }
        write_fd(&m.ready, &format!("P{}", spawned.pid));
        let keep = 3 + high.len() as u32;
        drop((m.ready, high));
        // Without the exec, close what the CLI had open (the store, the container's lock): a
        // monitor must not hold them for the container's life.
        // SAFETY: close_range on fds above the ones placed at 3 and up, none of which is used again here.
        unsafe { libc::syscall(libc::SYS_close_range, keep, u32::MAX, 0) };
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

/// Waits for an attached start's container to exit (its monitor says the exit is recorded),
/// forwarding SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the container. Returns
/// the exit code.
pub fn wait_attached(c: &Container, started: &Started) -> i32 {
    // With -it on a terminal, keys go to the container's pty unprocessed.
    let _raw = (c.opts.tty && c.opts.interactive).then(RawTerminal::enter).flatten();
    let set = set_forwarded_signals(libc::SIG_BLOCK);
    let forward = |sig| {
        let _ = skiff_runtime::signal(started.pid, sig);
    };
    let status = match &started.handoff {
        Some(h) => {
            wait_forwarding_signals(h.done.as_fd(), &set, forward);
            let mut byte = [0u8; 1];
            if matches!(rustix::io::read(&h.done, &mut byte), Ok(1)) {
                h.recorded.set(true);
                None
            } else {
                // The monitor is gone without a word (killed): its status is all there is.
                let mut status = 0;
                // SAFETY: reaping our own child; `status` is a valid out pointer.
                unsafe { libc::waitpid(started.monitor, &mut status, 0) };
                Some(status)
            }
        }
        None => Some(reap_forwarding_signals(started.monitor, &set, forward)),
    };
    match (state::read_exit(&c.id), status) {
        (Some((code, _, _)), _) => code,
        (None, Some(status)) if libc::WIFEXITED(status) => libc::WEXITSTATUS(status),
        _ => 255,
    }
}

/// Waits for our child `child` to exit while the signals in `set` (already blocked, so queued)
/// are handed to `forward`; reaps the child and returns its wait status.
pub fn reap_forwarding_signals(child: i32, set: &libc::sigset_t, forward: impl FnMut(i32)) -> libc::c_int {
    // SAFETY: pidfd_open on our own child; the fd is owned below.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child, 0) } as RawFd;
    if pidfd >= 0 {
        // SAFETY: pidfd was just opened and is owned by nothing else.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        wait_forwarding_signals(pidfd.as_fd(), set, forward);
    }
    let mut status = 0;
    // SAFETY: reaping our own child; `status` is a valid out pointer.
    unsafe { libc::waitpid(child, &mut status, 0) };
    status
}

/// Waits until `fd` is readable (or hung up) while the signals in `set` (already blocked, so
/// queued) are handed to `forward`.
fn wait_forwarding_signals(fd: BorrowedFd<'_>, set: &libc::sigset_t, mut forward: impl FnMut(i32)) {
    // SAFETY: a signalfd for the blocked set, owned below.
    let sfd = unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) };
    // SAFETY: sfd, when valid, was just opened and is owned by nothing else.
    let sfd = (sfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(sfd) });
    loop {
        let mut fds = [
            libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: sfd.as_ref().map_or(-1, |f| f.as_raw_fd()), events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: `fds` is a valid array of two pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
        if let (Some(sfd), true) = (&sfd, fds[1].revents != 0) {
            // SAFETY: signalfd_siginfo is plain data; zeroed is a valid value.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            // SAFETY: reading into `info`, a valid buffer of its size.
            let r = unsafe {
                libc::read(
                    sfd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    std::mem::size_of_val(&info),
                )
            };
            if r > 0 {
                forward(info.ssi_signo as i32);
            }
        }
        if fds[0].revents != 0 {
            return;
        }
    }
}

/// The signals an attached CLI forwards to its container.
pub const FORWARDED_SIGNALS: [libc::c_int; 6] =
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2];

/// Blocks (`SIG_BLOCK`) or unblocks (`SIG_UNBLOCK`) the signals an attached CLI forwards to
/// its container; returns their set.
fn set_forwarded_signals(how: libc::c_int) -> libc::sigset_t {
    mask_signals(how, &FORWARDED_SIGNALS)
}

/// Applies `how` (`SIG_BLOCK`, `SIG_UNBLOCK`) to `signals` in our signal mask; returns their set.
pub fn mask_signals(how: libc::c_int, signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use; sigprocmask
    // only reads the set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        libc::sigprocmask(how, &set, std::ptr::null_mut());
        set
    }
}

/// Puts stdin's terminal in raw mode until dropped.
pub struct RawTerminal(libc::termios);

impl RawTerminal {
    /// Raw mode, when stdin is a terminal.
    pub fn enter() -> Option<RawTerminal> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails (not a terminal).
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::isatty(0) != 1 || libc::tcgetattr(0, &mut t) != 0 {
                return None;
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Some(RawTerminal(saved))
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes read in `enter` on the same fd.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.0) };
    }
}

/// Waits (polling the state) until the container is not running; returns its exit code.
pub fn wait(store: &Store, c: &Container) -> Result<i32> {
    loop {
        match status(store, c) {
            Status::Exited { code, .. } => return Ok(code),
            Status::Created => return Ok(0),
            _ => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

fn wait_timeout(store: &Store, c: &Container, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if !status(store, c).is_running() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Parses a signal name or number (`KILL`, `SIGTERM`, `9`).
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "WINCH" => libc::SIGWINCH,
        _ => return Err(EngineError::BadSignal(s.to_string())),
    };
    Ok(n)
}

/// `docker kill`: sends `signal` to the init.
pub fn kill(store: &Store, c: &Container, signal: i32) -> Result<()> {
    match status(store, c) {
        Status::Running { pid, .. } => Ok(skiff_runtime::signal(pid, signal)?),
        Status::Paused { pid, .. } => {
            skiff_runtime::signal(pid, signal)?;
            if signal == libc::SIGKILL {
                let _ = cgroup(&c.id)?.thaw();
            }
            Ok(())
        }
        _ => Err(EngineError::NotRunning(c.id.clone())),
    }
}

/// `docker stop`: the stop signal, then SIGKILL to the whole cgroup after `timeout` seconds.
pub fn stop(store: &Store, c: &Container, timeout: Option<u64>) -> Result<()> {
    let _lock = lock(store, c)?;
    let st = status(store, c);
    let Some(pid) = st.pid() else { return Ok(()) };
    if matches!(st, Status::Paused { .. }) {
        let _ = cgroup(&c.id)?.thaw();
    }
    let cfg_sig = c.opts.stop_signal.as_deref().map(parse_signal).transpose()?;
    let _ = skiff_runtime::signal(pid, cfg_sig.unwrap_or(libc::SIGTERM));
    let secs = timeout.unwrap_or(10);
    if !wait_timeout(store, c, std::time::Duration::from_secs(secs)) {
        let _ = cgroup(&c.id).map(|cg| cg.kill_all(libc::SIGKILL));
        let _ = skiff_runtime::signal(pid, libc::SIGKILL);
        wait_timeout(store, c, std::time::Duration::from_secs(30));
    }
    Ok(())
}

/// `docker rm`: refuses a running container unless `force` (then kills it);
/// unmounts the rootfs and removes the cgroup, state, directory and record.
pub fn remove(store: &Store, c: &Container, force: bool) -> Result<()> {
    remove_with(store, c, force, false)
}

/// `docker rm [-f] [-v]`: with `volumes`, the container's anonymous volumes go too.
pub fn remove_with(store: &Store, c: &Container, force: bool, volumes: bool) -> Result<()> {
    remove_inner(store, c, force, volumes, None)
}

/// `run --rm` in the foreground, once [`wait_attached`] has returned: [`remove_with`] (force,
/// volumes), the container's files moved out of the store at once and deleted by its monitor,
/// which is about to exit anyway, after we have gone on.
pub fn remove_after_run(store: &Store, c: &Container, started: &mut Started) -> Result<()> {
    remove_inner(store, c, true, true, Some(started))
}

fn remove_inner(store: &Store, c: &Container, force: bool, volumes: bool, started: Option<&mut Started>) -> Result<()> {
    let _lock = lock(store, c)?;
    if container::find(store, &c.id).is_err() {
        // Removed while we waited for the lock (e.g. by the monitor of a --rm container).
        return Ok(());
    }
    // Not `status`: the record's state word need not be brought up to date, it is going.
    let st = state::status(&c.id, || frozen(&c.id));
    if st.is_running() {
        if !force {
            return Err(EngineError::RemoveRunning(c.id.clone()));
        }
        if let Ok(cg) = cgroup(&c.id) {
            let _ = cg.kill_all(libc::SIGKILL);
            let _ = cg.thaw();
        }
        if let Some(pid) = st.pid() {
            let _ = skiff_runtime::signal(pid, libc::SIGKILL);
        }
        wait_timeout(store, c, std::time::Duration::from_secs(30));
    }
    let dir = c.dir(store);
    if let Ok(Some(rt)) = crate::oci_runtime::resolve(c.opts.runtime.as_deref()) {
        crate::oci_runtime::delete(&rt, &c.id);
    }
    let mark = skiff_runtime::timing::mark;
    mark("remove: checked");
    rootfs::unmount(&dir)?;
    mark("remove: unmounted");
    if let Ok(cg) = cgroup(&c.id) {
        // A killed process leaves its cgroup a moment after its parent sees it exit (and an
        // exec'd straggler may still be in it): kill what is left and retry, for up to 2 s.
        for _ in 0..200 {
            if cg.remove().is_ok() {
                break;
            }
            let _ = cg.kill_all(libc::SIGKILL);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    mark("remove: cgroup removed");
    // With a monitor to hand them to (a foreground `run --rm`), the state directory and the
    // container's directory are moved aside at once, a rename each, and their files deleted by the
    // monitor after we have gone on. The names carry the monitor's pid, so leftovers of a monitor
    // that died first are known: `container prune` and `system check --repair` remove them.
    let mut aside = Vec::new();
    let mut move_aside = |from: &Path, to: PathBuf| {
        if started.is_some() && std::fs::rename(from, &to).is_ok() {
            aside.push(to);
        }
    };
    let monitor = started.as_ref().map_or(0, |s| s.monitor);
    move_aside(&state::state_dir(&c.id), state::run_root().join(format!(".rm-{}-{monitor}", c.id)));
    state::remove(&c.id);
    if volumes {
        for v in &c.opts.anonymous_volumes {
            let p = store.root().join("volumes").join(v);
            let _ = std::fs::remove_dir_all(&p);
        }
    }
    // The record goes last: once `ps` no longer lists it, nothing of it remains.
    move_aside(&dir, store.tmp_dir().join(format!("rm-container-{}-{monitor}", &c.id[..12.min(c.id.len())])));
    if !aside.is_empty() && !started.is_some_and(|s| s.hand_off(&aside)) {
        for p in &aside {
            let _ = std::fs::remove_dir_all(p);
        }
    }
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(EngineError::Io { op: "remove", path: dir, source: e }),
    }
    mark("remove: files removed");
    container::delete(store, &c.id)?;
    Ok(())
}

/// `docker pause`.
pub fn pause(store: &Store, c: &Container) -> Result<()> {
    match status(store, c) {
        Status::Running { .. } => Ok(cgroup(&c.id)?.freeze()?),
        Status::Paused { .. } => Err(EngineError::Sys(format!("Container {} is already paused", c.id))),
        _ => Err(EngineError::NotRunning(c.id.clone())),
    }
}

/// `docker unpause`.
pub fn unpause(store: &Store, c: &Container) -> Result<()> {
    match status(store, c) {
        Status::Paused { .. } => Ok(cgroup(&c.id)?.thaw()?),
        _ => Err(EngineError::NotPaused(c.id.clone())),
    }
}

/// `docker rename`.
pub fn rename(store: &Store, c: &Container, new_name: &str) -> Result<()> {
    let n = new_name.strip_prefix('/').unwrap_or(new_name);
    if !names::valid_name(n) {
        return Err(RecordError::InvalidName(new_name.to_string()).into());
    }
    let mut c = c.clone();
    c.name = n.to_string();
    container::save(store, &c)?;
    Ok(())
}

/// `docker update`: records the new limits and applies the ones `u` sets to a running container's cgroup.
pub fn update(store: &Store, c: &Container, u: &crate::options::Resources) -> Result<()> {
    let mut c = c.clone();
    let new = c.opts.resources.updated(u);
    new.check(true, crate::options::HostCpus::read)?;
    if status(store, &c).is_running() {
        // What `u` sets, with the swap limit a new memory limit brings along.
        let mut delta = u.clone();
        if u.memory.is_some() {
            delta.memory_swap = new.memory_swap;
        }
        let res: oci_spec::runtime::LinuxResources =
            serde_json::from_value(delta.oci()).map_err(|e| EngineError::Sys(format!("resources: {e}")))?;
        cgroup(&c.id)?.update(&res)?;
    }
    c.opts.resources = new;
    container::save(store, &c)?;
    Ok(())
}

/// `docker container prune`: removes every stopped container; returns their ids.
pub fn prune(store: &Store) -> Result<Vec<(String, u64)>> {
    let mut gone = Vec::new();
    for c in container::list(store)? {
        if !status(store, &c).is_running() {
            let size = crate::fs::dir_size(&c.dir(store).join("upper"));
            remove(store, &c, false)?;
            gone.push((c.id, size));
        }
    }
    sweep_cgroups(store)?;
    let images: Vec<String> = container::list(store)?.into_iter().map(|c| c.image_id).collect();
    rootfs::collect_init_layers(store, images.iter().map(String::as_str))?;
    Ok(gone)
}

/// Removes the empty cgroups of containers that are gone without removing them (a run killed
/// with its monitor, say), and state directories a dead monitor was to delete. Cgroups are shared by every store on the host, so one is taken only
/// when it is named as a container id, no container of this store has that id, and its runtime
/// state says it is over: no state directory, an exit recorded, or its monitor dead. (A container
/// of another store that is starting has a state directory and no monitor yet: it is left alone.)
/// A cgroup with processes in it is never removed.
fn sweep_cgroups(store: &Store) -> Result<()> {
    // State directories moved aside for a monitor that died before deleting them.
    for e in std::fs::read_dir(state::run_root()).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let owner = name.strip_prefix(".rm-").and_then(|n| n.rsplit('-').next()).and_then(|p| p.parse::<i32>().ok());
        if owner.is_some_and(|p| !state::process_alive(p)) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let Ok(parent) = CgroupManager::new(Path::new(CGROUP_ROOT), Path::new("/skiff")) else { return Ok(()) };
    let known: std::collections::HashSet<String> = container::list(store)?.into_iter().map(|c| c.id).collect();
    for id in parent.children() {
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) || known.contains(&id) {
            continue;
        }
        let dir = state::state_dir(&id);
        let monitor = state::monitor_pid(&id);
        let over = !dir.exists() || dir.join("exit").exists() || monitor.is_some_and(|p| !state::process_alive(p));
        if over {
            if let Ok(cg) = cgroup(&id) {
                let _ = cg.remove();
            }
        }
    }
    Ok(())
}
