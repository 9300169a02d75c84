//! Running a skiff binary as a user would, against a store of its own in a temporary directory:
//! [`Env`] (the store and the binary), [`Run`] (one finished command), [`Store`] (an Env whose
//! containers are force-removed on drop) and [`busybox`] (a Store holding the seeds' busybox).
//!
//! The binary's path is a parameter: `env!("CARGO_BIN_EXE_skiff")` exists only in the skiff
//! package's own tests, which wrap these in `crates/skiff/tests/common`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A temporary directory whose `root/` is the store (`--root`), and the skiff binary to run on it.
pub struct Env {
    pub dir: tempfile::TempDir,
    bin: PathBuf,
}

/// One finished skiff command: its status and output.
pub struct Run {
    pub out: Output,
}

impl Run {
    /// Asserts it succeeded (showing its output when not).
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
    /// Asserts it failed.
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
    /// The exit code; -1 when a signal ended it.
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
}

impl Env {
    /// A new temporary directory, and `bin` (the skiff binary under test) to run against it.
    pub fn new(bin: impl Into<PathBuf>) -> Env {
        Env { dir: tempfile::tempdir().unwrap(), bin: bin.into() }
    }
    /// The binary it runs.
    pub fn bin(&self) -> &std::path::Path {
        &self.bin
    }
    /// The store root, `--root`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    /// A path in the temporary directory, beside the store.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// `skiff --root ROOT` with `SKIFF_ROOT` removed from its environment, to add arguments to.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.root());
        c.env_remove("SKIFF_ROOT");
        c
    }
    /// Runs `skiff ARGS...` with stdin from /dev/null.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_stdin(args, None)
    }
    /// Runs `skiff ARGS...` with `stdin` (written from a thread, so a command that does not read it
    /// all cannot block) or /dev/null.
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

/// An [`Env`] whose containers are force-removed on drop, so a failing test leaves no mount,
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

/// `env` holding the seeds' busybox image (`../shared/fixtures/busybox-rootfs.tar`, imported) as
/// `busybox`.
pub fn busybox(env: Env) -> Store {
    env.run(&["import", crate::fixture("busybox-rootfs.tar").to_str().unwrap(), "busybox"]).ok();
    Store(env)
}
