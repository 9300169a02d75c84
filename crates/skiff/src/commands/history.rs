//! `skiff history IMAGE`: IMAGE CREATED CREATED BY SIZE COMMENT, newest first.

use super::{open_store, GlobalOpts};
use crate::output::{table, units};
use anyhow::bail;
use clap::{ArgAction, Args};
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Pretty-print history using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

pub fn run(g: &GlobalOpts, a: HistoryArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let img = store.resolve(&a.image)?;
    let cfg = store.config(&img.id)?;
    let layers = store.image_layers(&img.id)?;
    let now = chrono::Utc::now();
    // Oldest first, as in the config; each non-empty entry consumes the next layer.
    let mut entries = Vec::new();
    let mut next_layer = layers.iter();
    for h in &cfg.history {
        let size = if h.empty_layer {
            0
        } else {
            match next_layer.next() {
                Some(l) => l.size,
                None => bail!("too many non-empty layers in History section of {}", img.id),
            }
        };
        entries.push((h, size));
    }
    let mut rows: Vec<Value> = Vec::new();
    // Newest first; IDs follow the local parent chain, else <missing>.
    let mut id_chain: Option<skiff_image::Digest> = Some(img.id.clone());
    for (h, size) in entries.iter().rev() {
        let id = match id_chain.take() {
            Some(id) => {
                id_chain = store.image(&id).ok().and_then(|r| r.parent);
                if a.no_trunc {
                    id.to_string()
                } else {
                    id.short().to_string()
                }
            }
            None => "<missing>".to_string(),
        };
        let created = h.created.as_deref().and_then(skiff_image::config::parse_time);
        let created_by_raw = h.created_by.clone().unwrap_or_default().replace('\t', " ");
        let created_by =
            if a.no_trunc { created_by_raw } else { crate::output::display::ellipsis(&created_by_raw, 45) };
        let (since, size_s) = if a.human {
            (created.map(|t| units::ago(t, now)).unwrap_or_else(|| "N/A".into()), units::human_size(*size))
        } else {
            (created.map(units::rfc3339_seconds).unwrap_or_default(), size.to_string())
        };
        rows.push(json!({
            "Comment": h.comment.clone().unwrap_or_default(),
            "CreatedAt": created.map(units::rfc3339_seconds).unwrap_or_default(),
            "CreatedBy": created_by,
            "CreatedSince": since,
            "ID": id,
            "Size": size_s,
        }));
    }
    let mut out = std::io::stdout().lock();
    if a.quiet {
        use std::io::Write;
        for r in &rows {
            writeln!(out, "{}", r["ID"].as_str().unwrap_or_default())?;
        }
        return Ok(0);
    }
    table::render_strict(
        &mut out,
        a.format.as_deref(),
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
        HEADERS,
        &rows,
        "*image.historyContext",
    )?;
    Ok(0)
}

pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];
