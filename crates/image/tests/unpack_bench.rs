//! Unpack speed on a realistic root filesystem. Ignored by default (it needs a rootfs tar built
//! from `../shared/tools/debian-rootfs`); run with
//! `SKIFF_BENCH_TAR=/path/rootfs.tar cargo test -p skiff-image --release --test unpack_bench -- --ignored --nocapture`.
//! It prints the time and asserts only that the tree arrived, never a duration.

use std::io::BufReader;
use std::time::Instant;

use skiff_image::unpack::{unpack_layer, UnpackOptions, WhiteoutMode};

#[test]
#[ignore]
fn unpack_realistic_rootfs() {
    let Ok(path) = std::env::var("SKIFF_BENCH_TAR") else {
        skiff_testutil::skip!("SKIFF_BENCH_TAR not set; nothing to measure");
    };
    let tmp = tempfile::tempdir().unwrap();
    let opts = UnpackOptions { whiteouts: WhiteoutMode::Overlay, max_bytes: None, preserve_owner: true };
    let f = std::fs::File::open(&path).unwrap();
    let start = Instant::now();
    let stats = unpack_layer(BufReader::with_capacity(1 << 20, f), tmp.path(), &opts).unwrap();
    let took = start.elapsed();
    eprintln!("unpacked {} entries, {} bytes in {:.3}s", stats.entries, stats.bytes, took.as_secs_f64());
    assert!(stats.entries > 0);
}
