//! AppArmor for containers, applied as Docker applies it: where the kernel has AppArmor, a
//! container runs under the profile `--security-opt apparmor=PROFILE` names, unconfined when it
//! is privileged, and otherwise under skiff's default profile, which skiff loads into the kernel
//! (with `apparmor_parser`) whenever it is not there. Where the kernel has no AppArmor, nothing
//! is applied; the CLI says so when a profile was asked for.

use std::path::{Path, PathBuf};

/// Why skiff's default profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AppArmorError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("AppArmor is enabled but loading the {DEFAULT_PROFILE} profile failed: {0}")]
    Load(String),
    #[error(
        "AppArmor is enabled but apparmor_parser could not be run to load the {DEFAULT_PROFILE} profile ({0}): \
         install it (apt-get install apparmor) or run with --security-opt apparmor=unconfined"
    )]
    NoParser(std::io::Error),
}

/// The name of skiff's default profile (Docker's is `docker-default`; skiff leaves that one,
/// which a Docker on the same host loads, alone).
pub const DEFAULT_PROFILE: &str = "skiff-default";

/// The profile `--security-opt apparmor=PROFILE` (or `apparmor:PROFILE`) asks for.
pub fn requested(security_opt: &[String]) -> Option<&str> {
    security_opt.iter().rev().find_map(|s| s.strip_prefix("apparmor=").or_else(|| s.strip_prefix("apparmor:")))
}

/// The profile a container runs under: `None` where the kernel has no AppArmor or the container
/// is unconfined.
pub fn choose(enabled: bool, requested: Option<&str>, privileged: bool) -> Option<String> {
    if !enabled {
        return None;
    }
    let profile = match requested {
        Some(p) => p,
        None if privileged => "unconfined",
        None => DEFAULT_PROFILE,
    };
    (profile != "unconfined").then(|| profile.to_string())
}

/// skiff's default profile: what the namespaces, capabilities and seccomp filter leave open,
/// further narrowed as Docker's default narrows it (no mounts, signals and ptrace only among the
/// profile's own processes, the kernel's sensitive files out of reach).
pub fn default_profile_text() -> String {
    let name = DEFAULT_PROFILE;
    format!(
        "# skiff's default AppArmor profile for containers (written by skiff; reloaded when missing).
profile {name} flags=(attach_disconnected,mediate_deleted) {{
  network,
  capability,
  file,
  umount,

  # Signals from the host's unconfined processes and among the profile's own; ptrace only among them.
  signal (receive) peer=unconfined,
  signal (send, receive) peer={name},
  ptrace (trace, read, tracedby, readby) peer={name},

  # No mounts, whatever the capabilities.
  deny mount,

  # The kernel's own files: no writes below /proc other than a process's own entries and
  # /proc/sys/net, nothing at all of these.
  deny /proc/sys/kernel/** w,
  deny /proc/sys/vm/** w,
  deny /proc/sys/fs/** w,
  deny /proc/sysrq-trigger rwklx,
  deny /proc/kcore rwklx,
  deny /proc/kmem rwklx,
  deny /proc/mem rwklx,
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,
  deny /sys/fs/cgroup/** w,
}}
"
    )
}

/// Whether the kernel has a profile named `name` loaded.
pub fn is_loaded(name: &str) -> bool {
    let text = std::fs::read_to_string("/sys/kernel/security/apparmor/profiles").unwrap_or_default();
    text.lines().any(|l| l.rsplit_once(" (").map(|(n, _)| n) == Some(name))
}

/// Loads skiff's default profile when the kernel does not have it (a reboot or an unload takes
/// it away); `scratch` is a directory for the profile's text.
pub fn ensure_default_loaded(scratch: &Path) -> Result<(), AppArmorError> {
    if is_loaded(DEFAULT_PROFILE) {
        return Ok(());
    }
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| AppArmorError::Io { op, path, source }
    };
    std::fs::create_dir_all(scratch).map_err(io("create", scratch))?;
    let file = scratch.join(format!("{DEFAULT_PROFILE}.{}", std::process::id()));
    std::fs::write(&file, default_profile_text()).map_err(io("write", &file))?;
    let out = std::process::Command::new("apparmor_parser").arg("-Kr").arg(&file).output();
    let _ = std::fs::remove_file(&file);
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(AppArmorError::Load(String::from_utf8_lossy(&o.stderr).trim().to_string())),
        Err(e) => Err(AppArmorError::NoParser(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_is_chosen_as_docker_chooses() {
        let opts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(requested(&opts(&["no-new-privileges", "apparmor=mine"])), Some("mine"));
        assert_eq!(requested(&opts(&["apparmor:other"])), Some("other"));
        assert_eq!(requested(&opts(&["seccomp=unconfined"])), None);
        assert_eq!(choose(true, None, false).as_deref(), Some(DEFAULT_PROFILE));
        assert_eq!(choose(true, None, true), None);
        assert_eq!(choose(true, Some("mine"), true).as_deref(), Some("mine"));
        assert_eq!(choose(true, Some("unconfined"), false), None);
        assert_eq!(choose(false, Some("mine"), false), None);
        assert_eq!(choose(false, None, false), None);
    }

    /// The default profile is valid AppArmor policy: apparmor_parser compiles it (without
    /// loading it, so this runs on kernels without AppArmor too).
    #[test]
    fn the_default_profile_compiles() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("p");
        std::fs::write(&f, default_profile_text()).unwrap();
        let out = match std::process::Command::new("apparmor_parser").args(["-Q", "-T"]).arg(&f).output() {
            Ok(o) => o,
            Err(_) => {
                eprintln!("skipped: no apparmor_parser (apt-get install apparmor)");
                return;
            }
        };
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // And the check is real: a broken profile is refused.
        std::fs::write(&f, default_profile_text().replace("deny mount,", "deny mount")).unwrap();
        let out = std::process::Command::new("apparmor_parser").args(["-Q", "-T"]).arg(&f).output().unwrap();
        assert!(!out.status.success());
    }
}
