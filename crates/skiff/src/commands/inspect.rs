//! `skiff inspect` / `image inspect`: Docker's JSON shape for images.

use super::{open_engine, GlobalOpts};
use crate::output::{json as ojson, template};
use clap::Args;
use serde_json::Value;
use skiff_engine::container::RecordError;
use skiff_engine::EngineError;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    pub size: bool,
    /// Return JSON for specified type
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(value_name = "NAME|ID", required = true)]
    pub names: Vec<String>,
}

pub fn run(g: &GlobalOpts, a: InspectArgs) -> anyhow::Result<u8> {
    let kind = a.kind.as_deref().unwrap_or("");
    if !matches!(kind, "" | "image" | "container") {
        anyhow::bail!("unsupported --type {kind:?}: this skiff inspects images and containers");
    }
    let engine = open_engine(g)?;
    let store = engine.store();
    let mut found = Vec::new();
    let mut failed = false;
    for n in &a.names {
        // Like Docker, a container wins over an image of the same name.
        if kind != "image" {
            match engine.find(n) {
                Ok(c) => {
                    found.push(engine.inspect(&c)?);
                    continue;
                }
                Err(EngineError::Record(RecordError::NoSuchContainer(_))) => {}
                Err(e) => return Err(e.into()),
            }
            if kind == "container" {
                eprintln!("Error: No such container: {n}");
                failed = true;
                continue;
            }
        }
        match store.resolve(n) {
            Ok(rec) => found.push(store.inspect(&rec.id)?),
            Err(skiff_image::StoreError::NoSuchImage(_)) => {
                eprintln!("Error: No such {}: {n}", if kind == "image" { "image" } else { "object" });
                failed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    match &a.format {
        Some(f) => {
            let t = template::Template::parse(f)?;
            for v in &found {
                writeln!(out, "{}", t.execute_inspect(v)?)?;
            }
        }
        None => writeln!(out, "{}", ojson::to_docker_json_pretty(&Value::Array(found)))?,
    }
    Ok(if failed { 1 } else { 0 })
}
