//! `skiff logs`: the json-file log, `-f --tail -t --since --until`.

use super::{open_engine, GlobalOpts};
use clap::Args;
use skiff_engine::logs::{self, LogOptions};

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// A timestamp or a Go duration relative to now (`42m`, `1h30m`, `10s`).
pub fn parse_when(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(secs) = s.parse::<f64>() {
        let t = chrono::DateTime::from_timestamp(secs as i64, ((secs.fract()) * 1e9) as u32);
        return t.ok_or_else(|| anyhow::anyhow!("invalid time value {s:?}"));
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap());
        }
        let n: f64 = num.parse().map_err(|_| anyhow::anyhow!("invalid time value {s:?}"))?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => anyhow::bail!("invalid time value {s:?}"),
        };
    }
    if !num.is_empty() {
        anyhow::bail!("invalid time value {s:?}");
    }
    Ok(chrono::Utc::now() - chrono::Duration::milliseconds((total * 1000.0) as i64))
}

pub fn run(g: &GlobalOpts, a: LogsArgs) -> anyhow::Result<u8> {
    let engine = open_engine(g)?;
    let store = engine.store();
    let c = engine.find(&a.container)?;
    let tail = match a.tail.as_str() {
        "all" | "" => None,
        n => Some(n.parse::<i64>().map(|n| if n < 0 { usize::MAX } else { n as usize }).unwrap_or(usize::MAX)),
    };
    let tail = tail.filter(|n| *n != usize::MAX);
    let o = LogOptions {
        tail,
        timestamps: a.timestamps,
        since: a.since.as_deref().map(parse_when).transpose()?,
        until: a.until.as_deref().map(parse_when).transpose()?,
    };
    let mut done = || !engine.status(&c).is_running();
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    logs::print(&c.log_path(store), &o, a.follow, &mut done, &mut out, &mut err)?;
    Ok(0)
}
