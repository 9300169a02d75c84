//! The engine's view of `docker run`/`create` flags, already parsed by the
//! CLI (sizes in bytes, CPUs in nano CPUs). Stored with the container so that
//! `inspect` can show its HostConfig and `start` can regenerate nothing.

use serde::{Deserialize, Serialize};

/// A namespace mode: `--network`, `--pid`, `--ipc`, `--uts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NsMode {
    #[default]
    Private,
    Host,
    /// `container:NAME|ID`: join that container's namespace.
    Container(String),
}

/// A namespace mode string that is not one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptionsError {
    #[error("invalid {flag} mode: {value:?}")]
    NsMode { flag: &'static str, value: String },
    #[error("invalid env file line in {path}: {line:?}")]
    EnvFile { path: String, line: String },
    /// Docker's CLI's message for an option that is no `key=value`.
    #[error("Invalid --security-opt: {0:?}")]
    SecurityOptForm(String),
    /// Docker's daemon's message for an unknown key or value.
    #[error("invalid --security-opt 2: {0:?}")]
    SecurityOpt(String),
    #[error("the working directory '{0}' is invalid, it needs to be an absolute path")]
    RelativeWorkdir(String),
    /// A limit Docker's daemon refuses, in its words.
    #[error("{0}")]
    Limit(String),
}

/// The smallest memory limit or reservation Docker's daemon accepts.
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// Go's strconv.ParseBool, which Docker uses for `no-new-privileges=VALUE`.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Checks `--security-opt` values as Docker does: `no-new-privileges[=BOOL]`, `label=...` (or
/// `disable`), `apparmor=PROFILE`, `seccomp=unconfined|FILE`, with `=` (or the old `:`).
pub fn check_security_opt(opts: &[String]) -> Result<(), OptionsError> {
    for opt in opts {
        if opt == "no-new-privileges" || opt == "disable" {
            continue;
        }
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .ok_or_else(|| OptionsError::SecurityOptForm(opt.clone()))?;
        match key {
            "label" | "apparmor" | "seccomp" => {}
            "no-new-privileges" if go_bool(value).is_some() => {}
            _ => return Err(OptionsError::SecurityOpt(opt.clone())),
        }
    }
    Ok(())
}

impl NsMode {
    /// Parses `host`, `container:NAME`, `none`/`private`/`bridge`/`default`/`shareable`/`` (private).
    pub fn parse(flag: &'static str, s: &str) -> Result<NsMode, OptionsError> {
        match s {
            "" | "private" | "none" | "bridge" | "default" | "shareable" => Ok(NsMode::Private),
            "host" => Ok(NsMode::Host),
            _ => match s.strip_prefix("container:") {
                Some(n) if !n.is_empty() => Ok(NsMode::Container(n.to_string())),
                _ => Err(OptionsError::NsMode { flag, value: s.to_string() }),
            },
        }
    }

    /// The container whose namespace this mode joins, if it joins one.
    pub fn container(&self) -> Option<&String> {
        match self {
            NsMode::Container(name) => Some(name),
            _ => None,
        }
    }

    /// Docker's HostConfig spelling.
    pub fn docker_string(&self, private: &str) -> String {
        match self {
            NsMode::Private => private.to_string(),
            NsMode::Host => "host".to_string(),
            NsMode::Container(n) => format!("container:{n}"),
        }
    }
}

/// Sets `key` of `section` in an OCI `linux.resources` object, making the section if need be.
pub fn set_resource(r: &mut serde_json::Value, section: &str, key: &str, v: serde_json::Value) {
    if !r[section].is_object() {
        r[section] = serde_json::json!({});
    }
    r[section][key] = v;
}

/// The cgroup limits of `run`, `create` and `update` (bytes, nano CPUs); `None` is not set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
}

impl Resources {
    /// The limits that are set, as an OCI `linux.resources` fragment. Without `memory_swap`, a
    /// memory limit allows as much swap again, as Docker does.
    pub fn oci(&self) -> serde_json::Value {
        let mut r = serde_json::json!({});
        let mut set = |section: &str, key: &str, v: serde_json::Value| set_resource(&mut r, section, key, v);
        if let Some(m) = self.memory {
            set("memory", "limit", m.into());
            set("memory", "swap", self.memory_swap.unwrap_or(m * 2).into());
        } else if let Some(s) = self.memory_swap {
            set("memory", "swap", s.into());
        }
        if let Some(res) = self.memory_reservation {
            set("memory", "reservation", res.into());
        }
        if let Some(n) = self.nano_cpus {
            let period: i64 = 100_000;
            set("cpu", "period", period.into());
            set("cpu", "quota", ((n as i128 * period as i128 / 1_000_000_000) as i64).into());
        }
        if let Some(s) = self.cpu_shares {
            set("cpu", "shares", s.into());
        }
        if let Some(c) = &self.cpuset_cpus {
            set("cpu", "cpus", c.as_str().into());
        }
        if let Some(p) = self.pids_limit {
            set("pids", "limit", p.into());
        }
        if let Some(w) = self.blkio_weight {
            set("blockIO", "weight", w.into());
        }
        r
    }

    /// Docker's daemon's checks of the limits, before anything is made (`update` checks the
    /// limits it leads to; only `run` and `create` need a memory limit beside a swap limit).
    /// `host` gives this host's CPUs, read only when a CPU limit is set.
    pub fn check(&self, update: bool, host: impl Fn() -> HostCpus) -> Result<(), OptionsError> {
        let limit = |m: &str| Err(OptionsError::Limit(m.to_string()));
        let memory = self.memory.unwrap_or(0);
        let swap = self.memory_swap.unwrap_or(0);
        let reservation = self.memory_reservation.unwrap_or(0);
        if memory != 0 && memory < MIN_MEMORY {
            return limit("Minimum memory limit allowed is 6MB");
        }
        if memory > 0 && swap > 0 && swap < memory {
            return limit("Minimum memoryswap limit should be larger than memory limit, see usage");
        }
        if memory == 0 && swap > 0 && !update {
            return limit("You should always set the Memory limit when using Memoryswap limit, see usage");
        }
        if reservation > 0 && reservation < MIN_MEMORY {
            return limit("Minimum memory reservation allowed is 6MB");
        }
        if memory > 0 && reservation > 0 && memory < reservation {
            return limit("Minimum memory limit can not be less than memory reservation limit, see usage");
        }
        let cpus = if self.nano_cpus.is_some() || self.cpuset_cpus.is_some() { host() } else { HostCpus::default() };
        let n = cpus.count;
        if self.nano_cpus.is_some_and(|c| c < 0 || c > n as i64 * 1_000_000_000) {
            return limit(&format!("Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"));
        }
        if let Some(set) = self.cpuset_cpus.as_deref().filter(|c| !c.is_empty()) {
            let wanted = parse_cpu_list(set)
                .map_err(|e| OptionsError::Limit(format!("Invalid value {set} for cpuset cpus: {e}")))?;
            if !cpus.available.is_empty() && !wanted.iter().all(|c| cpus.available.contains(c)) {
                return limit(&format!(
                    "Requested CPUs are not available - requested {set}, available: {}",
                    cpus.available_text
                ));
            }
        }
        if self.blkio_weight.is_some_and(|w| w > 0 && !(10..=1000).contains(&w)) {
            return limit("Range of blkio weight is from 10 to 1000");
        }
        Ok(())
    }

    /// These limits after `docker update` with `u`: what `u` sets replaces ours; a new memory
    /// limit without a new swap limit moves the swap to twice it, unless swap is unlimited (-1).
    pub fn updated(&self, u: &Resources) -> Resources {
        let mut n = self.clone();
        if let Some(m) = u.memory {
            n.memory = Some(m);
            if u.memory_swap.is_none() && n.memory_swap != Some(-1) {
                n.memory_swap = Some(m * 2);
            }
        }
        n.memory_swap = u.memory_swap.or(n.memory_swap);
        n.memory_reservation = u.memory_reservation.or(n.memory_reservation);
        n.nano_cpus = u.nano_cpus.or(n.nano_cpus);
        n.cpu_shares = u.cpu_shares.or(n.cpu_shares);
        n.cpuset_cpus = u.cpuset_cpus.clone().or(n.cpuset_cpus);
        n.pids_limit = u.pids_limit.or(n.pids_limit);
        n.blkio_weight = u.blkio_weight.or(n.blkio_weight);
        n
    }
}

/// Parsed `run`/`create` options.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunOptions {
    pub image: String,
    /// Arguments after the image name.
    pub cmd: Vec<String>,
    /// `--entrypoint` (empty string clears the image's).
    pub entrypoint: Option<String>,
    pub name: Option<String>,
    /// `-e` and `--env-file` entries, in order, as `KEY=VALUE`.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
    pub auto_remove: bool,
    /// The cgroup limits, stored flat in the record (its fields sit beside the others), so that
    /// records written before they were grouped read the same.
    #[serde(flatten)]
    pub resources: Resources,
    pub shm_size: Option<i64>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    /// `-v` and `--tmpfs`, then the image's `VOLUME`s not covered by one (added at create, where
    /// anonymous volumes are named).
    #[serde(default)]
    pub mounts: Vec<crate::mounts::Mount>,
    pub read_only: bool,
    pub network: crate::network_mode::NetworkMode,
    /// `-p`: the ports to publish.
    #[serde(default)]
    pub ports: Vec<crate::ports::PortBinding>,
    pub pid: NsMode,
    pub ipc: NsMode,
    pub uts: NsMode,
    pub init: bool,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds.
    pub stop_timeout: Option<u64>,
    /// `--runtime`: an installed OCI runtime (name in PATH or path); `None` is skiff's own.
    #[serde(default)]
    pub runtime: Option<String>,
}

/// What `Resources::check` checks CPU limits against.
#[derive(Debug, Clone, Default)]
pub struct HostCpus {
    /// The CPUs this process may run on (Go's `runtime.NumCPU`, which Docker's range uses).
    pub count: usize,
    /// The CPUs a cpuset may name (the root cpuset's), empty when unknown; and as the kernel lists them.
    pub available: std::collections::BTreeSet<u32>,
    pub available_text: String,
}

impl HostCpus {
    /// This host's: the root cpuset's CPUs (cgroup v1 or v2), else the online ones.
    pub fn read() -> HostCpus {
        let count = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let text = [
            "/sys/fs/cgroup/cpuset/cpuset.cpus",
            "/sys/fs/cgroup/cpuset.cpus.effective",
            "/sys/devices/system/cpu/online",
        ]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()))
        .unwrap_or_default();
        let available = parse_cpu_list(&text).unwrap_or_default();
        HostCpus { count, available, available_text: text }
    }
}

/// A cpuset list (`0-2,5`) as the CPUs it names; an error quotes the list, as Docker's parser does.
pub fn parse_cpu_list(list: &str) -> Result<std::collections::BTreeSet<u32>, String> {
    let mut out = std::collections::BTreeSet::new();
    for part in list.split(',') {
        let bad = || format!("invalid format: {list}");
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u32, u32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if a > b || b - a > 65_536 {
            return Err(bad());
        }
        out.extend(a..=b);
    }
    Ok(out)
}

impl RunOptions {
    /// Docker's daemon's checks of `run`/`create` options that parse but cannot be used.
    pub fn check(&self, host: impl Fn() -> HostCpus) -> Result<(), OptionsError> {
        if let Some(w) = self.workdir.as_deref().filter(|w| !w.is_empty() && !w.starts_with('/')) {
            return Err(OptionsError::RelativeWorkdir(w.to_string()));
        }
        self.resources.check(false, host)
    }

    /// `--security-opt seccomp=unconfined`.
    pub fn seccomp_unconfined(&self) -> bool {
        self.security_opt.iter().any(|s| s == "seccomp=unconfined" || s == "seccomp:unconfined")
    }

    /// The file of `--security-opt seccomp=FILE`, if any.
    pub fn seccomp_file(&self) -> Option<&str> {
        self.security_opt
            .iter()
            .filter_map(|s| s.strip_prefix("seccomp=").or_else(|| s.strip_prefix("seccomp:")))
            .find(|f| *f != "unconfined")
    }

    /// `--security-opt no-new-privileges[=BOOL]` (the last one says).
    pub fn no_new_privileges(&self) -> bool {
        self.security_opt
            .iter()
            .rev()
            .find_map(|s| match s.as_str() {
                "no-new-privileges" => Some(true),
                _ => s
                    .strip_prefix("no-new-privileges=")
                    .or_else(|| s.strip_prefix("no-new-privileges:"))
                    .and_then(go_bool),
            })
            .unwrap_or(false)
    }
}

/// Parses an `--env-file`: `KEY=VALUE` lines, `#` comments and blank lines
/// skipped; a bare `KEY` takes the value from `lookup` (the caller's
/// environment) and is dropped when unset, as Docker does.
pub fn parse_env_file(
    path: &str,
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, OptionsError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match l.split_once('=') {
            Some((k, _)) if k.is_empty() || k.contains(char::is_whitespace) => {
                return Err(OptionsError::EnvFile { path: path.to_string(), line: line.to_string() })
            }
            Some(_) => out.push(l.to_string()),
            None => {
                let k = l.trim_end();
                if k.contains(char::is_whitespace) {
                    return Err(OptionsError::EnvFile { path: path.to_string(), line: line.to_string() });
                }
                if let Some(v) = lookup(k) {
                    out.push(format!("{k}={v}"));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_cpus() -> HostCpus {
        HostCpus { count: 2, available: [0, 1].into(), available_text: "0-1".into() }
    }

    #[test]
    fn limits_are_checked_as_docker_checks_them() {
        const M: i64 = 1024 * 1024;
        let check = |r: Resources, update: bool| r.check(update, two_cpus).map_err(|e| e.to_string());
        let ok = Resources {
            memory: Some(6 * M),
            memory_swap: Some(-1),
            memory_reservation: Some(6 * M),
            nano_cpus: Some(2_000_000_000),
            cpuset_cpus: Some("0-1".into()),
            blkio_weight: Some(10),
            ..Default::default()
        };
        assert_eq!(check(ok.clone(), false), Ok(()));
        assert_eq!(check(Resources::default(), false), Ok(()));
        let cases: [(Resources, &str); 10] = [
            (Resources { memory: Some(M), ..Default::default() }, "Minimum memory limit allowed is 6MB"),
            (
                Resources { memory: Some(8 * M), memory_swap: Some(7 * M), ..Default::default() },
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            ),
            (
                Resources { memory_swap: Some(8 * M), ..Default::default() },
                "You should always set the Memory limit when using Memoryswap limit, see usage",
            ),
            (
                Resources { memory_reservation: Some(M), ..Default::default() },
                "Minimum memory reservation allowed is 6MB",
            ),
            (
                Resources { memory: Some(8 * M), memory_reservation: Some(9 * M), ..Default::default() },
                "Minimum memory limit can not be less than memory reservation limit, see usage",
            ),
            (
                Resources { nano_cpus: Some(2_000_000_001), ..Default::default() },
                "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
            ),
            (
                Resources { nano_cpus: Some(-1), ..Default::default() },
                "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
            ),
            (
                Resources { cpuset_cpus: Some("1-2".into()), ..Default::default() },
                "Requested CPUs are not available - requested 1-2, available: 0-1",
            ),
            (
                Resources { cpuset_cpus: Some("0,x".into()), ..Default::default() },
                "Invalid value 0,x for cpuset cpus: invalid format: 0,x",
            ),
            (Resources { blkio_weight: Some(1001), ..Default::default() }, "Range of blkio weight is from 10 to 1000"),
        ];
        for (r, want) in cases {
            assert_eq!(check(r.clone(), false), Err(want.to_string()), "{r:?}");
        }
        // `update` may set a swap limit alone (the container's memory limit stays).
        assert_eq!(check(Resources { memory_swap: Some(8 * M), ..Default::default() }, true), Ok(()));
        // The host's CPUs are read only for a CPU limit.
        let unread = || -> HostCpus { panic!("read without a CPU limit") };
        assert_eq!(Resources { memory: Some(8 * M), ..Default::default() }.check(false, unread), Ok(()));
    }

    #[test]
    fn a_relative_working_directory_is_refused() {
        let opts = |w: &str| RunOptions { workdir: Some(w.into()), ..Default::default() };
        assert_eq!(opts("/srv").check(two_cpus), Ok(()));
        assert_eq!(opts("").check(two_cpus), Ok(()));
        assert_eq!(
            opts("srv").check(two_cpus).unwrap_err().to_string(),
            "the working directory 'srv' is invalid, it needs to be an absolute path"
        );
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,5"), Ok([0, 1, 2, 5].into()));
        assert_eq!(parse_cpu_list("3"), Ok([3].into()));
        for bad in ["", "a", "2-1", "1-", "-1", "0,,1", "0-99999999"] {
            assert_eq!(parse_cpu_list(bad), Err(format!("invalid format: {bad}")), "{bad:?}");
        }
    }

    #[test]
    fn security_opts_are_checked_as_docker_checks_them() {
        let check = |v: &[&str]| check_security_opt(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        for ok in [
            &["no-new-privileges", "seccomp=unconfined", "apparmor=x", "label=disable", "disable"][..],
            &["seccomp:unconfined", "no-new-privileges=1", "no-new-privileges:false"],
        ] {
            assert_eq!(check(ok), Ok(()), "{ok:?}");
        }
        // Docker 20.10's words (checked against the peer Docker).
        assert_eq!(check(&["foo"]).unwrap_err().to_string(), "Invalid --security-opt: \"foo\"");
        assert_eq!(check(&["foo=bar"]).unwrap_err().to_string(), "invalid --security-opt 2: \"foo=bar\"");
        assert_eq!(
            check(&["no-new-privileges=maybe"]).unwrap_err().to_string(),
            "invalid --security-opt 2: \"no-new-privileges=maybe\""
        );
        let nnp = |v: &[&str]| {
            RunOptions { security_opt: v.iter().map(|s| s.to_string()).collect(), ..Default::default() }
                .no_new_privileges()
        };
        assert!(nnp(&["no-new-privileges"]) && nnp(&["no-new-privileges=1"]) && nnp(&["no-new-privileges:true"]));
        assert!(!nnp(&[]) && !nnp(&["no-new-privileges", "no-new-privileges=false"]));
    }

    #[test]
    fn resources_as_oci_and_after_update() {
        let r =
            Resources { memory: Some(100), nano_cpus: Some(1_500_000_000), pids_limit: Some(5), ..Default::default() };
        assert_eq!(
            r.oci(),
            serde_json::json!({"memory": {"limit": 100, "swap": 200}, "cpu": {"period": 100000, "quota": 150000}, "pids": {"limit": 5}})
        );
        assert_eq!(Resources::default().oci(), serde_json::json!({}));
        // A new memory limit moves a derived swap limit along, not an unlimited one.
        let u = r.updated(&Resources { memory: Some(300), ..Default::default() });
        assert_eq!((u.memory, u.memory_swap, u.pids_limit), (Some(300), Some(600), Some(5)));
        let unlimited = Resources { memory: Some(100), memory_swap: Some(-1), ..Default::default() };
        assert_eq!(unlimited.updated(&Resources { memory: Some(300), ..Default::default() }).memory_swap, Some(-1));
        let both = r.updated(&Resources { memory: Some(300), memory_swap: Some(400), ..Default::default() });
        assert_eq!(both.memory_swap, Some(400));
        // Records keep the limits flat, as before they were grouped.
        let opts = RunOptions { resources: r.clone(), ..Default::default() };
        let v = serde_json::to_value(&opts).unwrap();
        assert_eq!((v["memory"].as_i64(), v["pids_limit"].as_i64()), (Some(100), Some(5)));
        let back: RunOptions = serde_json::from_value(v).unwrap();
        assert_eq!(back.resources, r);
    }

    #[test]
    fn ns_modes() {
        assert_eq!(NsMode::parse("--network", "none"), Ok(NsMode::Private));
        assert_eq!(NsMode::parse("--pid", "host"), Ok(NsMode::Host));
        assert_eq!(NsMode::parse("--network", "container:db"), Ok(NsMode::Container("db".into())));
        assert!(NsMode::parse("--ipc", "container:").is_err());
        assert!(NsMode::parse("--uts", "weird").unwrap_err().to_string().contains("weird"));
    }

    #[test]
    fn env_files() {
        let text = "# comment\n\nA=1\nB\nC\nD=x=y\n";
        let got = parse_env_file("f", text, |k| (k == "B").then(|| "from-host".to_string())).unwrap();
        assert_eq!(got, vec!["A=1", "B=from-host", "D=x=y"]);
        assert!(parse_env_file("f", "=oops\n", |_| None).is_err());
    }
}
