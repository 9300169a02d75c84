//! The json-file log (`containers/<id>/<id>-json.log`), Docker's format: one
//! `{"log":"...\n","stream":"stdout","time":"..."}` object per line. The
//! monitor writes it; this module reads it for `logs`.

use serde::Deserialize;
use std::io::{BufRead, Write};
use std::path::Path;

/// One log record.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct LogRecord {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Show only the last N records.
    pub tail: Option<usize>,
    /// Prefix each line with its RFC 3339 time.
    pub timestamps: bool,
    /// Only records at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Parses log text; lines that are not records are skipped (a torn last line).
pub fn parse(text: &str) -> Vec<LogRecord> {
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn keep(r: &LogRecord, o: &LogOptions) -> bool {
    let t = chrono::DateTime::parse_from_rfc3339(&r.time).map(|t| t.with_timezone(&chrono::Utc)).ok();
    match (t, o.since, o.until) {
        (Some(t), Some(s), _) if t < s => false,
        (Some(t), _, Some(u)) if t > u => false,
        _ => true,
    }
}

/// Writes one record as `logs` shows it, to `out` or `err` by its stream.
pub fn emit(r: &LogRecord, o: &LogOptions, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<()> {
    let w: &mut dyn Write = if r.stream == "stderr" { err } else { out };
    if o.timestamps {
        write!(w, "{} ", r.time)?;
    }
    w.write_all(r.log.as_bytes())
}

/// Selects the records `o` asks for.
pub fn select(records: Vec<LogRecord>, o: &LogOptions) -> Vec<LogRecord> {
    let kept: Vec<LogRecord> = records.into_iter().filter(|r| keep(r, o)).collect();
    match o.tail {
        Some(n) if n < kept.len() => kept[kept.len() - n..].to_vec(),
        _ => kept,
    }
}

/// Prints the log; with `follow`, keeps printing new records until `done()` says the container stopped.
pub fn print(
    path: &Path,
    o: &LogOptions,
    follow: bool,
    done: &mut dyn FnMut() -> bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::OpenOptions::new().create(true).append(true).open(path)?;
            std::fs::File::open(path)?
        }
        Err(e) => return Err(e),
    };
    let mut reader = std::io::BufReader::new(f);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut reader, &mut text)?;
    // Keep a torn last line for the follow loop.
    let (whole, mut partial) = match text.rfind('\n') {
        Some(i) => (text[..=i].to_string(), text[i + 1..].to_string()),
        None => (String::new(), text.clone()),
    };
    for r in select(parse(&whole), o) {
        emit(&r, o, out, err)?;
    }
    out.flush()?;
    if !follow {
        return Ok(());
    }
    let o = LogOptions { tail: None, ..o.clone() };
    loop {
        let finished = done();
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line)?;
            if n == 0 {
                break;
            }
            partial.push_str(&line);
            if partial.ends_with('\n') {
                if let Ok(r) = serde_json::from_str::<LogRecord>(partial.trim_end()) {
                    if keep(&r, &o) {
                        emit(&r, &o, out, err)?;
                    }
                }
                partial.clear();
            }
        }
        out.flush()?;
        err.flush()?;
        if finished {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = concat!(
        "{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:01.5Z\"}\n",
        "{\"log\":\"oops\\n\",\"stream\":\"stderr\",\"time\":\"2026-01-01T00:00:02Z\"}\n",
        "{\"log\":\"three\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:03Z\"}\n",
        "{\"log\":\"tor"
    );

    #[test]
    fn reads_docker_json_file_logs() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x-json.log");
        std::fs::write(&p, LOG).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        print(&p, &LogOptions::default(), false, &mut || true, &mut out, &mut err).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "one\nthree\n");
        assert_eq!(String::from_utf8(err).unwrap(), "oops\n");
        let o = LogOptions { tail: Some(1), timestamps: true, ..Default::default() };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        print(&p, &o, false, &mut || true, &mut out, &mut err).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "2026-01-01T00:00:03Z three\n");
        let since = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:02Z").unwrap().with_timezone(&chrono::Utc);
        let kept = select(parse(LOG), &LogOptions { since: Some(since), ..Default::default() });
        assert_eq!(kept.len(), 2);
    }
}
