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
//! RUN needs a container runtime, reached through [`RunExecutor`]; FROM images
//! missing from the store (or every one, with `--pull`) come through an
//! [`ImagePuller`].

use crate::context::{BuildContext, ContextError};
use crate::parser::{self, CmdLine, Dockerfile, Instruction, ParseError, Step};
use crate::shell::{expand_word, ShellError, Vars};
use skiff_image::config::{format_time, ContainerConfig, History, ImageConfig, RootFs};
use skiff_image::overlay::MergedView;
use skiff_image::store::{LayerBlob, NewImage, NewLayer};
use skiff_image::{Digest, Reference, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

mod cache;
mod copy;
mod gofmt;
mod instructions;
mod pull;
mod run;

pub use pull::{ImagePuller, PullFailed};
pub use run::{LayerDiff, RunError, RunExecutor, RunSpec};
use skiff_image::strconv::quote;

/// Build args Docker accepts without an ARG: the proxy settings. They reach RUN's
/// environment but never its history, and are never reported as unused.
pub const BUILTIN_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

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

/// Runs a build.
pub struct Builder<'a> {
    store: &'a Store,
    ctx: &'a BuildContext,
    runner: Option<&'a dyn RunExecutor>,
    puller: Option<&'a dyn ImagePuller>,
    out: &'a mut dyn Write,
    opts: &'a BuildOptions,
    file: String,
    escape: char,
    stages: Vec<StageState>,
    created: Vec<Digest>,
    cache_hits: usize,
    used_args: Vec<String>,
    /// Whether this build has dropped the cache rows of deleted images yet.
    cache_pruned: bool,
}

/// Builds `opts.dockerfile` with `ctx`; RUN steps go to `runner`. FROM images
/// must be in the store (see [`build_with_puller`]).
pub fn build(
    store: &Store,
    ctx: &BuildContext,
    opts: &BuildOptions,
    runner: Option<&dyn RunExecutor>,
    out: &mut dyn Write,
) -> Result<BuildOutcome, BuildError> {
    build_with_puller(store, ctx, opts, runner, None, out)
}

/// [`build`], with FROM images that are missing (or all, with `opts.pull`) pulled by `puller`.
pub fn build_with_puller(
    store: &Store,
    ctx: &BuildContext,
    opts: &BuildOptions,
    runner: Option<&dyn RunExecutor>,
    puller: Option<&dyn ImagePuller>,
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
        puller,
        out,
        opts,
        file,
        escape: df.escape,
        stages: Vec::new(),
        created: Vec::new(),
        cache_hits: 0,
        used_args: Vec::new(),
        cache_pruned: false,
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
                labels.iter().map(|(k, v)| (quote(k, false), format!("'{}'", v.replace('\'', "")))).collect();
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
            .filter(|k| !self.used_args.contains(k) && !BUILTIN_ARGS.contains(&k.as_str()))
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

    /// Expands `K=V` pairs of ENV or LABEL; also returns the history text (`ENV K=V ...`).
    fn expand_pairs(
        &self,
        name: &str,
        line: usize,
        pairs: &[(String, String)],
        vars: &dyn Vars,
    ) -> Result<(String, Vec<(String, String)>), BuildError> {
        let mut comment = String::from(name);
        let mut expanded = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let k = self.expand(line, k, vars)?;
            let v = self.expand(line, v, vars)?;
            comment.push_str(&format!(" {k}={v}"));
            expanded.push((k, v));
        }
        Ok((comment, expanded))
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
            Some(self.base_image(s.line, &name)?)
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

    pub(super) fn try_cache(&mut self, si: usize, key: &str) -> Result<bool, BuildError> {
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

    fn view_of(&self, image: Option<&Digest>) -> Result<MergedView, BuildError> {
        Ok(match image {
            Some(id) => MergedView::new(self.store.unpacked_layers(id)?),
            None => MergedView::default(),
        })
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
        architecture: skiff_image::oci::host_architecture().into(),
        os: "linux".into(),
        rootfs: RootFs { kind: "layers".into(), diff_ids: Vec::new() },
        ..Default::default()
    }
}
