//! Against the real CNCF distribution registry (Debian's `docker-registry`, installed by
//! scripts/test.sh): each test starts its own instance on a free loopback port with a temporary
//! config and storage. Push an imported busybox, pull it into a fresh store (same image ID), with
//! htpasswd auth, and over self-signed TLS (accepted only when configured insecure). When the peer
//! Docker is up, Docker pulls what skiff pushed with the same ID.

mod fake;

use skiff_image::import::{import, ImportOptions};
use skiff_image::{Reference, Store};
use skiff_registry::credentials::{CredentialStore, Credentials};
use skiff_registry::{pull, push, ClientOptions, PullOptions, PushOptions, RegistryConfig};
use skiff_testutil::peers::peer_docker;
use skiff_testutil::registry::Registry;
use skiff_testutil::store::new_store;
use skiff_testutil::{require, skip};

fn opts(config: RegistryConfig, creds: Option<CredentialStore>) -> ClientOptions {
    let mut o = ClientOptions::new(config);
    o.credentials = creds;
    o
}

fn secure() -> RegistryConfig {
    RegistryConfig { tls_verify: true, ..Default::default() }
}

fn imported(store: &Store, tag: &str) -> skiff_image::Digest {
    let mut f = std::fs::File::open(fake::fixture("busybox-rootfs.tar")).unwrap();
    let mut o = ImportOptions::new("-");
    o.tag = Some(Reference::parse(tag).unwrap());
    import(store, &mut f, &o, &mut |_| {}).unwrap().id
}

fn round_trip(o: &ClientOptions, addr: &str, repo: &str) -> (skiff_image::Digest, skiff_image::Digest) {
    let (_d, store) = new_store();
    let name = format!("{addr}/{repo}:1");
    let id = imported(&store, &name);
    let r = Reference::parse(&name).unwrap();
    push(&store, o, &r, &PushOptions::default(), &|_| {}).unwrap();
    let (_d2, fresh) = new_store();
    let pulled = pull(&fresh, o, &r, &PullOptions::default(), &|_| {}).unwrap();
    assert!(fresh.check(false).unwrap().is_consistent());
    (id, pulled.id)
}

#[test]
fn push_then_pull_through_the_real_registry_keeps_the_image_id() {
    let reg = require!(Registry::start(tempfile::tempdir().unwrap(), "", ""));
    let o = opts(secure(), None);
    let (id, pulled) = round_trip(&o, &reg.addr, "skiff/busybox");
    assert_eq!(id, pulled);
    // Chunked upload of another tag works too, and a second push finds the blobs there.
    let (_d, store) = new_store();
    let name = format!("{}/skiff/chunked:1", reg.addr);
    imported(&store, &name);
    let events = std::sync::Mutex::new(Vec::new());
    let r = Reference::parse(&name).unwrap();
    let popts = PushOptions { chunk_size: Some(300_000), ..Default::default() };
    push(&store, &o, &r, &popts, &|e| events.lock().unwrap().push(e)).unwrap();
    push(&store, &o, &r, &popts, &|e| events.lock().unwrap().push(e)).unwrap();
    let ev = events.into_inner().unwrap();
    assert!(ev
        .iter()
        .any(|e| matches!(e, skiff_registry::PushEvent::Layer { status, .. } if status == "Layer already exists")));
    docker_interop(&reg.addr, &id);
}

/// Real Docker pulls what skiff pushed and gets the same image ID.
fn docker_interop(addr: &str, id: &skiff_image::Digest) {
    let docker = match peer_docker() {
        Ok(docker) => docker,
        Err(missing) => skip!("its half with Docker: {missing}"),
    };
    let name = format!("{addr}/skiff/busybox:1");
    docker.ok(&["pull", &name]);
    assert_eq!(docker.ok(&["image", "inspect", "--format", "{{.Id}}", &name]).trim(), id.to_string());
    // And the other way: Docker pushes (compressing the layer itself), skiff pulls the same ID.
    let theirs = format!("{addr}/docker/busybox:1");
    docker.ok(&["tag", &name, &theirs]);
    docker.ok(&["push", &theirs]);
    let (_d, fresh) = new_store();
    let pulled =
        pull(&fresh, &opts(secure(), None), &Reference::parse(&theirs).unwrap(), &PullOptions::default(), &|_| {})
            .unwrap();
    assert_eq!(&pulled.id, id);
    let _ = docker.run(&["rmi", &name, &theirs]);
}

#[test]
fn htpasswd_auth_needs_the_stored_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let auth = format!("auth:\n  htpasswd:\n    realm: skiff-test\n    path: {}\n", htpasswd.display());
    let reg = require!(Registry::start(dir, "", &auth));
    // Anonymous: refused.
    let (_d, store) = new_store();
    let name = format!("{}/private/busybox:1", reg.addr);
    imported(&store, &name);
    let r = Reference::parse(&name).unwrap();
    let err = push(&store, &opts(secure(), None), &r, &PushOptions::default(), &|_| {}).unwrap_err();
    assert!(err.to_string().contains("unauthorized") || err.to_string().contains("authentication"), "{err}");
    // Wrong password: refused.
    let cdir = tempfile::tempdir().unwrap();
    let creds = CredentialStore::new(cdir.path().join("config.json"));
    creds.store(&reg.addr, &Credentials { username: "alice".into(), password: "wrong".into() }).unwrap();
    assert!(push(&store, &opts(secure(), Some(creds.clone())), &r, &PushOptions::default(), &|_| {}).is_err());
    // Right password, as `docker login` would have stored it.
    creds.store(&reg.addr, &Credentials { username: "alice".into(), password: "s3cret".into() }).unwrap();
    let (id, pulled) = round_trip(&opts(secure(), Some(creds)), &reg.addr, "private/busybox");
    assert_eq!(id, pulled);
}

#[test]
fn a_self_signed_tls_registry_works_only_when_configured_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let tls = format!("  tls:\n    certificate: {}\n    key: {}\n", cert.display(), key.display());
    let reg = require!(Registry::start(dir, &tls, ""));
    let (_d, store) = new_store();
    let name = format!("{}/tls/busybox:1", reg.addr);
    imported(&store, &name);
    let r = Reference::parse(&name).unwrap();
    let err = push(&store, &opts(secure(), None), &r, &PushOptions::default(), &|_| {}).unwrap_err();
    assert!(err.to_string().contains("cannot reach registry"), "{err}");
    let insecure = RegistryConfig { tls_verify: true, insecure: vec![reg.addr.clone()], ..Default::default() };
    let (id, pulled) = round_trip(&opts(insecure, None), &reg.addr, "tls/busybox");
    assert_eq!(id, pulled);
}

/// A layer above the parallel threshold is pushed as several gzip members; the registry takes it,
/// skiff pulls it back with the same ID, and so does real Docker when it is up.
#[test]
fn a_large_layer_compressed_in_parallel_round_trips() {
    let reg = require!(Registry::start(tempfile::tempdir().unwrap(), "", ""));
    let mut data = Vec::new();
    let mut x: u64 = 7;
    while data.len() < (skiff_registry::push::BLOCK as usize) * 5 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        data.extend_from_slice(format!("{:016x} {}\n", x >> 40, data.len()).as_bytes());
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append_data(&mut h, "big.txt", &data[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let (_d, store) = new_store();
    let name = format!("{}/skiff/large:1", reg.addr);
    let mut o = ImportOptions::new("-");
    o.tag = Some(Reference::parse(&name).unwrap());
    let id = import(&store, &mut &tar[..], &o, &mut |_| {}).unwrap().id;
    let r = Reference::parse(&name).unwrap();
    let opts = opts(secure(), None);
    push(&store, &opts, &r, &PushOptions::default(), &|_| {}).unwrap();
    let (_d2, fresh) = new_store();
    let pulled = pull(&fresh, &opts, &r, &PullOptions::default(), &|_| {}).unwrap();
    assert_eq!(pulled.id, id);
    let layers = fresh.image_layers(&id).unwrap();
    let blob = std::fs::read(fresh.blobs().path(&layers[0].blob)).unwrap();
    let members = blob.windows(4).filter(|w| w == &[0x1f, 0x8b, 8, 0]).count();
    assert!(members >= 5, "one gzip member per block, found {members} headers");
    let docker = match peer_docker() {
        Ok(docker) => docker,
        Err(missing) => skip!("its half with Docker: {missing}"),
    };
    docker.ok(&["pull", &name]);
    assert_eq!(docker.ok(&["image", "inspect", "--format", "{{.Id}}", &name]).trim(), id.to_string());
    let _ = docker.run(&["rmi", &name]);
}
