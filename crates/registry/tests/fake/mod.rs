//! An in-process fake registry (std `TcpListener` + a thread per connection)
//! that can misbehave on purpose, and the busybox fixture as registry content.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub use skiff_testutil::fixture;

pub const BUSYBOX_ID: &str = "sha256:b8fec42fe388bb1127f7a3df258520d7f5475fa3121aafc38401edae7ff3e520";

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(&k.to_ascii_lowercase()).map(String::as_str)
    }
}

/// A response; `cut_after` closes the connection after that many body bytes
/// (with the full Content-Length announced); `trickle` sends the body in small pieces.
#[derive(Debug, Clone, Default)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub cut_after: Option<usize>,
    pub trickle: Option<usize>,
}

impl Resp {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Resp {
        Resp { status, body: body.into(), ..Default::default() }
    }
    pub fn header(mut self, k: &str, v: impl Into<String>) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
}

pub type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

/// A running fake server.
pub struct Fake {
    pub addr: String,
    pub log: Arc<Mutex<Vec<Req>>>,
}

impl Fake {
    pub fn start(handler: Handler) -> Fake {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let log: Arc<Mutex<Vec<Req>>> = Arc::default();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                let h = handler.clone();
                let log = log2.clone();
                std::thread::spawn(move || serve(s, h, log));
            }
        });
        Fake { addr, log }
    }

    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(s: TcpStream, h: Handler, log: Arc<Mutex<Vec<Req>>>) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            // Not HTTP (e.g. a TLS hello): refuse and close.
            let _ = w.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        };
        if !line.contains("HTTP/1.") {
            let _ = w.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        }
        let (method, path) = (method.to_string(), path.to_string());
        let mut headers = HashMap::new();
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).unwrap_or(0) == 0 {
                return;
            }
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let mut body = Vec::new();
        if let Some(n) = headers.get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            body.resize(n, 0);
            if r.read_exact(&mut body).is_err() {
                return;
            }
        } else if headers.get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let mut l = String::new();
                r.read_line(&mut l).unwrap();
                let n = usize::from_str_radix(l.trim(), 16).unwrap();
                let mut c = vec![0u8; n + 2];
                r.read_exact(&mut c).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&c[..n]);
            }
        }
        let req = Req { method, path, headers, body };
        log.lock().unwrap().push(req.clone());
        let resp = h(&req);
        let mut head = format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\n", resp.status, resp.body.len());
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if w.write_all(head.as_bytes()).is_err() {
            return;
        }
        if req.method == "HEAD" {
            continue;
        }
        let body = match resp.cut_after {
            Some(n) => &resp.body[..n.min(resp.body.len())],
            None => &resp.body[..],
        };
        match resp.trickle {
            Some(step) => {
                for c in body.chunks(step) {
                    if w.write_all(c).and_then(|_| w.flush()).is_err() {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            }
            None => {
                if w.write_all(body).is_err() {
                    return;
                }
            }
        }
        if resp.cut_after.is_some() {
            let _ = w.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

/// The busybox fixture as registry content: config, gzip layer, manifest.
pub struct Image {
    pub config: Vec<u8>,
    pub layer_tar: Vec<u8>,
    pub layer: Vec<u8>,
    pub layer_digest: String,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
}

pub fn sha(data: &[u8]) -> String {
    skiff_image::Digest::of(data).to_string()
}

pub fn busybox(compress: &str) -> Image {
    let mut a = tar::Archive::new(std::fs::File::open(fixture("busybox.docker.tar")).unwrap());
    let (mut config, mut layer_tar) = (Vec::new(), Vec::new());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        if p == format!("{}.json", &BUSYBOX_ID[7..]) {
            e.read_to_end(&mut config).unwrap();
        } else if p.ends_with("layer.tar") {
            e.read_to_end(&mut layer_tar).unwrap();
        }
    }
    let (layer, media_type) = match compress {
        "gzip" => {
            let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            g.write_all(&layer_tar).unwrap();
            (g.finish().unwrap(), "application/vnd.docker.image.rootfs.diff.tar.gzip")
        }
        "zstd" => (zstd::encode_all(&layer_tar[..], 3).unwrap(), "application/vnd.oci.image.layer.v1.tar+zstd"),
        _ => (layer_tar.clone(), "application/vnd.oci.image.layer.v1.tar"),
    };
    let manifest_type = if compress == "gzip" {
        "application/vnd.docker.distribution.manifest.v2+json"
    } else {
        "application/vnd.oci.image.manifest.v1+json"
    };
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": sha(&config), "size": config.len()},
        "layers": [{"mediaType": media_type, "digest": sha(&layer), "size": layer.len()}],
    }))
    .unwrap();
    Image {
        layer_digest: sha(&layer),
        config_digest: sha(&config),
        manifest_digest: sha(&manifest),
        config,
        layer_tar,
        layer,
        manifest,
    }
}

/// A well-behaved registry for `img` under repository `repo`, with a hook that may override
/// any response (return Some to take over).
pub fn registry(img: &Image, repo: &str, hook: impl Fn(&Req) -> Option<Resp> + Send + Sync + 'static) -> Handler {
    let manifest = img.manifest.clone();
    let ct: String =
        serde_json::from_slice::<serde_json::Value>(&manifest).unwrap()["mediaType"].as_str().unwrap().into();
    let md = img.manifest_digest.clone();
    let blobs: HashMap<String, Vec<u8>> =
        [(img.layer_digest.clone(), img.layer.clone()), (img.config_digest.clone(), img.config.clone())].into();
    let repo = repo.to_string();
    Arc::new(move |r: &Req| {
        if let Some(x) = hook(r) {
            return x;
        }
        if r.path == "/v2/" {
            return Resp::new(200, "{}");
        }
        let mpath = format!("/v2/{repo}/manifests/");
        if let Some(reference) = r.path.strip_prefix(&mpath) {
            if reference == "latest" || reference == md {
                return Resp::new(200, manifest.clone())
                    .header("Content-Type", ct.clone())
                    .header("Docker-Content-Digest", md.clone());
            }
            return Resp::new(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#);
        }
        let bpath = format!("/v2/{repo}/blobs/");
        if let Some(d) = r.path.strip_prefix(&bpath) {
            if let Some(b) = blobs.get(d) {
                if let Some(range) = r.header("range").and_then(|v| v.strip_prefix("bytes=")) {
                    let start: usize = range.trim_end_matches('-').parse().unwrap();
                    return Resp::new(206, b[start..].to_vec())
                        .header("Content-Range", format!("bytes {start}-{}/{}", b.len() - 1, b.len()));
                }
                return Resp::new(200, b.clone());
            }
            return Resp::new(404, r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#);
        }
        Resp::new(404, "")
    })
}
