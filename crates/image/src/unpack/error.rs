//! Errors of the layer unpacker; every variant names the entry (or destination) concerned.

use std::io;
use std::path::PathBuf;

use rustix::io::Errno;

use super::fsops::ioe;
use crate::tarstream::TarStreamError;

/// Why an unpack failed; every variant names the entry (or destination) concerned.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The destination directory could not be opened.
    #[error("opening unpack destination {path}: {source}")]
    Dest {
        /// The destination.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The tar stream itself is malformed or truncated.
    #[error(transparent)]
    Tar(#[from] TarStreamError),
    /// A name that escapes the destination after cleaning, or a non-directory at the root.
    #[error("invalid entry name {name:?}")]
    InvalidName {
        /// The entry's path as stored.
        name: String,
    },
    /// A hardlink whose target escapes the destination or is empty.
    #[error("entry {path}: invalid hardlink target {target:?}")]
    InvalidHardlinkTarget {
        /// The entry's path.
        path: String,
        /// The link target as stored.
        target: String,
    },
    /// A whiteout naming `.` or `..`.
    #[error("invalid whiteout {path:?}: it names the directory itself or its parent")]
    InvalidWhiteout {
        /// The entry's path.
        path: String,
    },
    /// The layer's files exceed [`UnpackOptions::max_bytes`](super::UnpackOptions::max_bytes).
    #[error("entry {path}: layer exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The entry being written.
        path: String,
        /// The limit.
        limit: u64,
    },
    /// The filesystem is full (or the quota is exhausted).
    #[error("entry {path}: no space left on device")]
    NoSpace {
        /// The entry being written.
        path: String,
    },
    /// Reading the entry's data failed (including a truncated archive).
    #[error("entry {path}: reading data: {source}")]
    Read {
        /// The entry's path.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A filesystem operation failed.
    #[error("entry {path}: {op}: {source}")]
    Io {
        /// The entry's path.
        path: String,
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

pub(super) type Result<T> = std::result::Result<T, UnpackError>;

/// Maps an errno to [`UnpackError`], turning ENOSPC/EDQUOT into [`UnpackError::NoSpace`].
pub(super) fn fs_err(path: &str, op: &'static str, e: Errno) -> UnpackError {
    if e == Errno::NOSPC || e == Errno::DQUOT {
        return UnpackError::NoSpace { path: path.to_string() };
    }
    UnpackError::Io { path: path.to_string(), op, source: ioe(e) }
}

/// A failed read of entry data: the stream's own error (e.g. truncation) when that is the cause.
pub(super) fn read_err(path: &str, source: io::Error) -> UnpackError {
    if source.get_ref().is_some_and(|e| e.is::<TarStreamError>()) {
        let inner = source.into_inner().expect("checked above");
        return match inner.downcast::<TarStreamError>() {
            Ok(tar) => UnpackError::Tar(*tar),
            Err(other) => UnpackError::Read { path: path.to_string(), source: io::Error::other(other) },
        };
    }
    UnpackError::Read { path: path.to_string(), source }
}

pub(super) fn io_err(path: &str, op: &'static str, e: io::Error) -> UnpackError {
    match e.raw_os_error() {
        Some(code) => fs_err(path, op, Errno::from_raw_os_error(code)),
        None => UnpackError::Io { path: path.to_string(), op, source: e },
    }
}
