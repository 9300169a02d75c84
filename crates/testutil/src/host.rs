//! What this machine's kernel and disk offer that some tests need: AppArmor, a static busybox to
//! build bundles from, and the Debian root filesystem `../shared/tools/debian-rootfs` builds.
//! Detectors answer the thing found, or [`Missing`] with the reason a test skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Missing;

/// Where `../shared/tools/debian-rootfs` puts its Debian bookworm (with redis-server) by default.
pub const DEBIAN_ROOTFS: &str = "/var/cache/skiff-fixtures/bookworm-redis";

/// The environment variable that overrides [`DEBIAN_ROOTFS`] (scripts/test.sh passes it on).
pub const DEBIAN_ROOTFS_ENV: &str = "SKIFF_DEBIAN_ROOTFS";

/// Whether the kernel has AppArmor enabled (`/sys/module/apparmor/parameters/enabled` is `Y`).
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

/// `/bin/busybox` when it is a static binary (Debian's busybox-static), the kind a container's
/// root filesystem can hold alone. Judged by `file -L`; when `file` cannot run it is taken as static.
pub fn static_busybox() -> Result<PathBuf, Missing> {
    let p = Path::new("/bin/busybox");
    let is_static = p.exists()
        && Command::new("file")
            .arg("-L")
            .arg(p)
            .output()
            .map_or(true, |o| !String::from_utf8_lossy(&o.stdout).contains("dynamically"));
    if is_static {
        Ok(p.to_path_buf())
    } else {
        Err(Missing::new("/bin/busybox is not a static busybox (apt-get install busybox-static)"))
    }
}

/// The Debian root filesystem with redis-server: `$SKIFF_DEBIAN_ROOTFS`, else [`DEBIAN_ROOTFS`],
/// when it holds `usr/bin/redis-server`.
pub fn debian_rootfs() -> Result<PathBuf, Missing> {
    let dir = std::env::var_os(DEBIAN_ROOTFS_ENV).map(PathBuf::from).unwrap_or_else(|| DEBIAN_ROOTFS.into());
    if dir.join("usr/bin/redis-server").exists() {
        Ok(dir)
    } else {
        Err(Missing(format!(
            "no Debian root filesystem at {} (or ${DEBIAN_ROOTFS_ENV}): build it with ../shared/tools/debian-rootfs \
             (scripts/test.sh does)",
            dir.display()
        )))
    }
}
