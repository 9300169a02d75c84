//! The per-container lock: an exclusive `flock` on `containers/<id>/lock` that serialises start,
//! stop and rm of one container across skiff processes, released on drop.

use crate::error::{EngineError, Result};
use crate::record::Container;
use skiff_image::Store;

/// Takes container `c`'s lock; `None` when its directory is gone (removed by a concurrent rm:
/// nothing to serialise with).
pub(super) fn lock(store: &Store, c: &Container) -> Result<Option<std::fs::File>> {
    let p = c.dir(store).join("lock");
    let f = match std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EngineError::Io { op: "open", path: p, source: e }),
    };
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).map_err(|e| EngineError::Io {
        op: "lock",
        path: p,
        source: e.into(),
    })?;
    Ok(Some(f))
}

/// Container `c`'s lock if no one holds it now, without waiting.
pub(super) fn try_lock(store: &Store, c: &Container) -> Option<std::fs::File> {
    let f = std::fs::OpenOptions::new().write(true).open(c.dir(store).join("lock")).ok()?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).ok()?;
    Some(f)
}
