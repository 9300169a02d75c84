//! `run`/`create --runtime runc` (an installed OCI runtime given the same
//! bundle) and `--init` (Debian's tini-static as /sbin/docker-init), as
//! root, against a temporary store holding busybox from the seeds' rootfs.

mod common;

use common::{busybox, require};
use skiff_testutil::peers::{runc, tini};
use std::path::Path;

#[test]
fn runc_runs_the_same_bundle_with_the_same_output_and_codes() {
    require!(runc());
    let env = busybox();
    let r = env.run(&["run", "--rm", "--runtime", "runc", "busybox", "cat", "/release"]).ok();
    assert_eq!(r.stdout().trim(), "KatacodaPrivateBuild");
    assert_eq!(env.run(&["ps", "-aq"]).ok().stdout(), "");

    let r = env.run(&["run", "--rm", "--runtime", "runc", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(r.code(), 3);
    assert_eq!(r.stdout(), "out\n");
    assert_eq!(r.stderr(), "err\n");
    // -t: runc hands the pty master back through the console socket.
    let r = env.run(&["run", "--rm", "-t", "--runtime", "runc", "busybox", "sh", "-c", "tty; echo ok"]).ok();
    assert_eq!(r.stdout(), "/dev/pts/0\r\nok\r\n");
    let r = env.run(&["run", "--rm", "--runtime", "runc", "busybox", "nosuch"]);
    assert_eq!(r.code(), 127, "{}", r.stderr());
    assert!(r.stderr().contains("executable file not found"), "{}", r.stderr());

    // The container really is runc's: its state is in runc's root while it runs.
    let id = env.run(&["run", "-d", "--runtime", "runc", "busybox", "sleep", "1000"]).ok().stdout().trim().to_string();
    let v: serde_json::Value = serde_json::from_str(&env.run(&["inspect", &id]).ok().stdout()).unwrap();
    assert_eq!(v[0]["State"]["Status"], "running");
    assert_eq!(v[0]["HostConfig"]["Runtime"], "runc");
    assert!(Path::new("/run/skiff/.runtime-runc").join(&id).join("state.json").exists());
    let logs = env.run(&["exec", &id, "cat", "/release"]).ok();
    assert_eq!(logs.stdout().trim(), "KatacodaPrivateBuild");
    env.run(&["stop", "-t", "1", &id]).ok();
    let v: serde_json::Value = serde_json::from_str(&env.run(&["inspect", &id]).ok().stdout()).unwrap();
    assert_eq!(v[0]["State"]["Status"], "exited");
    assert_eq!(v[0]["State"]["ExitCode"], 137);
    env.run(&["rm", &id]).ok();
    assert!(!Path::new("/run/skiff/.runtime-runc").join(&id).exists(), "runc's state remains");
}

#[test]
fn runc_with_create_and_start() {
    require!(runc());
    let env = busybox();
    let id =
        env.run(&["create", "--runtime", "runc", "busybox", "sh", "-c", "exit 5"]).ok().stdout().trim().to_string();
    env.run(&["start", &id]).ok();
    assert_eq!(env.run(&["wait", &id]).ok().stdout().trim(), "5");
    // Started again: runc's state of the last run is replaced.
    env.run(&["start", &id]).ok();
    assert_eq!(env.run(&["wait", &id]).ok().stdout().trim(), "5");
    env.run(&["rm", &id]).ok();
}

#[test]
fn unknown_runtime_is_named_with_exit_125() {
    let env = busybox();
    let r = env.run(&["run", "--rm", "--runtime", "no-such-runtime", "busybox", "true"]);
    assert_eq!(r.code(), 125);
    assert!(r.stderr().contains("unknown or invalid runtime name: no-such-runtime"), "{}", r.stderr());
    let r = env.run(&["create", "--runtime", "/nonexistent/runc", "busybox", "true"]);
    assert_eq!(r.code(), 125);
    assert!(r.stderr().contains("/nonexistent/runc"), "{}", r.stderr());
    assert_eq!(env.run(&["ps", "-aq"]).ok().stdout(), "");
}

#[test]
fn init_is_pid_1_and_forwards_signals() {
    require!(tini());
    let env = busybox();
    let r = env.run(&["run", "--rm", "--init", "busybox", "sh", "-c", "ps"]).ok();
    let first = r.stdout().lines().nth(1).unwrap_or_default().to_string();
    let f: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(f[0], "1", "{}", r.stdout());
    assert_eq!(f[2..], ["/sbin/docker-init", "--", "sh", "-c", "ps"], "{}", r.stdout());
    // The command's exit code comes through the init.
    assert_eq!(env.run(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 9"]).code(), 9);
    // Read-only bind of the host's binary.
    let r = env.run(&["run", "--rm", "--init", "busybox", "sh", "-c", "echo x > /sbin/docker-init"]);
    assert_ne!(r.code(), 0);
    // A sleep that is not PID 1 dies of the forwarded SIGTERM (without --init, PID 1 ignores it).
    let id = env.run(&["run", "-d", "--init", "busybox", "sleep", "1000"]).ok().stdout().trim().to_string();
    env.run(&["stop", "-t", "30", &id]).ok();
    let v: serde_json::Value = serde_json::from_str(&env.run(&["inspect", &id]).ok().stdout()).unwrap();
    assert_eq!(v[0]["State"]["ExitCode"], 143);
    assert_eq!(v[0]["HostConfig"]["Init"], true);
    env.run(&["rm", &id]).ok();
}

#[test]
fn init_missing_is_a_clear_error() {
    let env = busybox();
    let mut c = env.cmd();
    c.env("SKIFF_INIT_PATH", "/nonexistent/tini-static").args(["run", "--rm", "--init", "busybox", "true"]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("docker-init binary not found at /nonexistent/tini-static"), "{err}");
    assert!(err.contains("tini"), "{err}");
}

#[test]
fn init_with_runc() {
    require!(runc());
    require!(tini());
    let env = busybox();
    let r = env.run(&["run", "--rm", "--init", "--runtime", "runc", "busybox", "sh", "-c", "ps"]).ok();
    let first = r.stdout().lines().nth(1).unwrap_or_default().to_string();
    assert!(first.trim_start().starts_with("1 ") && first.contains("/sbin/docker-init -- sh -c ps"), "{}", r.stdout());
}
