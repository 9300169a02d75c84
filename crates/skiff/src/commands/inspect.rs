//! `skiff inspect` / `image inspect`: Docker's JSON shape for images.

use super::{open_engine, GlobalOpts};
use crate::output::{json as ojson, template};
use clap::Args;
use serde_json::{json, Value};
use skiff_engine::container::RecordError;
use skiff_engine::EngineError;
use skiff_image::{Digest, Store};

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

/// Docker's `types.ImageInspect` for one image.
pub fn image_json(store: &Store, id: &Digest) -> anyhow::Result<Value> {
    let rec = store.image(id)?;
    let cfg = store.config(id)?;
    let layers = store.image_layers(id)?;
    let mut tags: Vec<String> = rec.tags.iter().map(|t| t.familiar()).collect();
    tags.sort();
    let mut digests: Vec<String> = rec.digests.iter().map(|d| d.familiar()).collect();
    digests.sort();
    let lower: Vec<String> =
        layers.iter().rev().map(|l| store.layer_dir(&l.chain_id).display().to_string()).collect::<Vec<_>>();
    let mut v = json!({
        "Id": id.to_string(),
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": rec.parent.map(|p| p.to_string()).unwrap_or_default(),
        "Comment": cfg.comment,
        "Created": cfg.created.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        "Container": cfg.container,
        "ContainerConfig": cfg.container_config.clone().unwrap_or_default(),
        "DockerVersion": cfg.docker_version,
        "Author": cfg.author,
        "Config": cfg.config,
        "Architecture": cfg.architecture,
    });
    let obj = v.as_object_mut().expect("object");
    if let Some(var) = &cfg.variant {
        obj.insert("Variant".into(), json!(var));
    }
    obj.insert("Os".into(), json!(cfg.os));
    if let Some(osv) = &cfg.os_version {
        obj.insert("OsVersion".into(), json!(osv));
    }
    obj.insert("Size".into(), json!(rec.size));
    obj.insert("VirtualSize".into(), json!(rec.size));
    obj.insert("GraphDriver".into(), json!({ "Data": { "LowerDir": lower.join(":") }, "Name": "overlay" }));
    obj.insert(
        "RootFS".into(),
        json!({ "Type": "layers", "Layers": cfg.rootfs.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>() }),
    );
    obj.insert(
        "Metadata".into(),
        json!({ "LastTagTime": rec.last_tag_time.unwrap_or_else(|| "0001-01-01T00:00:00Z".into()) }),
    );
    Ok(v)
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
            Ok(rec) => found.push(image_json(store, &rec.id)?),
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
