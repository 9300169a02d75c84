//! Store rules Docker users rely on: an image a container uses is not deleted, tags move, prune keeps what is used.

use skiff_image::import::{import, ImportOptions};
use skiff_image::store::RemoveEvent;
use skiff_image::{Reference, Store};

fn tar_with(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

fn import_as(store: &Store, tag: &str, content: &[u8]) -> skiff_image::Digest {
    let mut opts = ImportOptions::new("-");
    opts.tag = Some(Reference::parse_with_default_tag(tag).unwrap());
    import(store, &mut &tar_with("f", content)[..], &opts, &mut |_| {}).unwrap().id
}

/// A container record as skiff-engine writes it (the engine owns and creates the table).
fn add_container(store: &Store, id: &str, image: &skiff_image::Digest) {
    store
        .db()
        .write(|tx| {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS containers(id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL,
                 image_id TEXT NOT NULL, created TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'created',
                 config TEXT NOT NULL DEFAULT '{}')",
            )
            .map_err(skiff_image::StoreError::from)?;
            tx.execute(
                "INSERT INTO containers(id, name, image_id, created) VALUES (?1, ?2, ?3, '2026-01-01T00:00:00Z')",
                [id, &format!("name-{id}"), &image.to_string()],
            )
            .map_err(skiff_image::StoreError::from)
        })
        .unwrap();
}

#[test]
fn an_image_in_use_by_a_container_is_untagged_but_kept_even_when_forced() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = import_as(&store, "used", b"1");
    add_container(&store, &"c".repeat(64), &id);
    let err = store.remove("used", false).unwrap_err().to_string();
    assert!(err.contains("must force") && err.contains("cccccccccccc"), "{err}");
    let err = store.remove(id.short(), false).unwrap_err().to_string();
    assert!(err.contains("must be forced"), "{err}");
    let events = store.remove("used", true).unwrap();
    assert_eq!(events, vec![RemoveEvent::Untagged("used:latest".into())]);
    // Still there, dangling, and prune (even -a) keeps it.
    assert!(store.image(&id).is_ok());
    let (events, _) = store.prune(true).unwrap();
    assert!(events.is_empty(), "{events:?}");
    assert!(store.image(&id).is_ok());
    assert!(store.check(false).unwrap().is_consistent());
}

#[test]
fn tags_move_and_prune_all_removes_unused_images() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = import_as(&store, "x:1", b"a");
    let b = import_as(&store, "x:1", b"b");
    // The tag moved to b; a is dangling now.
    assert!(store.image(&a).unwrap().tags.is_empty());
    assert_eq!(store.resolve("x:1").unwrap().id, b);
    let (events, reclaimed) = store.prune(false).unwrap();
    assert!(events.contains(&RemoveEvent::Deleted(a.clone())), "{events:?}");
    assert!(reclaimed > 0);
    let (events, _) = store.prune(true).unwrap();
    assert!(events.contains(&RemoveEvent::Untagged("x:1".into())), "{events:?}");
    assert!(store.images().unwrap().is_empty());
    // Every blob file went with them.
    assert_eq!(std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap().count(), 0);
}

#[test]
fn resolve_by_prefix_refuses_ambiguity_and_names_missing_images() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = import_as(&store, "p", b"p");
    assert_eq!(store.resolve(&id.hex()[..6]).unwrap().id, id);
    assert_eq!(store.resolve(&id.to_string()).unwrap().id, id);
    let err = store.resolve("nothere").unwrap_err().to_string();
    assert_eq!(err, "No such image: nothere:latest");
}
