//! `skiff run` and `skiff create`: Docker's flags (clap) -> the engine's
//! `RunOptions`, then create (and start). Exit codes as Docker's: 125 when
//! skiff fails, 126/127 when the command cannot be invoked or is not found,
//! else the container's own.

use super::{open_engine, GlobalOpts};
use anyhow::Context;
use clap::Args;
use skiff_engine::container::{Attach, RemoveOptions};
use skiff_engine::options::{parse_env_file, NsMode, RunOptions};
use skiff_engine::units;
use skiff_engine::EngineError;
use skiff_engine::{Mount, NetworkMode};

/// Flags shared by `run` and `create`. `-h` is `--hostname`, as in Docker.
#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long = "pull", value_name = "string", default_value = "missing")]
    pub pull: String,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname", value_name = "string")]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_name = "string")]
    pub entrypoint: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<u16>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes")]
    pub shm_size: Option<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long, value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Connect a container to a network
    #[arg(long = "network", visible_alias = "net", value_name = "network")]
    pub network: Option<String>,
    /// PID namespace to use
    #[arg(long, value_name = "string")]
    pub pid: Option<String>,
    /// IPC mode to use
    #[arg(long, value_name = "string")]
    pub ipc: Option<String>,
    /// UTS namespace to use
    #[arg(long, value_name = "string")]
    pub uts: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Runtime to use for this container
    #[arg(long, value_name = "string")]
    pub runtime: Option<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int")]
    pub stop_timeout: Option<u64>,
    /// The image, then the command and its arguments. One positional, so that
    /// everything after the image goes to the container (`run img sh -c ...`).
    #[arg(value_name = "IMAGE [COMMAND] [ARG...]", required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub image_and_command: Vec<String>,
}

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

/// A flag's value that does not parse: the CLI's own error, printed as Docker's CLI prints one
/// (`invalid argument "x" for "-m, --memory" flag: ...`, then `See 'skiff run --help'.`, exit 125).
#[derive(Debug)]
pub struct FlagError {
    /// The subcommand, for the help hint.
    pub command: &'static str,
    /// The flag as Docker's usage names it (`-m, --memory`).
    pub flag: &'static str,
    pub value: String,
    pub reason: String,
}

impl std::fmt::Display for FlagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid argument {:?} for \"{}\" flag: {}", self.value, self.flag, self.reason)
    }
}

impl std::error::Error for FlagError {}

/// A memory size flag; `--memory-swap` alone also takes `-1`, unlimited.
pub fn flag_size(command: &'static str, flag: &'static str, v: &Option<String>) -> Result<Option<i64>, FlagError> {
    match v.as_deref() {
        None => Ok(None),
        Some("-1") if flag == "--memory-swap" => Ok(Some(-1)),
        Some(s) => units::ram_in_bytes(s).map(Some).map_err(|e| FlagError {
            command,
            flag,
            value: s.into(),
            reason: e.to_string(),
        }),
    }
}

/// `--cpus`: nano CPUs.
pub fn flag_cpus(command: &'static str, v: &Option<String>) -> Result<Option<i64>, FlagError> {
    v.as_deref()
        .map(|s| {
            units::nano_cpus(s).map_err(|e| FlagError {
                command,
                flag: "--cpus",
                value: s.into(),
                reason: e.to_string(),
            })
        })
        .transpose()
}

/// Docker's flags -> the engine's options (reads `--env-file`s).
pub fn options(command: &'static str, a: &CreateArgs, detach: bool) -> anyhow::Result<RunOptions> {
    let size = |flag, v| flag_size(command, flag, v);
    let mut env = Vec::new();
    for f in &a.env_file {
        let text = std::fs::read_to_string(f).with_context(|| format!("open {f}"))?;
        env.extend(parse_env_file(f, &text, |k| std::env::var(k).ok())?);
    }
    for e in &a.env {
        if e.contains('=') {
            env.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            env.push(format!("{e}={v}"));
        }
    }
    let network = network_mode(a.network.as_deref().unwrap_or(""))?;
    let mut mounts = Vec::new();
    for t in &a.tmpfs {
        mounts.push(Mount::parse_tmpfs(t)?);
    }
    for v in &a.volume {
        mounts.push(Mount::parse_volume(v)?);
    }
    let opts = RunOptions {
        image: a.image_and_command[0].clone(),
        cmd: a.image_and_command[1..].to_vec(),
        entrypoint: a.entrypoint.clone(),
        name: a.name.clone(),
        env,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        hostname: a.hostname.clone(),
        tty: a.tty,
        interactive: a.interactive,
        detach,
        auto_remove: a.rm,
        resources: skiff_engine::Resources {
            memory: size("-m, --memory", &a.memory)?,
            memory_swap: size("--memory-swap", &a.memory_swap)?,
            memory_reservation: size("--memory-reservation", &a.memory_reservation)?,
            nano_cpus: flag_cpus(command, &a.cpus)?,
            cpu_shares: a.cpu_shares,
            cpuset_cpus: a.cpuset_cpus.clone(),
            pids_limit: a.pids_limit,
            blkio_weight: a.blkio_weight,
        },
        shm_size: size("--shm-size", &a.shm_size)?,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        privileged: a.privileged,
        security_opt: a.security_opt.clone(),
        mounts,
        read_only: a.read_only,
        network,
        ports: Vec::new(),
        pid: NsMode::parse("--pid", a.pid.as_deref().unwrap_or(""))?,
        ipc: NsMode::parse("--ipc", a.ipc.as_deref().unwrap_or(""))?,
        uts: NsMode::parse("--uts", a.uts.as_deref().unwrap_or(""))?,
        init: a.init,
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        runtime: a.runtime.clone(),
    };
    skiff_engine::options::check_security_opt(&opts.security_opt)?;
    if let Some(p) = skiff_engine::apparmor::requested(&opts.security_opt) {
        if p != "unconfined" && !skiff_runtime::apparmor_enabled() {
            eprintln!("WARNING: AppArmor is not enabled in this host's kernel: the profile {p:?} is not applied");
        }
    }
    Ok(opts)
}

/// `--network`: the modes skiff knows today, and `bridge`, Docker's default network, by name.
fn network_mode(s: &str) -> Result<NetworkMode, skiff_engine::options::OptionsError> {
    let invalid = || skiff_engine::options::OptionsError::NsMode { flag: "--network", value: s.to_string() };
    match NetworkMode::parse(s).map_err(|_| invalid())? {
        NetworkMode::Network(n) if n != "bridge" => Err(invalid()),
        m => Ok(m),
    }
}

/// `--pull`: when run and create fetch the image from its registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PullPolicy {
    Always,
    Missing,
    Never,
}

impl PullPolicy {
    fn parse(v: &str) -> Option<PullPolicy> {
        match v {
            "always" => Some(PullPolicy::Always),
            "missing" => Some(PullPolicy::Missing),
            "never" => Some(PullPolicy::Never),
            _ => None,
        }
    }
}

/// Why a container could not be made: the engine's error, or the pull's before it.
enum CreateFailed {
    Engine(EngineError),
    Pull(anyhow::Error),
}

impl CreateFailed {
    fn report(self) -> anyhow::Result<u8> {
        match self {
            CreateFailed::Engine(e) => fail(&e, e.exit_code()),
            CreateFailed::Pull(e) => fail(super::describe(&e), 125),
        }
    }
}

/// Runs `make` (a create) with the image there as `--pull` wants it, as Docker's CLI does: `always`
/// pulls first; `missing` pulls only when the create finds no such image ("Unable to find image
/// 'busybox:latest' locally", then the pull's progress, all on stderr) and then creates again.
fn with_image<T>(
    store: &skiff_image::Store,
    opts: &RunOptions,
    policy: PullPolicy,
    make: impl Fn(RunOptions) -> Result<T, EngineError>,
) -> Result<T, CreateFailed> {
    if policy == PullPolicy::Always {
        pull_image(store, &opts.image).map_err(CreateFailed::Pull)?;
    }
    match make(opts.clone()) {
        Err(EngineError::Store(skiff_image::StoreError::NoSuchImage(_)))
            if policy == PullPolicy::Missing && skiff_image::Reference::parse(&opts.image).is_ok() =>
        {
            let shown = skiff_image::Reference::parse_with_default_tag(&opts.image)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| opts.image.clone());
            eprintln!("Unable to find image '{shown}' locally");
            pull_image(store, &opts.image).map_err(CreateFailed::Pull)?;
            make(opts.clone()).map_err(CreateFailed::Engine)
        }
        r => r.map_err(CreateFailed::Engine),
    }
}

/// Pulls `image` into the store with the progress on stderr (stdout is the container's).
fn pull_image(store: &skiff_image::Store, image: &str) -> anyhow::Result<()> {
    let reference = skiff_image::Reference::parse(image)?;
    let opts = super::registry_options(true)?;
    let print = |e: skiff_registry::PullEvent| {
        if let Some(line) = super::pull::progress_line(e) {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    };
    skiff_registry::pull(store, &opts, &reference, &skiff_registry::PullOptions::default(), &print)?;
    Ok(())
}

/// `--pull`'s value, or Docker's CLI's complaint about it (exit 125).
fn pull_policy(a: &CreateArgs, command: &str) -> Result<PullPolicy, u8> {
    PullPolicy::parse(&a.pull).ok_or_else(|| {
        eprintln!(
            "skiff: invalid pull option: '{}': must be one of \"always\", \"missing\" or \"never\"\nSee 'skiff {command} --help'.",
            a.pull
        );
        125
    })
}

fn fail(e: impl std::fmt::Display, code: i32) -> anyhow::Result<u8> {
    eprintln!("skiff: {}{e}.", super::DAEMON_PREFIX);
    Ok(code as u8)
}

/// `skiff create`.
pub fn create(g: &GlobalOpts, a: CreateArgs) -> anyhow::Result<u8> {
    let opts = match options("create", &a, false) {
        Ok(o) => o,
        Err(e) if e.is::<FlagError>() => return Err(e),
        Err(e) => return fail(super::describe(&e), 125),
    };
    let policy = match pull_policy(&a, "create") {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let engine = open_engine(g)?;
    match with_image(engine.store(), &opts, policy, |o| engine.create(o)) {
        Ok(c) => {
            println!("{}", c.id);
            Ok(0)
        }
        Err(e) => e.report(),
    }
}

/// What a detached container's monitor runs once the container has exited:
/// `rm -f -v` for `--rm`, else `container sync`, which records the exit in
/// the metadata (for `info` and `system df`; the monitor itself has no SQLite).
pub fn after_exit_command(g: &GlobalOpts, id: &str, auto_remove: bool) -> Vec<String> {
    let exe = std::env::current_exe().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| "skiff".into());
    let mut v = vec![exe, "--root".into(), g.root.to_string_lossy().into_owned()];
    if auto_remove {
        v.extend(["rm", "-f", "-v"].map(String::from));
    } else {
        v.extend(["container", "sync"].map(String::from));
    }
    v.push(id.into());
    v
}

/// `skiff run`.
pub fn run(g: &GlobalOpts, a: RunArgs) -> anyhow::Result<u8> {
    let opts = match options("run", &a.create, a.detach) {
        Ok(o) => o,
        Err(e) if e.is::<FlagError>() => return Err(e),
        Err(e) => return fail(super::describe(&e), 125),
    };
    let policy = match pull_policy(&a.create, "run") {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let mark = skiff_runtime::timing::mark;
    mark("cli: parsed");
    let engine = open_engine(g)?;
    mark("cli: store open");
    let (c, spec) = match with_image(engine.store(), &opts, policy, |o| engine.create_with_spec(o)) {
        Ok(c) => c,
        Err(e) => return e.report(),
    };
    mark("cli: created");
    let attach = Attach { output: !a.detach, stdin: a.create.interactive && !a.detach };
    let then = a.detach.then(|| after_exit_command(g, &c.id, a.create.rm));
    let mut started = match engine.start_with_spec(&c, attach, then, Some(spec)) {
        Ok(s) => s,
        Err(e) => {
            let code = e.exit_code();
            if a.create.rm {
                let _ = engine.remove(&c, RemoveOptions { force: true, volumes: true });
            }
            return fail(&e, code);
        }
    };
    if a.detach {
        println!("{}", c.id);
        return Ok(0);
    }
    mark("cli: started");
    let code = engine.wait_attached(&c, &started);
    mark("cli: exited");
    if !a.create.rm {
        // Records the exit (state word, rootfs released); `remove_with` does it for --rm.
        engine.status(&c);
    }
    if a.create.rm {
        if let Err(e) = engine.remove_after_run(&c, &mut started) {
            eprintln!("skiff: removing {}: {e}", c.id);
        }
        mark("cli: removed");
    }
    Ok(code.clamp(0, 255) as u8)
}
