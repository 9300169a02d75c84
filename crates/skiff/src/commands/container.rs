//! Container commands other than run/create/ps/logs: start, stop, kill,
//! restart, wait, rm, pause, unpause, rename, prune, exec, top, stats,
//! update, port, and `inspect` for containers; plus `skiff container ...`.

use super::{daemon_error, open_store, GlobalOpts};
use crate::output::table;
use crate::output::units::human_size_with_precision;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use skiff_engine::container::{self, Container};
use skiff_engine::exec::{self as engine_exec, ExecOptions};
use skiff_engine::lifecycle::{self, Attach, EngineError};
use skiff_engine::state::Status;
use skiff_image::Store;
use std::io::Write;

/// Runs `f` on each named container, printing the name on success (as Docker does).
fn each(
    g: &GlobalOpts,
    names: &[String],
    mut f: impl FnMut(&Store, &Container) -> Result<(), EngineError>,
) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let mut failed = false;
    for n in names {
        let r = container::find(&store, n).map_err(EngineError::from).and_then(|c| f(&store, &c));
        match r {
            Ok(()) => println!("{n}"),
            Err(e) => {
                daemon_error(e);
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn start(g: &GlobalOpts, a: StartArgs) -> anyhow::Result<u8> {
    if !a.attach {
        return each(g, &a.containers, |s, c| {
            let then = Some(super::run::after_exit_command(g, &c.id, c.opts.auto_remove));
            match lifecycle::start(s, c, Attach::default(), then) {
                Ok(_) | Err(EngineError::AlreadyRunning(_)) => Ok(()),
                Err(e) => Err(e),
            }
        });
    }
    let store = open_store(g)?;
    let c = container::find(&store, &a.containers[0])?;
    match lifecycle::start(&store, &c, Attach { output: true, stdin: a.interactive }, None) {
        Ok(st) => {
            let code = lifecycle::wait_attached(&c, &st);
            lifecycle::status(&store, &c);
            if c.opts.auto_remove {
                let _ = lifecycle::remove_with(&store, &c, true, true);
            }
            Ok(code.clamp(0, 255) as u8)
        }
        Err(e) => {
            daemon_error(&e);
            Ok(e.exit_code().clamp(0, 255) as u8)
        }
    }
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", visible_alias = "timeout")]
    pub time: Option<u64>,
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn stop(g: &GlobalOpts, a: StopArgs) -> anyhow::Result<u8> {
    each(g, &a.containers, |s, c| {
        let mut c = c.clone();
        if let Some(sig) = &a.signal {
            c.opts.stop_signal = Some(sig.clone());
        }
        lifecycle::stop(s, &c, a.time.or(c.opts.stop_timeout))
    })
}

pub fn restart(g: &GlobalOpts, a: StopArgs) -> anyhow::Result<u8> {
    each(g, &a.containers, |s, c| {
        lifecycle::stop(s, c, a.time.or(c.opts.stop_timeout))?;
        let then = Some(super::run::after_exit_command(g, &c.id, c.opts.auto_remove));
        lifecycle::start(s, c, Attach::default(), then).map(|_| ())
    })
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn kill(g: &GlobalOpts, a: KillArgs) -> anyhow::Result<u8> {
    let sig = lifecycle::parse_signal(&a.signal)?;
    each(g, &a.containers, |s, c| lifecycle::kill(s, c, sig))
}

#[derive(Args, Debug)]
pub struct NamesArgs {
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn wait(g: &GlobalOpts, a: NamesArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let mut failed = false;
    for n in &a.containers {
        match container::find(&store, n).map_err(EngineError::from).and_then(|c| lifecycle::wait(&store, &c)) {
            Ok(code) => println!("{code}"),
            Err(e) => {
                daemon_error(e);
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

pub fn pause(g: &GlobalOpts, a: NamesArgs) -> anyhow::Result<u8> {
    each(g, &a.containers, lifecycle::pause)
}

pub fn unpause(g: &GlobalOpts, a: NamesArgs) -> anyhow::Result<u8> {
    each(g, &a.containers, lifecycle::unpause)
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(long)]
    pub link: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn rm(g: &GlobalOpts, a: RmArgs) -> anyhow::Result<u8> {
    each(g, &a.containers, |s, c| lifecycle::remove_with(s, c, a.force, a.volumes))
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

pub fn rename(g: &GlobalOpts, a: RenameArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let c = container::find(&store, &a.container)?;
    lifecycle::rename(&store, &c, &a.new_name)?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub fn prune(g: &GlobalOpts, a: PruneArgs) -> anyhow::Result<u8> {
    if !a.force && !super::rmi::confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let store = open_store(g)?;
    let reclaimed = prune_containers(&store)?;
    println!("Total reclaimed space: {}", crate::output::units::human_size(reclaimed));
    Ok(0)
}

/// Removes the stopped containers, printing Docker's "Deleted Containers:" list; returns the
/// bytes their writable layers held.
pub fn prune_containers(store: &skiff_image::Store) -> anyhow::Result<u64> {
    let gone = lifecycle::prune(store)?;
    if !gone.is_empty() {
        println!("Deleted Containers:");
        for (id, _) in &gone {
            println!("{id}");
        }
        println!();
    }
    Ok(gone.iter().map(|(_, size)| size).sum())
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// The container, then the command: one positional, so that flags after
    /// the container name belong to the command (`exec db ls -e`).
    #[arg(value_name = "CONTAINER COMMAND [ARG...]", num_args = 2.., required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub container_and_command: Vec<String>,
}

pub fn exec(g: &GlobalOpts, a: ExecArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let c = container::find(&store, &a.container_and_command[0])?;
    let o = ExecOptions {
        cmd: a.container_and_command[1..].to_vec(),
        env: a.env,
        user: a.user,
        workdir: a.workdir,
        tty: a.tty,
        interactive: a.interactive,
        detach: a.detach,
        privileged: a.privileged,
    };
    match engine_exec::exec(&store, &c, &o) {
        Ok(code) => Ok(code.clamp(0, 255) as u8),
        Err(e) => {
            daemon_error(&e);
            // 126/127 when the command cannot run; other daemon errors exit 1, as Docker's CLI does.
            let code = match &e {
                EngineError::Runtime(r) if r.exit_code() != 125 => r.exit_code(),
                _ => 1,
            };
            Ok(code as u8)
        }
    }
}

#[derive(Args, Debug)]
pub struct TopArgs {
    pub container: String,
    /// ps options (ignored: skiff prints `ps -ef` columns)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

pub fn top(g: &GlobalOpts, a: TopArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let c = container::find(&store, &a.container)?;
    let (header, rows) = engine_exec::top(&store, &c)?;
    // Docker's CLI sets `top`'s columns at least 20 wide (the seed shows them so).
    let mut tw = table::tabwriter_min(std::io::stdout().lock(), 20);
    writeln!(tw, "{}", header.join("\t"))?;
    for r in rows {
        writeln!(tw, "{}", r.join("\t"))?;
    }
    tw.flush()?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x)
}

/// Docker's binary sizes for stats: `6.754MiB`.
fn bin_size(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", crate::output::gofmt::format_float(v, 'g', 4), units[i])
}

fn dec_size(n: u64) -> String {
    human_size_with_precision(n as f64, 3)
}

pub fn stats(g: &GlobalOpts, a: StatsArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let targets: Vec<Container> = if a.containers.is_empty() {
        container::list(&store)?.into_iter().filter(|c| a.all || lifecycle::status(&store, c).is_running()).collect()
    } else {
        a.containers.iter().map(|n| container::find(&store, n)).collect::<Result<_, _>>()?
    };
    loop {
        let first: Vec<_> = targets.iter().map(|c| engine_exec::sample(&store, c).unwrap_or_default()).collect();
        std::thread::sleep(std::time::Duration::from_millis(if a.no_stream { 200 } else { 1000 }));
        let mut rows = Vec::new();
        for (c, prev) in targets.iter().zip(first) {
            let s = engine_exec::sample(&store, c).unwrap_or_default();
            let mem_pct = if s.memory_limit > 0 { s.memory_usage as f64 / s.memory_limit as f64 * 100.0 } else { 0.0 };
            rows.push(json!({
                "ID": if a.no_trunc { c.id.clone() } else { c.id[..12].to_string() },
                "Container": if a.no_trunc { c.id.clone() } else { c.id[..12].to_string() },
                "Name": c.name,
                "CPUPerc": pct(engine_exec::cpu_percent(&prev, &s)),
                "MemUsage": format!("{} / {}", bin_size(s.memory_usage), bin_size(s.memory_limit)),
                "MemPerc": pct(mem_pct),
                "NetIO": format!("{} / {}", dec_size(s.net_rx), dec_size(s.net_tx)),
                "BlockIO": format!("{} / {}", dec_size(s.block_read), dec_size(s.block_write)),
                "PIDs": s.pids.to_string(),
            }));
        }
        let headers = [
            ("ID", "CONTAINER ID"),
            ("Container", "CONTAINER"),
            ("Name", "NAME"),
            ("CPUPerc", "CPU %"),
            ("MemUsage", "MEM USAGE / LIMIT"),
            ("MemPerc", "MEM %"),
            ("NetIO", "NET I/O"),
            ("BlockIO", "BLOCK I/O"),
            ("PIDs", "PIDS"),
        ];
        let mut out = std::io::stdout().lock();
        if !a.no_stream {
            write!(out, "\x1b[2J\x1b[H")?;
        }
        table::render(
            &mut out,
            a.format.as_deref(),
            "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
            &headers,
            &rows,
        )?;
        if a.no_stream {
            return Ok(0);
        }
    }
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn update(g: &GlobalOpts, a: UpdateArgs) -> anyhow::Result<u8> {
    use super::run::{flag_cpus, flag_size};
    let u = skiff_engine::Resources {
        memory: flag_size("update", "-m, --memory", &a.memory)?,
        memory_swap: flag_size("update", "--memory-swap", &a.memory_swap)?,
        memory_reservation: flag_size("update", "--memory-reservation", &a.memory_reservation)?,
        nano_cpus: flag_cpus("update", &a.cpus)?,
        cpu_shares: a.cpu_shares,
        cpuset_cpus: a.cpuset_cpus.clone(),
        pids_limit: a.pids_limit,
        blkio_weight: a.blkio_weight,
    };
    each(g, &a.containers, |s, c| lifecycle::update(s, c, &u))
}

#[derive(Args, Debug)]
pub struct PortArgs {
    pub container: String,
    pub port: Option<String>,
}

/// `skiff port`: skiff publishes no ports yet (no bridge network), so there is nothing to list.
pub fn port(g: &GlobalOpts, a: PortArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    container::find(&store, &a.container)?;
    if let Some(p) = a.port {
        daemon_error(format!("No public port '{p}' published for {}", a.container));
        return Ok(1);
    }
    Ok(0)
}

fn ns_mode(m: &skiff_engine::NsMode, private: &str) -> String {
    m.docker_string(private)
}

/// Docker's `ContainerJSON` for `inspect`, or `None` when no container has that name.
pub fn inspect_json(store: &Store, name: &str) -> anyhow::Result<Option<Value>> {
    let c = match container::find(store, name) {
        Ok(c) => c,
        Err(container::RecordError::NoSuchContainer(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let st = lifecycle::status(store, &c);
    let (pid, code, started, finished, oom) = match &st {
        Status::Created => (0, 0, String::new(), String::new(), false),
        Status::Running { pid, started } | Status::Paused { pid, started } => {
            (*pid, 0, started.clone(), String::new(), false)
        }
        Status::Exited { code, started, finished, oom_killed } => {
            (0, *code, started.clone(), finished.clone(), *oom_killed)
        }
    };
    let zero = "0001-01-01T00:00:00Z".to_string();
    let o = &c.opts;
    let dir = c.dir(store);
    let image_id = skiff_image::Digest::parse(&c.image_id)?;
    let lower: Vec<String> = store
        .image_layers(&image_id)?
        .iter()
        .rev()
        .map(|l| store.layer_dir(&l.chain_id).display().to_string())
        .collect();
    let cfg = store.config(&image_id)?.config.unwrap_or_default();
    let spec: Value = std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let mounts: Vec<Value> = o
        .volumes
        .iter()
        .filter_map(|v| {
            let p: Vec<&str> = v.split(':').collect();
            (p.len() >= 2).then(|| {
                let ro = p.get(2).is_some_and(|m| m.split(',').any(|f| f == "ro"));
                let mode = p.get(2).copied().unwrap_or("");
                if p[0].starts_with('/') {
                    json!({"Type": "bind", "Source": p[0], "Destination": p[1], "Mode": mode,
                           "RW": !ro, "Propagation": "rprivate"})
                } else {
                    let src = store.root().join("volumes").join(p[0]).join("_data");
                    json!({"Type": "volume", "Name": p[0], "Source": src, "Destination": p[1], "Driver": "local",
                           "Mode": mode, "RW": !ro, "Propagation": ""})
                }
            })
        })
        .collect();
    let host_config = json!({
        "Binds": if o.volumes.is_empty() { Value::Null } else { json!(o.volumes) },
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": if o.network_none { "none".to_string() } else { ns_mode(&o.network, "default") },
        "AutoRemove": o.auto_remove,
        "CapAdd": if o.cap_add.is_empty() { Value::Null } else { json!(o.cap_add) },
        "CapDrop": if o.cap_drop.is_empty() { Value::Null } else { json!(o.cap_drop) },
        "IpcMode": ns_mode(&o.ipc, "private"),
        "PidMode": ns_mode(&o.pid, ""),
        "UTSMode": ns_mode(&o.uts, ""),
        "Privileged": o.privileged,
        "ReadonlyRootfs": o.read_only,
        "SecurityOpt": if o.security_opt.is_empty() { Value::Null } else { json!(o.security_opt) },
        "Tmpfs": o.tmpfs.iter().map(|t| { let (d, x) = t.split_once(':').unwrap_or((t, "")); (d.to_string(), json!(x)) }).collect::<serde_json::Map<_, _>>(),
        "ShmSize": o.shm_size.unwrap_or(67108864),
        "Runtime": o.runtime.as_deref().unwrap_or("skiff"),
        "CpuShares": o.resources.cpu_shares.unwrap_or(0),
        "Memory": o.resources.memory.unwrap_or(0),
        "NanoCpus": o.resources.nano_cpus.unwrap_or(0),
        "BlkioWeight": o.resources.blkio_weight.unwrap_or(0),
        "CpusetCpus": o.resources.cpuset_cpus.clone().unwrap_or_default(),
        "MemoryReservation": o.resources.memory_reservation.unwrap_or(0),
        "MemorySwap": o.resources.memory_swap.unwrap_or(0),
        "PidsLimit": o.resources.pids_limit,
        "Init": o.init,
        "MaskedPaths": spec["linux"]["maskedPaths"],
        "ReadonlyPaths": spec["linux"]["readonlyPaths"],
    });
    // Docker's Config.Env: the image's ENV with -e applied (not the runtime additions).
    let mut config_env = cfg.env.clone().unwrap_or_default();
    for e in &o.env {
        skiff_engine::spec::replace_or_append(&mut config_env, e);
    }
    let config = json!({
        "Hostname": spec["hostname"],
        "Domainname": "",
        "User": o.user.clone().unwrap_or(cfg.user.clone()),
        "AttachStdin": o.interactive && !o.detach,
        "AttachStdout": !o.detach,
        "AttachStderr": !o.detach,
        "Tty": o.tty,
        "OpenStdin": o.interactive,
        "StdinOnce": o.interactive && !o.detach,
        "Env": config_env,
        "Cmd": if o.cmd.is_empty() { json!(cfg.cmd) } else { json!(o.cmd) },
        "Image": c.image,
        "Volumes": cfg.volumes,
        "WorkingDir": spec["process"]["cwd"],
        "Entrypoint": match &o.entrypoint { Some(e) if e.is_empty() => Value::Null, Some(e) => json!([e]), None => json!(cfg.entrypoint) },
        "OnBuild": Value::Null,
        "Labels": cfg.labels.unwrap_or_default(),
        "StopSignal": o.stop_signal,
    });
    let v = json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": {
            "Status": st.word(),
            "Running": st.is_running(),
            "Paused": matches!(st, Status::Paused { .. }),
            "Restarting": false,
            "OOMKilled": oom,
            "Dead": false,
            "Pid": pid,
            "ExitCode": code,
            "Error": "",
            "StartedAt": if started.is_empty() { zero.clone() } else { started },
            "FinishedAt": if finished.is_empty() { zero.clone() } else { finished },
        },
        "Image": c.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": c.log_path(store),
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": skiff_engine::apparmor::choose(
            skiff_runtime::apparmor_enabled(),
            skiff_engine::apparmor::requested(&o.security_opt),
            o.privileged
        )
        .unwrap_or_default(),
        "ExecIDs": Value::Null,
        "HostConfig": host_config,
        "GraphDriver": {
            "Data": {
                "LowerDir": lower.join(":"),
                "MergedDir": dir.join("rootfs"),
                "UpperDir": dir.join("upper"),
                "WorkDir": dir.join("work"),
            },
            "Name": "overlay2",
        },
        "Mounts": mounts,
        "Config": config,
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "Ports": {},
            "SandboxKey": if pid > 0 { format!("/proc/{pid}/ns/net") } else { String::new() },
            "Networks": {},
        },
    });
    Ok(Some(v))
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,
    pub container: String,
}

pub fn export(g: &GlobalOpts, a: ExportArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let c = container::find(&store, &a.container)?;
    match &a.output {
        Some(p) => {
            let mut f = std::io::BufWriter::new(std::fs::File::create(p)?);
            skiff_engine::fs::export(&store, &c, &mut f)?;
            f.flush()?;
        }
        None => {
            let stdout = std::io::stdout();
            if rustix::termios::isatty(&stdout) {
                anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = std::io::BufWriter::new(stdout.lock());
            skiff_engine::fs::export(&store, &c, &mut out)?;
            out.flush()?;
        }
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    pub container: String,
}

pub fn diff(g: &GlobalOpts, a: DiffArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let c = container::find(&store, &a.container)?;
    let mut out = std::io::stdout().lock();
    for ch in skiff_engine::fs::diff(&store, &c)? {
        writeln!(out, "{} {}", ch.kind, ch.path)?;
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// CONTAINER:SRC_PATH or a host path
    pub src: String,
    /// CONTAINER:DEST_PATH or a host path
    pub dest: String,
}

pub fn cp(g: &GlobalOpts, a: CpArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let o = skiff_engine::fs::CopyOptions { archive: a.archive, follow_link: a.follow_link };
    match (a.src.split_once(':'), a.dest.split_once(':')) {
        (Some((name, path)), None) if a.dest == "-" => {
            let c = container::find(&store, name)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            skiff_engine::fs::copy_out_tar(&store, &c, path, &mut out, o)?;
        }
        (None, Some((name, path))) if a.src == "-" => {
            let c = container::find(&store, name)?;
            skiff_engine::fs::copy_in_tar(&store, &c, &mut std::io::stdin().lock(), path, o)?;
        }
        (Some((name, path)), None) => {
            let c = container::find(&store, name)?;
            skiff_engine::fs::copy_out(&store, &c, path, std::path::Path::new(&a.dest), o)?;
        }
        (None, Some((name, path))) => {
            let c = container::find(&store, name)?;
            skiff_engine::fs::copy_in(&store, &c, std::path::Path::new(&a.src), path, o)?;
        }
        _ => anyhow::bail!("must specify exactly one container path (CONTAINER:PATH)"),
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

pub fn commit(g: &GlobalOpts, a: CommitArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let c = container::find(&store, &a.container)?;
    let reference = a.reference.as_deref().map(skiff_image::Reference::parse_with_default_tag).transpose()?;
    let o = skiff_engine::commit::CommitOptions {
        reference,
        author: a.author,
        message: a.message,
        changes: a.change,
        pause: a.pause,
    };
    let id = skiff_engine::commit::commit(&store, &c, &o)?;
    println!("{id}");
    Ok(0)
}

/// `skiff container ...`.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(super::run::RunArgs),
    /// Create a new container
    Create(super::run::CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// List containers
    #[command(name = "ls", visible_alias = "list", visible_alias = "ps")]
    Ls(super::ps::PsArgs),
    /// Fetch the logs of a container
    Logs(super::logs::LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Display detailed information on one or more containers
    Inspect(super::inspect::InspectArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Copy files between a container and the local filesystem
    Cp(CpArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Record a container's current state in the metadata (run by its monitor)
    #[command(hide = true)]
    Sync(NamesArgs),
}

/// Dispatches `skiff container ...`.
pub fn dispatch(g: &GlobalOpts, c: ContainerCommand) -> anyhow::Result<u8> {
    match c {
        ContainerCommand::Run(a) => super::run::run(g, a),
        ContainerCommand::Create(a) => super::run::create(g, a),
        ContainerCommand::Start(a) => start(g, a),
        ContainerCommand::Stop(a) => stop(g, a),
        ContainerCommand::Restart(a) => restart(g, a),
        ContainerCommand::Kill(a) => kill(g, a),
        ContainerCommand::Wait(a) => wait(g, a),
        ContainerCommand::Rm(a) => rm(g, a),
        ContainerCommand::Ls(a) => super::ps::run(g, a),
        ContainerCommand::Logs(a) => super::logs::run(g, a),
        ContainerCommand::Exec(a) => exec(g, a),
        ContainerCommand::Top(a) => top(g, a),
        ContainerCommand::Stats(a) => stats(g, a),
        ContainerCommand::Update(a) => update(g, a),
        ContainerCommand::Pause(a) => pause(g, a),
        ContainerCommand::Unpause(a) => unpause(g, a),
        ContainerCommand::Rename(a) => rename(g, a),
        ContainerCommand::Port(a) => port(g, a),
        ContainerCommand::Prune(a) => prune(g, a),
        ContainerCommand::Export(a) => export(g, a),
        ContainerCommand::Diff(a) => diff(g, a),
        ContainerCommand::Cp(a) => cp(g, a),
        ContainerCommand::Commit(a) => commit(g, a),
        ContainerCommand::Sync(a) => {
            let store = open_store(g)?;
            for n in &a.containers {
                if let Ok(c) = container::find(&store, n) {
                    lifecycle::status(&store, &c);
                }
            }
            Ok(0)
        }
        ContainerCommand::Inspect(mut a) => {
            a.kind = Some("container".into());
            super::inspect::run(g, a)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn flags_do_not_clash() {
        use clap::CommandFactory;
        super::super::Cli::command().debug_assert();
    }
}
