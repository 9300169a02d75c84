//! Seed 002 ("Docker 高级操作": the container's processes, namespaces, cgroups,
//! seccomp and capabilities) end to end, with skiff in place of docker, as root:
//!
//! - on `redis:bookworm`, built by `skiff build` from `../shared/fixtures/redis-context`
//!   on a Debian bookworm root filesystem with redis-server
//!   (`../shared/tools/debian-rootfs`, which scripts/test.sh runs before `cargo test`),
//!   imported as `debian:bookworm-redis-base`;
//! - on busybox, imported from the seeds' rootfs, where it applies.
//!
//! The Debian root filesystem is looked for at `$SKIFF_DEBIAN_ROOTFS`, else at the
//! tool's default path; when it is absent the Debian walkthrough skips (a counted skip).

mod common;

use common::{alive, eventually, fixture, new_env, require, Env, Run, Store};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The namespaces the seed lists that a container gets its own of.
const PRIVATE_NS: [&str; 6] = ["mnt", "uts", "ipc", "pid", "net", "cgroup"];

/// `tar -C DIR -c . | skiff import - NAME`.
fn import_dir(env: &Env, dir: &Path, name: &str) {
    let mut tar =
        Command::new("tar").arg("-C").arg(dir).args(["-c", "."]).stdout(Stdio::piped()).spawn().expect("tar runs");
    let out = env
        .cmd()
        .args(["import", "-", name])
        .stdin(tar.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(tar.wait().unwrap().success(), "tar of {} failed", dir.display());
    let r = Run { out }.ok();
    assert!(r.stdout().starts_with("sha256:"), "{}", r.stdout());
}

fn inspect(env: &Env, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&env.run(&["inspect", name]).ok().stdout()).unwrap();
    v[0].clone()
}

fn pid_of(env: &Env, name: &str) -> i64 {
    inspect(env, name)["State"]["Pid"].as_i64().unwrap()
}

fn ppid(pid: i64) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit_once(')').unwrap().1.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn comm(pid: i64) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string()
}

fn ns(pid: &str, name: &str) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/{name}")).unwrap()
}

/// The container's cgroup directories on the host, from `/proc/PID/cgroup` (the seed's
/// `cat /proc/$DBPID/cgroup`): v1 controllers as `/sys/fs/cgroup/<controller>/<path>`,
/// the unified hierarchy as `/sys/fs/cgroup/<path>` (or `unified/<path>` on hybrid hosts).
fn cgroup_dirs(pid: i64) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut dirs = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if path == "/" {
            continue;
        }
        let rel = path.trim_start_matches('/');
        if ctrls.is_empty() {
            let unified = Path::new("/sys/fs/cgroup/unified");
            let base = if unified.join("cgroup.controllers").exists() { unified } else { Path::new("/sys/fs/cgroup") };
            dirs.push(base.join(rel));
        } else if let Some(first) = ctrls.split(',').find(|c| !c.starts_with("name=")) {
            let mount = Path::new("/sys/fs/cgroup").join(ctrls);
            let mount = if mount.exists() { mount } else { Path::new("/sys/fs/cgroup").join(first) };
            dirs.push(mount.join(rel));
        }
    }
    dirs
}

/// The memory limit of the container's cgroup: v1 `memory.limit_in_bytes`, or v2 `memory.max`.
fn memory_limit(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .find_map(|d| {
            std::fs::read_to_string(d.join("memory.limit_in_bytes"))
                .or_else(|_| std::fs::read_to_string(d.join("memory.max")))
                .ok()
        })
        .expect("the container has a memory cgroup")
        .trim()
        .to_string()
}

/// A TCP socket listening on `port` in the network namespace of `pid` (`/proc/PID/net/tcp{,6}`).
fn listens(pid: i64, port: u16) -> bool {
    let want = format!(":{port:04X}");
    ["tcp", "tcp6"].iter().any(|f| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{f}")).unwrap_or_default().lines().skip(1).any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() > 3 && cols[1].ends_with(&want) && cols[3] == "0A"
        })
    })
}

/// The row of a table whose NAMES (last column) is `name`.
fn row_named<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().last() == Some(name))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{table}"))
}

/// What differs between the images in the walkthrough.
struct Case<'a> {
    image: &'a str,
    /// Arguments after the image for `run -d --name=db IMAGE ...`.
    args: &'a [&'a str],
    /// The process's name once it runs (`ps aux | grep redis-server`).
    process: &'a str,
    /// How `ps aux` shows its command line.
    cmdline: &'a str,
    /// Whether `/proc/PID/environ` still holds the environment (redis writes its
    /// process title over it: the seed's `cat /proc/$DBPID/environ` prints `*:6379`).
    environ_intact: bool,
    /// `ps`'s COMMAND column, quoted and cut as Docker does.
    ps_command: &'a str,
    /// `ps`'s PORTS column.
    ports: &'a str,
    /// Lines `exec db env` prints (besides PATH and HOSTNAME).
    env: &'a [&'a str],
    /// The uid the process runs as.
    uid: u32,
    /// A TCP port the process listens on, with a command that talks to it and its answer.
    service: Option<(u16, &'a [&'a str], &'a str)>,
}

/// The seed's steps on `env`, which holds `case.image` and busybox.
fn walkthrough(env: &Env, case: &Case) {
    // 1. docker run -d --name=db IMAGE
    let run = [&["run", "-d", "--name=db", case.image][..], case.args].concat();
    let id = env.run(&run).ok().stdout().trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let pid = pid_of(env, "db");
    // The entrypoint execs the program (through setpriv for redis): wait until it is the process.
    eventually("the program to run", || (comm(pid) == case.process).then_some(()));

    // docker ps: Up, with Docker's COMMAND and PORTS.
    let ps = env.run(&["ps"]).ok().stdout();
    let header = ps.lines().next().unwrap();
    let cols = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"];
    let mut at = 0;
    for c in cols {
        let i = header[at..].find(c).unwrap_or_else(|| panic!("{c} missing or out of order in {header:?}"));
        at += i + c.len();
    }
    let row = row_named(&ps, "db");
    assert!(row.starts_with(&id[..12]), "{row}");
    let fields: Vec<&str> = row.split("  ").map(str::trim).filter(|f| !f.is_empty()).collect();
    assert_eq!(fields[1], case.image, "{row}");
    assert_eq!(fields[2], case.ps_command, "{row}");
    assert!(fields[4].starts_with("Up "), "{row}");
    if case.ports.is_empty() {
        assert_eq!(fields.len(), 6, "no PORTS: {row}");
    } else {
        assert_eq!(fields[5], case.ports, "{row}");
    }

    // ps aux on the host shows the process, its parent is skiff's monitor. (Redis writes its
    // process title a moment after it starts: wait for it rather than race it.)
    let mut last = String::new();
    eventually("ps aux to show the process title", || {
        let aux = Command::new("ps").arg("aux").output().expect("ps runs");
        let aux = String::from_utf8_lossy(&aux.stdout).into_owned();
        let line = aux
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(pid.to_string().as_str()))
            .unwrap_or_else(|| panic!("pid {pid} not in ps aux:\n{aux}"))
            .to_string();
        let done = line.ends_with(&format!(" {}", case.cmdline));
        last = line;
        done.then_some(())
    });
    assert!(last.ends_with(&format!(" {}", case.cmdline)), "{last}");
    let monitor = ppid(pid);
    assert_eq!(comm(monitor), "skiff-monitor");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(uid_line.split_whitespace().nth(1), Some(case.uid.to_string().as_str()), "{uid_line}");

    // docker top db: the seed's columns, the process with its host pid and parent.
    let top = env.run(&["top", "db"]).ok().stdout();
    let head: Vec<&str> = top.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(head, ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], "{top}");
    // Laid out as the seed prints it: columns 20 wide.
    assert!(top.starts_with(&format!("{:20}{:20}{:20}{:20}", "UID", "PID", "PPID", "C")), "{top}");
    let prow: Vec<&str> = top
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|r| r.get(1) == Some(&pid.to_string().as_str()))
        .unwrap_or_else(|| panic!("pid {pid} not in top:\n{top}"));
    assert_eq!(prow[2], monitor.to_string(), "{top}");
    assert!(prow[7..].join(" ").contains(case.process), "{top}");

    // docker exec db env: the container's environment.
    let env_out = env.run(&["exec", "db", "env"]).ok().stdout();
    let lines: Vec<&str> = env_out.lines().collect();
    assert!(lines.contains(&"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), "{env_out}");
    assert!(lines.contains(&format!("HOSTNAME={}", &id[..12]).as_str()), "{env_out}");
    for want in case.env {
        assert!(lines.contains(want), "{want} missing: {env_out}");
    }
    // The process's own environment, as /proc/$DBPID/environ shows it.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ: Vec<String> = environ.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
    if case.environ_intact {
        assert!(environ.contains(&format!("HOSTNAME={}", &id[..12])), "{environ:?}");
    } else {
        assert!(environ[0].starts_with(case.cmdline.split_once(' ').map(|(_, a)| a).unwrap()), "{environ:?}");
    }

    // Namespaces: its own, for each the seed lists.
    let p = pid.to_string();
    for n in PRIVATE_NS {
        assert_ne!(ns(&p, n), ns("self", n), "{n}");
    }

    // --net=container:db shares db's network namespace, and only that.
    let web = env.run(&["run", "-d", "--name=web", "--net=container:db", "busybox", "sleep", "60"]).ok();
    let web_id = web.stdout().trim().to_string();
    let web_pid = pid_of(env, "web");
    let w = web_pid.to_string();
    assert_eq!(ns(&w, "net"), ns(&p, "net"));
    for n in ["mnt", "uts", "ipc", "pid"] {
        assert_ne!(ns(&w, n), ns(&p, n), "{n}");
    }
    let ps = env.run(&["ps"]).ok().stdout();
    let web_row: Vec<&str> = row_named(&ps, "web").split("  ").map(str::trim).filter(|f| !f.is_empty()).collect();
    assert_eq!(web_row.len(), 6, "no PORTS for a container in another's network: {web_row:?}");

    // The service answers on its socket inside the namespace, seen from both containers.
    if let Some((port, cmd, answer)) = case.service {
        let args = [&["exec", "db"][..], cmd].concat();
        let got = eventually("the service to answer", || {
            let r = env.run(&args);
            (r.code() == 0 && r.stdout().trim() == answer).then_some(r.stdout())
        });
        assert_eq!(got.trim(), answer);
        assert!(listens(pid, port), "nothing listens on {port} in db's network namespace");
        assert!(listens(web_pid, port), "web does not see db's listener on {port}");
        let host_ns = ns("self", "net");
        assert_ne!(host_ns, ns(&p, "net"));
    }

    // cgroups: update --memory 8000000 reads back as 7999488, and stats shows it.
    let cgroups = cgroup_dirs(pid);
    assert!(!cgroups.is_empty(), "db is in no cgroup of its own");
    assert!(cgroups.iter().all(|d| d.is_dir()), "{cgroups:?}");
    env.run(&["update", "--memory", "8000000", "db"]).ok();
    assert_eq!(memory_limit(&cgroups), "7999488");
    let stats = env.run(&["stats", "--no-stream"]).ok().stdout();
    assert!(stats.starts_with("CONTAINER ID"), "{stats}");
    let srow = stats.lines().find(|l| l.starts_with(&id[..12])).unwrap_or_else(|| panic!("db not in:\n{stats}"));
    assert!(srow.contains(" / 7.629MiB "), "{srow}");
    assert!(alive(pid), "db survived the new limit");

    // Seccomp and capabilities, as /proc/$DBPID/status shows them.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("\nSeccomp:\t2\n"), "{status}");
    assert!(status.contains("\nCapBnd:\t00000000a80425fb\n"), "{status}");
    if case.uid != 0 {
        // A non-root process keeps no effective capability.
        assert!(status.contains("\nCapEff:\t0000000000000000\n"), "{status}");
    }

    // docker rm -f db web: nothing of either remains.
    env.run(&["rm", "-f", "db", "web"]).ok();
    assert_eq!(env.run(&["ps", "-aq"]).ok().stdout(), "");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for (cid, cpid) in [(&id, pid), (&web_id, web_pid)] {
        assert!(!mounts.contains(cid.as_str()), "a mount of {cid} remains");
        assert!(!alive(cpid), "process {cpid} remains");
        assert!(!env.root().join("containers").join(cid).exists(), "the container directory of {cid} remains");
        assert!(!Path::new("/run/skiff").join(cid).exists(), "the state of {cid} remains");
    }
    assert!(!alive(monitor), "the monitor {monitor} remains");
    for d in &cgroups {
        assert!(!d.exists(), "cgroup {} remains", d.display());
    }
}

#[test]
fn seed_002_on_a_debian_redis_image() {
    let rootfs = require!(skiff_testutil::host::debian_rootfs());
    let env = Store(new_env());
    import_dir(&env, &rootfs, "debian:bookworm-redis-base");
    env.run(&["import", fixture("busybox-rootfs.tar").to_str().unwrap(), "busybox"]).ok();
    let build = env.run(&["build", "-t", "redis:bookworm", fixture("redis-context").to_str().unwrap()]).ok();
    assert!(build.stdout().contains("Successfully tagged redis:bookworm\n"), "{}", build.stdout());
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    let redis_uid: u32 = passwd
        .lines()
        .find_map(|l| l.strip_prefix("redis:"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|u| u.parse().ok())
        .expect("the rootfs has a redis user");
    walkthrough(
        &env,
        &Case {
            image: "redis:bookworm",
            args: &[],
            process: "redis-server",
            cmdline: "redis-server *:6379",
            environ_intact: false,
            ps_command: "\"docker-entrypoint.s…\"",
            ports: "6379/tcp",
            env: &["REDIS_VERSION=7.0", "HOME=/root"],
            uid: redis_uid,
            service: Some((6379, &["redis-cli", "ping"], "PONG")),
        },
    );
}

#[test]
fn seed_002_on_busybox() {
    let env = Store(new_env());
    env.run(&["import", fixture("busybox-rootfs.tar").to_str().unwrap(), "busybox"]).ok();
    walkthrough(
        &env,
        &Case {
            image: "busybox",
            args: &["sleep", "1000"],
            process: "sleep",
            cmdline: "sleep 1000",
            environ_intact: true,
            ps_command: "\"sleep 1000\"",
            ports: "",
            env: &[],
            uid: 0,
            service: None,
        },
    );
}
