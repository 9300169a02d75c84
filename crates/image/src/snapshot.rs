//! Unpacked layers for overlayfs: `layers/<chain-id>/`, created on first use.
//!
//! Layers are kept as received (a blob) and unpacked lazily, the first time a
//! container needs them, in overlay format (whiteouts as 0:0 character
//! devices, opaque directories as `trusted.overlay.opaque`). Each is unpacked
//! into scratch under `tmp/` and renamed into place, so a layer directory is
//! either complete or absent; two processes unpacking the same layer at once
//! both succeed and one result is kept.

use crate::compression::decompress;
use crate::digest::{Digest, HashingReader};
use crate::store::{Result, Store, StoreError};
use crate::unpack::{unpack_layer, UnpackOptions, WhiteoutMode};
use std::path::PathBuf;

impl Store {
    /// The unpacked directories of an image's layers, base first, unpacking any not yet unpacked.
    pub fn unpacked_layers(&self, image: &Digest) -> Result<Vec<PathBuf>> {
        let layers = self.image_layers(image)?;
        let mut dirs = Vec::with_capacity(layers.len());
        for l in layers {
            let dir = self.layer_dir(&l.chain_id);
            if !dir.exists() {
                self.unpack_into_place(&l.chain_id, &l.diff_id, &l.blob, &dir)?;
            }
            dirs.push(dir);
        }
        Ok(dirs)
    }

    fn unpack_into_place(&self, chain: &Digest, diff_id: &Digest, blob: &Digest, dir: &PathBuf) -> Result<()> {
        let scratch = self.tmp_dir().join(format!("unpack-{}-{}", chain.short(), std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir(&scratch).map_err(|source| StoreError::Io {
            op: "create",
            path: scratch.clone(),
            source,
        })?;
        let outcome = (|| -> Result<()> {
            let f = self.blobs().open(blob)?;
            let (_, plain) = decompress(f).map_err(|source| StoreError::Io {
                op: "read layer",
                path: self.blobs().path(blob),
                source,
            })?;
            let mut hashing = HashingReader::new(plain);
            let opts = UnpackOptions { whiteouts: WhiteoutMode::Overlay, ..UnpackOptions::default() };
            unpack_layer(&mut hashing, &scratch, &opts)
                .map_err(|e| StoreError::InvalidImage { what: format!("layer {chain}"), reason: e.to_string() })?;
            let (found, _, _) = hashing.finish();
            if &found != diff_id {
                return Err(StoreError::InvalidImage {
                    what: format!("layer {chain}"),
                    reason: format!("blob {blob} unpacks to {found}, expected DiffID {diff_id}"),
                });
            }
            crate::blob::syncfs(&scratch).map_err(|source| StoreError::Io {
                op: "sync",
                path: scratch.clone(),
                source,
            })?;
            match std::fs::rename(&scratch, dir) {
                Ok(()) => Ok(()),
                // Another process published it first: theirs is identical.
                Err(_) if dir.exists() => Ok(()),
                Err(source) => Err(StoreError::Io { op: "publish layer", path: dir.clone(), source }),
            }
        })();
        if scratch.exists() {
            let _ = std::fs::remove_dir_all(&scratch);
        }
        outcome
    }
}
