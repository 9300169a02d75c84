//! The container's root filesystem, set up inside the new mount namespace: make mounts private,
//! bind the rootfs onto itself, perform `spec.mounts` with every target resolved by the kernel
//! inside the rootfs (openat2 RESOLVE_IN_ROOT, then mount onto the fd's /proc/self/fd magic link),
//! create the default devices, pivot_root and detach the old root, then masked and read-only paths.
//!
//! Hostile images: a symlinked `/proc`, `/dev` or mount target can never send a mount outside the
//! rootfs, special filesystems refuse symlinked targets outright, and masked files are bound to the
//! container's `/dev/null` only after fstat shows it is the 1:3 character device (CVE-2025-31133).

use std::os::fd::{AsRawFd, OwnedFd};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::child_error::ChildError;
use crate::sys;

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// Mount flags and the filesystem data string parsed from OCI mount options.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: libc::c_ulong,
    pub clear: libc::c_ulong,
    pub propagation: libc::c_ulong,
    pub bind: bool,
    pub recursive: bool,
    pub data: String,
}

/// Parses OCI/fstab mount options (`ro`, `nosuid`, `rbind`, `rprivate`, `mode=755`, ...).
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    let mut data = Vec::new();
    for opt in options {
        let (set, clear): (libc::c_ulong, libc::c_ulong) = match opt.as_str() {
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "nosuid" => (libc::MS_NOSUID, 0),
            "suid" => (0, libc::MS_NOSUID),
            "nodev" => (libc::MS_NODEV, 0),
            "dev" => (0, libc::MS_NODEV),
            "noexec" => (libc::MS_NOEXEC, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "bind" => {
                o.bind = true;
                (0, 0)
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                (0, 0)
            }
            "private" => {
                o.propagation = libc::MS_PRIVATE;
                (0, 0)
            }
            "rprivate" => {
                o.propagation = libc::MS_PRIVATE | libc::MS_REC;
                (0, 0)
            }
            "shared" => {
                o.propagation = libc::MS_SHARED;
                (0, 0)
            }
            "rshared" => {
                o.propagation = libc::MS_SHARED | libc::MS_REC;
                (0, 0)
            }
            "slave" => {
                o.propagation = libc::MS_SLAVE;
                (0, 0)
            }
            "rslave" => {
                o.propagation = libc::MS_SLAVE | libc::MS_REC;
                (0, 0)
            }
            "unbindable" => {
                o.propagation = libc::MS_UNBINDABLE;
                (0, 0)
            }
            "runbindable" => {
                o.propagation = libc::MS_UNBINDABLE | libc::MS_REC;
                (0, 0)
            }
            other => {
                data.push(other.to_string());
                (0, 0)
            }
        };
        o.flags = (o.flags | set) & !clear;
        o.clear |= clear;
    }
    o.data = data.join(",");
    o
}

fn err(stage: &str, path: &str, e: i32) -> ChildError {
    ChildError::new(format!("{stage} {path}"), e)
}

/// Resolves `path` inside the root `rootfd` and opens it O_PATH, creating missing directories
/// (and, when `file` is set, the final component as an empty file) with fd-relative calls only.
pub(crate) fn resolve_create(rootfd: &OwnedFd, path: &str, file: bool, resolve: u64) -> Result<OwnedFd, ChildError> {
    resolve_create_depth(rootfd, path, file, resolve, 0)
}

fn resolve_create_depth(
    rootfd: &OwnedFd,
    path: &str,
    file: bool,
    resolve: u64,
    depth: u32,
) -> Result<OwnedFd, ChildError> {
    if depth > 40 {
        return Err(err("resolving mount target", path, libc::ELOOP));
    }
    let resolve = resolve | RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    // Most targets exist, or lack only their last component: try those before walking from the top.
    let mut start = 0;
    let mut parent: Option<OwnedFd> = None;
    if let Some((_, dirs)) = comps.split_last() {
        match sys::openat2(rootfd.as_raw_fd(), &comps.join("/"), libc::O_PATH, 0, resolve) {
            Ok(fd) => return Ok(fd),
            Err(libc::ENOENT) if !dirs.is_empty() => {
                if let Ok(fd) =
                    sys::openat2(rootfd.as_raw_fd(), &dirs.join("/"), libc::O_PATH | libc::O_DIRECTORY, 0, resolve)
                {
                    (start, parent) = (dirs.len(), Some(fd));
                }
            }
            Err(_) => {}
        }
    }
    let mut parent: OwnedFd = match parent {
        Some(fd) => fd,
        None => sys::openat2(rootfd.as_raw_fd(), ".", libc::O_PATH | libc::O_DIRECTORY, 0, resolve)
            .map_err(|e| err("opening rootfs for", path, e))?,
    };
    for (i, comp) in comps.iter().enumerate().skip(start) {
        let sub = comps[..=i].join("/");
        let last = i + 1 == comps.len();
        let flags = if last { libc::O_PATH } else { libc::O_PATH | libc::O_DIRECTORY };
        match sys::openat2(rootfd.as_raw_fd(), &sub, flags, 0, resolve) {
            Ok(fd) => parent = fd,
            Err(libc::ENOENT) => {
                if last && file {
                    let created = sys::openat2(
                        parent.as_raw_fd(),
                        comp,
                        libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW,
                        0o644,
                        RESOLVE_NO_SYMLINKS | RESOLVE_IN_ROOT,
                    );
                    match created {
                        Ok(_) | Err(libc::EEXIST) => {}
                        Err(e) => return Err(err("creating mount target", path, e)),
                    }
                } else {
                    match sys::mkdirat(parent.as_raw_fd(), comp, 0o755) {
                        Ok(()) => {}
                        Err(libc::EEXIST) => {
                            // A dangling symlink: create what it points at, inside the root.
                            if let Some(target) = sys::readlinkat(parent.as_raw_fd(), comp) {
                                let base = comps[..i].join("/");
                                let mut next =
                                    if target.starts_with('/') { target } else { format!("{base}/{target}") };
                                for rest in &comps[i + 1..] {
                                    next.push('/');
                                    next.push_str(rest);
                                }
                                return resolve_create_depth(rootfd, &next, file, resolve, depth + 1);
                            }
                        }
                        Err(e) => return Err(err("creating mount target", path, e)),
                    }
                }
                parent = sys::openat2(rootfd.as_raw_fd(), &sub, flags, 0, resolve)
                    .map_err(|e| err("resolving mount target", path, e))?;
            }
            Err(e) => return Err(err("resolving mount target", path, e)),
        }
    }
    Ok(parent)
}

fn is_bind(m: &Mount, o: &MountOptions) -> bool {
    o.bind || m.typ().as_deref() == Some("bind")
}

/// Mounts one spec mount at its destination resolved inside the rootfs.
fn mount_one(rootfd: &OwnedFd, m: &Mount, cgroup_binds: &[(String, String)]) -> Result<(), ChildError> {
    let dest = m.destination().to_string_lossy().to_string();
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let fstype = m.typ().clone().unwrap_or_default();
    if is_bind(m, &opts) {
        let norm: String = dest.trim_end_matches('/').to_string();
        if norm.is_empty() || norm == "/proc" || norm == "/sys" {
            // A volume over / or /proc would hide or fake the kernel's files (CVE-2019-16884).
            return Err(ChildError::new(format!("bind mount onto {dest} is not allowed"), libc::EPERM));
        }
        let src = m.source().as_ref().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        let src_fd = sys::open(&src, libc::O_PATH).map_err(|e| err("opening bind source", &src, e))?;
        let st = sys::fstat(src_fd.as_raw_fd()).map_err(|e| err("stat of bind source", &src, e))?;
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let target = resolve_create(rootfd, &dest, !is_dir, 0)?;
        let mut flags = libc::MS_BIND;
        if opts.recursive {
            flags |= libc::MS_REC;
        }
        sys::mount(Some(&sys::fd_path(&src_fd)), &sys::fd_path(&target), None, flags, None)
            .map_err(|e| err("bind mounting", &dest, e))?;
        let extra = opts.flags & !libc::MS_BIND;
        if extra != 0 {
            // Remount through a fresh fd: the old one names the covered directory, not the bind.
            let top = resolve_create(rootfd, &dest, !is_dir, 0)?;
            sys::mount(None, &sys::fd_path(&top), None, libc::MS_REMOUNT | libc::MS_BIND | extra, None)
                .map_err(|e| err("remounting", &dest, e))?;
        }
        if opts.propagation != 0 {
            let top = resolve_create(rootfd, &dest, !is_dir, 0)?;
            sys::mount(None, &sys::fd_path(&top), None, opts.propagation, None)
                .map_err(|e| err("setting propagation of", &dest, e))?;
        }
        return Ok(());
    }
    // Kernel filesystems and anything under /proc, /sys or /dev never follow a symlink in the
    // image (CVE-2023-28642); other mounts (e.g. a tmpfs on /var/run -> /run) follow symlinks,
    // but only inside the rootfs.
    let strict = matches!(fstype.as_str(), "proc" | "sysfs" | "cgroup" | "cgroup2" | "devpts" | "mqueue")
        || ["/proc", "/sys", "/dev"].iter().any(|p| dest == *p || dest.starts_with(&format!("{p}/")));
    let resolve = if strict { RESOLVE_NO_SYMLINKS } else { 0 };
    let target = resolve_create(rootfd, &dest, false, resolve)?;
    if fstype == "cgroup" || fstype == "cgroup2" {
        return mount_cgroup(rootfd, &dest, &target, &opts, cgroup_binds);
    }
    let src = m.source().as_ref().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| fstype.clone());
    sys::mount(Some(&src), &sys::fd_path(&target), Some(&fstype), opts.flags, Some(&opts.data))
        .map_err(|e| err(&format!("mounting {fstype} on"), &dest, e))?;
    if opts.propagation != 0 {
        let top = resolve_create(rootfd, &dest, false, resolve)?;
        sys::mount(None, &sys::fd_path(&top), None, opts.propagation, None)
            .map_err(|e| err("setting propagation of", &dest, e))?;
    }
    Ok(())
}

/// `/sys/fs/cgroup`: on a cgroup v2 host the container's cgroup2 mount; on v1 a tmpfs with a bind
/// of the container's own cgroup directory for each hierarchy, read-only when asked (the tmpfs
/// itself stays writable, as in Docker's containers).
fn mount_cgroup(
    rootfd: &OwnedFd,
    dest: &str,
    target: &OwnedFd,
    opts: &MountOptions,
    binds: &[(String, String)],
) -> Result<(), ChildError> {
    let ro = opts.flags & libc::MS_RDONLY;
    let base = opts.flags & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
    if binds.is_empty() {
        return sys::mount(Some("cgroup2"), &sys::fd_path(target), Some("cgroup2"), opts.flags, None)
            .map_err(|e| err("mounting cgroup2 on", dest, e));
    }
    sys::mount(Some("tmpfs"), &sys::fd_path(target), Some("tmpfs"), base, Some("mode=755"))
        .map_err(|e| err("mounting tmpfs on", dest, e))?;
    for (name, host) in binds {
        let sub = format!("{dest}/{name}");
        let t = resolve_create(rootfd, &sub, false, RESOLVE_NO_SYMLINKS)?;
        let Ok(src) = sys::open(host, libc::O_PATH | libc::O_DIRECTORY) else { continue };
        sys::mount(Some(&sys::fd_path(&src)), &sys::fd_path(&t), None, libc::MS_BIND | libc::MS_REC, None)
            .map_err(|e| err("bind mounting cgroup", &sub, e))?;
        let t = resolve_create(rootfd, &sub, false, RESOLVE_NO_SYMLINKS)?;
        sys::mount(None, &sys::fd_path(&t), None, libc::MS_REMOUNT | libc::MS_BIND | base | ro, None)
            .map_err(|e| err("remounting cgroup", &sub, e))?;
    }
    Ok(())
}

fn makedev(major: i64, minor: i64) -> libc::dev_t {
    libc::makedev(major as u32, minor as u32)
}

/// The devices every container gets (runtime-spec "Default Devices").
fn default_devices() -> Vec<(&'static str, i64, i64)> {
    vec![("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
}

/// Creates a device node under the resolved `/dev`, or binds the host's node where mknod is not
/// allowed (in a user namespace).
/// A device node to create: type bits (S_IFCHR...), numbers, permissions and owner.
struct DevNode {
    kind: u32,
    major: i64,
    minor: i64,
    mode: u32,
    uid: u32,
    gid: u32,
}

fn make_device(devfd: &OwnedFd, name: &str, d: DevNode) -> Result<(), ChildError> {
    let DevNode { kind, major, minor, mode, uid, gid } = d;
    match sys::mknodat(devfd.as_raw_fd(), name, kind | (mode & 0o7777), makedev(major, minor)) {
        Ok(()) | Err(libc::EEXIST) => {
            sys::fchmodat(devfd.as_raw_fd(), name, mode & 0o7777).map_err(|e| err("chmod of device", name, e))?;
            let _ = sys::fchownat(devfd.as_raw_fd(), name, uid, gid);
            Ok(())
        }
        Err(libc::EPERM) => {
            let target = sys::openat2(
                devfd.as_raw_fd(),
                name,
                libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW,
                0o644,
                RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS,
            )
            .map_err(|e| err("creating device placeholder", name, e))?;
            let host =
                sys::open(&format!("/dev/{name}"), libc::O_PATH).map_err(|e| err("opening host device", name, e))?;
            sys::mount(Some(&sys::fd_path(&host)), &sys::fd_path(&target), None, libc::MS_BIND, None)
                .map_err(|e| err("binding device", name, e))
        }
        Err(e) => Err(err("creating device", name, e)),
    }
}

fn create_devices(rootfd: &OwnedFd, extra: &[LinuxDevice]) -> Result<(), ChildError> {
    let devfd = resolve_create(rootfd, "/dev", false, RESOLVE_NO_SYMLINKS)?;
    let devfd = sys::openat2(devfd.as_raw_fd(), ".", libc::O_PATH | libc::O_DIRECTORY, 0, 0)
        .map_err(|e| err("opening", "/dev", e))?;
    for (name, major, minor) in default_devices() {
        make_device(&devfd, name, DevNode { kind: libc::S_IFCHR, major, minor, mode: 0o666, uid: 0, gid: 0 })?;
    }
    for d in extra {
        let path = d.path().to_string_lossy().to_string();
        let Some(rel) = path.strip_prefix("/dev/") else { continue };
        if rel.contains('/') {
            let parent = rel.rsplit_once('/').map(|p| p.0).unwrap_or("");
            resolve_create(rootfd, &format!("/dev/{parent}"), false, RESOLVE_NO_SYMLINKS)?;
        }
        let kind = match d.typ() {
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            _ => libc::S_IFCHR,
        };
        let mode = d.file_mode().unwrap_or(0o666);
        make_device(
            &devfd,
            rel,
            DevNode {
                kind,
                major: d.major(),
                minor: d.minor(),
                mode,
                uid: d.uid().unwrap_or(0),
                gid: d.gid().unwrap_or(0),
            },
        )?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        match sys::symlinkat(target, devfd.as_raw_fd(), name) {
            Ok(()) | Err(libc::EEXIST) => {}
            Err(e) => return Err(err("creating symlink", &format!("/dev/{name}"), e)),
        }
    }
    Ok(())
}

/// Everything before pivot_root: private propagation, the rootfs bind, spec mounts, devices.
/// Returns the rootfs fd. `cgroup_binds` are (hierarchy name, host dir of this cgroup) for v1.
pub(crate) fn prepare(spec: &Spec, cgroup_binds: &[(String, String)]) -> Result<OwnedFd, ChildError> {
    let root = spec.root().as_ref().map(|r| r.path().to_string_lossy().to_string()).unwrap_or_default();
    sys::mount(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None).map_err(|e| err("making private", "/", e))?;
    sys::mount(Some(&root), &root, None, libc::MS_BIND | libc::MS_REC, None)
        .map_err(|e| err("bind mounting rootfs", &root, e))?;
    let rootfd = sys::open(&root, libc::O_PATH | libc::O_DIRECTORY).map_err(|e| err("opening rootfs", &root, e))?;
    let mut dev_is_tmpfs = false;
    for m in spec.mounts().iter().flatten() {
        if m.destination().to_string_lossy() == "/dev"
            && !is_bind(m, &parse_options(m.options().as_deref().unwrap_or(&[])))
        {
            dev_is_tmpfs = true;
        }
        mount_one(&rootfd, m, cgroup_binds)?;
    }
    if dev_is_tmpfs {
        let extra = spec.linux().as_ref().and_then(|l| l.devices().clone()).unwrap_or_default();
        create_devices(&rootfd, &extra)?;
    }
    Ok(rootfd)
}

/// pivot_root into the rootfs and detach the old root.
pub(crate) fn pivot(rootfd: &OwnedFd) -> Result<(), ChildError> {
    sys::fchdir(rootfd.as_raw_fd()).map_err(|e| err("entering", "rootfs", e))?;
    sys::pivot_root_here().map_err(|e| err("pivot_root into", "rootfs", e))?;
    // The old root is stacked on "."; make it a slave so the detach does not propagate to the host.
    sys::mount(None, ".", None, libc::MS_SLAVE | libc::MS_REC, None).map_err(|e| err("making slave", "old root", e))?;
    sys::umount_detach(".").map_err(|e| err("detaching", "old root", e))?;
    sys::chdir(c"/").map_err(|e| err("chdir to", "/", e))
}

/// Masks paths (after pivot_root): directories get an empty read-only tmpfs, files a bind of the
/// container's `/dev/null`, verified to be the 1:3 character device first.
pub(crate) fn mask_paths(paths: &[String]) -> Result<(), ChildError> {
    if paths.is_empty() {
        return Ok(());
    }
    let null = sys::openat2(libc::AT_FDCWD, "/dev/null", libc::O_PATH, 0, RESOLVE_NO_SYMLINKS)
        .map_err(|e| err("opening", "/dev/null", e))?;
    let st = sys::fstat(null.as_raw_fd()).map_err(|e| err("stat of", "/dev/null", e))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err(ChildError::new("/dev/null is not the null device: refusing to mask with it".into(), libc::EPERM));
    }
    for p in paths {
        let fd = match sys::openat2(libc::AT_FDCWD, p, libc::O_PATH, 0, RESOLVE_NO_SYMLINKS | RESOLVE_IN_ROOT) {
            Ok(fd) => fd,
            Err(libc::ENOENT) => continue,
            Err(e) => return Err(err("resolving masked path", p, e)),
        };
        let st = sys::fstat(fd.as_raw_fd()).map_err(|e| err("stat of masked path", p, e))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            sys::mount(Some("tmpfs"), &sys::fd_path(&fd), Some("tmpfs"), libc::MS_RDONLY, None)
        } else {
            sys::mount(Some(&sys::fd_path(&null)), &sys::fd_path(&fd), None, libc::MS_BIND, None)
        }
        .map_err(|e| err("masking", p, e))?;
    }
    Ok(())
}

/// Makes paths read-only (after pivot_root): bind each onto itself, then remount read-only,
/// keeping the nosuid/nodev/noexec flags the mount already has.
pub(crate) fn readonly_paths(paths: &[String]) -> Result<(), ChildError> {
    for p in paths {
        let fd = match sys::openat2(libc::AT_FDCWD, p, libc::O_PATH, 0, RESOLVE_NO_SYMLINKS | RESOLVE_IN_ROOT) {
            Ok(fd) => fd,
            Err(libc::ENOENT) => continue,
            Err(e) => return Err(err("resolving read-only path", p, e)),
        };
        sys::mount(Some(&sys::fd_path(&fd)), &sys::fd_path(&fd), None, libc::MS_BIND | libc::MS_REC, None)
            .map_err(|e| err("binding read-only path", p, e))?;
        let top = sys::openat2(libc::AT_FDCWD, p, libc::O_PATH, 0, RESOLVE_NO_SYMLINKS | RESOLVE_IN_ROOT)
            .map_err(|e| err("resolving read-only path", p, e))?;
        let keep = mount_flags_of(&top);
        sys::mount(None, &sys::fd_path(&top), None, libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | keep, None)
            .map_err(|e| err("remounting read-only", p, e))?;
    }
    Ok(())
}

fn mount_flags_of(fd: &OwnedFd) -> libc::c_ulong {
    // SAFETY: statvfs is plain old data; fstatvfs fills it.
    let mut sv: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: sv is a valid, writable statvfs buffer and fd is open.
    if unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut sv) } != 0 {
        return 0;
    }
    let mut f = 0;
    for (st, ms) in
        [(libc::ST_NOSUID, libc::MS_NOSUID), (libc::ST_NODEV, libc::MS_NODEV), (libc::ST_NOEXEC, libc::MS_NOEXEC)]
    {
        if sv.f_flag & st != 0 {
            f |= ms;
        }
    }
    f
}

/// Remounts the root read-only (`root.readonly`).
pub(crate) fn readonly_root() -> Result<(), ChildError> {
    let fd = sys::open("/", libc::O_PATH | libc::O_DIRECTORY).map_err(|e| err("opening", "/", e))?;
    let keep = mount_flags_of(&fd);
    sys::mount(None, "/", None, libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | keep, None)
        .map_err(|e| err("remounting read-only", "/", e))
}

/// Opens a path inside the current root for use as the working directory, creating it if missing;
/// magic links (e.g. `/proc/self/fd/N`) are refused (CVE-2024-21626).
pub(crate) fn open_cwd(cwd: &str) -> Result<OwnedFd, ChildError> {
    let root = sys::open("/", libc::O_PATH | libc::O_DIRECTORY).map_err(|e| err("opening", "/", e))?;
    let fd = resolve_create(&root, cwd, false, 0)?;
    let st = sys::fstat(fd.as_raw_fd()).map_err(|e| err("stat of working directory", cwd, e))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(ChildError::new(format!("working directory {cwd} is not a directory"), libc::ENOTDIR));
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_dev_options_parse() {
        let o = parse_options(&["nosuid".into(), "strictatime".into(), "mode=755".into(), "size=65536k".into()]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        let b = parse_options(&["rbind".into(), "rprivate".into(), "ro".into()]);
        assert!(b.bind && b.recursive);
        assert_eq!(b.propagation, libc::MS_PRIVATE | libc::MS_REC);
        assert_eq!(b.flags, libc::MS_RDONLY);
    }
}
