//! The overlay format of stored layers and container changes, in one place: how deletions are
//! marked ([`markers`]: tar whiteout names and their overlayfs forms), an overlay upper
//! directory written back as an OCI layer tar ([`upper`]), and a merged read-only view of a
//! stack of layer directories ([`view`]).
//!
//! Spec: OCI image spec `layer.md` (<https://github.com/opencontainers/image-spec/blob/main/layer.md>);
//! overlayfs (<https://docs.kernel.org/filesystems/overlayfs.html>).

pub mod markers;
pub mod upper;
pub mod view;

pub use markers::{is_opaque, is_whiteout};
pub use upper::{upper_to_entries_excluding, upper_to_tar, upper_to_tar_excluding, UpperError};
pub use view::MergedView;
