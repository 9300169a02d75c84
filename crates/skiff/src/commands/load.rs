//! `skiff load [-i FILE] [-q]`: every archive format Docker, Podman and skopeo write.

use super::{open_store, GlobalOpts};
use crate::output::progress::Progress;
use anyhow::{bail, Context};
use clap::Args;
use skiff_image::archive::{load, LoadOptions};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(g: &GlobalOpts, a: LoadArgs) -> anyhow::Result<u8> {
    let store_report = |store: &skiff_image::Store, input: &mut dyn std::io::Read, name: &str, total: Option<u64>| {
        let bar = if a.quiet { Progress::hidden() } else { Progress::bytes(total, "Loading layer") };
        let r = load(store, input, &LoadOptions::new(name), &mut |n| bar.inc(n));
        bar.finish_and_clear();
        r
    };
    let report = match &a.input {
        Some(path) => {
            let mut f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
            let total = f.metadata().ok().map(|m| m.len());
            let store = open_store(g)?;
            store_report(&store, &mut f, &path.display().to_string(), total)?
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            let store = open_store(g)?;
            store_report(&store, &mut stdin.lock(), "stdin", None)?
        }
    };
    if !a.quiet {
        for line in report.messages() {
            println!("{line}");
        }
    }
    Ok(0)
}
