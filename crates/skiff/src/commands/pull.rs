//! `skiff pull [--platform] [-a] [-q] NAME[:TAG|@DIGEST]`, with Docker's progress lines on stdout
//! (one line per event) and then the full name, as Docker's CLI prints them.

use super::{open_store, registry_options, GlobalOpts};
use clap::Args;
use skiff_image::Reference;
use skiff_registry::manifest::Platform;
use skiff_registry::{PullEvent, PullOptions};
use std::io::Write;

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Verify TLS certificates of the registry
    #[arg(long = "tls-verify", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub name: String,
}

pub fn run(g: &GlobalOpts, a: PullArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let opts = registry_options(a.tls_verify)?;
    let r = Reference::parse(&a.name)?;
    let mut popts = PullOptions::default();
    if let Some(p) = &a.platform {
        popts.platform = Some(Platform::parse(p)?);
    }
    let refs = if a.all_tags {
        if r.tag().is_some() || r.digest().is_some() {
            anyhow::bail!("tag can't be used with --all-tags/-a");
        }
        skiff_registry::pull::list_tags(&opts, &r)?.into_iter().map(|t| r.with_tag(&t)).collect()
    } else {
        vec![r.clone()]
    };
    let quiet = a.quiet;
    let print = move |e: PullEvent| {
        if !quiet {
            if let Some(line) = progress_line(e) {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
        }
    };
    if !quiet && !a.all_tags && r.tag().is_none() && r.digest().is_none() {
        println!("Using default tag: {}", skiff_image::reference::DEFAULT_TAG);
    }
    let mut last = None;
    for r in &refs {
        last = Some(skiff_registry::pull(&store, &opts, r, &popts, &print)?);
    }
    let shown = if a.all_tags { r.name() } else { last.map(|p| p.reference.to_string()).unwrap_or_default() };
    println!("{shown}");
    Ok(0)
}

/// A pull event as Docker's CLI prints it without a terminal; `None` for byte counts.
pub fn progress_line(e: PullEvent) -> Option<String> {
    Some(match e {
        PullEvent::PullingFrom { tag, repo } => format!("{tag}: Pulling from {repo}"),
        PullEvent::Layer { id, status } => format!("{id}: {status}"),
        PullEvent::Progress { .. } => return None,
        PullEvent::Digest(d) => format!("Digest: {d}"),
        PullEvent::Status(s) => format!("Status: {s}"),
    })
}
