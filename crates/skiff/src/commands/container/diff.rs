//! `skiff diff`.

use crate::commands::{open_engine, GlobalOpts};
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
pub struct DiffArgs {
    pub container: String,
}

pub fn diff(g: &GlobalOpts, a: DiffArgs) -> anyhow::Result<u8> {
    let engine = open_engine(g)?;
    let c = engine.find(&a.container)?;
    let mut out = std::io::stdout().lock();
    for ch in skiff_engine::files::diff(engine.store(), &c)? {
        writeln!(out, "{} {}", ch.kind, ch.path)?;
    }
    Ok(0)
}
