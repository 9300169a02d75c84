//! Spec generation: image config + run options -> OCI runtime spec, as Docker
//! generates it. A pure function: everything it needs (the image's users, the
//! paths of other containers' namespaces, a seccomp profile's text) is
//! resolved by the caller and passed in.
//!
//! The spec is assembled as JSON in the shape Docker writes (so the golden
//! test can compare with `facts/docker-oci-config.json` field by field) and
//! then read into `oci_spec::runtime::Spec`, which validates it.

use crate::mounts::{MountSource, Propagation};
use crate::network_mode::NetworkMode;
use crate::options::{NsMode, RunOptions};
use serde_json::{json, Value};
use skiff_image::config::ImageConfig;
use skiff_image::userdb::{UserDb, UserError};
use std::collections::BTreeMap;
use std::path::Path;

/// Docker's default seccomp profile, as expanded for the default capability set.
pub const DEFAULT_SECCOMP: &str = include_str!("seccomp_default.json");

/// The PATH a container gets when its image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's default capabilities, in Docker's order.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel knows (for `--privileged` and `--cap-add ALL`).
pub const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const MASKED_PATHS: [&str; 10] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Why a spec could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    User(#[from] UserError),
    #[error("invalid capability {0:?}")]
    Capability(String),
    #[error("invalid --security-opt: {0:?}")]
    SecurityOpt(String),
    #[error("invalid seccomp profile: {0}")]
    Seccomp(String),
    #[error("no command specified")]
    NoCommand,
    #[error("generated spec is invalid: {0}")]
    Invalid(String),
}

/// Everything spec generation reads, already resolved.
pub struct SpecInput<'a> {
    /// The 64-hex container id.
    pub id: &'a str,
    pub image: &'a ImageConfig,
    pub opts: &'a RunOptions,
    pub users: &'a UserDb,
    /// `containers/<id>/`: holds hostname, hosts and resolv.conf.
    pub container_dir: &'a Path,
    /// Where the rootfs is mounted.
    pub rootfs: &'a Path,
    /// Namespace paths for `container:NAME` modes, keyed by OCI namespace type
    /// ("network", "pid", "ipc", "uts").
    pub join: BTreeMap<String, String>,
    /// The text of a `--security-opt seccomp=FILE` profile.
    pub seccomp_profile: Option<String>,
    /// Where named volumes live (`volumes/` under the store root).
    pub volumes_dir: &'a Path,
    /// The AppArmor profile to run under (see [`crate::apparmor::choose`]).
    pub apparmor_profile: Option<String>,
}

/// The hostname Docker gives a container: the first 12 characters of its id.
pub fn default_hostname(id: &str) -> String {
    id.chars().take(12).collect()
}

/// Sets `KEY=VALUE` in `env`: replaces in place when the key is there, else appends.
pub fn replace_or_append(env: &mut Vec<String>, entry: &str) {
    let key = entry.split('=').next().unwrap_or(entry);
    if let Some(slot) = env.iter_mut().find(|e| e.split('=').next() == Some(key)) {
        *slot = entry.to_string();
    } else {
        env.push(entry.to_string());
    }
}

/// The process args: ENTRYPOINT + CMD, with `--entrypoint` and the command
/// line's args taking their places as Docker does.
pub fn process_args(image: &ImageConfig, opts: &RunOptions) -> Vec<String> {
    let cfg = image.config.clone().unwrap_or_default();
    let (entry, cmd_default) = match &opts.entrypoint {
        // `--entrypoint` also drops the image's CMD.
        Some(e) if e.is_empty() => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.clone()], Vec::new()),
        None => (cfg.entrypoint.unwrap_or_default(), cfg.cmd.unwrap_or_default()),
    };
    let cmd = if opts.cmd.is_empty() { cmd_default } else { opts.cmd.clone() };
    entry.into_iter().chain(cmd).collect()
}

/// The environment: PATH, HOSTNAME, TERM (with -t), the image's ENV, then
/// `-e`/`--env-file`, each replacing an earlier value in place; HOME last
/// from the user's passwd entry when nothing set it.
pub fn process_env(image: &ImageConfig, opts: &RunOptions, hostname: &str, home: &str) -> Vec<String> {
    let mut env = vec![format!("PATH={DEFAULT_PATH}"), format!("HOSTNAME={hostname}")];
    if opts.tty {
        env.push("TERM=xterm".to_string());
    }
    let image_env = image.config.as_ref().and_then(|c| c.env.clone()).unwrap_or_default();
    for e in image_env.iter().chain(opts.env.iter()) {
        replace_or_append(&mut env, e);
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

/// The capability set after `--privileged`, `--cap-add` and `--cap-drop`.
pub fn capabilities(opts: &RunOptions) -> Result<Vec<String>, SpecError> {
    if opts.privileged {
        return Ok(ALL_CAPS.iter().map(|s| s.to_string()).collect());
    }
    let norm = |c: &str| -> Result<String, SpecError> {
        let up = c.to_ascii_uppercase();
        let full = if up.starts_with("CAP_") { up } else { format!("CAP_{up}") };
        if full == "CAP_ALL" || ALL_CAPS.contains(&full.as_str()) {
            Ok(full)
        } else {
            Err(SpecError::Capability(c.to_string()))
        }
    };
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    for d in &opts.cap_drop {
        let d = norm(d)?;
        if d == "CAP_ALL" {
            caps.clear();
        } else {
            caps.retain(|c| c != &d);
        }
    }
    for a in &opts.cap_add {
        let a = norm(a)?;
        if a == "CAP_ALL" {
            caps = ALL_CAPS.iter().map(|s| s.to_string()).collect();
        } else if !caps.contains(&a) {
            caps.push(a);
        }
    }
    Ok(caps)
}

fn bind(dest: &str, src: &Path) -> Value {
    json!({"destination": dest, "type": "bind", "source": src.to_string_lossy(), "options": ["rbind", "rprivate"]})
}

fn mounts(input: &SpecInput<'_>) -> Result<Vec<Value>, SpecError> {
    let o = input.opts;
    let sys_opts: Vec<&str> =
        if o.privileged { vec!["nosuid", "noexec", "nodev"] } else { vec!["nosuid", "noexec", "nodev", "ro"] };
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": [if o.privileged { "rw" } else { "ro" }, "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={}", o.shm_size.unwrap_or(67108864))]}),
    ];
    let dir = input.container_dir;
    for (dest, file) in [("/etc/resolv.conf", "resolv.conf"), ("/etc/hostname", "hostname"), ("/etc/hosts", "hosts")] {
        let user_bound = o.mounts.iter().any(|u| u.target == dest && !matches!(u.source, MountSource::Tmpfs { .. }));
        if !user_bound {
            m.push(bind(dest, &dir.join(file)));
        }
    }
    // tmpfs mounts first, then binds and volumes, as given.
    for t in &o.mounts {
        if let MountSource::Tmpfs { options } = &t.source {
            let mut opts = vec!["nosuid".to_string(), "noexec".to_string(), "nodev".to_string()];
            opts.extend(options.split(',').filter(|s| !s.is_empty()).map(str::to_string));
            m.push(json!({"destination": t.target, "type": "tmpfs", "source": "tmpfs", "options": opts}));
        }
    }
    for v in &o.mounts {
        let src = match &v.source {
            MountSource::Tmpfs { .. } => continue,
            MountSource::Bind { source } => source.to_string_lossy().into_owned(),
            // A named volume lives under the store's volumes/.
            MountSource::Volume { name, .. } => {
                input.volumes_dir.join(name).join("_data").to_string_lossy().into_owned()
            }
        };
        let mut opts = vec!["rbind".to_string()];
        if v.mode.split(',').any(|f| f == "ro" || f == "rw") {
            opts.push(if v.read_only { "ro" } else { "rw" }.to_string());
        }
        opts.push(v.propagation.unwrap_or(Propagation::Rprivate).as_str().to_string());
        m.push(json!({"destination": v.target, "type": "bind", "source": src, "options": opts}));
    }
    Ok(m)
}

fn namespaces(input: &SpecInput<'_>) -> Vec<Value> {
    let o = input.opts;
    let mut out = vec![json!({"type": "mount"})];
    let network = match &o.network {
        NetworkMode::Host => NsMode::Host,
        NetworkMode::Container(name) => NsMode::Container(name.clone()),
        _ => NsMode::Private,
    };
    for (kind, mode) in [("network", &network), ("uts", &o.uts), ("pid", &o.pid), ("ipc", &o.ipc)] {
        match mode {
            NsMode::Host => {}
            NsMode::Private => out.push(json!({"type": kind})),
            NsMode::Container(_) => match input.join.get(kind) {
                Some(p) => out.push(json!({"type": kind, "path": p})),
                None => out.push(json!({"type": kind})),
            },
        }
    }
    // A private cgroup namespace, so the container sees its own cgroup as `/`.
    if !o.privileged {
        out.push(json!({"type": "cgroup"}));
    }
    out
}

fn seccomp(input: &SpecInput<'_>) -> Result<Option<Value>, SpecError> {
    let o = input.opts;
    if o.privileged || o.seccomp_unconfined() {
        return Ok(None);
    }
    let text = input.seccomp_profile.as_deref().unwrap_or(DEFAULT_SECCOMP);
    let v: Value = serde_json::from_str(text).map_err(|e| SpecError::Seccomp(e.to_string()))?;
    Ok(Some(docker_profile_to_oci(v)))
}

/// Docker's profile format (`defaultAction`, `syscalls` with `names`, and
/// possibly `archMap`, `includes`/`excludes`) to the OCI form. Conditional
/// rules are kept only when they have no conditions (skiff does not evaluate
/// them yet); the embedded default is already expanded.
fn docker_profile_to_oci(mut v: Value) -> Value {
    if let Some(map) = v.get("archMap").cloned() {
        let mut arches = Vec::new();
        for a in map.as_array().into_iter().flatten() {
            if let Some(x) = a.get("architecture") {
                arches.push(x.clone());
            }
            for s in a.get("subArchitectures").and_then(Value::as_array).into_iter().flatten() {
                arches.push(s.clone());
            }
        }
        v["architectures"] = Value::Array(arches);
    }
    if let Some(obj) = v.as_object_mut() {
        obj.remove("archMap");
        obj.remove("defaultErrnoRet").map(|e| obj.insert("defaultErrnoRet".into(), e));
        if let Some(calls) = obj.get_mut("syscalls").and_then(Value::as_array_mut) {
            calls.retain(|c| {
                let empty = |k: &str| c.get(k).is_none_or(|x| x.as_object().is_none_or(|o| o.is_empty()));
                empty("includes") && empty("excludes")
            });
            for c in calls.iter_mut() {
                if let Some(o) = c.as_object_mut() {
                    o.remove("includes");
                    o.remove("excludes");
                    o.remove("comment");
                    if let Some(n) = o.remove("name") {
                        o.insert("names".into(), json!([n]));
                    }
                }
            }
        }
    }
    v
}

fn resources(o: &RunOptions) -> Value {
    let mut r = json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
            {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        ],
        "memory": {"disableOOMKiller": false},
        "cpu": {"shares": 0},
        "blockIO": {"weight": 0},
    });
    if o.privileged {
        r["devices"] = json!([{"allow": true, "access": "rwm"}]);
    }
    if let serde_json::Value::Object(sections) = o.resources.oci() {
        for (section, fields) in sections {
            if let serde_json::Value::Object(fields) = fields {
                for (k, v) in fields {
                    r[section.as_str()][k.as_str()] = v;
                }
            }
        }
    }
    r
}

/// Generates the OCI runtime spec for a container.
pub fn generate(input: &SpecInput<'_>) -> Result<oci_spec::runtime::Spec, SpecError> {
    let v = generate_json(input)?;
    serde_json::from_value(v).map_err(|e| SpecError::Invalid(e.to_string()))
}

/// The spec as JSON, in Docker's shape.
pub fn generate_json(input: &SpecInput<'_>) -> Result<Value, SpecError> {
    let o = input.opts;
    let cfg = input.image.config.clone().unwrap_or_default();
    let hostname = o.hostname.clone().unwrap_or_else(|| default_hostname(input.id));
    let user_spec = o.user.clone().unwrap_or(cfg.user.clone());
    let user = input.users.resolve(&user_spec)?;
    let args = process_args(input.image, o);
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    let env = process_env(input.image, o, &hostname, &user.home);
    let cwd = match (&o.workdir, cfg.working_dir.as_str()) {
        (Some(w), _) if !w.is_empty() => w.clone(),
        (_, w) if !w.is_empty() => w.to_string(),
        _ => "/".to_string(),
    };
    let caps = capabilities(o)?;
    let mut process = json!({
        "terminal": o.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "oomScoreAdj": 0,
    });
    if o.no_new_privileges() {
        process["noNewPrivileges"] = json!(true);
    }
    if let Some(p) = &input.apparmor_profile {
        process["apparmorProfile"] = json!(p);
    }
    if !o.tty {
        process.as_object_mut().map(|p| p.remove("terminal"));
    }
    let mut linux = json!({
        "sysctl": {
            "net.ipv4.ip_unprivileged_port_start": "0",
            "net.ipv4.ping_group_range": "0 2147483647"
        },
        "resources": resources(o),
        "cgroupsPath": format!("/skiff/{}", input.id),
        "namespaces": namespaces(input),
    });
    if o.network == NetworkMode::Host {
        // Host networking: the sysctls would change the host's.
        linux.as_object_mut().map(|l| l.remove("sysctl"));
    }
    if let Some(s) = seccomp(input)? {
        linux["seccomp"] = s;
    }
    if !o.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    Ok(json!({
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": input.rootfs.to_string_lossy(), "readonly": o.read_only},
        "hostname": hostname,
        "mounts": mounts(input)?,
        "hooks": {},
        "linux": linux,
    }))
}

/// Where `--init` puts the init inside the container (Docker's path).
pub const INIT_PATH_IN_CONTAINER: &str = "/sbin/docker-init";

/// `--init`: binds the host's init binary `init` read-only at `/sbin/docker-init` and makes it the
/// process, with the command as its child (`docker-init -- CMD ARGS...`), as Docker does.
pub fn add_init(spec: &mut oci_spec::runtime::Spec, init: &Path) -> Result<(), SpecError> {
    let mut process = spec.process().clone().ok_or(SpecError::NoCommand)?;
    let mut args = vec![INIT_PATH_IN_CONTAINER.to_string(), "--".to_string()];
    args.extend(process.args().clone().unwrap_or_default());
    process.set_args(Some(args));
    spec.set_process(Some(process));
    let mount = oci_spec::runtime::MountBuilder::default()
        .destination(INIT_PATH_IN_CONTAINER)
        .typ("bind")
        .source(init)
        .options(vec!["bind".to_string(), "ro".to_string()])
        .build()
        .map_err(|e| SpecError::Invalid(e.to_string()))?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(mount);
    spec.set_mounts(Some(mounts));
    Ok(())
}
