//! Pull against an in-process fake registry that misbehaves on purpose. Each case checks the
//! outcome and that the store stays consistent (nothing visible after a failure).

mod fake;

use fake::*;
use skiff_image::{Reference, Store};
use skiff_registry::http::{RetryPolicy, Transport};
use skiff_registry::{pull, ClientOptions, PullError, PullEvent, PullOptions, RegistryConfig};
use skiff_testutil::store::new_store;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn opts() -> ClientOptions {
    let mut t = Transport::new();
    t.retry = RetryPolicy { attempts: 4, base_delay: Duration::from_millis(20), max_delay: Duration::from_millis(100) };
    let mut o = ClientOptions::new(RegistryConfig { tls_verify: true, ..Default::default() });
    o.credentials = None;
    o.transport = t;
    o
}

fn do_pull(store: &Store, fake: &Fake, name: &str) -> (Result<skiff_registry::Pulled, PullError>, Vec<PullEvent>) {
    let events = Mutex::new(Vec::new());
    let r = Reference::parse(&format!("{}/{name}", fake.addr)).unwrap();
    let res = pull(store, &opts(), &r, &PullOptions::default(), &|e| {
        if !matches!(e, PullEvent::Progress { .. }) {
            events.lock().unwrap().push(e)
        }
    });
    (res, events.into_inner().unwrap())
}

fn assert_clean_failure(store: &Store) {
    assert!(store.images().unwrap().is_empty(), "no image after a failed pull");
    let report = store.check(false).unwrap();
    assert!(report.is_consistent(), "{:?}", report.problems);
    let blobs: Vec<_> = std::fs::read_dir(store.blobs().dir()).unwrap().collect();
    assert!(blobs.is_empty(), "no blob files after a failed pull: {blobs:?}");
}

/// Docker's status line says whether the *name* moved, not whether layers came: an image that is
/// there already under another name is "Downloaded newer image" for the new one, without a fetch.
#[test]
fn up_to_date_only_when_the_name_already_meant_the_image() {
    let img = busybox("gzip");
    let fake = Fake::start(registry(&img, "test/busybox", |_| None));
    let (_d, store) = new_store();
    let status = |events: &[PullEvent]| {
        events.iter().find_map(|e| if let PullEvent::Status(s) = e { Some(s.clone()) } else { None }).unwrap()
    };
    let (res, events) = do_pull(&store, &fake, &format!("test/busybox@{}", img.manifest_digest));
    assert!(res.unwrap().downloaded);
    assert!(status(&events).starts_with("Downloaded newer image for"), "{events:?}");
    let before = fake.requests().len();
    let (res, events) = do_pull(&store, &fake, "test/busybox");
    assert!(!res.unwrap().downloaded);
    assert_eq!(status(&events), format!("Downloaded newer image for {}/test/busybox:latest", fake.addr));
    assert!(fake.requests()[before..].iter().all(|r| !r.path.contains(&img.layer_digest)), "no layer fetched");
    assert!(events.iter().all(|e| !matches!(e, PullEvent::Layer { .. })), "{events:?}");
    let (_, events) = do_pull(&store, &fake, "test/busybox");
    assert_eq!(status(&events), format!("Image is up to date for {}/test/busybox:latest", fake.addr));
}

#[test]
fn pulls_busybox_with_docker_progress_and_the_fixture_image_id() {
    for compress in ["gzip", "zstd", "none"] {
        let img = busybox(compress);
        let fake = Fake::start(registry(&img, "test/busybox", |_| None));
        let (_d, store) = new_store();
        let (res, events) = do_pull(&store, &fake, "test/busybox");
        let pulled = res.unwrap();
        assert_eq!(pulled.id.to_string(), BUSYBOX_ID, "{compress}");
        assert!(pulled.downloaded);
        assert_eq!(pulled.digest.to_string(), img.manifest_digest);
        let short = &img.layer_digest[7..19];
        let want = vec![
            PullEvent::PullingFrom { tag: "latest".into(), repo: "test/busybox".into() },
            PullEvent::Layer { id: short.into(), status: "Pulling fs layer".into() },
            PullEvent::Layer { id: short.into(), status: "Verifying Checksum".into() },
            PullEvent::Layer { id: short.into(), status: "Download complete".into() },
            PullEvent::Layer { id: short.into(), status: "Pull complete".into() },
            PullEvent::Digest(pulled.digest.clone()),
            PullEvent::Status(format!("Downloaded newer image for {}/test/busybox:latest", fake.addr)),
        ];
        assert_eq!(events, want);
        let rec = store.resolve(&format!("{}/test/busybox:latest", fake.addr)).unwrap();
        assert_eq!(rec.digests.len(), 1, "RepoDigests recorded");
        assert_eq!(rec.digests[0].digest().unwrap().to_string(), img.manifest_digest);
        let layers = store.image_layers(&rec.id).unwrap();
        assert_eq!(layers[0].blob.to_string(), img.layer_digest, "the blob is kept as received");
        // Docker's size for this layer, from the fixture's facts.
        let facts: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture("facts/inspect-busybox_latest.json")).unwrap()).unwrap();
        let facts = if facts.is_array() { facts[0].clone() } else { facts };
        assert_eq!(rec.size, facts["Size"].as_u64().unwrap());
        assert!(store.check(false).unwrap().is_consistent());
        // Again: up to date, no downloads.
        let before = fake.requests().len();
        let (res, events) = do_pull(&store, &fake, "test/busybox");
        assert!(!res.unwrap().downloaded);
        assert!(events.iter().any(|e| matches!(e, PullEvent::Status(s) if s.starts_with("Image is up to date for"))));
        assert!(fake.requests()[before..].iter().all(|r| !r.path.contains(&img.layer_digest)));
    }
}

#[test]
fn a_layer_with_the_wrong_digest_fails_and_leaves_nothing() {
    let img = busybox("gzip");
    let mut bad = img.layer.clone();
    let n = bad.len();
    bad[n - 10] ^= 0xff; // same size, different bytes
    let ld = img.layer_digest.clone();
    let fake = Fake::start(registry(&img, "x/y", move |r| r.path.ends_with(&ld).then(|| Resp::new(200, bad.clone()))));
    let (_d, store) = new_store();
    let err = do_pull(&store, &fake, "x/y").0.unwrap_err().to_string();
    assert!(err.contains("digest mismatch") || err.contains("decompressing"), "{err}");
    assert_clean_failure(&store);
}

#[test]
fn a_layer_of_the_wrong_size_fails() {
    let img = busybox("gzip");
    let mut longer = img.layer.clone();
    longer.extend_from_slice(b"trailing");
    let ld = img.layer_digest.clone();
    let fake =
        Fake::start(registry(&img, "x/y", move |r| r.path.ends_with(&ld).then(|| Resp::new(200, longer.clone()))));
    let (_d, store) = new_store();
    let err = do_pull(&store, &fake, "x/y").0.unwrap_err().to_string();
    assert!(err.contains("size mismatch"), "{err}");
    assert_clean_failure(&store);
}

#[test]
fn a_config_with_the_wrong_digest_fails() {
    let img = busybox("gzip");
    let cd = img.config_digest.clone();
    let fake = Fake::start(registry(&img, "x/y", move |r| {
        r.path.ends_with(&cd).then(|| Resp::new(200, br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec()))
    }));
    let (_d, store) = new_store();
    let err = do_pull(&store, &fake, "x/y").0.unwrap_err().to_string();
    assert!(err.contains("digest mismatch"), "{err}");
    assert_clean_failure(&store);
}

#[test]
fn a_truncated_body_is_resumed_with_a_range_request() {
    let img = busybox("gzip");
    let ld = img.layer_digest.clone();
    let layer = img.layer.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let fake = Fake::start(registry(&img, "x/y", move |r| {
        if r.path.ends_with(&ld) && r.header("range").is_none() && c2.fetch_add(1, Ordering::SeqCst) == 0 {
            let mut resp = Resp::new(200, layer.clone());
            resp.cut_after = Some(layer.len() / 3);
            return Some(resp);
        }
        None
    }));
    let (_d, store) = new_store();
    let pulled = do_pull(&store, &fake, "x/y").0.unwrap();
    assert_eq!(pulled.id.to_string(), BUSYBOX_ID);
    let ranged: Vec<_> = fake.requests().into_iter().filter(|r| r.header("range").is_some()).collect();
    assert_eq!(ranged.len(), 1);
    assert_eq!(ranged[0].header("range").unwrap(), format!("bytes={}-", img.layer.len() / 3));
    assert!(store.check(false).unwrap().is_consistent());
}

#[test]
fn a_body_truncated_every_time_fails_cleanly() {
    let img = busybox("gzip");
    let ld = img.layer_digest.clone();
    let layer = img.layer.clone();
    let fake = Fake::start(registry(&img, "x/y", move |r| {
        r.path.ends_with(&ld).then(|| {
            let mut resp = Resp::new(200, layer.clone());
            resp.cut_after = Some(100);
            resp
        })
    }));
    let (_d, store) = new_store();
    let err = do_pull(&store, &fake, "x/y").0.unwrap_err().to_string();
    assert!(err.contains(&img.layer_digest), "{err}");
    assert_clean_failure(&store);
}

#[test]
fn server_errors_and_429_are_retried() {
    let img = busybox("gzip");
    let ld = img.layer_digest.clone();
    let cd = img.config_digest.clone();
    let n_layer = Arc::new(AtomicUsize::new(0));
    let n_config = Arc::new(AtomicUsize::new(0));
    let (a, b) = (n_layer.clone(), n_config.clone());
    let fake = Fake::start(registry(&img, "x/y", move |r| {
        if r.path.ends_with(&ld) && a.fetch_add(1, Ordering::SeqCst) == 0 {
            return Some(Resp::new(500, "boom"));
        }
        if r.path.ends_with(&cd) && b.fetch_add(1, Ordering::SeqCst) == 0 {
            return Some(Resp::new(429, "slow down").header("Retry-After", "1"));
        }
        None
    }));
    let (_d, store) = new_store();
    let pulled = do_pull(&store, &fake, "x/y").0.unwrap();
    assert_eq!(pulled.id.to_string(), BUSYBOX_ID);
    assert_eq!(n_layer.load(Ordering::SeqCst), 2);
    assert_eq!(n_config.load(Ordering::SeqCst), 2);
}

#[test]
fn a_slow_trickle_still_completes() {
    let img = busybox("gzip");
    let ld = img.layer_digest.clone();
    let layer = img.layer.clone();
    let fake = Fake::start(registry(&img, "x/y", move |r| {
        r.path.ends_with(&ld).then(|| {
            let mut resp = Resp::new(200, layer.clone());
            resp.trickle = Some(64 << 10);
            resp
        })
    }));
    let (_d, store) = new_store();
    assert_eq!(do_pull(&store, &fake, "x/y").0.unwrap().id.to_string(), BUSYBOX_ID);
}

#[test]
fn an_index_without_this_platform_is_refused() {
    let img = busybox("gzip");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": img.manifest_digest,
            "size": img.manifest.len(), "platform": {"os": "plan9", "architecture": "mips"}}],
    }))
    .unwrap();
    let fake = Fake::start(registry(&img, "x/y", move |r| {
        r.path
            .ends_with("/manifests/latest")
            .then(|| Resp::new(200, index.clone()).header("Content-Type", "application/vnd.oci.image.index.v1+json"))
    }));
    let (_d, store) = new_store();
    let err = do_pull(&store, &fake, "x/y").0.unwrap_err();
    assert!(err.to_string().starts_with("no matching manifest for linux/"), "{err}");
    assert_clean_failure(&store);
}

#[test]
fn an_index_resolves_to_this_platform() {
    let img = busybox("gzip");
    let host = skiff_registry::manifest::Platform::host();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", "1".repeat(64)),
             "size": 10, "platform": {"os": "linux", "architecture": "s390x"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": img.manifest_digest,
             "size": img.manifest.len(), "platform": {"os": "linux", "architecture": host.architecture}}],
    }))
    .unwrap();
    let index_digest = sha(&index);
    let fake = Fake::start(registry(&img, "x/y", move |r| {
        r.path
            .ends_with("/manifests/latest")
            .then(|| Resp::new(200, index.clone()).header("Content-Type", "application/vnd.oci.image.index.v1+json"))
    }));
    let (_d, store) = new_store();
    let pulled = do_pull(&store, &fake, "x/y").0.unwrap();
    assert_eq!(pulled.id.to_string(), BUSYBOX_ID);
    assert_eq!(pulled.digest.to_string(), index_digest, "Digest: is the index's");
}

#[test]
fn a_manifest_that_does_not_match_its_digest_is_refused() {
    let img = busybox("gzip");
    let md = img.manifest_digest.clone();
    let mut other = img.manifest.clone();
    other.push(b' ');
    let fake = Fake::start(registry(&img, "x/y", move |r| {
        r.path.ends_with(&md).then(|| {
            Resp::new(200, other.clone()).header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
        })
    }));
    let (_d, store) = new_store();
    let err = do_pull(&store, &fake, &format!("x/y@{}", img.manifest_digest)).0.unwrap_err().to_string();
    assert!(err.contains("manifest verification failed"), "{err}");
    assert_clean_failure(&store);
}

#[test]
fn bearer_tokens_are_fetched_reused_and_not_leaked_to_a_redirect_host() {
    let img = busybox("gzip");
    // The CDN the registry redirects blobs to: records the headers it got.
    let blob = img.layer.clone();
    let cdn = Fake::start(Arc::new(move |_r: &Req| Resp::new(200, blob.clone())));
    let cdn_addr = cdn.addr.clone();
    let token_calls = Arc::new(AtomicUsize::new(0));
    let tc = token_calls.clone();
    let ld = img.layer_digest.clone();
    let realm_addr: Arc<Mutex<String>> = Arc::default();
    let ra = realm_addr.clone();
    let fake = Fake::start(registry(&img, "x/y", move |r| {
        if r.path.starts_with("/token") {
            tc.fetch_add(1, Ordering::SeqCst);
            assert!(r.path.contains("scope=repository%3Ax%2Fy%3Apull"), "{}", r.path);
            return Some(Resp::new(200, r#"{"token":"t0k","expires_in":300}"#));
        }
        if r.header("authorization") != Some("Bearer t0k") {
            let realm = format!("http://{}/token", ra.lock().unwrap());
            return Some(Resp::new(401, r#"{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}"#).header(
                "WWW-Authenticate",
                format!(r#"Bearer realm="{realm}",service="fake",scope="repository:x/y:pull""#),
            ));
        }
        if r.path.ends_with(&ld) {
            return Some(Resp::new(307, "").header("Location", format!("http://{cdn_addr}/blob/{ld}")));
        }
        None
    }));
    *realm_addr.lock().unwrap() = fake.addr.clone();
    let (_d, store) = new_store();
    let pulled = do_pull(&store, &fake, "x/y").0.unwrap();
    assert_eq!(pulled.id.to_string(), BUSYBOX_ID);
    assert_eq!(token_calls.load(Ordering::SeqCst), 1, "one token, reused for manifest, config and layer");
    let cdn_reqs = cdn.requests();
    assert_eq!(cdn_reqs.len(), 1);
    assert!(cdn_reqs[0].header("authorization").is_none(), "no Authorization sent to another host");
}
