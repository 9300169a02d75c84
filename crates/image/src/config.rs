//! The image configuration JSON (OCI image-spec `config.md`, Docker's
//! `image.Image`): parsing what others wrote, writing what Docker writes.
//!
//! The stored bytes are the truth (the image ID is their sha256); these types
//! are views for reading fields and for producing new configs (import, commit,
//! build) in Docker's shape: keys sorted as Go's `json.Marshal` sorts a map,
//! the container config with Docker's field order and nulls.

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Largest config JSON accepted before parsing (containerd caps JSON at 20 MiB).
pub const MAX_CONFIG_SIZE: u64 = 20 << 20;

/// Errors reading a config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid image config {what}: {source}")]
    Json { what: String, source: serde_json::Error },
    #[error("invalid image config {what}: rootfs type {found:?} is not \"layers\"")]
    RootfsType { what: String, found: String },
}

/// The run configuration inside an image config (`config` / `container_config`),
/// in Docker's field order so `inspect` prints what Docker prints.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ContainerConfig {
    #[serde(rename = "Hostname")]
    pub hostname: String,
    #[serde(rename = "Domainname")]
    pub domainname: String,
    #[serde(rename = "User")]
    pub user: String,
    #[serde(rename = "AttachStdin")]
    pub attach_stdin: bool,
    #[serde(rename = "AttachStdout")]
    pub attach_stdout: bool,
    #[serde(rename = "AttachStderr")]
    pub attach_stderr: bool,
    #[serde(rename = "ExposedPorts", skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(rename = "Tty")]
    pub tty: bool,
    #[serde(rename = "OpenStdin")]
    pub open_stdin: bool,
    #[serde(rename = "StdinOnce")]
    pub stdin_once: bool,
    #[serde(rename = "Env")]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Cmd")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Healthcheck", skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    #[serde(rename = "ArgsEscaped", skip_serializing_if = "std::ops::Not::not")]
    pub args_escaped: bool,
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "Volumes")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(rename = "WorkingDir")]
    pub working_dir: String,
    #[serde(rename = "Entrypoint")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "NetworkDisabled", skip_serializing_if = "std::ops::Not::not")]
    pub network_disabled: bool,
    #[serde(rename = "MacAddress", skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    #[serde(rename = "OnBuild")]
    pub on_build: Option<Vec<String>>,
    #[serde(rename = "Labels")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "StopSignal", skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(rename = "StopTimeout", skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(rename = "Shell", skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// One `history` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct History {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// A parsed image config.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    #[serde(default)]
    pub config: Option<ContainerConfig>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_config: Option<ContainerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub docker_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(default)]
    pub os: String,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "os.version")]
    pub os_version: Option<String>,
    /// Fields this type does not model, kept for round trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageConfig {
    /// Parses config bytes; `what` names the source in errors.
    pub fn parse(bytes: &[u8], what: &str) -> Result<ImageConfig, ConfigError> {
        let c: ImageConfig =
            serde_json::from_slice(bytes).map_err(|source| ConfigError::Json { what: what.to_string(), source })?;
        if c.rootfs.kind != "layers" {
            return Err(ConfigError::RootfsType { what: what.to_string(), found: c.rootfs.kind });
        }
        Ok(c)
    }

    /// Serialises as Docker does: compact, keys in sorted order (Go marshals the
    /// image as a map), `<>&` escaped as Go escapes them.
    pub fn to_docker_bytes(&self) -> Vec<u8> {
        let v = serde_json::to_value(self).expect("config serialises");
        let Value::Object(map) = v else { unreachable!("config is an object") };
        let sorted: BTreeMap<String, Value> = map.into_iter().collect();
        go_json(&serde_json::to_value(sorted).expect("map serialises")).into_bytes()
    }

    /// `created` as a timestamp, when present and valid.
    pub fn created_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.created.as_deref().and_then(parse_time)
    }
}

/// Parses an RFC 3339 time as found in configs.
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// Formats a time as Go's `time.RFC3339Nano` does (trailing zeros dropped).
pub fn format_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos == 0 {
        format!("{base}Z")
    } else {
        let frac = format!("{nanos:09}");
        format!("{base}.{}Z", frac.trim_end_matches('0'))
    }
}

/// Compact JSON as Go's `json.Marshal` writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub fn go_json(v: &Value) -> String {
    let s = serde_json::to_string(v).expect("value serialises");
    go_escape(&s)
}

/// Applies Go's HTML-safe escaping to already-serialised JSON text.
pub fn go_escape(s: &str) -> String {
    if !s.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures").join(name)
    }

    #[test]
    fn docker_import_config_round_trips_byte_for_byte() {
        // The config Docker wrote for `docker import` (inside busybox.docker.tar), extracted in the test.
        let f = std::fs::File::open(fixture("busybox.docker.tar")).unwrap();
        let mut ar = tar::Archive::new(f);
        let mut bytes = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            if path == "b8fec42fe388bb1127f7a3df258520d7f5475fa3121aafc38401edae7ff3e520.json" {
                std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            }
        }
        assert_eq!(Digest::of(&bytes).hex(), "b8fec42fe388bb1127f7a3df258520d7f5475fa3121aafc38401edae7ff3e520");
        let c = ImageConfig::parse(&bytes, "busybox").unwrap();
        assert_eq!(c.comment, "Imported from -");
        assert_eq!(c.rootfs.diff_ids.len(), 1);
        // Re-serialising Docker's own import config gives Docker's bytes: same shape, same order.
        assert_eq!(String::from_utf8(c.to_docker_bytes()).unwrap(), String::from_utf8(bytes).unwrap());
    }

    #[test]
    fn time_format_matches_go() {
        let t = parse_time("2026-11-24T01:28:04.667684960Z").unwrap();
        assert_eq!(format_time(&t), "2026-11-24T01:28:04.66768496Z");
        let t = parse_time("2026-11-24T01:28:04Z").unwrap();
        assert_eq!(format_time(&t), "2026-11-24T01:28:04Z");
    }

    #[test]
    fn rejects_non_layers_rootfs() {
        let err = ImageConfig::parse(br#"{"rootfs":{"type":"foo","diff_ids":[]}}"#, "x").unwrap_err();
        assert!(err.to_string().contains("rootfs type"));
    }
}
