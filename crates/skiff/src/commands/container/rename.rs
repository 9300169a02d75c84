//! `skiff rename`.

use crate::commands::{open_engine, GlobalOpts};
use clap::Args;

#[derive(Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

pub fn rename(g: &GlobalOpts, a: RenameArgs) -> anyhow::Result<u8> {
    let engine = open_engine(g)?;
    let c = engine.find(&a.container)?;
    engine.rename(&c, &a.new_name)?;
    Ok(0)
}
