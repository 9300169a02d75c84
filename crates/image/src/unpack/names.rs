//! Entry names: lexical cleaning of tar paths (whiteout names are in [`crate::overlay::markers`]).

/// Cleans a tar path lexically: strips leading `/`, drops empty and `.` components and folds `..`
/// into its parent. Returns `None` when the path escapes (a `..` with nothing left to pop), and an
/// empty vector for the root itself.
pub fn clean(raw: &[u8]) -> Option<Vec<u8>> {
    let mut comps: Vec<&[u8]> = Vec::new();
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                comps.pop()?;
            }
            c => comps.push(c),
        }
    }
    Some(comps.join(&b'/'))
}

/// Splits a cleaned, non-empty path into its parent (possibly empty) and final component.
pub fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&b""[..], path),
    }
}

/// Joins a parent path and a name.
pub fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    if parent.is_empty() {
        return name.to_vec();
    }
    let mut out = Vec::with_capacity(parent.len() + 1 + name.len());
    out.extend_from_slice(parent);
    out.push(b'/');
    out.extend_from_slice(name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_moby() {
        assert_eq!(clean(b"/etc/passwd").unwrap(), b"etc/passwd");
        assert_eq!(clean(b"./a//b/./c/").unwrap(), b"a/b/c");
        assert_eq!(clean(b"a/../b").unwrap(), b"b");
        assert_eq!(clean(b"./").unwrap(), b"");
        assert_eq!(clean(b"/").unwrap(), b"");
        assert_eq!(clean(b"../x"), None);
        assert_eq!(clean(b"/../x"), None);
        assert_eq!(clean(b"a/../../x"), None);
        assert_eq!(clean(b"../../etc/passwd"), None);
    }

    #[test]
    fn splits_and_joins() {
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
        assert_eq!(join(b"", b"c"), b"c");
        assert_eq!(join(b"a", b"c"), b"a/c");
    }
}
