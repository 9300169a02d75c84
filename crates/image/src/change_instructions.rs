//! `--change` instructions for `import` and `commit`: the Dockerfile
//! instructions that only touch the run configuration.
//!
//! Docker accepts exactly CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL,
//! ONBUILD, STOPSIGNAL, USER, VOLUME and WORKDIR here (`validCommitCommands`)
//! and rejects any other instruction by name.

use crate::config::ContainerConfig;
use serde_json::Value;

/// Why a change line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChangeError {
    #[error("{0} is not a valid change command")]
    NotAllowed(String),
    #[error("invalid change {line:?}: {reason}")]
    Syntax { line: String, reason: String },
}

const ALLOWED: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Applies each change line, in order, to `cfg`.
pub fn apply_changes(cfg: &mut ContainerConfig, lines: &[String]) -> Result<(), ChangeError> {
    for line in lines {
        apply_one(cfg, line)?;
    }
    Ok(())
}

fn syntax(line: &str, reason: &str) -> ChangeError {
    ChangeError::Syntax { line: line.to_string(), reason: reason.to_string() }
}

/// A JSON array of strings, if `rest` is one.
fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.trim_start().starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest.trim()).ok()
}

/// The exec form if JSON, otherwise the shell form `/bin/sh -c "..."`.
fn command(rest: &str) -> Vec<String> {
    json_array(rest).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.trim().to_string()])
}

/// Splits `k=v k2="v 2"` words, honouring double and single quotes and backslashes.
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `K=V ...` pairs, or the legacy `K V` form (one pair, value is the rest).
fn pairs(line: &str, rest: &str) -> Result<Vec<(String, String)>, ChangeError> {
    let rest = rest.trim();
    let first = rest.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).ok_or_else(|| syntax(line, "needs a name and a value"))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let ws = words(rest).map_err(|r| syntax(line, &r))?;
    ws.into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(syntax(line, &format!("{w:?} is not NAME=VALUE"))),
        })
        .collect()
}

fn apply_one(cfg: &mut ContainerConfig, line: &str) -> Result<(), ChangeError> {
    let trimmed = line.trim();
    let (instr, rest) = trimmed.split_once(char::is_whitespace).unwrap_or((trimmed, ""));
    let upper = instr.to_ascii_uppercase();
    if !ALLOWED.contains(&upper.as_str()) {
        return Err(ChangeError::NotAllowed(instr.to_lowercase()));
    }
    let rest = rest.trim();
    if rest.is_empty() && upper != "CMD" && upper != "ENTRYPOINT" {
        return Err(syntax(line, &format!("{upper} requires at least one argument")));
    }
    match upper.as_str() {
        "CMD" => cfg.cmd = Some(command(rest)),
        "ENTRYPOINT" => {
            cfg.entrypoint = Some(command(rest));
            cfg.cmd = None;
        }
        "ENV" => {
            let env = cfg.env.get_or_insert_with(Vec::new);
            for (k, v) in pairs(line, rest)? {
                let prefix = format!("{k}=");
                match env.iter_mut().find(|e| e.starts_with(&prefix)) {
                    Some(e) => *e = format!("{k}={v}"),
                    None => env.push(format!("{k}={v}")),
                }
            }
        }
        "LABEL" => {
            let labels = cfg.labels.get_or_insert_with(Default::default);
            for (k, v) in pairs(line, rest)? {
                labels.insert(k, v);
            }
        }
        "EXPOSE" => {
            let ports = cfg.exposed_ports.get_or_insert_with(Default::default);
            for p in rest.split_whitespace() {
                let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                let ok_num = num.split('-').all(|n| n.parse::<u16>().is_ok());
                if !ok_num || !["tcp", "udp", "sctp"].contains(&proto.to_ascii_lowercase().as_str()) {
                    return Err(syntax(line, &format!("invalid port {p:?}")));
                }
                ports.insert(format!("{num}/{}", proto.to_ascii_lowercase()), Value::Object(Default::default()));
            }
        }
        "VOLUME" => {
            let vols = json_array(rest).unwrap_or_else(|| rest.split_whitespace().map(String::from).collect());
            let map = cfg.volumes.get_or_insert_with(Default::default);
            for v in vols {
                if v.is_empty() {
                    return Err(syntax(line, "VOLUME specified can not be an empty string"));
                }
                map.insert(v, Value::Object(Default::default()));
            }
        }
        "WORKDIR" => {
            let w = rest.to_string();
            cfg.working_dir = if w.starts_with('/') || cfg.working_dir.is_empty() {
                if w.starts_with('/') {
                    w
                } else {
                    format!("/{w}")
                }
            } else {
                format!("{}/{}", cfg.working_dir.trim_end_matches('/'), w)
            };
        }
        "USER" => cfg.user = rest.to_string(),
        "STOPSIGNAL" => cfg.stop_signal = rest.to_string(),
        "ONBUILD" => {
            let inner = rest.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            if ["ONBUILD", "FROM", "MAINTAINER"].contains(&inner.as_str()) {
                return Err(syntax(line, &format!("{inner} isn't allowed as an ONBUILD trigger")));
            }
            cfg.on_build.get_or_insert_with(Vec::new).push(rest.to_string());
        }
        "HEALTHCHECK" => cfg.healthcheck = Some(healthcheck(line, rest)?),
        _ => unreachable!("checked against ALLOWED"),
    }
    Ok(())
}

/// A HEALTHCHECK duration: Go's syntax, or a bare number of seconds.
fn duration_ns(line: &str, s: &str) -> Result<i64, ChangeError> {
    let bare = s.parse::<f64>().ok().map(|n| (n * 1e9) as i64);
    bare.or_else(|| parse_duration(s)).ok_or_else(|| syntax(line, &format!("invalid duration {s:?}")))
}

/// Parses a Go duration (`30s`, `1m30s`, `500ms`) to nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(total as i64)
}

fn healthcheck(line: &str, rest: &str) -> Result<Value, ChangeError> {
    let mut obj = serde_json::Map::new();
    let mut rest = rest.trim();
    while let Some(opt) = rest.strip_prefix("--") {
        let (flag, after) = opt.split_once(char::is_whitespace).unwrap_or((opt, ""));
        let (name, value) =
            flag.split_once('=').ok_or_else(|| syntax(line, &format!("option --{flag} needs a value")))?;
        let key = match name {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => "Retries",
            _ => return Err(syntax(line, &format!("unknown flag: --{name}"))),
        };
        let v = if key == "Retries" {
            value.parse::<i64>().map_err(|_| syntax(line, &format!("invalid retries {value:?}")))?
        } else {
            duration_ns(line, value)?
        };
        obj.insert(key.to_string(), Value::from(v));
        rest = after.trim();
    }
    let (kind, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let test: Vec<String> = match kind.to_ascii_uppercase().as_str() {
        "NONE" => vec!["NONE".into()],
        "CMD" => match json_array(args) {
            Some(a) => std::iter::once("CMD".to_string()).chain(a).collect(),
            None => vec!["CMD-SHELL".into(), args.trim().to_string()],
        },
        _ => return Err(syntax(line, "HEALTHCHECK needs CMD or NONE")),
    };
    let mut out = serde_json::Map::new();
    out.insert("Test".into(), Value::from(test));
    out.extend(obj);
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
    }

    fn apply(lines: &[&str]) -> Result<ContainerConfig, ChangeError> {
        let mut c = ContainerConfig::default();
        apply_changes(&mut c, &lines.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        Ok(c)
    }

    #[test]
    fn docker_change_forms() {
        let c = apply(&[
            r#"CMD ["/bin/sh"]"#,
            "ENV A=1 B=\"two words\"",
            "ENV C 3 4",
            "EXPOSE 80 53/udp",
            "LABEL a=b",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER 1000:1000",
            "VOLUME /data",
            "STOPSIGNAL SIGTERM",
        ])
        .unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh"]);
        assert_eq!(c.env.unwrap(), vec!["A=1", "B=two words", "C=3 4"]);
        assert_eq!(c.exposed_ports.unwrap().keys().cloned().collect::<Vec<_>>(), vec!["53/udp", "80/tcp"]);
        assert_eq!(c.working_dir, "/srv/app");
        assert_eq!(c.user, "1000:1000");
        assert!(c.volumes.unwrap().contains_key("/data"));
        let c = apply(&["CMD echo hi"]).unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
    }

    #[test]
    fn rejects_instructions_docker_rejects() {
        assert_eq!(apply(&["RUN echo"]).unwrap_err().to_string(), "run is not a valid change command");
        assert_eq!(apply(&["FROM x"]).unwrap_err(), ChangeError::NotAllowed("from".into()));
        assert!(apply(&["EXPOSE abc"]).is_err());
        assert!(apply(&["ENV"]).is_err());
    }

    #[test]
    fn healthcheck_forms() {
        let c = apply(&["HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/"]).unwrap();
        let h = c.healthcheck.unwrap();
        assert_eq!(h["Test"][0], "CMD-SHELL");
        assert_eq!(h["Interval"], 5_000_000_000i64);
        assert_eq!(h["Retries"], 3);
    }
}
