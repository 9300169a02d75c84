//! runc's log lines: logrus's text or JSON format, to `--log` or stderr. An error also goes to
//! stderr as its bare message when `--log` names a file, as runc does.

use std::io::Write;

use crate::GlobalOpts;

/// Writes an error as runc does: a logrus line to `--log` (and the bare message to stderr), else
/// the line to stderr.
pub fn error(g: &GlobalOpts, msg: &str) {
    line(g, "error", msg)
}

/// A logrus line of `level` to `--log`, else to stderr; an error's bare message also goes to
/// stderr with `--log`.
pub fn line(g: &GlobalOpts, level: &str, msg: &str) {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let quoted = serde_json::to_string(msg).unwrap_or_default();
    let line = if g.log_format == "json" {
        format!("{{\"level\":\"{level}\",\"msg\":{quoted},\"time\":\"{time}\"}}\n")
    } else {
        format!("time=\"{time}\" level={level} msg={quoted}\n")
    };
    match &g.log {
        Some(p) => {
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(p) {
                let _ = f.write_all(line.as_bytes());
            }
            if level == "error" {
                eprintln!("{msg}");
            }
        }
        None => eprint!("{line}"),
    }
}
