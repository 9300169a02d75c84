//! FROM images that are not in the store: pulled through an [`ImagePuller`]
//! (the registry client, provided by the caller) as `docker build` does, and
//! always pulled with `--pull`. `scratch`, earlier stages and images named by
//! their local id are never pulled.

use super::{BuildError, Builder};
use skiff_image::{Digest, Reference, Store, StoreError};
use std::io::Write;

/// Why a pull for FROM failed (the registry client's message).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PullFailed {
    /// The reference that was pulled.
    pub reference: String,
    pub message: String,
}

/// Fetches FROM images from a registry.
pub trait ImagePuller {
    /// Pulls `reference` into `store`, writing Docker's pull progress lines
    /// (`latest: Pulling from …`, `Digest: …`, `Status: …`) to `output`
    /// (None for `--quiet`); returns the image id.
    fn pull(&self, store: &Store, reference: &Reference, output: Option<&mut dyn Write>) -> Result<Digest, PullFailed>;
}

impl Builder<'_> {
    /// The image FROM `name` (already expanded, not scratch, not a stage) names:
    /// the store's, pulled when missing or when the build says `--pull`.
    pub(super) fn base_image(&mut self, line: usize, name: &str) -> Result<Digest, BuildError> {
        let local = match self.store.resolve(name) {
            Ok(r) => Some(r.id),
            Err(StoreError::NoSuchImage(_)) => None,
            Err(e) => return Err(e.into()),
        };
        // A local image id (or its prefix) is not something a registry has.
        let by_id = local.as_ref().is_some_and(|id| {
            let hex = name.strip_prefix("sha256:").unwrap_or(name);
            hex.len() >= 4 && id.hex().starts_with(hex)
        });
        if let Some(id) = &local {
            if !self.opts.pull || by_id {
                return Ok(id.clone());
            }
        }
        let Some(puller) = self.puller else {
            return local.ok_or_else(|| {
                self.err(
                    line,
                    format!("FROM {name}: image not found locally, and this build has no registry to pull from: No such image: {name}"),
                )
            });
        };
        let reference =
            Reference::parse_with_default_tag(name).map_err(|e| self.err(line, format!("FROM {name}: {e}")))?;
        let quiet = self.opts.quiet;
        let out: Option<&mut dyn Write> = if quiet { None } else { Some(&mut *self.out) };
        puller.pull(self.store, &reference, out).map_err(|e| self.err(line, e.to_string()))
    }
}
