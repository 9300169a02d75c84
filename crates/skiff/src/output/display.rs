//! Small display rules Docker applies to column values before formatting: short image IDs
//! (`stringid.TruncateID`) and width-aware truncation with an ellipsis (`formatter.Ellipsis`,
//! used for `CREATED BY` in `docker history` and `COMMAND` in `docker ps`).

/// The 12-character short form of an ID, after dropping an algorithm prefix (`sha256:`).
pub fn truncate_id(id: &str) -> &str {
    let id = match id.find(':') {
        Some(i) => &id[i + 1..],
        None => id,
    };
    match id.char_indices().nth(12) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

/// Display width of a character: 2 for East Asian wide and full-width characters, else 1.
fn char_width(c: char) -> usize {
    let u = c as u32;
    let wide = matches!(u,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF | 0x20000..=0x2FFFD | 0x30000..=0x3FFFD);
    if wide {
        2
    } else {
        1
    }
}

/// Truncate `s` to at most `max_width` display columns, ending with `…` when cut.
/// A width of 1 keeps just the first character; 0 gives an empty string.
pub fn ellipsis(s: &str, max_width: usize) -> String {
    if max_width == 0 {
        return String::new();
    }
    let chars: Vec<char> = s.chars().collect();
    if max_width == 1 {
        return chars.first().map(char::to_string).unwrap_or_default();
    }
    let total: usize = chars.iter().map(|c| char_width(*c)).sum();
    if total <= max_width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut width = 0;
    for c in chars {
        let w = char_width(c);
        if width + w > max_width - 1 {
            break;
        }
        width += w;
        out.push(c);
    }
    if out.is_empty() {
        // Docker finds no cut point when even the first character is too wide
        return s.to_string();
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_drop_the_digest_algorithm() {
        let id = "sha256:af2583f835cab710c5ce30fa9ffb68605b8db6ea7af672a8dfd94cbb4ef5ccdb";
        assert_eq!(truncate_id(id), "af2583f835ca");
        assert_eq!(truncate_id("abc"), "abc");
    }

    #[test]
    fn ellipsis_cuts_to_width_minus_one_and_appends_marker() {
        // docker history without --no-trunc cuts CREATED BY to 45 columns
        let created_by = "|1 BUILD_NOTE=fixture /bin/sh -c mkdir -p /data/keep /data/gone /opq";
        let cut = ellipsis(created_by, 45);
        assert_eq!(cut, "|1 BUILD_NOTE=fixture /bin/sh -c mkdir -p /d…");
        assert_eq!(cut.chars().count(), 45);
        assert_eq!(ellipsis("short", 45), "short");
        assert_eq!(ellipsis("abcdef", 1), "a");
        assert_eq!(ellipsis("abcdef", 0), "");
        // wide characters count twice
        assert_eq!(ellipsis("日本語テキスト", 7), "日本語…");
        assert_eq!(ellipsis("日本", 2), "日本");
    }
}
