//! `skiff commit`.

use crate::commands::{open_engine, GlobalOpts};
use clap::Args;

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

pub fn commit(g: &GlobalOpts, a: CommitArgs) -> anyhow::Result<u8> {
    let engine = open_engine(g)?;
    let c = engine.find(&a.container)?;
    let reference = a.reference.as_deref().map(skiff_image::Reference::parse_with_default_tag).transpose()?;
    let o = skiff_engine::commit::CommitOptions {
        reference,
        author: a.author,
        message: a.message,
        changes: a.change,
        pause: a.pause,
    };
    let id = engine.commit(&c, &o)?;
    println!("{id}");
    Ok(0)
}
