//! Containers end to end, as root: the built `skiff` (and `skiff-monitor`)
//! against a temporary store holding busybox imported from the seeds' rootfs.
//! One test binary, one module per feature.

#[path = "../common/mod.rs"]
mod common;

mod cgroups;
mod confinement;
mod cp;
mod filesystem;
mod lifecycle;
mod observe;

use common::{alive, Env};

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
