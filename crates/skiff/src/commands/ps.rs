//! `skiff ps` / `container ls`: Docker's columns (CONTAINER ID, IMAGE,
//! COMMAND, CREATED, STATUS, PORTS, NAMES), `-a -q -s --no-trunc --filter --format`.

use super::{open_store, GlobalOpts};
use crate::output::display::{ellipsis, truncate_id};
use crate::output::gofmt::quote;
use crate::output::table;
use crate::output::units::{ago, human_duration, human_size};
use clap::Args;
use serde_json::{json, Value};
use skiff_engine::container::{self, Container};
use skiff_engine::lifecycle;
use skiff_engine::state::Status;
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

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// Docker's STATUS text.
pub fn status_text(s: &Status, now: chrono::DateTime<chrono::Utc>) -> String {
    let since =
        |t: &str| parse_time(t).map(|t| human_duration((now - t).to_std().unwrap_or_default())).unwrap_or_default();
    match s {
        Status::Created => "Created".to_string(),
        Status::Running { started, .. } => format!("Up {}", since(started)),
        Status::Paused { started, .. } => format!("Up {} (Paused)", since(started)),
        Status::Exited { code, finished, .. } => match parse_time(finished) {
            Some(f) => format!("Exited ({code}) {}", ago(f, now)),
            None => format!("Exited ({code})"),
        },
    }
}

fn matches(store: &Store, c: &Container, s: &Status, filters: &[(String, String)]) -> anyhow::Result<bool> {
    for (k, v) in filters {
        let ok = match k.as_str() {
            "status" => s.word() == v,
            "name" => c.name.contains(v.trim_start_matches('/')),
            "id" => c.id.starts_with(v),
            "exited" => matches!(s, Status::Exited { code, .. } if code.to_string() == *v),
            "ancestor" => c.image == *v || store.resolve(v).map(|r| r.id.to_string() == c.image_id).unwrap_or(false),
            _ => anyhow::bail!("invalid filter '{k}'"),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Docker's PORTS for a container that publishes nothing: the image's exposed
/// ports (`6379/tcp`, consecutive ones as `8000-8002/tcp`), while it runs in
/// its own network namespace (Docker lists none for stopped containers, for
/// `--network host|none` and for `--network container:NAME`).
fn ports(store: &Store, c: &Container, s: &Status) -> String {
    let own_net = c.opts.network == skiff_engine::NsMode::Private && !c.opts.network_none;
    if !matches!(s, Status::Running { .. } | Status::Paused { .. }) || !own_net {
        return String::new();
    }
    let Some(exposed) = skiff_image::Digest::parse(&c.image_id)
        .ok()
        .and_then(|d| store.config(&d).ok())
        .and_then(|cfg| cfg.config.and_then(|cc| cc.exposed_ports))
    else {
        return String::new();
    };
    let mut list: Vec<(String, u32)> = exposed
        .keys()
        .filter_map(|k| {
            let (port, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
            port.parse().ok().map(|p| (proto.to_string(), p))
        })
        .collect();
    list.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    // Consecutive ports of one protocol collapse into a range.
    let mut ranges: Vec<(String, u32, u32)> = Vec::new();
    for (proto, p) in list {
        match ranges.iter_mut().rev().find(|r| r.0 == proto) {
            Some(r) if r.2 + 1 == p => r.2 = p,
            _ => ranges.push((proto, p, p)),
        }
    }
    let shown: Vec<String> = ranges
        .into_iter()
        .map(|(proto, a, b)| if a == b { format!("{a}/{proto}") } else { format!("{a}-{b}/{proto}") })
        .collect();
    shown.join(", ")
}

/// One row as Docker's container formatter context.
pub fn row(store: &Store, c: &Container, s: &Status, trunc: bool, with_size: bool) -> Value {
    let now = chrono::Utc::now();
    let cmd = c.listed_command();
    let cmd = if trunc { ellipsis(&cmd, 20) } else { cmd };
    let created = parse_time(&c.created).unwrap_or(now);
    let mut v = json!({
        "ID": if trunc { truncate_id(&c.id).to_string() } else { c.id.clone() },
        "Image": c.image,
        "Command": quote(&cmd, false),
        "CreatedAt": crate::output::units::created_at_string(created),
        "RunningFor": ago(created, now),
        "Status": status_text(s, now),
        "State": s.word(),
        "Ports": ports(store, c, s),
        "Names": c.name,
        "Labels": "",
        "Mounts": "",
        "Networks": if c.opts.network == skiff_engine::NsMode::Host { "host" } else if c.opts.network_none { "none" } else { "bridge" },
        "LocalVolumes": "0",
    });
    if with_size {
        let rw = skiff_engine::fs::dir_size(&c.dir(store).join("upper"));
        let virt = skiff_image::Digest::parse(&c.image_id).ok().and_then(|d| store.image(&d).ok()).map(|i| i.size);
        v["Size"] = json!(format!("{} (virtual {})", human_size(rw), human_size(rw + virt.unwrap_or(0))));
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
    let store = open_store(g)?;
    let filters: Vec<(String, String)> = a
        .filter
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut all = container::list(&store)?;
    all.reverse(); // newest first, as Docker lists them
    let limit = if a.latest { Some(1) } else { a.last };
    // As Docker's CLI: a format that shows the size asks for it.
    let with_size = a.size || a.format.as_deref().is_some_and(|f| f.contains(".Size"));
    let show_all = a.all || limit.is_some() || filters.iter().any(|(k, _)| k == "status" || k == "exited");
    let mut rows = Vec::new();
    for c in all.iter() {
        let s = lifecycle::status(&store, c);
        if !show_all && !s.is_running() {
            continue;
        }
        if !matches(&store, c, &s, &filters)? {
            continue;
        }
        rows.push(row(&store, c, &s, !a.no_trunc, with_size));
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
