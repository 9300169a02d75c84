//! The executor: runs a parsed Dockerfile the way Docker's classic builder
//! does. Every instruction commits an image whose parent is the previous
//! step's (metadata-only steps get an `empty_layer` history entry), history
//! `created_by` strings are the classic builder's (`/bin/sh -c #(nop)  CMD
//! ["x"]`, `|1 K=v /bin/sh -c cmd`), and the output is its `Step N/M :`,
//! ` ---> Running in`, ` ---> Using cache`, `Successfully built` lines.
//!
//! The cache lives in its own table (`build_cache`) in the store's database:
//! (parent image, key) → image, where the key hashes the step's container
//! config (the instruction with its expanded arguments) and, for COPY/ADD, the
//! content hash of the copied files. Only images this builder committed are in
//! it, so pulled or loaded images never serve as cache hits (CVE-2024-24557).
//!
//! RUN needs a container runtime, reached through [`RunExecutor`].

use crate::context::{entry_hash_as, hash_strings, BuildContext, ContextError, HashFlavor, Source};
use crate::ignore::glob_match;
use crate::layer::{upper_to_tar_excluding, write_entries, EntryData, LayerEntry, LayerError};
use crate::parser::{self, CmdLine, CopyArgs, Dockerfile, Heredoc, Instruction, ParseError, Step};
use crate::rootfs::{lookup_id, RootView};
use crate::shell::{expand_word, expand_words, ShellError, Vars};
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use skiff_image::blob::FinishedBlob;
use skiff_image::config::{format_time, go_json, ContainerConfig, History, ImageConfig, RootFs};
use skiff_image::layer_scan::scan_layer;
use skiff_image::store::{LayerBlob, NewImage, NewLayer, MEDIA_TYPE_LAYER_TAR};
use skiff_image::{Digest, Reference, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The default PATH Docker adds to a stage whose image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Errors from a build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A step failed: `Dockerfile:N: message`.
    #[error("{file}:{line}: {message}")]
    Step { file: String, line: usize, message: String },
    /// A RUN command exited non-zero.
    #[error("{file}:{line}: the command '{command}' returned a non-zero code: {code}")]
    RunFailed { file: String, line: usize, command: String, code: i32 },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("writing build output: {0}")]
    Output(io::Error),
}

impl From<skiff_image::db::DbError> for BuildError {
    fn from(e: skiff_image::db::DbError) -> Self {
        BuildError::Store(StoreError::Db(e))
    }
}

/// What a RUN step asks the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// The full argv (the shell and the command for the shell form).
    pub argv: Vec<String>,
    /// The image's environment plus the build args in scope.
    pub env: Vec<String>,
    pub user: String,
    pub workdir: String,
    /// `--network` of the build, or of `RUN --network=`.
    pub network: Option<String>,
    /// The intermediate container's id (64 hex), as printed in ` ---> Running in`.
    pub container_id: String,
    /// Hostname for the container (the short container id, as Docker sets it).
    pub hostname: String,
}

/// The changes a RUN made.
pub enum LayerDiff {
    /// An overlay upper directory; converted to a layer (whiteouts made OCI), removed after when `remove`.
    /// `exclude` names paths the runtime created for the container (mount points such as `dev`,
    /// `proc`, `sys`, `etc/hosts`, `etc/hostname`, `etc/resolv.conf`) that must not reach the layer.
    UpperDir { path: PathBuf, remove: bool, exclude: Vec<String> },
    /// A finished, uncompressed OCI layer tar (from `store.blobs().writer()`).
    Tar(FinishedBlob),
}

/// Why a RUN did not produce a diff.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("exit code {0}")]
    Exit(i32),
    #[error("{0}")]
    Failed(String),
}

/// Runs RUN steps: a container from `image` (None for scratch) with `spec`,
/// its output written to `output`; returns the filesystem changes.
pub trait RunExecutor {
    fn run(
        &self,
        store: &Store,
        image: Option<&Digest>,
        spec: &RunSpec,
        output: &mut dyn Write,
    ) -> Result<LayerDiff, RunError>;
}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// How the Dockerfile is named in errors (`Dockerfile`).
    pub dockerfile_name: String,
    pub dockerfile: String,
    pub tags: Vec<Reference>,
    /// `--build-arg K=V` (value) or `--build-arg K` (None: taken from the environment by the CLI, else unset).
    pub build_args: Vec<(String, Option<String>)>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub labels: Vec<(String, String)>,
    pub network: Option<String>,
    pub quiet: bool,
    pub platform: Option<String>,
}

/// The result of a build.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    pub id: Digest,
    /// Images committed by this build (cache hits excluded).
    pub created: Vec<Digest>,
    pub cache_hits: usize,
}

struct StageState {
    name: Option<String>,
    image: Option<Digest>,
    /// The config of `image`, loaded when a commit needs it (cache hits do not).
    config: Option<ImageConfig>,
    /// MAINTAINER of this stage.
    author: Option<String>,
    run: ContainerConfig,
    /// Declared ARGs in order with their current values.
    args: Vec<(String, Option<String>)>,
    cmd_set: bool,
}

impl StageState {
    fn shell(&self) -> Vec<String> {
        self.run.shell.clone().unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn env(&self) -> Vec<String> {
        self.run.env.clone().unwrap_or_default()
    }

    fn vars(&self) -> HashMap<String, String> {
        let mut v: HashMap<String, String> = HashMap::new();
        for (k, val) in &self.args {
            if let Some(val) = val {
                v.insert(k.clone(), val.clone());
            }
        }
        for kv in self.env() {
            let (k, val) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            v.insert(k.to_string(), val.to_string());
        }
        v
    }

    /// Build args in scope that the environment does not override, `K=v`, sorted.
    fn build_arg_env(&self) -> Vec<String> {
        let env = self.env();
        let mut out: Vec<String> = self
            .args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .filter(|(k, _)| !env.iter().any(|e| e.split_once('=').map(|(ek, _)| ek) == Some(k.as_str())))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.sort();
        out
    }

    fn parent_str(&self) -> String {
        self.image.as_ref().map(|d| d.to_string()).unwrap_or_default()
    }
}

/// Go's `strconv.Quote`.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn go_quote_list(v: &[String]) -> String {
    format!("[{}]", v.iter().map(|s| go_quote(s)).collect::<Vec<_>>().join(" "))
}

fn random_id() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("random bytes");
    hex::encode(b)
}

/// Parses a Go duration (`30s`, `1m30s`, `500ms`) to nanoseconds.
fn parse_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(total as i64)
}

/// Go's `time.Duration.String()`.
fn duration_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        return if ns % 1_000_000 == 0 {
            format!("{}ms", ns / 1_000_000)
        } else if ns % 1000 == 0 {
            format!("{}µs", ns / 1000)
        } else {
            format!("{ns}ns")
        };
    }
    let mut out = String::new();
    let h = ns / 3_600_000_000_000;
    let m = (ns / 60_000_000_000) % 60;
    let s = ns % 60_000_000_000;
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    let secs = s as f64 / 1e9;
    let mut ss = format!("{secs:.9}");
    while ss.ends_with('0') {
        ss.pop();
    }
    if ss.ends_with('.') {
        ss.pop();
    }
    out.push_str(&ss);
    out.push('s');
    out
}

/// Normalises EXPOSE specs: `80` → `80/tcp`, ranges expanded.
fn parse_ports(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, pr)) => (p, pr.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    // An `ip:hostport:port` form takes the container port.
    let ports = ports.rsplit(':').next().unwrap_or(ports);
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (a, b),
        None => (ports, ports),
    };
    let lo: u32 = lo.parse().map_err(|_| format!("invalid containerPort: {ports}"))?;
    let hi: u32 = hi.parse().map_err(|_| format!("invalid containerPort: {ports}"))?;
    if lo > hi || hi > 65535 {
        return Err(format!("invalid port range: {ports}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// Runs a build.
pub struct Builder<'a> {
    store: &'a Store,
    ctx: &'a BuildContext,
    runner: Option<&'a dyn RunExecutor>,
    out: &'a mut dyn Write,
    opts: &'a BuildOptions,
    file: String,
    escape: char,
    stages: Vec<StageState>,
    created: Vec<Digest>,
    cache_hits: usize,
    used_args: Vec<String>,
    cache_table_ready: bool,
}

enum CopySrc {
    Ctx(Source),
    Image { rel: String, real: PathBuf, meta: std::fs::Metadata },
    Heredoc(Heredoc),
}

/// Builds `opts.dockerfile` with `ctx`; RUN steps go to `runner`.
pub fn build(
    store: &Store,
    ctx: &BuildContext,
    opts: &BuildOptions,
    runner: Option<&dyn RunExecutor>,
    out: &mut dyn Write,
) -> Result<BuildOutcome, BuildError> {
    let file = if opts.dockerfile_name.is_empty() { "Dockerfile".to_string() } else { opts.dockerfile_name.clone() };
    if opts.dockerfile.trim().is_empty() {
        return Err(BuildError::Invalid(format!("the Dockerfile ({file}) cannot be empty")));
    }
    let df = parser::parse(&opts.dockerfile, &file)?;
    let mut b = Builder {
        store,
        ctx,
        runner,
        out,
        opts,
        file,
        escape: df.escape,
        stages: Vec::new(),
        created: Vec::new(),
        cache_hits: 0,
        used_args: Vec::new(),
        cache_table_ready: false,
    };
    b.run(df)
}

impl Builder<'_> {
    fn say(&mut self, s: &str) -> Result<(), BuildError> {
        if !self.opts.quiet {
            writeln!(self.out, "{s}").map_err(BuildError::Output)?;
        }
        Ok(())
    }

    fn err(&self, line: usize, message: impl Into<String>) -> BuildError {
        BuildError::Step { file: self.file.clone(), line, message: message.into() }
    }

    fn ensure_cache_table(&self) -> Result<(), BuildError> {
        self.store.db().write(|tx| {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS build_cache(
                    parent TEXT NOT NULL,
                    key TEXT NOT NULL,
                    image TEXT NOT NULL,
                    created TEXT NOT NULL,
                    PRIMARY KEY(parent, key)
                );",
            )
            .map_err(StoreError::from)
        })?;
        Ok(())
    }

    fn cache_get(&mut self, parent: &str, key: &str) -> Result<Option<Digest>, BuildError> {
        if self.opts.no_cache {
            return Ok(None);
        }
        if !self.cache_table_ready {
            // Reading needs no write lock: a store without the table has no cache yet.
            let exists: bool = self.store.db().read(|tx| {
                tx.query_row(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'build_cache'",
                    [],
                    |_| Ok(()),
                )
                .optional()
                .map(|r| r.is_some())
                .map_err(StoreError::from)
            })?;
            if !exists {
                return Ok(None);
            }
            self.cache_table_ready = true;
        }
        let hit: Option<String> = self.store.db().read(|tx| {
            tx.query_row(
                "SELECT c.image FROM build_cache c JOIN images i ON i.id = c.image WHERE c.parent = ?1 AND c.key = ?2",
                params![parent, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::from)
        })?;
        Ok(hit.and_then(|h| Digest::parse(&h).ok()))
    }

    fn cache_put(&mut self, parent: &str, key: &str, image: &Digest) -> Result<(), BuildError> {
        if !self.cache_table_ready {
            self.ensure_cache_table()?;
            self.cache_table_ready = true;
        }
        let now = format_time(&chrono::Utc::now());
        self.store.db().write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO build_cache(parent, key, image, created) VALUES (?1, ?2, ?3, ?4)",
                params![parent, key, image.to_string(), now],
            )
            .map_err(StoreError::from)
        })?;
        Ok(())
    }

    fn cache_key(parent: &str, cc: &ContainerConfig, extra: &str) -> String {
        let mut h = Sha256::new();
        h.update(parent.as_bytes());
        h.update(b"\n");
        h.update(go_json(&serde_json::to_value(cc).expect("config serialises")).as_bytes());
        h.update(b"\n");
        h.update(extra.as_bytes());
        hex::encode(h.finalize())
    }

    fn build_arg(&mut self, name: &str) -> Option<Option<String>> {
        let found = self.opts.build_args.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if found.is_some() && !self.used_args.iter().any(|a| a == name) {
            self.used_args.push(name.to_string());
        }
        found
    }

    fn run(&mut self, df: Dockerfile) -> Result<BuildOutcome, BuildError> {
        // Split into meta ARGs and stages.
        let mut meta: Vec<Step> = Vec::new();
        let mut stages: Vec<Vec<Step>> = Vec::new();
        for s in df.steps {
            match (&s.instruction, stages.is_empty()) {
                (Instruction::From { .. }, _) => stages.push(vec![s]),
                (Instruction::Arg(_), true) => meta.push(s),
                (_, true) => return Err(self.err(s.line, "no build stage in current context")),
                (_, false) => stages.last_mut().expect("a stage").push(s),
            }
        }
        if stages.is_empty() {
            return Err(BuildError::Invalid(format!("{}: no build stage in current context", self.file)));
        }
        if let Some(t) = &self.opts.target {
            let ix = stages.iter().position(|st| {
                matches!(&st[0].instruction, Instruction::From { alias: Some(a), .. } if a.eq_ignore_ascii_case(t))
            });
            match ix {
                Some(ix) => stages.truncate(ix + 1),
                None => return Err(BuildError::Invalid(format!("failed to reach build target {t} in Dockerfile"))),
            }
        }
        if !self.opts.labels.is_empty() {
            let mut labels = self.opts.labels.clone();
            labels.sort();
            let pairs: Vec<(String, String)> =
                labels.iter().map(|(k, v)| (go_quote(k), format!("'{}'", v.replace('\'', "")))).collect();
            let original =
                format!("LABEL {}", pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "));
            let line = stages.last().and_then(|s| s.last()).map(|s| s.line).unwrap_or(1);
            stages.last_mut().expect("a stage").push(Step { line, original, instruction: Instruction::Label(pairs) });
        }
        let total = meta.len() + stages.iter().map(|s| s.len()).sum::<usize>();
        let mut n = 0;
        // Meta ARGs: visible to FROM lines, and to stages that redeclare them.
        let mut meta_args: Vec<(String, Option<String>)> = Vec::new();
        for s in &meta {
            n += 1;
            self.say(&format!("Step {n}/{total} : {}", s.original))?;
            if let Instruction::Arg(args) = &s.instruction {
                for (k, default) in args {
                    let vars: HashMap<String, String> =
                        meta_args.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect();
                    let default = match default {
                        Some(d) => Some(self.expand(s.line, d, &vars)?),
                        None => None,
                    };
                    let value = match self.build_arg(k) {
                        Some(Some(v)) => Some(v),
                        _ => default,
                    };
                    meta_args.retain(|(mk, _)| mk != k);
                    meta_args.push((k.clone(), value));
                }
            }
        }
        let mut last: Option<Digest> = None;
        let nstages = stages.len();
        for (si, steps) in stages.into_iter().enumerate() {
            for s in steps {
                n += 1;
                self.say(&format!("Step {n}/{total} : {}", s.original))?;
                if let Instruction::From { image, platform: _, alias } = &s.instruction {
                    self.from(&s, image, alias.clone(), &meta_args)?;
                    continue;
                }
                self.dispatch(si, &s, &meta_args)?;
            }
            let st = &self.stages[si];
            last = st.image.clone();
            if si + 1 == nstages && last.is_none() {
                return Err(BuildError::Invalid("No image was generated. Is your Dockerfile empty?".into()));
            }
        }
        let id = last.expect("the last stage has an image");
        let unused: Vec<String> = self
            .opts
            .build_args
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !self.used_args.contains(k))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !unused.is_empty() {
            self.say(&format!("[Warning] One or more build-args [{}] were not consumed", unused.join(" ")))?;
        }
        self.say(&format!("Successfully built {}", id.short()))?;
        for t in &self.opts.tags {
            // A tag already on this image is left as is: an unchanged rebuild writes nothing.
            let current = self.store.resolve(&t.to_string()).ok().map(|r| r.id);
            if current.as_ref() != Some(&id) {
                self.store.tag(&id, t)?;
            }
            self.say(&format!("Successfully tagged {}", t.familiar()))?;
        }
        if self.opts.quiet {
            writeln!(self.out, "{id}").map_err(BuildError::Output)?;
        }
        Ok(BuildOutcome { id, created: std::mem::take(&mut self.created), cache_hits: self.cache_hits })
    }

    fn expand(&self, line: usize, word: &str, vars: &dyn Vars) -> Result<String, BuildError> {
        expand_word(word, vars, self.escape).map_err(|e: ShellError| self.err(line, e.to_string()))
    }

    fn from(
        &mut self,
        s: &Step,
        image: &str,
        alias: Option<String>,
        meta_args: &[(String, Option<String>)],
    ) -> Result<(), BuildError> {
        let vars: HashMap<String, String> =
            meta_args.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect();
        let name = self.expand(s.line, image, &vars)?;
        if name.is_empty() {
            return Err(self.err(s.line, format!("base name ({image}) should not be blank")));
        }
        let base: Option<Digest> = if name.eq_ignore_ascii_case("scratch") {
            None
        } else if let Some(st) =
            self.stages.iter().find(|st| st.name.as_deref() == Some(name.to_ascii_lowercase().as_str()))
        {
            st.image.clone()
        } else {
            match self.store.resolve(&name) {
                Ok(r) => Some(r.id),
                Err(StoreError::NoSuchImage(_)) => {
                    return Err(self.err(
                        s.line,
                        format!("FROM {name}: image not found locally, and pulling during a build is not available yet (pull it first): No such image: {name}"),
                    ))
                }
                Err(e) => return Err(e.into()),
            }
        };
        let (config, mut run) = match &base {
            Some(id) => {
                let c = self.store.config(id)?;
                let run = c.config.clone().unwrap_or_default();
                (c, run)
            }
            None => (scratch_config(), ContainerConfig::default()),
        };
        let mut env = run.env.clone().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(DEFAULT_PATH.to_string());
        }
        run.env = Some(env);
        run.image = base.as_ref().map(|d| d.to_string()).unwrap_or_default();
        let triggers = run.on_build.take().unwrap_or_default();
        match &base {
            Some(id) => self.say(&format!(" ---> {}", id.short()))?,
            None => self.say(" ---> ")?,
        }
        self.stages.push(StageState {
            name: alias,
            image: base,
            config: Some(config),
            author: None,
            run,
            args: Vec::new(),
            cmd_set: false,
        });
        if !triggers.is_empty() {
            let si = self.stages.len() - 1;
            self.say(&format!(
                "# Executing {} build trigger{}",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            ))?;
            for t in triggers {
                let ins = parser::parse_line(&t, self.escape).map_err(|m| self.err(s.line, m))?;
                let trig = Step { line: s.line, original: t.clone(), instruction: ins };
                self.dispatch(si, &trig, meta_args)?;
            }
        }
        Ok(())
    }

    /// Commits a step that changes only metadata (with a "container" like Docker's).
    fn commit_meta(&mut self, si: usize, comment: &str, two_args: bool) -> Result<(), BuildError> {
        let st = &self.stages[si];
        let mut cc = st.run.clone();
        let mut cmd = st.shell();
        if two_args {
            cmd.push("#(nop) ".into());
            cmd.push(comment.to_string());
        } else {
            cmd.push(format!("#(nop) {comment}"));
        }
        cc.cmd = Some(cmd);
        cc.image = st.parent_str();
        let key = Self::cache_key(&st.parent_str(), &cc, "");
        if self.try_cache(si, &key)? {
            return Ok(());
        }
        let cid = random_id();
        self.say(&format!(" ---> Running in {}", &cid[..12]))?;
        container_defaults(&mut cc, &cid);
        let id = self.commit(si, cc, None, &cid)?;
        self.say(&format!("Removing intermediate container {}", &cid[..12]))?;
        self.finish_step(si, &key, id)
    }

    fn try_cache(&mut self, si: usize, key: &str) -> Result<bool, BuildError> {
        let parent = self.stages[si].parent_str();
        if let Some(hit) = self.cache_get(&parent, key)? {
            self.say(" ---> Using cache")?;
            self.say(&format!(" ---> {}", hit.short()))?;
            let st = &mut self.stages[si];
            st.config = None;
            st.image = Some(hit.clone());
            st.run.image = hit.to_string();
            self.cache_hits += 1;
            return Ok(true);
        }
        Ok(false)
    }

    fn finish_step(&mut self, si: usize, key: &str, id: Digest) -> Result<(), BuildError> {
        let parent = self.stages[si].parent_str();
        self.cache_put(&parent, key, &id)?;
        self.say(&format!(" ---> {}", id.short()))?;
        let st = &mut self.stages[si];
        st.config = None;
        st.image = Some(id.clone());
        st.run.image = id.to_string();
        self.created.push(id);
        Ok(())
    }

    /// Writes the image for a step: the parent's config and layers plus this step.
    fn commit(
        &mut self,
        si: usize,
        container_config: ContainerConfig,
        layer: Option<NewLayer>,
        container: &str,
    ) -> Result<Digest, BuildError> {
        if self.stages[si].config.is_none() {
            let loaded = match &self.stages[si].image {
                Some(id) => self.store.config(id)?,
                None => scratch_config(),
            };
            self.stages[si].config = Some(loaded);
        }
        let st = &self.stages[si];
        let now = format_time(&chrono::Utc::now());
        let mut cfg = st.config.clone().expect("loaded above");
        if let Some(a) = &st.author {
            cfg.author = a.clone();
        }
        let mut run = st.run.clone();
        run.image = st.parent_str();
        let created_by = container_config.cmd.clone().unwrap_or_default().join(" ");
        cfg.config = Some(run);
        cfg.container_config = Some(container_config);
        cfg.container = container.to_string();
        cfg.created = Some(now.clone());
        cfg.comment = String::new();
        cfg.extra = Default::default();
        cfg.docker_version = String::new();
        cfg.history.push(History {
            created: Some(now),
            created_by: Some(created_by),
            empty_layer: layer.is_none(),
            ..Default::default()
        });
        let mut layers = Vec::new();
        if let Some(p) = &st.image {
            for l in self.store.image_layers(p)? {
                layers.push(NewLayer {
                    diff_id: l.diff_id,
                    blob: LayerBlob::Existing(l.blob),
                    size: l.size,
                    media_type: l.media_type,
                });
            }
        }
        if let Some(l) = layer {
            cfg.rootfs.diff_ids.push(l.diff_id.clone());
            layers.push(l);
        }
        let committed = self.store.commit_image(NewImage {
            config: cfg.to_docker_bytes(),
            layers,
            tags: Vec::new(),
            parent: st.image.clone(),
            source: format!("build of {}", self.file),
        })?;
        Ok(committed.id)
    }

    fn resolve_cmd(&self, si: usize, c: &CmdLine) -> Vec<String> {
        match c {
            CmdLine::Exec(v) => v.clone(),
            CmdLine::Shell(s) => {
                let mut v = self.stages[si].shell();
                v.push(s.clone());
                v
            }
        }
    }

    fn dispatch(&mut self, si: usize, s: &Step, meta: &[(String, Option<String>)]) -> Result<(), BuildError> {
        let line = s.line;
        let vars = self.stages[si].vars();
        match &s.instruction {
            Instruction::From { .. } => unreachable!("FROM starts a stage"),
            Instruction::Env(pairs) => {
                let mut comment = String::from("ENV");
                let mut expanded = Vec::new();
                for (k, v) in pairs {
                    let k = self.expand(line, k, &vars)?;
                    let v = self.expand(line, v, &vars)?;
                    comment.push_str(&format!(" {k}={v}"));
                    expanded.push((k, v));
                }
                let st = &mut self.stages[si];
                let env = st.run.env.get_or_insert_with(Vec::new);
                for (k, v) in expanded {
                    let kv = format!("{k}={v}");
                    match env.iter_mut().find(|e| e.split_once('=').map(|(ek, _)| ek).unwrap_or(e) == k) {
                        Some(e) => *e = kv,
                        None => env.push(kv),
                    }
                }
                self.commit_meta(si, &comment, true)
            }
            Instruction::Label(pairs) => {
                let mut comment = String::from("LABEL");
                let mut expanded = Vec::new();
                for (k, v) in pairs {
                    let k = self.expand(line, k, &vars)?;
                    let v = self.expand(line, v, &vars)?;
                    comment.push_str(&format!(" {k}={v}"));
                    expanded.push((k, v));
                }
                let labels = self.stages[si].run.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in expanded {
                    labels.insert(k, v);
                }
                self.commit_meta(si, &comment, true)
            }
            Instruction::Arg(args) => {
                let mut parts = Vec::new();
                for (k, default) in args {
                    let default = match default {
                        Some(d) => Some(self.expand(line, d, &vars)?),
                        None => None,
                    };
                    parts.push(match &default {
                        Some(d) => format!("{k}={d}"),
                        None => k.clone(),
                    });
                    let value = match self.build_arg(k) {
                        Some(Some(v)) => Some(v),
                        _ => match default {
                            Some(d) => Some(d),
                            None => meta.iter().find(|(mk, _)| mk == k).and_then(|(_, v)| v.clone()),
                        },
                    };
                    let st = &mut self.stages[si];
                    st.args.retain(|(ak, _)| ak != k);
                    st.args.push((k.clone(), value));
                }
                self.commit_meta(si, &format!("ARG {}", parts.join(" ")), true)
            }
            Instruction::Workdir(w) => {
                let w = self.expand(line, w, &vars)?;
                let st = &mut self.stages[si];
                let joined = if w.starts_with('/') {
                    w.clone()
                } else {
                    let cur = if st.run.working_dir.is_empty() { "/".to_string() } else { st.run.working_dir.clone() };
                    format!("{}/{w}", cur.trim_end_matches('/'))
                };
                st.run.working_dir = crate::ignore::clean(&joined);
                let dir = st.run.working_dir.clone();
                self.workdir(si, &dir)
            }
            Instruction::User(u) => {
                let u = self.expand(line, u, &vars)?;
                self.stages[si].run.user = u.clone();
                self.commit_meta(si, &format!("USER {u}"), true)
            }
            Instruction::Expose(ports) => {
                let mut list = Vec::new();
                let mut words = Vec::new();
                for p in ports {
                    for w in expand_words(p, &vars, self.escape).map_err(|e| self.err(line, e.to_string()))? {
                        list.extend(parse_ports(&w).map_err(|m| self.err(line, m))?);
                        words.push(w);
                    }
                }
                let map = self.stages[si].run.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in &list {
                    map.insert(p.clone(), json!({}));
                }
                // History shows the specs as written, sorted (`EXPOSE 53/udp 80 8000-8001`).
                words.sort();
                self.commit_meta(si, &format!("EXPOSE {}", words.join(" ")), true)
            }
            Instruction::Volume(vols) => {
                let mut list = Vec::new();
                for v in vols {
                    let v = self.expand(line, v, &vars)?;
                    if v.trim().is_empty() {
                        return Err(self.err(line, "VOLUME specified can not be an empty string"));
                    }
                    list.push(v);
                }
                let map = self.stages[si].run.volumes.get_or_insert_with(BTreeMap::new);
                for v in &list {
                    map.insert(v.clone(), json!({}));
                }
                self.commit_meta(si, &format!("VOLUME [{}]", list.join(" ")), true)
            }
            Instruction::StopSignal(sig) => {
                let sig = self.expand(line, sig, &vars)?;
                self.stages[si].run.stop_signal = sig.clone();
                self.commit_meta(si, &format!("STOPSIGNAL {sig}"), true)
            }
            Instruction::Cmd(c) => {
                let cmd = self.resolve_cmd(si, c);
                let st = &mut self.stages[si];
                st.run.cmd = Some(cmd.clone());
                st.cmd_set = true;
                self.commit_meta(si, &format!("CMD {}", go_quote_list(&cmd)), true)
            }
            Instruction::Entrypoint(c) => {
                let cmd = self.resolve_cmd(si, c);
                let st = &mut self.stages[si];
                st.run.entrypoint = Some(cmd.clone());
                if !st.cmd_set {
                    st.run.cmd = None;
                }
                self.commit_meta(si, &format!("ENTRYPOINT {}", go_quote_list(&cmd)), true)
            }
            Instruction::Shell(v) => {
                self.stages[si].run.shell = Some(v.clone());
                self.commit_meta(si, &format!("SHELL [{}]", v.join(" ")), true)
            }
            Instruction::Healthcheck(h) => {
                let mut hc = serde_json::Map::new();
                hc.insert("Test".into(), json!(h.test));
                let mut durs = Vec::new();
                for (name, v) in [("Interval", &h.interval), ("Timeout", &h.timeout), ("StartPeriod", &h.start_period)]
                {
                    let ns = match v {
                        Some(v) => {
                            let ns = parse_duration(v)
                                .ok_or_else(|| self.err(line, format!("time: invalid duration {}", go_quote(v))))?;
                            if ns != 0 && ns < 1_000_000 {
                                return Err(self.err(line, format!("{} cannot be less than 1ms", name.to_lowercase())));
                            }
                            ns
                        }
                        None => 0,
                    };
                    if ns != 0 {
                        hc.insert(name.into(), json!(ns));
                    }
                    durs.push(ns);
                }
                let retries: i64 = match &h.retries {
                    Some(r) => r.parse().map_err(|_| self.err(line, format!("invalid retries value {r}")))?,
                    None => 0,
                };
                if retries != 0 {
                    hc.insert("Retries".into(), json!(retries));
                }
                self.stages[si].run.healthcheck = Some(Value::Object(hc));
                let retries_q = match u8::try_from(retries) {
                    Ok(b) if (0x20..0x7f).contains(&b) => format!("'{}'", b as char),
                    Ok(b) => format!("'\\x{b:02x}'"),
                    Err(_) => format!("%!q(int={retries})"),
                };
                let comment = format!(
                    "HEALTHCHECK &{{{} {} {} {} {}}}",
                    go_quote_list(&h.test),
                    go_quote(&duration_string(durs[0])),
                    go_quote(&duration_string(durs[1])),
                    go_quote(&duration_string(durs[2])),
                    retries_q
                );
                self.commit_meta(si, &comment, true)
            }
            Instruction::Onbuild(expr) => {
                self.stages[si].run.on_build.get_or_insert_with(Vec::new).push(expr.clone());
                self.commit_meta(si, &format!("ONBUILD {expr}"), true)
            }
            Instruction::Maintainer(m) => {
                let m = self.expand(line, m, &vars)?;
                self.stages[si].author = Some(m.clone());
                self.commit_meta(si, &format!("MAINTAINER {m}"), true)
            }
            Instruction::Copy(c) => self.copy(si, s, c, false),
            Instruction::Add(c) => self.copy(si, s, c, true),
            Instruction::Run { cmd, network, heredocs } => self.run_step(si, s, cmd, network.clone(), heredocs),
        }
    }

    fn view_of(&self, image: Option<&Digest>) -> Result<RootView, BuildError> {
        Ok(match image {
            Some(id) => RootView::new(self.store.unpacked_layers(id)?),
            None => RootView::default(),
        })
    }

    fn workdir(&mut self, si: usize, dir: &str) -> Result<(), BuildError> {
        let st = &self.stages[si];
        let comment = format!("WORKDIR {dir}");
        let mut cc = st.run.clone();
        let mut cmd = st.shell();
        cmd.push(format!("#(nop) {comment}"));
        cc.cmd = Some(cmd);
        cc.image = st.parent_str();
        let key = Self::cache_key(&st.parent_str(), &cc, "");
        if self.try_cache(si, &key)? {
            return Ok(());
        }
        let cid = random_id();
        self.say(&format!(" ---> Running in {}", &cid[..12]))?;
        let view = self.view_of(self.stages[si].image.as_ref())?;
        let layer = if crate::rootfs::is_dir_in(&view, dir) {
            None
        } else {
            // Create the directory (and missing parents) in a layer of its own.
            let now = chrono::Utc::now().timestamp();
            let entries = self.dir_chain(&view, dir.trim_start_matches('/'), 0, 0, now);
            Some(self.store_layer(entries)?)
        };
        container_defaults(&mut cc, &cid);
        let id = self.commit(si, cc, layer, &cid)?;
        self.say(&format!("Removing intermediate container {}", &cid[..12]))?;
        self.finish_step(si, &key, id)
    }

    /// Directory entries for `path` and its ancestors: existing ones keep their
    /// metadata, missing ones are 0755 owned by uid:gid.
    fn dir_chain(&self, view: &RootView, path: &str, uid: u64, gid: u64, mtime: i64) -> Vec<LayerEntry> {
        let mut out = Vec::new();
        let mut cur = String::new();
        for c in path.split('/').filter(|c| !c.is_empty()) {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(c);
            let existing = view.lookup(&cur).and_then(|real| std::fs::metadata(&real).ok()).filter(|m| m.is_dir());
            out.push(match existing {
                Some(m) => LayerEntry {
                    path: cur.clone(),
                    data: EntryData::Dir,
                    mode: m.mode() & 0o7777,
                    uid: u64::from(m.uid()),
                    gid: u64::from(m.gid()),
                    mtime: m.mtime(),
                    xattrs: Vec::new(),
                },
                None => LayerEntry {
                    path: cur.clone(),
                    data: EntryData::Dir,
                    mode: 0o755,
                    uid,
                    gid,
                    mtime,
                    xattrs: Vec::new(),
                },
            });
        }
        out
    }

    fn store_layer(&self, entries: Vec<LayerEntry>) -> Result<NewLayer, BuildError> {
        let w = self.store.blobs().writer().map_err(StoreError::from)?;
        let w = write_entries(entries, w).map_err(|e| BuildError::Invalid(format!("writing layer: {e}")))?;
        let blob = w.finish().map_err(StoreError::from)?;
        self.layer_from_blob(blob)
    }

    fn layer_from_blob(&self, blob: FinishedBlob) -> Result<NewLayer, BuildError> {
        let scan =
            scan_layer(blob.file()).map_err(|e| BuildError::Invalid(format!("layer written by the builder: {e}")))?;
        Ok(NewLayer {
            diff_id: blob.digest.clone(),
            size: scan.size,
            blob: LayerBlob::Staged(blob),
            media_type: MEDIA_TYPE_LAYER_TAR.into(),
        })
    }

    /// `--chown=user[:group]` → ids, names looked up in the image's /etc/passwd and /etc/group.
    fn chown_ids(&self, line: usize, spec: &str, view: &RootView) -> Result<(u64, u64), BuildError> {
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, g),
            None => (spec, spec),
        };
        let lookup = |name: &str, file: &str, what: &str| -> Result<u64, BuildError> {
            if let Ok(n) = name.parse::<u64>() {
                return Ok(n);
            }
            let db = view.read(file).map(|b| String::from_utf8_lossy(&b).into_owned()).ok_or_else(|| {
                self.err(
                    line,
                    format!("unable to convert uid/gid chown string to host mapping: can't find {what} for {name}: open {file}: no such file or directory"),
                )
            })?;
            lookup_id(&db, name).ok_or_else(|| {
                self.err(
                    line,
                    format!("unable to convert uid/gid chown string to host mapping: can't find {what} for {name}: no such {}: {name}", if what == "uid" { "user" } else { "group" }),
                )
            })
        };
        // `--chown=name` alone means the group of the same name (or id), as Docker reads it.
        Ok((lookup(u, "/etc/passwd", "uid")?, lookup(g, "/etc/group", "gid")?))
    }

    fn copy(&mut self, si: usize, s: &Step, c: &CopyArgs, is_add: bool) -> Result<(), BuildError> {
        let line = s.line;
        let kw = if is_add { "ADD" } else { "COPY" };
        let vars = self.stages[si].vars();
        let dest = self.expand(line, &c.dest, &vars)?;
        let chown = c.chown.as_ref().map(|x| self.expand(line, x, &vars)).transpose()?;
        let chmod = match &c.chmod {
            Some(m) => {
                let m = self.expand(line, m, &vars)?;
                Some(u32::from_str_radix(&m, 8).map_err(|_| self.err(line, format!("invalid chmod parameter {m:?}")))?)
            }
            None => None,
        };
        // The source view for --from.
        let mut from_image: Option<Digest> = None;
        let from_view = match &c.from {
            Some(f) => {
                let f = self.expand(line, f, &vars)?;
                let img = if let Some(st) =
                    self.stages[..si].iter().find(|st| st.name.as_deref() == Some(f.to_ascii_lowercase().as_str()))
                {
                    st.image.clone()
                } else if let Ok(ix) = f.parse::<usize>() {
                    if ix >= si {
                        return Err(
                            self.err(line, format!("invalid from flag value {f}: refers to current build stage"))
                        );
                    }
                    self.stages[ix].image.clone()
                } else {
                    match self.store.resolve(&f) {
                        Ok(r) => Some(r.id),
                        Err(StoreError::NoSuchImage(_)) => {
                            return Err(self.err(line, format!("invalid from flag value {f}: No such image: {f}")))
                        }
                        Err(e) => return Err(e.into()),
                    }
                };
                from_image = img.clone();
                Some(self.view_of(img.as_ref())?)
            }
            None => None,
        };
        // Resolve the sources.
        let mut srcs: Vec<CopySrc> = Vec::new();
        for raw in &c.srcs {
            if let Some(name) = raw.strip_prefix("<<") {
                let name = name.trim_start_matches('-').trim_matches(|ch| ch == '"' || ch == '\'');
                if let Some(h) = c.heredocs.iter().find(|h| h.name == name) {
                    let mut h = h.clone();
                    if h.expand {
                        h.content = expand_heredoc(&h.content, &vars);
                    }
                    srcs.push(CopySrc::Heredoc(h));
                    continue;
                }
            }
            let src = self.expand(line, raw, &vars)?;
            if is_add && (src.starts_with("http://") || src.starts_with("https://") || src.starts_with("git@")) {
                return Err(self.err(
                    line,
                    format!("ADD {src}: downloading remote files during a build is not supported: builds have no network access; download it into the context and ADD the file"),
                ));
            }
            match &from_view {
                Some(view) => {
                    let clean_src = crate::ignore::clean(&format!("/{src}"));
                    if clean_src.contains(['*', '?', '[']) {
                        let pat = clean_src.trim_start_matches('/').to_string();
                        let mut found = false;
                        for (rel, real) in view.walk("/") {
                            if glob_match(pat.as_bytes(), rel.as_bytes()) {
                                if let Ok(meta) = std::fs::symlink_metadata(&real) {
                                    srcs.push(CopySrc::Image { rel, real, meta });
                                    found = true;
                                }
                            }
                        }
                        if !found {
                            return Err(self.err(line, format!("{kw} failed: no source files were specified")));
                        }
                    } else {
                        let (rel, real) = view.resolve(&clean_src).ok_or_else(|| {
                            self.err(line, format!("{kw} failed: stat {clean_src}: file does not exist"))
                        })?;
                        let meta = std::fs::metadata(&real)
                            .map_err(|e| self.err(line, format!("{kw} failed: stat {clean_src}: {e}")))?;
                        srcs.push(CopySrc::Image { rel, real, meta });
                    }
                }
                None => {
                    let found = self.ctx.sources(&src).map_err(|e| self.err(line, format!("{kw} failed: {e}")))?;
                    srcs.extend(found.into_iter().map(CopySrc::Ctx));
                }
            }
        }
        if srcs.is_empty() {
            return Err(self.err(line, format!("{kw} failed: no source files were specified")));
        }
        if srcs.len() > 1 && !dest.ends_with('/') {
            return Err(self.err(
                line,
                format!("When using {kw} with more than one source file, the destination must be a directory and end with a /"),
            ));
        }
        // Hashes for history and the cache key.
        let mut hashes = Vec::new();
        for src in &srcs {
            hashes.push(match src {
                CopySrc::Ctx(s) => self.ctx.source_hash(s)?,
                CopySrc::Image { rel, real, meta } => {
                    // As the daemon's lazy source hashes image files: their own headers,
                    // symlinks counted as their targets, unreachable entries skipped.
                    if meta.is_dir() {
                        let view = from_view.as_ref().expect("image sources come with a view");
                        let mut sums = vec![entry_hash_as(rel, real, meta, HashFlavor::Image)?];
                        for (sub, _) in view.walk(rel) {
                            let Some((target, r)) = view.resolve(&format!("{rel}/{sub}")) else { continue };
                            let Ok(m) = std::fs::symlink_metadata(&r) else { continue };
                            sums.push(entry_hash_as(&target, &r, &m, HashFlavor::Image)?);
                        }
                        sums.sort();
                        hash_strings("dir", &sums)
                    } else {
                        format!("file:{}", entry_hash_as(rel, real, meta, HashFlavor::Image)?)
                    }
                }
                CopySrc::Heredoc(h) => format!("file:{}", hex::encode(Sha256::digest(h.content.as_bytes()))),
            });
        }
        let src_hash = if hashes.len() == 1 { hashes[0].clone() } else { hash_strings("multi", &hashes) };
        // Docker's format, flags glued to the hash: `COPY --chown=1000:1000file:<hash> in <dest> `.
        let chown_comment = chown.as_ref().map(|c| format!("--chown={c}")).unwrap_or_default();
        let chmod_comment = c.chmod.as_ref().map(|_| format!("--chmod={:o}", chmod.unwrap_or(0))).unwrap_or_default();
        let comment = format!("{kw} {chown_comment}{chmod_comment}{src_hash} in {dest} ");
        let st = &self.stages[si];
        let mut cc = st.run.clone();
        let mut cmd = st.shell();
        cmd.push(format!("#(nop) {comment}"));
        cc.cmd = Some(cmd);
        cc.image = st.parent_str();
        let extra = format!(
            "chown={chown:?} chmod={chmod:?} from={} link={}",
            from_image.as_ref().map(|d| d.to_string()).unwrap_or_default(),
            c.link
        );
        let key = Self::cache_key(&st.parent_str(), &cc, &extra);
        if self.try_cache(si, &key)? {
            return Ok(());
        }
        // Build the layer.
        let view = self.view_of(self.stages[si].image.as_ref())?;
        let ids = match &chown {
            Some(spec) => Some(self.chown_ids(line, spec, &view)?),
            None => None,
        };
        let wd = &self.stages[si].run.working_dir;
        let workdir = if wd.is_empty() { "/".to_string() } else { wd.clone() };
        let abs_dest =
            if dest.starts_with('/') { dest.clone() } else { format!("{}/{dest}", workdir.trim_end_matches('/')) };
        let dest_is_dir = dest.ends_with('/') || dest.ends_with("/.") || dest == "." || srcs.len() > 1;
        let dest_path = resolve_lenient(&view, &abs_dest);
        let dest_existing_dir = crate::rootfs::is_dir_in(&view, &dest_path);
        let mut entries: Vec<LayerEntry> = Vec::new();
        let apply = |mut e: LayerEntry, keep_owner: bool| -> LayerEntry {
            match ids {
                Some((u, g)) => {
                    e.uid = u;
                    e.gid = g;
                }
                None if !keep_owner => {
                    e.uid = 0;
                    e.gid = 0;
                }
                None => {}
            }
            if let Some(m) = chmod {
                e.mode = m;
            }
            e
        };
        let join = |base: &str, rel: &str| -> String {
            let b = base.trim_matches('/');
            match (b.is_empty(), rel.is_empty()) {
                (true, _) => rel.to_string(),
                (false, true) => b.to_string(),
                (false, false) => format!("{b}/{rel}"),
            }
        };
        let mut first_mtime = 0;
        for src in &srcs {
            match src {
                CopySrc::Ctx(s) => {
                    first_mtime = if first_mtime == 0 { s.meta.mtime() } else { first_mtime };
                    if s.meta.is_dir() {
                        for e in self.ctx.walk(&s.rel)? {
                            // The path below the source directory ("" for the directory itself).
                            let sub = if e.rel == s.rel {
                                String::new()
                            } else if s.rel == "." {
                                e.rel.clone()
                            } else {
                                e.rel[s.rel.len()..].trim_start_matches('/').to_string()
                            };
                            let path = join(&dest_path, &sub);
                            if path.is_empty() {
                                continue; // the image root itself
                            }
                            let le = LayerEntry::from_fs(path, &e.real, &e.meta)
                                .map_err(|err| self.err(line, format!("{kw} failed: {}: {err}", e.rel)))?;
                            entries.push(apply(le, false));
                        }
                    } else {
                        let base = s.rel.rsplit('/').next().unwrap_or(&s.rel).to_string();
                        if is_add {
                            if let Some(extracted) = self.extract_archive(line, &s.real, &dest_path, ids)? {
                                entries.extend(extracted);
                                continue;
                            }
                        }
                        let path = if dest_is_dir || dest_existing_dir {
                            join(&dest_path, &base)
                        } else {
                            join(&dest_path, "")
                        };
                        let le = LayerEntry::from_fs(path, &s.real, &s.meta)
                            .map_err(|err| self.err(line, format!("{kw} failed: {}: {err}", s.rel)))?;
                        entries.push(apply(le, false));
                    }
                }
                CopySrc::Image { rel, real, meta } => {
                    first_mtime = if first_mtime == 0 { meta.mtime() } else { first_mtime };
                    let view = from_view.as_ref().expect("image sources come with a view");
                    if meta.is_dir() {
                        let top = LayerEntry::from_fs(join(&dest_path, ""), real, meta)
                            .map_err(|err| self.err(line, format!("{kw} failed: {rel}: {err}")))?;
                        if !top.path.is_empty() {
                            entries.push(apply(top, true));
                        }
                        for (sub, r) in view.walk(rel) {
                            let Ok(m) = std::fs::symlink_metadata(&r) else { continue };
                            let le = LayerEntry::from_fs(join(&dest_path, &sub), &r, &m)
                                .map_err(|err| self.err(line, format!("{kw} failed: {sub}: {err}")))?;
                            entries.push(apply(le, true));
                        }
                    } else {
                        let base = rel.rsplit('/').next().unwrap_or(rel).to_string();
                        let path = if dest_is_dir || dest_existing_dir {
                            join(&dest_path, &base)
                        } else {
                            join(&dest_path, "")
                        };
                        let le = LayerEntry::from_fs(path, real, meta)
                            .map_err(|err| self.err(line, format!("{kw} failed: {rel}: {err}")))?;
                        entries.push(apply(le, true));
                    }
                }
                CopySrc::Heredoc(h) => {
                    let path =
                        if dest_is_dir || dest_existing_dir { join(&dest_path, &h.name) } else { join(&dest_path, "") };
                    let le = LayerEntry {
                        path,
                        data: EntryData::Bytes(h.content.clone().into_bytes()),
                        mode: 0o644,
                        uid: 0,
                        gid: 0,
                        mtime: 0,
                        xattrs: Vec::new(),
                    };
                    entries.push(apply(le, false));
                }
            }
        }
        // Parent directories of everything copied (missing ones are created root-owned, as Docker does even with --chown).
        let (pu, pg) = (0, 0);
        let mut parents: BTreeMap<String, ()> = BTreeMap::new();
        for e in &entries {
            let mut p = e.path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                parents.insert(parent.to_string(), ());
                p = parent;
            }
        }
        let have: std::collections::HashSet<String> = entries.iter().map(|e| e.path.clone()).collect();
        let mut dirs = Vec::new();
        for p in parents.keys() {
            if have.contains(p) {
                continue;
            }
            if let Some(d) = self.dir_chain(&view, p, pu, pg, first_mtime).pop() {
                dirs.push(d);
            }
        }
        dirs.extend(entries);
        let layer = self.store_layer(dirs)?;
        let id = self.commit(si, cc, Some(layer), "")?;
        self.finish_step(si, &key, id)
    }

    /// ADD of a local archive: its entries under `dest`, or None when the file is not a tar.
    fn extract_archive(
        &self,
        line: usize,
        real: &Path,
        dest: &str,
        ids: Option<(u64, u64)>,
    ) -> Result<Option<Vec<LayerEntry>>, BuildError> {
        let f =
            std::fs::File::open(real).map_err(|e| self.err(line, format!("ADD failed: {}: {e}", real.display())))?;
        let Ok((_, mut plain)) = skiff_image::compression::decompress(f) else { return Ok(None) };
        let mut head = vec![0u8; 512];
        let mut got = 0;
        while got < 512 {
            match plain.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(_) => return Ok(None),
            }
        }
        if got < 512 || &head[257..262] != b"ustar" {
            return Ok(None);
        }
        let chained = io::Cursor::new(head).chain(plain);
        let mut ar = tar::Archive::new(chained);
        let mut out = Vec::new();
        let base = dest.trim_matches('/');
        let bad = |e: io::Error| self.err(line, format!("ADD failed: extracting {}: {e}", real.display()));
        for entry in ar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let rel = crate::ignore::clean(raw.trim_start_matches('/'));
            if rel == "." {
                continue;
            }
            if rel == ".." || rel.starts_with("../") {
                return Err(
                    self.err(line, format!("ADD failed: {}: entry {raw:?} points outside the archive", real.display()))
                );
            }
            let path = if base.is_empty() { rel.clone() } else { format!("{base}/{rel}") };
            let h = entry.header().clone();
            let mode = h.mode().unwrap_or(0o644) & 0o7777;
            let (uid, gid) = ids.unwrap_or((h.uid().unwrap_or(0), h.gid().unwrap_or(0)));
            let mtime = h.mtime().unwrap_or(0) as i64;
            let link = entry.link_name_bytes().map(|l| l.into_owned());
            let data = match h.entry_type() {
                tar::EntryType::Directory => EntryData::Dir,
                tar::EntryType::Symlink => EntryData::Symlink(link.unwrap_or_default()),
                tar::EntryType::Link => {
                    let t = crate::ignore::clean(
                        String::from_utf8_lossy(&link.unwrap_or_default()).trim_start_matches('/'),
                    );
                    if t == ".." || t.starts_with("../") {
                        return Err(self.err(
                            line,
                            format!("ADD failed: {}: hard link {raw:?} points outside the archive", real.display()),
                        ));
                    }
                    EntryData::Hardlink(if base.is_empty() { t } else { format!("{base}/{t}") })
                }
                tar::EntryType::Fifo => EntryData::Fifo,
                tar::EntryType::Char => EntryData::Char(
                    h.device_major().ok().flatten().unwrap_or(0),
                    h.device_minor().ok().flatten().unwrap_or(0),
                ),
                tar::EntryType::Block => EntryData::Block(
                    h.device_major().ok().flatten().unwrap_or(0),
                    h.device_minor().ok().flatten().unwrap_or(0),
                ),
                tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                    let mut buf = Vec::new();
                    entry.read_to_end(&mut buf).map_err(bad)?;
                    EntryData::Bytes(buf)
                }
                _ => continue,
            };
            out.push(LayerEntry { path, data, mode, uid, gid, mtime, xattrs: Vec::new() });
        }
        Ok(Some(out))
    }

    fn run_step(
        &mut self,
        si: usize,
        s: &Step,
        cmd: &CmdLine,
        network: Option<String>,
        heredocs: &[Heredoc],
    ) -> Result<(), BuildError> {
        let st = &self.stages[si];
        let cmd = match (cmd, heredocs.first()) {
            (CmdLine::Shell(text), Some(h))
                if heredocs.len() == 1
                    && text
                        .trim()
                        .trim_start_matches("<<")
                        .trim_start_matches('-')
                        .trim_matches(|c| c == '"' || c == '\'')
                        == h.name =>
            {
                let mut v = st.shell();
                v.push(h.content.clone());
                v
            }
            (CmdLine::Shell(text), Some(_)) => {
                let mut full = text.clone();
                for h in heredocs {
                    full.push('\n');
                    full.push_str(&h.content);
                    full.push_str(&h.name);
                }
                let mut v = st.shell();
                v.push(full);
                v
            }
            (c, _) => self.resolve_cmd(si, c),
        };
        let args = st.build_arg_env();
        for a in &args {
            let k = a.split_once('=').map(|(k, _)| k).unwrap_or(a);
            if !self.used_args.iter().any(|u| u == k) {
                self.used_args.push(k.to_string());
            }
        }
        let st = &self.stages[si];
        let save_cmd: Vec<String> = if args.is_empty() {
            cmd.clone()
        } else {
            let mut v = vec![format!("|{}", args.len())];
            v.extend(args.iter().cloned());
            v.extend(cmd.iter().cloned());
            v
        };
        let mut cc = st.run.clone();
        cc.cmd = Some(save_cmd.clone());
        cc.image = st.parent_str();
        let key = Self::cache_key(&st.parent_str(), &cc, "");
        if self.try_cache(si, &key)? {
            return Ok(());
        }
        let Some(runner) = self.runner else {
            return Err(self.err(s.line, "RUN is not supported yet: the container runtime is not available"));
        };
        let cid = random_id();
        self.say(&format!(" ---> Running in {}", &cid[..12]))?;
        let st = &self.stages[si];
        let mut env = st.env();
        env.extend(args);
        let spec = RunSpec {
            argv: cmd.clone(),
            env,
            user: st.run.user.clone(),
            workdir: if st.run.working_dir.is_empty() { "/".into() } else { st.run.working_dir.clone() },
            network: network.or_else(|| self.opts.network.clone()),
            container_id: cid.clone(),
            hostname: cid[..12].to_string(),
        };
        let image = st.image.clone();
        let diff = {
            let mut sink = io::sink();
            let out: &mut dyn Write = if self.opts.quiet { &mut sink } else { &mut *self.out };
            runner.run(self.store, image.as_ref(), &spec, out)
        };
        let diff = match diff {
            Ok(d) => d,
            Err(RunError::Exit(code)) => {
                return Err(BuildError::RunFailed {
                    file: self.file.clone(),
                    line: s.line,
                    command: cmd.join(" "),
                    code,
                })
            }
            Err(RunError::Failed(m)) => return Err(self.err(s.line, m)),
        };
        let layer = match diff {
            LayerDiff::Tar(blob) => self.layer_from_blob(blob)?,
            LayerDiff::UpperDir { path, remove, exclude } => {
                let w = self.store.blobs().writer().map_err(StoreError::from)?;
                let res = upper_to_tar_excluding(&path, w, &exclude);
                if remove {
                    let _ = std::fs::remove_dir_all(&path);
                }
                let w = res.map_err(|e: LayerError| self.err(s.line, e.to_string()))?;
                self.layer_from_blob(w.finish().map_err(StoreError::from)?)?
            }
        };
        container_defaults(&mut cc, &cid);
        let id = self.commit(si, cc, Some(layer), &cid)?;
        self.say(&format!("Removing intermediate container {}", &cid[..12]))?;
        self.finish_step(si, &key, id)
    }
}

/// What creating the intermediate container adds to its config (Docker's daemon
/// sets the hostname to the short id and turns absent labels into `{}`).
fn container_defaults(cc: &mut ContainerConfig, cid: &str) {
    cc.hostname = cid[..12].to_string();
    if cc.labels.is_none() {
        cc.labels = Some(BTreeMap::new());
    }
}

/// The config a `FROM scratch` stage starts from.
fn scratch_config() -> ImageConfig {
    ImageConfig {
        architecture: skiff_image::import::host_architecture().into(),
        os: "linux".into(),
        rootfs: RootFs { kind: "layers".into(), diff_ids: Vec::new() },
        ..Default::default()
    }
}

/// Expands `$VAR` in heredoc text (quotes are literal there).
fn expand_heredoc(text: &str, vars: &HashMap<String, String>) -> String {
    let escaped: String = text.replace('"', "\\\"").replace('\'', "\\'");
    expand_word(&escaped, vars, '\\').unwrap_or_else(|_| text.to_string())
}

/// Resolves `path` through the image's symlinks where they exist, lexically past that.
fn resolve_lenient(view: &RootView, path: &str) -> String {
    let mut todo: Vec<String> =
        path.split('/').filter(|c| !c.is_empty() && *c != ".").rev().map(String::from).collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        cur.push(c);
        let joined = cur.join("/");
        if let Some(real) = view.lookup(&joined) {
            if let Ok(t) = std::fs::read_link(&real) {
                hops += 1;
                if hops > 64 {
                    break;
                }
                cur.pop();
                let t = t.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    cur.clear();
                }
                for part in t.split('/').filter(|c| !c.is_empty() && *c != ".").rev() {
                    todo.push(part.to_string());
                }
            }
        }
    }
    format!("/{}", cur.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(go_quote_list(&["/hello".to_string()]), r#"["/hello"]"#);
        assert_eq!(
            go_quote_list(&["/bin/sh".into(), "-c".into(), "echo \"hi\"".into()]),
            r#"["/bin/sh" "-c" "echo \"hi\""]"#
        );
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(duration_string(90_000_000_000), "1m30s");
        assert_eq!(duration_string(5_000_000_000), "5s");
        assert_eq!(duration_string(0), "0s");
        assert_eq!(parse_ports("6379").unwrap(), vec!["6379/tcp"]);
        assert_eq!(parse_ports("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(parse_ports("8000-8001").unwrap(), vec!["8000/tcp", "8001/tcp"]);
        assert!(parse_ports("x").is_err());
    }
}
