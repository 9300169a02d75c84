//! `skiff ps` / `container ls`: Docker's columns (CONTAINER ID, IMAGE,
//! COMMAND, CREATED, STATUS, PORTS, NAMES), `-a -q -s --no-trunc --filter --format`.

use super::{open_engine, GlobalOpts};
use crate::output::display::{ellipsis, truncate_id};
use crate::output::gofmt::quote;
use crate::output::table;
use crate::output::units::{ago, human_size};
use clap::Args;
use serde_json::{json, Value};
use skiff_engine::container::Container;
use skiff_engine::state::Status;
use skiff_engine::views::summary::{ContainerSummary, PortSummary};
use skiff_image::Store;

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long)]
    pub last: Option<usize>,
    /// Show the latest created container (includes all states)
    #[arg(long)]
    pub latest: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

fn matches(store: &Store, c: &Container, s: &Status, filters: &[(String, String)]) -> anyhow::Result<bool> {
    for (k, v) in filters {
        let ok = match k.as_str() {
            "status" => s.word() == v,
            "name" => c.name.contains(v.trim_start_matches('/')),
            "id" => c.id.starts_with(v),
            "exited" => matches!(s, Status::Exited { code, .. } if code.to_string() == *v),
            "ancestor" => c.image == *v || store.resolve(v).map(|r| r.id == c.image_id).unwrap_or(false),
            _ => anyhow::bail!("invalid filter '{k}'"),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Docker's CLI's PORTS for ports no one publishes: `6379/tcp`, consecutive ports of one
/// protocol as a range (`8000-8002/tcp`).
fn ports_text(ports: &[PortSummary]) -> String {
    let mut ranges: Vec<(&str, u16, u16)> = Vec::new();
    for p in ports {
        match ranges.iter_mut().rev().find(|r| r.0 == p.protocol) {
            Some(r) if r.2 + 1 == p.private_port => r.2 = p.private_port,
            _ => ranges.push((&p.protocol, p.private_port, p.private_port)),
        }
    }
    let shown: Vec<String> = ranges
        .into_iter()
        .map(|(proto, a, b)| if a == b { format!("{a}/{proto}") } else { format!("{a}-{b}/{proto}") })
        .collect();
    shown.join(", ")
}

/// One row as Docker's container formatter context, from the engine's summary.
pub fn row(s: &ContainerSummary, trunc: bool) -> Value {
    let now = chrono::Utc::now();
    let cmd = if trunc { ellipsis(&s.command, 20) } else { s.command.clone() };
    let mut v = json!({
        "ID": if trunc { truncate_id(&s.id).to_string() } else { s.id.clone() },
        "Image": s.image,
        "Command": quote(&cmd, false),
        "CreatedAt": crate::output::units::created_at_string(s.created),
        "RunningFor": ago(s.created, now),
        "Status": s.status,
        "State": s.state,
        "Ports": ports_text(&s.ports),
        "Names": s.name,
        "Labels": "",
        "Mounts": "",
        "Networks": s.network,
        "LocalVolumes": "0",
    });
    if let (Some(rw), Some(root)) = (s.size_rw, s.size_root_fs) {
        v["Size"] = json!(format!("{} (virtual {})", human_size(rw), human_size(root)));
    }
    v
}

/// Docker's container context: every field and its column name.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Size", "SIZE"),
];

pub fn run(g: &GlobalOpts, a: PsArgs) -> anyhow::Result<u8> {
    if let Some(f) = a.format.as_deref().filter(|f| !f.is_empty()) {
        table::check_fields(f, HEADERS, crate::output::template::CONTAINER_CONTEXT)
            .map_err(|e| table::FormatFailed(format!("failed to execute template: {}", e.go_message())))?;
    }
    let engine = open_engine(g)?;
    let store = engine.store();
    let filters: Vec<(String, String)> = a
        .filter
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut all = engine.list()?;
    all.reverse(); // newest first, as Docker lists them
    let limit = if a.latest { Some(1) } else { a.last };
    // As Docker's CLI: a format that shows the size asks for it.
    let with_size = a.size || a.format.as_deref().is_some_and(|f| f.contains(".Size"));
    let show_all = a.all || limit.is_some() || filters.iter().any(|(k, _)| k == "status" || k == "exited");
    let mut rows = Vec::new();
    for c in all.iter() {
        let s = engine.status(c);
        if !show_all && !s.is_running() {
            continue;
        }
        if !matches(store, c, &s, &filters)? {
            continue;
        }
        rows.push(row(&engine.summary(c, &s, with_size), !a.no_trunc));
        if limit.is_some_and(|n| rows.len() >= n) {
            break;
        }
    }
    let mut out = std::io::stdout().lock();
    if a.quiet {
        use std::io::Write;
        for r in &rows {
            writeln!(out, "{}", r["ID"].as_str().unwrap_or_default())?;
        }
        return Ok(0);
    }
    let default = if a.size {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    table::render_strict(
        &mut out,
        a.format.as_deref(),
        default,
        HEADERS,
        &rows,
        crate::output::template::CONTAINER_CONTEXT,
    )?;
    Ok(0)
}
