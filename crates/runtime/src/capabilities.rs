//! Capabilities: the five sets of `process.capabilities` (bounding, effective, permitted,
//! inheritable, ambient) as bit masks, applied exactly as the spec says: bounding by
//! PR_CAPBSET_DROP, the others by one capset(2) and PR_CAP_AMBIENT. Names are parsed with the
//! `caps` crate; a name this kernel does not know is an error, as in runc.

use std::str::FromStr;

use oci_spec::runtime::LinuxCapabilities;

use crate::sys;

/// Errors resolving or applying capabilities.
#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    #[error("unknown capability {0}")]
    Unknown(String),
}

/// The capability sets as 64-bit masks (bit n = capability number n).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapabilityMasks {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

fn mask_of<'a>(names: impl IntoIterator<Item = &'a oci_spec::runtime::Capability>) -> Result<u64, CapabilityError> {
    let mut m = 0u64;
    for c in names {
        let name = c.to_string();
        let name = if name.starts_with("CAP_") { name } else { format!("CAP_{name}") };
        let cap = caps::Capability::from_str(&name).map_err(|_| CapabilityError::Unknown(name.clone()))?;
        m |= cap.bitmask();
    }
    Ok(m)
}

impl CapabilityMasks {
    /// Masks from the spec; a missing set is empty.
    pub fn from_spec(c: Option<&LinuxCapabilities>) -> Result<Self, CapabilityError> {
        let Some(c) = c else { return Ok(Self::default()) };
        Ok(Self {
            bounding: mask_of(c.bounding().iter().flatten())?,
            effective: mask_of(c.effective().iter().flatten())?,
            permitted: mask_of(c.permitted().iter().flatten())?,
            inheritable: mask_of(c.inheritable().iter().flatten())?,
            ambient: mask_of(c.ambient().iter().flatten())?,
        })
    }
}

/// The highest capability number this kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40)
}

/// Drops every capability outside `bounding` from the bounding set (needs CAP_SETPCAP, so this
/// runs while still root).
pub(crate) fn drop_bounding(bounding: u64) -> Result<(), i32> {
    for n in 0..=last_cap().min(63) {
        if bounding & (1u64 << n) == 0 {
            match sys::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong) {
                Ok(()) | Err(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Sets effective, permitted and inheritable with one capset(2), then the ambient set.
pub(crate) fn apply_sets(m: &CapabilityMasks) -> Result<(), i32> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let hdr = Header { version: 0x2008_0522, pid: 0 }; // _LINUX_CAPABILITY_VERSION_3
    let lo = |v: u64| v as u32;
    let hi = |v: u64| (v >> 32) as u32;
    let data = [
        Data { effective: lo(m.effective), permitted: lo(m.permitted), inheritable: lo(m.inheritable) },
        Data { effective: hi(m.effective), permitted: hi(m.permitted), inheritable: hi(m.inheritable) },
    ];
    // SAFETY: hdr and data have the kernel's v3 layout and live across the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &hdr as *const Header, data.as_ptr()) };
    if rc < 0 {
        return Err(sys::errno());
    }
    // SAFETY: PR_CAP_AMBIENT takes integer arguments only.
    let rc = unsafe {
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0 as libc::c_ulong, 0, 0)
    };
    if rc < 0 {
        return Err(sys::errno());
    }
    for n in 0..64u32 {
        if m.ambient & (1u64 << n) != 0 {
            // SAFETY: PR_CAP_AMBIENT takes integer arguments only.
            let rc = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    n as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            };
            // A capability not in the permitted and inheritable sets cannot be ambient (EPERM):
            // skipped, as runc does (its default spec lists ambient capabilities but no
            // inheritable ones).
            if rc < 0 && sys::errno() != libc::EPERM {
                return Err(sys::errno());
            }
        }
    }
    Ok(())
}
