//! The HTTP transport: one request at a time over a pooled `ureq` agent, with
//! retries and redirects done here rather than inside the library.
//!
//! Why `ureq` 3: it is small and synchronous (pull and push use threads for
//! parallel layers; no async runtime is needed), speaks rustls, and verifies
//! against the platform's roots (`rustls-platform-verifier`, i.e. the system
//! store). Two agents exist: a verifying one and, for registries configured
//! insecure, one that accepts any certificate.
//!
//! Redirects are followed by hand so `Authorization` is dropped whenever the
//! target host differs (blob GETs are commonly redirected to a CDN; moby's
//! `trustedLocation` does the same). Transient failures (connection errors,
//! 5xx, 429) are retried with exponential backoff; a `Retry-After` header is
//! honoured, capped so a hostile registry cannot park us for hours.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use ureq::http;

/// Errors from the transport.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {url}: {source}")]
    Transport { method: String, url: String, source: Box<ureq::Error> },
    #[error("{method} {url}: too many redirects")]
    TooManyRedirects { method: String, url: String },
    #[error("{method} {url}: invalid redirect location {location:?}")]
    BadRedirect { method: String, url: String, location: String },
    #[error("invalid url {0:?}")]
    BadUrl(String),
}

/// A request body that can be sent again on a retry.
#[derive(Clone, Default)]
pub enum Body {
    #[default]
    Empty,
    Bytes(Arc<Vec<u8>>),
    /// `len` bytes of a file from `offset`.
    File {
        file: Arc<std::fs::File>,
        offset: u64,
        len: u64,
    },
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads a file range with positioned reads (so the shared file's offset never moves).
struct FileRange {
    file: Arc<std::fs::File>,
    pos: u64,
    end: u64,
}

impl Read for FileRange {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// One request.
#[derive(Clone)]
pub struct Request {
    pub method: http::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Request {
    pub fn new(method: http::Method, url: impl Into<String>) -> Request {
        Request { method, url: url.into(), headers: Vec::new(), body: Body::Empty }
    }

    pub fn get(url: impl Into<String>) -> Request {
        Request::new(http::Method::GET, url)
    }

    pub fn header(mut self, k: &str, v: impl Into<String>) -> Request {
        self.headers.push((k.to_string(), v.into()));
        self
    }

    pub fn body(mut self, body: Body) -> Request {
        self.body = body;
        self
    }
}

/// A response: status, headers and the body stream.
pub struct Response {
    pub status: u16,
    /// The URL that answered (after redirects).
    pub url: String,
    pub headers: http::HeaderMap,
    pub body: ureq::Body,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Reads a small body whole (error documents, manifests, tokens), at most `limit` bytes.
    pub fn read_limited(&mut self, limit: u64) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.body.as_reader().take(limit).read_to_end(&mut out)?;
        Ok(out)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Retry policy: attempts and backoff.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 5, base_delay: Duration::from_millis(200), max_delay: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// Delay before retry number `n` (1-based), or what the server asked for.
    pub fn delay(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(Duration::from_secs(60));
        }
        let exp = self.base_delay.saturating_mul(1u32 << (n - 1).min(10));
        exp.min(self.max_delay)
    }
}

/// Whether a status is worth retrying.
pub fn transient_status(status: u16) -> bool {
    status == 429 || status == 408 || (500..600).contains(&status) && status != 501
}

/// `Retry-After` as seconds (HTTP dates are not worth supporting here).
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The `host[:port]` part of a URL.
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    Some(host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host))
}

/// Resolves a `Location` against the URL it came from.
pub fn resolve_url(base: &str, location: &str) -> Option<String> {
    if location.contains("://") {
        return Some(location.to_string());
    }
    let (scheme, rest) = base.split_once("://")?;
    let host_end = rest.find('/').unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..host_end]);
    if let Some(p) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{p}"));
    }
    if location.starts_with('/') {
        return Some(format!("{origin}{location}"));
    }
    let path = &rest[host_end..];
    let path = path.split(['?', '#']).next().unwrap_or("");
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    Some(format!("{origin}{dir}/{location}"))
}

/// The transport: agents and the retry policy.
#[derive(Clone)]
pub struct Transport {
    verified: ureq::Agent,
    unverified: ureq::Agent,
    pub retry: RetryPolicy,
}

fn agent(verify: bool) -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    let tls = TlsConfig::builder().root_certs(RootCerts::PlatformVerifier).disable_verification(!verify).build();
    let cfg = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .tls_config(tls)
        .user_agent(concat!("skiff/", env!("CARGO_PKG_VERSION")))
        .accept_encoding("identity")
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .max_idle_connections_per_host(8)
        .build();
    ureq::Agent::new_with_config(cfg)
}

impl Default for Transport {
    fn default() -> Self {
        Transport::new()
    }
}

impl Transport {
    pub fn new() -> Transport {
        Transport { verified: agent(true), unverified: agent(false), retry: RetryPolicy::default() }
    }

    /// Sends once (no retries), following redirects; `verify` picks the TLS agent.
    pub fn send_once(&self, req: &Request, verify: bool) -> Result<Response, HttpError> {
        let agent = if verify { &self.verified } else { &self.unverified };
        let origin_host = url_host(&req.url).unwrap_or("").to_string();
        let mut url = req.url.clone();
        let mut method = req.method.clone();
        let mut body = req.body.clone();
        for _ in 0..10 {
            let same_host = url_host(&url) == Some(origin_host.as_str());
            let mut b = http::Request::builder().method(method.clone()).uri(&url);
            for (k, v) in &req.headers {
                if !same_host && k.eq_ignore_ascii_case("authorization") {
                    continue; // never leak credentials to another host
                }
                b = b.header(k, v);
            }
            if method != http::Method::GET && method != http::Method::HEAD {
                b = b.header("content-length", body.len().to_string());
            }
            let built = |b: http::request::Builder, sb| b.body(sb).map_err(|_| HttpError::BadUrl(url.clone()));
            let res = match &body {
                Body::Empty => agent.run(built(b, ureq::SendBody::none())?),
                Body::Bytes(bytes) => agent
                    .run(built(b, ureq::SendBody::from_owned_reader(std::io::Cursor::new(bytes.as_ref().clone())))?),
                Body::File { file, offset, len } => {
                    let r = FileRange { file: file.clone(), pos: *offset, end: offset + len };
                    agent.run(built(b, ureq::SendBody::from_owned_reader(r))?)
                }
            };
            let res = res.map_err(|e| HttpError::Transport {
                method: method.to_string(),
                url: url.clone(),
                source: Box::new(e),
            })?;
            let status = res.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let loc = res.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let next = resolve_url(&url, &loc).ok_or_else(|| HttpError::BadRedirect {
                    method: method.to_string(),
                    url: url.clone(),
                    location: loc.clone(),
                })?;
                if status == 303 || (matches!(status, 301 | 302) && method == http::Method::POST) {
                    method = http::Method::GET;
                    body = Body::Empty;
                }
                url = next;
                continue;
            }
            let (parts, b) = res.into_parts();
            return Ok(Response { status, url, headers: parts.headers, body: b });
        }
        Err(HttpError::TooManyRedirects { method: req.method.to_string(), url: req.url.clone() })
    }

    /// Sends with retries on connection errors, 5xx, 408 and 429.
    pub fn send(&self, req: &Request, verify: bool) -> Result<Response, HttpError> {
        let mut n = 0;
        loop {
            n += 1;
            match self.send_once(req, verify) {
                Ok(res) if transient_status(res.status) && n < self.retry.attempts => {
                    let wait = self.retry.delay(n, retry_after(&res.headers));
                    tracing::debug!("{} {}: status {}, retrying in {:?}", req.method, req.url, res.status, wait);
                    std::thread::sleep(wait);
                }
                Ok(res) => return Ok(res),
                Err(e) if n < self.retry.attempts && retryable(&e) => {
                    let wait = self.retry.delay(n, None);
                    tracing::debug!("{e}: retrying in {wait:?}");
                    std::thread::sleep(wait);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether a transport error may go away on its own (not TLS or bad URLs).
pub fn retryable(e: &HttpError) -> bool {
    match e {
        HttpError::Transport { source, .. } => matches!(
            source.as_ref(),
            ureq::Error::Io(_) | ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_)
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_locations_as_browsers_do() {
        let base = "http://r:5000/v2/a/blobs/uploads/?x=1";
        assert_eq!(
            resolve_url(base, "/v2/a/blobs/uploads/u1?_state=s").unwrap(),
            "http://r:5000/v2/a/blobs/uploads/u1?_state=s"
        );
        assert_eq!(resolve_url(base, "https://cdn/x").unwrap(), "https://cdn/x");
        assert_eq!(resolve_url(base, "u2").unwrap(), "http://r:5000/v2/a/blobs/uploads/u2");
        assert_eq!(url_host("https://user@h:1/x?y"), Some("h:1"));
    }

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let p = RetryPolicy::default();
        assert!(p.delay(2, None) > p.delay(1, None));
        assert_eq!(p.delay(1, Some(Duration::from_secs(1))), Duration::from_secs(1));
        assert_eq!(p.delay(1, Some(Duration::from_secs(9999))), Duration::from_secs(60));
        assert!(transient_status(503) && transient_status(429) && !transient_status(404));
    }
}
