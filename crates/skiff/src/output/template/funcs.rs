//! The template functions: Go's builtins (`len`, `index`, `printf`, `eq`, ...) and the ones
//! Docker adds in `templates.go` (`json`, `join`, `split`, `title`, `lower`, `upper`, `pad`,
//! `truncate`), plus Docker's header variants that leave a column name untouched.

use serde_json::Value;

use super::printf::{sprint, sprintf, sprintln, type_name};
use crate::output::json::{encode, GoJsonOptions};

/// Names known at parse time.
pub(crate) const FUNCS: [&str; 27] = [
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge",
    "html", "js", "urlquery", "call", "json", "split", "join", "title", "lower", "upper", "pad", "truncate",
];

/// Go's `truth`: empty strings, arrays, objects, zero numbers, false and null are false.
pub(crate) fn truth(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// How `json` of the template's root should encode: Docker's formatter contexts marshal
/// themselves as a Go map (sorted keys, HTML-escaped), whatever the `json` function's options.
pub(crate) struct CallCtx {
    pub header: bool,
    pub root_is_context: bool,
}

fn want_args(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("wrong number of args for {name}: want {n} got {}", args.len()));
    }
    Ok(())
}

fn as_str(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| format!("wrong type for value; expected string; got {}", type_name(v)))
}

fn as_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) if !n.is_f64() => n.as_i64().ok_or_else(|| "integer overflow".to_string()),
        _ => Err(format!("wrong type for value; expected int; got {}", type_name(v))),
    }
}

/// Call a function other than `and`/`or` (which short-circuit and live in exec).
/// `root_arg` says whether the first argument is the template's root value itself.
pub(crate) fn call(name: &str, args: Vec<Value>, root_arg: bool, ctx: &CallCtx) -> Result<Value, String> {
    if ctx.header && matches!(name, "json" | "split" | "join" | "title" | "lower" | "upper" | "truncate") {
        // Docker's HeaderFunctions: keep the column name as it is
        let n = if matches!(name, "split" | "join" | "truncate") { 2 } else { 1 };
        want_args(name, &args, n)?;
        let s = as_str(&args[0])?.to_string();
        if name == "truncate" {
            as_int(&args[1])?;
        } else if n == 2 {
            as_str(&args[1])?;
        }
        return Ok(Value::String(s));
    }
    let s = |v: String| Ok(Value::String(v));
    match name {
        "not" => {
            want_args(name, &args, 1)?;
            Ok(Value::Bool(!truth(Some(&args[0]))))
        }
        "len" => {
            want_args(name, &args, 1)?;
            let n = match &args[0] {
                Value::String(x) => x.len(),
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                Value::Null => return Err("error calling len: len of nil pointer".into()),
                v => return Err(format!("error calling len: len of type {}", type_name(v))),
            };
            Ok(Value::from(n))
        }
        "index" => index(args),
        "slice" => slice(args),
        "print" => s(sprint(&args)),
        "println" => s(sprintln(&args)),
        "printf" => {
            if args.is_empty() {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            }
            let f = as_str(&args[0])?.to_string();
            s(sprintf(&f, &args[1..]))
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            for other in &args[1..] {
                if compare(&args[0], other, true)? == std::cmp::Ordering::Equal {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want_args(name, &args, 2)?;
            let ord = compare(&args[0], &args[1], name == "ne")?;
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match name {
                "ne" => ord != Equal,
                "lt" => ord == Less,
                "le" => ord != Greater,
                "gt" => ord == Greater,
                _ => ord != Less,
            }))
        }
        "html" => s(html_escape(&sprint(&args))),
        "js" => s(js_escape(&sprint(&args))),
        "urlquery" => s(query_escape(&sprint(&args))),
        "call" => Err("error calling call: non-function of type interface {}".into()),
        "json" => {
            want_args(name, &args, 1)?;
            let opts = GoJsonOptions {
                escape_html: root_arg && ctx.root_is_context,
                sort_keys: root_arg && ctx.root_is_context,
                indent: None,
            };
            s(encode(&args[0], opts))
        }
        "split" => {
            want_args(name, &args, 2)?;
            let (text, sep) = (as_str(&args[0])?, as_str(&args[1])?);
            let parts: Vec<Value> = if sep.is_empty() {
                text.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                text.split(sep).map(|p| Value::String(p.to_string())).collect()
            };
            Ok(Value::Array(parts))
        }
        "join" => {
            want_args(name, &args, 2)?;
            let sep = as_str(&args[1])?;
            let items = match &args[0] {
                Value::Array(a) => a,
                Value::Null => return s(String::new()),
                v => return Err(format!("wrong type for value; expected []string; got {}", type_name(v))),
            };
            let parts = items
                .iter()
                .map(|v| as_str(v).map(str::to_string))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| "wrong type for value; expected []string; got []interface {}".to_string())?;
            s(parts.join(sep))
        }
        "title" => {
            want_args(name, &args, 1)?;
            s(title(as_str(&args[0])?))
        }
        "lower" => {
            want_args(name, &args, 1)?;
            s(as_str(&args[0])?.to_lowercase())
        }
        "upper" => {
            want_args(name, &args, 1)?;
            s(as_str(&args[0])?.to_uppercase())
        }
        "pad" => {
            want_args(name, &args, 3)?;
            let text = as_str(&args[0])?;
            let (pre, post) = (as_int(&args[1])?, as_int(&args[2])?);
            if text.is_empty() {
                return s(String::new());
            }
            s(format!("{}{text}{}", " ".repeat(pre.max(0) as usize), " ".repeat(post.max(0) as usize)))
        }
        "truncate" => {
            want_args(name, &args, 2)?;
            let text = as_str(&args[0])?;
            let n = as_int(&args[1])?;
            if (text.len() as i64) < n {
                return s(text.to_string());
            }
            // Go slices bytes; keep the cut on a character boundary
            let mut cut = n.max(0) as usize;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            s(text[..cut].to_string())
        }
        other => Err(format!("function \"{other}\" not defined")),
    }
}

/// Go's `index`: arrays by integer, objects by key. A missing key gives the empty string,
/// as Docker's typed `map[string]string` labels do (`{{index .Config.Labels "x"}}`).
fn index(args: Vec<Value>) -> Result<Value, String> {
    let mut it = args.into_iter();
    let Some(mut item) = it.next() else {
        return Err("wrong number of args for index: want at least 1 got 0".into());
    };
    for idx in it {
        item = match item {
            Value::Array(mut a) => {
                let i = as_int(&idx).map_err(|_| {
                    format!("error calling index: cannot index slice/array with type {}", type_name(&idx))
                })?;
                if i < 0 || i as usize >= a.len() {
                    return Err(format!("error calling index: index out of range: {i}"));
                }
                a.swap_remove(i as usize)
            }
            Value::Object(mut o) => {
                let k = as_str(&idx).map_err(|_| {
                    format!("error calling index: value has type {}; should be string", type_name(&idx))
                })?;
                o.remove(k).unwrap_or(Value::String(String::new()))
            }
            Value::String(st) => {
                let i = as_int(&idx)?;
                match st.as_bytes().get(i.max(0) as usize) {
                    Some(b) if i >= 0 => Value::from(*b),
                    _ => return Err(format!("error calling index: index out of range: {i}")),
                }
            }
            Value::Null => return Err("error calling index: index of untyped nil".into()),
            v => return Err(format!("error calling index: can't index item of type {}", type_name(&v))),
        };
    }
    Ok(item)
}

fn slice(args: Vec<Value>) -> Result<Value, String> {
    let Some(item) = args.first() else {
        return Err("wrong number of args for slice: want at least 1 got 0".into());
    };
    let len = match item {
        Value::String(s) => s.len(),
        Value::Array(a) => a.len(),
        v => return Err(format!("error calling slice: can't slice item of type {}", type_name(v))),
    };
    let bounds = args[1..].iter().map(as_int).collect::<Result<Vec<_>, _>>()?;
    let lo = bounds.first().copied().unwrap_or(0);
    let hi = bounds.get(1).copied().unwrap_or(len as i64);
    if lo < 0 || hi < lo || hi as usize > len {
        return Err(format!("error calling slice: index out of range: {hi}"));
    }
    let (lo, hi) = (lo as usize, hi as usize);
    Ok(match item {
        Value::String(s) => Value::String(String::from_utf8_lossy(&s.as_bytes()[lo..hi]).into_owned()),
        Value::Array(a) => Value::Array(a[lo..hi].to_vec()),
        _ => unreachable!("checked above"),
    })
}

fn compare(a: &Value, b: &Value, equality: bool) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.as_bytes().cmp(y.as_bytes())),
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
                return Ok(i.cmp(&j));
            }
            let (f, g) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            Ok(f.partial_cmp(&g).unwrap_or(Ordering::Equal))
        }
        (Value::Bool(x), Value::Bool(y)) if equality => Ok(x.cmp(y)),
        (Value::Null, Value::Null) if equality => Ok(Ordering::Equal),
        (Value::Null, _) | (_, Value::Null) if equality => Ok(Ordering::Less),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            Err("error calling eq: non-comparable type".into())
        }
        _ if equality => Err("error calling eq: incompatible types for comparison".into()),
        _ => Err("error calling lt: invalid type for comparison".into()),
    }
}

/// Go's `strings.Title`: upper-case the first letter of each word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = if c.is_ascii() { !(c.is_ascii_alphanumeric() || c == '_') } else { c.is_whitespace() };
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_follows_strings_title() {
        assert_eq!(title("hello world-foo_bar"), "Hello World-Foo_bar");
        assert_eq!(title("élan vital"), "Élan Vital");
    }

    #[test]
    fn escapes() {
        assert_eq!(html_escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;");
        assert_eq!(query_escape("a b&c/d"), "a+b%26c%2Fd");
    }
}
