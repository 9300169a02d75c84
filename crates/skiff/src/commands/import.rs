//! `skiff import`: a tarball (file or `-` for stdin, plain or compressed) becomes a one-layer image.

use super::{open_store, GlobalOpts};
use crate::output::progress::Progress;
use anyhow::{bail, Context};
use clap::Args;
use skiff_image::import::{import, ImportOptions};
use skiff_image::Reference;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "CHANGE")]
    pub changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// File to import ("-" for STDIN)
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    /// Name for the new image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

pub fn run(g: &GlobalOpts, a: ImportArgs) -> anyhow::Result<u8> {
    let tag = a.reference.as_deref().map(Reference::parse_with_default_tag).transpose()?;
    if tag.as_ref().is_some_and(|t| t.digest().is_some()) {
        bail!("invalid reference {:?}: cannot import to a digest reference", a.reference.unwrap_or_default());
    }
    let mut opts = ImportOptions::new(&a.source);
    opts.changes = a.changes;
    opts.message = a.message;
    opts.tag = tag;
    if let Some(p) = &a.platform {
        let parts: Vec<&str> = p.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|s| s.is_empty()) {
            bail!("invalid platform {p:?}: expected OS/ARCH[/VARIANT]");
        }
        opts.os = parts[0].to_string();
        opts.architecture = parts[1].to_string();
        opts.variant = parts.get(2).map(|s| s.to_string());
    }
    if a.source.starts_with("http://") || a.source.starts_with("https://") {
        bail!("import {}: importing from a URL is not supported yet; download it and import the file", a.source);
    }
    let store = open_store(g)?;
    let committed = if a.source == "-" {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        let bar = Progress::bytes(None, "Importing");
        let c = import(&store, &mut lock, &opts, &mut |n| bar.inc(n))?;
        bar.finish();
        c
    } else {
        let mut f = std::fs::File::open(&a.source).with_context(|| format!("import {}", a.source))?;
        let total = f.metadata().ok().map(|m| m.len());
        let bar = Progress::bytes(total, "Importing");
        let c = import(&store, &mut f, &opts, &mut |n| bar.inc(n))?;
        bar.finish();
        c
    };
    println!("{}", committed.id);
    Ok(0)
}
