//! `skiff build` pulls its FROM image as `docker build` does: when the store
//! lacks it, and always with `--pull` (a newer image under the same tag is
//! fetched, an unchanged one is "up to date"). Against the real CNCF
//! distribution registry (Debian's `docker-registry`, installed by
//! scripts/test.sh), started per test on a free loopback port.

mod common;

use common::{fixture, new_env, require, small_tar, Env, Registry, Run};
use skiff_testutil::Missing;
use std::process::Stdio;

/// Starts docker-registry without auth; Missing when it is not installed.
fn start_registry() -> Result<Registry, Missing> {
    common::start_registry("", "")
}

/// skiff on its own store, with registry configuration files of its own (none exist).
fn skiff(env: &Env, args: &[&str]) -> Run {
    let out = env
        .cmd()
        .args(args)
        .env("DOCKER_CONFIG", env.path("docker-config"))
        .env("SKIFF_CONFIG", env.path("config.toml"))
        .env("SKIFF_DAEMON_JSON", env.path("daemon.json"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run { out }
}

fn image_id(env: &Env, name: &str) -> String {
    skiff(env, &["image", "inspect", "--format", "{{.Id}}", name]).ok().stdout().trim().to_string()
}

/// A build context whose Dockerfile starts `FROM base`.
fn context(env: &Env, base: &str) -> String {
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {base}\nLABEL purpose=pull-test\n")).unwrap();
    ctx.display().to_string()
}

/// The ` ---> ID` line right after `Step 1/N : FROM …` and the pull's lines.
fn from_result(out: &str) -> &str {
    out.lines()
        .skip_while(|l| !l.starts_with("Step 1/"))
        .find_map(|l| l.strip_prefix(" ---> "))
        .unwrap_or_else(|| panic!("no ---> line after FROM in:\n{out}"))
}

#[test]
fn build_pulls_a_missing_from_image_and_pull_flag_refreshes_it() {
    let reg = require!(start_registry());
    let base = format!("{}/lib/busybox:1", reg.addr);

    // A publisher pushes busybox under the tag.
    let publisher = new_env();
    skiff(&publisher, &["import", fixture("busybox-rootfs.tar").to_str().unwrap(), &base]).ok();
    skiff(&publisher, &["push", &base]).ok();
    let first = image_id(&publisher, &base);

    // A builder without it: build pulls it, with the pull's lines in the build output.
    let builder = new_env();
    let ctx = context(&builder, &base);
    let r = skiff(&builder, &["build", "-t", "derived", &ctx]).ok();
    let out = r.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("Step 1/2 : FROM {base}"), "{out}");
    assert!(lines[1].starts_with("1: Pulling from ") && lines[1].ends_with("lib/busybox"), "{out}");
    assert!(out.contains(": Pull complete\n") && out.contains("\nDigest: sha256:"), "{out}");
    assert!(out.contains(&format!("\nStatus: Downloaded newer image for {base}\n")), "{out}");
    assert_eq!(from_result(&out), &first[7..19], "{out}");
    assert!(out.ends_with("Successfully tagged derived:latest\n"), "{out}");
    assert_eq!(image_id(&builder, &base), first);

    // Present now: no pull without --pull.
    let out = skiff(&builder, &["build", "-t", "derived", &ctx]).ok().stdout();
    assert!(!out.contains("Pulling from") && !out.contains("Status:"), "{out}");

    // --pull asks the registry even so; the image there is the same one.
    let out = skiff(&builder, &["build", "--pull", "-t", "derived", &ctx]).ok().stdout();
    assert!(out.contains(&format!("\nStatus: Image is up to date for {base}\n")), "{out}");
    assert!(!out.contains("Pull complete"), "{out}");

    // The publisher pushes a different image under the same tag: only --pull sees it.
    let newer = small_tar(&[("newer", b"2\n")]);
    publisher.run_stdin(&["import", "-", &base], Some(&newer)).ok();
    skiff(&publisher, &["push", &base]).ok();
    let second = image_id(&publisher, &base);
    assert_ne!(second, first);
    let out = skiff(&builder, &["build", "-t", "derived", &ctx]).ok().stdout();
    assert_eq!(from_result(&out), &first[7..19], "without --pull the local image is used: {out}");
    let out = skiff(&builder, &["build", "--pull", "-t", "derived", &ctx]).ok().stdout();
    assert!(out.contains(&format!("\nStatus: Downloaded newer image for {base}\n")), "{out}");
    assert_eq!(from_result(&out), &second[7..19], "{out}");
    assert_eq!(image_id(&builder, &base), second);

    // Quiet builds pull too, and print only the id.
    let quiet = new_env();
    let out = skiff(&quiet, &["build", "-q", &context(&quiet, &base)]).ok().stdout();
    assert!(out.starts_with("sha256:") && out.lines().count() == 1, "{out}");
    assert_eq!(image_id(&quiet, &base), second);
}

#[test]
fn build_fails_naming_a_from_image_that_no_registry_has() {
    let reg = require!(start_registry());
    let env = new_env();
    let missing = format!("{}/lib/nothere:1", reg.addr);
    let r = skiff(&env, &["build", &context(&env, &missing)]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("lib/nothere"), "{}", r.stderr());
    assert!(r.stdout().starts_with(&format!("Step 1/2 : FROM {missing}\n")), "{}", r.stdout());
    assert_eq!(skiff(&env, &["images", "-q"]).ok().stdout(), "");
}
