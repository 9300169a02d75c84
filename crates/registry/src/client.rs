//! One registry endpoint: choosing how to reach it (HTTPS, or HTTP where
//! allowed), authenticated requests, and the distribution API calls
//! (manifests, blobs, uploads, catalog, v1 search).
//!
//! Docker Hub (`docker.io`) is reached at `registry-1.docker.io`; its mirrors
//! are separate endpoints (see [`Client::for_mirror`]).

use crate::auth::{AuthError, Authenticator};
use crate::config::RegistryConfig;
use crate::credentials::{CredentialStore, Credentials, CredentialsError};
use crate::http::{Body, HttpError, Request, Response, Transport};
use crate::manifest::{self, MAX_MANIFEST_SIZE};
use skiff_image::Digest;
use std::sync::Arc;
use ureq::http::Method;

/// Errors from registry calls.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("{what}: {status} {message}")]
    Status { what: String, status: u16, code: String, message: String },
    #[error("{what}: unauthorized: authentication required")]
    Unauthorized { what: String },
    #[error("{what} not found: {code}: {message}")]
    NotFound { what: String, code: String, message: String },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("cannot reach registry {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("{what}: digest mismatch: expected {expected}, got {found}")]
    DigestMismatch { what: String, expected: String, found: String },
    #[error("{what}: reading response: {source}")]
    Read { what: String, source: std::io::Error },
}

/// Docker Hub's API host.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A fetched manifest: exact bytes, type and digest.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: Option<String>,
    pub digest: Digest,
}

/// Where a registry is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://host[:port]` (no trailing slash; a mirror may carry a path).
    pub base: String,
    pub verify_tls: bool,
}

/// A client for one registry endpoint; cheap to share between threads.
pub struct Client {
    transport: Transport,
    endpoint: Endpoint,
    /// The registry host as named in references (`docker.io`, `localhost:5000`).
    host: String,
    auth: Arc<Authenticator>,
}

/// Options for reaching registries.
#[derive(Clone)]
pub struct ClientOptions {
    pub config: RegistryConfig,
    pub credentials: Option<CredentialStore>,
    pub transport: Transport,
    /// Where Docker Hub (`docker.io`) is reached: [`DOCKER_HUB_API`] (tests point it elsewhere).
    pub hub_api: String,
}

impl ClientOptions {
    pub fn new(config: RegistryConfig) -> ClientOptions {
        ClientOptions {
            config,
            credentials: Some(CredentialStore::default_location()),
            transport: Transport::new(),
            hub_api: DOCKER_HUB_API.to_string(),
        }
    }

    /// The host[:port] that serves the API of the registry named `host` in references.
    fn api_host<'a>(&'a self, host: &'a str) -> &'a str {
        if host == "docker.io" || host == "index.docker.io" {
            &self.hub_api
        } else {
            host
        }
    }

    fn credentials_for(&self, host: &str) -> Result<Option<Credentials>, ClientError> {
        match &self.credentials {
            Some(s) => Ok(s.get(host)?),
            None => Ok(None),
        }
    }
}

/// Reads the registry's error document: (code, message).
fn error_body(res: &mut Response) -> (String, String) {
    let body = res.read_limited(64 << 10).unwrap_or_default();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
        if let Some(e) = v.get("errors").and_then(|e| e.get(0)) {
            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("").to_ascii_lowercase().replace('_', " ");
            let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("").to_string();
            return (code, msg);
        }
    }
    (String::new(), String::from_utf8_lossy(&body).trim().chars().take(300).collect())
}

impl Client {
    /// Connects to the registry `host` (as named in references), pinging `/v2/` to pick HTTPS
    /// or, where allowed, HTTP.
    pub fn connect(opts: &ClientOptions, host: &str) -> Result<Client, ClientError> {
        let api = opts.api_host(host);
        let insecure = opts.config.is_insecure(api);
        let mut candidates = vec![Endpoint { base: format!("https://{api}"), verify_tls: !insecure }];
        if opts.config.allows_http(api) {
            candidates.push(Endpoint { base: format!("http://{api}"), verify_tls: true });
        }
        let creds = opts.credentials_for(host)?;
        let mut first_err: Option<String> = None;
        for ep in candidates {
            let c = Client::with_endpoint(opts, host, ep, creds.clone());
            match c.ping() {
                Ok(()) => return Ok(c),
                Err(e) => {
                    tracing::debug!("ping {}: {e}", c.endpoint.base);
                    first_err.get_or_insert(e.to_string());
                }
            }
        }
        Err(ClientError::Unreachable { host: host.to_string(), reason: first_err.unwrap_or_default() })
    }

    /// A client for a Docker Hub mirror (`https://mirror.example/`), for pulls of `docker.io` images.
    pub fn for_mirror(opts: &ClientOptions, mirror: &str) -> Result<Client, ClientError> {
        let base = mirror.trim_end_matches('/').to_string();
        let host = crate::http::url_host(&base).unwrap_or("").to_string();
        let verify_tls = !opts.config.is_insecure(&host);
        let c = Client::with_endpoint(opts, &host, Endpoint { base, verify_tls }, opts.credentials_for(&host)?);
        c.ping()?;
        Ok(c)
    }

    fn with_endpoint(opts: &ClientOptions, host: &str, endpoint: Endpoint, creds: Option<Credentials>) -> Client {
        let auth = Arc::new(Authenticator::new(host, creds, endpoint.verify_tls));
        Client { transport: opts.transport.clone(), endpoint, host: host.to_string(), auth }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.base)
    }

    /// `GET /v2/`: 200 or 401 both mean a registry answers here.
    pub fn ping(&self) -> Result<(), ClientError> {
        let url = self.url("/v2/");
        let res = self.transport.send_once(&Request::get(url.clone()), self.endpoint.verify_tls)?;
        match res.status {
            200 | 401 => Ok(()),
            s => {
                Err(ClientError::Status { what: url, status: s, code: String::new(), message: "not a registry".into() })
            }
        }
    }

    /// Sends with the cached authorization; answers one 401 challenge and retries.
    pub fn send(&self, req: Request, scopes: &[String]) -> Result<Response, ClientError> {
        let mut first = req.clone();
        if let Some(h) = self.auth.cached(scopes) {
            first = first.header("Authorization", h);
        }
        let res = self.transport.send(&first, self.endpoint.verify_tls)?;
        if res.status != 401 {
            return Ok(res);
        }
        let Some(challenge) = res.header("www-authenticate").map(str::to_string) else { return Ok(res) };
        drop(res);
        let h = self.auth.respond(&self.transport, &challenge, scopes)?;
        Ok(self.transport.send(&req.header("Authorization", h), self.endpoint.verify_tls)?)
    }

    pub fn pull_scope(repo: &str) -> Vec<String> {
        vec![format!("repository:{repo}:pull")]
    }

    pub fn push_scopes(repo: &str, mount_from: &[String]) -> Vec<String> {
        let mut v = vec![format!("repository:{repo}:pull,push")];
        v.extend(mount_from.iter().filter(|r| *r != repo).map(|r| format!("repository:{r}:pull")));
        v
    }

    fn fail(&self, what: String, mut res: Response) -> ClientError {
        let (code, message) = error_body(&mut res);
        match res.status {
            401 => ClientError::Unauthorized { what },
            404 => {
                ClientError::NotFound { what, code: if code.is_empty() { "not found".into() } else { code }, message }
            }
            status => ClientError::Status { what, status, code, message },
        }
    }

    /// `GET /v2/<repo>/manifests/<reference>`, verified against `reference` when it is a digest.
    pub fn get_manifest(&self, repo: &str, reference: &str, what: &str) -> Result<FetchedManifest, ClientError> {
        let req =
            Request::get(self.url(&format!("/v2/{repo}/manifests/{reference}"))).header("Accept", manifest::ACCEPT);
        let mut res = self.send(req, &Self::pull_scope(repo))?;
        if !res.is_success() {
            return Err(self.fail(format!("manifest for {what}"), res));
        }
        if res.body.content_length().is_some_and(|l| l > MAX_MANIFEST_SIZE) {
            return Err(ClientError::Invalid {
                what: format!("manifest for {what}"),
                reason: format!("larger than {MAX_MANIFEST_SIZE} bytes"),
            });
        }
        let bytes = res
            .read_limited(MAX_MANIFEST_SIZE + 1)
            .map_err(|source| ClientError::Read { what: format!("manifest for {what}"), source })?;
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(ClientError::Invalid {
                what: format!("manifest for {what}"),
                reason: format!("larger than {MAX_MANIFEST_SIZE} bytes"),
            });
        }
        let digest = Digest::of(&bytes);
        if reference.starts_with("sha256:") && digest.to_string() != reference {
            return Err(ClientError::DigestMismatch {
                what: format!("manifest verification failed for digest {reference}"),
                expected: reference.to_string(),
                found: digest.to_string(),
            });
        }
        Ok(FetchedManifest { bytes, media_type: res.header("content-type").map(str::to_string), digest })
    }

    /// `GET /v2/<repo>/blobs/<digest>` from byte `offset` (a `Range` request when non-zero).
    /// Returns the response (200, or 206 when the range was honoured).
    pub fn get_blob(&self, repo: &str, digest: &str, offset: u64) -> Result<Response, ClientError> {
        let mut req = Request::get(self.url(&format!("/v2/{repo}/blobs/{digest}")));
        if offset > 0 {
            req = req.header("Range", format!("bytes={offset}-"));
        }
        let res = self.send(req, &Self::pull_scope(repo))?;
        if res.status == 200 || res.status == 206 {
            return Ok(res);
        }
        Err(self.fail(format!("blob {digest} of {repo}"), res))
    }

    /// Reads a small blob whole (a config), checking digest and size.
    pub fn get_small_blob(&self, repo: &str, desc: &manifest::Descriptor, limit: u64) -> Result<Vec<u8>, ClientError> {
        let what = format!("blob {}", desc.digest);
        if desc.size > limit {
            return Err(ClientError::Invalid { what, reason: format!("larger than {limit} bytes") });
        }
        let mut res = self.get_blob(repo, &desc.digest, 0)?;
        let bytes =
            res.read_limited(desc.size + 1).map_err(|source| ClientError::Read { what: what.clone(), source })?;
        let found = Digest::of(&bytes).to_string();
        if found != desc.digest {
            return Err(ClientError::DigestMismatch { what, expected: desc.digest.clone(), found });
        }
        if bytes.len() as u64 != desc.size {
            return Err(ClientError::Invalid {
                what,
                reason: format!("size mismatch: expected {} bytes, got {}", desc.size, bytes.len()),
            });
        }
        Ok(bytes)
    }

    /// `HEAD /v2/<repo>/blobs/<digest>`: whether the registry has it.
    pub fn blob_exists(&self, repo: &str, digest: &str, scopes: &[String]) -> Result<bool, ClientError> {
        let req = Request::new(Method::HEAD, self.url(&format!("/v2/{repo}/blobs/{digest}")));
        let res = self.send(req, scopes)?;
        match res.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.fail(format!("blob {digest} of {repo}"), res)),
        }
    }

    /// Starts an upload, trying a cross-repository mount first when `mount_from` is given.
    /// Returns `None` when the mount succeeded, else the upload location.
    pub fn start_upload(
        &self,
        repo: &str,
        digest: &str,
        mount_from: Option<&str>,
        scopes: &[String],
    ) -> Result<Option<String>, ClientError> {
        let mut path = format!("/v2/{repo}/blobs/uploads/");
        if let Some(from) = mount_from {
            path.push_str(&format!("?mount={digest}&from={from}"));
        }
        let req = Request::new(Method::POST, self.url(&path));
        let res = self.send(req, scopes)?;
        match res.status {
            201 if mount_from.is_some() => Ok(None),
            202 => {
                let loc = res.header("location").ok_or_else(|| ClientError::Invalid {
                    what: format!("upload to {repo}"),
                    reason: "no Location header".into(),
                })?;
                Ok(Some(crate::http::resolve_url(&res.url, loc).unwrap_or_else(|| loc.to_string())))
            }
            _ => Err(self.fail(format!("upload to {repo}"), res)),
        }
    }

    fn location_of(&self, res: &Response, what: &str) -> Result<String, ClientError> {
        let loc = res
            .header("location")
            .ok_or_else(|| ClientError::Invalid { what: what.to_string(), reason: "no Location header".into() })?;
        Ok(crate::http::resolve_url(&res.url, loc).unwrap_or_else(|| loc.to_string()))
    }

    /// Uploads `body` to an upload `location`: in one PATCH (`chunk` = None) or in PATCH chunks of
    /// `chunk` bytes, then the closing `PUT ?digest=`. Each request goes to the latest Location.
    pub fn upload(
        &self,
        location: String,
        digest: &str,
        body: Body,
        chunk: Option<u64>,
        scopes: &[String],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), ClientError> {
        let what = format!("upload of {digest}");
        let total = body.len();
        let mut loc = location;
        let chunk = chunk.unwrap_or(total).max(1);
        let mut off = 0;
        while off < total {
            let len = chunk.min(total - off);
            let part = match &body {
                Body::File { file, offset, .. } => Body::File { file: file.clone(), offset: offset + off, len },
                Body::Bytes(b) => Body::Bytes(Arc::new(b[off as usize..(off + len) as usize].to_vec())),
                Body::Empty => Body::Empty,
            };
            let mut req =
                Request::new(Method::PATCH, loc.clone()).header("Content-Type", "application/octet-stream").body(part);
            if len < total {
                req = req.header("Content-Range", format!("{}-{}", off, off + len - 1));
            }
            let res = self.send(req, scopes)?;
            if res.status != 202 && res.status != 204 {
                return Err(self.fail(what, res));
            }
            loc = self.location_of(&res, &what)?;
            off += len;
            progress(len);
        }
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put = Request::new(Method::PUT, format!("{loc}{sep}digest={digest}"))
            .header("Content-Type", "application/octet-stream");
        let res = self.send(put, scopes)?;
        if res.status != 201 && res.status != 204 && res.status != 200 {
            return Err(self.fail(what, res));
        }
        Ok(())
    }

    /// `PUT /v2/<repo>/manifests/<reference>`; returns the digest the registry reports (or ours).
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
        scopes: &[String],
    ) -> Result<Digest, ClientError> {
        let digest = Digest::of(&bytes);
        let req = Request::new(Method::PUT, self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("Content-Type", media_type)
            .body(Body::Bytes(Arc::new(bytes)));
        let res = self.send(req, scopes)?;
        if !res.is_success() {
            return Err(self.fail(format!("manifest {reference} of {repo}"), res));
        }
        if let Some(d) = res.header("docker-content-digest") {
            if d != digest.to_string() {
                return Err(ClientError::DigestMismatch {
                    what: format!("manifest {reference} of {repo}"),
                    expected: digest.to_string(),
                    found: d.to_string(),
                });
            }
        }
        Ok(digest)
    }

    /// `GET /v2/_catalog`, following `Link` pagination, up to `limit` names.
    pub fn catalog(&self, limit: usize) -> Result<Vec<String>, ClientError> {
        let scopes = vec!["registry:catalog:*".to_string()];
        let mut url = self.url("/v2/_catalog?n=1000");
        let mut out = Vec::new();
        loop {
            let mut res = self.send(Request::get(url.clone()), &scopes)?;
            if !res.is_success() {
                return Err(self.fail("catalog".into(), res));
            }
            let body = res.read_limited(16 << 20).map_err(|source| ClientError::Read { what: url.clone(), source })?;
            let v: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| ClientError::Invalid { what: "catalog".into(), reason: e.to_string() })?;
            for r in v.get("repositories").and_then(|r| r.as_array()).into_iter().flatten() {
                if let Some(s) = r.as_str() {
                    out.push(s.to_string());
                }
            }
            let next = res.header("link").and_then(|l| {
                let start = l.find('<')? + 1;
                let end = l.find('>')?;
                Some(l[start..end].to_string())
            });
            match next {
                Some(n) if out.len() < limit => url = crate::http::resolve_url(&url, &n).unwrap_or(n),
                _ => return Ok(out),
            }
        }
    }

    /// `GET /v1/search?q=&n=`: `Ok(None)` when the registry has no v1 search API.
    pub fn v1_search(&self, term: &str, limit: usize) -> Result<Option<serde_json::Value>, ClientError> {
        let url = self.url(&format!("/v1/search?q={}&n={limit}", crate::auth::percent_encode(term)));
        let mut res = self.send(Request::get(url.clone()).header("X-Docker-Token", "true"), &[])?;
        if res.status == 404 || res.status == 405 {
            return Ok(None);
        }
        if !res.is_success() {
            return Err(self.fail("search".into(), res));
        }
        let body = res.read_limited(16 << 20).map_err(|source| ClientError::Read { what: url.clone(), source })?;
        match serde_json::from_slice(&body) {
            Ok(v) => Ok(Some(v)),
            Err(_) => Ok(None),
        }
    }
}
