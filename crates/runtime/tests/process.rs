//! The fork entry point for real: in a single-threaded process it forks (a child's exit status
//! and a child's panic come back as statuses), and once a second thread runs it refuses, naming
//! the count. Run in a forked child, since the test harness itself has a thread per test.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};

use skiff_runtime::process::{self, ExitStatus, ProcessError};

/// Runs `body` in a forked (so single-threaded) child; returns what it wrote to its pipe.
fn in_child(body: impl FnOnce(&mut std::fs::File)) -> String {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array for pipe2 to fill.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 returned two new fds owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child runs the body and ends in _exit; glibc's fork handlers keep malloc usable
    // in the child of this (multi-threaded) test process.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        drop(r);
        let mut out = std::fs::File::from(w);
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut out))).is_ok();
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    drop(w);
    let mut text = String::new();
    std::fs::File::from(r).read_to_string(&mut text).unwrap();
    assert_eq!(process::wait(pid).unwrap(), ExitStatus::Exited(0), "{text}");
    text
}

#[test]
fn forks_when_single_threaded_and_refuses_once_a_thread_runs() {
    let report = in_child(|out| {
        use std::io::Write;
        assert_eq!(process::thread_count().unwrap(), 1);
        let pid = process::fork_child(|| process::exit_now(7)).unwrap();
        writeln!(out, "exit {:?}", process::wait(pid).unwrap()).unwrap();
        let pid = process::fork_child(|| panic!("in the child")).unwrap();
        writeln!(out, "panic {:?}", process::wait(pid).unwrap()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        match process::fork_child(|| process::exit_now(0)) {
            Err(e @ ProcessError::MultiThreaded { threads: 2 }) => writeln!(out, "{e}").unwrap(),
            other => writeln!(out, "unexpected {other:?}").unwrap(),
        }
        drop(tx);
        let _ = t.join();
    });
    assert_eq!(report, "exit Exited(7)\npanic Exited(101)\nrefusing to fork: 2 threads in this process\n");
}
