//! Seccomp: compiles an OCI `linux.seccomp` section (Docker's profile format: `defaultAction`,
//! `defaultErrnoRet`, `architectures`, `syscalls[]` with `names`, `action`, `errnoRet` and `args`
//! conditions) to one classic BPF program, and installs it with seccomp(2): one filter, as Docker's
//! libseccomp makes.
//!
//! The program dispatches on the architecture: x86_64 always, i386 (`SCMP_ARCH_X86`) and x32
//! (`SCMP_ARCH_X32`: x86_64's audit arch, syscall numbers with `X32_SYSCALL_BIT`) when the profile
//! lists them, as Docker's default profile does on x86_64; any other architecture (or an x32 call
//! when x32 is not listed) is killed. Within an architecture the names are resolved with that
//! ABI's table, and consecutive numbers with the same unconditional action form one range, tried in
//! ascending order with two comparisons each (numbers in no range get the default). A syscall listed without
//! conditions returns its action at once; one with conditions jumps to its block, which tries its
//! rules from the most restrictive action to the least (the kernel's order: kill, trap, errno,
//! trace, log, allow), each rule an AND of argument comparisons (64-bit; on i386, whose arguments
//! are 32-bit, the low words only, as libseccomp), and returns the first matching rule's action, or
//! the default action. That is what libseccomp's profiles mean, and what the kernel would decide
//! from a stack of one filter per action. Syscall names unknown on an ABI are skipped there, as
//! libseccomp and runc do.

use std::collections::BTreeMap;

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

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
    #[error("the seccomp profile compiles to {0} BPF instructions, more than the kernel's 4096")]
    TooLong(usize),
}

/// A compiled profile: one BPF program.
#[derive(Debug, Clone)]
pub struct CompiledSeccomp {
    pub(crate) program: Vec<libc::sock_filter>,
}

impl CompiledSeccomp {
    /// The program's instructions as (code, jt, jf, k).
    pub fn instructions(&self) -> Vec<(u16, u8, u8, u32)> {
        self.program.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
    }
}

/// The number of a syscall by name on this architecture.
pub fn syscall_number(name: &str) -> Option<i64> {
    numbers(name).map(|n| n[syscall_table::X86_64]).filter(|n| *n >= 0)
}

/// A syscall's numbers on the three ABIs (-1 where it has none).
fn numbers(name: &str) -> Option<[i64; 3]> {
    let t = syscall_table::SYSCALLS;
    t.binary_search_by(|(n, _)| n.cmp(&name)).ok().map(|i| t[i].1)
}

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// Marks an x32 syscall number (x32 shares x86_64's audit arch).
const X32_SYSCALL_BIT: i64 = 0x4000_0000;

/// seccomp(2) return values.
pub mod ret {
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    pub const KILL_THREAD: u32 = 0;
    pub const TRAP: u32 = 0x0003_0000;
    pub const ERRNO: u32 = 0x0005_0000;
    pub const TRACE: u32 = 0x7ff0_0000;
    pub const LOG: u32 = 0x7ffc_0000;
    pub const ALLOW: u32 = 0x7fff_0000;
}

/// The seccomp return value of an OCI action.
fn action_of(action: LinuxSeccompAction, errno: Option<u32>) -> Result<u32, SeccompError> {
    let data = |d: u32| d & 0xffff;
    Ok(match action {
        LinuxSeccompAction::ScmpActAllow => ret::ALLOW,
        LinuxSeccompAction::ScmpActErrno => ret::ERRNO | data(errno.unwrap_or(libc::EPERM as u32)),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ret::KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => ret::KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => ret::TRAP,
        LinuxSeccompAction::ScmpActLog => ret::LOG,
        LinuxSeccompAction::ScmpActTrace => ret::TRACE | data(errno.unwrap_or(libc::EPERM as u32)),
        other => return Err(SeccompError::UnsupportedAction(other)),
    })
}

/// How restrictive a return value is: the kernel applies the most restrictive of a stack.
fn severity(action: u32) -> u8 {
    match action & 0xffff_0000 {
        ret::KILL_PROCESS => 7,
        ret::KILL_THREAD => 6,
        ret::TRAP => 5,
        ret::ERRNO => 4,
        ret::TRACE => 2,
        ret::LOG => 1,
        _ => 0,
    }
}

/// One 64-bit argument comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cond {
    arg: u8,
    op: Op,
    value: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `(arg & mask) == value`.
    MaskedEq(u64),
}

/// The rules of one syscall: (action, conditions), an empty list of conditions matching always.
type Rules = BTreeMap<i64, Vec<(u32, Vec<Cond>)>>;

/// Compiles an OCI seccomp section to the BPF program to install.
pub fn compile(profile: &LinuxSeccomp) -> Result<CompiledSeccomp, SeccompError> {
    if std::env::consts::ARCH != "x86_64" {
        return Err(SeccompError::UnsupportedArch(std::env::consts::ARCH));
    }
    let default = action_of(profile.default_action(), profile.default_errno_ret())?;
    let listed = |a: Arch| profile.architectures().iter().flatten().any(|x| *x == a);
    let x32 = listed(Arch::ScmpArchX32);
    let mut native = vec![(syscall_table::X86_64, 0)];
    if x32 {
        native.push((syscall_table::X32, X32_SYSCALL_BIT));
    }
    let i386 = listed(Arch::ScmpArchX86);
    let i386_abi = [(syscall_table::I386, 0)];
    let [native, i386_rules] = rules(profile, default, [&native, if i386 { &i386_abi } else { &[] }])?;
    let i386 = i386.then_some(i386_rules);
    let program = assemble(default, &native, x32, i386.as_ref())?;
    Ok(CompiledSeccomp { program })
}

/// The profile's rules for two filter blocks, each listing the ABIs (a column of the syscall
/// table and the bias added to its numbers) whose names it resolves.
fn rules(profile: &LinuxSeccomp, default: u32, blocks: [&[(usize, i64)]; 2]) -> Result<[Rules; 2], SeccompError> {
    let mut rules = [Rules::new(), Rules::new()];
    for sc in profile.syscalls().iter().flatten() {
        let action = action_of(sc.action(), sc.errno_ret())?;
        if action == default {
            continue;
        }
        for name in sc.names() {
            let bad = |reason: String| SeccompError::BadCondition { syscall: name.clone(), reason };
            let mut conds = Vec::new();
            for a in sc.args().iter().flatten() {
                let op = match a.op() {
                    LinuxSeccompOperator::ScmpCmpEq => Op::Eq,
                    LinuxSeccompOperator::ScmpCmpNe => Op::Ne,
                    LinuxSeccompOperator::ScmpCmpLt => Op::Lt,
                    LinuxSeccompOperator::ScmpCmpLe => Op::Le,
                    LinuxSeccompOperator::ScmpCmpGt => Op::Gt,
                    LinuxSeccompOperator::ScmpCmpGe => Op::Ge,
                    // OCI: `value` is the mask, `valueTwo` the datum to compare with.
                    LinuxSeccompOperator::ScmpCmpMaskedEq => Op::MaskedEq(a.value()),
                };
                let value = if let Op::MaskedEq(_) = op { a.value_two().unwrap_or(0) } else { a.value() };
                let arg = u8::try_from(a.index())
                    .ok()
                    .filter(|i| *i < 6)
                    .ok_or_else(|| bad(format!("argument index {}", a.index())))?;
                conds.push(Cond { arg, op, value });
            }
            let Some(nrs) = numbers(name) else { continue };
            for (rules, abis) in rules.iter_mut().zip(blocks) {
                for &(abi, bias) in abis {
                    if nrs[abi] >= 0 {
                        rules.entry(nrs[abi] + bias).or_default().push((action, conds.clone()));
                    }
                }
            }
        }
    }
    Ok(rules)
}

/// A jump target while assembling: a fixed offset or a label resolved at the end.
#[derive(Debug, Clone, Copy)]
enum To {
    Next,
    Label(usize),
}

#[derive(Debug, Clone, Copy)]
struct Insn {
    code: u16,
    jt: To,
    jf: To,
    k: u32,
}

const LD_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT: u16 = 0x25;
const JGE: u16 = 0x35;
const JA: u16 = 0x05;
const AND: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RET: u16 = 0x06; // BPF_RET | BPF_K

struct Asm {
    code: Vec<Insn>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    fn bind(&mut self, l: usize) {
        self.labels[l] = Some(self.code.len());
    }
    fn op(&mut self, code: u16, k: u32) {
        self.code.push(Insn { code, jt: To::Next, jf: To::Next, k });
    }
    fn jump(&mut self, code: u16, k: u32, jt: To, jf: To) {
        self.code.push(Insn { code, jt, jf, k });
    }
    fn ld(&mut self, offset: u32) {
        self.op(LD_ABS, offset);
    }
    fn ret(&mut self, v: u32) {
        self.op(RET, v);
    }
}

fn arg_lo(i: u8) -> u32 {
    16 + 8 * i as u32
}

fn arg_hi(i: u8) -> u32 {
    20 + 8 * i as u32
}

/// Emits `c`: falls through when it holds, jumps to `fail` when not. `narrow`: 32-bit arguments
/// (i386), compared by their low words.
fn condition(a: &mut Asm, c: &Cond, fail: usize, narrow: bool) {
    let (vh, vl) = ((c.value >> 32) as u32, c.value as u32);
    let pass = a.label();
    let fail = To::Label(fail);
    if narrow {
        a.ld(arg_lo(c.arg));
        match c.op {
            Op::Eq => a.jump(JEQ, vl, To::Next, fail),
            Op::MaskedEq(mask) => {
                a.op(AND, mask as u32);
                a.jump(JEQ, vl, To::Next, fail);
            }
            Op::Ne => a.jump(JEQ, vl, fail, To::Next),
            Op::Gt => a.jump(JGT, vl, To::Next, fail),
            Op::Ge => a.jump(JGE, vl, To::Next, fail),
            Op::Lt => a.jump(JGE, vl, fail, To::Next),
            Op::Le => a.jump(JGT, vl, fail, To::Next),
        }
        a.bind(pass);
        return;
    }
    match c.op {
        Op::Eq => {
            a.ld(arg_hi(c.arg));
            a.jump(JEQ, vh, To::Next, fail);
            a.ld(arg_lo(c.arg));
            a.jump(JEQ, vl, To::Next, fail);
        }
        Op::MaskedEq(mask) => {
            a.ld(arg_hi(c.arg));
            a.op(AND, (mask >> 32) as u32);
            a.jump(JEQ, vh, To::Next, fail);
            a.ld(arg_lo(c.arg));
            a.op(AND, mask as u32);
            a.jump(JEQ, vl, To::Next, fail);
        }
        Op::Ne => {
            a.ld(arg_hi(c.arg));
            a.jump(JEQ, vh, To::Next, To::Label(pass));
            a.ld(arg_lo(c.arg));
            a.jump(JEQ, vl, fail, To::Next);
        }
        // Unsigned 64-bit orderings: the high words decide unless they are equal.
        Op::Gt | Op::Ge => {
            a.ld(arg_hi(c.arg));
            a.jump(JGT, vh, To::Label(pass), To::Next);
            a.jump(JEQ, vh, To::Next, fail);
            a.ld(arg_lo(c.arg));
            a.jump(if c.op == Op::Gt { JGT } else { JGE }, vl, To::Next, fail);
        }
        Op::Lt | Op::Le => {
            a.ld(arg_hi(c.arg));
            a.jump(JGT, vh, fail, To::Next);
            a.jump(JEQ, vh, To::Next, To::Label(pass));
            a.ld(arg_lo(c.arg));
            // a < v is !(a >= v); a <= v is !(a > v).
            a.jump(if c.op == Op::Lt { JGE } else { JGT }, vl, fail, To::Next);
        }
    }
    a.bind(pass);
}

/// What a syscall number gets: an action at once, or the block trying its conditional rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Ret(u32),
    Block(i64),
}

/// Emits the decisions of one architecture's syscall numbers (the number already loaded);
/// conditional rules go to `blocks`, assembled after every architecture's list. Consecutive
/// numbers with the same action make one range, tested with two comparisons: Docker's profile
/// allows most numbers, so a few dozen ranges stand for hundreds of syscalls, and the program
/// the kernel checks and runs stays short.
fn dispatch<'r>(
    a: &mut Asm,
    default: u32,
    rules: &'r Rules,
    narrow: bool,
    blocks: &mut Vec<(usize, &'r Rules, i64, bool)>,
) {
    let mut ranges: Vec<(u32, u32, Decision)> = Vec::new();
    for (&nr, rs) in rules {
        // A rule without conditions decides alone when nothing more restrictive can match.
        let top = rs.iter().map(|(act, _)| severity(*act)).max().unwrap_or(0);
        let decision = match rs.iter().find(|(act, conds)| conds.is_empty() && severity(*act) == top) {
            Some((act, _)) => Decision::Ret(*act),
            None => Decision::Block(nr),
        };
        let nr = nr as u32;
        match ranges.last_mut() {
            Some((_, hi, d @ Decision::Ret(_))) if *hi + 1 == nr && *d == decision => *hi = nr,
            _ => ranges.push((nr, nr, decision)),
        }
    }
    // Ascending: a number above a range goes on to the next; one below it falls in the gap after
    // the previous range, which has the default action.
    for (lo, hi, decision) in ranges {
        let (next, inside) = (a.label(), a.label());
        a.jump(JGT, hi, To::Label(next), To::Next);
        a.jump(JGE, lo, To::Label(inside), To::Next);
        a.ret(default);
        a.bind(inside);
        match decision {
            Decision::Ret(act) => a.ret(act),
            Decision::Block(nr) => {
                let block = a.label();
                a.jump(JA, 0, To::Label(block), To::Label(block));
                blocks.push((block, rules, nr, narrow));
            }
        }
        a.bind(next);
    }
    a.ret(default);
}

fn assemble(
    default: u32,
    native: &Rules,
    x32: bool,
    i386: Option<&Rules>,
) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let mut a = Asm { code: Vec::new(), labels: Vec::new() };
    let (to_native, native_block) = (a.label(), a.label());
    let (to_i386, i386_block) = (a.label(), a.label());
    a.ld(4);
    a.jump(JEQ, AUDIT_ARCH_X86_64, To::Label(to_native), To::Next);
    if i386.is_some() {
        a.jump(JEQ, AUDIT_ARCH_I386, To::Label(to_i386), To::Next);
    }
    a.ret(ret::KILL_PROCESS);
    // Conditional jumps reach 255 instructions: the far blocks through `ja`.
    a.bind(to_native);
    a.jump(JA, 0, To::Label(native_block), To::Label(native_block));
    a.bind(to_i386);
    if i386.is_some() {
        a.jump(JA, 0, To::Label(i386_block), To::Label(i386_block));
    }
    let mut blocks = Vec::new();
    a.bind(native_block);
    a.ld(0);
    if !x32 {
        let native_nr = a.label();
        a.jump(JGE, X32_SYSCALL_BIT as u32, To::Next, To::Label(native_nr));
        a.ret(ret::KILL_PROCESS);
        a.bind(native_nr);
    }
    dispatch(&mut a, default, native, false, &mut blocks);
    a.bind(i386_block);
    if let Some(rules) = i386 {
        a.ld(0);
        dispatch(&mut a, default, rules, true, &mut blocks);
    }
    for (block, rules, nr, narrow) in blocks {
        a.bind(block);
        let mut ordered: Vec<&(u32, Vec<Cond>)> = rules[&nr].iter().collect();
        ordered.sort_by_key(|(act, _)| std::cmp::Reverse(severity(*act)));
        for (act, conds) in ordered {
            let next = a.label();
            for c in conds {
                condition(&mut a, c, next, narrow);
            }
            a.ret(*act);
            a.bind(next);
        }
        a.ret(default);
    }
    if a.code.len() > 4096 {
        return Err(SeccompError::TooLong(a.code.len()));
    }
    // Resolve the labels: conditional jumps are 8-bit forward offsets, `ja` a 32-bit one.
    let mut out = Vec::with_capacity(a.code.len());
    for (pc, i) in a.code.iter().enumerate() {
        let off = |t: To| -> Result<u32, SeccompError> {
            match t {
                To::Next => Ok(0),
                To::Label(l) => {
                    let target = a.labels[l].expect("every label is bound");
                    Ok((target - pc - 1) as u32)
                }
            }
        };
        let (code, jt, jf, k) = if i.code == JA {
            (i.code, 0, 0, off(i.jt)?)
        } else {
            let (jt, jf) = (off(i.jt)?, off(i.jf)?);
            if jt > 255 || jf > 255 {
                return Err(SeccompError::TooLong(a.code.len()));
            }
            (i.code, jt as u8, jf as u8, i.k)
        };
        out.push(libc::sock_filter { code, jt, jf, k });
    }
    Ok(out)
}

/// Installs the compiled filter on the calling thread. Does not set no_new_privs: the caller
/// does that when the spec asks for it (otherwise CAP_SYS_ADMIN is needed, so this runs before
/// capabilities are dropped). Returns the errno on failure.
pub(crate) fn install(compiled: &CompiledSeccomp) -> Result<(), i32> {
    let fprog = libc::sock_fprog {
        len: compiled.program.len() as u16,
        filter: compiled.program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points at a live, correctly sized BPF program for the duration of the call.
    let rc = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &fprog as *const libc::sock_fprog)
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL));
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
