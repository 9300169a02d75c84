//! `skiff runtime`: an OCI runtime command line with runc's commands, flags,
//! output and exit codes (`create`, `start`, `state`, `kill`, `delete`,
//! `run`, `exec`, `update`, `events`, `spec`, `list`, `ps`, `pause`, `resume`), built on
//! `skiff-runtime`.
//!
//! State lives under `--root` (default `/run/skiff-runtime`), one directory
//! per container: `state.json` (pid, bundle, creation time, cgroup),
//! `start` (a FIFO), `started` (present once `start` ran) and `exit` (the
//! init's exit code, written when it has been reaped).
//!
//! Process model: `create` forks a small *holder* that spawns the container
//! init with `wait_for_start` (so the init is the holder's child, blocked
//! before exec), records it and waits on the FIFO and a pidfd of the init.
//! `start` writes a byte to the FIFO; the holder releases the init, then
//! reaps it and records its exit. The status is derived: the init alive
//! (same pid and start time) is `created` or `running`, else `stopped`.
//!
//! The global `--root`, `--log-level` and `-D` of skiff are parsed before the
//! word `runtime`; everything after it is parsed here, so `skiff runtime
//! --root DIR` is the runtime's root, as `runc --root DIR`.

use anyhow::{anyhow, bail, Context};
use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};
use skiff_runtime::oci_spec::runtime::{Process, Spec};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use super::GlobalOpts;

/// What the outer parser hands over; the real parse happens in [`run`].
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RuntimeArgs {
    /// A runtime command and its arguments (`skiff runtime --help` lists them)
    #[arg(num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Parser, Debug)]
#[command(name = "skiff runtime", about = "An OCI runtime with runc's command line", disable_help_subcommand = true)]
struct RtCli {
    /// Root directory for storage of container state (this should be located in tmpfs)
    #[arg(long, default_value = "/run/skiff-runtime", value_name = "DIR")]
    root: PathBuf,
    /// Set the log file to write runtime logs to (default is stderr)
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Set the log format ('text' (default), or 'json')
    #[arg(long = "log-format", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Enable debug logging (accepted for runc compatibility)
    #[arg(long)]
    debug: bool,
    #[command(subcommand)]
    cmd: RtCommand,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
enum RtCommand {
    /// Create a container
    Create(CreateOpts),
    /// Executes the user defined process in a created container
    Start { id: String },
    /// Output the state of a container
    State { id: String },
    /// Kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill {
        /// Send the specified signal to all processes inside the container
        #[arg(short = 'a', long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete any resources held by the container often used with detached container
    Delete {
        /// Forcibly deletes the container if it is still running (uses SIGKILL)
        #[arg(short = 'f', long)]
        force: bool,
        id: String,
    },
    /// Create a new specification file
    Spec {
        /// Path to the root of the bundle directory
        #[arg(short = 'b', long)]
        bundle: Option<PathBuf>,
        /// Generate a configuration for a rootless container (not supported)
        #[arg(long)]
        rootless: bool,
    },
    /// Create and run a container
    Run(RunOpts),
    /// Execute new process inside the container
    Exec(ExecOpts),
    /// Update container resource constraints
    Update(UpdateOpts),
    /// Display container events such as OOM notifications and cpu, memory, and IO usage statistics
    Events {
        /// Display the container's stats then exit
        #[arg(long)]
        stats: bool,
        /// Set the stats collection interval
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Suspend all processes inside the container
    Pause { id: String },
    /// Resume all processes that have been previously paused
    Resume { id: String },
    /// Displays the processes running inside a container
    Ps {
        /// Select one of: table or json
        #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        id: String,
    },
    /// Lists containers started by skiff runtime with the given root
    List {
        /// Display only container IDs
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Select one of: table or json
        #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
}

#[derive(Args, Debug)]
struct CreateOpts {
    /// Path to the root of the bundle directory, defaults to the current directory
    #[arg(short = 'b', long, default_value = ".")]
    bundle: PathBuf,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket", value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Specify the file to write the process id to
    #[arg(long = "pid-file", value_name = "PATH")]
    pid_file: Option<PathBuf>,
    /// Accepted for runc compatibility; pivot_root is always used
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Accepted for runc compatibility
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    id: String,
}

#[derive(Args, Debug)]
struct ExecOpts {
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket", value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Current working directory in the container
    #[arg(long)]
    cwd: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    tty: bool,
    /// UID (format: <uid>[:<gid>])
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Additional gids
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    additional_gids: Vec<u32>,
    /// Path to the process.json
    #[arg(short = 'p', long)]
    process: Option<PathBuf>,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    detach: bool,
    /// Specify the file to write the process id to
    #[arg(long = "pid-file", value_name = "PATH")]
    pid_file: Option<PathBuf>,
    /// Set the no new privileges value for the process
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Add a capability to the bounding set for the process
    #[arg(short = 'c', long = "cap", value_name = "CAP")]
    cap: Vec<String>,
    /// Allow exec in a paused container
    #[arg(long = "ignore-paused")]
    ignore_paused: bool,
    /// Set the apparmor profile for the process
    #[arg(long, value_name = "PROFILE")]
    apparmor: Option<String>,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
    preserve_fds: u32,
    id: String,
    /// The command and its arguments (unless --process)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Args, Debug)]
struct UpdateOpts {
    /// Path to a file containing the resources to update or '-' to read from the standard input
    #[arg(short = 'r', long)]
    resources: Option<PathBuf>,
    /// Specifies per cgroup weight, range is from 10 to 1000
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// CPU CFS period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share")]
    cpu_share: Option<u64>,
    /// CPU(s) to use
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory node(s) to use
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Memory limit (in bytes)
    #[arg(long, allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory reservation or soft_limit (in bytes)
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Maximum number of pids allowed in the container
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    id: String,
}

#[derive(Args, Debug)]
struct RunOpts {
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    detach: bool,
    #[command(flatten)]
    create: CreateOpts,
}

/// What `state.json` holds.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct Record {
    id: String,
    pid: i32,
    /// The init's start time (field 22 of `/proc/PID/stat`), so a later process reusing the pid is not taken for it.
    pid_start: u64,
    /// The holder process (the init's parent).
    holder: i32,
    bundle: PathBuf,
    rootfs: PathBuf,
    created: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    /// The cgroup path (relative to each hierarchy).
    cgroup: PathBuf,
    /// The spec's hooks: `start` runs the poststart ones, `delete` the poststop ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hooks: Option<skiff_runtime::oci_spec::runtime::Hooks>,
}

/// The argv after the word `runtime` (skiff's global options before it are skipped).
fn runtime_argv() -> Vec<OsString> {
    let all: Vec<OsString> = std::env::args_os().collect();
    let mut i = 1;
    while i < all.len() {
        let a = all[i].to_string_lossy();
        if a == "runtime" {
            break;
        }
        i += if matches!(a.as_ref(), "--root" | "-l" | "--log-level") { 2 } else { 1 };
    }
    let mut v = vec![OsString::from("skiff runtime")];
    v.extend(all.into_iter().skip(i + 1));
    v
}

/// `skiff runtime ...`: returns runc's exit code (1 on failure, the container's for a foreground `run`).
pub fn run(_g: &GlobalOpts, _a: RuntimeArgs) -> anyhow::Result<u8> {
    let cli = match RtCli::try_parse_from(runtime_argv()) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return Ok(match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 1,
            });
        }
    };
    match dispatch(&cli) {
        Ok(code) => Ok(code),
        Err(e) => {
            log_error(&cli, &super::describe(&e));
            Ok(1)
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Writes an error as runc does: a logrus line to `--log` (and the bare message to stderr), else the line to stderr.
fn log_error(cli: &RtCli, msg: &str) {
    log_line(cli, "error", msg)
}

/// A logrus line of `level` to `--log`, else to stderr; an error's bare message also goes to stderr with `--log`.
fn log_line(cli: &RtCli, level: &str, msg: &str) {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let quoted = serde_json::to_string(msg).unwrap_or_default();
    let line = if cli.log_format == "json" {
        format!("{{\"level\":\"{level}\",\"msg\":{quoted},\"time\":\"{time}\"}}\n")
    } else {
        format!("time=\"{time}\" level={level} msg={quoted}\n")
    };
    match &cli.log {
        Some(p) => {
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(p) {
                let _ = f.write_all(line.as_bytes());
            }
            if level == "error" {
                eprintln!("{msg}");
            }
        }
        None => eprint!("{line}"),
    }
}

fn dispatch(cli: &RtCli) -> anyhow::Result<u8> {
    match &cli.cmd {
        RtCommand::Create(o) => {
            let rec = create(cli, o, false)?;
            write_pid_file(o, rec.pid)?;
            Ok(0)
        }
        RtCommand::Start { id } => {
            start(cli, id)?;
            Ok(0)
        }
        RtCommand::State { id } => {
            let (dir, rec) = load(cli, id)?;
            let v = state_json(&dir, &rec, "");
            print!("{}", serde_json::to_string_pretty(&v)?);
            let _ = std::io::stdout().flush();
            Ok(0)
        }
        RtCommand::Kill { all, id, signal } => {
            kill(cli, id, signal.as_deref().unwrap_or("SIGTERM"), *all)?;
            Ok(0)
        }
        RtCommand::Delete { force, id } => {
            delete(cli, id, *force)?;
            Ok(0)
        }
        RtCommand::Spec { bundle, rootless } => {
            if *rootless {
                bail!("rootless containers are not supported");
            }
            let dir = bundle.clone().unwrap_or_else(|| PathBuf::from("."));
            let path = dir.join("config.json");
            if path.exists() {
                bail!("File config.json exists. Remove it first");
            }
            let mut out = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
            let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
            default_spec().serialize(&mut ser)?;
            std::fs::write(&path, out).with_context(|| format!("open {}", path.display()))?;
            Ok(0)
        }
        RtCommand::Run(o) => run_container(cli, o),
        RtCommand::Exec(o) => exec(cli, o),
        RtCommand::Update(o) => {
            update(cli, o)?;
            Ok(0)
        }
        RtCommand::Events { stats, interval, id } => events(cli, id, *stats, interval),
        RtCommand::Pause { id } => {
            cgroup_when(cli, id, &["running"], "running")?.freeze()?;
            Ok(0)
        }
        RtCommand::Resume { id } => {
            cgroup_when(cli, id, &["paused"], "paused")?.thaw()?;
            Ok(0)
        }
        RtCommand::Ps { format, id } => {
            let mut pids = cgroup_when(cli, id, &["created", "running", "paused"], "running")?.pids()?;
            pids.sort_unstable();
            if format == "json" {
                println!("{}", serde_json::to_string(&pids)?);
                return Ok(0);
            }
            let (header, rows) = skiff_engine::exec::ps_rows(&pids)?;
            let mut out = String::new();
            for r in std::iter::once(&header).chain(rows.iter()) {
                out.push_str(&r.join("\t"));
                out.push('\n');
            }
            let mut tw = crate::output::table::tabwriter_for(std::io::stdout().lock());
            tw.write_all(out.as_bytes())?;
            tw.flush()?;
            Ok(0)
        }
        RtCommand::List { quiet, format } => list(cli, *quiet, format),
    }
}

fn write_pid_file(o: &CreateOpts, pid: i32) -> anyhow::Result<()> {
    match &o.pid_file {
        Some(p) => write_pid_file_at(p, pid),
        None => Ok(()),
    }
}

/// Writes `pid` to `p` as runc does: a hidden temporary file renamed into place.
fn write_pid_file_at(p: &Path, pid: i32) -> anyhow::Result<()> {
    let p = absolute(p)?;
    let tmp = p.with_file_name(format!(".{}", p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
    std::fs::write(&tmp, pid.to_string()).with_context(|| format!("open {}", tmp.display()))?;
    std::fs::rename(&tmp, &p).with_context(|| format!("rename {}", p.display()))?;
    Ok(())
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) })
}

/// runc's id rule: letters, digits, `_`, `+`, `-` and `.`, not `.` or `..`.
fn validate_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if !ok {
        bail!("invalid id format: {id}");
    }
    Ok(())
}

fn load(cli: &RtCli, id: &str) -> anyhow::Result<(PathBuf, Record)> {
    validate_id(id).map_err(|_| anyhow!("container does not exist"))?;
    let dir = cli.root.join(id);
    let text = std::fs::read(dir.join("state.json")).map_err(|_| anyhow!("container does not exist"))?;
    let rec: Record = serde_json::from_slice(&text).with_context(|| format!("reading {}", dir.display()))?;
    Ok((dir, rec))
}

/// The start time (in clock ticks since boot) of a live, non-zombie process.
fn proc_start(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    if f.first() == Some(&"Z") || f.first() == Some(&"X") {
        return None;
    }
    f.get(19)?.parse().ok()
}

fn cgroup(rec: &Record) -> Option<skiff_runtime::cgroups::CgroupManager> {
    skiff_runtime::cgroups::CgroupManager::new(Path::new(skiff_engine::lifecycle::CGROUP_ROOT), &rec.cgroup).ok()
}

/// The cgroup of container `id` when its status is one of `allowed`; otherwise the error says it
/// is not `wanted`.
fn cgroup_when(
    cli: &RtCli,
    id: &str,
    allowed: &[&str],
    wanted: &str,
) -> anyhow::Result<skiff_runtime::cgroups::CgroupManager> {
    let (dir, rec) = load(cli, id)?;
    if !allowed.contains(&status(&dir, &rec)) {
        bail!("container {id} is not {wanted}");
    }
    cgroup(&rec).ok_or_else(|| anyhow!("container {id} has no cgroup"))
}

/// `created`, `running`, `paused` or `stopped`.
fn status(dir: &Path, rec: &Record) -> &'static str {
    if rec.pid <= 0 || proc_start(rec.pid) != Some(rec.pid_start) {
        return "stopped";
    }
    if !dir.join("started").exists() {
        return "created";
    }
    let frozen = cgroup(rec).and_then(|cg| cg.dir("freezer")).is_some_and(|d| {
        std::fs::read_to_string(d.join("freezer.state")).map(|s| s.trim() == "FROZEN").unwrap_or(false)
            || std::fs::read_to_string(d.join("cgroup.freeze")).map(|s| s.trim() == "1").unwrap_or(false)
    });
    if frozen {
        "paused"
    } else {
        "running"
    }
}

/// The OCI state of a container (runc's fields and order, plus annotations).
fn state_json(dir: &Path, rec: &Record, owner: &str) -> serde_json::Value {
    let st = status(dir, rec);
    serde_json::json!({
        "ociVersion": skiff_runtime::OCI_VERSION,
        "id": rec.id,
        "pid": if st == "stopped" { 0 } else { rec.pid },
        "status": st,
        "bundle": rec.bundle,
        "rootfs": rec.rootfs,
        "created": rec.created,
        "owner": owner,
        "annotations": rec.annotations,
    })
}

fn load_spec(bundle: &Path) -> anyhow::Result<Spec> {
    let path = bundle.join("config.json");
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("JSON specification file config.json not found"),
        Err(e) => return Err(e).with_context(|| format!("open {}", path.display())),
    };
    let mut spec: Spec = serde_json::from_slice(&text).context("invalid config.json")?;
    let root = spec.root().clone().ok_or_else(|| anyhow!("root must be specified"))?;
    if root.path().is_relative() {
        let mut r = root.clone();
        r.set_path(bundle.join(root.path()));
        spec.set_root(Some(r));
    }
    Ok(spec)
}

fn errno_msg() -> String {
    std::io::Error::last_os_error().to_string()
}

/// Sends `fd` over the AF_UNIX socket at `path` (runc's `--console-socket` protocol: one SCM_RIGHTS message).
fn send_console(path: &Path, fd: RawFd) -> anyhow::Result<()> {
    let stream = std::os::unix::net::UnixStream::connect(path)
        .with_context(|| format!("connecting to console socket {}", path.display()))?;
    skiff_runtime::send_msg(stream.as_raw_fd(), b"/dev/ptmx", Some(fd))
        .map_err(|e| anyhow!("sending the console to {}: {}", path.display(), std::io::Error::from_raw_os_error(e)))?;
    Ok(())
}

fn write_fd(fd: RawFd, data: &[u8]) {
    let mut off = 0;
    while off < data.len() {
        // SAFETY: writing initialised bytes of `data` to an fd we own.
        let w = unsafe { libc::write(fd, data[off..].as_ptr().cast(), data.len() - off) };
        if w <= 0 {
            if w < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        off += w as usize;
    }
}

/// Reads one `\n`-terminated message (the init keeps the pipe open until it execs, so no EOF).
fn read_line(fd: RawFd) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        // SAFETY: reading one byte into a valid buffer from an fd we own.
        let r = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if r <= 0 || b[0] == b'\n' {
            break;
        }
        out.push(b[0]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn dup_cloexec(fd: RawFd) -> anyhow::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on an fd number; the result, if valid, is a new fd we own.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if n < 0 {
        bail!("duplicating fd {fd}: {}", errno_msg());
    }
    // SAFETY: `n` is a fresh fd returned by fcntl, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// How the holder treats its stdio.
struct HolderPlan {
    id: String,
    dir: PathBuf,
    spec: Spec,
    bundle: PathBuf,
    console_socket: Option<PathBuf>,
    preserve_fds: u32,
    /// A foreground `run`: keep the terminal session and stdio (and copy a pty to them).
    foreground: bool,
}

/// `create` (and the first half of `run`): forks the holder and returns the record once the init waits.
fn create(cli: &RtCli, o: &CreateOpts, foreground: bool) -> anyhow::Result<Record> {
    create_with(cli, o, foreground).map(|(rec, _)| rec)
}

fn create_with(cli: &RtCli, o: &CreateOpts, foreground: bool) -> anyhow::Result<(Record, i32)> {
    validate_id(&o.id)?;
    let bundle = absolute(&o.bundle)?;
    if !bundle.is_dir() {
        bail!("chdir {}: no such file or directory", o.bundle.display());
    }
    let mut spec = load_spec(&bundle)?;
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    if terminal && o.console_socket.is_none() && !foreground {
        bail!("cannot allocate tty if runc will detach without setting console socket");
    }
    if !terminal && o.console_socket.is_some() {
        bail!("cannot use console socket if runc will not detach or allocate tty");
    }
    std::fs::create_dir_all(&cli.root).with_context(|| format!("mkdir {}", cli.root.display()))?;
    let dir = cli.root.join(&o.id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!("container with given ID already exists"),
        Err(e) => return Err(e).with_context(|| format!("mkdir {}", dir.display())),
    }
    let result = (|| {
        if let Some(linux) = spec.linux().clone() {
            if linux.cgroups_path().is_none() {
                let mut l = linux;
                l.set_cgroups_path(Some(PathBuf::from(format!("/skiff-runtime/{}", o.id))));
                spec.set_linux(Some(l));
            }
        }
        // `exec` builds on the spec the container was created from, whatever the bundle holds later.
        std::fs::write(dir.join("config.json"), serde_json::to_vec(&spec)?)
            .with_context(|| format!("write {}", dir.join("config.json").display()))?;
        for name in ["start", "execd"] {
            let fifo = std::ffi::CString::new(dir.join(name).as_os_str().as_encoded_bytes())?;
            // SAFETY: `fifo` is a valid NUL-terminated path.
            if unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) } != 0 {
                bail!("mkfifo {}: {}", dir.join(name).display(), errno_msg());
            }
        }
        let plan = HolderPlan {
            id: o.id.clone(),
            dir: dir.clone(),
            spec,
            bundle: bundle.clone(),
            console_socket: o.console_socket.as_ref().map(|p| absolute(p)).transpose()?,
            preserve_fds: o.preserve_fds,
            foreground,
        };
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two fds pipe2 returns.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            bail!("pipe: {}", errno_msg());
        }
        // SAFETY: both fds were just created by pipe2 and are owned by nobody else.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: the CLI is single-threaded (no runtime threads), so the child may run ordinary Rust code.
        let child = unsafe { libc::fork() };
        if child < 0 {
            bail!("fork: {}", errno_msg());
        }
        if child == 0 {
            drop(rd);
            holder(plan, wr);
        }
        drop(wr);
        let msg = read_line(rd.as_raw_fd());
        if msg.strip_prefix('P').and_then(|p| p.parse::<i32>().ok()).is_some() {
            let (_, rec) = load(cli, &o.id)?;
            return Ok((rec, child));
        }
        let mut st = 0;
        // SAFETY: reaping our own child; `st` is a valid out pointer.
        unsafe { libc::waitpid(child, &mut st, 0) };
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
        // SAFETY: setsid has no memory-safety preconditions.
        unsafe { libc::setsid() };
    }
    let fail = |msg: String| -> ! {
        write_fd(report.as_raw_fd(), format!("E{}\n", msg.replace('\n', " ")).as_bytes());
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
        cgroup_root: PathBuf::from(skiff_engine::lifecycle::CGROUP_ROOT),
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
        send_console(sock, m.as_raw_fd()).unwrap_or_else(|e| kill_fail(super::describe(&e)));
        pty = None;
    }
    let rec = Record {
        id: plan.id.clone(),
        pid,
        pid_start: proc_start(pid).unwrap_or(0),
        // SAFETY: getpid has no preconditions.
        holder: unsafe { libc::getpid() },
        bundle: plan.bundle.clone(),
        rootfs: plan.spec.root().as_ref().map(|r| r.path().clone()).unwrap_or_default(),
        created: now(),
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
    let mut sync = spawned.sync;
    // SAFETY: pidfd_open takes a pid and flags; the result is checked below.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
    if pidfd < 0 {
        kill_fail(format!("pidfd_open {pid}: {}", errno_msg()));
    }
    write_fd(report.as_raw_fd(), format!("P{pid}\n").as_bytes());
    drop(report);
    if !plan.foreground {
        if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
            for fd in 0..3 {
                // SAFETY: replacing our own stdio with /dev/null, so the CLI's pipes close when it exits.
                unsafe { libc::dup2(null.as_raw_fd(), fd) };
            }
        }
        let _ = std::env::set_current_dir("/");
    }
    let mut start_fd = spawned.start_fd;
    let mut stdin_open = true;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let mut fds = vec![
            libc::pollfd { fd: pidfd, events: libc::POLLIN, revents: 0 },
            libc::pollfd {
                fd: if start_fd.is_some() { fifo.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let pty_fd = pty.as_ref().map(|p| p.as_raw_fd());
        if let Some(p) = pty_fd {
            fds.push(libc::pollfd { fd: p, events: libc::POLLIN, revents: 0 });
            fds.push(libc::pollfd { fd: if stdin_open { 0 } else { -1 }, events: libc::POLLIN, revents: 0 });
        }
        // SAFETY: `fds` is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if fds[1].revents != 0 {
            let mut b = [0u8; 1];
            // SAFETY: reading one byte from the FIFO we opened into a valid buffer.
            let r = unsafe { libc::read(fifo.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
            if r == 1 {
                if let Some(fd) = start_fd.take() {
                    let started = skiff_runtime::start_created(fd)
                        .and_then(|_| sync.take().map(skiff_runtime::wait_exec).unwrap_or(Ok(())));
                    let word = match started {
                        Ok(()) => "0\n".to_string(),
                        Err(e) => format!("E{}\n", e.to_string().replace('\n', " ")),
                    };
                    write_fd(execd.as_raw_fd(), word.as_bytes());
                }
            }
        }
        if let Some(p) = pty_fd {
            if fds[2].revents != 0 {
                // SAFETY: reading into our buffer from the pty master we own.
                let r = unsafe { libc::read(p, buf.as_mut_ptr().cast(), buf.len()) };
                if r > 0 {
                    write_fd(1, &buf[..r as usize]);
                } else if !(r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)) {
                    pty = None;
                }
            }
            if fds.len() > 3 && fds[3].revents != 0 {
                // SAFETY: reading into our buffer from our stdin.
                let r = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                if r > 0 {
                    write_fd(p, &buf[..r as usize]);
                } else {
                    stdin_open = false;
                }
            }
        }
        if fds[0].revents != 0 {
            break;
        }
    }
    let code = skiff_runtime::wait(pid).map(|s| s.code()).unwrap_or(255);
    let tmp = plan.dir.join("exit.tmp");
    if std::fs::write(&tmp, format!("{code}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, plan.dir.join("exit"));
    }
    std::process::exit(0)
}

/// `start`: releases a created container.
fn start(cli: &RtCli, id: &str) -> anyhow::Result<()> {
    let (dir, rec) = load(cli, id)?;
    match status(&dir, &rec) {
        "created" => {}
        "stopped" => bail!("cannot start a container that has stopped"),
        _ => bail!("cannot start an already running container"),
    }
    std::fs::write(dir.join("started"), now()).with_context(|| format!("write {}", dir.join("started").display()))?;
    // Opened before the start, without waiting for a writer: if the holder is gone, reads see EOF.
    let execd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join("execd"))
        .map_err(|e| anyhow!("cannot start a container that has stopped: {e}"))?;
    // SAFETY: F_SETFL on our own fd, clearing O_NONBLOCK so the read below waits for the word.
    unsafe { libc::fcntl(execd.as_raw_fd(), libc::F_SETFL, 0) };
    let fifo = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join("start"))
        .map_err(|e| anyhow!("cannot start a container that has stopped: {e}"))?;
    (&fifo).write_all(b"1").context("starting the container")?;
    let word = read_line(execd.as_raw_fd());
    if let Some(e) = word.strip_prefix('E') {
        bail!("{e}");
    }
    if word != "0" {
        bail!("container {id} exited before it started");
    }
    run_hooks_warning(cli, &rec, skiff_runtime::hooks::HookKind::Poststart, "running");
    Ok(())
}

/// Runs the container's `kind` hooks (poststart, poststop) with its state as `status`; their
/// failures are logged as warnings, as the runtime spec says.
fn run_hooks_warning(cli: &RtCli, rec: &Record, kind: skiff_runtime::hooks::HookKind, status: &str) {
    let hooks = skiff_runtime::hooks::of_kind(rec.hooks.as_ref(), kind);
    if hooks.is_empty() {
        return;
    }
    let ctx = skiff_runtime::hooks::HookContext {
        id: rec.id.clone(),
        bundle: rec.bundle.clone(),
        annotations: rec.annotations.clone(),
    };
    for w in skiff_runtime::hooks::run_all_warn(kind, hooks, &ctx.state(status, rec.pid)) {
        log_line(cli, "warning", &w);
    }
}

use std::os::unix::fs::OpenOptionsExt;

fn kill(cli: &RtCli, id: &str, signal: &str, all: bool) -> anyhow::Result<()> {
    let (dir, rec) = load(cli, id)?;
    let sig = skiff_engine::lifecycle::parse_signal(signal).map_err(|_| anyhow!("unknown signal {signal:?}"))?;
    if status(&dir, &rec) == "stopped" {
        bail!("container not running");
    }
    if all {
        if let Some(cg) = cgroup(&rec) {
            cg.kill_all(sig)?;
        }
    }
    skiff_runtime::signal(rec.pid, sig)?;
    Ok(())
}

/// Waits (polling /proc: the holder is not our child) until `pid` is gone; bounded at 30 s.
fn wait_gone(pid: i32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while pid > 0 && proc_start(pid).is_some() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn delete(cli: &RtCli, id: &str, force: bool) -> anyhow::Result<()> {
    let (dir, rec) = match load(cli, id) {
        Ok(x) => x,
        Err(_) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    match status(&dir, &rec) {
        "stopped" => {}
        "created" => {
            let _ = skiff_runtime::signal(rec.pid, libc::SIGKILL);
        }
        st if force => {
            if let Some(cg) = cgroup(&rec) {
                let _ = cg.kill_all(libc::SIGKILL);
                let _ = cg.thaw();
            }
            let _ = skiff_runtime::signal(rec.pid, libc::SIGKILL);
            let _ = st;
        }
        st => bail!("cannot delete container {id} that is not stopped: {st}"),
    }
    wait_gone(rec.pid);
    wait_gone(rec.holder);
    if let Some(cg) = cgroup(&rec) {
        let _ = cg.remove();
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
    run_hooks_warning(cli, &rec, skiff_runtime::hooks::HookKind::Poststop, "stopped");
    Ok(())
}

/// `run`: create and start; in the foreground, wait for the init (forwarding signals), delete, exit with its code.
fn run_container(cli: &RtCli, o: &RunOpts) -> anyhow::Result<u8> {
    if o.detach {
        let rec = create(cli, &o.create, false)?;
        start(cli, &rec.id)?;
        write_pid_file(&o.create, rec.pid)?;
        return Ok(0);
    }
    // Signals to forward are blocked before the holder is forked (it unblocks nothing it needs:
    // the init resets its signal mask before exec).
    let set = block_forwarded_signals();
    let (rec, holder_pid) = create_with(cli, &o.create, true)?;
    let dir = cli.root.join(&rec.id);
    let started = start(cli, &rec.id);
    if let Err(e) = started {
        let _ = delete(cli, &rec.id, true);
        return Err(e);
    }
    write_pid_file(&o.create, rec.pid)?;
    // With a terminal (the holder copies it to ours), keys go to the container unprocessed.
    let terminal =
        stored_spec(&dir, &rec).ok().and_then(|s| s.process().as_ref().and_then(|p| p.terminal())).unwrap_or(false);
    let _raw = terminal.then(skiff_engine::lifecycle::RawTerminal::enter).flatten();
    skiff_engine::lifecycle::reap_forwarding_signals(holder_pid, &set, |sig| {
        if sig != libc::SIGWINCH {
            let _ = skiff_runtime::signal(rec.pid, sig);
        }
    });
    let code = std::fs::read_to_string(dir.join("exit")).ok().and_then(|s| s.trim().parse::<i32>().ok()).unwrap_or(255);
    delete(cli, &rec.id, true)?;
    Ok(code.clamp(0, 255) as u8)
}

/// Blocks the signals a foreground `run` or `exec` forwards to the container (so they queue for
/// a signalfd) and returns their set.
fn block_forwarded_signals() -> libc::sigset_t {
    use skiff_engine::lifecycle::{mask_signals, FORWARDED_SIGNALS};
    // SIGWINCH too: the foreground waits take it from the queue and do not forward it.
    let mut signals = FORWARDED_SIGNALS.to_vec();
    signals.push(libc::SIGWINCH);
    mask_signals(libc::SIG_BLOCK, &signals)
}

/// The spec container `rec` (state in `dir`) was created from.
fn stored_spec(dir: &Path, rec: &Record) -> anyhow::Result<Spec> {
    let path = dir.join("config.json");
    match std::fs::read(&path) {
        Ok(t) => serde_json::from_slice(&t).with_context(|| format!("reading {}", path.display())),
        // Created by an earlier skiff, which kept no copy.
        Err(_) => load_spec(&rec.bundle),
    }
}

/// The process `exec` runs: `--process`'s, else the container's with the command line's changes (runc's rules).
fn exec_process(o: &ExecOpts, dir: &Path, rec: &Record) -> anyhow::Result<(Spec, Process)> {
    let spec = stored_spec(dir, rec)?;
    if let Some(p) = &o.process {
        let text = std::fs::read(p).with_context(|| format!("open {}", p.display()))?;
        let process: Process =
            serde_json::from_slice(&text).with_context(|| format!("invalid process {}", p.display()))?;
        return Ok((spec, process));
    }
    if o.command.is_empty() {
        bail!("exec args cannot be empty");
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(o.command.clone()));
    p.set_terminal(Some(o.tty));
    if let Some(cwd) = &o.cwd {
        p.set_cwd(PathBuf::from(cwd));
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(o.env.iter().cloned());
    p.set_env(Some(env));
    let mut user = p.user().clone();
    if let Some(u) = &o.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        user.set_uid(uid.parse().map_err(|_| anyhow!("parsing {uid} as int for uid failed"))?);
        if let Some(g) = gid {
            user.set_gid(g.parse().map_err(|_| anyhow!("parsing {g} as int for gid failed"))?);
        }
    }
    if !o.additional_gids.is_empty() {
        user.set_additional_gids(Some(o.additional_gids.clone()));
    }
    p.set_user(user);
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &o.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if !o.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &o.cap {
            let upper = name.to_uppercase();
            let cap: skiff_runtime::oci_spec::runtime::Capability = upper
                .strip_prefix("CAP_")
                .unwrap_or(&upper)
                .parse()
                .map_err(|_| anyhow!("unknown capability {name:?}"))?;
            let add = |set: &Option<skiff_runtime::oci_spec::runtime::Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.insert(cap);
                Some(set)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    Ok((spec, p))
}

/// `exec`: runs another process in a created or running container; in the foreground, waits and
/// exits with its code (forwarding signals); with `-d`, returns at once.
fn exec(cli: &RtCli, o: &ExecOpts) -> anyhow::Result<u8> {
    let (dir, rec) = load(cli, &o.id)?;
    match status(&dir, &rec) {
        "stopped" => bail!("cannot exec in a stopped container"),
        "paused" if !o.ignore_paused => bail!("cannot exec in a paused container (use --ignore-paused to override)"),
        _ => {}
    }
    let (spec, process) = exec_process(o, &dir, &rec)?;
    let tty = process.terminal().unwrap_or(false);
    if tty && o.detach && o.console_socket.is_none() {
        bail!("cannot allocate tty if runc will detach without setting console socket");
    }
    if !tty && o.console_socket.is_some() {
        bail!("cannot use console socket if runc will not detach or allocate tty");
    }
    // Detached or not, the process gets our stdio (a shim hands its pipes over this way), unless it has a terminal.
    let stdio = if tty {
        skiff_runtime::StdioSpec::default()
    } else {
        skiff_runtime::StdioSpec {
            stdin: Some(dup_cloexec(0)?),
            stdout: Some(dup_cloexec(1)?),
            stderr: Some(dup_cloexec(2)?),
        }
    };
    let set = (!o.detach && !tty).then(block_forwarded_signals);
    let terminal = if tty { skiff_runtime::Terminal::Pty } else { skiff_runtime::Terminal::None };
    // Our fds 3 .. 3+N become the process's 3 .. 3+N, as runc hands them over.
    let preserve = (0..o.preserve_fds).map(|i| dup_cloexec(3 + i as RawFd)).collect::<anyhow::Result<Vec<_>>>()?;
    let spawned = skiff_runtime::exec_with(rec.pid, &process, &spec, stdio, terminal, preserve)?;
    let pid = spawned.pid;
    let mut pty = spawned.pty_master;
    if let (Some(sock), Some(m)) = (&o.console_socket, &pty) {
        send_console(&absolute(sock)?, m.as_raw_fd())?;
        pty = None;
    }
    if let Some(p) = &o.pid_file {
        write_pid_file_at(p, pid)?;
    }
    if o.detach {
        return Ok(0);
    }
    let status = match (&set, &pty) {
        (Some(set), _) => skiff_engine::lifecycle::reap_forwarding_signals(pid, set, |sig| {
            if sig != libc::SIGWINCH {
                let _ = skiff_runtime::signal(pid, sig);
            }
        }),
        (None, master) => {
            if let Some(m) = master {
                // Keys go to the process's terminal unprocessed, as with runc exec -t.
                let _raw = skiff_engine::lifecycle::RawTerminal::enter();
                skiff_engine::exec::relay_pty(m, true);
            }
            let mut status = 0;
            // SAFETY: reaping our own child (the process is cloned as our child); `status` is a valid out pointer.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            status
        }
    };
    Ok(skiff_runtime::ExitStatus::from_wait_status(status).code().clamp(0, 255) as u8)
}

/// A memory flag of `update`: bytes, with Docker's units; -1 is unlimited.
fn memory_bytes(flag: &str, v: &str) -> anyhow::Result<i64> {
    if v == "-1" {
        return Ok(-1);
    }
    skiff_engine::units::ram_in_bytes(v).map_err(|e| anyhow!("invalid value for {flag}: {e}"))
}

/// `update`: new limits for a created, running or paused container's cgroup, from `-r` (an OCI
/// `resources` object) and the flags (which win).
fn update(cli: &RtCli, o: &UpdateOpts) -> anyhow::Result<()> {
    let (dir, rec) = load(cli, &o.id)?;
    if status(&dir, &rec) == "stopped" {
        bail!("container not running");
    }
    let mut r: serde_json::Value = match &o.resources {
        Some(p) => {
            let text = if p.as_os_str() == "-" {
                let mut t = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut t)?;
                t
            } else {
                std::fs::read(p).with_context(|| format!("open {}", p.display()))?
            };
            serde_json::from_slice(&text).context("decoding the resources")?
        }
        None => serde_json::json!({}),
    };
    if !r.is_object() {
        bail!("decoding the resources: not a JSON object");
    }
    let mut set =
        |section: &str, key: &str, v: serde_json::Value| skiff_engine::options::set_resource(&mut r, section, key, v);
    if let Some(v) = o.blkio_weight {
        set("blockIO", "weight", v.into());
    }
    if let Some(v) = o.cpu_period {
        set("cpu", "period", v.into());
    }
    if let Some(v) = o.cpu_quota {
        set("cpu", "quota", v.into());
    }
    if let Some(v) = o.cpu_share {
        set("cpu", "shares", v.into());
    }
    if let Some(v) = &o.cpuset_cpus {
        set("cpu", "cpus", v.as_str().into());
    }
    if let Some(v) = &o.cpuset_mems {
        set("cpu", "mems", v.as_str().into());
    }
    if let Some(v) = &o.memory {
        set("memory", "limit", memory_bytes("--memory", v)?.into());
    }
    if let Some(v) = &o.memory_reservation {
        set("memory", "reservation", memory_bytes("--memory-reservation", v)?.into());
    }
    if let Some(v) = &o.memory_swap {
        set("memory", "swap", memory_bytes("--memory-swap", v)?.into());
    }
    if let Some(v) = o.pids_limit {
        set("pids", "limit", v.into());
    }
    let res: skiff_runtime::oci_spec::runtime::LinuxResources =
        serde_json::from_value(r).context("decoding the resources")?;
    let cg = cgroup(&rec).ok_or_else(|| anyhow!("container {} has no cgroup", o.id))?;
    cg.update(&res)?;
    Ok(())
}

/// One `stats` event as runc prints it (the fields skiff's cgroup manager reads; as in runc's,
/// an unlimited pids limit and empty block I/O counters are left out, an unlimited memory limit
/// is the cgroup's own figure for it).
fn stats_event(id: &str, cg: &skiff_runtime::cgroups::CgroupManager) -> anyhow::Result<serde_json::Value> {
    let s = cg.stats()?;
    let unlimited = match cg.version() {
        skiff_runtime::cgroups::CgroupVersion::V1 => 9_223_372_036_854_771_712,
        skiff_runtime::cgroups::CgroupVersion::V2 => u64::MAX,
    };
    let mut pids = serde_json::json!({"current": s.pids_current});
    if let Some(l) = s.pids_limit {
        pids["limit"] = l.into();
    }
    let mut blkio = serde_json::json!({});
    if s.blkio_read_bytes > 0 || s.blkio_write_bytes > 0 {
        blkio["ioServiceBytesRecursive"] = serde_json::json!([
            {"op": "Read", "value": s.blkio_read_bytes},
            {"op": "Write", "value": s.blkio_write_bytes},
        ]);
    }
    Ok(serde_json::json!({
        "type": "stats",
        "id": id,
        "data": {
            "cpu": {"usage": {"total": s.cpu_usage_ns}},
            "memory": {"usage": {"usage": s.memory_usage, "limit": s.memory_limit.unwrap_or(unlimited)}},
            "pids": pids,
            "blkio": blkio,
        },
    }))
}

/// `events`: with `--stats`, one stats event; else a stats event every `--interval` and an `oom`
/// event for each OOM kill, until the container stops.
fn events(cli: &RtCli, id: &str, once: bool, interval: &str) -> anyhow::Result<u8> {
    let every = skiff_image::changes::parse_duration(interval)
        .filter(|ns| *ns >= 0)
        .map(|ns| std::time::Duration::from_nanos(ns as u64))
        .ok_or_else(|| anyhow!("invalid --interval {interval:?}"))?;
    if every.is_zero() {
        bail!("duration interval must be greater than 0");
    }
    let (dir, rec) = load(cli, id)?;
    if status(&dir, &rec) == "stopped" {
        bail!("container with id {id} is not running");
    }
    let cg = cgroup(&rec).ok_or_else(|| anyhow!("container {id} has no cgroup"))?;
    let mut out = std::io::stdout().lock();
    if once {
        writeln!(out, "{}", serde_json::to_string(&stats_event(id, &cg)?)?)?;
        return Ok(0);
    }
    // A reader that went away (`| head`) ends the stream quietly.
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    let mut ooms = cg.oom_kill_count().unwrap_or(0);
    let step = std::time::Duration::from_millis(100).min(every);
    let mut next = std::time::Instant::now();
    while status(&dir, &rec) != "stopped" {
        let n = cg.oom_kill_count().unwrap_or(ooms);
        let mut lines = String::new();
        for _ in ooms..n {
            lines.push_str(&format!("{}\n", serde_json::json!({"type": "oom", "id": id})));
        }
        ooms = n;
        if std::time::Instant::now() >= next {
            if let Ok(ev) = stats_event(id, &cg) {
                lines.push_str(&format!("{ev}\n"));
            }
            next += every;
        }
        match out.write_all(lines.as_bytes()).and_then(|_| out.flush()) {
            Err(e) if gone(&e) => return Ok(0),
            r => r?,
        }
        std::thread::sleep(step);
    }
    Ok(0)
}

/// The name of user `uid` from /etc/passwd, else the number.
fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

fn list(cli: &RtCli, quiet: bool, format: &str) -> anyhow::Result<u8> {
    let mut ids: Vec<String> = match std::fs::read_dir(&cli.root) {
        Ok(rd) => rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    ids.sort();
    let mut states = Vec::new();
    for id in ids {
        let Ok((dir, rec)) = load(cli, &id) else { continue };
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&dir)?);
        states.push(state_json(&dir, &rec, &user_name(owner)));
    }
    let mut out = std::io::stdout().lock();
    if quiet {
        for s in &states {
            writeln!(out, "{}", s["id"].as_str().unwrap_or_default())?;
        }
    } else if format == "json" {
        if states.is_empty() {
            write!(out, "null")?;
        } else {
            let compact: Vec<serde_json::Value> = states
                .into_iter()
                .map(|mut s| {
                    if let Some(m) = s.as_object_mut() {
                        m.shift_remove("annotations");
                    }
                    s
                })
                .collect();
            write!(out, "{}", serde_json::to_string(&compact)?)?;
        }
    } else {
        let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(9).padding(3);
        writeln!(tw, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")?;
        for s in &states {
            let f = |k: &str| match &s[k] {
                serde_json::Value::String(v) => v.clone(),
                v => v.to_string(),
            };
            writeln!(
                tw,
                "{}\t{}\t{}\t{}\t{}\t{}",
                f("id"),
                f("pid"),
                f("status"),
                f("bundle"),
                f("created"),
                f("owner")
            )?;
        }
        out.write_all(&tw.into_inner()?)?;
    }
    out.flush()?;
    Ok(0)
}

/// The default bundle configuration `spec` writes: runc's, field for field.
fn default_spec() -> serde_json::Value {
    serde_json::json!({
        "ociVersion": skiff_runtime::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "skiff",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}
