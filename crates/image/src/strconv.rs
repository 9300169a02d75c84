//! Go's `strconv.Quote` and `strconv.QuoteToASCII`, which Docker's output uses wherever Go
//! prints `%q`: the builder's history text (`HEALTHCHECK`, `LABEL`, `time: invalid duration`),
//! `docker ps`'s quoted command, template `printf "%q"`. One copy for the builder and the CLI.
//! See <https://pkg.go.dev/strconv#Quote>.

/// Go's `strconv.Quote`: a double-quoted string with Go escape sequences; printable
/// Unicode is kept as is. With `ascii_only` non-ASCII is escaped too (`%+q`).
pub fn quote(s: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_ascii() => out.push(c),
            c if !ascii_only && !c.is_control() && !is_unicode_format(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn is_unicode_format(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_like_strconv_quote() {
        assert_eq!(quote("a\"b\\c\n\t", false), r#""a\"b\\c\n\t""#);
        assert_eq!(quote("\u{1}", false), r#""\x01""#);
        assert_eq!(quote("ünï", false), "\"ünï\"");
        assert_eq!(quote("ü", true), r#""\u00fc""#);
    }
}
