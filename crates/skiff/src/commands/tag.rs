//! `skiff tag SOURCE TARGET`.

use super::{open_store, GlobalOpts};
use anyhow::bail;
use clap::Args;
use skiff_image::Reference;

#[derive(Args, Debug)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

pub fn run(g: &GlobalOpts, a: TagArgs) -> anyhow::Result<u8> {
    let target = Reference::parse_with_default_tag(&a.target)?;
    if target.digest().is_some() {
        bail!("refusing to create a tag with a digest reference");
    }
    let store = open_store(g)?;
    let img = store.resolve(&a.source)?;
    store.tag(&img.id, &target)?;
    Ok(0)
}
