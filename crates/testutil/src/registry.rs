//! A real CNCF distribution registry (Debian's `docker-registry`) per test, on a free loopback
//! port, with its configuration, storage and log in a temporary directory; killed and reaped when
//! dropped, on every path out of the test.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::Duration;

use crate::poll::poll;
use crate::{peers, Missing};

/// How long a starting registry has to accept connections.
const STARTUP: Duration = Duration::from_secs(10);

/// A running docker-registry.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`, where it listens (plain HTTP unless its `http:` section says TLS).
    pub addr: String,
    /// Its directory: `config.yml`, `data/` (the storage), `log`, and whatever the caller put there.
    pub dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts docker-registry in `dir` and waits until it accepts connections. `http_extra` is
    /// appended to the config's `http:` section (indented two spaces, e.g. a `tls:` block) and
    /// `auth` is a top-level block (e.g. `auth:\n  htpasswd: ...`). Missing when docker-registry
    /// is not installed (or cannot be started); panics with its log when it starts but never listens.
    pub fn start(dir: tempfile::TempDir, http_extra: &str, auth: &str) -> Result<Registry, Missing> {
        let bin = peers::docker_registry()?;
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n{http_extra}{auth}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(&bin)
            .arg("serve")
            .arg(&cfg)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| Missing(format!("{} could not be started: {e}", bin.display())))?;
        // The guard kills and reaps it on every path from here, including the panic below.
        let registry = Registry { child, addr, dir };
        if poll(STARTUP, || TcpStream::connect(&registry.addr).is_ok()).is_none() {
            panic!("docker-registry did not start: {}", registry.log());
        }
        Ok(registry)
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

/// Starts docker-registry in a new temporary directory with an `auth:` block in which the word
/// `HTPASSWD` names a file there holding `htpasswd` (`USER:BCRYPT-HASH` lines); `auth` may be empty.
pub fn start_registry(auth: &str, htpasswd: &str) -> Result<Registry, Missing> {
    peers::docker_registry()?;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, htpasswd).unwrap();
    let auth = auth.replace("HTPASSWD", &file.display().to_string());
    Registry::start(dir, "", &auth)
}
