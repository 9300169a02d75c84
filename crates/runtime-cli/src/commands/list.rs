//! `list`: the containers under `--root`, as a table, JSON or ids.

use std::io::Write;

use clap::Args;

use crate::state;
use crate::GlobalOpts;

#[derive(Args, Debug)]
pub struct List {
    /// Display only container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Select one of: table or json
    #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

/// The name of user `uid` from /etc/passwd, else the number.
fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

pub fn run(g: &GlobalOpts, a: &List) -> anyhow::Result<u8> {
    let mut ids: Vec<String> = match std::fs::read_dir(&g.root) {
        Ok(rd) => rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    ids.sort();
    let mut states = Vec::new();
    for id in ids {
        let Ok((dir, rec)) = state::load(g, &id) else { continue };
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&dir)?);
        states.push(state::state_json(&dir, &rec, &user_name(owner)));
    }
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for s in &states {
            writeln!(out, "{}", s["id"].as_str().unwrap_or_default())?;
        }
    } else if a.format == "json" {
        if states.is_empty() {
            write!(out, "null")?;
        } else {
            let compact: Vec<serde_json::Value> = states
                .into_iter()
                .map(|mut s| {
                    if let Some(m) = s.as_object_mut() {
                        m.shift_remove("annotations");
                    }
                    s
                })
                .collect();
            write!(out, "{}", serde_json::to_string(&compact)?)?;
        }
    } else {
        let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(9).padding(3);
        writeln!(tw, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")?;
        for s in &states {
            let f = |k: &str| match &s[k] {
                serde_json::Value::String(v) => v.clone(),
                v => v.to_string(),
            };
            writeln!(
                tw,
                "{}\t{}\t{}\t{}\t{}\t{}",
                f("id"),
                f("pid"),
                f("status"),
                f("bundle"),
                f("created"),
                f("owner")
            )?;
        }
        out.write_all(&tw.into_inner()?)?;
    }
    out.flush()?;
    Ok(0)
}
