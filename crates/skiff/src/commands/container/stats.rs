//! `skiff stats`: CPU, memory, network, block I/O and pids of containers, as Docker's table.

use crate::commands::{open_engine, GlobalOpts};
use crate::output::table;
use crate::output::units::human_size_with_precision;
use clap::Args;
use serde_json::json;
use skiff_engine::container::Container;
use std::io::Write;

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x)
}

/// Docker's binary sizes for stats: `6.754MiB`.
fn bin_size(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", crate::output::gofmt::format_float(v, 'g', 4), units[i])
}

fn dec_size(n: u64) -> String {
    human_size_with_precision(n as f64, 3)
}

pub fn stats(g: &GlobalOpts, a: StatsArgs) -> anyhow::Result<u8> {
    let engine = open_engine(g)?;
    let targets: Vec<Container> = if a.containers.is_empty() {
        engine.list()?.into_iter().filter(|c| a.all || engine.status(c).is_running()).collect()
    } else {
        a.containers.iter().map(|n| engine.find(n)).collect::<Result<_, _>>()?
    };
    loop {
        let first: Vec<_> = targets.iter().map(|c| engine.sample(c).unwrap_or_default()).collect();
        std::thread::sleep(std::time::Duration::from_millis(if a.no_stream { 200 } else { 1000 }));
        let mut rows = Vec::new();
        for (c, prev) in targets.iter().zip(first) {
            let s = engine.sample(c).unwrap_or_default();
            let mem_pct = if s.memory_limit > 0 { s.memory_usage as f64 / s.memory_limit as f64 * 100.0 } else { 0.0 };
            rows.push(json!({
                "ID": if a.no_trunc { c.id.clone() } else { c.id[..12].to_string() },
                "Container": if a.no_trunc { c.id.clone() } else { c.id[..12].to_string() },
                "Name": c.name,
                "CPUPerc": pct(skiff_engine::exec::cpu_percent(&prev, &s)),
                "MemUsage": format!("{} / {}", bin_size(s.memory_usage), bin_size(s.memory_limit)),
                "MemPerc": pct(mem_pct),
                "NetIO": format!("{} / {}", dec_size(s.net_rx), dec_size(s.net_tx)),
                "BlockIO": format!("{} / {}", dec_size(s.block_read), dec_size(s.block_write)),
                "PIDs": s.pids.to_string(),
            }));
        }
        let headers = [
            ("ID", "CONTAINER ID"),
            ("Container", "CONTAINER"),
            ("Name", "NAME"),
            ("CPUPerc", "CPU %"),
            ("MemUsage", "MEM USAGE / LIMIT"),
            ("MemPerc", "MEM %"),
            ("NetIO", "NET I/O"),
            ("BlockIO", "BLOCK I/O"),
            ("PIDs", "PIDS"),
        ];
        let mut out = std::io::stdout().lock();
        if !a.no_stream {
            write!(out, "\x1b[2J\x1b[H")?;
        }
        table::render(
            &mut out,
            a.format.as_deref(),
            "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
            &headers,
            &rows,
        )?;
        if a.no_stream {
            return Ok(0);
        }
    }
}
