//! The store is the user's data: concurrent skiff processes never corrupt it, and a
//! `kill -9` at any point leaves a store `system check` finds consistent.

mod common;
use common::*;
use std::io::{Read, Write};
use std::process::Stdio;

/// A tar with `n` files of `size` bytes each, contents varying with `seed`.
fn tar_of(n: usize, size: usize, seed: u8) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..n {
        let data: Vec<u8> =
            (0..size).map(|j| (j as u8).wrapping_mul(31).wrapping_add(seed).wrapping_add(i as u8)).collect();
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("f{i}"), &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn eight_concurrent_processes_mixed_work_keep_the_store_consistent() {
    let env = new_env();
    let shared = tar_of(20, 50_000, 1);
    env.run_stdin(&["import", "-", "base:0"], Some(&shared)).ok();
    let root = env.root();
    std::thread::scope(|s| {
        for w in 0..8u8 {
            let root = root.clone();
            let shared = shared.clone();
            s.spawn(move || {
                for round in 0..6u8 {
                    let name = format!("w{w}:{round}");
                    let data = if round % 2 == 0 { shared.clone() } else { tar_of(5, 10_000, w * 10 + round) };
                    let run = |args: &[&str], input: Option<&[u8]>| {
                        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"));
                        c.arg("--root").arg(&root).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
                        c.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
                        let mut child = c.spawn().unwrap();
                        if let Some(d) = input {
                            child.stdin.take().unwrap().write_all(d).unwrap();
                        }
                        child.wait_with_output().unwrap()
                    };
                    let o = run(&["import", "-", &name], Some(&data));
                    assert!(o.status.success(), "import: {}", String::from_utf8_lossy(&o.stderr));
                    let o = run(&["images", "-q"], None);
                    assert!(o.status.success(), "images: {}", String::from_utf8_lossy(&o.stderr));
                    let o = run(&["tag", &name, &format!("t{w}:{round}")], None);
                    assert!(o.status.success(), "tag: {}", String::from_utf8_lossy(&o.stderr));
                    if round % 3 == 2 {
                        let o = run(&["rmi", "-f", &name], None);
                        assert!(o.status.success(), "rmi: {}", String::from_utf8_lossy(&o.stderr));
                        let o = run(&["rmi", &format!("t{w}:{round}")], None);
                        assert!(o.status.success(), "rmi: {}", String::from_utf8_lossy(&o.stderr));
                    }
                }
            });
        }
    });
    let check = env.run(&["system", "check"]).ok().stdout();
    assert!(check.contains("consistent"), "{check}");
    assert!(!check.contains("leftover"), "{check}");
    // base and every surviving image still list and inspect.
    let ids = env.run(&["images", "-q"]).ok().stdout();
    for id in ids.lines() {
        env.run(&["inspect", id]).ok();
    }
    // Rounds 2 and 5 of each worker were removed; 8 workers * 4 kept + base.
    assert_eq!(
        env.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .ok()
            .stdout()
            .lines()
            .filter(|l| l.starts_with('w'))
            .count(),
        32
    );
}

#[test]
fn kill_9_during_import_leaves_a_consistent_store_with_nothing_half_written() {
    let env = new_env();
    env.run_stdin(&["import", "-", "keep"], Some(&small_tar(&[("k", b"keep")]))).ok();
    let big = tar_of(64, 256 * 1024, 7); // 16 MiB
    for cut in [0usize, 4096, 1 << 20, 8 << 20, big.len() - 512] {
        let mut child = env
            .cmd()
            .args(["import", "-", "victim"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut si = child.stdin.take().unwrap();
        si.write_all(&big[..cut]).unwrap();
        si.flush().unwrap();
        // The process is blocked reading the rest of stdin: kill it there.
        child.kill().unwrap();
        child.wait().unwrap();
        drop(si);
        let check = env.run(&["system", "check"]).ok().stdout();
        assert!(check.contains("consistent"), "cut at {cut}: {check}");
        assert!(!check.contains("leftover"), "cut at {cut}: {check}");
        // Only the first image is there, and only its two blobs (config + layer).
        assert_eq!(env.run(&["images", "-q"]).ok().stdout().lines().count(), 1, "cut at {cut}");
        assert_eq!(std::fs::read_dir(env.root().join("blobs/sha256")).unwrap().count(), 2, "cut at {cut}");
    }
}

#[test]
fn check_finds_and_repairs_a_corrupt_blob() {
    let env = new_env();
    let id =
        env.run_stdin(&["import", "-", "c"], Some(&small_tar(&[("x", b"hello")]))).ok().stdout().trim().to_string();
    let layer = env.run(&["inspect", "--format", "{{index .RootFS.Layers 0}}", "c"]).ok().stdout().trim().to_string();
    let path = env.root().join("blobs/sha256").join(&layer[7..]);
    let mut data = std::fs::read(&path).unwrap();
    data[0] ^= 0xff;
    std::fs::write(&path, data).unwrap();
    let r = env.run(&["system", "check"]).fails();
    assert!(r.stdout().contains("corrupt") && r.stdout().contains(&layer), "{}", r.stdout());
    let r = env.run(&["system", "check", "--repair"]).ok();
    assert!(r.stdout().contains(&format!("removed damaged image {id}")), "{}", r.stdout());
    env.run(&["system", "check"]).ok();
    assert_eq!(env.run(&["images", "-q"]).ok().stdout(), "");
}

#[test]
fn check_reports_and_repairs_leftover_files() {
    let env = new_env();
    env.run(&["images"]).ok();
    let stray = env.root().join("blobs/sha256").join("a".repeat(64));
    std::fs::write(&stray, b"stray").unwrap();
    let r = env.run(&["system", "check"]).ok();
    assert!(r.stdout().contains("leftover"), "{}", r.stdout());
    env.run(&["system", "check", "--repair"]).ok();
    assert!(!stray.exists());
}

#[test]
fn store_root_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = new_env();
    env.run(&["images"]).ok();
    let mode = std::fs::metadata(env.root()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "CVE-2021-41091: the store root must not be traversable by other users");
}

/// A layer that inflates past the free disk fails cleanly: a small gzip that expands to more than
/// the store's filesystem holds (a tmpfs this test mounts) is refused and leaves nothing behind.
#[test]
fn a_layer_inflating_past_the_free_disk_fails_cleanly() {
    let env = new_env();
    let mnt = env.path("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let st =
        std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"]).arg(&mnt).status().unwrap();
    assert!(st.success(), "mounting a tmpfs needs root (CI runs as root)");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let root = mnt.join("root");
    let run = |args: &[&str], input: Option<&[u8]>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"));
        c.arg("--root").arg(&root).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        c.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = c.spawn().unwrap();
        if let Some(d) = input {
            let mut si = child.stdin.take().unwrap();
            let d = d.to_vec();
            std::thread::spawn(move || {
                let _ = si.write_all(&d);
            });
        }
        child.wait_with_output().unwrap()
    };
    assert!(run(&["import", "-", "small"], Some(&small_tar(&[("a", b"a")]))).status.success());
    // 64 MiB of zeros in one file, gzip-compressed to a few tens of KiB.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(64 << 20);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "zeros", std::io::repeat(0).take(64 << 20)).unwrap();
    let bomb = gzip(&b.into_inner().unwrap());
    assert!(bomb.len() < 1 << 20);
    let o = run(&["import", "-", "bomb"], Some(&bomb));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("No space left") || err.contains("space"), "{err}");
    let o = run(&["system", "check"], None);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.contains("consistent") && !out.contains("leftover"), "{out}");
    let o = run(&["images", "-q"], None);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    // The space is free again: another import fits.
    assert!(run(&["import", "-", "again"], Some(&small_tar(&[("b", b"b")]))).status.success());
}
