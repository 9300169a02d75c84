//! Links the skiff binaries as position-dependent executables: an 18 MB PIE spends a
//! measurable part of every start applying its relative relocations (callgrind: ~16% of
//! `skiff history`), which query commands like `images` and `inspect` feel most.

fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
