//! skiff's image store: content-addressed blobs, layers, image records and
//! references, and the archive formats (`docker save`/`load`, OCI layouts);
//! the OCI descriptors, manifests and media types the registry client shares
//! ([`oci`]).
//!
//! Layout under the store root (ARCHITECTURE.md §On disk):
//! `skiff.db` (metadata, SQLite), `blobs/sha256/<hex>` (configs and layer
//! blobs as received), `layers/<chain-id>/` (unpacked layers, overlay format),
//! `tmp/` (scratch), `containers/<id>/`.

pub mod archive;
pub mod blob;
pub mod change_instructions;
pub mod check;
pub mod compression;
pub mod config;
pub mod db;
pub mod digest;
pub mod gc;
pub mod import;
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

/// The former name of [`change_instructions`], kept until the last caller (`skiff runtime`) moves.
#[doc(hidden)]
pub use change_instructions as changes;
pub use digest::Digest;
pub use reference::Reference;
pub use store::{Store, StoreError};
