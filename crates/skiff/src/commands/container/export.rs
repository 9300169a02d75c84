//! `skiff export`.

use crate::commands::{open_engine, GlobalOpts};
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,
    pub container: String,
}

pub fn export(g: &GlobalOpts, a: ExportArgs) -> anyhow::Result<u8> {
    let engine = open_engine(g)?;
    let store = engine.store();
    let c = engine.find(&a.container)?;
    match &a.output {
        Some(p) => {
            let mut f = std::io::BufWriter::new(std::fs::File::create(p)?);
            skiff_engine::files::export(store, &c, &mut f)?;
            f.flush()?;
        }
        None => {
            let stdout = std::io::stdout();
            if rustix::termios::isatty(&stdout) {
                anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = std::io::BufWriter::new(stdout.lock());
            skiff_engine::files::export(store, &c, &mut out)?;
            out.flush()?;
        }
    }
    Ok(0)
}
