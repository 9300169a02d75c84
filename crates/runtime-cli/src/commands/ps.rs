//! `ps`: the processes in the container's cgroup, as pids (`--format json`) or the host's
//! `ps -ef` rows.

use std::io::Write;

use clap::Args;

use crate::state::cgroup_when;
use crate::GlobalOpts;

#[derive(Args, Debug)]
pub struct Ps {
    /// Select one of: table or json
    #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    pub id: String,
}

pub fn run(g: &GlobalOpts, a: &Ps) -> anyhow::Result<u8> {
    let mut pids = cgroup_when(g, &a.id, &["created", "running", "paused"], "running")?.pids()?;
    pids.sort_unstable();
    if a.format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let (header, rows) = skiff_runtime::procs::ps_rows(&pids)?;
    let mut out = String::new();
    for r in std::iter::once(&header).chain(rows.iter()) {
        out.push_str(&r.join("\t"));
        out.push('\n');
    }
    // Go's tabwriter.NewWriter(out, 10, 1, 3, ' ', 0): the crate pads after its minimum width.
    let mut tw = tabwriter::TabWriter::new(std::io::stdout().lock()).minwidth(10 - 3).padding(3);
    tw.write_all(out.as_bytes())?;
    tw.flush()?;
    Ok(0)
}
