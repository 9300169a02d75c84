//! The cgroup v2 manager against a fake unified hierarchy in a temporary directory (this machine
//! runs v1): which files it writes, with which values, and how it reads stats back.

use std::fs;
use std::path::Path;

use skiff_runtime::cgroups::{CgroupManager, CgroupVersion};
use skiff_runtime::oci_spec::runtime::LinuxResources;

fn fake_root() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n").unwrap();
    fs::write(d.path().join("cgroup.subtree_control"), "").unwrap();
    d
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap().trim().to_string()
}

#[test]
fn v2_limits_as_docker_flags_set_them() {
    let root = fake_root();
    fs::create_dir_all(root.path().join("skiff")).unwrap();
    fs::write(root.path().join("skiff/cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
    let m = CgroupManager::new(root.path(), Path::new("/skiff/c1")).unwrap();
    assert_eq!(m.version(), CgroupVersion::V2);
    // docker run --memory 32m --memory-swap 64m --memory-reservation 16m --cpus 1.5 --cpu-shares 512
    //   --cpuset-cpus 0 --pids-limit 50 --blkio-weight 300
    let r: LinuxResources = serde_json::from_value(serde_json::json!({
        "memory": {"limit": 33554432, "swap": 67108864, "reservation": 16777216},
        "cpu": {"shares": 512, "quota": 150000, "period": 100000, "cpus": "0"},
        "pids": {"limit": 50},
        "blockIO": {"weight": 300}
    }))
    .unwrap();
    m.create(Some(&r)).unwrap();
    let d = root.path().join("skiff/c1");
    assert_eq!(read(&root.path().join("cgroup.subtree_control")), "+cpuset +cpu +io +memory +pids");
    assert_eq!(read(&root.path().join("skiff/cgroup.subtree_control")), "+cpuset +cpu +io +memory +pids");
    assert_eq!(read(&d.join("memory.max")), "33554432");
    assert_eq!(read(&d.join("memory.swap.max")), "33554432");
    assert_eq!(read(&d.join("memory.low")), "16777216");
    assert_eq!(read(&d.join("cpu.max")), "150000 100000");
    assert_eq!(read(&d.join("cpu.weight")), "20");
    assert_eq!(read(&d.join("cpuset.cpus")), "0");
    assert_eq!(read(&d.join("pids.max")), "50");
    assert_eq!(read(&d.join("io.weight")), "default 2930");
    // docker update --memory -1 --pids-limit -1
    let u: LinuxResources = serde_json::from_str(r#"{"memory":{"limit":-1,"swap":-1},"pids":{"limit":-1}}"#).unwrap();
    m.update(&u).unwrap();
    assert_eq!(read(&d.join("memory.max")), "max");
    assert_eq!(read(&d.join("memory.swap.max")), "max");
    assert_eq!(read(&d.join("pids.max")), "max");
    m.add_pid(4242).unwrap();
    assert_eq!(read(&d.join("cgroup.procs")), "4242");
    m.freeze().unwrap();
    assert_eq!(read(&d.join("cgroup.freeze")), "1");
    m.thaw().unwrap();
    assert_eq!(read(&d.join("cgroup.freeze")), "0");
}

#[test]
fn v2_stats_and_oom_kills() {
    let root = fake_root();
    let m = CgroupManager::new(root.path(), Path::new("c2")).unwrap();
    m.create(None).unwrap();
    let d = root.path().join("c2");
    // The kernel's formats (Documentation/admin-guide/cgroup-v2.rst).
    fs::write(d.join("memory.current"), "7999488\n").unwrap();
    fs::write(d.join("memory.max"), "8003584\n").unwrap();
    fs::write(d.join("memory.events"), "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n").unwrap();
    fs::write(d.join("cpu.stat"), "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n").unwrap();
    fs::write(d.join("pids.current"), "3\n").unwrap();
    fs::write(d.join("pids.max"), "max\n").unwrap();
    fs::write(
        d.join("io.stat"),
        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=1 wios=1\n",
    )
    .unwrap();
    let s = m.stats().unwrap();
    assert_eq!(s.memory_usage, 7999488);
    assert_eq!(s.memory_limit, Some(8003584));
    assert_eq!(s.oom_kill_count, 1);
    assert_eq!(s.cpu_usage_ns, 123_456_000);
    assert_eq!(s.pids_current, 3);
    assert_eq!(s.pids_limit, None);
    assert_eq!((s.blkio_read_bytes, s.blkio_write_bytes), (4097, 8194));
    fs::write(d.join("cgroup.kill"), "").unwrap();
    m.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(read(&d.join("cgroup.kill")), "1");
}

#[test]
fn cgroup_paths_cannot_climb_out() {
    let root = fake_root();
    assert!(CgroupManager::new(root.path(), Path::new("/a/../../etc")).is_err());
}
