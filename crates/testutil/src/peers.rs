//! The reference systems tests compare skiff with or run beside, found on this machine or not:
//! the peer Docker daemons `../shared/tools/peers-up` starts, Debian's docker-registry, runc and
//! tini. A detector answers the thing found, or [`Missing`] with the reason a test skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::Missing;

/// The peer Docker (20.10, overlay2, no networking): `peers-up docker`.
pub const PEER_DOCKER: &str = "unix:///run/peer-docker.sock";

/// The networking peer Docker (default bridge, iptables, NAT, docker-proxy): `peers-up docker-net`.
pub const PEER_DOCKER_NET: &str = "unix:///run/peer-docker-net.sock";

/// A `docker` client aimed at one daemon (its `DOCKER_HOST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Docker {
    host: String,
}

impl Docker {
    /// The client for the daemon at `host`, a `DOCKER_HOST` value such as `unix:///run/x.sock`.
    pub fn at(host: impl Into<String>) -> Docker {
        Docker { host: host.into() }
    }

    /// The peer Docker at [`PEER_DOCKER`].
    pub fn peer() -> Docker {
        Docker::at(PEER_DOCKER)
    }

    /// The networking peer at [`PEER_DOCKER_NET`].
    pub fn networking_peer() -> Docker {
        Docker::at(PEER_DOCKER_NET)
    }

    /// `$DOCKER_HOST` when set (scripts/test.sh sets it to the peer when the peer is up), else the
    /// peer Docker.
    pub fn from_env() -> Docker {
        Docker::at(std::env::var("DOCKER_HOST").unwrap_or_else(|_| PEER_DOCKER.to_string()))
    }

    /// Its `DOCKER_HOST`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether the daemon answers (`docker version` reaches its server).
    pub fn alive(&self) -> bool {
        self.command()
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Itself when [`alive`](Docker::alive), else why not.
    pub fn require(self) -> Result<Docker, Missing> {
        if self.alive() {
            Ok(self)
        } else {
            Err(Missing(format!(
                "real Docker not available at {} (SKIFF_WITH_PEERS=1 scripts/test.sh starts it)",
                self.host
            )))
        }
    }

    /// A `docker` command aimed at this daemon.
    pub fn command(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", &self.host);
        c
    }

    /// Runs `docker ARGS...` to completion and returns what it printed (panics only when `docker`
    /// cannot be started at all).
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
    }

    /// [`run`](Docker::run), asserting it succeeded; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

/// The peer Docker when it answers.
pub fn peer_docker() -> Result<Docker, Missing> {
    Docker::peer().require()
}

/// Debian's CNCF distribution registry binary (`docker-registry`, which scripts/test.sh installs).
pub fn docker_registry() -> Result<PathBuf, Missing> {
    ["/usr/bin/docker-registry", "/usr/local/bin/docker-registry"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| Missing::new("docker-registry is not installed (scripts/test.sh installs it)"))
}

/// An installed `runc`, looked for on `$PATH`.
pub fn runc() -> Result<PathBuf, Missing> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("runc"))
        .find(|p| p.is_file())
        .ok_or_else(|| Missing::new("runc not installed"))
}

/// Debian's static tini (package `tini`), which `--init` mounts as `/sbin/docker-init`.
pub fn tini() -> Result<PathBuf, Missing> {
    let p = Path::new("/usr/bin/tini-static");
    if p.is_file() {
        Ok(p.to_path_buf())
    } else {
        Err(Missing::new("tini not installed (apt-get install tini)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_nobody_listens_for_is_missing_and_says_where_it_was_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let host = format!("unix://{}", dir.path().join("none.sock").display());
        let docker = Docker::at(&host);
        assert!(!docker.alive());
        let missing = docker.require().unwrap_err();
        assert!(missing.to_string().contains(&host), "{missing}");
    }

    #[test]
    fn the_command_is_aimed_at_the_daemon() {
        let c = Docker::networking_peer().command();
        let env: Vec<_> = c.get_envs().collect();
        assert_eq!(env, [(std::ffi::OsStr::new("DOCKER_HOST"), Some(std::ffi::OsStr::new(PEER_DOCKER_NET)))]);
    }
}
