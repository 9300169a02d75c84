//! `skiff runtime`: an OCI runtime command line with runc's commands, flags, output and exit
//! codes (`create`, `start`, `state`, `kill`, `delete`, `run`, `exec`, `update`, `events`,
//! `spec`, `list`, `ps`, `pause`, `resume`), over `skiff-runtime` and nothing else of skiff.
//!
//! State lives under `--root` (default `/run/skiff-runtime`), one directory per container
//! ([`state`]): `state.json` (pid, bundle, creation time, cgroup), `config.json` (the spec it was
//! created from), `start` and `execd` (FIFOs), `started` (present once `start` ran) and `exit`
//! (the init's exit code, written when it has been reaped).
//!
//! Process model ([`holder`]): `create` forks a small *holder* that spawns the container init
//! with `wait_for_start` (so the init is the holder's child, blocked before exec), records it and
//! waits on the FIFO and a pidfd of the init. `start` writes a byte to the FIFO; the holder
//! releases the init, then reaps it and records its exit. The status is derived: the init alive
//! (same pid and start time) is `created` or `running`, else `stopped`.
//!
//! One file per command under `commands/`, each with its clap arguments. This crate is a front
//! end, like the `skiff` binary that calls [`run`], so it reports errors with `anyhow` (printed
//! as runc prints them, see [`log`]) rather than a typed enum. All process plumbing (fork, wait,
//! pidfds, signals, terminals, fds) is `skiff_runtime`'s (this crate is `#![forbid(unsafe_code)]`).

#![forbid(unsafe_code)]

mod commands;
pub mod holder;
pub mod log;
pub mod state;
mod units;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The command line after the word `runtime`.
#[derive(Parser, Debug)]
#[command(name = "skiff runtime", about = "An OCI runtime with runc's command line", disable_help_subcommand = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    cmd: Command,
}

/// runc's global options.
#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Root directory for storage of container state (this should be located in tmpfs)
    #[arg(long, default_value = "/run/skiff-runtime", value_name = "DIR")]
    pub root: PathBuf,
    /// Set the log file to write runtime logs to (default is stderr)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Set the log format ('text' (default), or 'json')
    #[arg(long = "log-format", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Enable debug logging (accepted for runc compatibility)
    #[arg(long)]
    pub debug: bool,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
enum Command {
    /// Create a container
    Create(commands::create::Create),
    /// Executes the user defined process in a created container
    Start(commands::start::Start),
    /// Output the state of a container
    State(commands::state::State),
    /// Kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill(commands::kill::Kill),
    /// Delete any resources held by the container often used with detached container
    Delete(commands::delete::Delete),
    /// Create a new specification file
    Spec(commands::spec::SpecArgs),
    /// Create and run a container
    Run(commands::run::Run),
    /// Execute new process inside the container
    Exec(commands::exec::Exec),
    /// Update container resource constraints
    Update(commands::update::Update),
    /// Display container events such as OOM notifications and cpu, memory, and IO usage statistics
    Events(commands::events::Events),
    /// Suspend all processes inside the container
    Pause(commands::pause::Pause),
    /// Resume all processes that have been previously paused
    Resume(commands::pause::Resume),
    /// Displays the processes running inside a container
    Ps(commands::ps::Ps),
    /// Lists containers started by skiff runtime with the given root
    List(commands::list::List),
}

/// `skiff runtime ...` with `argv` (its first item the program's name, as clap expects):
/// returns runc's exit code (1 on failure, the container's for a foreground `run`).
pub fn run(argv: Vec<OsString>) -> u8 {
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
        }
    };
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            log::error(&cli.global, &describe(&e));
            1
        }
    }
}

fn dispatch(cli: &Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    match &cli.cmd {
        Command::Create(a) => commands::create::run(g, a),
        Command::Start(a) => commands::start::run(g, a),
        Command::State(a) => commands::state::run(g, a),
        Command::Kill(a) => commands::kill::run(g, a),
        Command::Delete(a) => commands::delete::run(g, a),
        Command::Spec(a) => commands::spec::run(a),
        Command::Run(a) => commands::run::run(g, a),
        Command::Exec(a) => commands::exec::run(g, a),
        Command::Update(a) => commands::update::run(g, a),
        Command::Events(a) => commands::events::run(g, a),
        Command::Pause(a) => commands::pause::pause(g, a),
        Command::Resume(a) => commands::pause::resume(g, a),
        Command::Ps(a) => commands::ps::run(g, a),
        Command::List(a) => commands::list::run(g, a),
    }
}

/// An error's whole cause chain, outermost first, each message once (as `skiff` prints them).
pub fn describe(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        let s = c.to_string();
        if parts.last().is_none_or(|p| !p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}
