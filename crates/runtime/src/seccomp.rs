//! Seccomp: compiles an OCI `linux.seccomp` section (Docker's profile format: `defaultAction`,
//! `defaultErrnoRet`, `syscalls[]` with `names`, `action`, `errnoRet` and `args` conditions) to
//! classic BPF with `seccompiler` (pure Rust, no libseccomp), and installs it with seccomp(2).
//!
//! seccompiler builds one filter per match action, so a profile becomes a stack of filters: the
//! first lets every listed syscall through and applies the default action to the rest; each further
//! filter applies one non-allow action (e.g. `clone3` -> ENOSYS) to its syscalls and allows the
//! rest. The kernel returns the most restrictive result of the stack, and among equal actions the
//! most recently installed filter's, which gives libseccomp's semantics for these profiles.
//! Syscall names unknown on this architecture are skipped, as libseccomp and runc do.

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

use crate::syscall_table;

/// Errors compiling or installing a seccomp profile.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp is only supported on x86_64 by this runtime, not {0}")]
    UnsupportedArch(&'static str),
    #[error("seccomp action {0:?} is not supported")]
    UnsupportedAction(LinuxSeccompAction),
    #[error("seccomp condition on syscall {syscall} is invalid: {reason}")]
    BadCondition { syscall: String, reason: String },
    #[error("compiling the seccomp filter for action {action}: {reason}")]
    Compile { action: String, reason: String },
}

/// A compiled profile: the BPF programs to install, in order.
#[derive(Debug, Clone)]
pub struct CompiledSeccomp {
    pub(crate) programs: Vec<BpfProgram>,
}

/// The number of a syscall by name on this architecture.
pub fn syscall_number(name: &str) -> Option<i64> {
    syscall_table::X86_64.binary_search_by(|(n, _)| n.cmp(&name)).ok().map(|i| syscall_table::X86_64[i].1)
}

fn action_of(action: LinuxSeccompAction, errno: Option<u32>) -> Result<SeccompAction, SeccompError> {
    Ok(match action {
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32)),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => SeccompAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace(errno.unwrap_or(libc::EPERM as u32)),
        other => return Err(SeccompError::UnsupportedAction(other)),
    })
}

/// Rules for one syscall: `None` means unconditional.
type RuleSet = BTreeMap<i64, Option<Vec<SeccompRule>>>;

fn add_rule(set: &mut RuleSet, nr: i64, rule: Option<SeccompRule>) {
    match rule {
        None => {
            set.insert(nr, None);
        }
        Some(rule) => {
            // An unconditional entry (None) already matches everything.
            if let Some(rules) = set.entry(nr).or_insert_with(|| Some(Vec::new())) {
                rules.push(rule);
            }
        }
    }
}

fn build(rules: RuleSet, mismatch: SeccompAction, matched: SeccompAction) -> Result<BpfProgram, SeccompError> {
    let label = format!("{matched:?}");
    let rules = rules.into_iter().map(|(nr, r)| (nr, r.unwrap_or_default())).collect();
    let filter = SeccompFilter::new(rules, mismatch, matched, seccompiler::TargetArch::x86_64)
        .map_err(|e| SeccompError::Compile { action: label.clone(), reason: e.to_string() })?;
    BpfProgram::try_from(filter).map_err(|e| SeccompError::Compile { action: label, reason: e.to_string() })
}

/// Compiles an OCI seccomp section to the BPF programs to install.
pub fn compile(profile: &LinuxSeccomp) -> Result<CompiledSeccomp, SeccompError> {
    if std::env::consts::ARCH != "x86_64" {
        return Err(SeccompError::UnsupportedArch(std::env::consts::ARCH));
    }
    let default = action_of(profile.default_action(), profile.default_errno_ret())?;
    // Every listed syscall whose action differs from the default, grouped by action.
    let mut through = RuleSet::new();
    let mut by_action: Vec<(SeccompAction, RuleSet)> = Vec::new();
    for sc in profile.syscalls().iter().flatten() {
        let action = action_of(sc.action(), sc.errno_ret())?;
        if action == default {
            continue;
        }
        for name in sc.names() {
            let Some(nr) = syscall_number(name) else { continue };
            let rule = match sc.args() {
                Some(args) if !args.is_empty() => {
                    let mut conds = Vec::with_capacity(args.len());
                    for a in args {
                        let bad = |reason: String| SeccompError::BadCondition { syscall: name.clone(), reason };
                        let (op, value) = match a.op() {
                            LinuxSeccompOperator::ScmpCmpEq => (SeccompCmpOp::Eq, a.value()),
                            LinuxSeccompOperator::ScmpCmpNe => (SeccompCmpOp::Ne, a.value()),
                            LinuxSeccompOperator::ScmpCmpLt => (SeccompCmpOp::Lt, a.value()),
                            LinuxSeccompOperator::ScmpCmpLe => (SeccompCmpOp::Le, a.value()),
                            LinuxSeccompOperator::ScmpCmpGt => (SeccompCmpOp::Gt, a.value()),
                            LinuxSeccompOperator::ScmpCmpGe => (SeccompCmpOp::Ge, a.value()),
                            // OCI: `value` is the mask, `valueTwo` the datum to compare with.
                            LinuxSeccompOperator::ScmpCmpMaskedEq => {
                                (SeccompCmpOp::MaskedEq(a.value()), a.value_two().unwrap_or(0))
                            }
                        };
                        let index =
                            u8::try_from(a.index()).map_err(|_| bad(format!("argument index {}", a.index())))?;
                        conds.push(
                            SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)
                                .map_err(|e| bad(e.to_string()))?,
                        );
                    }
                    Some(
                        SeccompRule::new(conds)
                            .map_err(|e| SeccompError::BadCondition { syscall: name.clone(), reason: e.to_string() })?,
                    )
                }
                _ => None,
            };
            add_rule(&mut through, nr, rule.clone());
            if action != SeccompAction::Allow {
                let idx = match by_action.iter().position(|(a, _)| *a == action) {
                    Some(i) => i,
                    None => {
                        by_action.push((action.clone(), RuleSet::new()));
                        by_action.len() - 1
                    }
                };
                add_rule(&mut by_action[idx].1, nr, rule);
            }
        }
    }
    let mut programs = Vec::new();
    if default != SeccompAction::Allow {
        programs.push(build(through, default, SeccompAction::Allow)?);
    }
    for (action, rules) in by_action {
        programs.push(build(rules, SeccompAction::Allow, action)?);
    }
    Ok(CompiledSeccomp { programs })
}

/// Installs the compiled filters on the calling thread. Does not set no_new_privs: the caller
/// does that when the spec asks for it (otherwise CAP_SYS_ADMIN is needed, so this runs before
/// capabilities are dropped). Returns the errno on failure.
pub(crate) fn install(compiled: &CompiledSeccomp) -> Result<(), i32> {
    for prog in &compiled.programs {
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            // seccompiler's sock_filter has the kernel's layout (u16, u8, u8, u32).
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: fprog points at a live, correctly sized BPF program for the duration of the call.
        let rc = unsafe {
            libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &fprog as *const libc::sock_fprog)
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_x86_64_numbers() {
        assert_eq!(syscall_number("read"), Some(0));
        assert_eq!(syscall_number("clone3"), Some(435));
        assert_eq!(syscall_number("chown32"), None);
    }
}
