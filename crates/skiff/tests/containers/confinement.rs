//! What confines a container: stdin and the tty, namespaces (and `--net container:`), the default
//! seccomp profile for i386 programs too, and AppArmor where the kernel has it.

use crate::common::{busybox, skip};
use crate::{assert_gone, inspect};

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
