//! The engine's error: every container operation returns [`EngineError`], whose
//! [`kind`](EngineError::kind) says what class of failure it is (Docker's `errdefs`, see
//! [`skiff_image::errdefs`]) so that the CLI prints Docker's prefix and exit code and an HTTP
//! front end answers 404/409/400/304/500, neither by downcasting.
//!
//! Messages are lower-case without a trailing period, except those whose words are Docker's
//! own (its daemon's, which scripts and tools match): those say so at the variant.

pub use skiff_image::ErrorKind;
use std::path::{Path, PathBuf};

/// Errors of the engine's operations.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
    #[error(transparent)]
    Store(#[from] skiff_image::StoreError),
    #[error(transparent)]
    Blob(#[from] skiff_image::blob::BlobError),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error(transparent)]
    Files(#[from] crate::files::FilesError),
    #[error(transparent)]
    AppArmor(#[from] crate::apparmor::AppArmorError),
    #[error(transparent)]
    Runtime(#[from] skiff_runtime::RuntimeError),
    #[error(transparent)]
    Cgroup(#[from] skiff_runtime::cgroups::CgroupError),
    #[error(transparent)]
    OciRuntime(#[from] crate::oci_runtime::OciRuntimeError),
    #[error(transparent)]
    Options(#[from] crate::options::OptionsError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    /// A system call on no path (a pipe, a dup, a fork) failed.
    #[error("{op}: {source}")]
    Os { op: &'static str, source: std::io::Error },
    /// A JSON document the engine reads or writes (`what` names it) is not what it should be.
    #[error("{what}: {source}")]
    Json { what: String, source: serde_json::Error },
    /// The container process could not be started; `code` is 126, 127 or 125. (Docker's words.)
    #[error("failed to create task for container: {message}")]
    Start { message: String, code: i32 },
    /// Docker's words.
    #[error("Container {0} is not running")]
    NotRunning(String),
    /// `start` of a running container (Docker's CLI treats it as done).
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    /// Docker's words; `action` is what the pause prevents ("stopping or killing", "exec").
    #[error("Container {id} is paused, unpause the container before {action}")]
    Paused { id: String, action: &'static str },
    /// Docker's words.
    #[error("Container {0} is already paused")]
    AlreadyPaused(String),
    /// Docker's words.
    #[error("Container {0} is not paused")]
    NotPaused(String),
    /// Docker's words.
    #[error("You cannot remove a running container {0}. Stop the container before attempting removal or force remove")]
    RemoveRunning(String),
    #[error("cannot join {what} of a non running container: {id}")]
    JoinNotRunning { what: &'static str, id: String },
    #[error("skiff-monitor not found at {0}")]
    NoMonitor(PathBuf),
    #[error(transparent)]
    Signal(#[from] skiff_runtime::signal::SignalError),
    #[error(transparent)]
    Process(#[from] skiff_runtime::process::ProcessError),
}

impl EngineError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Record(e) => e.kind(),
            EngineError::Store(e) => e.kind(),
            EngineError::Files(e) => e.kind(),
            EngineError::Spec(_) | EngineError::Options(_) => ErrorKind::InvalidArgument,
            EngineError::Signal(skiff_runtime::signal::SignalError::Unknown(_)) => ErrorKind::InvalidArgument,
            EngineError::OciRuntime(crate::oci_runtime::OciRuntimeError::Unknown(_)) => ErrorKind::InvalidArgument,
            EngineError::Commit(e) => e.kind(),
            EngineError::NotRunning(_)
            | EngineError::Paused { .. }
            | EngineError::NotPaused(_)
            | EngineError::JoinNotRunning { .. } => ErrorKind::NotRunning,
            EngineError::AlreadyRunning(_) => ErrorKind::AlreadyRunning,
            EngineError::AlreadyPaused(_) | EngineError::RemoveRunning(_) => ErrorKind::Conflict,
            EngineError::Blob(_)
            | EngineError::Rootfs(_)
            | EngineError::AppArmor(_)
            | EngineError::Runtime(_)
            | EngineError::Cgroup(_)
            | EngineError::OciRuntime(_)
            | EngineError::Io { .. }
            | EngineError::Os { .. }
            | EngineError::Json { .. }
            | EngineError::Start { .. }
            | EngineError::NoMonitor(_)
            | EngineError::Signal(_)
            | EngineError::Process(_) => ErrorKind::System,
        }
    }

    /// Docker's exit code: 126/127 when the command cannot be invoked or found, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::Start { code, .. } => *code,
            EngineError::Runtime(e) => e.exit_code(),
            EngineError::OciRuntime(e) => e.exit_code(),
            _ => 125,
        }
    }
}

/// What makes a commit fail besides the store and the container.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("the new layer of container {id}: {source}")]
    Layer { id: String, source: skiff_image::layer_scan::ScanError },
    /// A `--change` instruction that does not apply (its own message names it).
    #[error(transparent)]
    Change(#[from] skiff_image::change_instructions::ChangeError),
}

impl CommitError {
    /// What kind of failure this is: a bad `--change` is the caller's.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CommitError::Layer { .. } => ErrorKind::System,
            CommitError::Change(_) => ErrorKind::InvalidArgument,
        }
    }
}

/// The engine's result.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Maps an I/O error on `path` during `op` to [`EngineError::Io`].
pub(crate) fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> EngineError + 'a {
    move |source| EngineError::Io { op, path: path.to_path_buf(), source }
}

/// Maps a failed system call `op` on no path to [`EngineError::Os`].
pub(crate) fn os<E: Into<std::io::Error>>(op: &'static str) -> impl FnOnce(E) -> EngineError {
    move |e| EngineError::Os { op, source: e.into() }
}

/// Maps a JSON error about `what` to [`EngineError::Json`].
pub(crate) fn json(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> EngineError {
    move |source| EngineError::Json { what: what.into(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_dockers_errdefs() {
        let cases = [
            (EngineError::Record(crate::record::RecordError::NoSuchContainer("x".into())), ErrorKind::NotFound),
            (
                EngineError::Record(crate::record::RecordError::NameInUse { name: "a".into(), id: "b".into() }),
                ErrorKind::Conflict,
            ),
            (EngineError::Store(skiff_image::StoreError::NoSuchImage("x".into())), ErrorKind::NotFound),
            (EngineError::NotRunning("x".into()), ErrorKind::NotRunning),
            (EngineError::AlreadyRunning("x".into()), ErrorKind::AlreadyRunning),
            (EngineError::RemoveRunning("x".into()), ErrorKind::Conflict),
            (
                EngineError::Signal(skiff_runtime::signal::SignalError::Unknown("NOPE".into())),
                ErrorKind::InvalidArgument,
            ),
            (EngineError::NoMonitor("/x".into()), ErrorKind::System),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e}");
        }
        assert_eq!(EngineError::NotRunning("x".into()).kind().http_status(), 409);
        assert_eq!(EngineError::AlreadyRunning("x".into()).kind().http_status(), 304);
    }

    #[test]
    fn dockers_words_are_kept() {
        let paused = EngineError::Paused { id: "abc".into(), action: "exec" };
        assert_eq!(paused.to_string(), "Container abc is paused, unpause the container before exec");
        let stop = EngineError::Paused { id: "abc".into(), action: "stopping or killing" };
        assert_eq!(stop.to_string(), "Container abc is paused, unpause the container before stopping or killing");
        assert_eq!(EngineError::AlreadyPaused("abc".into()).to_string(), "Container abc is already paused");
    }
}
