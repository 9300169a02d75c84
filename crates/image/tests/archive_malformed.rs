//! Malformed archives: each fails with an error naming the entry at fault and leaves the store as
//! it was (no image, no blob file).

mod archive_util;

use archive_util::*;

/// Loads `tar` into a fresh store, expects an error containing every `needles`, and checks that
/// nothing was recorded.
fn rejects(name: &str, tar: &[u8], needles: &[&str]) {
    let (_d, store) = new_store();
    let err = load_bytes(&store, name, tar).expect_err("the archive must be rejected").to_string();
    eprintln!("{name}: {err}");
    for n in needles {
        assert!(err.contains(n), "error {err:?} should mention {n:?}");
    }
    assert!(store.images().unwrap().is_empty(), "{name}: no image recorded");
    assert!(blob_files(&store).is_empty(), "{name}: no blob file left behind");
}

/// busybox's legacy pieces with a custom manifest and extra entries.
fn busybox_with(manifest: &str, extra: Vec<Entry>) -> Vec<u8> {
    let (config, layers, _) = legacy_parts("busybox.docker.tar");
    let mut entries = vec![
        file(&format!("{}.json", sha256_hex(&config)), config),
        file("l/layer.tar", layers[0].clone()),
        file("manifest.json", manifest.to_string()),
    ];
    entries.extend(extra);
    write_tar(&entries)
}

fn busybox_manifest(layers: &str) -> String {
    format!(r#"[{{"Config":"{}.json","RepoTags":["busybox:latest"],"Layers":[{layers}]}}]"#, &BUSYBOX_ID[7..])
}

#[test]
fn truncated_archive_names_the_entry() {
    let raw = std::fs::read(fixture("busybox.docker.tar")).unwrap();
    // Cut inside the 2 MB layer.tar, the third entry.
    rejects("cut.tar", &raw[..1_000_000], &["cut.tar", "truncated", "layer.tar"]);
    // And compressed.
    rejects("cut.tar.gz", &gzip(&raw[..1_000_000]), &["cut.tar.gz", "layer.tar"]);
}

#[test]
fn manifest_pointing_outside_the_archive() {
    let tar = busybox_with(&busybox_manifest(r#""../../etc/passwd""#), vec![]);
    rejects("escape.tar", &tar, &["escape.tar", "../../etc/passwd", "outside the archive"]);
    let tar = busybox_with(&busybox_manifest(r#""/etc/passwd""#), vec![]);
    rejects("abs.tar", &tar, &["abs.tar", "/etc/passwd", "not a file in the archive"]);
}

#[test]
fn manifest_pointing_at_a_missing_file() {
    let tar = busybox_with(&busybox_manifest(r#""nope/layer.tar""#), vec![]);
    rejects("missing.tar", &tar, &["missing.tar", "nope/layer.tar", "not a file in the archive"]);
}

#[test]
fn symlinked_layer_pointing_outside() {
    let tar = busybox_with(&busybox_manifest(r#""x/layer.tar""#), vec![symlink("x/layer.tar", "../../../etc/passwd")]);
    rejects("symlink.tar", &tar, &["symlink.tar", "x/layer.tar", "outside the archive"]);
    // An absolute target stays inside the archive, where nothing is at etc/passwd.
    let tar = busybox_with(&busybox_manifest(r#""x/layer.tar""#), vec![symlink("x/layer.tar", "/etc/passwd")]);
    rejects("symlink-abs.tar", &tar, &["x/layer.tar", "not a file in the archive"]);
    // A symlink loop.
    let tar = busybox_with(&busybox_manifest(r#""a""#), vec![symlink("a", "b"), symlink("b", "a")]);
    rejects("loop.tar", &tar, &["loop.tar", "symbolic links"]);
}

#[test]
fn layers_length_mismatch() {
    let tar = busybox_with(&busybox_manifest(r#""l/layer.tar","l/layer.tar""#), vec![]);
    rejects("count.tar", &tar, &["count.tar", "layers length mismatch", &format!("{}.json", &BUSYBOX_ID[7..])]);
}

#[test]
fn flipped_byte_in_a_layer_is_an_invalid_diff_id() {
    let (config, layers, _) = legacy_parts("busybox.docker.tar");
    let mut layer = layers[0].clone();
    let mid = layer.len() / 2; // inside busybox's data, so the tar framing stays valid
    layer[mid] ^= 0xff;
    let tar = write_tar(&[
        file(&format!("{}.json", sha256_hex(&config)), config),
        file("l/layer.tar", layer.clone()),
        file("manifest.json", busybox_manifest(r#""l/layer.tar""#)),
    ]);
    rejects(
        "flip.tar",
        &tar,
        &[
            "flip.tar",
            "l/layer.tar",
            "invalid diffID for layer 0",
            &facts_diff_ids("busybox_latest")[0],
            &sha256_hex(&layer),
        ],
    );
}

#[test]
fn config_not_matching_its_name() {
    let (config, layers, _) = legacy_parts("busybox.docker.tar");
    let mut cfg = config.clone();
    let pos = cfg.len() - 2;
    cfg.insert(pos, b' ');
    let tar = write_tar(&[
        file(&format!("{}.json", &BUSYBOX_ID[7..]), cfg),
        file("l/layer.tar", layers[0].clone()),
        file("manifest.json", busybox_manifest(r#""l/layer.tar""#)),
    ]);
    rejects("config.tar", &tar, &["config.tar", "digest mismatch", &BUSYBOX_ID[7..]]);
}

#[test]
fn oci_blob_not_matching_its_digest() {
    let mut entries = read_fixture_tar("features.oci.tar");
    let victim = "blobs/sha256/4639750b575f83b4135b21657a318d7a777a307e3f2deab07539457ef512c4cb";
    let e = entries.iter_mut().find(|e| e.path == victim).unwrap();
    let n = e.data.len();
    e.data[n - 20] ^= 0x01;
    rejects("oci-flip.tar", &write_tar(&entries), &["oci-flip.tar", victim, "digest mismatch"]);
}

#[test]
fn oversized_manifest_is_rejected_before_reading_it() {
    // A header announcing a 30 MiB manifest.json, followed by far fewer bytes: reading it whole
    // would end in a truncation error, refusing it on sight gives the size error.
    let mut h = tar::Header::new_gnu();
    h.set_path("manifest.json").unwrap();
    h.set_size(30 << 20);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend(std::iter::repeat_n(b' ', 4096));
    rejects("big.tar", &tar, &["big.tar", "manifest.json", "31457280 bytes", "more than the 20971520 bytes allowed"]);
    // Same for index.json.
    let mut h2 = h.clone();
    h2.set_path("index.json").unwrap();
    h2.set_cksum();
    rejects("big-index.tar", h2.as_bytes(), &["index.json", "more than"]);
}

#[test]
fn no_manifest() {
    let (config, layers, _) = legacy_parts("busybox.docker.tar");
    let tar =
        write_tar(&[file(&format!("{}.json", sha256_hex(&config)), config), file("l/layer.tar", layers[0].clone())]);
    rejects("none.tar", &tar, &["invalid archive: does not contain a manifest.json"]);
    rejects("empty.tar", &[0u8; 1024], &["does not contain a manifest.json"]);
}

#[test]
fn garbage_and_bad_json() {
    rejects("garbage.tar", &[b'x'; 2048], &["garbage.tar"]);
    let tar = busybox_with("{not json", vec![]);
    rejects("json.tar", &tar, &["json.tar", "manifest.json"]);
    let tar = busybox_with("null", vec![]);
    rejects("null.tar", &tar, &["manifest.json", "null"]);
    let tar = busybox_with(
        &format!(
            r#"[{{"Config":"{}.json","RepoTags":["busybox@sha256:{}"],"Layers":["l/layer.tar"]}}]"#,
            &BUSYBOX_ID[7..],
            &BUSYBOX_ID[7..]
        ),
        vec![],
    );
    rejects("tag.tar", &tar, &["manifest.json", "invalid tag"]);
}

#[test]
fn entry_escaping_the_archive_is_rejected() {
    // The tar crate refuses to write such a name, so the header is made by hand.
    let mut h = tar::Header::new_ustar();
    h.set_path("xx/evil").unwrap();
    h.as_mut_bytes()[..7].copy_from_slice(b"../evil");
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    let mut evil = h.as_bytes().to_vec();
    evil.extend_from_slice(&[b'x'; 512]);
    let good = busybox_with(&busybox_manifest(r#""l/layer.tar""#), vec![]);
    evil.extend_from_slice(&good);
    rejects("evil.tar", &evil, &["evil.tar", "../evil", "outside the archive"]);
}

#[test]
fn a_failed_load_after_a_good_one_changes_nothing() {
    let (_d, store) = new_store();
    load_fixture(&store, "busybox.docker.tar");
    let before = blob_files(&store);
    let tar = busybox_with(&busybox_manifest(r#""missing""#), vec![]);
    assert!(load_bytes(&store, "bad.tar", &tar).is_err());
    assert_eq!(blob_files(&store), before);
    assert_eq!(store.images().unwrap().len(), 1);
}

/// Memory and open files stay bounded: an archive with more entries than any image archive has is refused.
#[test]
fn an_archive_with_too_many_entries_is_refused() {
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..=skiff_image::archive::MAX_ENTRIES {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("e{i}"), &[][..]).unwrap();
    }
    let data = b.into_inner().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = skiff_image::Store::open(dir.path()).unwrap();
    let err = skiff_image::archive::load(
        &store,
        &mut &data[..],
        &skiff_image::archive::LoadOptions::new("many.tar"),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("many.tar") && err.contains("entries"), "{err}");
    assert!(store.images().unwrap().is_empty());
}
