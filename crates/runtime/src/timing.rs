//! `SKIFF_TIMING=1`: every process on the container start path writes
//! `skiff-timing PID MICROSECONDS LABEL` lines to its stderr at the steps of starting a container,
//! on the CLOCK_MONOTONIC clock, so the lines of all processes can be merged into one timeline.
//! A tool for profiling the start path; off (one environment lookup per process) otherwise.

use std::sync::atomic::{AtomicU8, Ordering};

static STATE: AtomicU8 = AtomicU8::new(0);

fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let on = std::env::var_os("SKIFF_TIMING").is_some_and(|v| v == "1");
            STATE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
    }
}

/// Writes one timing line for `label` when `SKIFF_TIMING=1`.
pub fn mark(label: &str) {
    if !enabled() {
        return;
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let us = ts.tv_sec * 1_000_000 + ts.tv_nsec / 1000;
    let line = format!("skiff-timing {} {us} {label}\n", std::process::id());
    // SAFETY: the pointer and length describe `line`; fd 2 may be closed, then the write fails harmlessly.
    unsafe { libc::write(2, line.as_ptr() as *const libc::c_void, line.len()) };
}
