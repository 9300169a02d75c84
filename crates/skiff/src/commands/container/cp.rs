//! `skiff cp`: files, trees and tar streams between the host and a container.

use crate::commands::{open_engine, GlobalOpts};
use clap::Args;

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// CONTAINER:SRC_PATH or a host path
    pub src: String,
    /// CONTAINER:DEST_PATH or a host path
    pub dest: String,
}

pub fn cp(g: &GlobalOpts, a: CpArgs) -> anyhow::Result<u8> {
    let engine = open_engine(g)?;
    let store = engine.store();
    let o = skiff_engine::files::CopyOptions { archive: a.archive, follow_link: a.follow_link };
    match (a.src.split_once(':'), a.dest.split_once(':')) {
        (Some((name, path)), None) if a.dest == "-" => {
            let c = engine.find(name)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            skiff_engine::files::copy_out_tar(store, &c, path, &mut out, o)?;
        }
        (None, Some((name, path))) if a.src == "-" => {
            let c = engine.find(name)?;
            skiff_engine::files::copy_in_tar(store, &c, &mut std::io::stdin().lock(), path, o)?;
        }
        (Some((name, path)), None) => {
            let c = engine.find(name)?;
            skiff_engine::files::copy_out(store, &c, path, std::path::Path::new(&a.dest), o)?;
        }
        (None, Some((name, path))) => {
            let c = engine.find(name)?;
            skiff_engine::files::copy_in(store, &c, std::path::Path::new(&a.src), path, o)?;
        }
        _ => anyhow::bail!("must specify exactly one container path (CONTAINER:PATH)"),
    }
    Ok(0)
}
