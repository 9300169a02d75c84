//! cgroup v2 device rules, in the kernel: the compiled BPF program attached to a v2 cgroup lets
//! a process in it open what the rules allow and refuses the rest (EPERM). Runs where a cgroup v2
//! hierarchy is mounted (on hybrid hosts, `/sys/fs/cgroup/unified`: the kernel consults a device
//! program there as well as the v1 devices controller).

use std::ffi::CString;
use std::path::{Path, PathBuf};

use skiff_runtime::cgroups::attach_device_filter;
use skiff_runtime::oci_spec::runtime::LinuxDeviceCgroup;

fn v2_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").exists() && p.join("cgroup.procs").exists())
}

/// In a forked child: joins `cgroup`, opens each (path, flags); returns one bit per open that failed with EPERM.
fn opens_refused(cgroup: &Path, opens: &[(&Path, libc::c_int)]) -> u32 {
    let procs = CString::new(cgroup.join("cgroup.procs").to_str().unwrap()).unwrap();
    let paths: Vec<(CString, libc::c_int)> =
        opens.iter().map(|(p, f)| (CString::new(p.to_str().unwrap()).unwrap(), *f)).collect();
    // SAFETY: the child only calls open/write/close/_exit before exiting.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: the strings were made before fork; only open/write/close/_exit run here.
        unsafe {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 || libc::write(fd, b"0".as_ptr() as *const libc::c_void, 1) != 1 {
                libc::_exit(255);
            }
            libc::close(fd);
            let mut bits = 0;
            for (i, (p, f)) in paths.iter().enumerate() {
                let fd = libc::open(p.as_ptr(), *f);
                if fd >= 0 {
                    libc::close(fd);
                } else if *libc::__errno_location() == libc::EPERM {
                    bits |= 1 << i;
                } else {
                    libc::_exit(254);
                }
            }
            libc::_exit(bits);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status));
    let code = libc::WEXITSTATUS(status) as u32;
    assert!(code < 254, "the child could not join the cgroup or open failed otherwise ({code})");
    code
}

#[test]
fn the_device_program_allows_and_refuses_in_the_kernel() {
    let Some(root) = v2_root() else {
        skiff_testutil::skip!("no cgroup v2 hierarchy mounted");
    };
    let tmp = tempfile::tempdir().unwrap();
    // /dev/kmsg's numbers (c 1:11): in no default list, harmless to open.
    let kmsg = tmp.path().join("kmsg");
    let c = CString::new(kmsg.to_str().unwrap()).unwrap();
    // SAFETY: c is a valid path; mknod has no other preconditions.
    assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 11)) }, 0);
    let null = Path::new("/dev/null");
    let rules = |json: &str| -> Vec<LinuxDeviceCgroup> { serde_json::from_str(json).unwrap() };
    let cases = [
        // Docker's: deny everything, then the defaults (null and the rest) are allowed.
        (r#"[{"allow": false, "access": "rwm"}]"#, 0b110),
        // A later rule allowing kmsg for reading only.
        (
            r#"[{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}]"#,
            0b100,
        ),
        // A later deny overrides an earlier allow of all char devices.
        (
            r#"[{"allow": true, "type": "c", "access": "rwm"}, {"allow": false, "type": "c", "major": 1, "access": "w"}]"#,
            0b100,
        ),
    ];
    for (i, (json, want)) in cases.iter().enumerate() {
        let dir = root.join(format!("skiff-devtest-{}-{i}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        attach_device_filter(&dir, &rules(json)).unwrap();
        let got = opens_refused(&dir, &[(null, libc::O_RDWR), (&kmsg, libc::O_RDONLY), (&kmsg, libc::O_WRONLY)]);
        std::fs::remove_dir(&dir).unwrap();
        // Case 3 allows /dev/null reads and writes by the default list appended after the deny.
        assert_eq!(got, *want, "rules {json}: refused bits {got:#05b}, expected {want:#05b}");
    }
}
