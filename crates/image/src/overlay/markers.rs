//! How a layer marks deletions, in both forms skiff handles: the names a layer tar uses (OCI
//! image spec `layer.md` §"Whiteouts": `.wh.NAME`, `.wh..wh..opq`) and what overlayfs keeps on
//! disk instead (a whiteout is a `0:0` character device, an opaque directory carries the
//! `trusted.overlay.opaque=y` xattr; see the kernel's `Documentation/filesystems/overlayfs.rst`).
//!
//! <https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts>

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Prefix of a whiteout file name in a layer tar.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Prefix reserved for whiteout metadata (AUFS hardlink dirs and the like); never materialised.
pub const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
/// Name of the opaque-directory marker in a layer tar.
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// The xattr overlayfs reads to make a directory opaque (value `y`).
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The same for overlayfs mounted with `userxattr` (rootless).
pub const USER_OPAQUE_XATTR: &str = "user.overlay.opaque";

/// What a final path component of a layer tar means with respect to whiteouts.
#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// An ordinary name.
    None,
    /// `.wh..wh..opq`: the directory is opaque.
    Opaque,
    /// Another `.wh..wh.` name: metadata to skip.
    Meta,
    /// `.wh.NAME`: delete `NAME`.
    Remove(&'a [u8]),
    /// `.wh.`, `.wh..` or `.wh...`: a whiteout of the directory itself or its parent.
    Invalid,
}

/// Classifies a final path component of a layer tar.
pub fn whiteout(name: &[u8]) -> Whiteout<'_> {
    if name == WHITEOUT_OPAQUE.as_bytes() {
        Whiteout::Opaque
    } else if name.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
        Whiteout::Meta
    } else if let Some(target) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        match target {
            b"" | b"." | b".." => Whiteout::Invalid,
            t => Whiteout::Remove(t),
        }
    } else {
        Whiteout::None
    }
}

/// The tar name of the whiteout of `name` (a final component).
pub fn whiteout_name(name: &str) -> String {
    format!("{WHITEOUT_PREFIX}{name}")
}

/// Whether a file in an overlay directory is a whiteout (a character device 0:0).
pub fn is_whiteout(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether a directory in an overlay directory is opaque (either xattr set to `y`).
pub fn is_opaque(dir: &Path) -> bool {
    [OPAQUE_XATTR, USER_OPAQUE_XATTR].iter().any(|key| {
        let mut v = [0u8; 4];
        matches!(rustix::fs::lgetxattr(dir, *key, &mut v[..]), Ok(n) if &v[..n] == b"y")
    })
}

/// Whether an xattr is overlayfs's own (opaque, redirect, metacopy, ...): such attributes
/// change how a stored layer is read when mounted, so they never travel in a layer tar.
pub fn is_overlay_xattr(key: &str) -> bool {
    key.starts_with("trusted.overlay.") || key.starts_with("user.overlay.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_whiteouts() {
        assert_eq!(whiteout(b".wh..wh..opq"), Whiteout::Opaque);
        assert_eq!(whiteout(b".wh..wh.plnk"), Whiteout::Meta);
        assert_eq!(whiteout(b".wh.gone"), Whiteout::Remove(b"gone"));
        assert_eq!(whiteout(b".wh."), Whiteout::Invalid);
        assert_eq!(whiteout(b".wh.."), Whiteout::Invalid);
        assert_eq!(whiteout(b".wh..."), Whiteout::Invalid);
        assert_eq!(whiteout(b".wh....x"), Whiteout::Remove(b"...x"));
        assert_eq!(whiteout(b"x.wh.y"), Whiteout::None);
        assert_eq!(whiteout_name("gone"), ".wh.gone");
    }

    #[test]
    fn recognises_overlay_markers_on_disk() {
        let t = tempfile::tempdir().unwrap();
        let dev = t.path().join("gone");
        rustix::fs::mknodat(rustix::fs::CWD, &dev, rustix::fs::FileType::CharacterDevice, 0.into(), 0).unwrap();
        assert!(is_whiteout(&std::fs::symlink_metadata(&dev).unwrap()));
        assert!(!is_whiteout(&std::fs::symlink_metadata(t.path()).unwrap()));
        assert!(!is_opaque(t.path()));
        rustix::fs::lsetxattr(t.path(), OPAQUE_XATTR, b"y", rustix::fs::XattrFlags::empty()).unwrap();
        assert!(is_opaque(t.path()));
        assert!(is_overlay_xattr("trusted.overlay.redirect") && !is_overlay_xattr("user.mime_type"));
    }
}
