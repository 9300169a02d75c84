//! `skiff container prune`.

use crate::commands::{open_engine, GlobalOpts};
use clap::Args;

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub fn prune(g: &GlobalOpts, a: PruneArgs) -> anyhow::Result<u8> {
    if !a.force && !crate::commands::rmi::confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let engine = open_engine(g)?;
    let reclaimed = prune_containers(&engine)?;
    println!("Total reclaimed space: {}", crate::output::units::human_size(reclaimed));
    Ok(0)
}

/// Removes the stopped containers, printing Docker's "Deleted Containers:" list; returns the
/// bytes their writable layers held.
pub fn prune_containers(engine: &skiff_engine::Engine) -> anyhow::Result<u64> {
    let gone = engine.prune()?;
    if !gone.is_empty() {
        println!("Deleted Containers:");
        for (id, _) in &gone {
            println!("{id}");
        }
        println!();
    }
    Ok(gone.iter().map(|(_, size)| size).sum())
}
