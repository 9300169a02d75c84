//! `skiff runtime`, runc's command line, as root: bundles made from the
//! host's static /bin/busybox and `skiff runtime spec`, run through create,
//! start, state, kill, delete, run and list, and runc's error messages.

use skiff_testutil::host::{apparmor_enabled, static_busybox};
use skiff_testutil::{alive, eventually, require, skip, Missing};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A runtime root and a bundle in a temporary directory; dropping it force-deletes what is left.
struct Rt {
    dir: tempfile::TempDir,
    /// Unique per test (container ids are also cgroup names, shared machine-wide).
    tag: String,
}

struct Out {
    out: Output,
    stdout_file: String,
}

impl Out {
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned() + &self.stdout_file
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    fn ok(self) -> Self {
        assert_eq!(self.code(), 0, "stdout: {}\nstderr: {}", self.stdout(), self.stderr());
        self
    }
}

impl Rt {
    fn new() -> Rt {
        let dir = tempfile::tempdir().unwrap();
        let tag = dir.path().file_name().unwrap().to_string_lossy().trim_start_matches('.').to_string();
        Rt { dir, tag }
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }
    fn id(&self, name: &str) -> String {
        format!("{name}-{}", self.tag)
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_skiff"));
        c.arg("runtime").arg("--root").arg(self.root()).args(args).stdin(Stdio::null());
        c
    }
    /// Runs with pipes (for commands that leave no process holding them).
    fn run(&self, args: &[&str]) -> Out {
        let out = self.cmd(args).output().unwrap();
        Out { out, stdout_file: String::new() }
    }
    /// Runs with stdout/stderr in files: a created container keeps the runtime's stdio.
    /// Where `run_files` puts the stdout of `args`.
    fn out_path(&self, args: &[&str]) -> PathBuf {
        self.dir.path().join(format!("out-{}", args.join("_").replace('/', "")))
    }
    fn run_files(&self, args: &[&str]) -> Out {
        let o = self.out_path(args);
        let e = o.with_extension("err");
        let status = self
            .cmd(args)
            .stdout(std::fs::File::create(&o).unwrap())
            .stderr(std::fs::File::create(&e).unwrap())
            .status()
            .unwrap();
        Out {
            out: Output { status, stdout: Vec::new(), stderr: std::fs::read(&e).unwrap() },
            stdout_file: std::fs::read_to_string(&o).unwrap(),
        }
    }
    fn state(&self, id: &str) -> serde_json::Value {
        let r = self.run(&["state", id]).ok();
        serde_json::from_str(&r.stdout()).unwrap()
    }
    /// A new runtime root with a bundle running `args`; Missing (the test skips) without a static busybox.
    fn with_bundle(args: &[&str]) -> Result<Rt, Missing> {
        static_busybox()?;
        let rt = Rt::new();
        rt.make_bundle(args);
        Ok(rt)
    }
    /// A bundle: rootfs with /bin/busybox and a few applet links, config.json from `spec` with
    /// no terminal and `args`.
    fn make_bundle(&self, args: &[&str]) {
        let b = self.bundle();
        let bin = b.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
        for applet in ["sh", "sleep", "echo", "cat", "ps", "true"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let r = self.run(&["spec", "--bundle", b.to_str().unwrap()]).ok();
        assert_eq!(r.stdout(), "");
        let path = b.join("config.json");
        let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        spec["process"]["terminal"] = false.into();
        spec["process"]["args"] = args.iter().map(|a| serde_json::Value::from(*a)).collect();
        std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(self.root()) {
            for e in rd.flatten() {
                let _ = self.run(&["delete", "--force", &e.file_name().to_string_lossy()]);
            }
        }
    }
}

#[test]
fn create_start_kill_delete() {
    let rt = require!(Rt::with_bundle(&["sleep", "1000"]));
    let id = rt.id("life");
    let pid_file = rt.dir.path().join("pid");
    let b = rt.bundle();
    rt.run_files(&["create", "--bundle", b.to_str().unwrap(), "--pid-file", pid_file.to_str().unwrap(), &id]).ok();

    let st = rt.state(&id);
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["status"], "created");
    assert_eq!(st["bundle"], b.to_str().unwrap());
    assert!(st["ociVersion"].as_str().unwrap().starts_with("1."));
    assert!(st["annotations"].is_object());
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0 && alive(pid));
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap().trim(), pid.to_string());
    // The process waits before exec: it is still skiff, not sleep.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!comm.starts_with("sleep"), "{comm}");
    let list = rt.run(&["list"]).ok().stdout();
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("STATUS"), "{list}");
    assert!(lines[1].starts_with(&id) && lines[1].contains("created"), "{list}");

    rt.run(&["start", &id]).ok();
    assert_eq!(rt.state(&id)["status"], "running");
    eventually("the init to exec sleep", || {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default().starts_with("sleep")
    });
    let r = rt.run(&["start", &id]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("cannot start an already running container"), "{}", r.stderr());
    // ps, pause, resume (runc's verbs).
    assert_eq!(rt.run(&["ps", "--format", "json", &id]).ok().stdout().trim(), format!("[{pid}]"));
    let table = rt.run(&["ps", &id]).ok().stdout();
    assert!(table.starts_with("UID") && table.contains("PID") && table.contains("sleep 1000"), "{table}");
    let r = rt.run(&["resume", &id]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("not paused"), "{}", r.stderr());
    rt.run(&["pause", &id]).ok();
    assert_eq!(rt.state(&id)["status"], "paused");
    rt.run(&["resume", &id]).ok();
    assert_eq!(rt.state(&id)["status"], "running");
    let r = rt.run(&["delete", &id]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains(&format!("cannot delete container {id} that is not stopped: running")));

    let r = rt.run(&["kill", &id, "BOGUS"]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("unknown signal"), "{}", r.stderr());
    rt.run(&["kill", &id, "KILL"]).ok();
    eventually("the container to stop", || rt.state(&id)["status"] == "stopped");
    assert_eq!(rt.state(&id)["pid"], 0);
    let r = rt.run(&["kill", &id]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("container not running"), "{}", r.stderr());
    let r = rt.run(&["start", &id]);
    assert!(r.stderr().contains("cannot start a container that has stopped"), "{}", r.stderr());

    rt.run(&["delete", &id]).ok();
    assert!(!alive(pid));
    let r = rt.run(&["state", &id]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("container does not exist"), "{}", r.stderr());
    for h in ["memory", "pids", ""] {
        let p = Path::new("/sys/fs/cgroup").join(h).join("skiff-runtime").join(&id);
        assert!(!p.exists(), "cgroup {} remains", p.display());
    }
}

#[test]
fn default_sigterm_and_numbers_and_delete_of_created() {
    let rt = require!(Rt::with_bundle(&[
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo > /dev/shm/ready; while true; do sleep 1; done"
    ]));
    let b = rt.bundle();
    let id = rt.id("term");
    rt.run_files(&["run", "-d", "-b", b.to_str().unwrap(), &id]).ok();
    assert_eq!(rt.state(&id)["status"], "running");
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    eventually("sh to set its trap", || Path::new(&format!("/proc/{pid}/root/dev/shm/ready")).exists());
    rt.run(&["kill", &id]).ok();
    eventually("the container to stop on SIGTERM", || rt.state(&id)["status"] == "stopped");
    rt.run(&["delete", &id]).ok();

    // A created container is deleted (and its waiting init killed) without --force.
    let id2 = rt.id("created");
    rt.run_files(&["create", "-b", b.to_str().unwrap(), &id2]).ok();
    let pid2 = rt.state(&id2)["pid"].as_i64().unwrap();
    rt.run(&["delete", &id2]).ok();
    assert!(!alive(pid2));

    // Signal numbers work as names do; --force deletes a running container.
    let id3 = rt.id("num");
    rt.run_files(&["run", "--detach", "-b", b.to_str().unwrap(), &id3]).ok();
    let pid3 = rt.state(&id3)["pid"].as_i64().unwrap();
    eventually("sh to set its trap", || Path::new(&format!("/proc/{pid3}/root/dev/shm/ready")).exists());
    rt.run(&["kill", &id3, "15"]).ok();
    eventually("the container to stop on signal 15", || rt.state(&id3)["status"] == "stopped");
    rt.run(&["delete", &id3]).ok();
    let id4 = rt.id("force");
    rt.run_files(&["run", "--detach", "-b", b.to_str().unwrap(), &id4]).ok();
    let pid4 = rt.state(&id4)["pid"].as_i64().unwrap();
    rt.run(&["delete", "-f", &id4]).ok();
    assert!(!alive(pid4));
    assert_eq!(rt.run(&["list", "-q"]).ok().stdout(), "");
}

#[test]
fn run_in_the_foreground_exits_with_the_code_and_deletes() {
    let rt = require!(Rt::with_bundle(&["sh", "-c", "echo hello from $(cat /proc/self/stat | cut -d' ' -f1); exit 3"]));
    std::os::unix::fs::symlink("busybox", rt.bundle().join("rootfs/bin/cut")).unwrap();
    let id = rt.id("fg");
    let b = rt.bundle();
    let r = rt.run(&["run", "--bundle", b.to_str().unwrap(), &id]);
    assert_eq!(r.code(), 3, "{}", r.stderr());
    // `sh` is pid 1; `cat` its child.
    assert!(r.stdout().starts_with("hello from "), "{}", r.stdout());
    assert_eq!(rt.run(&["list", "-q"]).ok().stdout(), "");
    assert_eq!(rt.run(&["list", "--format", "json"]).ok().stdout(), "null");

    let r = rt.run(&["spec", "-b", b.to_str().unwrap()]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("File config.json exists. Remove it first"), "{}", r.stderr());

    // Signals to `run` are forwarded to the container; killed by a signal is 128 + it, as runc.
    let path = b.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["process"]["args"] =
        serde_json::json!(["sh", "-c", "trap 'exit 7' TERM; echo > /dev/shm/ready; while true; do sleep 1; done"]);
    std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
    for (signal, code) in [("TERM", 7), ("KILL", 137)] {
        let mut child = rt.cmd(&["run", "-b", b.to_str().unwrap(), &id]).stdout(Stdio::null()).spawn().unwrap();
        eventually("the container to run", || {
            rt.run(&["state", &id]).code() == 0 && {
                let pid = rt.state(&id)["pid"].as_i64().unwrap_or(0);
                Path::new(&format!("/proc/{pid}/root/dev/shm/ready")).exists()
            }
        });
        if signal == "TERM" {
            rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::TERM)
                .unwrap();
        } else {
            rt.run(&["kill", &id, signal]).ok();
        }
        assert_eq!(child.wait().unwrap().code(), Some(code), "after SIG{signal}");
        let r = rt.run(&["state", &id]);
        assert!(r.stderr().contains("container does not exist"), "{}", r.stderr());
    }
}

#[test]
fn spec_writes_runc_default_config() {
    let rt = Rt::new();
    std::fs::create_dir_all(rt.bundle()).unwrap();
    let r = rt.cmd(&["spec"]).current_dir(rt.bundle()).output().unwrap();
    assert!(r.status.success());
    let text = std::fs::read_to_string(rt.bundle().join("config.json")).unwrap();
    assert!(text.starts_with("{\n\t\"ociVersion\""), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["process"]["terminal"], true);
    assert_eq!(v["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(v["root"], serde_json::json!({"path": "rootfs", "readonly": true}));
    let ns: Vec<&str> =
        v["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
    assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount"]);
}

#[test]
fn errors_like_runc() {
    let rt = Rt::new();
    for args in [["state", "nosuch"], ["start", "nosuch"], ["kill", "nosuch"], ["delete", "nosuch"]] {
        let r = rt.run(&args);
        assert_eq!(r.code(), 1, "{args:?}");
        assert!(r.stderr().contains("level=error msg=\"container does not exist\""), "{args:?}: {}", r.stderr());
    }
    rt.run(&["delete", "--force", "nosuch"]).ok();
    // runc's empty table: 12-wide columns.
    assert_eq!(rt.run(&["list"]).ok().stdout(), "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n");
    let r = rt.run(&["create", "--bundle", "/nonexistent-bundle", "x"]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("chdir /nonexistent-bundle: no such file or directory"), "{}", r.stderr());
    std::fs::create_dir_all(rt.bundle()).unwrap();
    let r = rt.run(&["create", "--bundle", rt.bundle().to_str().unwrap(), "x"]);
    assert!(r.stderr().contains("config.json not found"), "{}", r.stderr());
    let r = rt.run(&["create", "--bundle", rt.bundle().to_str().unwrap(), "bad/id"]);
    assert!(r.stderr().contains("invalid id format"), "{}", r.stderr());
    // --log: the logrus line goes to the file, the bare message to stderr; --log-format json.
    let log = rt.dir.path().join("log");
    let r = rt.cmd(&["--log", log.to_str().unwrap(), "--log-format", "json", "state", "nosuch"]).output().unwrap();
    assert_eq!(r.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&r.stderr), "container does not exist\n");
    let line: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(line["level"], "error");
    assert_eq!(line["msg"], "container does not exist");
    // A missing command: usage error, exit 1 (runc's "Incorrect Usage").
    assert_eq!(rt.run(&["kill"]).code(), 1);
}

#[test]
fn duplicate_ids_are_refused() {
    let rt = require!(Rt::with_bundle(&["sleep", "1000"]));
    let id = rt.id("dup");
    let b = rt.bundle();
    rt.run_files(&["create", "-b", b.to_str().unwrap(), &id]).ok();
    let r = rt.run_files(&["create", "-b", b.to_str().unwrap(), &id]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("container with given ID already exists"), "{}", r.stderr());
    assert_eq!(rt.state(&id)["status"], "created");
    rt.run(&["delete", &id]).ok();
}

/// Receives one fd sent with SCM_RIGHTS.
fn recv_fd(sock: &std::os::unix::net::UnixStream) -> std::os::fd::OwnedFd {
    use std::os::fd::AsRawFd;
    let (data, fd) = skiff_runtime::recv_msg(sock.as_raw_fd()).expect("recvmsg on the console socket");
    assert!(!data.is_empty(), "the console socket closed without a message");
    fd.expect("the message carries an fd (SCM_RIGHTS)")
}

#[test]
fn terminal_goes_to_the_console_socket() {
    let rt = require!(Rt::with_bundle(&["sh", "-c", "tty; sleep 1000"]));
    let path = rt.bundle().join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["process"]["terminal"] = true.into();
    std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
    let b = rt.bundle();
    let id = rt.id("tty");
    // Without a console socket, a detached terminal is refused, as by runc.
    let r = rt.run_files(&["create", "-b", b.to_str().unwrap(), &id]);
    assert!(r.stderr().contains("cannot allocate tty if runc will detach without setting console socket"));
    let sock = rt.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut child = rt
        .cmd(&["create", "-b", b.to_str().unwrap(), "--console-socket", sock.to_str().unwrap(), &id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let master = std::fs::File::from(recv_fd(&conn));
    assert!(child.wait().unwrap().success());
    rt.run(&["start", &id]).ok();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(master), &mut line).unwrap();
    assert_eq!(line.trim_end(), "/dev/pts/0");
    rt.run(&["delete", "-f", &id]).ok();
}

/// A hook running `sh -c SCRIPT` (the host's /bin/sh, or the container's after pivot_root).
fn sh_hook(script: &str) -> serde_json::Value {
    serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

/// The lines of the hooks' log: (kind, the rest).
fn hook_log(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (k, rest) = l.split_once(' ').unwrap_or((l, ""));
            (k.to_string(), rest.to_string())
        })
        .collect()
}

impl Rt {
    /// Sets the bundle's hooks (and an annotation hooks must see).
    fn set_hooks(&self, hooks: serde_json::Value) {
        let path = self.bundle().join("config.json");
        let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        spec["hooks"] = hooks;
        spec["annotations"] = serde_json::json!({"org.skiff.test": "hooks"});
        std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
    }
}

#[test]
fn hooks_run_where_and_when_the_spec_says_with_the_state_on_stdin() {
    let rt = require!(Rt::with_bundle(&["sleep", "1000"]));
    let log = rt.dir.path().join("hooks.log");
    let l = log.to_str().unwrap();
    // Each host-side hook logs its kind, its mount namespace and the state it read.
    let logged = |kind: &str| sh_hook(&format!("echo {kind} $(readlink /proc/self/ns/mnt) $(cat) >> {l}"));
    let mut start = sh_hook("cat > /dev/shm/start-state; echo \"$HOOKVAR\" > /dev/shm/start-env");
    start["env"] = serde_json::json!(["HOOKVAR=from the spec"]);
    rt.set_hooks(serde_json::json!({
        "prestart": [logged("prestart")],
        "createRuntime": [logged("createRuntime"), logged("createRuntime2")],
        "createContainer": [logged("createContainer")],
        "startContainer": [start],
        "poststart": [logged("poststart")],
        "poststop": [logged("poststop")],
    }));
    let id = rt.id("hooks");
    let b = rt.bundle();
    rt.run_files(&["create", "-b", b.to_str().unwrap(), &id]).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap().to_string_lossy().into_owned();
    let ctr_mnt = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap().to_string_lossy().into_owned();
    assert_ne!(host_mnt, ctr_mnt);
    let state_of = |rest: &str| -> (String, serde_json::Value) {
        let (ns, json) = rest.split_once(' ').unwrap();
        (ns.to_string(), serde_json::from_str(json).unwrap())
    };
    let lines = hook_log(&log);
    let kinds: Vec<&str> = lines.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["prestart", "createRuntime", "createRuntime2", "createContainer"], "{lines:?}");
    for (kind, rest) in &lines {
        let (ns, st) = state_of(rest);
        // createContainer runs in the container's namespaces, the others in the runtime's.
        assert_eq!(&ns, if kind == "createContainer" { &ctr_mnt } else { &host_mnt }, "{kind}");
        assert_eq!(st["status"], "creating", "{kind}");
        assert_eq!(st["pid"], pid, "{kind}");
        assert_eq!(st["id"], id.as_str());
        assert_eq!(st["bundle"], b.to_str().unwrap());
        assert_eq!(st["annotations"]["org.skiff.test"], "hooks");
    }
    // startContainer waits for start; poststart has run when start returns.
    assert!(!Path::new(&format!("/proc/{pid}/root/dev/shm/start-state")).exists());
    rt.run(&["start", &id]).ok();
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("/proc/{pid}/root/dev/shm/start-state")).unwrap())
            .unwrap();
    assert_eq!((st["status"].as_str(), st["pid"].as_i64()), (Some("created"), Some(pid)));
    let env = std::fs::read_to_string(format!("/proc/{pid}/root/dev/shm/start-env")).unwrap();
    assert_eq!(env.trim(), "from the spec");
    let lines = hook_log(&log);
    assert_eq!(lines.len(), 5, "{lines:?}");
    let (ns, st) = state_of(&lines[4].1);
    assert_eq!(
        (lines[4].0.as_str(), ns.as_str(), st["status"].as_str()),
        ("poststart", host_mnt.as_str(), Some("running"))
    );
    assert!(std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap().starts_with("sleep"));
    rt.run(&["kill", &id, "KILL"]).ok();
    eventually("the container to stop", || rt.state(&id)["status"] == "stopped");
    rt.run(&["delete", &id]).ok();
    let lines = hook_log(&log);
    assert_eq!(lines.len(), 6, "{lines:?}");
    let (_, st) = state_of(&lines[5].1);
    assert_eq!((lines[5].0.as_str(), st["status"].as_str()), ("poststop", Some("stopped")));
}

#[test]
fn a_failing_hook_fails_its_step_or_warns_as_the_spec_says() {
    let rt = require!(Rt::with_bundle(&["sleep", "1000"]));
    let b = rt.bundle();
    let failing = sh_hook("echo out-text; echo err-text >&2; exit 3");
    // Before the process: create fails with the hook's words, and nothing is left.
    for kind in ["prestart", "createRuntime", "createContainer"] {
        rt.set_hooks(serde_json::json!({ kind: [failing] }));
        let id = rt.id(kind);
        let r = rt.run_files(&["create", "-b", b.to_str().unwrap(), &id]);
        assert_eq!(r.code(), 1, "{kind}");
        let e = r.stderr();
        assert!(e.contains(&format!("error running {kind} hook #0 (/bin/sh): exit status 3")), "{kind}: {e}");
        assert!(e.contains("stdout: out-text") && e.contains("stderr: err-text"), "{kind}: {e}");
        assert!(rt.run(&["state", &id]).stderr().contains("container does not exist"), "{kind}");
        assert!(!Path::new("/sys/fs/cgroup/pids/skiff-runtime").join(&id).exists(), "{kind}: cgroup left");
    }
    // A hook that is not absolute, and one past its timeout.
    rt.set_hooks(serde_json::json!({"createRuntime": [{"path": "sh", "args": ["sh"]}]}));
    let r = rt.run_files(&["create", "-b", b.to_str().unwrap(), &rt.id("relative")]);
    assert!(r.stderr().contains("the hook path must be absolute"), "{}", r.stderr());
    let mut slow = sh_hook("exec sleep 100");
    slow["timeout"] = 1.into();
    rt.set_hooks(serde_json::json!({ "createRuntime": [slow] }));
    let r = rt.run_files(&["create", "-b", b.to_str().unwrap(), &rt.id("slow")]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("hook ran past its timeout of 1s"), "{}", r.stderr());

    // startContainer: start fails and the container is stopped.
    rt.set_hooks(serde_json::json!({ "startContainer": [failing] }));
    let id = rt.id("startc");
    rt.run_files(&["create", "-b", b.to_str().unwrap(), &id]).ok();
    let r = rt.run(&["start", &id]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("error running startContainer hook #0"), "{}", r.stderr());
    eventually("the container to stop", || rt.state(&id)["status"] == "stopped");
    rt.run(&["delete", &id]).ok();

    // poststart and poststop: warnings; the container runs, is deleted, and later hooks still run.
    let log = rt.dir.path().join("after.log");
    let after = sh_hook(&format!("echo ran >> {}", log.display()));
    rt.set_hooks(serde_json::json!({ "poststart": [failing, after], "poststop": [failing, after] }));
    let id = rt.id("post");
    rt.run_files(&["create", "-b", b.to_str().unwrap(), &id]).ok();
    let r = rt.run(&["start", &id]).ok();
    assert!(
        r.stderr().contains("level=warning") && r.stderr().contains("error running poststart hook #0"),
        "{}",
        r.stderr()
    );
    assert_eq!(rt.state(&id)["status"], "running");
    let r = rt.run(&["delete", "-f", &id]).ok();
    assert!(r.stderr().contains("error running poststop hook #0"), "{}", r.stderr());
    assert!(rt.run(&["state", &id]).stderr().contains("container does not exist"));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "ran\nran\n");
}

/// Runs `skiff runtime ARGS` with `files` as its fds 3, 4, ... (as a caller of `--preserve-fds` does).
fn run_with_fds(rt: &Rt, args: &[&str], files: &[&std::fs::File]) -> Out {
    use command_fds::{CommandFdExt, FdMapping};
    let mappings = files
        .iter()
        .enumerate()
        .map(|(i, f)| FdMapping { parent_fd: f.try_clone().unwrap().into(), child_fd: 3 + i as i32 })
        .collect();
    let mut c = rt.cmd(args);
    c.fd_mappings(mappings).unwrap();
    Out { out: c.output().unwrap(), stdout_file: String::new() }
}

/// `--preserve-fds N` hands the caller's fds 3 .. 3+N to the process as its own 3 .. 3+N, in `run`
/// and `exec`, as runc does; without it the process gets none of them.
#[test]
fn preserve_fds_hands_the_callers_fds_over() {
    let rt = require!(Rt::with_bundle(&["sh", "-c", "echo from-run >&3; echo second >&4; ls /proc/self/fd"]));
    let b = rt.bundle();
    std::os::unix::fs::symlink("busybox", b.join("rootfs/bin/ls")).unwrap();
    let d = tempfile::tempdir().unwrap();
    let (f3, f4) = (d.path().join("three"), d.path().join("four"));
    let open = |p: &std::path::Path| std::fs::File::create(p).unwrap();
    let id = rt.id("fds");
    let r =
        run_with_fds(&rt, &["run", "--preserve-fds", "2", "-b", b.to_str().unwrap(), &id], &[&open(&f3), &open(&f4)]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(std::fs::read_to_string(&f3).unwrap(), "from-run\n");
    assert_eq!(std::fs::read_to_string(&f4).unwrap(), "second\n");
    // 0-4 are the process's; ls opens one more to list them.
    let fds: Vec<String> = r.stdout().split_whitespace().map(String::from).collect();
    assert_eq!(fds[..5], ["0", "1", "2", "3", "4"], "{}", r.stdout());

    let rt = Rt::with_bundle(&["sleep", "1000"]).unwrap();
    let b = rt.bundle();
    let id = rt.id("fds-exec");
    rt.run_files(&["run", "-d", "-b", b.to_str().unwrap(), &id]).ok();
    let r = run_with_fds(&rt, &["exec", "--preserve-fds", "1", &id, "sh", "-c", "echo from-exec >&3"], &[&open(&f3)]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(std::fs::read_to_string(&f3).unwrap(), "from-exec\n");
    // Without the flag, fd 3 is not there.
    let r = run_with_fds(&rt, &["exec", &id, "sh", "-c", "echo x >&3"], &[&open(&f4)]);
    assert_ne!(r.code(), 0);
    assert_eq!(std::fs::read_to_string(&f4).unwrap(), "");
    rt.run(&["delete", "--force", &id]).ok();
}

#[test]
fn exec_runs_processes_in_the_container_as_runc_exec() {
    let rt = require!(Rt::with_bundle(&["sleep", "1000"]));
    for applet in ["id", "grep", "pwd", "readlink"] {
        std::os::unix::fs::symlink("busybox", rt.bundle().join("rootfs/bin").join(applet)).unwrap();
    }
    let b = rt.bundle();
    let id = rt.id("exec");
    rt.run_files(&["run", "-d", "-b", b.to_str().unwrap(), &id]).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    // The container's process settings, its namespaces, the exit code.
    let r = rt.run(&["exec", &id, "sh", "-c", "readlink /proc/1/exe; echo $PATH; exit 4"]);
    assert_eq!(r.code(), 4, "{}", r.stderr());
    assert_eq!(r.stdout(), "/bin/busybox\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/pid")).unwrap();
    let r = rt.run(&["exec", &id, "readlink", "/proc/self/ns/pid"]).ok();
    assert_eq!(r.stdout().trim(), ns(&pid.to_string()).to_string_lossy());
    assert_ne!(ns("self"), ns(&pid.to_string()));
    // runc's flags: user, cwd, env, an added capability.
    let r = rt.run(&[
        "exec",
        "-u",
        "1000:1001",
        "--cwd",
        "/bin",
        "-e",
        "FOO=bar",
        "--cap",
        "CAP_NET_ADMIN",
        &id,
        "sh",
        "-c",
        "id; pwd; echo $FOO; grep CapBnd /proc/self/status",
    ]);
    let out = r.ok().stdout();
    assert!(out.starts_with("uid=1000 gid=1001\n/bin\nbar\nCapBnd:\t0000000020001420\n"), "{out}");
    // A whole process from a file.
    let pj = rt.dir.path().join("process.json");
    std::fs::write(&pj, r#"{"args":["sh","-c","echo from the file; id -u"],"cwd":"/","user":{"uid":5,"gid":6}}"#)
        .unwrap();
    assert_eq!(rt.run(&["exec", "-p", pj.to_str().unwrap(), &id]).ok().stdout(), "from the file\n5\n");
    // Detached: returns at once, the pid in the file is the process in the container, and the
    // process writes to the stdio it was given (as a shim relies on with runc).
    let pf = rt.dir.path().join("exec.pid");
    let args = ["exec", "-d", "--pid-file", pf.to_str().unwrap(), &id, "sh", "-c", "echo detached; exec sleep 1000"];
    rt.run_files(&args).ok();
    let out = rt.out_path(&args);
    eventually("the detached process to write", || std::fs::read_to_string(&out).unwrap_or_default() == "detached\n");
    let epid: i32 = std::fs::read_to_string(&pf).unwrap().trim().parse().unwrap();
    // (sh execs sleep after the echo: wait for it rather than race it.)
    eventually("the detached process to exec sleep", || {
        std::fs::read_to_string(format!("/proc/{epid}/cmdline")).unwrap_or_default().starts_with("sleep")
    });
    let listed = rt.run(&["ps", "--format", "json", &id]).ok().stdout();
    assert!(listed.contains(&epid.to_string()), "{listed}");
    // Errors as runc's.
    let r = rt.run(&["exec", &id]);
    assert!(r.code() == 1 && r.stderr().contains("exec args cannot be empty"), "{}", r.stderr());
    let r = rt.run(&["exec", "--cap", "CAP_BOGUS", &id, "true"]);
    assert!(r.code() == 1 && r.stderr().contains("unknown capability"), "{}", r.stderr());
    rt.run(&["pause", &id]).ok();
    let r = rt.run(&["exec", &id, "true"]);
    assert!(r.code() == 1 && r.stderr().contains("cannot exec in a paused container"), "{}", r.stderr());
    rt.run(&["resume", &id]).ok();
    rt.run(&["kill", &id, "KILL"]).ok();
    eventually("the container to stop", || rt.state(&id)["status"] == "stopped");
    let r = rt.run(&["exec", &id, "true"]);
    assert!(r.code() == 1 && r.stderr().contains("cannot exec in a stopped container"), "{}", r.stderr());
    rt.run(&["delete", &id]).ok();
    assert!(!alive(epid as i64));
}

#[test]
fn update_sets_limits_and_events_reports_them() {
    let rt = require!(Rt::with_bundle(&["sleep", "1000"]));
    let b = rt.bundle();
    let id = rt.id("update");
    rt.run_files(&["run", "-d", "-b", b.to_str().unwrap(), &id]).ok();
    let cg = |h: &str, f: &str| {
        std::fs::read_to_string(Path::new("/sys/fs/cgroup").join(h).join("skiff-runtime").join(&id).join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    rt.run(&[
        "update",
        "--memory",
        "8000000",
        "--pids-limit",
        "42",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "50000",
        &id,
    ])
    .ok();
    // The kernel rounds to pages, as for docker update.
    assert_eq!(cg("memory", "memory.limit_in_bytes"), "7999488");
    assert_eq!(cg("pids", "pids.max"), "42");
    assert_eq!(cg("cpu", "cpu.cfs_quota_us"), "50000");
    // -r: an OCI resources object, here from stdin; flags win over it.
    let mut child = rt.cmd(&["update", "-r", "-", "--pids-limit", "64", &id]).stdin(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), br#"{"pids":{"limit":77},"memory":{"limit":16777216}}"#)
        .unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert_eq!(cg("pids", "pids.max"), "64");
    assert_eq!(cg("memory", "memory.limit_in_bytes"), "16777216");
    let r = rt.run(&["update", "--memory", "12x", &id]);
    assert!(r.code() == 1 && r.stderr().contains("invalid value for --memory"), "{}", r.stderr());
    assert_eq!(cg("memory", "memory.limit_in_bytes"), "16777216");

    let ev: serde_json::Value = serde_json::from_str(&rt.run(&["events", "--stats", &id]).ok().stdout()).unwrap();
    assert_eq!((ev["type"].as_str(), ev["id"].as_str()), (Some("stats"), Some(id.as_str())));
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 16777216);
    assert_eq!(ev["data"]["pids"], serde_json::json!({"current": 1, "limit": 64}));
    assert!(ev["data"]["blkio"].is_object());
    assert!(ev["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0);
    // The stream ends when the container stops.
    let mut stream = rt.cmd(&["events", "--interval", "50ms", &id]).stdout(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stream.stdout.as_mut().unwrap()), &mut first).unwrap();
    assert!(first.starts_with("{\"type\":\"stats\""), "{first}");
    rt.run(&["kill", &id, "KILL"]).ok();
    assert!(stream.wait().unwrap().success());
    let r = rt.run(&["update", "--pids-limit", "5", &id]);
    assert!(r.code() == 1 && r.stderr().contains("container not running"), "{}", r.stderr());
    rt.run(&["delete", &id]).ok();
}

/// A process that names an AppArmor profile: applied where the kernel has AppArmor (not testable
/// here without loading a profile), refused in plain words where it has not.
#[test]
fn an_apparmor_profile_without_apparmor_is_refused_plainly() {
    if apparmor_enabled() {
        skip!("this kernel has AppArmor");
    }
    let rt = require!(Rt::with_bundle(&["true"]));
    let path = rt.bundle().join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["process"]["apparmorProfile"] = "some-profile".into();
    std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
    let id = rt.id("aa");
    let r = rt.run(&["run", "-b", rt.bundle().to_str().unwrap(), &id]);
    assert_eq!(r.code(), 1);
    assert!(
        r.stderr().contains("AppArmor profile \\\"some-profile\\\", but this kernel has no AppArmor"),
        "{}",
        r.stderr()
    );
    assert_eq!(rt.run(&["list", "-q"]).ok().stdout(), "");
}
