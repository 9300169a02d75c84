//! Image references as Docker reads them: `busybox` means
//! `docker.io/library/busybox:latest`, `localhost:5000/x` names a registry.
//!
//! Grammar from distribution's `reference` package (`reference.go`): a name of
//! slash-separated lower-case components, optionally led by a domain (a first
//! component with `.` or `:`, or `localhost`), then `:tag` and/or `@digest`.

use crate::digest::Digest;
use std::fmt;

pub const DEFAULT_DOMAIN: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";
const OFFICIAL_PREFIX: &str = "library/";
const MAX_NAME_LEN: usize = 255;

/// A parsed, normalised image reference.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not a reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference format: {0:?}")]
    Invalid(String),
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    #[error("invalid reference format: repository name ({0}) is longer than {MAX_NAME_LEN} characters")]
    TooLong(String),
    #[error("invalid tag format: {0:?}")]
    Tag(String),
    #[error("invalid reference format: {input:?}: {source}")]
    Digest { input: String, source: crate::digest::DigestError },
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if host.starts_with('[') {
        return host.ends_with(']') && host.len() > 2;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether `t` is a valid tag: `[\w][\w.-]{0,127}`.
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

impl Reference {
    /// Parses and normalises a reference (no default tag is added).
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let invalid = || ReferenceError::Invalid(input.to_string());
        if input.is_empty() {
            return Err(invalid());
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                let digest =
                    Digest::parse(d).map_err(|source| ReferenceError::Digest { input: input.to_string(), source })?;
                (r, Some(digest))
            }
            None => (input, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let t = &rest[last_slash + i + 1..];
                if !valid_tag(t) {
                    return Err(ReferenceError::Tag(t.to_string()));
                }
                (&rest[..last_slash + i], Some(t.to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(invalid());
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first != first.to_lowercase() =>
            {
                if !valid_domain(first) {
                    return Err(invalid());
                }
                (first.to_string(), remainder.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        let domain = if domain == "index.docker.io" { DEFAULT_DOMAIN.to_string() } else { domain };
        let path =
            if domain == DEFAULT_DOMAIN && !path.contains('/') { format!("{OFFICIAL_PREFIX}{path}") } else { path };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(path));
        }
        if !path.split('/').all(valid_component) {
            return Err(invalid());
        }
        let full_len = domain.len() + 1 + path.len();
        if full_len > MAX_NAME_LEN {
            return Err(ReferenceError::TooLong(path));
        }
        Ok(Reference { domain, path, tag, digest })
    }

    /// Parses and adds `:latest` when neither a tag nor a digest is given.
    pub fn parse_with_default_tag(input: &str) -> Result<Reference, ReferenceError> {
        Ok(Reference::parse(input)?.or_default_tag())
    }

    /// This reference, with `:latest` when it has neither a tag nor a digest.
    pub fn or_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// The repository path on its registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The full repository name, `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository name as Docker prints it, `busybox`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path.strip_prefix(OFFICIAL_PREFIX).unwrap_or(&self.path).to_string()
        } else {
            self.name()
        }
    }

    /// Familiar form with tag and digest, `busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { domain: self.domain.clone(), path: self.path.clone(), tag: Some(tag.to_string()), digest: None }
    }

    /// The same repository with a digest and no tag.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference { domain: self.domain.clone(), path: self.path.clone(), tag: None, digest: Some(digest) }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_normalisation() {
        let r = Reference::parse_with_default_tag("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        let r = Reference::parse("redis:3.2.11-alpine").unwrap();
        assert_eq!(r.familiar(), "redis:3.2.11-alpine");
        let r = Reference::parse("localhost:5000/foo/bar:1").unwrap();
        assert_eq!((r.domain(), r.path(), r.tag()), ("localhost:5000", "foo/bar", Some("1")));
        assert_eq!(r.familiar(), "localhost:5000/foo/bar:1");
        let r = Reference::parse("127.0.0.1:5000/busybox").unwrap();
        assert_eq!(r.familiar_name(), "127.0.0.1:5000/busybox");
        let r = Reference::parse("xupan/hello-world").unwrap();
        assert_eq!(r.to_string(), "docker.io/xupan/hello-world");
        let r = Reference::parse("index.docker.io/library/redis").unwrap();
        assert_eq!(r.familiar_name(), "redis");
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(Reference::parse("Busybox"), Err(ReferenceError::Uppercase(_))));
        assert!(Reference::parse("").is_err());
        assert!(Reference::parse("a b").is_err());
        assert!(Reference::parse("foo:bad tag").is_err());
        assert!(Reference::parse("foo@sha256:xyz").is_err());
        assert!(Reference::parse("-foo").is_err());
        assert!(Reference::parse("foo//bar").is_err());
        assert!(Reference::parse(&"a".repeat(300)).is_err());
    }

    #[test]
    fn digest_references() {
        let d = "sha256:4b7e86637799f84a0355f07dbaefe6edba0df30356e7779b0357dd674358e838";
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.digest().unwrap().to_string(), d);
        assert_eq!(r.tag(), None);
        assert_eq!(r.familiar(), format!("busybox@{d}"));
    }
}
