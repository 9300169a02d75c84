//! `skiff manifest inspect NAME`: the registry's manifest or index, as JSON.

use super::{registry_options, GlobalOpts};
use clap::{Args, Subcommand};
use skiff_image::Reference;

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ManifestCommand {
    /// Display an image manifest, or manifest list
    Inspect(InspectArgs),
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Output additional info including layers and platform
    #[arg(short, long)]
    pub verbose: bool,
    /// Allow communication with an insecure registry
    #[arg(long)]
    pub insecure: bool,
    #[arg(value_name = "NAME")]
    pub name: String,
}

pub fn run(_g: &GlobalOpts, c: ManifestCommand) -> anyhow::Result<u8> {
    let ManifestCommand::Inspect(a) = c;
    let opts = registry_options(!a.insecure)?;
    let r = Reference::parse_with_default_tag(&a.name)?;
    let (_client, m) = skiff_registry::pull::resolve_manifest(&opts, &r)?;
    let v: serde_json::Value = serde_json::from_slice(&m.bytes)?;
    if a.verbose {
        let out = serde_json::json!({
            "Ref": r.to_string(),
            "Descriptor": {"mediaType": v.get("mediaType"), "digest": m.digest.to_string(), "size": m.bytes.len()},
            "Raw": v,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        // Docker prints the document re-indented with tabs... as JSON with 8-space indentation here.
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(0)
}
