//! `skiff login [-u USER] [-p PASS | --password-stdin] [SERVER]`: checks the credentials against
//! the registry, then stores them in Docker's `config.json`.

use super::{registry_options, GlobalOpts};
use anyhow::{bail, Context};
use clap::Args;
use skiff_registry::credentials::{CredentialStore, Credentials};
use skiff_registry::http::Request;
use skiff_registry::Client;
use std::io::{BufRead, Write};

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Verify TLS certificates of the registry
    #[arg(long = "tls-verify", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

/// `https://index.docker.io/v1/` and friends name Docker Hub.
pub fn server_host(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s.split_once("://").map(|(_, r)| r).unwrap_or(s);
    let s = s.split('/').next().unwrap_or(s);
    match s {
        "index.docker.io" | "registry-1.docker.io" | "" => "docker.io".into(),
        s => s.to_string(),
    }
}

pub fn run(_g: &GlobalOpts, a: LoginArgs) -> anyhow::Result<u8> {
    let host = server_host(a.server.as_deref());
    let stdin = std::io::stdin();
    let username = match a.username {
        Some(u) => u,
        None => {
            eprint!("Username: ");
            let _ = std::io::stderr().flush();
            let mut u = String::new();
            stdin.lock().read_line(&mut u)?;
            u.trim().to_string()
        }
    };
    let password = if a.password_stdin {
        if a.password.is_some() {
            bail!("--password and --password-stdin are mutually exclusive");
        }
        let mut p = String::new();
        stdin.lock().read_line(&mut p)?;
        p.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else {
        eprint!("Password: ");
        let _ = std::io::stderr().flush();
        let mut p = String::new();
        stdin.lock().read_line(&mut p)?;
        p.trim_end_matches(['\n', '\r']).to_string()
    };
    if username.is_empty() || password.is_empty() {
        bail!("Username and password are required");
    }
    let creds = Credentials { username, password };
    // Verify against the registry with these credentials only.
    let dir = std::env::temp_dir().join(format!("skiff-login-{}", std::process::id()));
    let tmp = CredentialStore::new(dir.join("config.json"));
    tmp.store(&host, &creds)?;
    let mut opts = registry_options(a.tls_verify)?;
    opts.credentials = Some(tmp);
    let check = (|| -> anyhow::Result<()> {
        let client = Client::connect(&opts, &host)?;
        let url = format!("{}/v2/", client.endpoint().base);
        let res = client.send(Request::get(url), &[])?;
        if res.status == 401 {
            bail!(
                "Error response from daemon: login attempt to {} failed with status: 401 Unauthorized",
                client.endpoint().base
            );
        }
        if !res.is_success() {
            bail!("login to {host} failed: status {}", res.status);
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    check?;
    let store = CredentialStore::default_location();
    store.store(&host, &creds).with_context(|| format!("saving credentials to {}", store.path().display()))?;
    eprintln!("WARNING! Your credentials are stored unencrypted in '{}'.", store.path().display());
    println!("Login Succeeded");
    Ok(0)
}
