//! Registry credentials in Docker's `~/.docker/config.json` format, so an
//! existing `docker login` works for skiff and the other way round.
//!
//! `auths` holds `{"<server>": {"auth": base64("user:pass")}}`; `credsStore`
//! (all servers) and `credHelpers` (per server) name a helper
//! `docker-credential-<x>` speaking JSON on stdin/stdout (`get`, `store`,
//! `erase`). Docker Hub's key is `https://index.docker.io/v1/`.
//! `$DOCKER_CONFIG` overrides the directory, as for Docker's CLI.

use base64::Engine;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The key Docker Hub's credentials are stored under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Errors reading or writing credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{path}: invalid JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}: invalid auth entry for {server}")]
    BadAuth { path: PathBuf, server: String },
    #[error("credential helper docker-credential-{helper} {action} for {server}: {reason}")]
    Helper { helper: String, action: &'static str, server: String, reason: String },
}

/// A user name and password (or identity token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// The key for a registry host in `auths`: Docker Hub's v1 URL, else the host as given.
pub fn server_key(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        h => h.to_string(),
    }
}

/// Strips a scheme and path, so `https://host:5000/v1/` matches `host:5000`.
fn normalise(key: &str) -> &str {
    let k = key.split_once("://").map(|(_, r)| r).unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

/// The Docker config file: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
pub fn default_config_path() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker/config.json")
}

/// A Docker config file.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    path: PathBuf,
}

impl CredentialStore {
    pub fn new(path: PathBuf) -> CredentialStore {
        CredentialStore { path }
    }

    pub fn default_location() -> CredentialStore {
        CredentialStore::new(default_config_path())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<Map<String, Value>, CredentialsError> {
        match std::fs::read(&self.path) {
            Ok(b) if b.iter().all(|c| c.is_ascii_whitespace()) => Ok(Map::new()),
            Ok(b) => match serde_json::from_slice::<Value>(&b) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(_) => Ok(Map::new()),
                Err(source) => Err(CredentialsError::Json { path: self.path.clone(), source }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
            Err(source) => Err(CredentialsError::Io { op: "read", path: self.path.clone(), source }),
        }
    }

    fn write(&self, m: &Map<String, Value>) -> Result<(), CredentialsError> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |op, source| CredentialsError::Io { op, path: self.path.clone(), source };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io("create directory for", e))?;
        }
        let tmp = self.path.with_extension(format!("json.tmp{}", std::process::id()));
        let data = serde_json::to_vec_pretty(&Value::Object(m.clone())).expect("config serialises");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io("create", e))?;
        f.write_all(&data).and_then(|_| f.write_all(b"\n")).map_err(|e| io("write", e))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(|e| io("replace", e))
    }

    fn helper_for(m: &Map<String, Value>, key: &str) -> Option<String> {
        let host = normalise(key);
        if let Some(Value::Object(h)) = m.get("credHelpers") {
            for (k, v) in h {
                if normalise(k) == host || k == key {
                    return v.as_str().map(str::to_string);
                }
            }
        }
        m.get("credsStore").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
    }

    /// Credentials for a registry host, if any are stored.
    pub fn get(&self, host: &str) -> Result<Option<Credentials>, CredentialsError> {
        let key = server_key(host);
        let m = self.read()?;
        if let Some(helper) = Self::helper_for(&m, &key) {
            if let Some(c) = helper_get(&helper, &key)? {
                return Ok(Some(c));
            }
        }
        let Some(Value::Object(auths)) = m.get("auths") else { return Ok(None) };
        let host_norm = normalise(&key);
        let entry = auths.get(&key).or_else(|| auths.iter().find(|(k, _)| normalise(k) == host_norm).map(|(_, v)| v));
        let Some(entry) = entry else { return Ok(None) };
        let bad = || CredentialsError::BadAuth { path: self.path.clone(), server: key.clone() };
        if let Some(auth) = entry.get("auth").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            let raw = base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| bad())?;
            let s = String::from_utf8(raw).map_err(|_| bad())?;
            let (u, p) = s.split_once(':').ok_or_else(bad)?;
            return Ok(Some(Credentials { username: u.to_string(), password: p.trim_end_matches('\0').to_string() }));
        }
        if let Some(tok) = entry.get("identitytoken").and_then(Value::as_str) {
            return Ok(Some(Credentials { username: "<token>".into(), password: tok.to_string() }));
        }
        Ok(None)
    }

    /// Stores credentials (in the helper when one is configured, else base64 in `auths`).
    pub fn store(&self, host: &str, c: &Credentials) -> Result<(), CredentialsError> {
        let key = server_key(host);
        let mut m = self.read()?;
        if let Some(helper) = Self::helper_for(&m, &key) {
            let input = serde_json::json!({"ServerURL": key, "Username": c.username, "Secret": c.password});
            run_helper(&helper, "store", &key, input.to_string().as_bytes())?;
            let auths = m.entry("auths").or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(a) = auths {
                a.insert(key, Value::Object(Map::new()));
            }
        } else {
            let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password));
            let auths = m.entry("auths").or_insert_with(|| Value::Object(Map::new()));
            if !auths.is_object() {
                *auths = Value::Object(Map::new());
            }
            if let Value::Object(a) = auths {
                a.insert(key, serde_json::json!({ "auth": auth }));
            }
        }
        self.write(&m)
    }

    /// Removes stored credentials; returns whether there were any.
    pub fn erase(&self, host: &str) -> Result<bool, CredentialsError> {
        let key = server_key(host);
        let mut m = self.read()?;
        let mut found = false;
        if let Some(helper) = Self::helper_for(&m, &key) {
            found |= run_helper(&helper, "erase", &key, key.as_bytes()).is_ok();
        }
        if let Some(Value::Object(a)) = m.get_mut("auths") {
            let host_norm = normalise(&key).to_string();
            let keys: Vec<String> = a.keys().filter(|k| *k == &key || normalise(k) == host_norm).cloned().collect();
            for k in keys {
                a.remove(&k);
                found = true;
            }
        }
        if found {
            self.write(&m)?;
        }
        Ok(found)
    }
}

fn run_helper(helper: &str, action: &'static str, server: &str, input: &[u8]) -> Result<Vec<u8>, CredentialsError> {
    let err = |reason: String| CredentialsError::Helper {
        helper: helper.to_string(),
        action,
        server: server.to_string(),
        reason,
    };
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).map_err(|e| err(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let msg = if msg.is_empty() { String::from_utf8_lossy(&out.stderr).trim().to_string() } else { msg };
        return Err(err(msg));
    }
    Ok(out.stdout)
}

fn helper_get(helper: &str, server: &str) -> Result<Option<Credentials>, CredentialsError> {
    match run_helper(helper, "get", server, server.as_bytes()) {
        Ok(out) => {
            let v: Value = serde_json::from_slice(&out).map_err(|e| CredentialsError::Helper {
                helper: helper.to_string(),
                action: "get",
                server: server.to_string(),
                reason: format!("invalid output: {e}"),
            })?;
            let user = v.get("Username").and_then(Value::as_str).unwrap_or_default().to_string();
            let secret = v.get("Secret").and_then(Value::as_str).unwrap_or_default().to_string();
            if secret.is_empty() {
                return Ok(None);
            }
            Ok(Some(Credentials { username: user, password: secret }))
        }
        // "credentials not found in native keychain" is not an error for a lookup.
        Err(CredentialsError::Helper { reason, .. }) if reason.contains("not found") => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_auths_as_docker_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        // A config as Docker writes it (other keys must survive).
        std::fs::write(
            &path,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YWxpY2U6czNjcmV0"}},"psFormat":"x"}"#,
        )
        .unwrap();
        let s = CredentialStore::new(path.clone());
        let c = s.get("docker.io").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("alice", "s3cret"));
        assert!(s.get("localhost:5000").unwrap().is_none());
        s.store("localhost:5000", &Credentials { username: "bob".into(), password: "pw:x".into() }).unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["auths"]["localhost:5000"]["auth"], "Ym9iOnB3Ong=");
        assert_eq!(v["psFormat"], "x");
        assert_eq!(s.get("localhost:5000").unwrap().unwrap().password, "pw:x");
        assert!(s.erase("localhost:5000").unwrap());
        assert!(s.get("localhost:5000").unwrap().is_none());
        assert!(!s.erase("localhost:5000").unwrap());
    }

    #[test]
    fn asks_the_credential_helper() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let helper = bin.join("docker-credential-fake");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread s\n[ \"$1\" = get ] && [ \"$s\" = reg.example:5000 ] && echo '{\"Username\":\"u\",\"Secret\":\"p\"}' && exit 0\necho 'credentials not found in native keychain'; exit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"credHelpers":{"reg.example:5000":"fake"}}"#).unwrap();
        // PATH is process-wide; this is the only test in this binary that reads it.
        let old = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![bin.clone()];
        paths.extend(std::env::split_paths(&old));
        std::env::set_var("PATH", std::env::join_paths(paths).unwrap());
        let s = CredentialStore::new(path);
        let c = s.get("reg.example:5000").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert!(s.get("other.example").unwrap().is_none());
    }
}
