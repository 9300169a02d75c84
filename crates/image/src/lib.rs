//! skiff's image store: content-addressed blobs, layers, image records and
//! references, and the archive formats (`docker save`/`load`, OCI layouts).
//! It also holds, once, what the engine, builder and registry share about
//! images: the overlay format (whiteouts, the merged layer view, an upper
//! directory written as a layer: [`overlay`], [`layer_tar`]), an image's users
//! ([`userdb`]), the OCI descriptors, manifests and media types ([`oci`]),
//! hashing on a thread ([`digest::ThreadedHasher`]), Go's quoting ([`strconv`]),
//! and the metadata database in which each crate migrates its own tables
//! ([`db::Db::migrate`]; this crate's are in [`schema`]).
//!
//! Layout under the store root (ARCHITECTURE.md §On disk):
//! `skiff.db` (metadata, SQLite), `blobs/sha256/<hex>` (configs and layer
//! blobs as received), `layers/<chain-id>/` (unpacked layers, overlay format),
//! `tmp/` (scratch), `containers/<id>/`.

#![forbid(unsafe_code)]

pub mod archive;
pub mod blob;
pub mod change_instructions;
pub mod check;
pub mod compression;
pub mod config;
pub mod db;
pub mod digest;
pub mod errdefs;
pub mod gc;
pub mod import;
pub mod inspect;
pub mod layer_scan;
pub mod layer_tar;
pub mod oci;
pub mod overlay;
pub mod reference;
pub mod schema;
pub mod snapshot;
pub mod store;
pub mod strconv;
pub mod tarstream;
pub mod unpack;
pub mod userdb;

pub use digest::Digest;
pub use errdefs::ErrorKind;
pub use reference::Reference;
pub use store::{Store, StoreError};
