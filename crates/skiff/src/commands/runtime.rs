//! `skiff runtime`: runc's command line, which lives in the `skiff-runtime-cli` crate.
//!
//! The global `--root`, `--log-level` and `-D` of skiff are parsed before the word `runtime`;
//! everything after it is the runtime's, so `skiff runtime --root DIR` is the runtime's root, as
//! `runc --root DIR`.

use clap::Args;
use std::ffi::OsString;

use super::GlobalOpts;

/// What the outer parser hands over; the real parse happens in [`skiff_runtime_cli::run`].
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RuntimeArgs {
    /// A runtime command and its arguments (`skiff runtime --help` lists them)
    #[arg(num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// The argv after the word `runtime` (skiff's global options before it are skipped).
fn runtime_argv() -> Vec<OsString> {
    let all: Vec<OsString> = std::env::args_os().collect();
    let mut i = 1;
    while i < all.len() {
        let a = all[i].to_string_lossy();
        if a == "runtime" {
            break;
        }
        i += if matches!(a.as_ref(), "--root" | "-l" | "--log-level") { 2 } else { 1 };
    }
    let mut v = vec![OsString::from("skiff runtime")];
    v.extend(all.into_iter().skip(i + 1));
    v
}

/// `skiff runtime ...`: returns runc's exit code (1 on failure, the container's for a foreground `run`).
pub fn run(_g: &GlobalOpts, _a: RuntimeArgs) -> anyhow::Result<u8> {
    Ok(skiff_runtime_cli::run(runtime_argv()))
}
