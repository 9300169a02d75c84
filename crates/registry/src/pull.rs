//! `pull`: manifest (or index → platform → manifest), config, then the layers
//! in parallel, each streamed once: the bytes go into a store blob as received
//! while a decoder in the same pass produces the tar, whose digest (the DiffID)
//! and Docker layer size are computed on the fly. Everything is verified
//! (manifest digest when pulled by digest, config digest and size, every layer
//! digest, size and DiffID) before [`Store::commit_image`] makes anything
//! visible; a failure drops the anonymous blobs, so the store is unchanged.
//!
//! Interrupted layer downloads resume with a `Range` request; a registry that
//! ignores the range (200) restarts the layer from zero.
//!
//! Each layer's stream is a pipeline of threads, so the stages overlap on
//! machines with more than one core: the receiving thread writes the
//! compressed bytes (hashed on the blob writer's own thread), a decoding
//! thread decompresses and sizes the tar, and a third thread hashes the tar.

use crate::client::{Client, ClientError, ClientOptions};
use crate::manifest::{self, media_types as mt, Descriptor, ImageManifest, Manifest, ManifestError, Platform};
use crate::tarsize::TarSizer;
use skiff_image::blob::{BlobError, BlobWriter};
use skiff_image::digest::{Hasher, ThreadedHasher};
use skiff_image::store::{LayerBlob, NewImage, NewLayer};
use skiff_image::{Digest, Reference, Store, StoreError};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Errors from a pull.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("layer {digest}: {reason}")]
    Layer { digest: String, reason: String },
    #[error("image config {digest}: {reason}")]
    Config { digest: String, reason: String },
}

impl PullError {
    /// What kind of failure this is (`skiff_image::errdefs`): a repository, manifest or platform
    /// the registry does not have, or will not show us, is not found (Docker's daemon reports
    /// "pull access denied ... repository does not exist or may require 'docker login'" as 404);
    /// the store's own errors keep their kind; the rest are system failures.
    pub fn kind(&self) -> skiff_image::ErrorKind {
        use skiff_image::ErrorKind;
        match self {
            PullError::Store(e) => e.kind(),
            PullError::Client(ClientError::NotFound { .. } | ClientError::Unauthorized { .. })
            | PullError::Manifest(ManifestError::NoMatchingPlatform { .. }) => ErrorKind::NotFound,
            _ => ErrorKind::System,
        }
    }
}

/// What the pull reports as it goes (Docker's progress lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// `<tag>: Pulling from <repo>`
    PullingFrom { tag: String, repo: String },
    /// `<short id>: <status>` (Pulling fs layer, Already exists, Verifying Checksum, Download complete, Pull complete).
    Layer { id: String, status: String },
    /// Bytes of a layer received so far (for progress bars).
    Progress { id: String, current: u64, total: u64 },
    /// `Digest: sha256:…`
    Digest(Digest),
    /// `Status: …`
    Status(String),
}

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Platform to pick from an index (default: this machine's).
    pub platform: Option<Platform>,
    /// Layers downloaded at once (Docker's default is 3).
    pub concurrency: usize,
    /// Attempts per layer on read failures (connection reset, truncation).
    pub layer_attempts: u32,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions { platform: None, concurrency: 3, layer_attempts: 5 }
    }
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub id: Digest,
    /// The reference pulled (with its tag or digest).
    pub reference: Reference,
    /// The digest of the top-level manifest (or index), as `Digest:` shows it.
    pub digest: Digest,
    /// False when the image was already in the store (nothing was fetched).
    pub downloaded: bool,
}

/// The endpoints to try for a registry host: Docker Hub's mirrors in order (`Some(url)`), then the
/// registry itself (`None`). Each is connected only when its turn comes, so a mirror that serves the
/// image means Docker Hub is never contacted.
fn endpoints<'a>(opts: &'a ClientOptions, host: &str) -> Vec<Option<&'a str>> {
    let mut v = Vec::new();
    if host == skiff_image::reference::DEFAULT_DOMAIN {
        v.extend(opts.config.mirrors.iter().map(|m| Some(m.as_str())));
    }
    v.push(None);
    v
}

/// Fetches the manifest for `reference`, trying mirrors first for Docker Hub.
pub fn resolve_manifest(
    opts: &ClientOptions,
    reference: &Reference,
) -> Result<(Client, crate::client::FetchedManifest), ClientError> {
    let tag_or_digest =
        reference.digest().map(|d| d.to_string()).unwrap_or_else(|| reference.tag().unwrap_or("latest").to_string());
    let what = reference.familiar();
    let mut last = None;
    let candidates = endpoints(opts, reference.domain());
    let n = candidates.len();
    for (i, ep) in candidates.into_iter().enumerate() {
        let c = match ep {
            Some(mirror) => Client::for_mirror(opts, mirror),
            None => Client::connect(opts, reference.domain()),
        };
        let attempt = c.and_then(|c| c.get_manifest(reference.path(), &tag_or_digest, &what).map(|m| (c, m)));
        match attempt {
            Ok(found) => return Ok(found),
            Err(e) if i + 1 < n => {
                tracing::debug!("mirror failed, trying the next endpoint: {e}");
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(ClientError::Unreachable { host: reference.domain().into(), reason: "no endpoint".into() }))
}

/// Resolves an index to one platform's manifest; returns it with its digest.
pub fn platform_manifest(
    client: &Client,
    reference: &Reference,
    top: &crate::client::FetchedManifest,
    platform: &Platform,
) -> Result<(ImageManifest, Digest), PullError> {
    let what = reference.familiar();
    match manifest::parse(&top.bytes, top.media_type.as_deref(), &what)? {
        Manifest::Image(m) => Ok((m, top.digest.clone())),
        Manifest::Index(i) => {
            let d = manifest::select(&i, platform)?;
            let m = client.get_manifest(reference.path(), &d.digest, &what)?;
            if m.bytes.len() as u64 != d.size {
                return Err(PullError::Client(ClientError::Invalid {
                    what: format!("manifest {}", d.digest),
                    reason: format!("size mismatch: expected {} bytes, got {}", d.size, m.bytes.len()),
                }));
            }
            match manifest::parse(&m.bytes, m.media_type.as_deref(), &what)? {
                Manifest::Image(im) => Ok((im, m.digest)),
                Manifest::Index(_) => Err(PullError::Manifest(ManifestError::Invalid {
                    what,
                    reason: "an index entry points to another index".into(),
                })),
            }
        }
    }
}

/// Pulls one image into the store.
pub fn pull(
    store: &Store,
    opts: &ClientOptions,
    reference: &Reference,
    popts: &PullOptions,
    events: &(dyn Fn(PullEvent) + Sync),
) -> Result<Pulled, PullError> {
    let reference = reference.clone().or_default_tag();
    let shown_tag = match (reference.tag(), reference.digest()) {
        (_, Some(d)) => d.to_string(),
        (Some(t), None) => t.to_string(),
        _ => "latest".into(),
    };
    let (client, top) = resolve_manifest(opts, &reference)?;
    // Once the manifest is found, as Docker says it; the repository by its path alone, whatever the
    // registry: `library/busybox`, `bb`.
    events(PullEvent::PullingFrom { tag: shown_tag, repo: reference.path().to_string() });
    let platform = popts.platform.clone().unwrap_or_else(Platform::host);
    let (m, _manifest_digest) = platform_manifest(&client, &reference, &top, &platform)?;
    let repo = reference.path().to_string();
    // Config: small, fetched whole and verified.
    let config = client.get_small_blob(&repo, &m.config, skiff_image::config::MAX_CONFIG_SIZE)?;
    let cfg = skiff_image::config::ImageConfig::parse(&config, &m.config.digest).map_err(StoreError::from)?;
    let id = Digest::of(&config);
    if cfg.rootfs.diff_ids.len() != m.layers.len() {
        return Err(PullError::Config {
            digest: m.config.digest.clone(),
            reason: format!(
                "invalid manifest, layers length mismatch: config has {} diff_ids, manifest has {} layers",
                cfg.rootfs.diff_ids.len(),
                m.layers.len()
            ),
        });
    }
    for l in &m.layers {
        if !manifest::layer_is_known(&l.media_type) {
            return Err(PullError::Layer {
                digest: l.digest.clone(),
                reason: format!("unsupported layer media type {:?}", l.media_type),
            });
        }
        Digest::parse(&l.digest).map_err(|e| PullError::Layer { digest: l.digest.clone(), reason: e.to_string() })?;
    }
    let mut tags = Vec::new();
    if reference.digest().is_none() {
        tags.push(reference.clone());
    }
    let repo_digest = Reference::parse(&reference.name()).map(|r| r.with_digest(top.digest.clone())).ok();
    tags.extend(repo_digest);
    if store.image(&id).is_ok() {
        // Nothing to fetch. Docker says "up to date" only when the name already meant this image;
        // a name that is new, or moves here, is "Downloaded newer image" even so.
        let named_before = store.resolve(&reference.to_string()).is_ok_and(|img| img.id == id);
        for t in &tags {
            store.tag(&id, t)?;
        }
        events(PullEvent::Digest(top.digest.clone()));
        let status = if named_before { "Image is up to date for" } else { "Downloaded newer image for" };
        events(PullEvent::Status(format!("{status} {}", reference.familiar())));
        return Ok(Pulled { id, reference, digest: top.digest, downloaded: false });
    }
    let chain = Digest::chain_ids(&cfg.rootfs.diff_ids);
    let mut slots: Vec<Option<NewLayer>> = Vec::with_capacity(m.layers.len());
    let mut todo = Vec::new();
    for (i, l) in m.layers.iter().enumerate() {
        let short = short_id(&l.digest);
        match store.layer(&chain[i])? {
            Some(rec) => {
                events(PullEvent::Layer { id: short, status: "Already exists".into() });
                slots.push(Some(NewLayer {
                    diff_id: rec.diff_id,
                    blob: LayerBlob::Existing(rec.blob),
                    size: rec.size,
                    media_type: rec.media_type,
                }));
            }
            None => {
                events(PullEvent::Layer { id: short, status: "Pulling fs layer".into() });
                slots.push(None);
                todo.push(i);
            }
        }
    }
    let results: Mutex<Vec<(usize, Result<NewLayer, PullError>)>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..popts.concurrency.max(1).min(todo.len().max(1)) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= todo.len() || failed.load(Ordering::SeqCst) {
                    return;
                }
                let i = todo[k];
                let r = fetch_layer(store, &client, &repo, &m.layers[i], &cfg.rootfs.diff_ids[i], popts, events);
                if r.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                results.lock().unwrap_or_else(|p| p.into_inner()).push((i, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    for (i, r) in results {
        slots[i] = Some(r?);
    }
    let layers: Vec<NewLayer> = slots.into_iter().map(|s| s.expect("every layer fetched")).collect();
    let committed =
        store.commit_image(NewImage { config, layers, tags, parent: None, source: reference.familiar() })?;
    for i in &todo {
        events(PullEvent::Layer { id: short_id(&m.layers[*i].digest), status: "Pull complete".into() });
    }
    events(PullEvent::Digest(top.digest.clone()));
    events(PullEvent::Status(format!("Downloaded newer image for {}", reference.familiar())));
    Ok(Pulled { id: committed.id, reference, digest: top.digest, downloaded: true })
}

/// Docker's short layer id: the first 12 hex digits of the blob digest.
pub fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    hex.chars().take(12).collect()
}

/// The decoder half of a layer stream: compressed bytes in, tar digest and size out.
enum Decoder {
    /// Not enough bytes yet to sniff the compression.
    Sniffing(Vec<u8>),
    Plain(Box<PlainSink>),
    Gzip(Box<flate2::write::MultiGzDecoder<PlainSink>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, PlainSink>>),
}

/// Where the tar goes: its digest and Docker's layer size.
struct PlainSink {
    hasher: ThreadedHasher,
    sizer: TarSizer,
}

impl Write for PlainSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(b)?;
        self.sizer.write_all(b)?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Decoder {
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        if let Decoder::Sniffing(head) = self {
            head.extend_from_slice(data);
            if head.len() < 6 {
                return Ok(());
            }
            let head = std::mem::take(head);
            self.start(&head)?;
            return Ok(());
        }
        match self {
            Decoder::Plain(p) => p.write_all(data),
            Decoder::Gzip(g) => g.write_all(data),
            Decoder::Zstd(z) => z.write_all(data),
            Decoder::Sniffing(_) => unreachable!(),
        }
    }

    fn start(&mut self, head: &[u8]) -> std::io::Result<()> {
        let sink = PlainSink { hasher: ThreadedHasher::start(Hasher::new()), sizer: TarSizer::default() };
        use skiff_image::compression::Compression;
        *self = match Compression::detect(head) {
            Compression::Gzip => Decoder::Gzip(Box::new(flate2::write::MultiGzDecoder::new(sink))),
            Compression::Zstd => Decoder::Zstd(Box::new(zstd::stream::write::Decoder::new(sink)?)),
            Compression::None => Decoder::Plain(Box::new(sink)),
            other => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    format!("{}-compressed layers are not supported", other.name()),
                ))
            }
        };
        self.write(head)
    }

    /// Ends the stream: (DiffID, tar length, Docker layer size).
    fn finish(mut self) -> std::io::Result<(Digest, u64, u64)> {
        if let Decoder::Sniffing(head) = &mut self {
            let head = std::mem::take(head);
            self.start(&head)?;
        }
        let sink = match self {
            Decoder::Plain(p) => *p,
            Decoder::Gzip(g) => g.finish()?,
            Decoder::Zstd(mut z) => {
                z.flush()?;
                z.into_inner()
            }
            Decoder::Sniffing(_) => unreachable!(),
        };
        sink.sizer.check_end().map_err(std::io::Error::other)?;
        let len = sink.sizer.len;
        let size = sink.sizer.size;
        Ok((sink.hasher.finish()?, len, size))
    }
}

/// A [`Decoder`] running on its own thread, fed the compressed bytes as they arrive.
/// It stops at the first error, which [`DecodeThread::finish`] then returns.
struct DecodeThread {
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    handle: std::thread::JoinHandle<std::io::Result<(Digest, u64, u64)>>,
}

impl DecodeThread {
    fn start() -> DecodeThread {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let (give_back, spare) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            let mut d = Decoder::Sniffing(Vec::new());
            for chunk in rx {
                d.write(&chunk)?;
                let _ = give_back.send(chunk);
            }
            d.finish()
        });
        DecodeThread { tx, spare, handle }
    }

    /// Queues `data`; false when the thread has stopped (call `finish` for its error).
    fn write(&mut self, data: &[u8]) -> bool {
        let mut v = self.spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(data.len()));
        v.clear();
        v.extend_from_slice(data);
        self.tx.send(v).is_ok()
    }

    /// Ends the stream: (DiffID, tar length, Docker layer size), or the first error.
    fn finish(self) -> std::io::Result<(Digest, u64, u64)> {
        drop(self.tx);
        self.handle.join().map_err(|_| std::io::Error::other("decompressing thread panicked"))?
    }
}

/// Downloads one layer into an anonymous store blob, verifying as it streams.
fn fetch_layer(
    store: &Store,
    client: &Client,
    repo: &str,
    desc: &Descriptor,
    diff_id: &Digest,
    popts: &PullOptions,
    events: &(dyn Fn(PullEvent) + Sync),
) -> Result<NewLayer, PullError> {
    let short = short_id(&desc.digest);
    let layer_err = |reason: String| PullError::Layer { digest: desc.digest.clone(), reason };
    let mut writer: BlobWriter = store.blobs().writer()?;
    let mut decoder = DecodeThread::start();
    let mut attempt = 0;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        attempt += 1;
        let offset = writer.len();
        let res = client.get_blob(repo, &desc.digest, offset);
        let mut res = match res {
            Ok(r) => r,
            Err(e) if attempt < popts.layer_attempts && transient(&e) => {
                backoff(attempt);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if offset > 0 && res.status == 200 {
            // The registry ignored the range: start over.
            writer = store.blobs().writer()?;
            let _ = std::mem::replace(&mut decoder, DecodeThread::start()).finish();
        }
        if let Some(total) = res.body.content_length() {
            if writer.len() + total > desc.size {
                return Err(layer_err(format!(
                    "size mismatch: expected {} bytes, the registry sends {}",
                    desc.size,
                    writer.len() + total
                )));
            }
        }
        let mut reader = res.body.as_reader();
        let read_result: std::io::Result<()> = loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            };
            if writer.len() + n as u64 > desc.size {
                return Err(layer_err(format!("size mismatch: more than the {} bytes expected", desc.size)));
            }
            writer.write_all(&buf[..n]).map_err(|e| layer_err(format!("writing blob: {e}")))?;
            if !decoder.write(&buf[..n]) {
                let e = decoder.finish().err().map(|e| e.to_string()).unwrap_or_else(|| "stopped early".into());
                return Err(layer_err(format!("decompressing: {e}")));
            }
            events(PullEvent::Progress { id: short.clone(), current: writer.len(), total: desc.size });
        };
        match &read_result {
            Ok(()) if writer.len() == desc.size => break,
            Ok(()) | Err(_) if attempt < popts.layer_attempts => {
                tracing::debug!(
                    "layer {}: stream ended at {} of {} bytes ({read_result:?}), resuming",
                    desc.digest,
                    writer.len(),
                    desc.size
                );
                backoff(attempt);
            }
            Ok(()) => {
                return Err(layer_err(format!(
                    "size mismatch: expected {} bytes, got {} (truncated)",
                    desc.size,
                    writer.len()
                )))
            }
            Err(e) => return Err(layer_err(format!("reading: {e}"))),
        }
    }
    events(PullEvent::Layer { id: short.clone(), status: "Verifying Checksum".into() });
    let blob = writer.finish()?;
    if blob.digest.to_string() != desc.digest {
        return Err(layer_err(format!("digest mismatch: got {}", blob.digest)));
    }
    let (found_diff, _tar_len, size) = decoder.finish().map_err(|e| layer_err(format!("decompressing: {e}")))?;
    if &found_diff != diff_id {
        return Err(layer_err(format!("invalid diffID: expected {diff_id}, got {found_diff}")));
    }
    events(PullEvent::Layer { id: short, status: "Download complete".into() });
    let uncompressed = blob.digest == found_diff;
    let media_type = if desc.media_type.is_empty() { mt::OCI_LAYER_GZIP.to_string() } else { desc.media_type.clone() };
    Ok(NewLayer {
        diff_id: found_diff,
        blob: if uncompressed { LayerBlob::Staged(blob) } else { LayerBlob::StagedCompressed(blob) },
        size,
        media_type,
    })
}

fn transient(e: &ClientError) -> bool {
    match e {
        ClientError::Http(h) => crate::http::retryable(h),
        ClientError::Status { status, .. } => crate::http::transient_status(*status),
        _ => false,
    }
}

fn backoff(attempt: u32) {
    std::thread::sleep(crate::http::RetryPolicy::default().delay(attempt, None));
}

/// Lists a repository's tags (`GET /v2/<repo>/tags/list`).
pub fn list_tags(opts: &ClientOptions, reference: &Reference) -> Result<Vec<String>, ClientError> {
    let client = Client::connect(opts, reference.domain())?;
    let repo = reference.path();
    let url = format!("{}/v2/{repo}/tags/list", client.endpoint().base);
    let mut res = client.send(crate::http::Request::get(url.clone()), &Client::pull_scope(repo))?;
    if !res.is_success() {
        return Err(ClientError::Status { what: url, status: res.status, code: String::new(), message: String::new() });
    }
    let body = res.read_limited(16 << 20).map_err(|source| ClientError::Read { what: url.clone(), source })?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ClientError::Invalid { what: url, reason: e.to_string() })?;
    let mut tags: Vec<String> = v
        .get("tags")
        .and_then(|t| t.as_array())
        .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    tags.sort();
    Ok(tags)
}
