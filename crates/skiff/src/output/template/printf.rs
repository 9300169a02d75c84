//! Go's `fmt.Sprint`, `Sprintln` and `Sprintf` applied to JSON values, as the template
//! builtins `print`, `println` and `printf` use them. Values print with `%v` rules: arrays as
//! `[a b]`, objects as `map[k:v]` with sorted keys, null inside a composite as `<nil>`.
//! Wrong verbs print Go's `%!d(string=x)` diagnostics instead of failing.

use serde_json::Value;

use crate::output::gofmt::{float_v, format_float, quote};

/// Go's type name for a decoded JSON value, as fmt's diagnostics print it.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// `%v` of a value (null prints as `<nil>`).
pub(crate) fn format_v(v: &Value) -> String {
    let mut out = String::new();
    write_verb(&mut out, v, &Spec::plain('v'));
    out
}

/// `fmt.Sprint`: operands printed with `%v`, a space between two operands when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&format_v(a));
    }
    out
}

/// `fmt.Sprintln`: operands printed with `%v`, always space-separated, then a newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(format_v).collect();
    let mut out = parts.join(" ");
    out.push('\n');
    out
}

#[derive(Debug, Clone, Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
    verb: char,
}

impl Spec {
    fn plain(verb: char) -> Spec {
        Spec { verb, ..Default::default() }
    }
}

/// `fmt.Sprintf` with the common verbs: `%v %s %q %d %x %X %o %b %c %t %e %f %g %%`,
/// flags `- + # 0 space`, width and precision (including `*`).
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next_arg = 0usize;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = read_num(&mut chars, args, &mut next_arg);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(read_num(&mut chars, args, &mut next_arg).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        spec.verb = verb;
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next_arg) {
            None => out.push_str(&format!("%!{verb}(MISSING)")),
            Some(arg) => {
                next_arg += 1;
                let mut piece = String::new();
                write_verb(&mut piece, arg, &spec);
                out.push_str(&piece);
            }
        }
    }
    if next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next_arg..].iter().map(|a| format!("{}={}", type_name(a), format_v(a))).collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

fn read_num(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    args: &[Value],
    next_arg: &mut usize,
) -> Option<usize> {
    if chars.peek() == Some(&'*') {
        chars.next();
        let n = args.get(*next_arg).and_then(Value::as_i64).unwrap_or(0);
        *next_arg += 1;
        return Some(n.max(0) as usize);
    }
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0) * 10 + d as usize);
        chars.next();
    }
    n
}

fn pad(out: &mut String, body: &str, spec: &Spec, numeric: bool) {
    let len = body.chars().count();
    let width = spec.width.unwrap_or(0);
    if len >= width {
        out.push_str(body);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && numeric {
        // zero padding goes after the sign
        let (sign, digits) = match body.chars().next() {
            Some(s @ ('-' | '+' | ' ')) => (Some(s), &body[1..]),
            _ => (None, body),
        };
        if let Some(s) = sign {
            out.push(s);
        }
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

fn bad_verb(out: &mut String, v: &Value, verb: char) {
    match v {
        Value::Null => out.push_str(&format!("%!{verb}(<nil>)")),
        _ => out.push_str(&format!("%!{verb}({}={})", type_name(v), format_v(v))),
    }
}

fn write_verb(out: &mut String, v: &Value, spec: &Spec) {
    let verb = spec.verb;
    match v {
        Value::Null => {
            if verb == 'v' {
                pad(out, "<nil>", spec, false);
            } else {
                bad_verb(out, v, verb);
            }
        }
        Value::Bool(b) => match verb {
            'v' | 't' => pad(out, if *b { "true" } else { "false" }, spec, false),
            _ => bad_verb(out, v, verb),
        },
        Value::String(s) => match verb {
            'v' | 's' => {
                let body: String = match spec.prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.clone(),
                };
                if verb == 'v' && spec.sharp {
                    pad(out, &quote(&body, false), spec, false);
                } else {
                    pad(out, &body, spec, false);
                }
            }
            'q' => {
                let body: String = match spec.prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.clone(),
                };
                let q = if spec.sharp && !body.contains('`') && !body.chars().any(|c| c.is_control() && c != '\t') {
                    format!("`{body}`")
                } else {
                    quote(&body, spec.plus)
                };
                pad(out, &q, spec, false);
            }
            'x' | 'X' => {
                let mut hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                if verb == 'X' {
                    hex = hex.to_uppercase();
                }
                pad(out, &hex, spec, false);
            }
            _ => bad_verb(out, v, verb),
        },
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                write_float(out, v, f, spec);
            } else {
                write_int(out, v, n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)).unwrap_or(0), spec);
            }
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_verb(out, item, spec);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_verb(out, &Value::String(k.clone()), spec);
                out.push(':');
                write_verb(out, &map[k], spec);
            }
            out.push(']');
        }
    }
}

fn sign_prefix(neg: bool, spec: &Spec) -> &'static str {
    if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    }
}

fn write_int(out: &mut String, v: &Value, i: i128, spec: &Spec) {
    let neg = i < 0;
    let a = i.unsigned_abs();
    let digits = match spec.verb {
        'v' | 'd' => a.to_string(),
        'x' => format!("{}{a:x}", if spec.sharp { "0x" } else { "" }),
        'X' => format!("{}{a:X}", if spec.sharp { "0X" } else { "" }),
        'o' => format!("{}{a:o}", if spec.sharp { "0" } else { "" }),
        'b' => format!("{a:b}"),
        'c' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{fffd}');
            return pad(out, &c.to_string(), spec, false);
        }
        'q' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{fffd}');
            let q = quote(&c.to_string(), spec.plus);
            let inner = &q[1..q.len() - 1];
            let inner = if inner == "\\\"" { "\"" } else { inner };
            let body = if c == '\'' { "'\\''".to_string() } else { format!("'{inner}'") };
            return pad(out, &body, spec, false);
        }
        'U' => return pad(out, &format!("U+{a:04X}"), spec, false),
        _ => return bad_verb(out, v, spec.verb),
    };
    let digits = match spec.prec {
        Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    };
    let body = format!("{}{digits}", sign_prefix(neg, spec));
    pad(out, &body, spec, spec.prec.is_none());
}

fn write_float(out: &mut String, v: &Value, f: f64, spec: &Spec) {
    let prec = spec.prec.map_or(-1, |p| p as i32);
    let body = match spec.verb {
        'v' => {
            if prec < 0 {
                float_v(f)
            } else {
                format_float(f, 'g', prec)
            }
        }
        'g' | 'G' => format_float(f, spec.verb, prec),
        'e' | 'E' => format_float(f, spec.verb, if prec < 0 { 6 } else { prec }),
        'f' | 'F' => format_float(f, 'f', if prec < 0 { 6 } else { prec }),
        _ => return bad_verb(out, v, spec.verb),
    };
    let body = if !body.starts_with('-') && (spec.plus || spec.space) {
        format!("{}{body}", sign_prefix(false, spec))
    } else {
        body
    };
    pad(out, &body, spec, true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sprintf_common_verbs() {
        assert_eq!(sprintf("%s|%d|%v", &[json!("a"), json!(42), json!(true)]), "a|42|true");
        assert_eq!(sprintf("%-20s|", &[json!("busybox")]), "busybox             |");
        assert_eq!(sprintf("%8s|", &[json!("abc")]), "     abc|");
        assert_eq!(sprintf("%q", &[json!("hi \"x\"")]), r#""hi \"x\"""#);
        assert_eq!(sprintf("%05d %x %X %o", &[json!(-42), json!(255), json!(255), json!(8)]), "-0042 ff FF 10");
        assert_eq!(sprintf("%.3s", &[json!("abcdef")]), "abc");
        assert_eq!(sprintf("%.2f %e %g", &[json!(1.005), json!(1234.5), json!(0.5)]), "1.00 1.234500e+03 0.5");
        assert_eq!(sprintf("100%%", &[]), "100%");
        assert_eq!(sprintf("%*d", &[json!(5), json!(42)]), "   42");
    }

    #[test]
    fn sprintf_diagnostics_match_go() {
        assert_eq!(sprintf("%d", &[json!("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%s", &[json!(5)]), "%!s(int=5)");
        assert_eq!(sprintf("%s %s", &[json!("a")]), "a %!s(MISSING)");
        assert_eq!(sprintf("%s", &[json!("a"), json!(1)]), "a%!(EXTRA int=1)");
        assert_eq!(sprintf("%s", &[Value::Null]), "%!s(<nil>)");
        assert_eq!(sprintf("%v", &[Value::Null]), "<nil>");
    }

    #[test]
    fn composites_print_like_go_values() {
        assert_eq!(format_v(&json!(["a", "b"])), "[a b]");
        assert_eq!(format_v(&json!({"b": 2, "a": [1, null]})), "map[a:[1 <nil>] b:2]");
        assert_eq!(sprintf("%q", &[json!(["a", "b"])]), r#"["a" "b"]"#);
    }

    #[test]
    fn sprint_spacing_rules() {
        // spaces only between operands when neither is a string
        assert_eq!(sprint(&[json!("a"), json!("b")]), "ab");
        assert_eq!(sprint(&[json!(1), json!(2)]), "1 2");
        assert_eq!(sprint(&[json!("a"), json!(1), json!(2)]), "a1 2");
        assert_eq!(sprintln(&[json!("a"), json!("b")]), "a b\n");
    }
}
