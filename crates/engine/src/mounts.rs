//! The mounts a container asks for, parsed once from Docker's flags into [`Mount`]s: `-v` /
//! `--volume` (`SRC:DEST[:MODE]` with a host path or a volume name, or a bare `DEST` for an
//! anonymous volume) and `--tmpfs` (`DEST[:OPTIONS]`). The record keeps the typed mounts; spec
//! generation, `start`'s copy-up, `rm -v` and `inspect` read them, nothing splits strings again.
//! The syntax is Docker's (`docker run --help`, moby's `volume/mounts/linux_parser.go`).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A `-v` or `--tmpfs` that is not one. (Docker's daemon's words.)
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MountError {
    #[error("invalid volume specification: '{0}'")]
    Volume(String),
    #[error("invalid tmpfs specification: '{0}'")]
    Tmpfs(String),
}

/// Mount propagation (`mount(8)`'s shared, slave and private, and their recursive forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    Shared,
    Slave,
    Private,
    Rshared,
    Rslave,
    Rprivate,
}

impl Propagation {
    fn parse(s: &str) -> Option<Propagation> {
        Some(match s {
            "shared" => Propagation::Shared,
            "slave" => Propagation::Slave,
            "private" => Propagation::Private,
            "rshared" => Propagation::Rshared,
            "rslave" => Propagation::Rslave,
            "rprivate" => Propagation::Rprivate,
            _ => return None,
        })
    }

    /// The word, as `mount(8)` and the OCI spec's mount options spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Shared => "shared",
            Propagation::Slave => "slave",
            Propagation::Private => "private",
            Propagation::Rshared => "rshared",
            Propagation::Rslave => "rslave",
            Propagation::Rprivate => "rprivate",
        }
    }
}

/// Where a mount's content comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MountSource {
    /// A host path, bound.
    Bind { source: PathBuf },
    /// A volume of the store (`volumes/<name>/_data`). An anonymous one (`-v /path`, an image's
    /// `VOLUME`) has an empty name until `create` names it; `rm -v` removes it.
    Volume { name: String, anonymous: bool },
    /// A tmpfs with these mount options (`size=1m,mode=1777`), as `--tmpfs DEST:OPTIONS` gives them.
    Tmpfs { options: String },
}

/// One mount of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// The path inside the container.
    pub target: String,
    #[serde(flatten)]
    pub source: MountSource,
    pub read_only: bool,
    /// The `-v` mode as given (`ro,z`): Docker's `Mode` in inspect.
    #[serde(default)]
    pub mode: String,
    /// Propagation asked for; `None` is Docker's default, rprivate.
    #[serde(default)]
    pub propagation: Option<Propagation>,
}

impl Mount {
    /// Parses one `-v`/`--volume`.
    pub fn parse_volume(spec: &str) -> Result<Mount, MountError> {
        let bad = || MountError::Volume(spec.to_string());
        let parts: Vec<&str> = spec.split(':').collect();
        let (src, dest, mode) = match parts.as_slice() {
            [d] if d.starts_with('/') => ("", *d, ""),
            [s, d] => (*s, *d, ""),
            [s, d, m] => (*s, *d, *m),
            _ => return Err(bad()),
        };
        if !dest.starts_with('/') || dest == "/" {
            return Err(bad());
        }
        let source = if parts.len() == 1 {
            MountSource::Volume { name: String::new(), anonymous: true }
        } else if src.starts_with('/') {
            MountSource::Bind { source: PathBuf::from(src) }
        } else if crate::names::valid_name(src) {
            MountSource::Volume { name: src.to_string(), anonymous: false }
        } else {
            return Err(bad());
        };
        let mut read_only = false;
        let mut propagation = None;
        for flag in mode.split(',').filter(|s| !s.is_empty()) {
            match flag {
                "ro" => read_only = true,
                "rw" => read_only = false,
                // SELinux relabelling: nothing to do without SELinux.
                "z" | "Z" => {}
                _ => propagation = Some(Propagation::parse(flag).ok_or_else(bad)?),
            }
        }
        Ok(Mount { target: dest.to_string(), source, read_only, mode: mode.to_string(), propagation })
    }

    /// Parses one `--tmpfs`.
    pub fn parse_tmpfs(spec: &str) -> Result<Mount, MountError> {
        let (dest, options) = spec.split_once(':').unwrap_or((spec, ""));
        if !dest.starts_with('/') {
            return Err(MountError::Tmpfs(spec.to_string()));
        }
        Ok(Mount {
            target: dest.to_string(),
            source: MountSource::Tmpfs { options: options.to_string() },
            read_only: false,
            mode: String::new(),
            propagation: None,
        })
    }

    /// An anonymous volume at `target` (an image's `VOLUME`), named at create.
    pub fn anonymous_volume(target: &str) -> Mount {
        Mount {
            target: target.to_string(),
            source: MountSource::Volume { name: String::new(), anonymous: true },
            read_only: false,
            mode: String::new(),
            propagation: None,
        }
    }

    /// The volume's name, for a volume mount.
    pub fn volume_name(&self) -> Option<&str> {
        match &self.source {
            MountSource::Volume { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The `-v` string Docker's `HostConfig.Binds` shows for a bind or volume mount
    /// (`SRC:DEST[:MODE]`); `None` for a tmpfs.
    pub fn bind_spec(&self) -> Option<String> {
        let src = match &self.source {
            MountSource::Bind { source } => source.to_string_lossy().into_owned(),
            MountSource::Volume { name, .. } => name.clone(),
            MountSource::Tmpfs { .. } => return None,
        };
        Some(if self.mode.is_empty() {
            format!("{src}:{}", self.target)
        } else {
            format!("{src}:{}:{}", self.target, self.mode)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_parse_as_docker_reads_them() {
        let m = Mount::parse_volume("/srv:/srv:ro").unwrap();
        assert_eq!(m.source, MountSource::Bind { source: "/srv".into() });
        assert!(m.read_only && m.mode == "ro" && m.propagation.is_none());
        assert_eq!(m.bind_spec().as_deref(), Some("/srv:/srv:ro"));
        let m = Mount::parse_volume("data:/data").unwrap();
        assert_eq!(m.source, MountSource::Volume { name: "data".into(), anonymous: false });
        assert!(!m.read_only);
        assert_eq!(m.bind_spec().as_deref(), Some("data:/data"));
        let m = Mount::parse_volume("/cache").unwrap();
        assert_eq!(m.source, MountSource::Volume { name: String::new(), anonymous: true });
        assert_eq!(m.target, "/cache");
        let m = Mount::parse_volume("/a:/b:rshared,z").unwrap();
        assert_eq!(m.propagation, Some(Propagation::Rshared));
        for bad in ["rel/x:/x", "data", "/a:b", "/a:/", "/a:/b:bogus", "/a:/b:ro:x", "", "a b:/c"] {
            assert_eq!(Mount::parse_volume(bad), Err(MountError::Volume(bad.into())), "{bad:?}");
        }
        assert_eq!(
            Mount::parse_volume("rel/x:/x").unwrap_err().to_string(),
            "invalid volume specification: 'rel/x:/x'"
        );
    }

    #[test]
    fn tmpfs_parses_as_docker_reads_it() {
        let m = Mount::parse_tmpfs("/run:size=1m,mode=1777").unwrap();
        assert_eq!(m.source, MountSource::Tmpfs { options: "size=1m,mode=1777".into() });
        assert_eq!(m.target, "/run");
        assert_eq!(m.bind_spec(), None);
        assert_eq!(Mount::parse_tmpfs("/x").unwrap().source, MountSource::Tmpfs { options: String::new() });
        assert_eq!(Mount::parse_tmpfs("run").unwrap_err().to_string(), "invalid tmpfs specification: 'run'");
    }
}
