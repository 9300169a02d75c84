//! A container's life through the CLI: run (foreground, detached, `--rm`), create/start/attach, stop,
//! kill, wait, pause, restart, rename, rm and prune, Docker's exit codes and refusals, and that each
//! leaves nothing behind.

use crate::common::{alive, busybox, eventually, Env};
use crate::{assert_gone, inspect};

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
    rustix::process::kill_process(rustix::process::Pid::from_child(&cli), rustix::process::Signal::INT).unwrap();
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
