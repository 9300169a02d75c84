//! `skiff search [--limit N] [--filter ...] [--no-trunc] [--format ...] TERM`.

use super::{registry_options, GlobalOpts};
use anyhow::bail;
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Filter output based on conditions provided (is-official=BOOL, is-automated=BOOL, stars=N)
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Pretty-print search using a Go template ({{.Name}}, {{.Description}}, {{.StarCount}}, {{.IsOfficial}})
    #[arg(long)]
    pub format: Option<String>,
    /// Verify TLS certificates of the registry
    #[arg(long = "tls-verify", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
    pub term: String,
}

pub fn run(_g: &GlobalOpts, a: SearchArgs) -> anyhow::Result<u8> {
    if !(1..=100).contains(&a.limit) {
        bail!("limit {} is outside the range of [1, 100]", a.limit);
    }
    let opts = registry_options(a.tls_verify)?;
    let mut results = skiff_registry::search::search(&opts, &a.term, a.limit)?;
    for f in &a.filter {
        let (k, v) = f.split_once('=').unwrap_or((f, ""));
        match k {
            "is-official" => results.retain(|r| r.official == (v == "true")),
            "is-automated" => results.retain(|r| r.automated == (v == "true")),
            "stars" => {
                let n: u64 = v.parse().map_err(|_| anyhow::anyhow!("invalid filter 'stars={v}'"))?;
                results.retain(|r| r.stars >= n)
            }
            _ => bail!("invalid filter '{k}'"),
        }
    }
    let mut out = std::io::stdout().lock();
    if let Some(fmt) = &a.format {
        for r in &results {
            let line = fmt
                .replace("{{.Name}}", &r.name)
                .replace("{{.Description}}", &r.description)
                .replace("{{.StarCount}}", &r.stars.to_string())
                .replace("{{.IsOfficial}}", &r.official.to_string())
                .replace("{{.IsAutomated}}", &r.automated.to_string());
            writeln!(out, "{line}")?;
        }
        return Ok(0);
    }
    let mut tw = tabwriter::TabWriter::new(Vec::new()).padding(3);
    writeln!(tw, "NAME\tDESCRIPTION\tSTARS\tOFFICIAL\tAUTOMATED")?;
    for r in &results {
        let mut d = r.description.replace('\n', " ");
        if !a.no_trunc && d.chars().count() > 45 {
            d = d.chars().take(44).collect::<String>() + "…";
        }
        let flag = |b: bool| if b { "[OK]" } else { "" };
        writeln!(tw, "{}\t{}\t{}\t{}\t{}", r.name, d, r.stars, flag(r.official), flag(r.automated))?;
    }
    tw.flush()?;
    out.write_all(&tw.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
    Ok(0)
}
