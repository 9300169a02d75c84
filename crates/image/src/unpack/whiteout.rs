//! Whiteouts and opaque directories (OCI image spec `layer.md` §"Whiteouts") in both modes:
//! overlayfs markers in a lower directory, or deletions applied to a merged tree.

use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{self as rfs, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::error::{fs_err, Result};
use super::fsops::{self, os};
use super::names;
use super::{LayerUnpacker, Meta, WhiteoutMode};
use crate::overlay::markers::OPAQUE_XATTR;

impl LayerUnpacker {
    /// `.wh.NAME` in `parent`.
    pub(super) fn whiteout(&mut self, parent: &[u8], target: &[u8], m: &Meta) -> Result<()> {
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => {
                let pfd = self.take_parent(parent, &m.display)?;
                let res = self.make_node(
                    pfd.as_fd(),
                    target,
                    FileType::CharacterDevice,
                    0,
                    &Meta {
                        mode: 0,
                        xattrs: Vec::new(),
                        display: m.display.clone(),
                        uid: m.uid,
                        gid: m.gid,
                        times: m.times.clone(),
                    },
                );
                self.put_parent(parent, pfd);
                res.map(|_| ())
            }
            WhiteoutMode::Apply => {
                // Whiteouts hide lower layers only: never delete what this layer wrote.
                if self.touched.contains(&names::join(parent, target)) {
                    return Ok(());
                }
                let pfd = match fsops::open_dir_in_root(self.root.as_fd(), parent) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT) | Err(Errno::NOTDIR) => return Ok(()),
                    Err(e) => return Err(fs_err(&m.display, "opening whiteout directory", e)),
                };
                self.invalidate_parent();
                fsops::remove_all_at(pfd.as_fd(), target)
                    .map_err(|e| fs_err(&m.display, "removing whited-out entry", e))
            }
        }
    }

    /// `.wh..wh..opq` in `parent`.
    pub(super) fn opaque(&mut self, parent: &[u8], m: &Meta) -> Result<()> {
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => {
                fsops::open_or_create_dir_in_root(self.root.as_fd(), parent)
                    .map_err(|e| fs_err(&m.display, "opening opaque directory", e))?;
                let fd = fsops::open_dir_rdonly_in_root(self.root.as_fd(), parent)
                    .map_err(|e| fs_err(&m.display, "opening opaque directory", e))?;
                rfs::fsetxattr(&fd, OPAQUE_XATTR, b"y", rfs::XattrFlags::empty())
                    .map_err(|e| fs_err(&m.display, "setting opaque xattr", e))
            }
            WhiteoutMode::Apply => {
                let fd = match fsops::open_dir_rdonly_in_root(self.root.as_fd(), parent) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT) | Err(Errno::NOTDIR) | Err(Errno::LOOP) => return Ok(()),
                    Err(e) => return Err(fs_err(&m.display, "opening opaque directory", e)),
                };
                self.invalidate_parent();
                self.prune(fd.as_fd(), parent).map_err(|e| fs_err(&m.display, "emptying opaque directory", e))
            }
        }
    }

    /// Removes everything under `dir` (at cleaned `path`) that this layer did not write.
    fn prune(&self, dir: BorrowedFd<'_>, path: &[u8]) -> std::result::Result<(), Errno> {
        for child in fsops::list_dir(dir)? {
            let cpath = names::join(path, &child);
            if !self.touched.contains(&cpath) {
                fsops::remove_all_at(dir, &child)?;
                continue;
            }
            match fsops::lstat_at(dir, &child)? {
                Some(st) if fsops::is_dir(&st) => {
                    let sub = rfs::openat(
                        dir,
                        os(&child),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    self.prune(sub.as_fd(), &cpath)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
