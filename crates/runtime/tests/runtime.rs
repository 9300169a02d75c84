//! The runtime for real, as root: containers from a tiny busybox rootfs with Docker's own default
//! spec (`../shared/fixtures/facts/docker-oci-config.json`), checked from inside (/proc/self/status,
//! namespaces, mounts, fds) and from the host (cgroup files, hostile-rootfs leftovers).

use std::fs;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use skiff_runtime::cgroups::CgroupManager;
use skiff_runtime::oci_spec::runtime::{LinuxNamespaceType, LinuxResources, Mount, Spec};
use skiff_runtime::{exec, spawn, start_created, wait, ExitStatus, SpawnOptions, StdioSpec, Terminal};
use skiff_testutil::{docker_oci_config, fixtures};

/// A busybox rootfs: /bin/busybox and one symlink per applet.
fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let busybox = Path::new("/bin/busybox");
    assert!(busybox.exists(), "/bin/busybox missing: apt-get install -y busybox-static");
    let out = Command::new(busybox).arg("--list-full").output().unwrap();
    fs::create_dir_all(dir.path().join("bin")).unwrap();
    fs::copy(busybox, dir.path().join("bin/busybox")).unwrap();
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        if !applet.contains('/') || applet == "bin/busybox" {
            continue;
        }
        let p = dir.path().join(applet);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = symlink("/bin/busybox", &p);
    }
    for d in ["proc", "sys", "dev", "tmp", "etc"] {
        fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    dir
}

/// Docker's spec for `docker run busybox sleep 60`, pointed at `root` and running `args`.
fn docker_spec(root: &Path, name: &str, args: &[&str]) -> Spec {
    let mut v = docker_oci_config();
    v["root"]["path"] = root.to_string_lossy().into();
    v["process"]["args"] = args.iter().map(|a| serde_json::Value::from(*a)).collect();
    v["linux"]["cgroupsPath"] = format!("/skiff-test/{name}-{}", std::process::id()).into();
    // The resolv.conf/hostname/hosts binds name files of Docker's own container directory.
    let mounts = v["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["type"] != "bind");
    serde_json::from_value(v).unwrap()
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array for pipe2 to fill.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 returned two new fds owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn opts(name: &str) -> SpawnOptions {
    SpawnOptions {
        id: name.into(),
        stdio: StdioSpec::default(),
        terminal: Terminal::None,
        cgroup_root: "/sys/fs/cgroup".into(),
        wait_for_start: false,
        preserve_fds: Vec::new(),
        bundle: Default::default(),
    }
}

fn cgroup_of(spec: &Spec) -> CgroupManager {
    let path = spec.linux().as_ref().unwrap().cgroups_path().clone().unwrap();
    CgroupManager::new(Path::new("/sys/fs/cgroup"), &path).unwrap()
}

/// Runs the spec to completion; returns the exit status and stdout+stderr.
fn run_spec(spec: &Spec, name: &str) -> (ExitStatus, String) {
    let (r, w) = pipe();
    let mut o = opts(name);
    o.stdio = StdioSpec { stdin: None, stdout: Some(w.try_clone().unwrap()), stderr: Some(w) };
    let spawned = spawn(spec, o).unwrap();
    let mut out = String::new();
    fs::File::from(r).read_to_string(&mut out).unwrap();
    let status = wait(spawned.pid).unwrap();
    cgroup_of(spec).remove().unwrap();
    (status, out)
}

/// Kills and reaps a long-running container even when an assertion fails first.
struct Reap(i32);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = skiff_runtime::signal(self.0, libc::SIGKILL);
        let _ = wait(self.0);
    }
}

/// Runs a test's body in a forked child, as the runtime's tests that touch the kernel do: the
/// runtime forks only a single-threaded process (the test harness has a thread per test). A
/// failed assertion's message comes back through a pipe.
fn in_child(body: impl FnOnce()) {
    let (r, w) = pipe();
    // SAFETY: the child runs the test body and ends in _exit; glibc's fork handlers keep malloc
    // usable in the child of this (multi-threaded) test process.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        drop(r);
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
            Ok(()) => 0,
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let _ = std::io::Write::write_all(&mut fs::File::from(w), msg.as_bytes());
                1
            }
        };
        // SAFETY: ends the child without running the parent's destructors or atexit handlers.
        unsafe { libc::_exit(code) };
    }
    drop(w);
    let mut msg = String::new();
    let _ = fs::File::from(r).read_to_string(&mut msg);
    assert_eq!(wait(pid).unwrap(), ExitStatus::Exited(0), "in the forked child: {msg}");
}

fn field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .trim()
}

#[test]
fn docker_defaults_seen_from_inside() {
    in_child(|| {
        let root = rootfs();
        let spec = docker_spec(root.path(), "status", &["cat", "/proc/self/status"]);
        let (st, out) = run_spec(&spec, "status");
        assert_eq!(st, ExitStatus::Exited(0), "{out}");
        // The same as Docker's container shows (fixtures/facts/docker-run-status.txt).
        let docker = fs::read_to_string(fixtures().join("facts/docker-run-status.txt")).unwrap();
        for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Uid", "Gid", "Pid"] {
            assert_eq!(field(&out, key), field(&docker, key), "{key}");
        }
        assert_eq!(field(&out, "CapBnd"), "00000000a80425fb");
        // The caller's ignored SIGPIPE (Rust ignores it) and blocked signals are not inherited.
        assert_eq!(field(&out, "SigBlk"), "0000000000000000");
        let ign = u64::from_str_radix(field(&out, "SigIgn"), 16).unwrap();
        assert_eq!(ign & (1 << (libc::SIGPIPE - 1)), 0, "SIGPIPE ignored");
    });
}

#[test]
fn no_new_privileges_as_the_spec_says() {
    in_child(|| {
        let root = rootfs();
        let mut spec = docker_spec(root.path(), "nnp", &["cat", "/proc/self/status"]);
        let mut p = spec.process().clone().unwrap();
        p.set_no_new_privileges(Some(true));
        spec.set_process(Some(p));
        let (st, out) = run_spec(&spec, "nnp");
        assert_eq!(st, ExitStatus::Exited(0), "{out}");
        assert_eq!(field(&out, "NoNewPrivs"), "1");
        assert_eq!(field(&out, "Seccomp"), "2");
    });
}

#[test]
fn namespaces_differ_from_the_host() {
    in_child(|| {
        let root = rootfs();
        let script = "for n in mnt uts ipc pid net; do readlink /proc/self/ns/$n; done; hostname; cat /sys/class/net/lo/flags; ls /sys/class/net";
        let spec = docker_spec(root.path(), "ns", &["sh", "-c", script]);
        let (st, out) = run_spec(&spec, "ns");
        assert_eq!(st, ExitStatus::Exited(0), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        for (i, n) in ["mnt", "uts", "ipc", "pid", "net"].iter().enumerate() {
            let host = fs::read_link(format!("/proc/self/ns/{n}")).unwrap();
            assert_ne!(lines[i], host.to_string_lossy(), "{n} namespace is the host's");
            assert!(lines[i].starts_with(&format!("{n}:[")), "{}", lines[i]);
        }
        assert_eq!(lines[5], "fc2d9fbb148b", "hostname from the spec");
        // Loopback is up (IFF_UP) and the only interface of the private network namespace.
        let flags = u32::from_str_radix(lines[6].trim_start_matches("0x"), 16).unwrap();
        assert_eq!(flags & libc::IFF_UP as u32, libc::IFF_UP as u32, "{out}");
        assert_eq!(&lines[7..], ["lo"], "{out}");
    });
}

#[test]
fn seccomp_blocks_with_eperm() {
    in_child(|| {
        let root = rootfs();
        // unshare(2) is not in Docker's allow-list without CAP_SYS_ADMIN: EPERM from the filter.
        let spec = docker_spec(root.path(), "seccomp", &["unshare", "-U", "true"]);
        let (st, out) = run_spec(&spec, "seccomp");
        assert_ne!(st, ExitStatus::Exited(0));
        assert!(out.contains("Operation not permitted"), "{out}");
        // The same without the profile succeeds: it was seccomp, not a capability.
        let mut spec = docker_spec(root.path(), "noseccomp", &["unshare", "-U", "true"]);
        let mut l = spec.linux().clone().unwrap();
        l.set_seccomp(None);
        spec.set_linux(Some(l));
        let (st, out) = run_spec(&spec, "noseccomp");
        assert_eq!(st, ExitStatus::Exited(0), "{out}");
    });
}

#[test]
fn masked_and_readonly_paths() {
    in_child(|| {
        let root = rootfs();
        // /proc/keys and /proc/acpi exist on this kernel (/proc/kcore does not).
        let script = "stat -c '%t:%T' /proc/keys; wc -c < /proc/keys; ls /proc/acpi | wc -l; \
                  grep -E ' /proc/(sys|acpi|keys) ' /proc/self/mountinfo | awk '{print $5, $6}'; \
                  echo x > /proc/sys/kernel/domainname && echo writable";
        let spec = docker_spec(root.path(), "mask", &["sh", "-c", script]);
        let (_, out) = run_spec(&spec, "mask");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "1:3", "{out}");
        assert_eq!(lines[1].trim(), "0", "{out}");
        assert_eq!(lines[2].trim(), "0", "{out}");
        assert!(out.contains("/proc/sys ro,"), "{out}");
        assert!(out.contains("/proc/keys "), "{out}");
        assert!(out.contains("/proc/acpi ro,"), "{out}");
        assert!(!out.contains("writable"), "{out}");
        assert!(out.contains("Read-only file system"), "{out}");
    });
}

#[test]
fn dev_has_docker_devices() {
    in_child(|| {
        let root = rootfs();
        let spec = docker_spec(
            root.path(),
            "dev",
            &["sh", "-c", "ls /dev | tr '\\n' ' '; stat -c '%n %t:%T %a' /dev/null /dev/zero /dev/urandom"],
        );
        let (st, out) = run_spec(&spec, "dev");
        assert_eq!(st, ExitStatus::Exited(0), "{out}");
        for name in [
            "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty",
            "urandom", "zero",
        ] {
            assert!(out.split_whitespace().any(|w| w == name), "/dev/{name} missing: {out}");
        }
        assert!(out.contains("/dev/null 1:3 666"), "{out}");
    });
}

#[test]
fn only_stdio_fds_reach_the_container() {
    in_child(|| {
        let root = rootfs();
        // A host fd without close-on-exec must not leak (CVE-2024-21626).
        let leak = fs::File::open("/etc/hostname").unwrap();
        // SAFETY: clearing FD_CLOEXEC on an fd this test owns.
        unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&leak), libc::F_SETFD, 0) };
        let spec = docker_spec(root.path(), "fds", &["ls", "/proc/self/fd"]);
        let (st, out) = run_spec(&spec, "fds");
        assert_eq!(st, ExitStatus::Exited(0), "{out}");
        // ls itself opens one directory fd (3) to list.
        let fds: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(fds, ["0", "1", "2", "3"], "{out}");
        drop(leak);
    });
}

#[test]
fn hostile_symlinked_proc_and_dev_cannot_escape() {
    in_child(|| {
        for target in ["proc", "dev"] {
            let root = rootfs();
            let host = tempfile::tempdir().unwrap();
            let outside = host.path().join("x");
            fs::remove_dir(root.path().join(target)).unwrap();
            symlink(&outside, root.path().join(target)).unwrap();
            let spec = docker_spec(root.path(), &format!("hostile-{target}"), &["true"]);
            let err = spawn(&spec, opts("hostile")).unwrap_err();
            let _ = cgroup_of(&spec).remove();
            assert_eq!(err.exit_code(), 125);
            assert!(err.to_string().contains(&format!("/{target}")), "{err}");
            assert!(!outside.exists(), "{target}: the host path was touched");
        }
    });
}

#[test]
fn exit_codes_for_missing_and_unexecutable_commands() {
    in_child(|| {
        let root = rootfs();
        fs::write(root.path().join("notexec"), "#!/bin/sh\n").unwrap();
        let spec = docker_spec(root.path(), "e127", &["no-such-command"]);
        let err = spawn(&spec, opts("e127")).unwrap_err();
        assert_eq!(err.exit_code(), 127, "{err}");
        assert!(err.to_string().contains("executable file not found"), "{err}");
        let spec = docker_spec(root.path(), "e126", &["/notexec"]);
        let err = spawn(&spec, opts("e126")).unwrap_err();
        assert_eq!(err.exit_code(), 126, "{err}");
    });
}

fn with_resources(spec: &mut Spec, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v = serde_json::to_value(spec.linux().as_ref().unwrap().resources().clone().unwrap()).unwrap();
    f(&mut v);
    let r: LinuxResources = serde_json::from_value(v).unwrap();
    let mut l = spec.linux().clone().unwrap();
    l.set_resources(Some(r));
    spec.set_linux(Some(l));
}

#[test]
fn memory_limit_is_page_aligned_by_v1_and_updates_live() {
    in_child(|| {
        let root = rootfs();
        let mut spec = docker_spec(root.path(), "mem", &["true"]);
        with_resources(&mut spec, |r| r["memory"]["limit"] = 8_000_000.into());
        let mut o = opts("mem");
        o.wait_for_start = true;
        let spawned = spawn(&spec, o).unwrap();
        let cg = cgroup_of(&spec);
        let file = cg.dir("memory").unwrap().join("memory.limit_in_bytes");
        assert_eq!(fs::read_to_string(&file).unwrap().trim(), "7999488");
        let update: LinuxResources = serde_json::from_str(r#"{"memory":{"limit":16000000}}"#).unwrap();
        cg.update(&update).unwrap();
        assert_eq!(cg.stats().unwrap().memory_limit, Some(15998976));
        start_created(spawned.start_fd.unwrap()).unwrap();
        assert_eq!(wait(spawned.pid).unwrap(), ExitStatus::Exited(0));
        cg.remove().unwrap();
    });
}

#[test]
fn pids_limit_contains_a_fork_bomb() {
    in_child(|| {
        let root = rootfs();
        // The bomb forks until fork fails (the subshell then exits); the outer shell reads the count
        // with builtins only, as no fork is possible any more.
        let script = "(while :; do sleep 1000 & done) 2>/dev/null; read n < /sys/fs/cgroup/pids/pids.current; echo $n";
        let mut spec = docker_spec(root.path(), "pids", &["sh", "-c", script]);
        with_resources(&mut spec, |r| r["pids"] = serde_json::json!({"limit": 20}));
        let (r, w) = pipe();
        let mut o = opts("pids");
        o.stdio.stdout = Some(w.try_clone().unwrap());
        o.stdio.stderr = Some(w);
        let spawned = spawn(&spec, o).unwrap();
        let cg = cgroup_of(&spec);
        let mut line = [0u8; 16];
        let mut f = fs::File::from(r);
        let n = f.read(&mut line).unwrap();
        let text = String::from_utf8_lossy(&line[..n]).to_string();
        let current: u64 = text.trim().parse().unwrap_or_else(|_| panic!("{text} {:?}", wait(spawned.pid)));
        assert!((19..=20).contains(&current), "pids.current {current}");
        assert_eq!(cg.stats().unwrap().pids_limit, Some(20));
        cg.kill_all(libc::SIGKILL).unwrap();
        wait(spawned.pid).unwrap();
        // The orphaned sleeps were reparented inside the pid namespace and died with its init.
        while !cg.pids().unwrap().is_empty() {
            std::thread::yield_now();
        }
        cg.remove().unwrap();
    });
}

#[test]
fn oom_kill_is_sigkill_and_detected() {
    in_child(|| {
        let root = rootfs();
        // tail keeps the whole "line" of /dev/zero in memory: it grows until the OOM killer acts.
        let mut spec = docker_spec(root.path(), "oom", &["tail", "/dev/zero"]);
        with_resources(&mut spec, |r| {
            r["memory"]["limit"] = (32 << 20).into();
            r["memory"]["swap"] = (32 << 20).into();
        });
        let spawned = spawn(&spec, opts("oom")).unwrap();
        let cg = cgroup_of(&spec);
        assert_eq!(wait(spawned.pid).unwrap(), ExitStatus::Signaled(libc::SIGKILL));
        assert!(cg.oom_kill_count().unwrap() >= 1);
        cg.remove().unwrap();
    });
}

#[test]
fn exec_joins_namespaces_with_the_same_security() {
    in_child(|| {
        let root = rootfs();
        let spec = docker_spec(root.path(), "exec", &["sleep", "1000"]);
        let init = spawn(&spec, opts("exec")).unwrap();
        let _reap = Reap(init.pid);
        let mut p = spec.process().clone().unwrap();
        p.set_args(Some(vec![
            "sh".into(),
            "-c".into(),
            "cat /proc/self/status; for n in pid mnt net; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup"
                .into(),
        ]));
        let (r, w) = pipe();
        let stdio = StdioSpec { stdin: None, stdout: Some(w), stderr: None };
        let ex = exec(init.pid, &p, &spec, stdio, Terminal::None).unwrap();
        let mut out = String::new();
        fs::File::from(r).read_to_string(&mut out).unwrap();
        assert_eq!(wait(ex.pid).unwrap(), ExitStatus::Exited(0), "{out}");
        assert_eq!(field(&out, "CapBnd"), "00000000a80425fb");
        assert_eq!(field(&out, "CapInh"), "0000000000000000");
        assert_eq!(field(&out, "Seccomp"), "2");
        for n in ["pid", "mnt", "net"] {
            let theirs = fs::read_link(format!("/proc/{}/ns/{n}", init.pid)).unwrap();
            assert!(out.contains(&*theirs.to_string_lossy()), "{n}: {out}");
        }
        let cgpath = spec.linux().as_ref().unwrap().cgroups_path().clone().unwrap();
        assert!(out.contains(&format!(":memory:{}", cgpath.display())), "{out}");
        drop(_reap);
        cgroup_of(&spec).remove().unwrap();
    });
}

#[test]
fn pty_is_the_controlling_terminal() {
    in_child(|| {
        let root = rootfs();
        let mut spec = docker_spec(root.path(), "pty", &["sh", "-c", "tty; stty size; stat -c '%t:%T' /dev/console"]);
        with_process(&mut spec, |p| p["consoleSize"] = serde_json::json!({"height": 40, "width": 132}));
        let mut o = opts("pty");
        o.terminal = Terminal::Pty;
        let spawned = spawn(&spec, o).unwrap();
        let mut master = fs::File::from(spawned.pty_master.unwrap());
        let mut out = Vec::new();
        // Reading the master ends with EIO once the slave side is closed.
        let _ = master.read_to_end(&mut out);
        assert_eq!(wait(spawned.pid).unwrap(), ExitStatus::Exited(0));
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("/dev/pts/0"), "{out}");
        assert!(out.contains("40 132"), "{out}");
        assert!(out.contains("88:0"), "/dev/console is the pty (136:0): {out}");
        let _ = cgroup_of(&spec).remove();
    });
}

#[test]
fn namespaces_joined_by_path() {
    in_child(|| {
        let root = rootfs();
        let first = docker_spec(root.path(), "netowner", &["sleep", "1000"]);
        let owner = spawn(&first, opts("netowner")).unwrap();
        let reap = Reap(owner.pid);
        let mut spec = docker_spec(root.path(), "netjoiner", &["readlink", "/proc/self/ns/net"]);
        let v = serde_json::json!([{"type": "mount"}, {"type": "pid"}, {"type": "network", "path": format!("/proc/{}/ns/net", owner.pid)}]);
        let mut l = spec.linux().clone().unwrap();
        l.set_namespaces(Some(serde_json::from_value(v).unwrap()));
        spec.set_linux(Some(l));
        let (st, out) = run_spec(&spec, "netjoiner");
        assert_eq!(st, ExitStatus::Exited(0), "{out}");
        let theirs = fs::read_link(format!("/proc/{}/ns/net", owner.pid)).unwrap();
        assert_eq!(out.trim(), theirs.to_string_lossy());
        assert!(spec
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Network));
        drop(reap);
        cgroup_of(&first).remove().unwrap();
    });
}

#[test]
fn bind_mounts_read_only_and_inside_the_rootfs() {
    in_child(|| {
        let root = rootfs();
        let data = tempfile::tempdir().unwrap();
        fs::write(data.path().join("f"), "hello").unwrap();
        // A mount target that is a symlink pointing out of the rootfs lands inside it.
        symlink("/tmp/skiff-escape-target", root.path().join("link")).unwrap();
        let mut spec =
            docker_spec(root.path(), "bind", &["sh", "-c", "cat /data/f; echo x > /data/g || echo ro; cat /link/f"]);
        let mut mounts = spec.mounts().clone().unwrap();
        let m: Mount = serde_json::from_value(
        serde_json::json!({"destination": "/data", "type": "bind", "source": data.path(), "options": ["rbind", "ro"]}),
    )
    .unwrap();
        mounts.push(m);
        let m: Mount = serde_json::from_value(
            serde_json::json!({"destination": "/link", "type": "bind", "source": data.path(), "options": ["rbind"]}),
        )
        .unwrap();
        mounts.push(m);
        spec.set_mounts(Some(mounts));
        let (st, out) = run_spec(&spec, "bind");
        assert_eq!(st, ExitStatus::Exited(0), "{out}");
        assert!(out.starts_with("hello"), "{out}");
        assert!(out.contains("ro"), "{out}");
        assert!(!Path::new("/tmp/skiff-escape-target").exists());
        assert!(root.path().join("tmp/skiff-escape-target").is_dir());
    });
}

#[test]
fn user_namespace_with_id_maps() {
    in_child(|| {
        let root = rootfs();
        fs::set_permissions(root.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let mut spec = docker_spec(
            root.path(),
            "userns",
            &["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; ls -n /dev/null"],
        );
        let mut v = serde_json::to_value(spec.linux().clone().unwrap()).unwrap();
        v["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "user"}));
        v["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        v["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        // Docker's "0 2147483647" names gids outside the map: the kernel refuses it in a user namespace.
        v["sysctl"]["net.ipv4.ping_group_range"] = "0 65535".into();
        spec.set_linux(Some(serde_json::from_value(v).unwrap()));
        let (st, out) = run_spec(&spec, "userns");
        assert_eq!(st, ExitStatus::Exited(0), "{out}");
        let words: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(&words[..7], ["0", "100000", "65536", "0", "100000", "65536", "0"], "{out}");
        assert!(out.contains("1,   3") || out.contains("1, 3"), "/dev/null is the null device: {out}");
    });
}

#[test]
fn a_volume_over_proc_is_refused() {
    in_child(|| {
        let root = rootfs();
        let fake = tempfile::tempdir().unwrap();
        let mut spec = docker_spec(root.path(), "volproc", &["true"]);
        let mut mounts = spec.mounts().clone().unwrap();
        mounts.push(
        serde_json::from_value(
            serde_json::json!({"destination": "/proc", "type": "bind", "source": fake.path(), "options": ["rbind"]}),
        )
        .unwrap(),
    );
        spec.set_mounts(Some(mounts));
        let err = spawn(&spec, opts("volproc")).unwrap_err();
        let _ = cgroup_of(&spec).remove();
        assert!(err.to_string().contains("/proc"), "{err}");
    });
}

/// (mount point) -> (root, mount options, fs type, source, super options) from a mountinfo text.
fn mountinfo(text: &str) -> std::collections::BTreeMap<String, [String; 5]> {
    text.lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(" - ")?;
            let a: Vec<&str> = a.split_whitespace().collect();
            let b: Vec<&str> = b.split_whitespace().collect();
            Some((
                a[4].to_string(),
                [a[3].to_string(), a[5].to_string(), b[0].to_string(), b[1].to_string(), b[2].to_string()],
            ))
        })
        .collect()
}

#[test]
fn mounts_match_dockers_container() {
    in_child(|| {
        let root = rootfs();
        let spec = docker_spec(root.path(), "mountinfo", &["cat", "/proc/self/mountinfo"]);
        let (st, out) = run_spec(&spec, "mountinfo");
        assert_eq!(st, ExitStatus::Exited(0), "{out}");
        let ours = mountinfo(&out);
        let docker = mountinfo(&fs::read_to_string(fixtures().join("facts/docker-run-mountinfo.txt")).unwrap());
        let cg = spec.linux().as_ref().unwrap().cgroups_path().clone().unwrap();
        for (point, d) in &docker {
            if point == "/" || point.starts_with("/etc/") {
                continue; // Docker's overlay root and its resolv.conf/hostname/hosts files
            }
            let o = ours.get(point).unwrap_or_else(|| panic!("{point} missing in\n{out}"));
            if point.starts_with("/sys/fs/cgroup/") {
                assert_eq!(o[0], cg.to_string_lossy(), "{point}: the container's own cgroup");
            } else {
                assert_eq!(o[0], d[0], "{point} root");
            }
            assert_eq!(o[1], d[1], "{point} mount options");
            assert_eq!((&o[2], &o[3]), (&d[2], &d[3]), "{point} type and source");
            assert_eq!(o[4], d[4], "{point} superblock options");
        }
        let extra: Vec<&String> = ours.keys().filter(|p| *p != "/" && !docker.contains_key(*p)).collect();
        assert!(extra.is_empty(), "mounts Docker does not have: {extra:?}");
    });
}

#[test]
fn masking_refuses_a_dev_null_that_is_not_the_null_device() {
    in_child(|| {
        // CVE-2025-31133: with /dev from the image, /dev/null is a symlink to a procfs file.
        let root = rootfs();
        symlink("/proc/sys/kernel/core_pattern", root.path().join("dev/null")).unwrap();
        let before = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
        let mut spec = docker_spec(root.path(), "devnull", &["true"]);
        let mut mounts = spec.mounts().clone().unwrap();
        mounts.retain(|m| !m.destination().starts_with("/dev"));
        spec.set_mounts(Some(mounts));
        let err = spawn(&spec, opts("devnull")).unwrap_err();
        let _ = cgroup_of(&spec).remove();
        assert!(err.to_string().contains("/dev/null"), "{err}");
        assert_eq!(fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(), before);
    });
}

#[test]
fn freeze_thaw_and_stats_on_v1() {
    in_child(|| {
        let root = rootfs();
        let mut spec = docker_spec(root.path(), "freeze", &["sleep", "1000"]);
        with_resources(&mut spec, |r| r["memory"]["limit"] = (64 << 20).into());
        let init = spawn(&spec, opts("freeze")).unwrap();
        let reap = Reap(init.pid);
        let cg = cgroup_of(&spec);
        cg.freeze().unwrap();
        assert_eq!(fs::read_to_string(cg.dir("freezer").unwrap().join("freezer.state")).unwrap().trim(), "FROZEN");
        cg.thaw().unwrap();
        assert_eq!(fs::read_to_string(cg.dir("freezer").unwrap().join("freezer.state")).unwrap().trim(), "THAWED");
        let s = cg.stats().unwrap();
        assert_eq!(s.memory_limit, Some(64 << 20));
        assert!(s.memory_usage > 0);
        assert_eq!(s.pids_current, 1);
        assert_eq!(cg.pids().unwrap(), [init.pid]);
        drop(reap);
        cg.remove().unwrap();
    });
}

fn with_process(spec: &mut Spec, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v = serde_json::to_value(spec.process().clone().unwrap()).unwrap();
    f(&mut v);
    spec.set_process(Some(serde_json::from_value(v).unwrap()));
}

#[test]
fn user_groups_rlimits_and_a_created_workdir() {
    in_child(|| {
        let root = rootfs();
        let script =
        "id -u; id -g; id -G; ulimit -n; pwd; cat /proc/self/oom_score_adj; grep -E '^Cap(Eff|Bnd)' /proc/self/status";
        let mut spec = docker_spec(root.path(), "user", &["sh", "-c", script]);
        with_process(&mut spec, |p| {
            p["user"] = serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20]});
            p["rlimits"] = serde_json::json!([{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024}]);
            p["cwd"] = "/work/dir".into();
            p["oomScoreAdj"] = 500.into();
        });
        let (st, out) = run_spec(&spec, "user");
        assert_eq!(st, ExitStatus::Exited(0), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(&lines[..6], ["1000", "1000", "1000 10 20", "1024", "/work/dir", "500"], "{out}");
        // execve as a non-root user clears permitted and effective; the bounding set stays Docker's.
        assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
        assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
        assert!(root.path().join("work/dir").is_dir());
    });
}

#[test]
fn a_workdir_through_a_leaked_fd_is_refused() {
    in_child(|| {
        // CVE-2024-21626: process.cwd = /proc/self/fd/N must never give a host directory.
        let root = rootfs();
        let host_dir = fs::File::open("/").unwrap();
        // SAFETY: clearing FD_CLOEXEC on an fd this test owns.
        unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&host_dir), libc::F_SETFD, 0) };
        for n in 3..12 {
            let mut spec = docker_spec(root.path(), &format!("cwd{n}"), &["ls", "../../../etc/passwd"]);
            with_process(&mut spec, |p| p["cwd"] = format!("/proc/self/fd/{n}").into());
            let (r, w) = pipe();
            let mut o = opts("cwd");
            o.stdio.stdout = Some(w);
            match spawn(&spec, o) {
                Err(e) => assert_eq!(e.exit_code(), 125),
                Ok(sp) => {
                    let mut out = String::new();
                    fs::File::from(r).read_to_string(&mut out).unwrap();
                    assert_ne!(wait(sp.pid).unwrap(), ExitStatus::Exited(0), "fd {n}: {out}");
                }
            }
            let _ = cgroup_of(&spec).remove();
        }
        drop(host_dir);
    });
}

#[test]
fn read_only_root() {
    in_child(|| {
        let root = rootfs();
        let mut spec = docker_spec(
            root.path(),
            "rofs",
            &["sh", "-c", "touch /x || echo refused; touch /dev/shm/y && echo shm-ok"],
        );
        let mut r = spec.root().clone().unwrap();
        r.set_readonly(Some(true));
        spec.set_root(Some(r));
        let (_, out) = run_spec(&spec, "rofs");
        assert!(out.contains("Read-only file system") && out.contains("refused"), "{out}");
        assert!(out.contains("shm-ok"), "{out}");
        assert!(!root.path().join("x").exists());
    });
}

#[test]
fn exec_with_a_pty_runs_the_container_binary_directly() {
    in_child(|| {
        let root = rootfs();
        let spec = docker_spec(root.path(), "execpty", &["sleep", "1000"]);
        let init = spawn(&spec, opts("execpty")).unwrap();
        let reap = Reap(init.pid);
        let mut p = spec.process().clone().unwrap();
        // No skiff process is left between the container and its program (CVE-2019-5736): the exec'd
        // process is the container's own binary, and its parent is outside the container.
        p.set_args(Some(vec![
            "sh".into(),
            "-c".into(),
            "tty; readlink /proc/self/exe; grep PPid /proc/self/status".into(),
        ]));
        let ex = exec(init.pid, &p, &spec, StdioSpec::default(), Terminal::Pty).unwrap();
        let mut master = fs::File::from(ex.pty_master.unwrap());
        let mut out = Vec::new();
        let _ = master.read_to_end(&mut out);
        assert_eq!(wait(ex.pid).unwrap(), ExitStatus::Exited(0));
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("/dev/pts/"), "{out}");
        assert!(out.contains("/bin/busybox"), "{out}");
        assert!(out.contains("PPid:\t0"), "{out}");
        drop(reap);
        cgroup_of(&spec).remove().unwrap();
    });
}

#[test]
fn a_tmpfs_on_a_symlinked_dir_lands_inside_the_rootfs() {
    in_child(|| {
        // Debian images have /var/run -> /run; `--tmpfs /var/run` mounts on the rootfs's /run.
        let root = rootfs();
        fs::create_dir_all(root.path().join("run")).unwrap();
        fs::create_dir_all(root.path().join("var")).unwrap();
        symlink("/run", root.path().join("var/run")).unwrap();
        let mut spec =
            docker_spec(root.path(), "tmpfs", &["sh", "-c", "grep ' /run ' /proc/self/mountinfo | cut -d' ' -f5,9"]);
        let mut mounts = spec.mounts().clone().unwrap();
        mounts.push(serde_json::from_value(serde_json::json!({"destination": "/var/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]})).unwrap());
        spec.set_mounts(Some(mounts));
        let (st, out) = run_spec(&spec, "tmpfs");
        assert_eq!(st, ExitStatus::Exited(0), "{out}");
        assert_eq!(out.trim(), "/run tmpfs");
    });
}
