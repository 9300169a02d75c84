//! Helpers shared by the integration tests: run the built `skiff` against a temporary store.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// A temporary store root and a way to run skiff against it.
pub struct Env {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub out: Output,
}

impl Run {
    pub fn ok(self) -> Self {
        assert!(
            self.out.status.success(),
            "skiff failed ({:?}):\nstdout: {}\nstderr: {}",
            self.out.status,
            self.stdout(),
            self.stderr()
        );
        self
    }
    pub fn fails(self) -> Self {
        assert!(!self.out.status.success(), "skiff should have failed:\nstdout: {}", self.stdout());
        self
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
}

impl Env {
    pub fn new() -> Env {
        Env { dir: tempfile::tempdir().unwrap() }
    }
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_skiff"));
        c.arg("--root").arg(self.root());
        c.env_remove("SKIFF_ROOT");
        c
    }
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_stdin(args, None)
    }
    pub fn run_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut c = self.cmd();
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        c.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = c.spawn().unwrap();
        if let Some(data) = stdin {
            let mut si = child.stdin.take().unwrap();
            let data = data.to_vec();
            std::thread::spawn(move || {
                let _ = si.write_all(&data);
            });
        }
        Run { out: child.wait_with_output().unwrap() }
    }
}

/// A tar of a few files, built in memory.
pub fn small_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Whether the real Docker peer (../shared/tools/peers-up) answers.
pub fn docker_available() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .env("DOCKER_HOST", "unix:///run/peer-docker.sock")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).env("DOCKER_HOST", "unix:///run/peer-docker.sock").output().unwrap()
}

/// gzip-compresses `data` with the system's gzip (present on every Debian system).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut c = Command::new("gzip").arg("-c").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut si = c.stdin.take().unwrap();
    let d = data.to_vec();
    let t = std::thread::spawn(move || si.write_all(&d).unwrap());
    let out = c.wait_with_output().unwrap();
    t.join().unwrap();
    out.stdout
}

/// A CNCF distribution registry (Debian's `docker-registry`) on a free loopback port, killed and
/// reaped on drop.
pub struct Registry {
    child: std::process::Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts docker-registry with an `auth:` block (`HTPASSWD` in it names a file holding
/// `htpasswd`); None, after saying it skipped, when the registry is not installed.
pub fn start_registry(auth: &str, htpasswd: &str) -> Option<Registry> {
    let bin =
        ["/usr/bin/docker-registry", "/usr/local/bin/docker-registry"].into_iter().find(|p| Path::new(p).exists());
    let Some(bin) = bin else {
        println!("skipped: docker-registry is not installed (scripts/test.sh installs it)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let auth = auth.replace("HTPASSWD", &dir.path().join("htpasswd").display().to_string());
    std::fs::write(dir.path().join("htpasswd"), htpasswd).unwrap();
    let cfg = dir.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n{auth}",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let child = Command::new(bin).arg("serve").arg(&cfg).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
    // The guard kills and reaps it on every path, including the panic below.
    let reg = Registry { child, addr: addr.clone(), dir };
    // Readiness: wait until it accepts connections.
    for _ in 0..500 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            return Some(reg);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(reg.dir.path().join("log")).unwrap_or_default();
    panic!("docker-registry did not start: {log}");
}

/// A store whose containers are force-removed on drop, so a failing test leaves no mount,
/// cgroup or process behind.
pub struct Store(pub Env);

impl std::ops::Deref for Store {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.0
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        for id in self.0.run(&["ps", "-aq", "--no-trunc"]).stdout().lines() {
            let _ = self.0.run(&["rm", "-f", id]);
        }
    }
}

/// A store holding the seeds' busybox image (../shared/fixtures/busybox-rootfs.tar) as `busybox`.
pub fn busybox() -> Store {
    let env = Env::new();
    env.run(&["import", fixture("busybox-rootfs.tar").to_str().unwrap(), "busybox"]).ok();
    Store(env)
}

/// Polls `f` until it returns Some: a container does things on its own schedule.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
