//! `search`: the v1 search API where the registry has one (Docker Hub, some
//! mirrors), else the v2 catalog filtered by the term (plain distribution
//! registries). A term `host/x` (host with `.` or `:`, or `localhost`)
//! searches that registry; otherwise Docker Hub.

use crate::client::{Client, ClientError, ClientOptions};

/// One search result, as `docker search` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResult {
    pub name: String,
    pub description: String,
    pub stars: u64,
    pub official: bool,
    pub automated: bool,
}

/// Splits a term into (registry host, term): `localhost:5000/bu` → (`localhost:5000`, `bu`).
pub fn split_term(term: &str) -> (String, String) {
    if let Some((first, rest)) = term.split_once('/') {
        if first.contains('.') || first.contains(':') || first == "localhost" {
            return (first.to_string(), rest.to_string());
        }
    }
    ("docker.io".to_string(), term.to_string())
}

/// Searches for `term`, at most `limit` results.
pub fn search(opts: &ClientOptions, term: &str, limit: usize) -> Result<Vec<SearchResult>, ClientError> {
    let (host, q) = split_term(term);
    let client = if host == "docker.io" {
        let base_opts = opts.clone();
        Client::connect(&base_opts, "index.docker.io").or_else(|_| Client::connect(opts, &host))?
    } else {
        Client::connect(opts, &host)?
    };
    if let Some(v) = client.v1_search(&q, limit)? {
        let mut out = Vec::new();
        for r in v.get("results").and_then(|r| r.as_array()).into_iter().flatten() {
            let s = |k: &str| r.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
            let mut name = s("name");
            if host != "docker.io" {
                name = format!("{host}/{name}");
            } else if let Some(n) = name.strip_prefix("library/") {
                name = n.to_string();
            }
            out.push(SearchResult {
                name,
                description: s("description"),
                stars: r.get("star_count").and_then(|x| x.as_u64()).unwrap_or(0),
                official: r.get("is_official").and_then(|x| x.as_bool()).unwrap_or(false),
                automated: r.get("is_automated").and_then(|x| x.as_bool()).unwrap_or(false),
            });
        }
        out.truncate(limit);
        return Ok(out);
    }
    let repos = client.catalog(10_000)?;
    Ok(repos
        .into_iter()
        .filter(|r| r.contains(&q))
        .take(limit)
        .map(|r| SearchResult {
            name: if host == "docker.io" { r } else { format!("{host}/{r}") },
            description: String::new(),
            stars: 0,
            official: false,
            automated: false,
        })
        .collect())
}
