//! JSON text exactly as Go's `encoding/json` writes it, for `inspect` and `{{json}}`.
//!
//! Go differs from serde_json in small visible ways: it escapes `<`, `>` and `&` as
//! `\u003c`, `\u003e`, `\u0026` (unless HTML escaping is turned off, as Docker's `json`
//! template function does), always escapes U+2028 and U+2029, writes other control
//! characters as lower-case `\u00XX`, and prints floats in `strconv` shortest form with an
//! exponent only below 1e-6 or from 1e21. `MarshalIndent(v, "", "    ")` puts `": "` after
//! keys and keeps empty objects and arrays as `{}` and `[]`.
//! See <https://pkg.go.dev/encoding/json#Marshal>.

use serde_json::{Map, Number, Value};

use super::gofmt::format_float;

/// How to encode: the knobs that distinguish Go's encoders from each other.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoJsonOptions {
    /// Escape `<`, `>`, `&` (Go's default; `json.Encoder.SetEscapeHTML(false)` turns it off).
    pub escape_html: bool,
    /// Sort object keys, as Go does when marshalling a map (struct fields keep their order).
    pub sort_keys: bool,
    /// Indent unit for `MarshalIndent`; `None` means compact output.
    pub indent: Option<&'static str>,
}

/// `docker inspect` output: Go's `json.MarshalIndent(v, "", "    ")`, HTML-escaped,
/// keys in the order given (struct field order). No trailing newline.
pub fn to_docker_json_pretty(v: &Value) -> String {
    encode(v, GoJsonOptions { escape_html: true, sort_keys: false, indent: Some("    ") })
}

/// Encode `v` with the given options.
pub fn encode(v: &Value, opts: GoJsonOptions) -> String {
    let mut out = String::new();
    write_value(&mut out, v, opts, 0);
    out
}

fn newline(out: &mut String, opts: GoJsonOptions, depth: usize) {
    if let Some(unit) = opts.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(unit);
        }
    }
}

fn write_value(out: &mut String, v: &Value, opts: GoJsonOptions, depth: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => write_string(out, s, opts.escape_html),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, opts, depth + 1);
                write_value(out, item, opts, depth + 1);
            }
            newline(out, opts, depth);
            out.push(']');
        }
        Value::Object(map) => write_object(out, map, opts, depth),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>, opts: GoJsonOptions, depth: usize) {
    if map.is_empty() {
        out.push_str("{}");
        return;
    }
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    if opts.sort_keys {
        entries.sort_by(|a, b| a.0.cmp(b.0));
    }
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, opts, depth + 1);
        write_string(out, key, opts.escape_html);
        out.push(':');
        if opts.indent.is_some() {
            out.push(' ');
        }
        write_value(out, value, opts, depth + 1);
    }
    newline(out, opts, depth);
    out.push('}');
}

/// A JSON number as Go prints it: integers exactly, floats in shortest form, with an
/// exponent (`1e-07`, `1e+21`, cleaned to `1e-7`, `1e+21`) only outside [1e-6, 1e21).
pub fn number(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format_float(f, 'e', -1);
        // Go trims a two-digit negative exponent with a leading zero: e-07 -> e-7
        match s.find("e-0") {
            Some(i) if s.len() == i + 4 => format!("{}e-{}", &s[..i], &s[i + 3..]),
            _ => s,
        }
    } else {
        format_float(f, 'f', -1)
    }
}

/// A JSON string literal with Go's escaping.
pub fn write_string(out: &mut String, s: &str, escape_html: bool) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if escape_html => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(char::from(HEX[(b >> 4) as usize]));
                out.push(char::from(HEX[(b & 0xf) as usize]));
            }
            c if (c as u32) < 0x20 => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(char::from(HEX[(b >> 4) as usize]));
                out.push(char::from(HEX[(b & 0xf) as usize]));
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    fn facts() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/facts")
    }

    #[test]
    fn docker_image_inspect_fixtures_round_trip_byte_for_byte() {
        // `docker image inspect` output is Go's indented JSON followed by a newline
        for name in ["inspect-busybox_latest.json", "inspect-empty_latest.json", "inspect-features_1.0.json"] {
            let text = std::fs::read_to_string(facts().join(name)).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(to_docker_json_pretty(&value) + "\n", text, "{name}");
        }
    }

    /// Go's `json.Marshal`: compact and HTML-escaped, keys in the order given.
    fn to_go_json(v: &Value) -> String {
        encode(v, GoJsonOptions { escape_html: true, sort_keys: false, indent: None })
    }

    #[test]
    fn html_characters_are_escaped_like_go_marshal() {
        let v = json!({"CreatedBy": "a && b > c < d"});
        assert_eq!(to_go_json(&v), r#"{"CreatedBy":"a \u0026\u0026 b \u003e c \u003c d"}"#);
        let plain = encode(&v, GoJsonOptions::default());
        assert_eq!(plain, r#"{"CreatedBy":"a && b > c < d"}"#);
    }

    #[test]
    fn control_characters_and_line_separators_are_escaped() {
        let v = json!("a\u{1}\u{1b}\t\n\r\u{2028}\u{2029}é");
        assert_eq!(to_go_json(&v), r#""a\u0001\u001b\t\n\r\u2028\u2029é""#);
    }

    #[test]
    fn empty_containers_stay_compact_when_indented() {
        let v = json!({"a": [], "b": {}, "c": [1, 2]});
        assert_eq!(
            to_docker_json_pretty(&v),
            "{\n    \"a\": [],\n    \"b\": {},\n    \"c\": [\n        1,\n        2\n    ]\n}"
        );
    }

    #[test]
    fn sorted_keys_for_maps() {
        let v = json!({"b": 1, "a": {"d": true, "c": null}});
        let opts = GoJsonOptions { sort_keys: true, ..Default::default() };
        assert_eq!(encode(&v, opts), r#"{"a":{"c":null,"d":true},"b":1}"#);
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(number(&Number::from_f64(1.5).unwrap()), "1.5");
        assert_eq!(number(&Number::from_f64(1e21).unwrap()), "1e+21");
        assert_eq!(number(&Number::from_f64(1e20).unwrap()), "100000000000000000000");
        assert_eq!(number(&Number::from_f64(0.0000001).unwrap()), "1e-7");
        assert_eq!(number(&Number::from(-3)), "-3");
        assert_eq!(number(&Number::from(u64::MAX)), "18446744073709551615");
    }
}
