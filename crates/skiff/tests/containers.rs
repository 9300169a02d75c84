//! Containers end to end, as root: the built `skiff` (and `skiff-monitor`)
//! against a temporary store holding busybox imported from the seeds' rootfs.

mod common;

use common::{alive, busybox, eventually, fixture, skip, Env};

fn inspect(env: &Env, name: &str) -> serde_json::Value {
    let out = env.run(&["inspect", name]).ok().stdout();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

/// Asserts nothing of container `id` remains: mount, cgroup, state, process.
fn assert_gone(env: &Env, id: &str, pid: i64) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(id), "a mount of {id} remains");
    for h in ["memory", "pids", "cpu", "freezer", ""] {
        let p = std::path::Path::new("/sys/fs/cgroup").join(h).join("skiff").join(id);
        assert!(!p.exists(), "cgroup {} remains", p.display());
    }
    assert!(!std::path::Path::new("/run/skiff").join(id).exists(), "state remains");
    assert!(!env.root().join("containers").join(id).exists(), "container directory remains");
    if pid > 0 {
        assert!(!alive(pid), "process {pid} remains");
    }
}

#[test]
fn run_rm_prints_the_file_and_leaves_nothing() {
    let env = busybox();
    let r = env.run(&["run", "--rm", "busybox", "cat", "/release"]).ok();
    assert_eq!(r.stdout().trim(), "KatacodaPrivateBuild");
    assert_eq!(env.run(&["ps", "-aq"]).ok().stdout(), "");
    let left: Vec<_> = std::fs::read_dir(env.root().join("containers")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // The files were moved aside for the exiting monitor to delete: soon nothing is left there
    // either (nor any state directory moved aside).
    eventually("the monitor to delete the removed container's files", || {
        let scratch = std::fs::read_dir(env.root().join("tmp")).unwrap().count();
        let state = std::fs::read_dir("/run/skiff")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".rm-"))
            .filter(|e| std::fs::read_dir(e.path()).map(|d| d.count() > 0).unwrap_or(false))
            .count();
        (scratch == 0 && state == 0).then_some(())
    });
}

#[test]
fn exit_codes_are_dockers() {
    let env = busybox();
    assert_eq!(env.run(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]).code(), 3);
    let r = env.run(&["run", "--rm", "busybox", "nosuchcommand"]);
    assert_eq!(r.code(), 127, "{}", r.stderr());
    assert!(r.stderr().contains("nosuchcommand"), "{}", r.stderr());
    let r = env.run(&["run", "--rm", "busybox", "/release"]);
    assert_eq!(r.code(), 126, "{}", r.stderr());
    // (--pull never: a missing image would otherwise be looked for on Docker Hub.)
    let r = env.run(&["run", "--rm", "--pull", "never", "nosuchimage", "true"]);
    assert_eq!(r.code(), 125);
    assert!(r.stderr().contains("No such image: nosuchimage:latest"), "{}", r.stderr());
    let r = env.run(&["run", "--rm", "-u", "nobody", "busybox", "true"]);
    assert_eq!(r.code(), 125);
    assert!(r.stderr().contains("nobody"), "{}", r.stderr());
    // stderr of the container reaches ours; -e and -w reach the process.
    let r = env
        .run(&["run", "--rm", "-e", "A=b c", "-w", "/bin", "busybox", "sh", "-c", "echo $A; pwd; echo err >&2"])
        .ok();
    assert_eq!(r.stdout(), "b c\n/bin\n");
    assert_eq!(r.stderr(), "err\n");
}

/// Values that do not parse are the CLI's errors, in Docker's CLI's words; limits that parse but
/// cannot be used are refused as Docker's daemon refuses them; either way nothing is made.
#[test]
fn bad_flags_and_limits_are_refused_in_dockers_words() {
    let env = busybox();
    let flag_errors = [
        (&["run", "--memory", "12zb"][..], "invalid argument \"12zb\" for \"-m, --memory\" flag: invalid size: '12zb'\nSee 'skiff run --help'.\n"),
        (&["create", "--cpus", "abc"], "invalid argument \"abc\" for \"--cpus\" flag: failed to parse abc as a rational number\nSee 'skiff create --help'.\n"),
        (&["run", "--cpus", "0.0000000001"], "invalid argument \"0.0000000001\" for \"--cpus\" flag: value is too precise\nSee 'skiff run --help'.\n"),
        (&["run", "--shm-size", "-1"], "invalid argument \"-1\" for \"--shm-size\" flag: invalid size: '-1'\nSee 'skiff run --help'.\n"),
    ];
    for (args, want) in flag_errors {
        let r = env.run(&[args, &["busybox", "true"]].concat());
        assert_eq!((r.code(), r.stderr()), (125, want.to_string()), "{args:?}");
    }
    let daemon_errors = [
        (&["-m", "1k"][..], "Minimum memory limit allowed is 6MB"),
        (&["--memory-swap", "8m"], "You should always set the Memory limit when using Memoryswap limit, see usage"),
        (
            &["-m", "8m", "--memory-swap", "7m"],
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        (
            &["-m", "8m", "--memory-reservation", "9m"],
            "Minimum memory limit can not be less than memory reservation limit",
        ),
        (&["--cpuset-cpus", "0-4096"], "Requested CPUs are not available - requested 0-4096, available: "),
        (&["--blkio-weight", "5"], "Range of blkio weight is from 10 to 1000"),
        (&["-w", "tmp"], "the working directory 'tmp' is invalid, it needs to be an absolute path"),
        // The kernel clamps cpu.shares; the runtime reads it back, as runc does.
        (&["--cpu-shares", "1"], "the minimum allowed cpu-shares is 2"),
    ];
    for (args, want) in daemon_errors {
        let r = env.run(&[&["run", "--rm"], args, &["busybox", "true"]].concat());
        assert_eq!(r.code(), 125, "{args:?}: {}", r.stderr());
        assert!(r.stderr().starts_with("skiff: Error response from daemon: "), "{args:?}: {}", r.stderr());
        assert!(r.stderr().contains(want), "{args:?}: {}", r.stderr());
    }
    let cpus = std::thread::available_parallelism().unwrap().get();
    let r = env.run(&["create", "--cpus", &format!("{}", cpus + 1), "busybox", "true"]);
    assert_eq!(r.code(), 125);
    assert!(
        r.stderr()
            .contains(&format!("Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available")),
        "{}",
        r.stderr()
    );
    assert_eq!(env.run(&["ps", "-aq"]).ok().stdout(), "", "nothing was made");
    let left: Vec<_> = std::fs::read_dir(env.root().join("containers")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // `update` checks the limits it leads to.
    let id = env.run(&["create", "-m", "16m", "busybox", "true"]).ok().stdout().trim().to_string();
    let r = env.run(&["update", "--memory-reservation", "32m", &id]);
    assert_eq!(r.code(), 1);
    assert!(
        r.stderr().contains("Minimum memory limit can not be less than memory reservation limit"),
        "{}",
        r.stderr()
    );
    let r = env.run(&["update", "-m", "x", &id]);
    assert_eq!(
        r.stderr(),
        "invalid argument \"x\" for \"-m, --memory\" flag: invalid size: 'x'\nSee 'skiff update --help'.\n"
    );
    assert_eq!(inspect(&env, &id)["HostConfig"]["MemoryReservation"], 0);
    env.run(&["rm", &id]).ok();
}

#[test]
fn detached_lifecycle() {
    let env = busybox();
    let id = env
        .run(&["run", "-d", "--name", "db", "busybox", "sh", "-c", "echo hello; echo oops >&2; exec sleep 1000"])
        .ok()
        .stdout()
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{id}");
    let r = env.run(&["run", "-d", "--name", "db", "busybox", "true"]);
    assert_eq!(r.code(), 125);
    assert!(
        r.stderr().contains(&format!("The container name \"/db\" is already in use by container \"{id}\"")),
        "{}",
        r.stderr()
    );

    let ps = env.run(&["ps"]).ok().stdout();
    let mut lines = ps.lines();
    let header = lines.next().unwrap();
    for col in ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"] {
        assert!(header.contains(col), "{header}");
    }
    let row = lines.next().unwrap();
    assert!(row.starts_with(&id[..12]), "{row}");
    // Docker joins path and args with spaces (an argument with a space in single quotes, as
    // Docker 20.10 lists it: "sh -c 'echo one; ec…"), cuts at 20 columns and quotes.
    assert!(row.contains("   \"sh -c 'echo hello; …\"   "), "{row}");
    assert_eq!(inspect(&env, "db")["HostConfig"]["NetworkMode"], "default");
    // ps's rows are Docker's ContainerContext: its fields, its Label method, errors for the rest
    // (checked before listing, so even with no rows); a format showing .Size asks for the size.
    let out = env
        .run(&["ps", "--format", "{{.Names}}|{{.Label \"x\"}}|{{.Networks}}|{{.CreatedAt}}|{{.Size}}"])
        .ok()
        .stdout();
    let cells: Vec<&str> = out.trim().split('|').collect();
    assert_eq!(cells[..3], ["db", "", "bridge"], "{out}");
    assert!(cells[3].ends_with(" +0000 UTC") && !cells[3].contains('.'), "{out}");
    assert!(cells[4].contains("(virtual "), "{out}");
    for format in ["{{.Nope}}", "table {{.Nope}}"] {
        let r = env.run(&["ps", "--filter", "name=nothing-of-that-name", "--format", format]);
        assert_eq!(r.code(), 1);
        assert!(r.stderr().contains("failed to execute template: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"), "{}", r.stderr());
    }
    let r = env.run(&["ps", "--format", "{{.Label 1}}"]);
    assert!(r.stderr().contains("expected string"), "{}", r.stderr());
    assert!(row.contains(" Up ") && row.trim_end().ends_with("db"), "{row}");

    let logs = eventually("the log", || {
        let r = env.run(&["logs", "db"]).ok();
        (r.stdout() == "hello\n" && r.stderr() == "oops\n").then_some(r)
    });
    assert_eq!(logs.stdout(), "hello\n");
    let raw = std::fs::read_to_string(env.root().join(format!("containers/{id}/{id}-json.log"))).unwrap();
    let first: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    assert_eq!(first["log"], "hello\n");
    assert!(first["stream"] == "stdout" && first["time"].as_str().unwrap().ends_with('Z'), "{first}");

    let r = env.run(&["exec", "db", "cat", "/release"]).ok();
    assert_eq!(r.stdout().trim(), "KatacodaPrivateBuild");
    let r = env.run(&["exec", "-e", "X=1", "db", "env"]).ok().stdout();
    assert!(r.contains(&format!("HOSTNAME={}", &id[..12])) && r.contains("X=1") && r.contains("HOME=/"), "{r}");
    assert_eq!(env.run(&["exec", "db", "sh", "-c", "exit 7"]).code(), 7);
    let r = env.run(&["exec", "-t", "db", "sh", "-c", "tty; echo $TERM"]).ok().stdout();
    assert!(r.starts_with("/dev/pts/") && r.ends_with("\r\nxterm\r\n"), "{r:?}");
    assert_eq!(env.run(&["exec", "db", "nosuchcommand"]).code(), 127);
    assert_eq!(env.run(&["exec", "db", "echo", "-e", "-u"]).ok().stdout(), "-u\n");

    let state = inspect(&env, "db");
    assert_eq!(state["State"]["Running"], true);
    assert_eq!(state["Name"], "/db");
    let pid = state["State"]["Pid"].as_i64().unwrap();
    assert!(alive(pid));
    // Its parent is the monitor, which outlived the CLI.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: i64 = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(std::fs::read_to_string(format!("/proc/{ppid}/comm")).unwrap().trim(), "skiff-monitor");
    // Private namespaces.
    for ns in ["mnt", "uts", "ipc", "pid", "net"] {
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        let ours = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(theirs, ours, "{ns}");
    }
    let top = env.run(&["top", "db"]).ok().stdout();
    assert!(top.starts_with("UID") && top.contains("PPID") && top.contains("sleep 1000"), "{top}");

    env.run(&["update", "--memory", "8000000", "db"]).ok();
    let limit = std::fs::read_to_string(format!("/sys/fs/cgroup/memory/skiff/{id}/memory.limit_in_bytes"))
        .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/skiff/{id}/memory.max")))
        .unwrap();
    assert_eq!(limit.trim(), "7999488");
    let stats = env.run(&["stats", "--no-stream", "db"]).ok().stdout();
    assert!(stats.contains("7.629MiB"), "{stats}");

    env.run(&["stop", "-t", "1", "db"]).ok();
    let state = inspect(&env, "db");
    assert_eq!(state["State"]["Status"], "exited");
    assert_eq!(state["State"]["ExitCode"], 137);
    let ps = env.run(&["ps", "-a"]).ok().stdout();
    assert!(ps.contains("Exited (137)"), "{ps}");
    env.run(&["rm", "db"]).ok();
    assert_gone(&env, &id, pid);
    assert!(env.run(&["inspect", "db"]).fails().stderr().contains("No such object: db"));
}

#[test]
fn rm_force_removes_a_running_container() {
    let env = busybox();
    let id = env.run(&["run", "-d", "busybox", "sleep", "1000"]).ok().stdout().trim().to_string();
    let pid = inspect(&env, &id[..12])["State"]["Pid"].as_i64().unwrap();
    let r = env.run(&["rm", &id]);
    assert!(r.stderr().contains("cannot remove a running container"), "{}", r.stderr());
    env.run(&["rm", "-f", &id]).ok();
    assert_gone(&env, &id, pid);
}

#[test]
fn memory_limit_oom_kills_with_137() {
    let env = busybox();
    // `tail` keeps the current line in memory, and /dev/zero never ends one.
    let r = env.run(&["run", "--name", "hog", "--memory", "32m", "busybox", "busybox", "tail", "/dev/zero"]);
    assert_eq!(r.code(), 137, "{}", r.stderr());
    let state = inspect(&env, "hog");
    assert_eq!(state["State"]["OOMKilled"], true);
    assert_eq!(state["State"]["ExitCode"], 137);
    assert_eq!(state["HostConfig"]["Memory"], 32 * 1024 * 1024);
    env.run(&["rm", "hog"]).ok();
}

#[test]
fn stdin_tty_and_confinement() {
    let env = busybox();
    let r = env.run_stdin(&["run", "-i", "--rm", "busybox", "cat"], Some(b"from stdin\n")).ok();
    assert_eq!(r.stdout(), "from stdin\n");
    // -t: a pty inside (its line discipline turns \n into \r\n).
    let r = env.run(&["run", "-t", "--rm", "busybox", "sh", "-c", "tty; echo $TERM"]).ok();
    assert_eq!(r.stdout(), "/dev/pts/0\r\nxterm\r\n");
    // Docker's confinement, as the seeds show it.
    let status = env.run(&["run", "--rm", "busybox", "cat", "/proc/self/status"]).ok().stdout();
    assert!(status.contains("CapBnd:\t00000000a80425fb"), "{status}");
    assert!(status.contains("Seccomp:\t2"), "{status}");
    // One filter, as Docker's libseccomp installs.
    assert!(status.contains("Seccomp_filters:\t1"), "{status}");
    let status = env
        .run(&[
            "run",
            "--rm",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "busybox",
            "cat",
            "/proc/self/status",
        ])
        .ok()
        .stdout();
    assert!(status.contains("CapBnd:\t0000000000000000") && status.contains("NoNewPrivs:\t1"), "{status}");
    let r = env.run(&["run", "--rm", "--read-only", "busybox", "sh", "-c", "echo x > /x"]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("Read-only file system"), "{}", r.stderr());
    let r = env
        .run(&[
            "run",
            "--rm",
            "-h",
            "box",
            "--pids-limit",
            "50",
            "busybox",
            "sh",
            "-c",
            "hostname; cat /etc/hostname; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
        ])
        .ok();
    assert_eq!(r.stdout(), "box\nbox\n50\n");
}

/// A static i386 program, made byte by byte (no 32-bit toolchain needed): writes "ok\n", calls
/// unshare(0) through `int 0x80` (i386 syscall 310) and exits with that call's errno (0 if it
/// succeeded).
fn i386_probe() -> Vec<u8> {
    const BASE: u32 = 0x0804_8000;
    const CODE: u32 = 52 + 32;
    let mov = |reg: u8, v: u32| [vec![0xb8 + reg], v.to_le_bytes().to_vec()].concat();
    let (eax, ecx, edx, ebx) = (0, 1, 2, 3);
    let mut code = Vec::new();
    code.extend(mov(eax, 4)); // write(1, msg, 3)
    code.extend(mov(ebx, 1));
    let msg_at = code.len() + 1;
    code.extend(mov(ecx, 0));
    code.extend(mov(edx, 3));
    code.extend([0xcd, 0x80]);
    code.extend(mov(eax, 310)); // unshare(0)
    code.extend([0x31, 0xdb, 0xcd, 0x80]);
    code.extend([0xf7, 0xd8, 0x89, 0xc3]); // exit(-eax)
    code.extend(mov(eax, 1));
    code.extend([0xcd, 0x80]);
    let msg = BASE + CODE + code.len() as u32;
    code[msg_at..msg_at + 4].copy_from_slice(&msg.to_le_bytes());
    code.extend(b"ok\n");
    let size = CODE + code.len() as u32;
    let mut elf = b"\x7fELF\x01\x01\x01".to_vec();
    elf.resize(16, 0);
    for half in [2u16, 3] {
        elf.extend(half.to_le_bytes()); // ET_EXEC, EM_386
    }
    for word in [1, BASE + CODE, 52, 0, 0] {
        elf.extend(word.to_le_bytes()); // version, entry, phoff, shoff, flags
    }
    for half in [52u16, 32, 1, 0, 0, 0] {
        elf.extend(half.to_le_bytes()); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    }
    for word in [1, 0, BASE, BASE, size, size, 5, 0x1000] {
        elf.extend(word.to_le_bytes()); // PT_LOAD of the whole file, r-x
    }
    elf.extend(code);
    elf
}

/// Docker's profile lists i386 and x32 beside x86_64 (its `archMap`): a 32-bit program runs, and
/// its calls get the same decisions by their i386 numbers.
#[test]
fn i386_programs_run_under_the_default_seccomp_profile() {
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("probe32");
    std::fs::write(&probe, i386_probe()).unwrap();
    std::fs::set_permissions(&probe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    if std::process::Command::new(&probe).output().map(|o| o.stdout != b"ok\n").unwrap_or(true) {
        skip!("this kernel runs no i386 programs (no IA32 emulation)");
    }
    let env = busybox();
    let vol = format!("{}:/t:ro", dir.path().display());
    // unshare needs CAP_SYS_ADMIN in Docker's profile: EPERM, as for a 64-bit program.
    let r = env.run(&["run", "--rm", "-v", &vol, "busybox", "/t/probe32"]);
    assert_eq!((r.stdout().as_str(), r.code()), ("ok\n", libc::EPERM), "{}", r.stderr());
    let r = env.run(&["run", "--rm", "--security-opt", "seccomp=unconfined", "-v", &vol, "busybox", "/t/probe32"]);
    assert_eq!((r.stdout().as_str(), r.code()), ("ok\n", 0), "{}", r.stderr());
}

#[test]
fn container_network_is_shared() {
    let env = busybox();
    let db = env.run(&["run", "-d", "--name", "db", "busybox", "sleep", "1000"]).ok().stdout().trim().to_string();
    let web =
        env.run(&["run", "-d", "--name", "web", "--net", "container:db", "busybox", "sleep", "1000"]).ok().stdout();
    let pid = |n: &str| inspect(&env, n)["State"]["Pid"].as_i64().unwrap();
    let ns = |p: i64, n: &str| std::fs::read_link(format!("/proc/{p}/ns/{n}")).unwrap();
    let (a, b) = (pid("db"), pid("web"));
    assert_eq!(ns(a, "net"), ns(b, "net"));
    assert_ne!(ns(a, "pid"), ns(b, "pid"));
    assert_ne!(ns(a, "cgroup"), std::fs::read_link("/proc/self/ns/cgroup").unwrap());
    assert_eq!(inspect(&env, "web")["HostConfig"]["NetworkMode"], "container:db");
    env.run(&["rm", "-f", "db", "web"]).ok();
    assert_gone(&env, &db, a);
    assert_gone(&env, web.trim(), b);
}

#[test]
fn files_pause_restart_wait_rename_prune() {
    let env = busybox();
    let id = env
        .run(&[
            "run",
            "-d",
            "--name",
            "box",
            "busybox",
            "sh",
            "-c",
            "echo new > /added; rm /release; mkdir -p /etc; echo x > /etc/x; exec sleep 1000",
        ])
        .ok()
        .stdout()
        .trim()
        .to_string();
    let diff = eventually("the changes", || {
        let d = env.run(&["diff", "box"]).ok().stdout();
        d.contains("A /etc/x").then_some(d)
    });
    assert!(diff.contains("A /added\n") && diff.contains("D /release\n"), "{diff}");
    // cp both ways (regular files), through symlink-safe resolution.
    let host = env.path("added");
    env.run(&["cp", "box:/added", host.to_str().unwrap()]).ok();
    assert_eq!(std::fs::read_to_string(&host).unwrap(), "new\n");
    std::fs::write(env.path("in"), "into the box\n").unwrap();
    env.run(&["cp", env.path("in").to_str().unwrap(), "box:/tmp-in"]).ok();
    assert_eq!(env.run(&["exec", "box", "cat", "/tmp-in"]).ok().stdout(), "into the box\n");
    // export: a tar of the merged root.
    let tar_path = env.path("box.tar");
    env.run(&["export", "-o", tar_path.to_str().unwrap(), "box"]).ok();
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(std::fs::File::open(&tar_path).unwrap());
    for e in ar.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert!(names.iter().any(|n| n == "added") && names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert!(!names.iter().any(|n| n == "release"), "{names:?}");

    env.run(&["pause", "box"]).ok();
    assert_eq!(inspect(&env, "box")["State"]["Status"], "paused");
    assert!(env.run(&["ps"]).ok().stdout().contains("(Paused)"));
    env.run(&["unpause", "box"]).ok();
    assert_eq!(inspect(&env, "box")["State"]["Status"], "running");

    let pid1 = inspect(&env, "box")["State"]["Pid"].as_i64().unwrap();
    env.run(&["restart", "-t", "0", "box"]).ok();
    let state = inspect(&env, "box");
    assert_eq!(state["State"]["Status"], "running");
    assert_ne!(state["State"]["Pid"].as_i64().unwrap(), pid1);
    assert!(!alive(pid1));

    env.run(&["rename", "box", "crate"]).ok();
    assert_eq!(inspect(&env, "crate")["Name"], "/crate");
    env.run(&["kill", "-s", "TERM", "crate"]).ok(); // sh as pid 1 ignores TERM
    env.run(&["kill", "crate"]).ok();
    assert_eq!(env.run(&["wait", "crate"]).ok().stdout(), "137\n");
    let short = env.run(&["run", "-d", "busybox", "sh", "-c", "exit 4"]).ok().stdout();
    assert_eq!(env.run(&["wait", short.trim()]).ok().stdout(), "4\n");

    let pruned = env.run(&["container", "prune", "-f"]).ok().stdout();
    assert!(pruned.contains(&id) && pruned.contains(short.trim()), "{pruned}");
    assert_eq!(env.run(&["ps", "-aq"]).ok().stdout(), "");
    assert_gone(&env, &id, 0);
}

#[test]
fn logs_follow_tail_and_timestamps() {
    let env = busybox();
    env.run(&["run", "-d", "--name", "talk", "busybox", "sh", "-c", "for i in 1 2 3; do echo line $i; done"]).ok();
    // -f returns when the container has exited and everything is printed.
    env.run(&["wait", "talk"]).ok();
    let r = env.run(&["logs", "-f", "talk"]).ok();
    assert_eq!(r.stdout(), "line 1\nline 2\nline 3\n");
    assert_eq!(env.run(&["logs", "--tail", "1", "talk"]).ok().stdout(), "line 3\n");
    let ts = env.run(&["logs", "-t", "--tail", "1", "talk"]).ok().stdout();
    let (t, rest) = ts.split_once(' ').unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{ts}");
    assert_eq!(rest, "line 3\n");
    env.run(&["rm", "talk"]).ok();
}

#[test]
fn detached_rm_removes_itself_and_create_start_attach() {
    let env = busybox();
    let id = env.run(&["run", "-d", "--rm", "busybox", "true"]).ok().stdout().trim().to_string();
    eventually("the --rm container to go", || env.run(&["ps", "-aq"]).ok().stdout().is_empty().then_some(()));
    assert_gone(&env, &id, 0);
    // create + start -a: the exit code and output of the container.
    let id = env.run(&["create", "--name", "later", "busybox", "sh", "-c", "echo started; exit 9"]).ok().stdout();
    assert_eq!(id.trim().len(), 64);
    assert_eq!(inspect(&env, "later")["State"]["Status"], "created");
    assert!(env.run(&["ps", "-a"]).ok().stdout().contains("Created"));
    let r = env.run(&["start", "-a", "later"]);
    assert_eq!((r.code(), r.stdout().as_str()), (9, "started\n"));
    assert_eq!(env.run(&["logs", "later"]).ok().stdout(), "started\n");
    env.run(&["rm", "later"]).ok();
}

#[test]
fn commit_makes_an_image_of_the_changes() {
    let env = busybox();
    env.run(&["run", "--name", "maker", "busybox", "sh", "-c", "echo made > /made; rm /release"]).ok();
    let id = env.run(&["commit", "-m", "made it", "-c", "CMD [\"cat\", \"/made\"]", "maker", "made:1"]).ok().stdout();
    assert!(id.trim().starts_with("sha256:"), "{id}");
    // The new image runs with its CMD, sees the added file and not the deleted one.
    let r = env.run(&["run", "--rm", "made:1"]).ok();
    assert_eq!(r.stdout(), "made\n");
    let r = env.run(&["run", "--rm", "made:1", "ls", "/"]).ok().stdout();
    assert!(!r.contains("release") && r.contains("made"), "{r}");
    let hist = env.run(&["history", "--no-trunc", "--format", "{{.Comment}}", "made:1"]).ok().stdout();
    assert!(hist.starts_with("made it\n"), "{hist}");
    // The new image is free to go; busybox is in use by the container until it is removed.
    env.run(&["rmi", "made:1"]).ok();
    let r = env.run(&["rmi", "busybox"]).fails();
    assert!(r.stderr().contains("is using its referenced image"), "{}", r.stderr());
    env.run(&["rm", "maker"]).ok();
}

/// A foreground `run --name NAME busybox sh -c "TRAP; echo ready; sleep forever"`, returned once
/// it has printed "ready" (its trap is set).
fn run_until_ready(env: &Env, name: &str, trap: &str) -> std::process::Child {
    let script = format!("{trap}; echo ready; while true; do sleep 1; done");
    let mut cli = env
        .cmd()
        .args(["run", "--name", name, "busybox", "sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = [0u8; 6];
    std::io::Read::read_exact(cli.stdout.as_mut().unwrap(), &mut first).unwrap();
    assert_eq!(&first, b"ready\n");
    cli
}

#[test]
fn foreground_run_forwards_signals() {
    let env = busybox();
    let mut cli = run_until_ready(&env, "fg", "trap 'exit 42' INT");
    // Once the trap is set (it printed), interrupt the CLI as a terminal's Ctrl-C would.
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(cli.id() as i32, libc::SIGINT) };
    let status = cli.wait().unwrap();
    assert_eq!(status.code(), Some(42));
    assert_eq!(inspect(&env, "fg")["State"]["ExitCode"], 42);
    env.run(&["rm", "fg"]).ok();
}

/// A foreground run's monitor runs in the process forked from the CLI: it must not keep what the
/// CLI had open (the container's lock), or `stop` would wait for the container forever.
#[test]
fn a_foreground_run_can_be_logged_exec_d_and_stopped_from_elsewhere() {
    let env = busybox();
    let mut cli = run_until_ready(&env, "fg2", "trap 'exit 3' TERM");
    assert_eq!(env.run(&["exec", "fg2", "echo", "hi"]).ok().stdout(), "hi\n");
    assert_eq!(env.run(&["logs", "fg2"]).ok().stdout(), "ready\n");
    env.run(&["stop", "-t", "30", "fg2"]).ok();
    assert_eq!(cli.wait().unwrap().code(), Some(3));
    let state = &inspect(&env, "fg2")["State"];
    assert_eq!(state["ExitCode"], 3);
    assert_eq!(state["Running"], false);
    env.run(&["rm", "fg2"]).ok();
}

#[test]
fn resource_flags_reach_the_cgroup() {
    let env = busybox();
    if !std::path::Path::new("/sys/fs/cgroup/cpu/cpu.shares").exists() {
        skip!("cgroup v1 cpu controller not here");
    }
    let r = env
        .run(&[
            "run", "--rm", "--cpu-shares", "512", "--cpuset-cpus", "0", "--memory-reservation", "16m", "--cpus", "0.5",
            "--memory", "64m", "busybox", "sh", "-c",
            "cd /sys/fs/cgroup; cat cpu/cpu.shares cpuset/cpuset.cpus memory/memory.soft_limit_in_bytes cpu/cpu.cfs_quota_us memory/memory.limit_in_bytes",
        ])
        .ok();
    assert_eq!(r.stdout(), "512\n0\n16777216\n50000\n67108864\n");
}

#[test]
fn named_and_anonymous_volumes() {
    let env = busybox();
    env.run(&["run", "--rm", "-v", "store:/data", "busybox", "sh", "-c", "echo kept > /data/f"]).ok();
    let r = env.run(&["run", "--rm", "-v", "store:/data:ro", "busybox", "sh", "-c", "cat /data/f; echo x > /data/g"]);
    assert_eq!(r.stdout(), "kept\n");
    assert!(r.stderr().contains("Read-only file system"), "{}", r.stderr());
    assert_eq!(std::fs::read_to_string(env.root().join("volumes/store/_data/f")).unwrap(), "kept\n");
    // -v /path: an anonymous volume, removed by rm -v.
    env.run(&["run", "--name", "anon", "-v", "/scratch", "busybox", "sh", "-c", "echo a > /scratch/a"]).ok();
    let mounts = inspect(&env, "anon")["Mounts"].clone();
    assert_eq!(mounts[0]["Type"], "volume", "{mounts}");
    assert_eq!(mounts[0]["Destination"], "/scratch");
    let src = std::path::PathBuf::from(mounts[0]["Source"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(src.join("a")).unwrap(), "a\n");
    env.run(&["rm", "-v", "anon"]).ok();
    assert!(!src.exists());
    assert!(env.root().join("volumes/store/_data/f").exists());
}

#[test]
fn features_image_user_workdir_volume_copy_up() {
    let env = busybox();
    env.run(&["load", "-i", fixture("features.docker.tar").to_str().unwrap()]).ok();
    // ENTRYPOINT + CMD, ENV, USER 1000 and WORKDIR /data, as Docker runs it.
    assert_eq!(env.run(&["run", "--rm", "features:1.0"]).ok().stdout(), "hello docker, world\n");
    let r = env.run(&["run", "--rm", "--entrypoint", "sh", "features:1.0", "-c", "id -u; pwd"]).ok();
    assert_eq!(r.stdout(), "1000\n/data\n");
    // VOLUME /data is an anonymous volume that starts with the image's content (owner and mode kept).
    let r = env
        .run(&[
            "run",
            "--rm",
            "-u",
            "0",
            "--entrypoint",
            "sh",
            "features:1.0",
            "-c",
            "cat /data/keep/a; stat -c %a /data/keep/a; mount | grep -c ' /data '",
        ])
        .ok();
    assert_eq!(r.stdout(), "one\n600\n1\n");
    assert_eq!(std::fs::read_dir(env.root().join("volumes")).unwrap().count(), 0, "--rm removes anonymous volumes");
}

#[test]
fn ps_filters_and_formats() {
    let env = busybox();
    env.run(&["create", "--name", "idle", "busybox", "true"]).ok();
    env.run(&["run", "--name", "done", "busybox", "sh", "-c", "exit 2"]);
    let up = env.run(&["run", "-d", "--name", "up", "busybox", "sleep", "1000"]).ok().stdout();
    let names = |args: &[&str]| {
        let mut v: Vec<String> = env
            .run(&[&["ps", "--format", "{{.Names}}"], args].concat())
            .ok()
            .stdout()
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&[]), vec!["up"]);
    assert_eq!(names(&["-a"]), vec!["done", "idle", "up"]);
    assert_eq!(names(&["-f", "status=exited"]), vec!["done"]);
    assert_eq!(names(&["-f", "status=created"]), vec!["idle"]);
    assert_eq!(names(&["-a", "-f", "exited=2"]), vec!["done"]);
    assert_eq!(names(&["-a", "-f", "name=id"]), vec!["idle"]);
    assert_eq!(names(&["-a", "-f", &format!("id={}", &up[..8])]), vec!["up"]);
    let q = env.run(&["ps", "-q", "--no-trunc"]).ok().stdout();
    assert_eq!(q, up);
    let j = env.run(&["ps", "--format", "{{json .}}"]).ok().stdout();
    let v: serde_json::Value = serde_json::from_str(j.trim()).unwrap();
    assert_eq!(
        (v["Names"].as_str(), v["State"].as_str(), v["Image"].as_str()),
        (Some("up"), Some("running"), Some("busybox"))
    );
    let t = env.run(&["ps", "-a", "--format", "table {{.Names}}\t{{.Status}}"]).ok().stdout();
    assert!(t.starts_with("NAMES     STATUS\n"), "{t:?}");
    assert!(t.contains("Exited (2) ") && t.contains("Created"), "{t}");
    let raw = std::fs::read_to_string(env.root().join(format!("containers/{0}/{0}-json.log", up.trim())));
    assert!(raw.map(|r| r.is_empty()).unwrap_or(true));
}

#[test]
fn info_counts_follow_the_monitor() {
    let env = busybox();
    env.run(&["run", "-d", "busybox", "true"]).ok();
    // No skiff command looks at the container: its monitor records the exit in the metadata.
    let info = eventually("info to count the stopped container", || {
        let i = env.run(&["info"]).ok().stdout();
        i.contains("  Stopped: 1").then_some(i)
    });
    assert!(info.contains(" Containers: 1\n  Running: 0"), "{info}");
}

#[test]
fn concurrent_starts_and_removes_are_serialised() {
    let env = busybox();
    let id = env.run(&["create", "busybox", "sleep", "1000"]).ok().stdout().trim().to_string();
    let codes: Vec<i32> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4).map(|_| s.spawn(|| env.run(&["start", &id]).code())).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Docker's `start` of a running container succeeds without starting another.
    assert_eq!(codes, vec![0; 4]);
    let pid = inspect(&env, &id)["State"]["Pid"].as_i64().unwrap();
    // One init in the container's cgroup.
    let procs = std::fs::read_to_string(format!("/sys/fs/cgroup/pids/skiff/{id}/cgroup.procs"))
        .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/skiff/{id}/cgroup.procs")))
        .unwrap();
    assert_eq!(procs.lines().count(), 1, "{procs}");
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| env.run(&["rm", "-f", &id]));
        }
    });
    assert_gone(&env, &id, pid);
}

/// The `N:controllers:path` lines of `/proc/PID/cgroup` for the v1 hierarchies.
fn v1_cgroups(pid: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines().filter(|l| l.split(':').nth(1).is_some_and(|c| !c.is_empty())).map(String::from).collect()
}

#[test]
fn init_and_exec_processes_are_in_every_cgroup_of_the_container() {
    if !std::path::Path::new("/sys/fs/cgroup/pids/tasks").exists() {
        skip!("this host has no cgroup v1 hierarchies (the helper joins them through `tasks`)");
    }
    let env = busybox();
    let id = env.run(&["run", "-d", "busybox", "sleep", "600"]).ok().stdout().trim().to_string();
    let pid = inspect(&env, &id)["State"]["Pid"].as_i64().unwrap().to_string();
    let lines = v1_cgroups(&pid);
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(l.ends_with(&format!("/skiff/{id}")), "the init is outside the container's cgroup: {l}");
    }
    // The exec'd process joins the same cgroups (here: exec -d keeps it alive to look at).
    env.run(&["exec", "-d", &id, "sleep", "500"]).ok();
    let procs = eventually("the exec'd process in the pids cgroup", || {
        let p = std::fs::read_to_string(format!("/sys/fs/cgroup/pids/skiff/{id}/cgroup.procs")).unwrap();
        let v: Vec<String> = p.lines().map(String::from).collect();
        (v.len() == 2).then_some(v)
    });
    let other = procs.iter().find(|p| **p != pid).unwrap();
    assert_eq!(v1_cgroups(other), lines, "the exec'd process is in other cgroups than the init");
    env.run(&["rm", "-f", &id]).ok();
}

#[test]
fn mount_points_come_from_the_shared_init_layer_not_the_writable_layer() {
    let env = busybox();
    let id = env.run(&["run", "-d", "busybox", "sleep", "600"]).ok().stdout().trim().to_string();
    // busybox has no /proc, /sys, /dev or /etc: the init layer provides them, so starting the
    // container writes nothing into its own layer, and `diff` reports nothing.
    let upper = env.root().join("containers").join(&id).join("upper");
    let written: Vec<_> = std::fs::read_dir(&upper).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(written.is_empty(), "the start wrote {written:?} into the writable layer");
    assert_eq!(env.run(&["diff", &id]).ok().stdout(), "");
    let hosts = env.run(&["exec", &id, "cat", "/etc/hosts"]).ok().stdout();
    assert!(hosts.contains("localhost"), "{hosts}");
    let layers: Vec<_> =
        std::fs::read_dir(env.root().join("init-layers")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(layers.len(), 1, "{layers:?}");
    let layer = layers[0].clone();
    for d in ["proc", "sys", "dev", "etc"] {
        assert!(layer.join(d).is_dir(), "{d}");
    }
    for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
        assert_eq!(std::fs::metadata(layer.join(f)).unwrap().len(), 0, "{f}");
    }
    // A change by the container shows, as before.
    env.run(&["exec", &id, "sh", "-c", "echo x > /new-file"]).ok();
    assert_eq!(env.run(&["diff", &id]).ok().stdout().trim(), "A /new-file");
    env.run(&["rm", "-f", &id]).ok();
    assert!(layer.is_dir(), "the init layer is shared: removing a container keeps it");
}

#[test]
fn cp_copies_trees_both_ways_and_stays_inside_the_container() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let env = busybox();
    let id = env.run(&["run", "-d", "busybox", "sleep", "600"]).ok().stdout().trim().to_string();
    let sh = |script: &str| env.run(&["exec", &id, "sh", "-c", script]).ok().stdout();
    sh("mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && chmod 750 /data/sub \
        && ln -s /etc/passwd /data/link && chown 1000:1000 /data/a && mkfifo /data/fifo && ln /data/a /data/sub/a2");

    // Out: a directory into an existing directory lands under its own name, with modes, a
    // symlink kept as a symlink (not followed), a fifo; ownership goes to the copying user
    // unless -a keeps it.
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    env.run(&["cp", &format!("{id}:/data"), out.to_str().unwrap()]).ok();
    let d = out.join("data");
    assert_eq!(std::fs::read_to_string(d.join("a")).unwrap(), "one\n");
    assert_eq!(std::fs::read_to_string(d.join("sub/b")).unwrap(), "two\n");
    assert_eq!(std::fs::metadata(d.join("sub")).unwrap().permissions().mode() & 0o7777, 0o750);
    assert_eq!(std::fs::read_link(d.join("link")).unwrap(), std::path::Path::new("/etc/passwd"));
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&std::fs::symlink_metadata(d.join("fifo")).unwrap().file_type()));
    assert_eq!(std::fs::metadata(d.join("a")).unwrap().uid(), 0);
    // Hard links inside the tree stay links to one file.
    assert_eq!(std::fs::metadata(d.join("a")).unwrap().ino(), std::fs::metadata(d.join("sub/a2")).unwrap().ino());
    let archived = env.path("archived");
    env.run(&["cp", "-a", &format!("{id}:/data/a"), archived.to_str().unwrap()]).ok();
    assert_eq!(std::fs::metadata(&archived).unwrap().uid(), 1000);
    // -a keeps a setuid bit along with the owner.
    sh("echo s > /data/suid && chown 1000:1000 /data/suid && chmod 4755 /data/suid");
    let suid = env.path("suid");
    env.run(&["cp", "-a", &format!("{id}:/data/suid"), suid.to_str().unwrap()]).ok();
    let m = std::fs::metadata(&suid).unwrap();
    assert_eq!((m.permissions().mode() & 0o7777, m.uid()), (0o4755, 1000));
    // "SRC/." copies the contents into the destination itself.
    let flat = env.path("flat");
    std::fs::create_dir(&flat).unwrap();
    env.run(&["cp", &format!("{id}:/data/."), flat.to_str().unwrap()]).ok();
    assert!(flat.join("sub/b").is_file() && !flat.join("data").exists());
    // A directory onto a file, or into a missing directory, fails naming the paths.
    let r = env.run(&["cp", &format!("{id}:/data"), archived.to_str().unwrap()]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("/data"), "{}", r.stderr());
    let r = env.run(&["cp", &format!("{id}:/data/a"), env.path("nodir/").to_str().unwrap()]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("nodir"), "{}", r.stderr());
    let r = env.run(&["cp", &format!("{id}:/nothing-here"), out.to_str().unwrap()]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("/nothing-here"), "{}", r.stderr());

    // In: a host tree into the container, merged into an existing directory.
    let tree = env.path("tree");
    std::fs::create_dir_all(tree.join("deep/er")).unwrap();
    std::fs::write(tree.join("deep/er/f"), "host\n").unwrap();
    std::fs::set_permissions(tree.join("deep/er/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
    env.run(&["cp", tree.to_str().unwrap(), &format!("{id}:/data")]).ok();
    assert_eq!(sh("cat /data/tree/deep/er/f; stat -c %a /data/tree/deep/er/f"), "host\n640\n");

    // A destination that is a symlink is written through as Docker does, what it names resolved
    // inside the container: a file it names, one it names that does not exist yet, one a link
    // climbing out names (it stops at the root).
    std::fs::write(env.path("payload"), "payload\n").unwrap();
    let payload = env.path("payload");
    sh("echo old > /data/target && ln -s /data/target /data/flink && ln -s /data/new /data/dangling \
        && ln -s ../../../../../data/climbed /data/climb");
    for link in ["flink", "dangling", "climb"] {
        env.run(&["cp", payload.to_str().unwrap(), &format!("{id}:/data/{link}")]).ok();
    }
    assert_eq!(sh("cat /data/target /data/new /data/climbed"), "payload\npayload\npayload\n");
    assert_eq!(sh("readlink /data/flink; readlink /data/dangling"), "/data/target\n/data/new\n");
    // A symlink naming a host path leads inside the container, never to the host file.
    let victim = env.path("victim");
    std::fs::write(&victim, "host data\n").unwrap();
    sh(&format!("ln -s {} /data/escape", victim.display()));
    let _ = env.run(&["cp", payload.to_str().unwrap(), &format!("{id}:/data/escape")]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "host data\n");
    // ... nor on the way out through a directory symlink, which resolves inside the root.
    sh("ln -s / /data/rootlink");
    let r = env.run(&["cp", &format!("{id}:/data/rootlink/release"), env.path("rel").to_str().unwrap()]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(std::fs::read_to_string(env.path("rel")).unwrap(), "KatacodaPrivateBuild\n");
    env.run(&["rm", "-f", &id]).ok();
}

#[test]
fn the_init_layer_keeps_the_images_directory_metadata() {
    // busybox with an /etc of its own: mode 700, owner 5:6, a fixed mtime.
    let mut b = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(std::fs::File::open(fixture("busybox-rootfs.tar")).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut h = e.header().clone();
        let path = e.path().unwrap().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if h.entry_type().is_symlink() || h.entry_type().is_hard_link() {
            let target = e.link_name().unwrap().unwrap().into_owned();
            b.append_link(&mut h, &path, &target).unwrap();
        } else {
            b.append_data(&mut h, &path, &data[..]).unwrap();
        }
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o700);
    h.set_uid(5);
    h.set_gid(6);
    h.set_mtime(1_000_000_000);
    h.set_size(0);
    b.append_data(&mut h, "etc/", &[][..]).unwrap();
    let tar = b.into_inner().unwrap();
    let env = busybox();
    std::fs::write(env.path("etc.tar"), &tar).unwrap();
    env.run(&["import", env.path("etc.tar").to_str().unwrap(), "withetc"]).ok();
    let stat = |img: &str| env.run(&["run", "--rm", img, "busybox", "stat", "-c", "%a %u %g %Y", "/etc"]).ok().stdout();
    assert_eq!(stat("withetc"), "700 5 6 1000000000\n");
    // An image without /etc gets the layer's plain one; the two images use different init layers.
    assert_eq!(stat("busybox").split(' ').take(3).collect::<Vec<_>>(), ["755", "0", "0"]);
    let layers = || {
        let names = std::fs::read_dir(env.root().join("init-layers")).unwrap().flatten().map(|e| e.file_name());
        names.filter(|n| n.to_string_lossy().starts_with("init-layer")).count()
    };
    assert_eq!(layers(), 2);
    // `container prune` collects the layers no container uses: a running busybox container keeps
    // its own (and can still use it); withetc's goes, and is made again when needed.
    let id = env.run(&["run", "-d", "busybox", "sleep", "600"]).ok().stdout().trim().to_string();
    env.run(&["container", "prune", "-f"]).ok();
    assert_eq!(layers(), 1);
    assert_eq!(env.run(&["exec", &id, "cat", "/etc/hostname"]).ok().stdout(), format!("{}\n", &id[..12]));
    env.run(&["rm", "-f", &id]).ok();
    env.run(&["container", "prune", "-f"]).ok();
    assert_eq!(layers(), 0);
    assert_eq!(stat("withetc"), "700 5 6 1000000000\n");
}

/// A GNU tar header of `kind`, owned by `id`:`id`, with `mode` and `size`, dated 0.
fn tar_header(kind: tar::EntryType, mode: u32, id: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(id);
    h.set_gid(id);
    h.set_mtime(0);
    h.set_size(size);
    h
}

/// `cp CONTAINER:SRC -` writes a tar stream as Docker's (directories ending in "/", hard links
/// inside the tree as links, symlinks kept); `cp - CONTAINER:DIR` extracts one (plain or gzip)
/// into an existing directory, owned by root unless -a; entries that would land outside refuse the
/// whole stream, and nothing reaches the host.
#[test]
fn cp_streams_tar_archives_both_ways() {
    let env = busybox();
    let id = env.run(&["run", "-d", "busybox", "sleep", "600"]).ok().stdout().trim().to_string();
    let sh = |script: &str| env.run(&["exec", &id, "sh", "-c", script]).ok().stdout();
    sh("mkdir -p /d/sub && echo hi > /d/a && ln /d/a /d/hard && ln -s a /d/link && chown 7:8 /d/a");
    let out = env.run(&["cp", &format!("{id}:/d"), "-"]).ok().out.stdout;
    let mut entries = Vec::new();
    for e in tar::Archive::new(&out[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let (path, kind) = (e.path().unwrap().to_string_lossy().into_owned(), e.header().entry_type());
        let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
        let mut body = String::new();
        std::io::Read::read_to_string(&mut e, &mut body).unwrap();
        entries.push((path, kind, link, body, e.header().uid().unwrap()));
    }
    use tar::EntryType as T;
    let want: Vec<(&str, T, Option<&str>, &str, u64)> = vec![
        ("d/", T::Directory, None, "", 0),
        ("d/a", T::Regular, None, "hi\n", 7),
        ("d/hard", T::Link, Some("d/a"), "", 7),
        ("d/link", T::Symlink, Some("a"), "", 0),
        ("d/sub/", T::Directory, None, "", 0),
    ];
    let got: Vec<(&str, T, Option<&str>, &str, u64)> =
        entries.iter().map(|(p, k, l, b, u)| (p.as_str(), *k, l.as_deref(), b.as_str(), *u)).collect();
    assert_eq!(got, want);

    // In: into an existing directory, merged; root's unless -a; gzip detected.
    let mut b = tar::Builder::new(Vec::new());
    b.append_data(&mut tar_header(T::Directory, 0o750, 1234, 0), "new/", std::io::empty()).unwrap();
    b.append_data(&mut tar_header(T::Regular, 0o640, 1234, 3), "new/f", &b"abc"[..]).unwrap();
    let plain = b.into_inner().unwrap();
    env.run_stdin(&["cp", "-", &format!("{id}:/d")], Some(&plain)).ok();
    assert_eq!(sh("cat /d/new/f; stat -c '%u %a' /d/new /d/new/f; cat /d/a"), "abc0 750\n0 640\nhi\n");
    env.run_stdin(&["cp", "-a", "-", &format!("{id}:/d/sub")], Some(&common::gzip(&plain))).ok();
    assert_eq!(sh("stat -c '%u' /d/sub/new/f"), "1234\n");
    // The stream written above, back in: its hard link is one again.
    env.run_stdin(&["cp", "-", &format!("{id}:/d/sub")], Some(&out)).ok();
    let inodes = sh("stat -c %i /d/sub/d/a /d/sub/d/hard");
    let inodes: Vec<&str> = inodes.lines().collect();
    assert_eq!(inodes.len(), 2);
    assert_eq!(inodes[0], inodes[1]);

    // Not a directory, or missing: refused, naming the destination.
    for dest in ["/d/a", "/missing"] {
        let r = env.run_stdin(&["cp", "-", &format!("{id}:{dest}")], Some(&plain));
        assert_ne!(r.code(), 0);
        assert!(r.stderr().contains(&format!("{dest}\" must be a directory")), "{}", r.stderr());
    }
    // An entry climbing out, or one through a symlink the stream itself made to a host path.
    let evil = |name: &str, link: Option<&str>| {
        let mut b = tar::Builder::new(Vec::new());
        b.append_link(&mut tar_header(T::Symlink, 0o777, 0, 0), "lnk", link.unwrap_or("/tmp")).unwrap();
        let mut h = tar_header(T::Regular, 0o644, 0, 2);
        // Written raw: the tar crate refuses to build a path with "..".
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, &b"no"[..]).unwrap();
        b.into_inner().unwrap()
    };
    let marker = format!("skiff-cp-escape-{}", std::process::id());
    let dangling = format!("/tmp/{marker}-dir");
    for stream in [
        evil(&format!("../../../../tmp/{marker}"), None),
        evil(&format!("lnk/{marker}"), Some("/tmp")),
        evil(&format!("lnk/{marker}"), Some(&dangling)),
    ] {
        let r = env.run_stdin(&["cp", "-", &format!("{id}:/d")], Some(&stream));
        assert_ne!(r.code(), 0, "{}", r.stdout());
        assert!(r.stderr().contains(&format!("{marker} is outside of /d")), "{}", r.stderr());
        assert!(!std::path::Path::new(&dangling).exists());
        assert!(!std::path::Path::new("/tmp").join(&marker).exists());
        assert!(!env.path("root/tmp").join(&marker).exists());
    }
    assert_eq!(sh(&format!("ls /tmp/{marker} /d/{marker} 2>/dev/null; echo done")), "done\n");
    // A hard link to a host file (absolute, or climbing) would copy the host's data in: refused.
    for target in ["/etc/hostname", "../../../../../../etc/hostname"] {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar_header(T::Link, 0o644, 0, 0);
        let raw = &mut h.as_old_mut().linkname;
        raw[..target.len()].copy_from_slice(target.as_bytes());
        h.set_path("hl").unwrap();
        h.set_cksum();
        b.append(&h, std::io::empty()).unwrap();
        let r = env.run_stdin(&["cp", "-", &format!("{id}:/d")], Some(&b.into_inner().unwrap()));
        assert_ne!(r.code(), 0, "{target}");
        assert!(r.stderr().contains("hl is outside of /d"), "{}", r.stderr());
        assert_eq!(sh("ls /d/hl 2>/dev/null; echo done"), "done\n");
    }

    // "SRC/." names its entries "./...", as Docker does; names and link names past the header's
    // 100 bytes stay whole (GNU long-name entries).
    let long = "x".repeat(120);
    let id2 = env.run(&["run", "-d", "busybox", "sleep", "600"]).ok().stdout().trim().to_string();
    let sh2 = |script: &str| env.run(&["exec", &id2, "sh", "-c", script]).ok().stdout();
    sh2(&format!(
        "mkdir -p /e/sub && echo hi > /e/a && ln -s a /e/link && echo l > /e/sub/{long} && ln /e/sub/{long} /e/sub/z"
    ));
    let out = env.run(&["cp", &format!("{id2}:/e/."), "-"]).ok().out.stdout;
    let names: Vec<(String, Option<String>)> = tar::Archive::new(&out[..])
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
            (e.path().unwrap().to_string_lossy().into_owned(), link)
        })
        .collect();
    let long_path = format!("./sub/{long}");
    let want: Vec<(&str, Option<&str>)> = vec![
        ("./", None),
        ("./a", None),
        ("./link", Some("a")),
        ("./sub/", None),
        (&long_path, None),
        ("./sub/z", Some(&long_path)),
    ];
    let got: Vec<(&str, Option<&str>)> = names.iter().map(|(p, l)| (p.as_str(), l.as_deref())).collect();
    assert_eq!(got, want);
}

/// `container prune` also removes the empty cgroups of containers that went without cleaning up
/// (no record, their monitor dead or no state left), and leaves those of any container that may
/// still be starting or running, in this store or another.
#[test]
fn container_prune_sweeps_orphaned_cgroups() {
    let hierarchies = ["memory", "pids"].map(|h| std::path::Path::new("/sys/fs/cgroup").join(h).join("skiff"));
    if !std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        skip!("no cgroup v1 memory hierarchy here");
    }
    let env = busybox();
    let id = |what: &str| common::sha256_hex(format!("{what}-{}-{:?}", std::process::id(), env.root()).as_bytes());
    let (orphan, dead_monitor, starting, live) = (id("orphan"), id("dead"), id("starting"), id("live"));
    for c in [&orphan, &dead_monitor, &starting, &live] {
        for h in &hierarchies {
            std::fs::create_dir_all(h.join(c)).unwrap();
        }
    }
    let state = |c: &str, monitor: Option<u32>| {
        let d = std::path::Path::new("/run/skiff").join(c);
        std::fs::create_dir_all(&d).unwrap();
        if let Some(m) = monitor {
            std::fs::write(d.join("start"), format!("1\n{m}\n2026-01-01T00:00:00Z\n")).unwrap();
        }
        d
    };
    // A monitor pid that is surely gone: a child we reaped.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let gone = child.id();
    child.wait().unwrap();
    let states = [state(&dead_monitor, Some(gone)), state(&starting, None), state(&live, Some(std::process::id()))];
    env.run(&["container", "prune", "-f"]).ok();
    for h in &hierarchies {
        assert!(!h.join(&orphan).exists() && !h.join(&dead_monitor).exists(), "{}", h.display());
        assert!(h.join(&starting).exists() && h.join(&live).exists(), "{}", h.display());
        for c in [&starting, &live] {
            std::fs::remove_dir(h.join(c)).unwrap();
        }
    }
    for d in states {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// Pruning asks first, as Docker does, unless -f; it reports what the removed containers' writable
/// layers held; `system prune` removes stopped containers as well as dangling images.
#[test]
fn prunes_ask_first_and_report_what_they_reclaimed() {
    let env = busybox();
    env.run(&["run", "busybox", "sh", "-c", "head -c 300000 /bin/busybox > /blob"]).ok();
    let id = env.run(&["ps", "-aq", "--no-trunc"]).ok().stdout().trim().to_string();
    let r = env.run_stdin(&["container", "prune"], Some(b"n\n")).ok();
    assert!(r.stderr().contains("WARNING! This will remove all stopped containers."), "{}", r.stderr());
    assert_eq!(env.run(&["ps", "-aq", "--no-trunc"]).ok().stdout().trim(), id, "kept on no");
    let r = env.run_stdin(&["container", "prune"], Some(b"y\n")).ok();
    assert!(r.stdout().starts_with(&format!("Deleted Containers:\n{id}\n\nTotal reclaimed space: ")), "{}", r.stdout());
    assert!(r.stdout().contains("Total reclaimed space: 300kB"), "{}", r.stdout());
    // system prune: the stopped container goes too.
    env.run(&["run", "busybox", "true"]).ok();
    let r = env.run_stdin(&["system", "prune"], Some(b"\n")).ok();
    assert!(r.stderr().contains("  - all stopped containers\n"), "{}", r.stderr());
    assert!(!env.run(&["ps", "-aq"]).ok().stdout().is_empty(), "no answer: nothing removed");
    let r = env.run(&["system", "prune", "-f"]).ok();
    assert!(r.stdout().starts_with("Deleted Containers:\n"), "{}", r.stdout());
    assert_eq!(env.run(&["ps", "-aq"]).ok().stdout(), "");
}

/// AppArmor as Docker applies it where the kernel has it (skiff's default profile, loaded by
/// skiff; unconfined when privileged; `--security-opt apparmor=` otherwise), and plainly said to
/// be missing where it has not.
#[test]
fn apparmor_is_applied_where_the_kernel_has_it_and_its_absence_is_said() {
    let env = busybox();
    let enabled = skiff_testutil::host::apparmor_enabled();
    let info = env.run(&["info"]).ok().stdout();
    assert_eq!(info.contains("  apparmor\n"), enabled, "{info}");
    if !enabled {
        eprintln!("this kernel has no AppArmor: checking that its absence is reported");
        let r = env.run(&["run", "--rm", "--security-opt", "apparmor=skiff-default", "busybox", "true"]).ok();
        assert!(r.stderr().contains("WARNING: AppArmor is not enabled"), "{}", r.stderr());
        let r = env.run(&["run", "--rm", "--security-opt", "apparmor=unconfined", "busybox", "true"]).ok();
        assert!(!r.stderr().contains("AppArmor"), "{}", r.stderr());
        let id = env.run(&["create", "busybox", "true"]).ok().stdout().trim().to_string();
        assert_eq!(env.run(&["inspect", "-f", "{{.AppArmorProfile}}", &id]).ok().stdout(), "\n");
        return;
    }
    let current = |args: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["busybox", "cat", "/proc/self/attr/current"]);
        env.run(&a).ok().stdout().trim().to_string()
    };
    assert_eq!(current(&[]), "skiff-default (enforce)");
    assert_eq!(current(&["--privileged"]), "unconfined");
    assert_eq!(current(&["--security-opt", "apparmor=unconfined"]), "unconfined");
    let id = env.run(&["create", "busybox", "true"]).ok().stdout().trim().to_string();
    assert_eq!(env.run(&["inspect", "-f", "{{.AppArmorProfile}}", &id]).ok().stdout(), "skiff-default\n");
    // The profile denies mounts even to a container with CAP_SYS_ADMIN.
    let r = env.run(&["run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "mount", "-t", "tmpfs", "t", "/mnt"]);
    assert_ne!(r.code(), 0, "{}", r.stdout());
}
