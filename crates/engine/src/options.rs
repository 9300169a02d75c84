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

    /// Docker's HostConfig spelling.
    pub fn docker_string(&self, private: &str) -> String {
        match self {
            NsMode::Private => private.to_string(),
            NsMode::Host => "host".to_string(),
            NsMode::Container(n) => format!("container:{n}"),
        }
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
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub shm_size: Option<i64>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    pub volumes: Vec<String>,
    pub tmpfs: Vec<String>,
    pub read_only: bool,
    pub network: NsMode,
    pub network_none: bool,
    pub pid: NsMode,
    pub ipc: NsMode,
    pub uts: NsMode,
    pub init: bool,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds.
    pub stop_timeout: Option<u64>,
    /// Anonymous volumes (from `-v /path` and the image's VOLUMEs), named at create; `rm -v` removes them.
    #[serde(default)]
    pub anonymous_volumes: Vec<String>,
    /// `--runtime`: an installed OCI runtime (name in PATH or path); `None` is skiff's own.
    #[serde(default)]
    pub runtime: Option<String>,
}

impl RunOptions {
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

    /// `--security-opt no-new-privileges[=true]`.
    pub fn no_new_privileges(&self) -> bool {
        self.security_opt
            .iter()
            .any(|s| s == "no-new-privileges" || s == "no-new-privileges=true" || s == "no-new-privileges:true")
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
