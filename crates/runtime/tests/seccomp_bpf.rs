//! The seccomp compiler's one BPF program, run by a small classic-BPF interpreter on made-up
//! syscalls: Docker's default profile (from the OCI config Docker generated, in the fixtures)
//! and a profile exercising every comparison on 64-bit arguments.

use skiff_runtime::oci_spec::runtime::LinuxSeccomp;
use skiff_runtime::seccomp::{compile, ret, syscall_number};

const X86_64: u32 = 0xC000_003E;
const I386: u32 = 0x4000_0003;
const AARCH64: u32 = 0xC000_00B7;
const X32_BIT: i64 = 0x4000_0000;

/// Runs the program on seccomp_data {nr, arch, args}; returns the seccomp return value.
fn run(prog: &[(u16, u8, u8, u32)], nr: i64, arch: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&(nr as u32).to_le_bytes());
    data[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    let (mut acc, mut pc) = (0u32, 0usize);
    for _ in 0..10_000 {
        let (code, jt, jf, k) = prog[pc];
        pc += 1;
        match code {
            0x20 => acc = u32::from_le_bytes(data[k as usize..k as usize + 4].try_into().unwrap()),
            0x54 => acc &= k,
            0x05 => pc += k as usize,
            0x15 | 0x25 | 0x35 | 0x45 => {
                let hit = match code {
                    0x15 => acc == k,
                    0x25 => acc > k,
                    0x35 => acc >= k,
                    _ => acc & k != 0,
                };
                pc += if hit { jt } else { jf } as usize;
            }
            0x06 => return k,
            other => panic!("unexpected BPF opcode {other:#x} at {}", pc - 1),
        }
    }
    panic!("the program did not return");
}

/// The seccomp section of the OCI config Docker generated (in the fixtures).
fn dockers_profile() -> LinuxSeccomp {
    let config = skiff_testutil::docker_oci_config();
    serde_json::from_value(config["linux"]["seccomp"].clone()).unwrap()
}

fn nr(name: &str) -> i64 {
    syscall_number(name).unwrap()
}

#[test]
fn dockers_default_profile_decides_as_libseccomp() {
    let profile = dockers_profile();
    let prog = compile(&profile).unwrap().instructions();
    assert!(prog.len() < 4096);
    let eperm = ret::ERRNO | libc::EPERM as u32;
    let none = [0; 6];
    assert_eq!(run(&prog, nr("read"), X86_64, none), ret::ALLOW);
    assert_eq!(run(&prog, nr("execve"), X86_64, none), ret::ALLOW);
    // Not in the profile: the default action.
    assert_eq!(run(&prog, nr("mount"), X86_64, none), eperm);
    assert_eq!(run(&prog, nr("kexec_load"), X86_64, none), eperm);
    assert_eq!(run(&prog, 999, X86_64, none), eperm);
    // An architecture the profile does not list is killed.
    assert_eq!(run(&prog, 0, AARCH64, none), ret::KILL_PROCESS);
    // Its own errno.
    assert_eq!(run(&prog, nr("clone3"), X86_64, none), ret::ERRNO | libc::ENOSYS as u32);
    // personality: only the listed personas.
    assert_eq!(run(&prog, nr("personality"), X86_64, [0, 0, 0, 0, 0, 0]), ret::ALLOW);
    assert_eq!(run(&prog, nr("personality"), X86_64, [0xffff_ffff, 0, 0, 0, 0, 0]), ret::ALLOW);
    assert_eq!(run(&prog, nr("personality"), X86_64, [1, 0, 0, 0, 0, 0]), eperm);
    assert_eq!(run(&prog, nr("personality"), X86_64, [0x1_0000_0000, 0, 0, 0, 0, 0]), eperm);
    // clone: no namespace flags (masked equal to 0).
    assert_eq!(run(&prog, nr("clone"), X86_64, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), ret::ALLOW);
    let newuser = (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64;
    assert_eq!(run(&prog, nr("clone"), X86_64, [newuser, 0, 0, 0, 0, 0]), eperm);
}

/// Docker's profile lists SCMP_ARCH_X86 and SCMP_ARCH_X32 beside x86_64: 32-bit programs get the
/// same decisions, by their own ABI's syscall numbers.
#[test]
fn i386_and_x32_syscalls_are_decided_by_their_own_numbers() {
    let mut profile = dockers_profile();
    let prog = compile(&profile).unwrap().instructions();
    let eperm = ret::ERRNO | libc::EPERM as u32;
    let none = [0; 6];
    // i386 numbers (asm/unistd_32.h): read 3, mount 21, clone 120, personality 136, _llseek 140,
    // socketcall 102, clone3 435; 999 is none.
    assert_eq!(run(&prog, 3, I386, none), ret::ALLOW);
    assert_eq!(run(&prog, 140, I386, none), ret::ALLOW, "_llseek exists on i386 only");
    assert_eq!(run(&prog, 102, I386, none), ret::ALLOW);
    assert_eq!(run(&prog, 21, I386, none), eperm);
    assert_eq!(run(&prog, 999, I386, none), eperm);
    assert_eq!(run(&prog, 435, I386, none), ret::ERRNO | libc::ENOSYS as u32);
    assert_eq!(run(&prog, 136, I386, [0xffff_ffff, 0, 0, 0, 0, 0]), ret::ALLOW);
    assert_eq!(run(&prog, 136, I386, [1, 0, 0, 0, 0, 0]), eperm);
    let newuser = (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64;
    assert_eq!(run(&prog, 120, I386, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), ret::ALLOW);
    assert_eq!(run(&prog, 120, I386, [newuser, 0, 0, 0, 0, 0]), eperm);
    // x32 (asm/unistd_x32.h, with X32_SYSCALL_BIT): read 0, readv 515, mount 165.
    assert_eq!(run(&prog, X32_BIT, X86_64, none), ret::ALLOW);
    assert_eq!(run(&prog, X32_BIT + 515, X86_64, none), ret::ALLOW);
    assert_eq!(run(&prog, X32_BIT + 165, X86_64, none), eperm);
    // Without them listed, both are killed, and x86_64 decides as before.
    profile.set_architectures(None);
    let prog = compile(&profile).unwrap().instructions();
    assert_eq!(run(&prog, 3, I386, none), ret::KILL_PROCESS);
    assert_eq!(run(&prog, X32_BIT, X86_64, none), ret::KILL_PROCESS);
    assert_eq!(run(&prog, nr("read"), X86_64, none), ret::ALLOW);
    assert_eq!(run(&prog, nr("mount"), X86_64, none), eperm);
}

#[test]
fn every_comparison_on_64_bit_arguments() {
    let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
             "args": [{"index": 0, "value": 0x1_0000_0005u64, "op": "SCMP_CMP_GT"}]},
            {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 6,
             "args": [{"index": 1, "value": 0x1_0000_0005u64, "op": "SCMP_CMP_GE"}]},
            {"names": ["close"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7,
             "args": [{"index": 2, "value": 0x1_0000_0005u64, "op": "SCMP_CMP_LT"}]},
            {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 8,
             "args": [{"index": 3, "value": 0x1_0000_0005u64, "op": "SCMP_CMP_LE"}]},
            {"names": ["lseek"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9,
             "args": [{"index": 5, "value": 0x1_0000_0005u64, "op": "SCMP_CMP_NE"}]},
            {"names": ["mmap"], "action": "SCMP_ACT_ERRNO", "errnoRet": 10,
             "args": [{"index": 0, "value": 0xff_0000_00ffu64, "valueTwo": 0x12_0000_0034u64, "op": "SCMP_CMP_MASKED_EQ"},
                      {"index": 1, "value": 3, "op": "SCMP_CMP_EQ"}]},
            {"names": ["mmap"], "action": "SCMP_ACT_KILL_PROCESS",
             "args": [{"index": 1, "value": 4, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 11},
            {"names": ["getpid"], "action": "SCMP_ACT_KILL_PROCESS",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}
        ]
    }))
    .unwrap();
    let prog = compile(&profile).unwrap().instructions();
    let e = |n: u32| ret::ERRNO | n;
    let at = |i: usize, v: u64| {
        let mut a = [0u64; 6];
        a[i] = v;
        a
    };
    let v = 0x1_0000_0005u64;
    for (x, gt, ge, lt, le, ne) in [
        (v, false, true, false, true, false),
        (v + 1, true, true, false, false, true),
        (v - 1, false, false, true, true, true),
        (0x2_0000_0000, true, true, false, false, true),
        (0x0_ffff_ffff, false, false, true, true, true),
        (5, false, false, true, true, true),
    ] {
        let expect = |hit: bool, n: u32| if hit { e(n) } else { ret::ALLOW };
        assert_eq!(run(&prog, nr("read"), X86_64, at(0, x)), expect(gt, 5), "{x:#x} > {v:#x}");
        assert_eq!(run(&prog, nr("write"), X86_64, at(1, x)), expect(ge, 6), "{x:#x} >= {v:#x}");
        assert_eq!(run(&prog, nr("close"), X86_64, at(2, x)), expect(lt, 7), "{x:#x} < {v:#x}");
        assert_eq!(run(&prog, nr("openat"), X86_64, at(3, x)), expect(le, 8), "{x:#x} <= {v:#x}");
        assert_eq!(run(&prog, nr("lseek"), X86_64, at(5, x)), expect(ne, 9), "{x:#x} != {v:#x}");
    }
    // Masked equality on both words, and-ed with a second condition.
    assert_eq!(run(&prog, nr("mmap"), X86_64, [0xab12_cdef_9934, 3, 0, 0, 0, 0]), e(10));
    assert_eq!(run(&prog, nr("mmap"), X86_64, [0xab12_cdef_9934, 2, 0, 0, 0, 0]), ret::ALLOW);
    assert_eq!(run(&prog, nr("mmap"), X86_64, [0xab13_cdef_9934, 3, 0, 0, 0, 0]), ret::ALLOW);
    // The more restrictive rule wins where both match; an unconditional rule still applies.
    assert_eq!(run(&prog, nr("mmap"), X86_64, [0, 4, 0, 0, 0, 0]), ret::KILL_PROCESS);
    assert_eq!(run(&prog, nr("getpid"), X86_64, at(0, 1)), ret::KILL_PROCESS);
    assert_eq!(run(&prog, nr("getpid"), X86_64, at(0, 2)), e(11));
    assert_eq!(run(&prog, nr("getppid"), X86_64, at(0, 2)), ret::ALLOW);
}

/// Every x86_64 number (listed or not, beyond the table too) gets from the compiled program what
/// Docker's profile says for it without arguments: numbers are grouped into ranges, and no range
/// may swallow a neighbour with another action.
#[test]
fn every_number_decides_as_the_profile_says() {
    let profile = dockers_profile();
    let prog = compile(&profile).unwrap().instructions();
    let default = ret::ERRNO | libc::EPERM as u32;
    let mut expected = std::collections::BTreeMap::new();
    let mut conditional = std::collections::BTreeSet::new();
    for sc in profile.syscalls().iter().flatten() {
        let action = match sc.action() {
            skiff_runtime::oci_spec::runtime::LinuxSeccompAction::ScmpActAllow => ret::ALLOW,
            skiff_runtime::oci_spec::runtime::LinuxSeccompAction::ScmpActErrno => {
                ret::ERRNO | sc.errno_ret().unwrap_or(libc::EPERM as u32)
            }
            other => panic!("Docker's profile has no {other:?}"),
        };
        for name in sc.names() {
            let Some(nr) = syscall_number(name) else { continue };
            if sc.args().as_ref().is_some_and(|a| !a.is_empty()) {
                conditional.insert(nr);
            } else {
                expected.insert(nr, action);
            }
        }
    }
    for nr in 0..1024i64 {
        if conditional.contains(&nr) && !expected.contains_key(&nr) {
            continue;
        }
        let want = expected.get(&nr).copied().unwrap_or(default);
        assert_eq!(run(&prog, nr, X86_64, [0; 6]), want, "syscall {nr}");
    }
}
