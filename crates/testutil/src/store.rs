//! A skiff image store on a temporary directory, for the crates that test against the store's API
//! (image, registry, builder). Behind the `store` feature.

use skiff_image::Store;

/// A new empty store rooted at a new temporary directory; the directory goes when the guard drops.
pub fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}
