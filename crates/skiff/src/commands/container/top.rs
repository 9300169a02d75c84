//! `skiff top`.

use crate::commands::{open_engine, GlobalOpts};
use crate::output::table;
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
pub struct TopArgs {
    pub container: String,
    /// ps options (ignored: skiff prints `ps -ef` columns)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

pub fn top(g: &GlobalOpts, a: TopArgs) -> anyhow::Result<u8> {
    let engine = open_engine(g)?;
    let c = engine.find(&a.container)?;
    let (header, rows) = engine.top(&c)?;
    // Docker's CLI sets `top`'s columns at least 20 wide (the seed shows them so).
    let mut tw = table::tabwriter_min(std::io::stdout().lock(), 20);
    writeln!(tw, "{}", header.join("\t"))?;
    for r in rows {
        writeln!(tw, "{}", r.join("\t"))?;
    }
    tw.flush()?;
    Ok(0)
}
