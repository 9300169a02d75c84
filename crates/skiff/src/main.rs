//! `skiff`: a daemonless, Docker-compatible container engine.
//!
//! The binary is thin: clap parses Docker's flags (one file per command under
//! `commands/`), `output/` prints Docker's tables and templates, and the work
//! happens in the library crates. Exit codes follow Docker's CLI: 0 on
//! success, 1 when a command fails, 125 for usage errors.

mod commands;
// Some formatting helpers serve commands that land with the runtime (ps, logs, stats).
#[allow(dead_code)]
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
            eprintln!("Error: {}", commands::describe(&e));
            ExitCode::from(commands::exit_code(&e))
        }
    }
}
