//! `skiff`: a daemonless, Docker-compatible container engine.
//!
//! The binary is thin: clap parses Docker's flags (one file per command under
//! `commands/`), `output/` prints Docker's tables and templates, and the work
//! happens in the library crates. Exit codes follow Docker's CLI: 0 on
//! success, 1 when a command fails, 125 for usage errors.

#![forbid(unsafe_code)]

mod commands;
mod output;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    skiff_runtime::timing::mark("cli: main");
    let cli = match commands::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 125,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    commands::init_logging(&cli.global);
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if stdout_closed(&e) {
                die_of_sigpipe();
            }
            if let Some(f) = e.downcast_ref::<commands::run::FlagError>() {
                eprintln!("{f}\nSee 'skiff {} --help'.", f.command);
                return ExitCode::from(125);
            }
            eprintln!("{}{}", commands::error_prefix(&e), commands::describe(&e));
            ExitCode::from(commands::FAILED)
        }
    }
}

/// Whether the command failed because its reader went away (`skiff ps | head -1`).
fn stdout_closed(e: &anyhow::Error) -> bool {
    // `chain` walks the error and every source below it.
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Ends the process as Docker's CLI ends when its reader goes away: silently, killed by SIGPIPE.
/// (Rust ignores SIGPIPE, so writes fail with EPIPE instead; only here, at the very end, does
/// skiff take the signal's default action.)
fn die_of_sigpipe() -> ! {
    skiff_runtime::signal::die_of(libc::SIGPIPE)
}
