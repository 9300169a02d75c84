//! `skiff push NAME[:TAG]`: prints Docker's lines and `<tag>: digest: sha256:… size: N`.

use super::{open_store, registry_options, GlobalOpts};
use clap::Args;
use skiff_image::Reference;
use skiff_registry::{PushEvent, PushOptions};

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Verify TLS certificates of the registry
    #[arg(long = "tls-verify", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
    /// Upload blobs in chunks of this many bytes (default: one request per blob)
    #[arg(long, value_name = "BYTES", hide = true)]
    pub chunk_size: Option<u64>,
    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
}

pub fn run(g: &GlobalOpts, a: PushArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let opts = registry_options(a.tls_verify)?;
    let r = Reference::parse(&a.name)?;
    let r_untagged = r.tag().is_none() && r.digest().is_none();
    let names: Vec<Reference> = if a.all_tags {
        if r.tag().is_some() || r.digest().is_some() {
            anyhow::bail!("tag can't be used with --all-tags/-a");
        }
        let mut v: Vec<Reference> =
            store.images()?.into_iter().flat_map(|i| i.tags).filter(|t| t.name() == r.name()).collect();
        v.sort_by_key(|t| t.to_string());
        v
    } else {
        vec![r]
    };
    let mut popts = PushOptions { chunk_size: a.chunk_size, ..Default::default() };
    // Mount from other repositories of the same registry this image is known under.
    for n in &names {
        if let Ok(img) = store.resolve(&n.to_string()) {
            for other in img.tags.iter().chain(img.digests.iter()) {
                if other.domain() == n.domain()
                    && other.path() != n.path()
                    && !popts.mount_from.contains(&other.path().to_string())
                {
                    popts.mount_from.push(other.path().to_string());
                }
            }
        }
    }
    let quiet = a.quiet;
    // Docker's lines without a terminal: no "Pushing" (it is a progress bar's state).
    let print = move |e: PushEvent| match e {
        PushEvent::Repository(r) if !quiet => println!("The push refers to repository [{r}]"),
        PushEvent::Layer { status, .. } if status == "Pushing" => {}
        PushEvent::Layer { id, status } if !quiet => println!("{id}: {status}"),
        PushEvent::Digest { tag, digest, size } if !quiet => println!("{tag}: digest: {digest} size: {size}"),
        _ => {}
    };
    if !quiet && !a.all_tags && r_untagged {
        println!("Using default tag: {}", skiff_image::reference::DEFAULT_TAG);
    }
    for n in &names {
        let pushed = match skiff_registry::push(&store, &opts, n, &popts, &print) {
            Ok(p) => p,
            // The CLI's own complaint in Docker: printed as it is.
            Err(e @ skiff_registry::PushError::NoSuchTag(_)) => {
                eprintln!("{e}");
                return Ok(1);
            }
            Err(e) => return Err(e.into()),
        };
        if quiet {
            println!("{}", n.with_digest(pushed.digest).familiar());
        }
    }
    Ok(0)
}
