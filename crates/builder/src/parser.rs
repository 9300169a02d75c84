//! The Dockerfile parser (pure): parser directives, comments, line
//! continuations, heredocs, flags, JSON and shell forms, and the typed
//! instructions. Variable expansion is not done here: Docker expands at
//! dispatch time, with the variables of that moment (see [`crate::shell`]).

use crate::shell::split_raw_words;

/// A parse error, naming the Dockerfile line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// A heredoc attached to RUN, COPY or ADD (`<<EOF` ... `EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// False when the delimiter was quoted (`<<"EOF"`): no expansion.
    pub expand: bool,
    /// `<<-EOF`: leading tabs were stripped.
    pub chomp: bool,
}

/// The command of RUN, CMD and ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdLine {
    /// JSON form: argv as given.
    Exec(Vec<String>),
    /// Shell form: run with the stage's SHELL.
    Shell(String),
}

/// COPY and ADD arguments (unexpanded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    pub srcs: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub heredocs: Vec<Heredoc>,
}

/// HEALTHCHECK arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", cmd]`.
    pub test: Vec<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub retries: Option<String>,
}

/// One typed instruction (arguments unexpanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From { image: String, platform: Option<String>, alias: Option<String> },
    Run { cmd: CmdLine, network: Option<String>, heredocs: Vec<Heredoc> },
    Cmd(CmdLine),
    Entrypoint(CmdLine),
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Copy(CopyArgs),
    Add(CopyArgs),
    Shell(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    Onbuild(String),
    Maintainer(String),
}

impl Instruction {
    /// The keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::From { .. } => "FROM",
            Instruction::Run { .. } => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Env(_) => "ENV",
            Instruction::Label(_) => "LABEL",
            Instruction::Arg(_) => "ARG",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Shell(_) => "SHELL",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// First line (1-based).
    pub line: usize,
    /// The instruction as written, continuation lines joined (what `Step N/M :` shows).
    pub original: String,
    pub instruction: Instruction,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives found at the top (`syntax`, `escape`, `check`), lower-case keys.
    pub directives: Vec<(String, String)>,
    pub escape: char,
    pub steps: Vec<Step>,
}

/// Parses a Dockerfile. `file` names it in errors (`Dockerfile:3: ...`).
pub fn parse(text: &str, file: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let err = |line: usize, message: String| ParseError { file: file.to_string(), line, message };

    // Parser directives: `# key=value` lines at the very top.
    let mut directives: Vec<(String, String)> = Vec::new();
    let mut escape = '\\';
    let mut i = 0;
    while i < lines.len() {
        let Some((k, v)) = directive(lines[i]) else { break };
        if !matches!(k.as_str(), "syntax" | "escape" | "check") {
            break; // an unknown directive is a comment, and ends the directives
        }
        if directives.iter().any(|(d, _)| d == &k) {
            return Err(err(i + 1, format!("only one {k} parser directive can be used")));
        }
        if k == "escape" {
            escape = match v.as_str() {
                "\\" => '\\',
                "`" => '`',
                _ => return Err(err(i + 1, format!("invalid escape token '{v}' does not match ` or \\"))),
            };
        }
        directives.push((k, v));
        i += 1;
    }

    let mut steps = Vec::new();
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        // Join continuation lines; comment and empty lines inside are skipped.
        let mut logical = String::new();
        let mut cur = trimmed.to_string();
        loop {
            let t = cur.trim_end();
            if let Some(stripped) = t.strip_suffix(escape) {
                logical.push_str(stripped);
                i += 1;
                loop {
                    if i >= lines.len() {
                        cur = String::new();
                        break;
                    }
                    let n = lines[i].trim_start();
                    if n.is_empty() || n.starts_with('#') {
                        i += 1;
                        continue;
                    }
                    cur = lines[i].to_string();
                    break;
                }
                if i >= lines.len() {
                    break;
                }
            } else {
                logical.push_str(&cur);
                i += 1;
                break;
            }
        }
        let logical = logical.trim().to_string();
        let (word, rest) = match logical.find(char::is_whitespace) {
            Some(p) => (&logical[..p], logical[p..].trim_start()),
            None => (logical.as_str(), ""),
        };
        let keyword = word.to_ascii_uppercase();
        // Heredocs take the lines that follow.
        let mut heredocs = Vec::new();
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (name, expand, chomp) in heredoc_markers(rest) {
                let mut content = String::new();
                loop {
                    if i >= lines.len() {
                        return Err(err(start + 1, format!("unterminated heredoc {name}")));
                    }
                    let l = if chomp { lines[i].trim_start_matches('\t') } else { lines[i] };
                    i += 1;
                    if l == name {
                        break;
                    }
                    content.push_str(l);
                    content.push('\n');
                }
                heredocs.push(Heredoc { name, content, expand, chomp });
            }
        }
        let instruction = typed(&keyword, word, rest, escape, heredocs).map_err(|m| err(start + 1, m))?;
        steps.push(Step { line: start + 1, original: logical.clone(), instruction });
    }
    Ok(Dockerfile { directives, escape, steps })
}

/// Parses one instruction line on its own (ONBUILD triggers, `--change`).
pub fn parse_line(text: &str, escape: char) -> Result<Instruction, String> {
    let t = text.trim();
    let (word, rest) = match t.find(char::is_whitespace) {
        Some(p) => (&t[..p], t[p..].trim_start()),
        None => (t, ""),
    };
    typed(&word.to_ascii_uppercase(), word, rest, escape, Vec::new())
}

fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (k, v) = rest.split_once('=')?;
    let k = k.trim();
    if k.is_empty()
        || !k.chars().all(|c| c.is_ascii_alphanumeric())
        || !k.starts_with(|c: char| c.is_ascii_alphabetic())
    {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

/// Heredoc markers in an instruction's arguments: (name, expand, chomp).
fn heredoc_markers(args: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let b = args.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i + 1 < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'\'' || c == b'"' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c == b'<' && b[i + 1] == b'<' && (i + 2 >= b.len() || b[i + 2] != b'<') {
            let mut j = i + 2;
            let chomp = b.get(j) == Some(&b'-');
            if chomp {
                j += 1;
            }
            let q = match b.get(j) {
                Some(&c @ (b'\'' | b'"')) => {
                    j += 1;
                    Some(c)
                }
                _ => None,
            };
            let s = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'-' || b[j] == b'.') {
                j += 1;
            }
            if j > s && (q.is_none() || b.get(j) == q.as_ref()) {
                out.push((args[s..j].to_string(), q.is_none(), chomp));
                i = j + usize::from(q.is_some());
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Leading `--name[=value]` flags.
fn take_flags(rest: &str) -> (Vec<(String, Option<String>)>, &str) {
    let mut flags = Vec::new();
    let mut r = rest.trim_start();
    while let Some(f) = r.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let word = &f[..end];
        if word.is_empty() {
            break; // a bare `--` is an argument
        }
        match word.split_once('=') {
            Some((k, v)) => flags.push((k.to_string(), Some(v.to_string()))),
            None => flags.push((word.to_string(), None)),
        }
        r = f[end..].trim_start();
    }
    (flags, r)
}

fn check_flags(kw: &str, flags: &[(String, Option<String>)], allowed: &[&str]) -> Result<(), String> {
    for (k, _) in flags {
        if !allowed.contains(&k.as_str()) {
            return Err(format!("{kw}: unknown flag: {k}"));
        }
    }
    Ok(())
}

fn flag(flags: &[(String, Option<String>)], name: &str) -> Option<String> {
    flags.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone().unwrap_or_default())
}

fn bool_flag(kw: &str, flags: &[(String, Option<String>)], name: &str) -> Result<bool, String> {
    match flags.iter().rev().find(|(k, _)| k == name) {
        None => Ok(false),
        Some((_, None)) => Ok(true),
        Some((_, Some(v))) => match v.as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("{kw}: expecting boolean value for flag {name}, not: {v}")),
        },
    }
}

/// A JSON array of strings, if `rest` is one.
fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest).ok()
}

fn cmdline(rest: &str) -> CmdLine {
    match json_array(rest) {
        Some(v) => CmdLine::Exec(v),
        None => CmdLine::Shell(rest.to_string()),
    }
}

/// `key=value` pairs (or the legacy `key value` form).
fn name_vals(kw: &str, rest: &str, escape: char, legacy: bool) -> Result<Vec<(String, String)>, String> {
    let words = split_raw_words(rest, escape);
    if words.is_empty() {
        return Err(format!("{kw} requires at least one argument"));
    }
    if !words[0].contains('=') {
        if !legacy {
            return Err(format!("{kw} names can not be blank"));
        }
        // Legacy `ENV key value with spaces`.
        let key = words[0].clone();
        let value = rest[rest.find(&key).map(|p| p + key.len()).unwrap_or(0)..].trim().to_string();
        if value.is_empty() {
            return Err(format!("{kw} must have two arguments"));
        }
        return Ok(vec![(key, value)]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value"));
        };
        if k.is_empty() {
            return Err(format!("{kw} names can not be blank"));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

fn typed(kw: &str, word: &str, rest: &str, escape: char, heredocs: Vec<Heredoc>) -> Result<Instruction, String> {
    let (flags, args) = take_flags(rest);
    let need_args = |what: &str| -> Result<(), String> {
        if args.trim().is_empty() {
            Err(format!("{what} requires at least one argument"))
        } else {
            Ok(())
        }
    };
    Ok(match kw {
        "FROM" => {
            check_flags(kw, &flags, &["platform"])?;
            let w: Vec<&str> = args.split_whitespace().collect();
            match w.as_slice() {
                [image] => {
                    Instruction::From { image: image.to_string(), platform: flag(&flags, "platform"), alias: None }
                }
                [image, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => Instruction::From {
                    image: image.to_string(),
                    platform: flag(&flags, "platform"),
                    alias: Some(name.to_ascii_lowercase()),
                },
                [] => return Err("FROM requires either one or three arguments".into()),
                _ => return Err("FROM requires either one or three arguments".into()),
            }
        }
        "RUN" => {
            check_flags(kw, &flags, &["network"])?;
            if args.trim().is_empty() && heredocs.is_empty() {
                return Err("RUN requires at least one argument".into());
            }
            Instruction::Run { cmd: cmdline(args), network: flag(&flags, "network"), heredocs }
        }
        "CMD" | "ENTRYPOINT" => {
            check_flags(kw, &flags, &[])?;
            let c = cmdline(rest.trim());
            if kw == "CMD" {
                Instruction::Cmd(c)
            } else {
                Instruction::Entrypoint(c)
            }
        }
        "ENV" => {
            check_flags(kw, &flags, &[])?;
            Instruction::Env(name_vals(kw, args, escape, true)?)
        }
        "LABEL" => {
            check_flags(kw, &flags, &[])?;
            Instruction::Label(name_vals(kw, args, escape, true)?)
        }
        "ARG" => {
            check_flags(kw, &flags, &[])?;
            need_args(kw)?;
            let mut out = Vec::new();
            for w in split_raw_words(args, escape) {
                match w.split_once('=') {
                    Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
                    None => out.push((w, None)),
                }
            }
            Instruction::Arg(out)
        }
        "WORKDIR" => {
            check_flags(kw, &flags, &[])?;
            need_args(kw)?;
            Instruction::Workdir(args.trim().to_string())
        }
        "USER" => {
            check_flags(kw, &flags, &[])?;
            need_args(kw)?;
            Instruction::User(args.trim().to_string())
        }
        "EXPOSE" => {
            check_flags(kw, &flags, &[])?;
            need_args(kw)?;
            Instruction::Expose(args.split_whitespace().map(String::from).collect())
        }
        "VOLUME" => {
            check_flags(kw, &flags, &[])?;
            need_args(kw)?;
            let v = json_array(args).unwrap_or_else(|| args.split_whitespace().map(String::from).collect());
            if v.iter().any(|s| s.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Instruction::Volume(v)
        }
        "COPY" | "ADD" => {
            let allowed: &[&str] =
                if kw == "COPY" { &["from", "chown", "chmod", "link"] } else { &["chown", "chmod", "link"] };
            check_flags(kw, &flags, allowed)?;
            let mut parts = json_array(args).unwrap_or_else(|| args.split_whitespace().map(String::from).collect());
            if parts.len() < 2 {
                return Err(format!("{kw} requires at least two arguments, but only one was provided. Destination could not be determined"));
            }
            let dest = parts.pop().unwrap_or_default();
            let c = CopyArgs {
                srcs: parts,
                dest,
                from: flag(&flags, "from"),
                chown: flag(&flags, "chown"),
                chmod: flag(&flags, "chmod"),
                link: bool_flag(kw, &flags, "link")?,
                heredocs,
            };
            if kw == "COPY" {
                Instruction::Copy(c)
            } else {
                Instruction::Add(c)
            }
        }
        "SHELL" => {
            check_flags(kw, &flags, &[])?;
            match json_array(args) {
                Some(v) if !v.is_empty() => Instruction::Shell(v),
                _ => return Err("SHELL requires the arguments to be in JSON form".into()),
            }
        }
        "STOPSIGNAL" => {
            check_flags(kw, &flags, &[])?;
            need_args(kw)?;
            Instruction::StopSignal(args.trim().to_string())
        }
        "HEALTHCHECK" => {
            check_flags(kw, &flags, &["interval", "timeout", "start-period", "start-interval", "retries"])?;
            let (typ, cmd) = match args.find(char::is_whitespace) {
                Some(p) => (args[..p].to_ascii_uppercase(), args[p..].trim()),
                None => (args.to_ascii_uppercase(), ""),
            };
            let test = match typ.as_str() {
                "NONE" => {
                    if !cmd.is_empty() {
                        return Err("HEALTHCHECK NONE takes no arguments".into());
                    }
                    if !flags.is_empty() {
                        return Err("HEALTHCHECK NONE takes no options".into());
                    }
                    vec!["NONE".to_string()]
                }
                "CMD" => {
                    if cmd.is_empty() {
                        return Err("Missing command after HEALTHCHECK CMD".into());
                    }
                    match json_array(cmd) {
                        Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                        None => vec!["CMD-SHELL".to_string(), cmd.to_string()],
                    }
                }
                other => return Err(format!("Unknown type {other:?} in HEALTHCHECK (try CMD)")),
            };
            Instruction::Healthcheck(Healthcheck {
                test,
                interval: flag(&flags, "interval"),
                timeout: flag(&flags, "timeout"),
                start_period: flag(&flags, "start-period"),
                retries: flag(&flags, "retries"),
            })
        }
        "ONBUILD" => {
            need_args(kw)?;
            let expr = rest.trim();
            let inner = expr.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            match inner.as_str() {
                "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
                "FROM" | "MAINTAINER" => return Err(format!("{inner} isn't allowed as an ONBUILD trigger")),
                _ => {}
            }
            parse_line(expr, escape)?;
            Instruction::Onbuild(expr.to_string())
        }
        "MAINTAINER" => {
            need_args(kw)?;
            Instruction::Maintainer(rest.trim().to_string())
        }
        _ => return Err(format!("unknown instruction: {}", word.to_ascii_uppercase())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Instruction {
        let d = parse(src, "Dockerfile").unwrap();
        assert_eq!(d.steps.len(), 1, "{src}");
        d.steps[0].instruction.clone()
    }

    #[test]
    fn unknown_instruction_names_the_line() {
        let e = parse("FROM scratch\n\nfoo bar\n", "Dockerfile").unwrap_err();
        assert_eq!(e.to_string(), "Dockerfile:3: unknown instruction: FOO");
    }

    #[test]
    fn continuation_and_comments() {
        let d =
            parse("FROM scratch\nRUN echo a \\\n# inner comment\n\n  && echo b\nCMD [\"x\"]\n", "Dockerfile").unwrap();
        assert_eq!(d.steps.len(), 3);
        assert_eq!(d.steps[1].line, 2);
        assert_eq!(
            d.steps[1].instruction,
            Instruction::Run { cmd: CmdLine::Shell("echo a   && echo b".into()), network: None, heredocs: vec![] }
        );
        assert_eq!(d.steps[2].line, 6);
    }

    #[test]
    fn escape_directive() {
        let d = parse("# escape=`\nFROM scratch\nRUN dir C:\\ `\n  && echo\n", "Dockerfile").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.directives, vec![("escape".to_string(), "`".to_string())]);
        assert_eq!(
            d.steps[1].instruction,
            Instruction::Run { cmd: CmdLine::Shell("dir C:\\   && echo".into()), network: None, heredocs: vec![] }
        );
        // A directive after a comment is only a comment.
        let d = parse("# hello\n# escape=`\nFROM scratch\n", "Dockerfile").unwrap();
        assert_eq!(d.escape, '\\');
    }

    #[test]
    fn heredoc() {
        let d = parse(
            "FROM scratch\nRUN <<EOF\necho hi\necho there\nEOF\nCOPY <<-'X' /f\n\tliteral $A\n\tX\n",
            "Dockerfile",
        )
        .unwrap();
        match &d.steps[1].instruction {
            Instruction::Run { heredocs, .. } => {
                assert_eq!(heredocs[0].content, "echo hi\necho there\n");
                assert!(heredocs[0].expand);
            }
            other => panic!("{other:?}"),
        }
        match &d.steps[2].instruction {
            Instruction::Copy(c) => {
                assert_eq!(c.dest, "/f");
                assert_eq!(c.heredocs[0].content, "literal $A\n");
                assert!(!c.heredocs[0].expand);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn forms_and_flags() {
        assert_eq!(one("cmd [\"/hello\"]"), Instruction::Cmd(CmdLine::Exec(vec!["/hello".into()])));
        assert_eq!(one("CMD [\"broken\""), Instruction::Cmd(CmdLine::Shell("[\"broken\"".into())));
        assert_eq!(
            one("FROM --platform=linux/amd64 busybox AS Build"),
            Instruction::From {
                image: "busybox".into(),
                platform: Some("linux/amd64".into()),
                alias: Some("build".into())
            }
        );
        assert_eq!(
            one("COPY --from=build --chown=1000:1000 --chmod=0644 --link a b /dst/"),
            Instruction::Copy(CopyArgs {
                srcs: vec!["a".into(), "b".into()],
                dest: "/dst/".into(),
                from: Some("build".into()),
                chown: Some("1000:1000".into()),
                chmod: Some("0644".into()),
                link: true,
                heredocs: vec![],
            })
        );
        assert_eq!(one("ENV A 1 2"), Instruction::Env(vec![("A".into(), "1 2".into())]));
        assert_eq!(one("ARG A B=2"), Instruction::Arg(vec![("A".into(), None), ("B".into(), Some("2".into()))]));
        assert_eq!(one("VOLUME /a /b"), Instruction::Volume(vec!["/a".into(), "/b".into()]));
        assert_eq!(
            one("HEALTHCHECK --interval=5s CMD curl -f http://x/"),
            Instruction::Healthcheck(Healthcheck {
                test: vec!["CMD-SHELL".into(), "curl -f http://x/".into()],
                interval: Some("5s".into()),
                timeout: None,
                start_period: None,
                retries: None
            })
        );
        assert_eq!(one("ONBUILD run echo hi"), Instruction::Onbuild("run echo hi".into()));
        let e = parse("FROM a\nCOPY --bogus=1 a b\n", "Dockerfile").unwrap_err();
        assert_eq!(e.to_string(), "Dockerfile:2: COPY: unknown flag: bogus");
        let e = parse("FROM a\nONBUILD FROM b\n", "Dockerfile").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("FROM a\nCOPY onlyone\n", "Dockerfile").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("FROM a\nSHELL /bin/bash -c\n", "Dockerfile").unwrap_err();
        assert!(e.message.contains("JSON"));
    }
}
