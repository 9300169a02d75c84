//! The registry commands through the CLI, against the real CNCF distribution registry (Debian's
//! `docker-registry`, installed by scripts/test.sh; each test starts its own on a free loopback port):
//! `login`/`logout` with htpasswd auth and Docker's `config.json`, `push --all-tags` and `pull -a`;
//! and `info` showing the registry configuration as Docker prints it.

mod common;

use common::{fixture, new_env, require, Env, Registry, Run};
use skiff_testutil::Missing;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;

/// A bcrypt hash of "s3cret" (cost 4), as `htpasswd -B` writes it.
const HASH: &str = "$2b$04$1yC2ikj0JtVXm1R7ACU7m.mxXpgXKu4Oy2A1hjE8Z6SzvyNMUycYW";

/// Starts docker-registry with an optional `auth:` block (HTPASSWD names a file holding alice's hash).
fn start_registry(auth: &str) -> Result<Registry, Missing> {
    common::start_registry(auth, &format!("alice:{HASH}\n"))
}

/// Runs skiff with its own Docker config dir and registry configuration files.
struct Cli {
    env: Env,
    docker_config: PathBuf,
}

impl Cli {
    fn new() -> Cli {
        let env = new_env();
        let docker_config = env.path("docker-config");
        Cli { env, docker_config }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut c = self.env.cmd();
        c.args(args)
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("SKIFF_CONFIG", self.env.path("config.toml"))
            .env("SKIFF_DAEMON_JSON", self.env.path("daemon.json"))
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        Run { out: child.wait_with_output().unwrap() }
    }

    fn config_json(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.docker_config.join("config.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

fn b64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.as_bytes().chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn login_stores_docker_credentials_that_push_uses_and_logout_removes() {
    let reg = require!(start_registry("auth:\n  htpasswd:\n    realm: skiff-test\n    path: HTPASSWD\n"));
    let cli = Cli::new();
    let image = format!("{}/private/busybox:1", reg.addr);
    cli.run(&["import", fixture("busybox-rootfs.tar").to_str().unwrap(), &image], None).ok();
    let id = cli.run(&["image", "inspect", "--format", "{{.Id}}", &image], None).ok().stdout();
    // Not logged in: the registry refuses the push.
    let r = cli.run(&["push", &image], None).fails();
    assert!(r.stderr().contains("unauthorized") || r.stderr().contains("authentication"), "{}", r.stderr());
    // A wrong password is refused and nothing is stored.
    let r = cli.run(&["login", "-u", "alice", "--password-stdin", &reg.addr], Some("wrong\n")).fails();
    assert!(r.stderr().contains("401"), "{}", r.stderr());
    assert!(!cli.docker_config.join("config.json").exists() || cli.config_json()["auths"].get(&reg.addr).is_none());
    // The right one, from stdin: stored as Docker stores it (base64 of user:password under auths).
    let r = cli.run(&["login", "-u", "alice", "--password-stdin", &reg.addr], Some("s3cret\n")).ok();
    assert_eq!(r.stdout(), "Login Succeeded\n");
    assert_eq!(cli.config_json()["auths"][&reg.addr]["auth"], b64("alice:s3cret"));
    // The stored login is what push and pull use.
    cli.run(&["push", &image], None).ok();
    let fresh = Cli { env: new_env(), docker_config: cli.docker_config.clone() };
    fresh.run(&["pull", &image], None).ok();
    let got = fresh.run(&["image", "inspect", "--format", "{{.Id}}", &image], None).ok().stdout();
    assert_eq!(got, id);
    // Logout removes it (keeping the rest of the file), and the registry refuses again.
    let r = cli.run(&["logout", &reg.addr], None).ok();
    assert_eq!(r.stdout(), format!("Removing login credentials for {}\n", reg.addr));
    assert!(cli.config_json()["auths"].get(&reg.addr).is_none());
    let again = Cli { env: new_env(), docker_config: cli.docker_config.clone() };
    again.run(&["pull", &image], None).fails();
    let r = cli.run(&["logout", &reg.addr], None).ok();
    assert_eq!(r.stdout(), format!("Not logged in to {}\n", reg.addr));
}

/// `GET /v2/<repo>/tags/list` over a plain TCP connection (the registry is on loopback, HTTP).
fn tags(addr: &str, repo: &str) -> Vec<String> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /v2/{repo}/tags/list HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let mut t: Vec<String> = v["tags"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default();
    t.sort();
    t
}

#[test]
fn push_all_tags_and_pull_all_tags() {
    let reg = require!(start_registry(""));
    let cli = Cli::new();
    let repo = format!("{}/multi/busybox", reg.addr);
    cli.run(&["import", fixture("busybox-rootfs.tar").to_str().unwrap(), &format!("{repo}:1")], None).ok();
    cli.run(&["tag", &format!("{repo}:1"), &format!("{repo}:2")], None).ok();
    cli.run(&["tag", &format!("{repo}:1"), &format!("{}/other/busybox:1", reg.addr)], None).ok();
    // A tag with --all-tags is refused, as Docker does.
    cli.run(&["push", "--all-tags", &format!("{repo}:1")], None).fails();
    let r = cli.run(&["push", "--all-tags", &repo], None).ok();
    assert!(r.stdout().contains("1: digest: sha256:") && r.stdout().contains("2: digest: sha256:"), "{}", r.stdout());
    assert_eq!(tags(&reg.addr, "multi/busybox"), ["1", "2"]);
    assert!(tags(&reg.addr, "other/busybox").is_empty(), "only the named repository is pushed");
    let id = cli.run(&["image", "inspect", "--format", "{{.Id}}", &format!("{repo}:1")], None).ok().stdout();

    let fresh = Cli::new();
    fresh.run(&["pull", "--all-tags", &format!("{repo}:1")], None).fails();
    let r = fresh.run(&["pull", "-a", &repo], None).ok();
    // Progress first, then the repository's name, all on stdout as Docker prints them.
    assert_eq!(r.stdout().lines().last(), Some(repo.as_str()), "{}", r.stdout());
    assert!(r.stdout().contains("1: Pulling from multi/busybox\n"), "{}", r.stdout());
    for t in ["1", "2"] {
        let got = fresh.run(&["image", "inspect", "--format", "{{.Id}}", &format!("{repo}:{t}")], None).ok().stdout();
        assert_eq!(got, id, "tag {t}");
    }
    let images = fresh.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"], None).ok().stdout();
    let mut listed: Vec<&str> = images.lines().collect();
    listed.sort();
    assert_eq!(listed, [format!("{repo}:1"), format!("{repo}:2")]);
}

/// `run` and `create` fetch an image they do not have, as Docker's CLI does (`--pull missing`, the
/// default), or always, or never; `pull` prints Docker's lines on stdout.
#[test]
fn run_and_create_pull_what_is_missing_as_pull_says() {
    let reg = require!(start_registry(""));
    let pusher = Cli::new();
    let image = format!("{}/lib/busybox", reg.addr);
    pusher.run(&["import", fixture("busybox-rootfs.tar").to_str().unwrap(), &image], None).ok();
    // push as Docker prints it without a terminal: the default tag, the repository, each layer's
    // Preparing and Pushed (no progress states), the digest.
    let out = pusher.run(&["push", &image], None).ok().stdout();
    assert!(out.starts_with(&format!("Using default tag: latest\nThe push refers to repository [{image}]\n")), "{out}");
    assert!(out.contains(": Preparing\n") && out.contains(": Pushed\n") && !out.contains("Pushing"), "{out}");
    assert!(out.lines().last().unwrap().starts_with("latest: digest: sha256:"), "{out}");
    // A tag that is not there: the repository line, then Docker's words on stderr, naming the repository.
    let r = pusher.run(&["push", &format!("{image}:nope")], None);
    assert_eq!(r.code(), 1);
    assert_eq!(r.stdout(), format!("The push refers to repository [{image}]\n"));
    assert_eq!(r.stderr(), format!("An image does not exist locally with the tag: {image}\n"));

    let cli = Cli::new();
    // Never: no such image, and nothing fetched.
    let r = cli.run(&["run", "--rm", "--pull", "never", &image, "true"], None);
    assert_eq!(r.code(), 125);
    assert!(r.stderr().contains(&format!("No such image: {image}:latest")), "{}", r.stderr());
    assert!(!r.stderr().contains("Pulling"), "{}", r.stderr());
    let r = cli.run(&["run", "--rm", "--pull", "sometimes", &image, "true"], None);
    assert_eq!(r.code(), 125);
    assert!(r.stderr().contains(r#"invalid pull option: 'sometimes': must be one of "always", "missing" or "never""#));
    // Missing: the pull's lines on stderr, the container's output alone on stdout.
    let r = cli.run(&["run", "--rm", &image, "cat", "/release"], None).ok();
    assert_eq!(r.stdout(), "KatacodaPrivateBuild\n");
    let err = r.stderr();
    assert!(
        err.starts_with(&format!("Unable to find image '{image}:latest' locally\nlatest: Pulling from lib/busybox\n")),
        "{err}"
    );
    assert!(err.contains(&format!("Status: Downloaded newer image for {image}:latest\n")), "{err}");
    // There now: no pull.
    let r = cli.run(&["create", &image, "true"], None).ok();
    assert_eq!(r.stderr(), "");
    let id = r.stdout().trim().to_string();
    assert_eq!(id.len(), 64);
    cli.run(&["rm", &id], None).ok();
    // Always: pulled again, up to date.
    let r = cli.run(&["run", "--rm", "--pull", "always", &image, "true"], None).ok();
    assert!(r.stderr().contains(&format!("Status: Image is up to date for {image}:latest\n")), "{}", r.stderr());
    // A name the registry does not have: the registry's answer, exit 125, no container.
    let missing = format!("{}/lib/nothing:1", reg.addr);
    let r = cli.run(&["create", "--name", "never-made", &missing, "true"], None);
    assert_eq!(r.code(), 125);
    assert!(r.stderr().contains("manifest unknown"), "{}", r.stderr());
    assert!(cli.run(&["ps", "-a", "--format", "{{.Names}}"], None).ok().stdout().lines().all(|n| n != "never-made"));

    // pull: "Using default tag", then Docker's lines and the full name on stdout; nothing on stderr.
    let fresh = Cli::new();
    let r = fresh.run(&["pull", &image], None).ok();
    let out = r.stdout();
    assert!(out.starts_with("Using default tag: latest\nlatest: Pulling from lib/busybox\n"), "{out}");
    assert!(out.ends_with(&format!("Status: Downloaded newer image for {image}:latest\n{image}:latest\n")), "{out}");
    assert_eq!(r.stderr(), "");
    let r = fresh.run(&["pull", "-q", &format!("{image}:latest")], None).ok();
    assert_eq!(r.stdout(), format!("{image}:latest\n"));
}

#[test]
fn info_shows_mirrors_and_insecure_registries_as_docker_prints_them() {
    let cli = Cli::new();
    // Without configuration: Docker's default loopback entry only, and no mirrors section.
    let out = cli.run(&["info"], None).ok().stdout();
    assert!(out.contains(" Insecure Registries:\n  127.0.0.0/8\n Live Restore Enabled: false\n"), "{out}");
    assert!(!out.contains("Registry Mirrors:"), "{out}");
    // daemon.json as Docker writes it, plus skiff's config.toml (read first).
    std::fs::write(
        cli.env.path("daemon.json"),
        "{\n  \"registry-mirrors\": [\"https://mirror.gcr.io\"],\n  \"insecure-registries\": [\"10.1.0.0/16\", \"reg.lan:5000\"]\n}\n",
    )
    .unwrap();
    std::fs::write(cli.env.path("config.toml"), "[registry]\nmirrors = [\"http://127.0.0.1:5001\"]\n").unwrap();
    let out = cli.run(&["info"], None).ok().stdout();
    let want = " Experimental: false\n Insecure Registries:\n  reg.lan:5000\n  10.1.0.0/16\n  127.0.0.0/8\n \
                Registry Mirrors:\n  http://127.0.0.1:5001/\n  https://mirror.gcr.io/\n Live Restore Enabled: false\n";
    assert!(out.contains(want), "{out}");
    let json = cli.run(&["info", "--format", "{{json .RegistryConfig}}"], None).ok().stdout();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Mirrors"], serde_json::json!(["http://127.0.0.1:5001/", "https://mirror.gcr.io/"]));
    assert_eq!(v["InsecureRegistryCIDRs"], serde_json::json!(["10.1.0.0/16", "127.0.0.0/8"]));
    assert_eq!(v["IndexConfigs"]["reg.lan:5000"]["Secure"], false);
    assert_eq!(v["IndexConfigs"]["docker.io"]["Mirrors"][1], "https://mirror.gcr.io/");
}
