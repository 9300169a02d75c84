//! Thin, checked wrappers over the raw Linux calls the container set-up needs (the init's
//! clone, setns, mount, openat2, pivot_root, unix-socket messages with fd passing). Each wrapper
//! returns the errno on failure; the callers attach the path or stage that failed. The process
//! plumbing others use too (fork, wait, fds, signals) is public, in [`crate::process`],
//! [`crate::fd`] and [`crate::signal`].

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The errno of the last failed call.
pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

fn check(rc: libc::c_int) -> Result<libc::c_int, i32> {
    if rc < 0 {
        Err(errno())
    } else {
        Ok(rc)
    }
}

pub(crate) fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// clone(2) with CLONE_PARENT: the new process becomes a child of our parent (the runtime's
/// caller), so the container init is a direct child of the caller. Returns 0 in the child.
pub(crate) fn clone_parent() -> Result<i32, i32> {
    // SAFETY: with a null stack, clone behaves like fork: the child continues on a copy of this
    // stack. The calling process is single-threaded: a helper forked by `process::fork_child`
    // (a forked process has one thread), so its child may run ordinary Rust code.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT as libc::c_ulong) | (libc::SIGCHLD as libc::c_ulong),
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if rc < 0 {
        Err(errno())
    } else {
        Ok(rc as i32)
    }
}

pub(crate) fn unshare(flags: libc::c_int) -> Result<(), i32> {
    // SAFETY: unshare takes only flags.
    check(unsafe { libc::unshare(flags) }).map(drop)
}

pub(crate) fn setns(fd: RawFd, nstype: libc::c_int) -> Result<(), i32> {
    // SAFETY: setns takes an fd and flags; the fd is owned by the caller and open.
    check(unsafe { libc::setns(fd, nstype) }).map(drop)
}

/// A connected SOCK_SEQPACKET unix socket pair, both ends close-on-exec.
pub(crate) fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd), i32> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid two-element array for socketpair to fill.
    check(unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) })?;
    // SAFETY: socketpair succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends one message, optionally carrying one fd (SCM_RIGHTS).
pub fn send_msg(sock: RawFd, data: &[u8], fd: Option<RawFd>) -> Result<(), i32> {
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain old data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        // SAFETY: CMSG_SPACE only computes a size.
        let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = space;
        // SAFETY: msg_control points at cbuf (64 bytes), large enough for one fd's control
        // message, so CMSG_FIRSTHDR is non-null and CMSG_DATA stays within cbuf.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
        }
    }
    loop {
        // SAFETY: msg and everything it points to live across the call.
        let rc = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if rc >= 0 {
            return Ok(());
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// Receives one message (up to 4 KiB) and the fd it carries, if any. An empty message is EOF.
pub fn recv_msg(sock: RawFd) -> Result<(Vec<u8>, Option<OwnedFd>), i32> {
    let mut buf = vec![0u8; 4096];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain old data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    let n = loop {
        // SAFETY: msg points at buf and cbuf, both alive and writable for the call.
        let rc = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if rc >= 0 {
            break rc as usize;
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    };
    buf.truncate(n);
    let mut fd = None;
    // SAFETY: the kernel filled msg_control/msg_controllen; the CMSG macros walk only within them.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd);
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((buf, fd))
}

/// openat2(2) relative to `dirfd` with the given open flags and RESOLVE_* flags.
pub(crate) fn openat2(dirfd: RawFd, path: &str, flags: libc::c_int, mode: u32, resolve: u64) -> Result<OwnedFd, i32> {
    let p = cstr(path);
    // SAFETY: open_how is plain old data; zeroed is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = mode as u64;
    how.resolve = resolve;
    loop {
        // SAFETY: p is a valid C string and how a valid open_how of the size passed.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                p.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if rc >= 0 {
            // SAFETY: openat2 returned a new fd that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) });
        }
        let e = errno();
        if e != libc::EINTR && e != libc::EAGAIN {
            return Err(e);
        }
    }
}

pub(crate) fn open(path: &str, flags: libc::c_int) -> Result<OwnedFd, i32> {
    let p = cstr(path);
    // SAFETY: p is a valid C string.
    let fd = check(unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC, 0o644) })?;
    // SAFETY: open returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The magic-link path that names an open fd: mounting onto it mounts onto the fd's file.
pub(crate) fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

pub(crate) fn mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), i32> {
    let s = source.map(cstr);
    let t = cstr(target);
    let f = fstype.map(cstr);
    let d = data.filter(|d| !d.is_empty()).map(cstr);
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is either null or a valid C string that lives across the call.
    check(unsafe { libc::mount(ptr(&s), t.as_ptr(), ptr(&f), flags, ptr(&d) as *const libc::c_void) }).map(drop)
}

pub(crate) fn umount_detach(target: &str) -> Result<(), i32> {
    let t = cstr(target);
    // SAFETY: t is a valid C string.
    check(unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) }).map(drop)
}

pub(crate) fn pivot_root_here() -> Result<(), i32> {
    let dot = c".";
    // SAFETY: both arguments are valid C strings; pivot_root(".", ".") stacks the old root on
    // top of the new one, to be detached by the caller.
    let rc = unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) };
    if rc < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

pub(crate) fn fchdir(fd: RawFd) -> Result<(), i32> {
    // SAFETY: fchdir takes an open fd.
    check(unsafe { libc::fchdir(fd) }).map(drop)
}

pub(crate) fn chdir(path: &CStr) -> Result<(), i32> {
    // SAFETY: path is a valid C string.
    check(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

pub(crate) fn fstat(fd: RawFd) -> Result<libc::stat, i32> {
    // SAFETY: stat is plain old data; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid, writable stat buffer.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

pub(crate) fn mkdirat(dirfd: RawFd, name: &str, mode: u32) -> Result<(), i32> {
    let n = cstr(name);
    // SAFETY: n is a valid C string.
    check(unsafe { libc::mkdirat(dirfd, n.as_ptr(), mode) }).map(drop)
}

pub(crate) fn mknodat(dirfd: RawFd, name: &str, mode: u32, dev: libc::dev_t) -> Result<(), i32> {
    let n = cstr(name);
    // SAFETY: n is a valid C string.
    check(unsafe { libc::mknodat(dirfd, n.as_ptr(), mode, dev) }).map(drop)
}

pub(crate) fn symlinkat(target: &str, dirfd: RawFd, name: &str) -> Result<(), i32> {
    let t = cstr(target);
    let n = cstr(name);
    // SAFETY: both are valid C strings.
    check(unsafe { libc::symlinkat(t.as_ptr(), dirfd, n.as_ptr()) }).map(drop)
}

pub(crate) fn fchmodat(dirfd: RawFd, name: &str, mode: u32) -> Result<(), i32> {
    let n = cstr(name);
    // SAFETY: n is a valid C string.
    check(unsafe { libc::fchmodat(dirfd, n.as_ptr(), mode, 0) }).map(drop)
}

pub(crate) fn fchownat(dirfd: RawFd, name: &str, uid: u32, gid: u32) -> Result<(), i32> {
    let n = cstr(name);
    // SAFETY: n is a valid C string.
    check(unsafe { libc::fchownat(dirfd, n.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) }).map(drop)
}

pub(crate) fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> Result<(), i32> {
    // SAFETY: the prctl options used by this crate take integer arguments only.
    check(unsafe { libc::prctl(option, arg2, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) }).map(drop)
}

pub(crate) fn kill(pid: i32, sig: i32) -> Result<(), i32> {
    // SAFETY: kill takes integers only.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

pub(crate) fn ioctl_int(fd: RawFd, req: libc::c_ulong, arg: libc::c_ulong) -> Result<libc::c_int, i32> {
    // SAFETY: the ioctls used with this helper (TIOCGPTPEER, TIOCSCTTY) take an integer argument.
    check(unsafe { libc::ioctl(fd, req, arg) })
}

pub(crate) fn unlock_pty(fd: RawFd) -> Result<(), i32> {
    let zero: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int through the pointer, which is valid for the call.
    check(unsafe { libc::ioctl(fd, libc::TIOCSPTLCK, &zero as *const libc::c_int) }).map(drop)
}

pub(crate) fn errno_text(e: i32) -> String {
    std::io::Error::from_raw_os_error(e).to_string()
}

/// The target of a symlink named `name` in `dirfd`, if it is one.
pub(crate) fn readlinkat(dirfd: RawFd, name: &str) -> Option<String> {
    let n = cstr(name);
    let mut buf = vec![0u8; 4096];
    // SAFETY: n is a valid C string and buf a writable buffer of the given length.
    let rc = unsafe { libc::readlinkat(dirfd, n.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc < 0 {
        return None;
    }
    buf.truncate(rc as usize);
    Some(String::from_utf8_lossy(&buf).into_owned())
}
