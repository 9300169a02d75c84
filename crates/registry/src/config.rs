//! Registry settings: mirrors and insecure registries, from skiff's
//! `/etc/skiff/config.toml` and Docker's `/etc/docker/daemon.json`.
//!
//! Both files use Docker's key names, `registry-mirrors` (URLs, tried in order
//! before Docker Hub) and `insecure-registries` (`host[:port]` or an IPv4
//! CIDR such as `10.0.0.0/8`). In `config.toml` they may also sit in a
//! `[registry]` table as `mirrors` and `insecure`. Entries from both files are
//! merged, skiff's first.
//!
//! `$SKIFF_CONFIG` and `$SKIFF_DAEMON_JSON` name other files in place of the
//! two defaults (the tests use them; so can hosts that keep them elsewhere).
//!
//! Insecure means: plain HTTP, or HTTPS whose certificate is not verified.
//! HTTP is also allowed for loopback hosts (as Docker lists `127.0.0.0/8`);
//! unverified TLS only for listed hosts or with `--tls-verify=false`.

use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

pub const SKIFF_CONFIG: &str = "/etc/skiff/config.toml";
pub const DOCKER_DAEMON_JSON: &str = "/etc/docker/daemon.json";
/// Environment variables naming other files in place of [`SKIFF_CONFIG`] and [`DOCKER_DAEMON_JSON`].
pub const SKIFF_CONFIG_ENV: &str = "SKIFF_CONFIG";
pub const DAEMON_JSON_ENV: &str = "SKIFF_DAEMON_JSON";

/// Errors from reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
}

/// The registry configuration in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Mirror base URLs for Docker Hub, in order (`https://mirror.example/`).
    pub mirrors: Vec<String>,
    /// Hosts or CIDRs allowed without TLS verification.
    pub insecure: Vec<String>,
    /// `--tls-verify=false`: skip verification for every registry.
    pub tls_verify: bool,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

impl RegistryConfig {
    /// The configuration from the default files, or those named by `$SKIFF_CONFIG` and
    /// `$SKIFF_DAEMON_JSON` (missing files are fine).
    pub fn load() -> Result<RegistryConfig, ConfigError> {
        let path = |var: &str, default: &str| std::env::var_os(var).map(PathBuf::from).unwrap_or(default.into());
        RegistryConfig::load_from(&path(SKIFF_CONFIG_ENV, SKIFF_CONFIG), &path(DAEMON_JSON_ENV, DOCKER_DAEMON_JSON))
    }

    /// The insecure registries as `docker info` lists them: host names first, then CIDRs, then
    /// `127.0.0.0/8` (loopback registries may be reached over plain HTTP, as Docker allows).
    pub fn insecure_for_display(&self) -> (Vec<String>, Vec<String>) {
        let mut hosts = Vec::new();
        let mut cidrs = Vec::new();
        for e in &self.insecure {
            let e = e.trim().trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
            let list = if is_cidr(e) { &mut cidrs } else { &mut hosts };
            if !list.iter().any(|x: &String| x == e) {
                list.push(e.to_string());
            }
        }
        if !cidrs.iter().any(|c| c == "127.0.0.0/8") {
            cidrs.push("127.0.0.0/8".into());
        }
        (hosts, cidrs)
    }

    pub fn load_from(skiff_toml: &Path, daemon_json: &Path) -> Result<RegistryConfig, ConfigError> {
        let mut c = RegistryConfig { tls_verify: true, ..Default::default() };
        if let Some(text) = read_optional(skiff_toml)? {
            let v: toml::Table = toml::from_str(&text)
                .map_err(|e| ConfigError::Parse { path: skiff_toml.to_path_buf(), reason: e.to_string() })?;
            let v = serde_json::to_value(v).unwrap_or(Value::Null);
            c.mirrors.extend(strings(v.get("registry-mirrors")));
            c.insecure.extend(strings(v.get("insecure-registries")));
            if let Some(r) = v.get("registry") {
                c.mirrors.extend(strings(r.get("mirrors")));
                c.insecure.extend(strings(r.get("insecure")));
            }
        }
        if let Some(text) = read_optional(daemon_json)? {
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| ConfigError::Parse { path: daemon_json.to_path_buf(), reason: e.to_string() })?;
            c.mirrors.extend(strings(v.get("registry-mirrors")));
            c.insecure.extend(strings(v.get("insecure-registries")));
        }
        c.mirrors = c.mirrors.iter().map(|m| normalise_mirror(m)).collect();
        c.mirrors.dedup();
        Ok(c)
    }

    /// Whether `host` (`name[:port]`) may be reached without TLS verification.
    pub fn is_insecure(&self, host: &str) -> bool {
        if !self.tls_verify {
            return true;
        }
        let bare = host_without_port(host);
        self.insecure.iter().any(|entry| {
            let entry = entry.trim().trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
            if entry == host || entry == bare {
                return true;
            }
            match (entry.split_once('/'), bare.parse::<Ipv4Addr>()) {
                (Some((net, bits)), Ok(ip)) => match (net.parse::<Ipv4Addr>(), bits.parse::<u32>()) {
                    (Ok(net), Ok(bits)) if bits <= 32 => {
                        let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
                        u32::from(ip) & mask == u32::from(net) & mask
                    }
                    _ => false,
                },
                _ => false,
            }
        })
    }

    /// Whether plain HTTP may be tried for `host`: listed insecure, or loopback.
    pub fn allows_http(&self, host: &str) -> bool {
        self.is_insecure(host) || is_loopback(host)
    }
}

fn read_optional(p: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(p) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Io { path: p.to_path_buf(), source }),
    }
}

/// Mirrors are shown (and used) with a trailing slash, as `docker info` prints them.
fn normalise_mirror(m: &str) -> String {
    let m = m.trim();
    let m = if m.contains("://") { m.to_string() } else { format!("https://{m}") };
    if m.ends_with('/') {
        m
    } else {
        format!("{m}/")
    }
}

fn is_cidr(e: &str) -> bool {
    e.split_once('/').is_some_and(|(ip, bits)| ip.parse::<IpAddr>().is_ok() && bits.parse::<u8>().is_ok())
}

/// `host` without its `:port` (IPv6 literals in brackets are handled).
pub fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Whether `host` names this machine (`localhost`, 127.0.0.0/8, ::1).
pub fn is_loopback(host: &str) -> bool {
    let h = host_without_port(host);
    h == "localhost" || h.parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_daemon_json_as_docker_writes_it_and_the_toml() {
        let d = tempfile::tempdir().unwrap();
        let json = d.path().join("daemon.json");
        std::fs::write(&json, "{\n        \"registry-mirrors\": [\"https://hub-mirror.c.163.com\"],\n \"insecure-registries\": [\"10.1.0.0/16\", \"reg.lan:5000\"]\n}\n").unwrap();
        let toml = d.path().join("config.toml");
        std::fs::write(&toml, "[registry]\nmirrors = [\"http://127.0.0.1:5001\"]\ninsecure = [\"build.lan\"]\n")
            .unwrap();
        let c = RegistryConfig::load_from(&toml, &json).unwrap();
        assert_eq!(c.mirrors, ["http://127.0.0.1:5001/", "https://hub-mirror.c.163.com/"]);
        assert!(c.is_insecure("reg.lan:5000"));
        assert!(!c.is_insecure("reg.lan:5001"));
        assert!(c.is_insecure("build.lan:443"));
        assert!(c.is_insecure("10.1.200.3:5000"));
        assert!(!c.is_insecure("10.2.0.1"));
        assert!(!c.is_insecure("127.0.0.1:5000"));
        assert!(c.allows_http("127.0.0.1:5000") && c.allows_http("localhost:5000") && c.allows_http("[::1]:5000"));
        assert!(!c.allows_http("docker.io"));
        let missing = RegistryConfig::load_from(&d.path().join("no.toml"), &d.path().join("no.json")).unwrap();
        assert!(missing.mirrors.is_empty() && missing.tls_verify);
    }
}
