//! Docker Hub mirrors against in-process fake registries: mirrors are tried in the configured order,
//! one that is down (absent, or answering 500) or lacks the image is skipped, and Docker Hub itself
//! (here a fake standing in for registry-1.docker.io) is asked last.

mod fake;

use fake::*;
use skiff_image::{Reference, Store};
use skiff_registry::http::{RetryPolicy, Transport};
use skiff_registry::{pull, ClientOptions, PullOptions, RegistryConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Log = Arc<Mutex<Vec<(&'static str, String)>>>;

/// A fake that records each request, in the one order shared by all fakes, under `name`.
fn logged(name: &'static str, log: &Log, inner: Handler) -> Fake {
    let log = log.clone();
    Fake::start(Arc::new(move |r: &Req| {
        log.lock().unwrap().push((name, format!("{} {}", r.method, r.path)));
        inner(r)
    }))
}

/// A loopback address where nothing listens.
fn absent() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

fn opts(mirrors: Vec<String>, hub: &str) -> ClientOptions {
    let mut o = ClientOptions::new(RegistryConfig { mirrors, tls_verify: true, ..Default::default() });
    o.credentials = None;
    let mut t = Transport::new();
    t.retry = RetryPolicy { attempts: 2, base_delay: Duration::from_millis(10), max_delay: Duration::from_millis(20) };
    o.transport = t;
    o.hub_api = hub.to_string();
    o
}

fn busybox_ref() -> Reference {
    Reference::parse("busybox").unwrap()
}

#[test]
fn mirrors_are_tried_in_order_then_docker_hub() {
    let img = busybox("gzip");
    let log: Log = Arc::default();
    let failing = logged("failing", &log, Arc::new(|_: &Req| Resp::new(500, "")));
    let empty = logged("empty", &log, registry(&img, "library/other", |_| None));
    let hub = logged("hub", &log, registry(&img, "library/busybox", |_| None));
    let mirrors =
        vec![format!("http://{}", absent()), format!("http://{}", failing.addr), format!("http://{}/", empty.addr)];
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let pulled = pull(&store, &opts(mirrors, &hub.addr), &busybox_ref(), &PullOptions::default(), &|_| {}).unwrap();
    assert_eq!(pulled.id.to_string(), BUSYBOX_ID);
    let log = log.lock().unwrap().clone();
    let who: Vec<&str> = log.iter().map(|(n, _)| *n).collect();
    // The failing mirror is pinged once; the empty one answers the ping but not the manifest; the rest
    // (manifest, config, layer) comes from Docker Hub.
    assert_eq!(who.iter().filter(|n| **n == "failing").count(), 1, "{log:?}");
    let first = |n: &str| who.iter().position(|w| *w == n).unwrap();
    assert!(first("failing") < first("empty") && first("empty") < first("hub"), "{log:?}");
    assert!(log.iter().any(|(n, r)| *n == "empty" && r == "GET /v2/library/busybox/manifests/latest"), "{log:?}");
    let hub_blobs: Vec<_> = log.iter().filter(|(n, r)| *n == "hub" && r.contains("/blobs/")).collect();
    assert_eq!(hub_blobs.len(), 2, "config and layer from Docker Hub: {log:?}");
    assert!(!log.iter().any(|(n, r)| *n != "hub" && r.contains("/blobs/")), "{log:?}");
    assert!(store.check(false).unwrap().is_consistent());
}

#[test]
fn a_mirror_that_has_the_image_serves_it_all_and_docker_hub_is_not_asked() {
    let img = busybox("gzip");
    let shared: Log = Arc::default();
    let failing = logged("failing", &shared, Arc::new(|_: &Req| Resp::new(500, "")));
    let good = logged("good", &shared, registry(&img, "library/busybox", |_| None));
    let hub = logged("hub", &shared, Arc::new(|_: &Req| Resp::new(500, "")));
    let mirrors = vec![format!("http://{}", failing.addr), format!("http://{}", good.addr)];
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let pulled = pull(&store, &opts(mirrors, &hub.addr), &busybox_ref(), &PullOptions::default(), &|_| {}).unwrap();
    assert_eq!(pulled.id.to_string(), BUSYBOX_ID);
    let log = shared.lock().unwrap().clone();
    assert!(log.iter().all(|(n, _)| *n != "hub"), "{log:?}");
    assert_eq!(log.iter().filter(|(n, r)| *n == "good" && r.contains("/blobs/")).count(), 2, "{log:?}");
    // Mirrors serve Docker Hub only: another registry's image never goes through them.
    let other = logged("other", &shared, registry(&img, "x/busybox", |_| None));
    let r = Reference::parse(&format!("{}/x/busybox", other.addr)).unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let o = opts(vec![format!("http://{}", good.addr)], &hub.addr);
    pull(&Store::open(d2.path()).unwrap(), &o, &r, &PullOptions::default(), &|_| {}).unwrap();
    let after = shared.lock().unwrap().clone();
    assert!(after[log.len()..].iter().all(|(n, _)| *n == "other"), "{after:?}");
}
