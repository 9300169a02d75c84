//! `skiff rmi` / `image rm` and `image prune`.

use super::{open_store, GlobalOpts};
use crate::output::units::human_size;
use clap::Args;
use skiff_image::store::RemoveEvent;
use std::io::{BufRead, IsTerminal, Write};

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    pub no_prune: bool,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

fn print_events(events: &[RemoveEvent], lower: bool) {
    let mut out = std::io::stdout().lock();
    for e in events {
        let line = match e {
            RemoveEvent::Untagged(r) => format!("{}: {r}", if lower { "untagged" } else { "Untagged" }),
            RemoveEvent::Deleted(d) => format!("{}: {d}", if lower { "deleted" } else { "Deleted" }),
        };
        let _ = writeln!(out, "{line}");
    }
}

pub fn run(g: &GlobalOpts, a: RmiArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let mut failed = false;
    for name in &a.images {
        match store.remove(name, a.force) {
            Ok(events) => print_events(&events, false),
            Err(e) => {
                // Every refusal of an image removal is the daemon's in Docker.
                super::daemon_error(e);
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// Docker's prompt before a prune: the warning, then "Are you sure you want to continue? [y/N]";
/// true on "y" or "yes". Without a terminal the answer is read from stdin (none: no).
pub fn confirm(warning: &str) -> bool {
    eprint!("{warning}\nAre you sure you want to continue? [y/N] ");
    let stdin = std::io::stdin();
    let mut answer = String::new();
    if stdin.lock().read_line(&mut answer).unwrap_or(0) == 0 && !stdin.is_terminal() {
        eprintln!();
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

pub fn prune(g: &GlobalOpts, a: PruneArgs) -> anyhow::Result<u8> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let store = open_store(g)?;
    let reclaimed = prune_images(&store, a.all)?;
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(0)
}

/// Prunes images, printing Docker's "Deleted Images:" list; returns the bytes reclaimed.
fn prune_images(store: &skiff_image::Store, all: bool) -> anyhow::Result<u64> {
    let (events, reclaimed) = store.prune(all)?;
    if !events.is_empty() {
        println!("Deleted Images:");
        print_events(&events, true);
        println!();
    }
    Ok(reclaimed)
}

/// `docker system prune`: stopped containers, then dangling (with -a: unused) images, as Docker
/// does (skiff has no networks or build cache to prune yet).
pub fn system_prune(g: &GlobalOpts, a: PruneArgs) -> anyhow::Result<u8> {
    let images =
        if a.all { "all images without at least one container associated to them" } else { "all dangling images" };
    let warning = format!(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - {images}\n  - all dangling build cache\n"
    );
    if !a.force && !confirm(&warning) {
        return Ok(0);
    }
    let engine = super::open_engine(g)?;
    let containers = super::container::prune_containers(&engine)?;
    let reclaimed = containers + prune_images(engine.store(), a.all)?;
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(0)
}
