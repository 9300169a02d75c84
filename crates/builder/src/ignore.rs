//! `.dockerignore`: Docker's pattern rules (moby `patternmatcher`).
//!
//! One pattern a line; `#` lines are comments; surrounding whitespace is
//! trimmed; patterns are cleaned like Go's `filepath.Clean` and a leading `/`
//! is dropped. `*` matches any run of non-separator characters, `?` one,
//! `[...]` a class, `**` any number of directories (zero included). A `!`
//! pattern re-includes what earlier patterns excluded; the last matching
//! pattern decides. A pattern also matches everything under a directory it
//! matches (`build` excludes `build/x/y`).

/// One compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub text: String,
    pub exclusion: bool,
    dirs: usize,
}

/// The patterns of a `.dockerignore` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreMatcher {
    pub patterns: Vec<Pattern>,
}

/// Go's `filepath.Clean` for relative slash paths.
pub fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

impl IgnoreMatcher {
    /// Parses `.dockerignore` text.
    pub fn parse(text: &str) -> IgnoreMatcher {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, p) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let mut p = clean(p);
            if let Some(s) = p.strip_prefix('/') {
                p = if s.is_empty() { ".".into() } else { s.to_string() };
            }
            if p == "." {
                continue; // Docker ignores a pattern for the context root itself
            }
            let dirs = p.split('/').count();
            patterns.push(Pattern { text: p, exclusion, dirs });
        }
        IgnoreMatcher { patterns }
    }

    /// Whether any pattern is an exception (then excluded directories must still be walked).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded.
    pub fn excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let parts: Vec<&str> = path.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue; // cannot change the outcome
            }
            let mut m = glob_match(p.text.as_bytes(), path.as_bytes());
            if !m && parts.len() > 1 && p.dirs < parts.len() {
                // A pattern matching a parent directory matches its contents.
                let prefix = parts[..p.dirs].join("/");
                m = glob_match(p.text.as_bytes(), prefix.as_bytes());
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }
}

/// Matches a path against a pattern: `*`, `?`, `[...]` stop at `/`; `**` does not.
pub fn glob_match(pat: &[u8], text: &[u8]) -> bool {
    if pat.is_empty() {
        return text.is_empty();
    }
    match pat[0] {
        b'*' if pat.get(1) == Some(&b'*') => {
            let mut rest = &pat[2..];
            // `**/` also matches zero directories.
            if rest.first() == Some(&b'/') {
                if glob_match(&rest[1..], text) {
                    return true;
                }
                rest = &rest[1..];
                for i in 0..text.len() {
                    if text[i] == b'/' && glob_match(rest, &text[i + 1..]) {
                        return true;
                    }
                }
                return false;
            }
            (0..=text.len()).any(|i| glob_match(rest, &text[i..]))
        }
        b'*' => {
            let rest = &pat[1..];
            for i in 0..=text.len() {
                if glob_match(rest, &text[i..]) {
                    return true;
                }
                if i < text.len() && text[i] == b'/' {
                    break;
                }
            }
            false
        }
        b'?' => !text.is_empty() && text[0] != b'/' && glob_match(&pat[1..], &text[1..]),
        b'[' => {
            let Some(&c) = text.first() else { return false };
            if c == b'/' {
                return false;
            }
            let mut i = 1;
            let negate = matches!(pat.get(1), Some(b'^') | Some(b'!'));
            if negate {
                i += 1;
            }
            let mut hit = false;
            let mut first = true;
            while i < pat.len() && (first || pat[i] != b']') {
                first = false;
                let mut lo = pat[i];
                if lo == b'\\' && i + 1 < pat.len() {
                    i += 1;
                    lo = pat[i];
                }
                let mut hi = lo;
                if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&b| b != b']') {
                    hi = pat[i + 2];
                    i += 2;
                }
                if lo <= c && c <= hi {
                    hit = true;
                }
                i += 1;
            }
            if i >= pat.len() {
                return false; // unterminated class: no match, as Go reports ErrBadPattern
            }
            hit != negate && glob_match(&pat[i + 1..], &text[1..])
        }
        b'\\' if pat.len() > 1 => !text.is_empty() && text[0] == pat[1] && glob_match(&pat[2..], &text[1..]),
        c => !text.is_empty() && text[0] == c && glob_match(&pat[1..], &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules() {
        let m = IgnoreMatcher::parse("# comment\n*.md\n!README.md\nbuild\n**/*.tmp\n/secret/\ndocs/**/draft*\n");
        assert!(m.excluded("notes.md"));
        assert!(!m.excluded("README.md"));
        assert!(!m.excluded("sub/notes.md"), "* does not cross directories");
        assert!(m.excluded("build"));
        assert!(m.excluded("build/out/x.o"), "contents of an excluded directory");
        assert!(m.excluded("a.tmp"), "**/ matches zero directories");
        assert!(m.excluded("a/b/c.tmp"));
        assert!(m.excluded("secret/key"));
        assert!(m.excluded("docs/draft1"));
        assert!(m.excluded("docs/x/y/draft2"));
        assert!(!m.excluded("docs/final"));
        assert!(!m.excluded("src/main.rs"));
        assert!(m.has_exceptions());
    }

    #[test]
    fn last_match_wins_and_reexclusion() {
        let m = IgnoreMatcher::parse("*\n!keep\n!dir/sub\ndir/sub/no\n");
        assert!(m.excluded("x"));
        assert!(!m.excluded("keep"));
        assert!(!m.excluded("dir/sub/yes"));
        assert!(m.excluded("dir/sub/no"));
        assert!(m.excluded("dir/other"));
    }

    #[test]
    fn classes_and_clean() {
        assert!(glob_match(b"f[a-c]o", b"fbo"));
        assert!(!glob_match(b"f[^a-c]o", b"fbo"));
        assert!(glob_match(b"?x", b"ax"));
        assert!(!glob_match(b"?x", b"/x"));
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("../x"), "../x");
        let m = IgnoreMatcher::parse("./a/../b\n");
        assert!(m.excluded("b"));
    }
}
