//! Registry authentication: the `WWW-Authenticate` challenge, HTTP Basic, and
//! bearer tokens from the challenge's realm, cached per scope set.
//!
//! A request goes out with whatever authorization is cached for its scopes;
//! on 401 the challenge says what to do: `Basic` → send the stored
//! credentials; `Bearer realm=…,service=…,scope=…` → `GET realm?service=…&
//! scope=…` (with Basic credentials when logged in, anonymous otherwise) and
//! use the `token` (or `access_token`) it returns until `expires_in` passes.

use crate::credentials::Credentials;
use crate::http::{Request, Transport};
use base64::Engine;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Errors while authenticating.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Http(#[from] crate::http::HttpError),
    #[error("unsupported authentication challenge from {host}: {challenge:?}")]
    Unsupported { host: String, challenge: String },
    #[error("token request to {realm} failed: {status} {body}")]
    Token { realm: String, status: u16, body: String },
    #[error("token response from {realm} is invalid: {reason}")]
    BadToken { realm: String, reason: String },
}

/// One parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower-case scheme: `basic` or `bearer`.
    pub scheme: String,
    pub params: HashMap<String, String>,
}

/// Parses `Bearer realm="…",service="…",scope="…"` (quoted or token values).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut s = rest.trim_start();
    while !s.is_empty() {
        let eq = s.find('=')?;
        let key = s[..eq].trim().trim_start_matches(',').trim().to_ascii_lowercase();
        s = &s[eq + 1..];
        let value;
        if let Some(q) = s.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            value = out;
            s = &q[end.min(q.len())..];
        } else {
            let end = s.find(',').unwrap_or(s.len());
            value = s[..end].trim().to_string();
            s = &s[end..];
        }
        params.insert(key, value);
        s = s.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge { scheme: scheme.to_ascii_lowercase(), params })
}

fn basic(c: &Credentials) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password)))
}

/// What to send for one registry host.
#[derive(Debug, Clone)]
enum Cached {
    Basic(String),
    Bearer { header: String, expires: Instant },
}

/// Authorization state for one registry host, shared by a pull's threads.
pub struct Authenticator {
    host: String,
    credentials: Option<Credentials>,
    verify_tls: bool,
    /// Keyed by the space-joined scopes; `""` holds Basic auth for all.
    cache: Mutex<HashMap<String, Cached>>,
}

impl Authenticator {
    pub fn new(host: &str, credentials: Option<Credentials>, verify_tls: bool) -> Authenticator {
        Authenticator { host: host.to_string(), credentials, verify_tls, cache: Mutex::new(HashMap::new()) }
    }

    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// The `Authorization` value cached for these scopes, if any.
    pub fn cached(&self, scopes: &[String]) -> Option<String> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(Cached::Basic(h)) = cache.get("") {
            return Some(h.clone());
        }
        match cache.get(&scopes.join(" ")) {
            Some(Cached::Bearer { header, expires }) if *expires > Instant::now() => Some(header.clone()),
            _ => None,
        }
    }

    /// Answers a challenge for `scopes`; returns the `Authorization` value to retry with.
    pub fn respond(&self, transport: &Transport, challenge: &str, scopes: &[String]) -> Result<String, AuthError> {
        let unsupported = || AuthError::Unsupported { host: self.host.clone(), challenge: challenge.to_string() };
        let ch = parse_challenge(challenge).ok_or_else(unsupported)?;
        match ch.scheme.as_str() {
            "basic" => {
                let Some(c) = &self.credentials else { return Err(unsupported()) };
                let h = basic(c);
                self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(String::new(), Cached::Basic(h.clone()));
                Ok(h)
            }
            "bearer" => {
                let realm = ch.params.get("realm").cloned().ok_or_else(unsupported)?;
                let mut url = realm.clone();
                let mut sep = if url.contains('?') { '&' } else { '?' };
                let mut add = |k: &str, v: &str| {
                    url.push(sep);
                    url.push_str(k);
                    url.push('=');
                    url.push_str(&percent_encode(v));
                    sep = '&';
                };
                if let Some(s) = ch.params.get("service") {
                    add("service", s);
                }
                let mut all: Vec<String> = scopes.to_vec();
                if let Some(s) = ch.params.get("scope") {
                    for s in s.split(' ') {
                        if !s.is_empty() && !all.iter().any(|x| x == s) {
                            all.push(s.to_string());
                        }
                    }
                }
                for s in &all {
                    add("scope", s);
                }
                if let Some(c) = &self.credentials {
                    add("account", &c.username);
                }
                let mut req = Request::get(url);
                if let Some(c) = &self.credentials {
                    req = req.header("Authorization", basic(c));
                }
                let mut res = transport.send(&req, self.verify_tls)?;
                let body = res.read_limited(1 << 20).unwrap_or_default();
                if !res.is_success() {
                    return Err(AuthError::Token {
                        realm,
                        status: res.status,
                        body: String::from_utf8_lossy(&body).trim().to_string(),
                    });
                }
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| AuthError::BadToken { realm: realm.clone(), reason: e.to_string() })?;
                let token = v
                    .get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| AuthError::BadToken { realm: realm.clone(), reason: "no token".into() })?;
                let ttl = v.get("expires_in").and_then(|e| e.as_u64()).unwrap_or(60).max(10);
                let header = format!("Bearer {token}");
                // Renew a little early so a long pull never sends a just-expired token.
                let expires = Instant::now() + Duration::from_secs(ttl) - Duration::from_secs(5);
                self.cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(scopes.join(" "), Cached::Bearer { header: header.clone(), expires });
                Ok(header)
            }
            _ => Err(unsupported()),
        }
    }
}

/// Percent-encodes a query value (unreserved characters pass).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["service"], "registry.docker.io");
        assert_eq!(c.params["scope"], "repository:samalba/my-app:pull,push");
        let b = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(b.scheme, "basic");
        assert_eq!(b.params["realm"], "Registry Realm");
        let t = parse_challenge("Bearer realm=http://x/t, service=s").unwrap();
        assert_eq!(t.params["realm"], "http://x/t");
        assert_eq!(t.params["service"], "s");
        assert_eq!(percent_encode("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
    }
}
