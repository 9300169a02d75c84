//! Command-line parsing (Docker's flags) and dispatch, one file per command.

mod build;
mod container;
mod history;
mod images;
mod import;
mod info;
mod inspect;
mod load;
mod login;
mod logout;
mod logs;
mod manifest;
mod ps;
pub mod pull;
mod push;

mod rmi;
pub mod run;
mod runtime;
mod save;
mod search;
mod system;
mod tag;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use skiff_image::Store;
use std::path::PathBuf;

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Root of the image and container store
    #[arg(long, global = true, env = "SKIFF_ROOT", default_value = "/var/lib/skiff", value_name = "DIR")]
    pub root: PathBuf,
    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")
    #[arg(short = 'l', long, global = true, default_value = "warn", value_name = "LEVEL",
          value_parser = ["debug", "info", "warn", "error", "fatal"])]
    pub log_level: String,
    /// Enable debug mode
    #[arg(short = 'D', long, global = true)]
    pub debug: bool,
}

#[derive(Parser, Debug)]
#[command(
    name = "skiff",
    version,
    about = "A daemonless, Docker-compatible container engine",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Command {
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(import::ImportArgs),
    /// List images
    #[command(visible_alias = "image-ls")]
    Images(images::ImagesArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Return low-level information on skiff objects
    Inspect(inspect::InspectArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(tag::TagArgs),
    /// Remove one or more images
    Rmi(rmi::RmiArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(save::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(load::LoadArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage skiff
    #[command(subcommand)]
    System(SystemCommand),
    /// Display system-wide information
    Info(info::InfoArgs),
    /// Show the skiff version information
    Version(info::VersionArgs),
    /// Download an image from a registry
    Pull(pull::PullArgs),
    /// Upload an image to a registry
    Push(push::PushArgs),
    /// Log in to a registry
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(logout::LogoutArgs),
    /// Search Docker Hub (or a registry) for images
    Search(search::SearchArgs),
    /// Manage manifests and manifest lists
    #[command(subcommand)]
    Manifest(manifest::ManifestCommand),
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(run::CreateArgs),
    /// Start one or more stopped containers
    Start(container::StartArgs),
    /// Stop one or more running containers
    Stop(container::StopArgs),
    /// Restart one or more containers
    Restart(container::StopArgs),
    /// Kill one or more running containers
    Kill(container::KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(container::NamesArgs),
    /// Remove one or more containers
    Rm(container::RmArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// Execute a command in a running container
    Exec(container::ExecArgs),
    /// Display the running processes of a container
    Top(container::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(container::StatsArgs),
    /// Update configuration of one or more containers
    Update(container::UpdateArgs),
    /// Pause all processes within one or more containers
    Pause(container::NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(container::NamesArgs),
    /// Rename a container
    Rename(container::RenameArgs),
    /// List port mappings or a specific mapping for the container
    Port(container::PortArgs),
    /// Export a container's filesystem as a tar archive
    Export(container::ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(container::DiffArgs),
    /// Copy files between a container and the local filesystem
    Cp(container::CpArgs),
    /// Create a new image from a container's changes
    Commit(container::CommitArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// An OCI runtime with runc's command line (create, start, state, kill, delete, run, spec, list)
    Runtime(runtime::RuntimeArgs),
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// List images
    #[command(visible_alias = "list", name = "ls")]
    Ls(images::ImagesArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(import::ImportArgs),
    /// Display detailed information on one or more images
    Inspect(inspect::InspectArgs),
    /// Load an image from a tar archive or STDIN
    Load(load::LoadArgs),
    /// Remove unused images
    Prune(rmi::PruneArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove", name = "rm")]
    Rm(rmi::RmiArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(save::SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(tag::TagArgs),
    /// Download an image from a registry
    Pull(pull::PullArgs),
    /// Upload an image to a registry
    Push(push::PushArgs),
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum SystemCommand {
    /// Show skiff disk usage
    Df(system::DfArgs),
    /// Re-verify every blob digest and reference in the store
    Check(system::CheckArgs),
    /// Display system-wide information
    Info(info::InfoArgs),
    /// Remove unused data
    Prune(rmi::PruneArgs),
}

/// Sets up tracing from `--log-level` / `-D`.
pub fn init_logging(g: &GlobalOpts) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = match (g.debug, g.log_level.as_str()) {
        (true, _) | (_, "debug") => tracing::Level::DEBUG,
        (_, "info") => tracing::Level::INFO,
        (_, "warn") => tracing::Level::WARN,
        _ => tracing::Level::ERROR,
    };
    // A plain per-crate level (`Targets`): unlike an `EnvFilter` it parses nothing at start-up.
    let crates = ["skiff", "skiff_image", "skiff_registry", "skiff_engine", "skiff_runtime", "skiff_builder"];
    let filter = tracing_subscriber::filter::Targets::new().with_targets(crates.map(|c| (c, level)));
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).without_time())
        .with(filter)
        .try_init();
}

/// Registry options: mirrors and insecure registries from the config files, Docker's credentials.
pub fn registry_options(tls_verify: bool) -> anyhow::Result<skiff_registry::ClientOptions> {
    let mut config = skiff_registry::RegistryConfig::load()?;
    config.tls_verify = tls_verify;
    Ok(skiff_registry::ClientOptions::new(config))
}

/// Opens the store named by `--root`.
pub fn open_store(g: &GlobalOpts) -> anyhow::Result<Store> {
    Store::open(&g.root).with_context(|| format!("opening store {}", g.root.display()))
}

/// The engine of the store named by `--root`, with the host's paths.
pub fn open_engine(g: &GlobalOpts) -> anyhow::Result<skiff_engine::Engine> {
    Ok(skiff_engine::Engine::new(open_store(g)?))
}

/// Runs the command; returns the exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    match cli.command {
        Command::Build(a) | Command::Image(ImageCommand::Build(a)) => build::run(g, a),
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => import::run(g, a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::run(g, a),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => history::run(g, a),
        Command::Inspect(a) | Command::Image(ImageCommand::Inspect(a)) => inspect::run(g, a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => tag::run(g, a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => rmi::run(g, a),
        Command::Image(ImageCommand::Prune(a)) => rmi::prune(g, a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => save::run(g, a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => load::run(g, a),

        Command::System(SystemCommand::Df(a)) => system::df(g, a),
        Command::System(SystemCommand::Check(a)) => system::check(g, a),
        Command::System(SystemCommand::Prune(a)) => rmi::system_prune(g, a),
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => info::info(g, a),
        Command::Version(a) => info::version(g, a),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => pull::run(g, a),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => push::run(g, a),
        Command::Login(a) => login::run(g, a),
        Command::Logout(a) => logout::run(g, a),
        Command::Search(a) => search::run(g, a),
        Command::Manifest(c) => manifest::run(g, c),
        Command::Run(a) => run::run(g, a),
        Command::Create(a) => run::create(g, a),
        Command::Start(a) => container::start(g, a),
        Command::Stop(a) => container::stop(g, a),
        Command::Restart(a) => container::restart(g, a),
        Command::Kill(a) => container::kill(g, a),
        Command::Wait(a) => container::wait(g, a),
        Command::Rm(a) => container::rm(g, a),
        Command::Ps(a) => ps::run(g, a),
        Command::Logs(a) => logs::run(g, a),
        Command::Exec(a) => container::exec(g, a),
        Command::Top(a) => container::top(g, a),
        Command::Stats(a) => container::stats(g, a),
        Command::Update(a) => container::update(g, a),
        Command::Pause(a) => container::pause(g, a),
        Command::Unpause(a) => container::unpause(g, a),
        Command::Rename(a) => container::rename(g, a),
        Command::Port(a) => container::port(g, a),
        Command::Export(a) => container::export(g, a),
        Command::Diff(a) => container::diff(g, a),
        Command::Cp(a) => container::cp(g, a),
        Command::Commit(a) => container::commit(g, a),
        Command::Container(c) => container::dispatch(g, c),
        Command::Runtime(a) => runtime::run(g, a),
    }
}

/// The message printed after `Error: `: the whole cause chain, outermost first.
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

/// How Docker's CLI introduces what its daemon reports.
pub const DAEMON_PREFIX: &str = "Error response from daemon: ";

/// Prints a daemon's error as Docker's CLI does, on stderr.
pub fn daemon_error(e: impl std::fmt::Display) {
    eprintln!("{DAEMON_PREFIX}{e}");
}

/// The kind of the daemon-side error in `e`'s chain, if it holds one: the engine's, the store's
/// (also inside an archive's) or a pull's, each classifying itself (`ErrorKind`), as Docker's
/// daemon does before its CLI sees the error.
pub fn daemon_kind(e: &anyhow::Error) -> Option<skiff_engine::ErrorKind> {
    e.chain().find_map(|c| {
        if let Some(e) = c.downcast_ref::<skiff_engine::EngineError>() {
            Some(e.kind())
        } else if let Some(e) = c.downcast_ref::<skiff_image::StoreError>() {
            Some(e.kind())
        } else if let Some(skiff_image::archive::ArchiveError::Store(e)) = c.downcast_ref() {
            Some(e.kind())
        } else if let Some(e) = c.downcast_ref::<skiff_engine::container::RecordError>() {
            Some(e.kind())
        } else {
            c.downcast_ref::<skiff_registry::PullError>().map(skiff_registry::PullError::kind)
        }
    })
}

/// How Docker's CLI would introduce `e`: "Error response from daemon: " for what its daemon reports
/// (any error with a [`daemon_kind`]), nothing for a format's error, "Error: " for skiff's other
/// own errors (files, arguments).
pub fn error_prefix(e: &anyhow::Error) -> &'static str {
    // A format that fails is printed bare, as Docker's CLI prints Go's template errors.
    let template = e.chain().any(|c| {
        c.is::<crate::output::template::TemplateError>()
            || c.is::<crate::output::table::RenderError>()
            || c.is::<crate::output::table::FormatFailed>()
    });
    if template {
        return "";
    }
    if daemon_kind(e).is_some() {
        DAEMON_PREFIX
    } else {
        "Error: "
    }
}

/// Exit status for a failed command: Docker's CLI exits 1 whatever the daemon's error (the
/// commands that exit with Docker's 125/126/127, run, create, start and exec, say so themselves).
pub const FAILED: u8 = 1;
