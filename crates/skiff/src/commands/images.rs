//! `skiff images` / `image ls`: REPOSITORY TAG IMAGE ID CREATED SIZE.

use super::{open_store, GlobalOpts};
use crate::output::{table, units};
use anyhow::bail;
use clap::Args;
use serde_json::{json, Value};
use skiff_image::store::ImageRecord;
use skiff_image::Reference;
use std::collections::HashSet;

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided (dangling=true|false, reference=PATTERN, before=IMAGE, since=IMAGE, label=KEY[=VALUE])
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Pretty-print images using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Only list images of this repository[:tag]
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,
}

/// Docker's glob match (`path.Match`): `*`, `?`, `[...]`, no separator crossing for `*`.
pub fn glob_match(pattern: &str, s: &str) -> bool {
    fn inner(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).take_while(|&i| i == 0 || s[i - 1] != '/').any(|i| inner(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && s[0] != '/' && inner(&p[1..], &s[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&c| c == ']') else { return false };
                if s.is_empty() {
                    return false;
                }
                let class = &p[1..end];
                let (neg, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= s[0] && s[0] <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == s[0];
                        i += 1;
                    }
                }
                hit != neg && inner(&p[end + 1..], &s[1..])
            }
            Some(c) => !s.is_empty() && *c == s[0] && inner(&p[1..], &s[1..]),
        }
    }
    inner(&pattern.chars().collect::<Vec<_>>(), &s.chars().collect::<Vec<_>>())
}

struct Filters {
    dangling: Option<bool>,
    references: Vec<String>,
    before: Option<String>,
    since: Option<String>,
    labels: Vec<(String, Option<String>)>,
}

fn parse_filters(raw: &[String]) -> anyhow::Result<Filters> {
    let mut f = Filters { dangling: None, references: vec![], before: None, since: None, labels: vec![] };
    for r in raw {
        let Some((k, v)) = r.split_once('=') else { bail!("bad format of filter (expected name=value): {r}") };
        match k {
            "dangling" => {
                f.dangling = Some(match v.to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("invalid filter 'dangling={v}'"),
                })
            }
            "reference" => f.references.push(v.to_string()),
            "before" => f.before = Some(v.to_string()),
            "since" => f.since = Some(v.to_string()),
            "label" => f.labels.push(match v.split_once('=') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (v.to_string(), None),
            }),
            _ => bail!("invalid filter '{k}'"),
        }
    }
    Ok(f)
}

fn reference_matches(pattern: &str, r: &Reference) -> bool {
    let name = r.familiar_name();
    let full = r.familiar();
    glob_match(pattern, &name) || glob_match(pattern, &full)
}

pub fn run(g: &GlobalOpts, a: ImagesArgs) -> anyhow::Result<u8> {
    let mut filters = parse_filters(&a.filters)?;
    if let Some(r) = &a.repository {
        filters.references.push(r.clone());
    }
    let store = open_store(g)?;
    let images = store.images()?;
    let parents: std::collections::BTreeSet<String> =
        images.iter().filter_map(|i| i.parent.as_ref().map(|p| p.to_string())).collect();
    let created_of = |name: &str| -> anyhow::Result<Option<String>> { Ok(store.resolve(name)?.created) };
    let before = filters.before.as_deref().map(created_of).transpose()?.flatten();
    let since = filters.since.as_deref().map(created_of).transpose()?.flatten();
    let now = chrono::Utc::now();
    // The default table is printed without the template engine (same cells, same tab writer).
    let default_table = matches!(a.format.as_deref(), None | Some("") | Some("table"));
    let mut rows: Vec<Row> = Vec::new();
    for img in &images {
        let untagged = img.tags.is_empty();
        let has_children = parents.contains(&img.id.to_string());
        // Intermediate images (untagged parents) only with -a.
        if untagged && has_children && !a.all {
            continue;
        }
        if let Some(want) = filters.dangling {
            if want != (untagged && !has_children) {
                continue;
            }
        }
        if let Some(b) = &before {
            if img.created.as_deref().unwrap_or("") >= b.as_str() {
                continue;
            }
        }
        if let Some(s) = &since {
            if img.created.as_deref().unwrap_or("") <= s.as_str() {
                continue;
            }
        }
        if !filters.labels.is_empty() {
            let cfg = store.config(&img.id)?;
            let labels = cfg.config.and_then(|c| c.labels).unwrap_or_default();
            let ok = filters.labels.iter().all(|(k, v)| match v {
                Some(v) => labels.get(k) == Some(v),
                None => labels.contains_key(k),
            });
            if !ok {
                continue;
            }
        }
        for (repo, tag, digest) in image_rows(img, &filters.references) {
            rows.push(row(img, repo, tag, digest, a.no_trunc, now, !default_table));
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if a.quiet {
        let mut seen = HashSet::new();
        for r in &rows {
            if seen.insert(r.id.as_str()) {
                use std::io::Write;
                writeln!(out, "{}", r.id)?;
            }
        }
        return Ok(0);
    }
    if default_table {
        use std::io::Write;
        let mut text = String::from(if a.digests {
            "REPOSITORY\tTAG\tDIGEST\tIMAGE ID\tCREATED\tSIZE\n"
        } else {
            "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n"
        });
        for r in &rows {
            let mut cells = vec![&r.repo, &r.tag];
            if a.digests {
                cells.push(&r.digest);
            }
            cells.extend([&r.id, &r.since, &r.size]);
            for (i, c) in cells.iter().enumerate() {
                text.push_str(c);
                text.push(if i + 1 == cells.len() { '\n' } else { '\t' });
            }
        }
        let mut tw = table::tabwriter_for(&mut out);
        tw.write_all(text.as_bytes())?;
        tw.flush()?;
        drop(tw);
        out.flush()?;
        return Ok(0);
    }
    let rows: Vec<Value> = rows.iter().map(Row::value).collect();
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    table::render_strict(&mut out, a.format.as_deref(), default, HEADERS, &rows, "*formatter.imageContext")?;
    std::io::Write::flush(&mut out)?;
    Ok(0)
}

pub const HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("Containers", "CONTAINERS"),
];

/// (repository, tag, digest) rows for one image, as Docker lists them.
fn image_rows(img: &ImageRecord, patterns: &[String]) -> Vec<(String, String, String)> {
    let keep = |r: &Reference| patterns.is_empty() || patterns.iter().any(|p| reference_matches(p, r));
    let mut rows = Vec::new();
    let digest_for = |repo: &str| {
        img.digests
            .iter()
            .find(|d| d.familiar_name() == repo)
            .and_then(|d| d.digest().map(|x| x.to_string()))
            .unwrap_or_else(|| "<none>".into())
    };
    for t in img.tags.iter().filter(|t| keep(t)) {
        let repo = t.familiar_name();
        rows.push((repo.clone(), t.tag().unwrap_or("<none>").to_string(), digest_for(&repo)));
    }
    let tagged_repos: Vec<String> = img.tags.iter().map(|t| t.familiar_name()).collect();
    for d in img.digests.iter().filter(|d| keep(d)) {
        if !tagged_repos.contains(&d.familiar_name()) {
            rows.push((d.familiar_name(), "<none>".into(), d.digest().map(|x| x.to_string()).unwrap_or_default()));
        }
    }
    if img.tags.is_empty() && img.digests.is_empty() && patterns.is_empty() {
        rows.push(("<none>".into(), "<none>".into(), "<none>".into()));
    }
    rows
}

/// One line of `images`: the cells of Docker's image context.
struct Row {
    repo: String,
    tag: String,
    digest: String,
    id: String,
    since: String,
    at: String,
    size: String,
    virtual_size: String,
}

impl Row {
    fn value(&self) -> Value {
        json!({
            "Containers": "N/A",
            "CreatedAt": self.at,
            "CreatedSince": self.since,
            "Digest": self.digest,
            "ID": self.id,
            "Repository": self.repo,
            "SharedSize": "N/A",
            "Size": self.size,
            "Tag": self.tag,
            "UniqueSize": "N/A",
            "VirtualSize": self.virtual_size,
        })
    }
}

fn row(
    img: &ImageRecord,
    repo: String,
    tag: String,
    digest: String,
    no_trunc: bool,
    now: chrono::DateTime<chrono::Utc>,
    all_fields: bool,
) -> Row {
    let id = if no_trunc { img.id.to_string() } else { img.id.short().to_string() };
    let created = img.created.as_deref().and_then(skiff_image::config::parse_time);
    let since = created.map(|t| units::ago(t, now)).unwrap_or_else(|| "N/A".into());
    // The default table shows no CreatedAt: only a --format can ask for it.
    let at = if all_fields { created.map(units::created_at_string).unwrap_or_default() } else { String::new() };
    // Docker prints Size to three significant digits and VirtualSize to four.
    let virtual_size = units::human_size_with_precision(img.size as f64, 4);
    Row { repo, tag, digest, id, since, at, size: units::human_size(img.size), virtual_size }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn glob_like_go_path_match() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(!glob_match("busy*", "library/busybox"));
        assert!(glob_match("b?sybox", "busybox"));
        assert!(glob_match("[a-c]usybox", "busybox"));
        assert!(!glob_match("redis", "busybox"));
    }
}
