//! `skiff system df` and `skiff system check [--repair]`.

use super::{open_store, GlobalOpts};
use crate::output::{table, units};
use clap::Args;
use serde_json::{json, Value};
use std::collections::HashSet;

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Pretty-print using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
}

fn reclaimable(bytes: u64, total: u64) -> String {
    if total == 0 {
        return units::human_size(bytes);
    }
    format!("{} ({}%)", units::human_size(bytes), (bytes as f64 * 100.0 / total as f64).round() as u64)
}

pub fn df(g: &GlobalOpts, a: DfArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let images = store.images()?;
    let (containers, running, _, _) = skiff_engine::container::counts(&store)?;
    // Shared layers count once; an image is active when a container uses it.
    let mut active_images = 0;
    let mut active_layers: HashSet<String> = HashSet::new();
    for img in &images {
        if !skiff_engine::container::using_image(&store, &img.id)?.is_empty() {
            active_images += 1;
            for l in store.image_layers(&img.id)? {
                active_layers.insert(l.chain_id.to_string());
            }
        }
    }
    let total = store.layer_bytes()?;
    let mut active_bytes = 0;
    let mut seen = HashSet::new();
    for img in &images {
        for l in store.image_layers(&img.id)? {
            if active_layers.contains(&l.chain_id.to_string()) && seen.insert(l.chain_id.to_string()) {
                active_bytes += l.size;
            }
        }
    }
    let rows: Vec<Value> = vec![
        json!({"Type": "Images", "TotalCount": images.len().to_string(), "Active": active_images.to_string(),
               "Size": units::human_size(total), "Reclaimable": reclaimable(total - active_bytes, total)}),
        json!({"Type": "Containers", "TotalCount": containers.to_string(), "Active": running.to_string(),
               "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Local Volumes", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
    ];
    let mut out = std::io::stdout().lock();
    if a.verbose && a.format.is_none() {
        use std::io::Write;
        writeln!(out, "Images space usage:\n")?;
        let now = chrono::Utc::now();
        let mut img_rows = Vec::new();
        for img in &images {
            let created = img.created.as_deref().and_then(skiff_image::config::parse_time);
            let n = skiff_engine::container::using_image(&store, &img.id)?.len();
            let names: Vec<(String, String)> = if img.tags.is_empty() {
                vec![("<none>".into(), "<none>".into())]
            } else {
                img.tags.iter().map(|t| (t.familiar_name(), t.tag().unwrap_or("<none>").to_string())).collect()
            };
            for (repo, tag) in names {
                img_rows.push(json!({"Repository": repo, "Tag": tag, "ID": img.id.short(),
                    "CreatedSince": created.map(|t| units::ago(t, now)).unwrap_or_default(),
                    "Size": units::human_size(img.size), "SharedSize": "N/A", "UniqueSize": "N/A", "Containers": n.to_string()}));
            }
        }
        table::render(
            &mut out,
            None,
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
            &[("Repository", "REPOSITORY"), ("Tag", "TAG"), ("ID", "IMAGE ID"), ("CreatedSince", "CREATED"), ("Size", "SIZE"),
              ("SharedSize", "SHARED SIZE"), ("UniqueSize", "UNIQUE SIZE"), ("Containers", "CONTAINERS")],
            &img_rows,
        )?;
        return Ok(0);
    }
    table::render(
        &mut out,
        a.format.as_deref(),
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
        &[
            ("Type", "TYPE"),
            ("TotalCount", "TOTAL"),
            ("Active", "ACTIVE"),
            ("Size", "SIZE"),
            ("Reclaimable", "RECLAIMABLE"),
        ],
        &rows,
    )?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Remove damaged images and leftovers of interrupted work
    #[arg(long)]
    pub repair: bool,
    /// Only print problems
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn check(g: &GlobalOpts, a: CheckArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let report = store.check(a.repair)?;
    for p in &report.problems {
        println!("problem: {p}");
    }
    if !a.repair {
        for l in &report.leftovers {
            println!("leftover: {} (removed by --repair)", l.display());
        }
    }
    for r in &report.repaired {
        println!("repaired: {r}");
    }
    if !a.quiet {
        println!(
            "checked {} images, {} blobs ({}): {}",
            report.images_checked,
            report.blobs_checked,
            units::human_size(report.bytes_checked),
            if report.is_consistent() {
                "consistent".to_string()
            } else if a.repair {
                format!("{} problems, repaired", report.problems.len())
            } else {
                format!("{} problems", report.problems.len())
            }
        );
    }
    Ok(if report.is_consistent() || a.repair { 0 } else { 1 })
}
