//! RUN: the command line as Docker builds it (the shell form through SHELL,
//! build args in scope prefixed as `|N K=v` in history), run through a
//! [`RunExecutor`] (the container runtime, provided by the caller), and the
//! changes it returns committed as a layer.

use super::gofmt::random_id;
use super::{container_defaults, BuildError, Builder, BUILTIN_ARGS};
use crate::parser::{CmdLine, Heredoc, Step};
use skiff_image::blob::FinishedBlob;
use skiff_image::overlay::{upper_to_tar_excluding, UpperError};
use skiff_image::{Digest, Store, StoreError};
use std::io::{self, Write};
use std::path::PathBuf;

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

impl Builder<'_> {
    pub(super) fn run_step(
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
        // Proxy settings given with --build-arg reach the command without an ARG.
        for (k, v) in &self.opts.build_args {
            if let Some(v) = v {
                let declared = st.args.iter().any(|(a, _)| a == k);
                if BUILTIN_ARGS.contains(&k.as_str())
                    && !declared
                    && !env.iter().any(|e| e.starts_with(&format!("{k}=")))
                {
                    env.push(format!("{k}={v}"));
                }
            }
        }
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
                let w = res.map_err(|e: UpperError| self.err(s.line, e.to_string()))?;
                self.layer_from_blob(w.finish().map_err(StoreError::from)?)?
            }
        };
        container_defaults(&mut cc, &cid);
        let id = self.commit(si, cc, Some(layer), &cid)?;
        self.say(&format!("Removing intermediate container {}", &cid[..12]))?;
        self.finish_step(si, &key, id)
    }
}
