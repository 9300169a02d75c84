//! `skiff-monitor`: the per-container monitor a detached container's spawner execs (see
//! `skiff_engine::monitor`). Only the monitor's own code is linked in and touched, so its resident
//! set stays well under 1 MiB.

#![forbid(unsafe_code)]

fn main() {
    skiff_engine::monitor::main()
}
