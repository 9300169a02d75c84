//! `push`: layers (skipped when the registry has them, mounted from another
//! repository of the same registry when the image was pulled from there,
//! else uploaded), then the config, then the manifest last.
//!
//! Pulled layers are pushed as the blobs received (same digests, so a
//! round trip keeps the manifest). Uncompressed layers (imported, loaded)
//! are gzip-compressed first into an anonymous temporary file, several
//! layers at once, and the manifest is Docker schema 2 (OCI when a layer is
//! zstd). A large layer is itself compressed on every core: it is cut into
//! fixed [`BLOCK`]s, each becomes one gzip member, and the members are
//! written in order (RFC 1952 allows several members in one file, and every
//! gzip reader, Go's included, reads them as one stream). The block size is
//! fixed, so the same layer always compresses to the same bytes, whatever
//! the number of cores.

use crate::client::{Client, ClientError, ClientOptions};
use crate::http::Body;
use crate::manifest::{media_types as mt, Descriptor, ImageManifest};
use skiff_image::digest::HashingWriter;
use skiff_image::store::LayerRecord;
use skiff_image::{Digest, Reference, Store, StoreError};
use std::io::Write;
use std::sync::Arc;

/// Errors from a push.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: std::path::PathBuf, source: std::io::Error },
    #[error("An image does not exist locally with the tag: {0}")]
    NoSuchTag(String),
}

/// What push reports (Docker's lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// `The push refers to repository [docker.io/library/x]`
    Repository(String),
    /// `<short>: Preparing`, `Pushing`, `Pushed`, `Layer already exists`, `Mounted from <repo>`
    Layer { id: String, status: String },
    /// `<tag>: digest: sha256:… size: N`
    Digest { tag: String, digest: Digest, size: u64 },
}

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Upload in PATCH chunks of this many bytes (None: one streaming PATCH).
    pub chunk_size: Option<u64>,
    /// Layers handled at once.
    pub concurrency: usize,
    /// Repositories of the same registry to try mounting blobs from.
    pub mount_from: Vec<String>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions { chunk_size: None, concurrency: 3, mount_from: Vec::new() }
    }
}

/// What push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: Digest,
    pub size: u64,
}

/// A layer ready to push: its descriptor and where its bytes are.
struct Ready {
    desc: Descriptor,
    body: Body,
}

fn is_compressed(media_type: &str) -> bool {
    media_type.ends_with("gzip") || media_type.ends_with("zstd")
}

/// Layers larger than this are compressed in [`BLOCK`]-sized pieces on several threads.
const PARALLEL_AFTER: u64 = 16 << 20;
/// The uncompressed bytes of one gzip member when a layer is compressed in parallel.
pub const BLOCK: u64 = 4 << 20;

/// Gzips a plain layer blob into an anonymous file; returns its descriptor and body.
fn compress_layer(store: &Store, l: &LayerRecord) -> Result<Ready, PushError> {
    let src_path = store.blobs().path(&l.blob);
    let io = |op, source| PushError::Io { op, path: src_path.clone(), source };
    let mut src = store.blobs().open(&l.blob).map_err(StoreError::from)?;
    let total = src.metadata().map_err(|e| io("stat", e))?.len();
    let tmp = tempfile_in(&store.tmp_dir()).map_err(|e| io("create temporary file in", e))?;
    let mut out = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, tmp));
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if total > PARALLEL_AFTER && threads > 1 {
        gzip_blocks(&src, total, threads, &mut out).map_err(|e| io("compress", e))?;
    } else {
        let mut enc = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
        std::io::copy(&mut src, &mut enc).map_err(|e| io("compress", e))?;
        enc.finish().map_err(|e| io("compress", e))?;
    }
    let (digest, len, buf) = out.finish();
    let file = buf.into_inner().map_err(|e| io("write", e.into_error()))?;
    Ok(Ready {
        desc: Descriptor::new(mt::DOCKER_LAYER_GZIP, digest.to_string(), len),
        body: Body::File { file: Arc::new(file), offset: 0, len },
    })
}

/// Compresses `src` (`total` bytes) as one gzip member per [`BLOCK`], on `threads` threads, writing
/// the members to `out` in order. At most two blocks per thread are in flight.
pub fn gzip_blocks(src: &std::fs::File, total: u64, threads: usize, out: &mut dyn Write) -> std::io::Result<()> {
    use std::collections::BTreeMap;
    use std::os::unix::fs::FileExt;
    use std::sync::{Condvar, Mutex};
    let blocks = total.div_ceil(BLOCK) as usize;
    let window = 2 * threads;
    // Finished members by block number, the next block to hand out, the next to write, an error.
    struct State {
        done: BTreeMap<usize, Vec<u8>>,
        next: usize,
        written: usize,
        failed: Option<std::io::Error>,
    }
    let state = Mutex::new(State { done: BTreeMap::new(), next: 0, written: 0, failed: None });
    let changed = Condvar::new();
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    std::thread::scope(|s| {
        for _ in 0..threads.min(blocks) {
            s.spawn(|| loop {
                let k = {
                    let mut st = lock();
                    while st.next < blocks && st.next >= st.written + window && st.failed.is_none() {
                        st = changed.wait(st).unwrap_or_else(|p| p.into_inner());
                    }
                    if st.next >= blocks || st.failed.is_some() {
                        return;
                    }
                    st.next += 1;
                    st.next - 1
                };
                let start = k as u64 * BLOCK;
                let mut plain = vec![0u8; BLOCK.min(total - start) as usize];
                let member = src.read_exact_at(&mut plain, start).and_then(|()| {
                    let mut enc =
                        flate2::write::GzEncoder::new(Vec::with_capacity(plain.len() / 2), flate2::Compression::fast());
                    enc.write_all(&plain)?;
                    enc.finish()
                });
                let mut st = lock();
                match member {
                    Ok(m) => {
                        st.done.insert(k, m);
                    }
                    Err(e) => {
                        st.failed.get_or_insert(e);
                    }
                }
                changed.notify_all();
            });
        }
        // This thread writes the members in order as they complete.
        let mut st = lock();
        while st.written < blocks && st.failed.is_none() {
            let w = st.written;
            match st.done.remove(&w) {
                Some(m) => {
                    drop(st);
                    let r = out.write_all(&m);
                    st = lock();
                    match r {
                        Ok(()) => st.written += 1,
                        Err(e) => {
                            st.failed.get_or_insert(e);
                        }
                    }
                    changed.notify_all();
                }
                None => st = changed.wait(st).unwrap_or_else(|p| p.into_inner()),
            }
        }
    });
    match state.into_inner().unwrap_or_else(|p| p.into_inner()).failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// An unnamed read-write file in `dir` (gone when closed).
fn tempfile_in(dir: &std::path::Path) -> std::io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(dir, OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC, Mode::from_raw_mode(0o600))?;
    Ok(std::fs::File::from(fd))
}

/// Pushes `name` (a local tag) to its registry.
pub fn push(
    store: &Store,
    opts: &ClientOptions,
    name: &Reference,
    popts: &PushOptions,
    events: &(dyn Fn(PushEvent) + Sync),
) -> Result<Pushed, PushError> {
    let name = name.clone().or_default_tag();
    // Docker names the repository first, and the missing image by its repository alone.
    events(PushEvent::Repository(name.name()));
    let img = store.resolve(&name.to_string()).map_err(|_| PushError::NoSuchTag(name.familiar_name()))?;
    let client = Client::connect(opts, name.domain())?;
    let repo = name.path().to_string();
    let scopes = Client::push_scopes(&repo, &popts.mount_from);
    let layers = store.image_layers(&img.id)?;
    let config = store.config_bytes(&img.id)?;
    for l in &layers {
        events(PushEvent::Layer { id: l.diff_id.short().to_string(), status: "Preparing".into() });
    }
    // Prepare and upload layers in parallel.
    let results: std::sync::Mutex<Vec<(usize, Result<Descriptor, PushError>)>> = Default::default();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..popts.concurrency.clamp(1, layers.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= layers.len() {
                    return;
                }
                let r = push_layer(store, &client, &repo, &layers[i], popts, &scopes, events);
                results.lock().unwrap_or_else(|p| p.into_inner()).push((i, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    let mut descs = Vec::new();
    for (_, r) in results {
        descs.push(r?);
    }
    // Config.
    let config_digest = Digest::of(&config);
    if !client.blob_exists(&repo, &config_digest.to_string(), &scopes)? {
        let loc = client.start_upload(&repo, &config_digest.to_string(), None, &scopes)?;
        if let Some(loc) = loc {
            let body = Body::Bytes(Arc::new(config.clone()));
            client.upload(loc, &config_digest.to_string(), body, None, &scopes, &|_| {})?;
        }
    }
    let zstd = descs.iter().any(|d| d.media_type.ends_with("zstd"));
    let (manifest_type, config_type) =
        if zstd { (mt::OCI_MANIFEST, mt::OCI_CONFIG) } else { (mt::DOCKER_MANIFEST, mt::DOCKER_CONFIG) };
    let descs = descs
        .into_iter()
        .map(|mut d| {
            if !zstd {
                d.media_type = match d.media_type.as_str() {
                    mt::OCI_LAYER_GZIP => mt::DOCKER_LAYER_GZIP.into(),
                    mt::OCI_LAYER => mt::DOCKER_LAYER.into(),
                    _ => d.media_type,
                };
            }
            d
        })
        .collect();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(manifest_type.into()),
        config: Descriptor::new(config_type, config_digest.to_string(), config.len() as u64),
        layers: descs,
    };
    // Docker's registry client marshals with three-space indentation.
    let bytes = pretty3(&serde_json::to_value(&manifest).expect("manifest serialises"));
    let size = bytes.len() as u64;
    let tag = name.tag().unwrap_or("latest").to_string();
    let digest = client.put_manifest(&repo, &tag, manifest_type, bytes, &scopes)?;
    if let Ok(r) = Reference::parse(&name.name()) {
        let _ = store.tag(&img.id, &r.with_digest(digest.clone()));
    }
    events(PushEvent::Digest { tag, digest: digest.clone(), size });
    Ok(Pushed { digest, size })
}

fn pretty3(v: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("json serialises");
    out
}

fn push_layer(
    store: &Store,
    client: &Client,
    repo: &str,
    l: &LayerRecord,
    popts: &PushOptions,
    scopes: &[String],
    events: &(dyn Fn(PushEvent) + Sync),
) -> Result<Descriptor, PushError> {
    let id = l.diff_id.short().to_string();
    let ready = if is_compressed(&l.media_type) {
        let path = store.blobs().path(&l.blob);
        let file =
            std::fs::File::open(&path).map_err(|source| PushError::Io { op: "open", path: path.clone(), source })?;
        let len = file.metadata().map_err(|source| PushError::Io { op: "stat", path, source })?.len();
        Ready {
            desc: Descriptor::new(&l.media_type, l.blob.to_string(), len),
            body: Body::File { file: Arc::new(file), offset: 0, len },
        }
    } else {
        compress_layer(store, l)?
    };
    if client.blob_exists(repo, &ready.desc.digest, scopes)? {
        events(PushEvent::Layer { id, status: "Layer already exists".into() });
        return Ok(ready.desc);
    }
    for from in popts.mount_from.iter().filter(|r| r.as_str() != repo) {
        if client.start_upload(repo, &ready.desc.digest, Some(from), scopes)?.is_none() {
            events(PushEvent::Layer { id, status: format!("Mounted from {from}") });
            return Ok(ready.desc);
        }
    }
    events(PushEvent::Layer { id: id.clone(), status: "Pushing".into() });
    let loc = client.start_upload(repo, &ready.desc.digest, None, scopes)?.ok_or_else(|| ClientError::Invalid {
        what: format!("upload to {repo}"),
        reason: "no upload location".into(),
    })?;
    client.upload(loc, &ready.desc.digest, ready.body, popts.chunk_size, scopes, &|_| {})?;
    events(PushEvent::Layer { id, status: "Pushed".into() });
    Ok(ready.desc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Two and a half blocks of text that compresses, but not to nothing.
    fn sample() -> Vec<u8> {
        let mut v = Vec::new();
        let mut x: u32 = 1;
        while v.len() < (BLOCK as usize) * 5 / 2 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            v.extend_from_slice(format!("line {} of the sample {}\n", v.len(), x >> 20).as_bytes());
        }
        v
    }

    #[test]
    fn parallel_gzip_is_one_member_per_block_reads_back_and_does_not_depend_on_threads() {
        let data = sample();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        let mut one = Vec::new();
        gzip_blocks(&f, data.len() as u64, 1, &mut one).unwrap();
        let mut three = Vec::new();
        gzip_blocks(&f, data.len() as u64, 3, &mut three).unwrap();
        assert_eq!(one, three, "the same bytes whatever the number of threads");
        // Three members, each a gzip header (1f 8b 08).
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&three[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        let mut first = Vec::new();
        flate2::read::GzDecoder::new(&three[..]).read_to_end(&mut first).unwrap();
        assert_eq!(first.len() as u64, BLOCK, "the first member holds exactly one block");
        assert!(three.len() < data.len() / 2);
    }
}
