//! One file per `skiff runtime` command: its clap arguments and what it does.

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

/// The signals a foreground `run` or `exec` blocks (so they queue for a signalfd) and forwards
/// to the container: runc's, and SIGWINCH, which the waits take from the queue and drop.
pub(crate) fn block_forwarded_signals() -> anyhow::Result<skiff_runtime::signal::SignalSet> {
    use skiff_runtime::signal::{SignalSet, FORWARDED_SIGNALS};
    let mut signals = FORWARDED_SIGNALS.to_vec();
    signals.push(libc::SIGWINCH);
    let set = SignalSet::new(&signals)?;
    set.block()?;
    Ok(set)
}
