//! Container commands other than run/create/ps/logs, one file each (start, stop and restart,
//! kill, wait, pause and unpause, rm, rename, prune, exec, top, stats, update, port, export,
//! diff, cp, commit), and `skiff container ...`, which also reaches run, create, ps, logs and
//! inspect.

mod commit;
mod cp;
mod diff;
mod exec;
mod export;
mod kill;
mod pause;
mod port;
mod prune;
mod rename;
mod rm;
mod start;
mod stats;
mod stop;
mod top;
mod update;
mod wait;

pub use commit::{commit, CommitArgs};
pub use cp::{cp, CpArgs};
pub use diff::{diff, DiffArgs};
pub use exec::{exec, ExecArgs};
pub use export::{export, ExportArgs};
pub use kill::{kill, KillArgs};
pub use pause::{pause, unpause};
pub use port::{port, PortArgs};
pub use prune::{prune, prune_containers, PruneArgs};
pub use rename::{rename, RenameArgs};
pub use rm::{rm, RmArgs};
pub use start::{start, StartArgs};
pub use stats::{stats, StatsArgs};
pub use stop::{restart, stop, StopArgs};
pub use top::{top, TopArgs};
pub use update::{update, UpdateArgs};
pub use wait::wait;

use super::{daemon_error, open_engine, GlobalOpts};
use clap::{Args, Subcommand};
use skiff_engine::container::Container;
use skiff_engine::{Engine, EngineError};

/// Runs `f` on each named container, printing the name on success (as Docker does).
fn each(
    g: &GlobalOpts,
    names: &[String],
    mut f: impl FnMut(&Engine, &Container) -> Result<(), EngineError>,
) -> anyhow::Result<u8> {
    let engine = open_engine(g)?;
    let mut failed = false;
    for n in names {
        let r = engine.find(n).and_then(|c| f(&engine, &c));
        match r {
            Ok(()) => println!("{n}"),
            Err(e) => {
                daemon_error(e);
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

#[derive(Args, Debug)]
pub struct NamesArgs {
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `skiff container ...`.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(super::run::RunArgs),
    /// Create a new container
    Create(super::run::CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// List containers
    #[command(name = "ls", visible_alias = "list", visible_alias = "ps")]
    Ls(super::ps::PsArgs),
    /// Fetch the logs of a container
    Logs(super::logs::LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Display detailed information on one or more containers
    Inspect(super::inspect::InspectArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Copy files between a container and the local filesystem
    Cp(CpArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Record a container's current state in the metadata (run by its monitor)
    #[command(hide = true)]
    Sync(NamesArgs),
}

/// Dispatches `skiff container ...`.
pub fn dispatch(g: &GlobalOpts, c: ContainerCommand) -> anyhow::Result<u8> {
    match c {
        ContainerCommand::Run(a) => super::run::run(g, a),
        ContainerCommand::Create(a) => super::run::create(g, a),
        ContainerCommand::Start(a) => start(g, a),
        ContainerCommand::Stop(a) => stop(g, a),
        ContainerCommand::Restart(a) => restart(g, a),
        ContainerCommand::Kill(a) => kill(g, a),
        ContainerCommand::Wait(a) => wait(g, a),
        ContainerCommand::Rm(a) => rm(g, a),
        ContainerCommand::Ls(a) => super::ps::run(g, a),
        ContainerCommand::Logs(a) => super::logs::run(g, a),
        ContainerCommand::Exec(a) => exec(g, a),
        ContainerCommand::Top(a) => top(g, a),
        ContainerCommand::Stats(a) => stats(g, a),
        ContainerCommand::Update(a) => update(g, a),
        ContainerCommand::Pause(a) => pause(g, a),
        ContainerCommand::Unpause(a) => unpause(g, a),
        ContainerCommand::Rename(a) => rename(g, a),
        ContainerCommand::Port(a) => port(g, a),
        ContainerCommand::Prune(a) => prune(g, a),
        ContainerCommand::Export(a) => export(g, a),
        ContainerCommand::Diff(a) => diff(g, a),
        ContainerCommand::Cp(a) => cp(g, a),
        ContainerCommand::Commit(a) => commit(g, a),
        ContainerCommand::Sync(a) => {
            let engine = open_engine(g)?;
            for n in &a.containers {
                if let Ok(c) = engine.find(n) {
                    engine.status(&c);
                }
            }
            Ok(0)
        }
        ContainerCommand::Inspect(mut a) => {
            a.kind = Some("container".into());
            super::inspect::run(g, a)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn flags_do_not_clash() {
        use clap::CommandFactory;
        super::super::Cli::command().debug_assert();
    }
}
