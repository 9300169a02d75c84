//! Golden tests: the spec skiff generates for `run -d busybox sleep 60`
//! against the one Docker generated (`facts/docker-oci-config.json`) and the
//! environment Docker's container saw (`facts/docker-run-env.txt`).

use serde_json::{json, Value};
use skiff_engine::spec::{generate, generate_json, SpecInput};
use skiff_engine::{Mount, NetworkMode, RunOptions};
use skiff_image::config::ImageConfig;
use skiff_image::userdb::UserDb;
use skiff_testutil::{docker_oci_config, fixtures};
use std::path::{Path, PathBuf};

/// busybox as `docker import` made it: the config from `docker image inspect`.
fn busybox_config() -> ImageConfig {
    let v: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("facts/inspect-busybox_latest.json")).unwrap()).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    let cfg = json!({"architecture": "amd64", "os": "linux", "config": v["Config"],
                     "rootfs": {"type": "layers", "diff_ids": []}});
    serde_json::from_value(cfg).unwrap()
}

const ID: &str = "fc2d9fbb148b664bb63974f811ba9ee59f05bda2750a53eaa435a225bd42f86a";

fn gen(opts: &RunOptions, users: &UserDb) -> Value {
    gen_with_apparmor(opts, users, None)
}

fn gen_with_apparmor(opts: &RunOptions, users: &UserDb, apparmor_profile: Option<String>) -> Value {
    let img = busybox_config();
    let dir = PathBuf::from(format!("/tmp/docker-root/containers/{ID}"));
    let input = SpecInput {
        id: ID,
        image: &img,
        opts,
        users,
        container_dir: &dir,
        rootfs: Path::new("/rootfs"),
        join: Default::default(),
        seccomp_profile: None,
        volumes_dir: Path::new("/var/lib/skiff/volumes"),
        apparmor_profile,
    };
    // The typed spec must accept it too.
    generate(&input).unwrap();
    generate_json(&input).unwrap()
}

fn sleep60() -> RunOptions {
    RunOptions { image: "busybox".into(), cmd: vec!["sleep".into(), "60".into()], detach: true, ..Default::default() }
}

#[test]
fn matches_docker_for_run_d_busybox_sleep_60() {
    let d = docker_oci_config();
    let s = gen(&sleep60(), &UserDb::default());
    // Process: user, args, cwd, capabilities, OOM score as Docker's.
    for k in ["user", "args", "cwd", "capabilities", "oomScoreAdj"] {
        assert_eq!(s["process"][k], d["process"][k], "process.{k}");
    }
    // Env: what Docker's container saw (HOME comes from the missing passwd: "/").
    let seen: Vec<String> = std::fs::read_to_string(fixtures().join("facts/docker-run-env.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.replace("5642db74c506", &ID[..12]))
        .collect();
    assert_eq!(s["process"]["env"], json!(seen));
    assert_eq!(s["hostname"], d["hostname"]);
    assert_eq!(s["mounts"], d["mounts"]);
    for k in ["sysctl", "resources", "maskedPaths", "readonlyPaths", "seccomp"] {
        assert_eq!(s["linux"][k], d["linux"][k], "linux.{k}");
    }
    // Docker's namespaces, plus a private cgroup namespace.
    let mut ns = d["linux"]["namespaces"].as_array().unwrap().clone();
    ns.push(json!({"type": "cgroup"}));
    assert_eq!(s["linux"]["namespaces"], Value::Array(ns));
}

#[test]
fn flags_change_what_docker_changes() {
    let users = UserDb::parse("root:x:0:0:root:/root:/bin/sh\nredis:x:999:1000::/data:/bin/false\n", "redis:x:1000:\n");
    let opts = RunOptions {
        tty: true,
        env: vec!["A=1".into(), "PATH=/x".into()],
        user: Some("redis".into()),
        workdir: Some("/data".into()),
        resources: skiff_engine::Resources {
            memory: Some(skiff_engine::units::ram_in_bytes("32m").unwrap()),
            pids_limit: Some(50),
            nano_cpus: Some(1_500_000_000),
            ..Default::default()
        },
        cap_drop: vec!["NET_RAW".into()],
        cap_add: vec!["sys_admin".into()],
        security_opt: vec!["seccomp=unconfined".into(), "no-new-privileges".into()],
        mounts: vec![
            Mount::parse_tmpfs("/run:size=1m").unwrap(),
            Mount::parse_volume("/srv:/srv:ro").unwrap(),
            Mount::parse_volume("data:/data").unwrap(),
        ],
        network: NetworkMode::Host,
        read_only: true,
        ..sleep60()
    };
    let s = gen(&opts, &users);
    let p = &s["process"];
    assert_eq!(p["terminal"], json!(true));
    assert_eq!(p["user"], json!({"uid": 999, "gid": 1000, "additionalGids": [1000]}));
    assert_eq!(p["env"], json!(["PATH=/x", format!("HOSTNAME={}", &ID[..12]), "TERM=xterm", "A=1", "HOME=/data"]));
    assert_eq!(p["cwd"], json!("/data"));
    assert_eq!(p["noNewPrivileges"], json!(true));
    let caps = p["capabilities"]["bounding"].as_array().unwrap();
    assert!(!caps.contains(&json!("CAP_NET_RAW")) && caps.contains(&json!("CAP_SYS_ADMIN")));
    let r = &s["linux"]["resources"];
    assert_eq!(r["memory"]["limit"], json!(33554432));
    assert_eq!(r["memory"]["swap"], json!(67108864));
    assert_eq!(r["pids"]["limit"], json!(50));
    assert_eq!((r["cpu"]["quota"].clone(), r["cpu"]["period"].clone()), (json!(150000), json!(100000)));
    assert!(s["linux"].get("seccomp").is_none());
    assert!(!s["linux"]["namespaces"].as_array().unwrap().contains(&json!({"type": "network"})));
    assert_eq!(s["root"]["readonly"], json!(true));
    let mounts = s["mounts"].as_array().unwrap();
    assert!(mounts.contains(&json!({"destination": "/srv", "type": "bind", "source": "/srv",
                                    "options": ["rbind", "ro", "rprivate"]})));
    assert!(mounts.iter().any(|m| m["destination"] == "/run" && m["type"] == "tmpfs"));
    assert!(mounts.contains(&json!({"destination": "/data", "type": "bind",
                                    "source": "/var/lib/skiff/volumes/data/_data", "options": ["rbind", "rprivate"]})));
    // No AppArmor (this spec's host has none), no profile; with one, the process names it.
    assert!(p.get("apparmorProfile").is_none());
    let s = gen_with_apparmor(&opts, &users, Some("skiff-default".into()));
    assert_eq!(s["process"]["apparmorProfile"], json!("skiff-default"));
}

#[test]
fn errors_name_the_input() {
    let bad_user = RunOptions { user: Some("nobody".into()), ..sleep60() };
    let img = busybox_config();
    let users = UserDb::default();
    let mk = |o: &RunOptions| {
        generate(&SpecInput {
            id: ID,
            image: &img,
            opts: o,
            users: &users,
            container_dir: Path::new("/c"),
            rootfs: Path::new("/r"),
            join: Default::default(),
            seccomp_profile: None,
            volumes_dir: Path::new("/v"),
            apparmor_profile: None,
        })
        .unwrap_err()
        .to_string()
    };
    assert!(mk(&bad_user).contains("nobody"));
    assert!(mk(&RunOptions { cap_add: vec!["FLY".into()], ..sleep60() }).contains("FLY"));
    // A `-v` is checked where it is parsed, once (its test is in the engine's `mounts`).
    assert!(Mount::parse_volume("rel/x:/x").unwrap_err().to_string().contains("rel/x:/x"));
    assert!(mk(&RunOptions { cmd: vec![], ..sleep60() }).contains("no command"));
}
