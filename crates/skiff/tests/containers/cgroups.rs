//! Resource limits and cgroups: `--memory` (OOM kill), the CPU and memory flags as the container's
//! cgroup files show them, the init and exec'd processes in every cgroup of the container, and
//! `container prune` sweeping orphaned cgroups.

use crate::common::{busybox, eventually, sha256_hex, skip};
use crate::inspect;

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
    let id = |what: &str| sha256_hex(format!("{what}-{}-{:?}", std::process::id(), env.root()).as_bytes());
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
