//! `skiff save [-o FILE] [--format docker-archive|oci-archive|oci-dir] IMAGE...`.

use super::{open_store, GlobalOpts};
use crate::output::progress::Progress;
use anyhow::{bail, Context};
use clap::Args;
use skiff_image::archive::{save, save_items, SaveFormat};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Archive format: docker-archive (Docker's, with an OCI layout inside), oci-archive, or oci-dir (needs -o DIR)
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

pub fn run(g: &GlobalOpts, a: SaveArgs) -> anyhow::Result<u8> {
    let format = match a.format.as_str() {
        "docker-archive" | "docker" => SaveFormat::DockerArchive,
        "oci-archive" | "oci" => SaveFormat::OciArchive,
        "oci-dir" => match &a.output {
            Some(d) => SaveFormat::OciDir(d.clone()),
            None => bail!("--format oci-dir needs -o DIR"),
        },
        other => bail!("unknown save format {other:?}: use docker-archive, oci-archive or oci-dir"),
    };
    if a.output.is_none() && std::io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let store = open_store(g)?;
    let items = save_items(&store, &a.images)?;
    let bar = Progress::bytes(None, "Saving");
    match (&format, &a.output) {
        (SaveFormat::OciDir(_), _) => save(&store, &items, &format, &mut std::io::sink(), &mut |n| bar.inc(n))?,
        (_, Some(path)) => {
            // Write beside the target and rename: an interrupted save never leaves a half-written file under the name.
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let name = path.file_name().with_context(|| format!("invalid output file {}", path.display()))?;
            let tmp = dir.join(format!(".{}.skiff-{}", name.to_string_lossy(), std::process::id()));
            let result = (|| -> anyhow::Result<()> {
                let f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", path.display()))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                save(&store, &items, &format, &mut w, &mut |n| bar.inc(n))?;
                w.flush().with_context(|| format!("writing {}", path.display()))?;
                std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
                Ok(())
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result?;
        }
        (_, None) => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
            save(&store, &items, &format, &mut w, &mut |n| bar.inc(n))?;
            w.flush().context("writing to stdout")?;
        }
    }
    bar.finish();
    Ok(0)
}
