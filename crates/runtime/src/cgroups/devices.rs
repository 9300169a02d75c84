//! Device access on cgroup v2: v2 has no `devices.allow`; the kernel asks a BPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the cgroup instead. This compiles the spec's device
//! rules (plus the devices every container needs, as on v1) to such a program and attaches it.
//!
//! The rules keep v1's meaning: they apply in order, a later rule overriding an earlier one, so
//! the program tries them from the last to the first and the first that matches decides; a device
//! no rule matches is refused. A rule matches when its type (`a` for all, `c`, `b`) and its major
//! and minor (absent for any) match and the access asked for (`r`, `w`, `m`) is within its access.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use super::{CgroupError, Result};

/// The devices (after the spec's rules) every container may use: null, zero, full, tty, random,
/// urandom, console, ptmx and the ptys (runc's list, also written on v1).
pub(crate) const DEFAULT_ALLOWED: [(char, i64, Option<i64>); 9] = [
    ('c', 1, Some(3)),
    ('c', 1, Some(5)),
    ('c', 1, Some(7)),
    ('c', 1, Some(8)),
    ('c', 1, Some(9)),
    ('c', 5, Some(0)),
    ('c', 5, Some(1)),
    ('c', 5, Some(2)),
    ('c', 136, None),
];

/// One rule as the program tests it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// BPF_DEVCG_DEV_BLOCK (1) or BPF_DEVCG_DEV_CHAR (2); None for all.
    kind: Option<u32>,
    major: Option<u32>,
    minor: Option<u32>,
    /// BPF_DEVCG_ACC_MKNOD (1) | READ (2) | WRITE (4).
    access: u32,
}

fn access_bits(s: &str) -> u32 {
    s.chars()
        .map(|c| match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

fn rules_of(spec: &[LinuxDeviceCgroup]) -> Vec<Rule> {
    let num = |v: Option<i64>| v.filter(|n| *n >= 0).map(|n| n as u32);
    let mut rules: Vec<Rule> = spec
        .iter()
        .map(|d| Rule {
            allow: d.allow(),
            kind: match d.typ().map(|t| t.as_str().to_string()).as_deref() {
                Some("b") => Some(1),
                Some("c") | Some("u") | Some("p") => Some(2),
                _ => None,
            },
            major: num(d.major()),
            minor: num(d.minor()),
            access: d.access().as_deref().map(access_bits).unwrap_or(7),
        })
        .collect();
    if !spec.is_empty() {
        for (_, major, minor) in DEFAULT_ALLOWED {
            rules.push(Rule {
                allow: true,
                kind: Some(2),
                major: Some(major as u32),
                minor: minor.map(|m| m as u32),
                access: 7,
            });
        }
    }
    rules
}

// eBPF instructions (code, dst, src, off, imm).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND64_K: u8 = 0x57;
const RSH64_K: u8 = 0x77;
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const JNE_K: u8 = 0x55;
const EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = (src << 4) | (dst & 0x0f);
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    b
}

/// The program for `rules`: r2 = device type, r3 = access asked, r4 = major, r5 = minor.
fn program(rules: &[Rule]) -> Vec<[u8; 8]> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND64_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH64_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let mut tests: Vec<[u8; 8]> = Vec::new();
        // Each test jumps past the rest of this rule (patched below) when it fails.
        if let Some(k) = r.kind {
            tests.push(insn(JNE_K, 2, 0, 0, k as i32));
        }
        if r.access != 7 {
            tests.push(insn(MOV64_X, 6, 3, 0, 0));
            tests.push(insn(AND64_K, 6, 0, 0, (!r.access & 7) as i32));
            tests.push(insn(JNE_K, 6, 0, 0, 0));
        }
        if let Some(m) = r.major {
            tests.push(insn(JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            tests.push(insn(JNE_K, 5, 0, 0, m as i32));
        }
        let tail = [insn(MOV64_K, 0, 0, 0, r.allow as i32), insn(EXIT, 0, 0, 0, 0)];
        let len = tests.len() + tail.len();
        for (i, t) in tests.iter_mut().enumerate() {
            if t[0] == JNE_K {
                let off = (len - i - 1) as i16;
                t[2..4].copy_from_slice(&off.to_le_bytes());
            }
        }
        let always = tests.is_empty();
        p.extend(tests);
        p.extend(tail);
        if always {
            // Matches every device: what follows could never run (the verifier refuses dead code).
            return p;
        }
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

fn bpf(cmd: libc::c_int, attr: &mut [u8; 128]) -> std::io::Result<libc::c_long> {
    // SAFETY: attr is a zero-filled bpf_attr of the size passed; the pointers in it outlive the call.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Compiles `spec` (the spec's `linux.resources.devices`) and attaches the program to the v2
/// cgroup directory `dir`. Nothing is attached for an empty list (no device rules: no limit).
pub fn attach_device_filter(dir: &Path, spec: &[LinuxDeviceCgroup]) -> Result<()> {
    if spec.is_empty() {
        return Ok(());
    }
    let err = |source: std::io::Error| CgroupError::Write {
        path: dir.to_path_buf(),
        value: "a device filter program".into(),
        source,
    };
    let prog = program(&rules_of(spec));
    let bytes: Vec<u8> = prog.iter().flatten().copied().collect();
    let license = c"Apache";
    // BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program; with `log`, the verifier's account.
    let load = |log: Option<&mut Vec<u8>>| {
        let mut attr = [0u8; 128];
        attr[0..4].copy_from_slice(&15u32.to_le_bytes());
        attr[4..8].copy_from_slice(&(prog.len() as u32).to_le_bytes());
        attr[8..16].copy_from_slice(&(bytes.as_ptr() as u64).to_le_bytes());
        attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_le_bytes());
        if let Some(log) = log {
            attr[24..28].copy_from_slice(&1u32.to_le_bytes());
            attr[28..32].copy_from_slice(&(log.len() as u32).to_le_bytes());
            attr[32..40].copy_from_slice(&(log.as_mut_ptr() as u64).to_le_bytes());
        }
        bpf(5, &mut attr)
    };
    let fd = load(None).map_err(|e| {
        let mut log = vec![0u8; 1 << 20];
        let _ = load(Some(&mut log));
        let verifier = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)]).into_owned();
        err(std::io::Error::new(e.kind(), format!("loading: {e} {}", verifier.trim())))
    })?;
    // SAFETY: BPF_PROG_LOAD returned a new fd that nothing else owns.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cg = std::fs::File::open(dir).map_err(err)?;
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&(cg.as_raw_fd() as u32).to_le_bytes());
    attr[4..8].copy_from_slice(&(prog_fd.as_raw_fd() as u32).to_le_bytes());
    attr[8..12].copy_from_slice(&6u32.to_le_bytes()); // BPF_CGROUP_DEVICE
    attr[12..16].copy_from_slice(&2u32.to_le_bytes()); // BPF_F_ALLOW_MULTI
    bpf(8, &mut attr).map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_keep_v1_meaning_and_jumps_land_on_the_next_rule() {
        let spec: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"}]"#,
        )
        .unwrap();
        let rules = rules_of(&spec);
        assert_eq!(rules.len(), 2 + DEFAULT_ALLOWED.len());
        assert_eq!(rules[0], Rule { allow: false, kind: None, major: None, minor: None, access: 7 });
        assert_eq!(rules[1].access, 6);
        let p = program(&rules);
        // Every jump lands inside the program, on the start of a later rule or the default.
        for (i, ins) in p.iter().enumerate() {
            if ins[0] == JNE_K {
                let off = i16::from_le_bytes([ins[2], ins[3]]) as usize;
                let target = i + 1 + off;
                assert!(target < p.len(), "jump at {i} lands outside");
                assert_eq!(p[target - 1][0], EXIT, "jump at {i} does not land after a rule's exit");
            }
        }
        assert_eq!(p.last().unwrap()[0], EXIT);
        // A rule matching every device ends the program: nothing after it could run.
        let all: Vec<LinuxDeviceCgroup> = serde_json::from_str(r#"[{"allow": false, "access": "rwm"}]"#).unwrap();
        let p = program(&rules_of(&all));
        let ends = p.iter().filter(|i| i[0] == EXIT).count();
        assert_eq!(ends, DEFAULT_ALLOWED.len() + 1, "the default after the deny-all rule is dead code");
    }
}
