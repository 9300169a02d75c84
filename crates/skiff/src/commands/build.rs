//! `skiff build`: builds an image from a Dockerfile and a context (a
//! directory, or `-`: a tar or a lone Dockerfile on stdin), with Docker's
//! classic builder output. FROM images missing from the store, or all of them
//! with `--pull`, are pulled as `skiff pull` pulls them, with the pull's
//! progress lines in the build output.

use super::{registry_options, GlobalOpts};
use anyhow::{bail, Context};
use clap::Args;
use skiff_builder::{BuildContext, BuildOptions};
use skiff_image::Reference;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short = 't', long = "tag", value_name = "NAME:TAG")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (Default is 'PATH/Dockerfile')
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Remove intermediate containers after a successful build (always)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", hide = true)]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long, hide = true)]
    pub force_rm: bool,
    #[arg(value_name = "PATH | URL | -")]
    pub context: String,
}

fn key_value(s: &str, what: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => bail!("invalid {what} {s:?}: expected KEY=VALUE"),
    }
}

fn is_tar(head: &[u8]) -> bool {
    use skiff_image::compression::Compression;
    Compression::detect(head) != Compression::None || (head.len() >= 262 && &head[257..262] == b"ustar")
}

pub fn run(g: &GlobalOpts, a: BuildArgs) -> anyhow::Result<u8> {
    let mut tags = Vec::new();
    for t in &a.tags {
        let r = Reference::parse_with_default_tag(t)
            .with_context(|| format!("invalid argument {t:?} for \"-t, --tag\" flag"))?;
        if r.digest().is_some() {
            bail!("invalid argument {t:?} for \"-t, --tag\" flag: cannot tag a build with a digest");
        }
        tags.push(r);
    }
    let mut build_args = Vec::new();
    for b in &a.build_args {
        match b.split_once('=') {
            Some((k, v)) => build_args.push((k.to_string(), Some(v.to_string()))),
            // `--build-arg NAME` takes the value from the environment, if set.
            None => {
                if let Ok(v) = std::env::var(b) {
                    build_args.push((b.clone(), Some(v)));
                }
            }
        }
    }
    let labels = a.labels.iter().map(|l| key_value(l, "label")).collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(p) = &a.platform {
        let want = format!("linux/{}", skiff_image::oci::host_architecture());
        if p != &want && !p.starts_with(&format!("{want}/")) {
            bail!("platform {p:?} is not supported: skiff builds for {want} only");
        }
    }
    if a.context.starts_with("http://") || a.context.starts_with("https://") || a.context.starts_with("git@") {
        bail!("unable to prepare context: building from a URL is not supported; clone or download it and build the directory");
    }
    let engine = super::open_engine(g)?;
    let store = engine.store();
    let scratch = store.tmp_dir().join(format!("build-context-{}", std::process::id()));
    let mut dockerfile_from_stdin: Option<String> = None;
    let ctx = if a.context == "-" {
        let mut data = Vec::new();
        std::io::stdin().lock().read_to_end(&mut data).context("reading the build context from stdin")?;
        if is_tar(&data[..data.len().min(512)]) {
            BuildContext::from_tar(&mut data.as_slice(), &scratch)?
        } else {
            dockerfile_from_stdin = Some(String::from_utf8(data).context("the Dockerfile on stdin is not UTF-8")?);
            BuildContext::empty(&scratch)?
        }
    } else {
        BuildContext::from_dir(Path::new(&a.context))?
    };
    let (dockerfile, name) = match (dockerfile_from_stdin, a.file.as_deref()) {
        (Some(text), _) => (text, "Dockerfile".to_string()),
        (None, Some("-")) => {
            let mut text = String::new();
            std::io::stdin().lock().read_to_string(&mut text).context("reading the Dockerfile from stdin")?;
            (text, "Dockerfile".to_string())
        }
        (None, given) => {
            let path: PathBuf = match given {
                None => ctx.root().join("Dockerfile"),
                Some(f) if Path::new(f).is_absolute() => PathBuf::from(f),
                Some(f) if a.context != "-" && Path::new(f).exists() => PathBuf::from(f),
                Some(f) => ctx.root().join(f),
            };
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("unable to prepare context: unable to read the Dockerfile {}", path.display())
            })?;
            let name =
                given.map(|f| f.rsplit('/').next().unwrap_or(f).to_string()).unwrap_or_else(|| "Dockerfile".into());
            (text, name)
        }
    };
    let opts = BuildOptions {
        dockerfile_name: name,
        dockerfile,
        tags,
        build_args,
        target: a.target,
        no_cache: a.no_cache,
        pull: a.pull,
        labels,
        network: a.network,
        quiet: a.quiet,
        platform: a.platform,
    };
    let mut popts = skiff_registry::PullOptions::default();
    if let Some(p) = &opts.platform {
        popts.platform = Some(skiff_registry::manifest::Platform::parse(p)?);
    }
    let puller = RegistryPuller { registry: registry_options(true)?, pull: popts };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    skiff_builder::build_with_puller(store, &ctx, &opts, Some(&EngineRunner(&engine)), Some(&puller), &mut out)?;
    Ok(0)
}

/// FROM images pulled through the registry client, with `skiff pull`'s options;
/// the progress lines (as `skiff pull` prints them when stderr is not a terminal)
/// go to the build output.
struct RegistryPuller {
    registry: skiff_registry::ClientOptions,
    pull: skiff_registry::PullOptions,
}

impl skiff_builder::ImagePuller for RegistryPuller {
    fn pull(
        &self,
        store: &skiff_image::Store,
        reference: &Reference,
        output: Option<&mut dyn std::io::Write>,
    ) -> Result<skiff_image::Digest, skiff_builder::PullFailed> {
        use skiff_registry::PullEvent;
        use std::io::Write as _;
        // Events come from the pull's download threads; this thread writes them in order.
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let result = std::thread::scope(|s| {
            let worker = s.spawn(move || {
                let events = |e: PullEvent| {
                    if let Some(line) = super::pull::progress_line(e) {
                        let _ = tx.send(line);
                    }
                };
                skiff_registry::pull(store, &self.registry, reference, &self.pull, &events)
            });
            let mut output = output;
            for line in rx {
                if let Some(out) = output.as_mut() {
                    let _ = writeln!(out, "{line}");
                }
            }
            worker.join()
        });
        match result {
            Ok(Ok(pulled)) => Ok(pulled.id),
            Ok(Err(e)) => Err(skiff_builder::PullFailed { reference: reference.familiar(), message: e.to_string() }),
            Err(_) => Err(skiff_builder::PullFailed {
                reference: reference.familiar(),
                message: "the pull thread panicked".into(),
            }),
        }
    }
}

/// RUN steps as containers of the engine: the step's image, its command with no
/// entrypoint, the builder's environment, user, workdir and network; the upper
/// directory of the container's overlay becomes the layer.
struct EngineRunner<'e>(&'e skiff_engine::Engine);

/// Mount points the engine sets up in a container's root, kept out of layers.
const RUNTIME_PATHS: &[&str] =
    &["proc", "sys", "dev", ".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab"];

impl skiff_builder::RunExecutor for EngineRunner<'_> {
    fn run(
        &self,
        _store: &skiff_image::Store,
        image: Option<&skiff_image::Digest>,
        spec: &skiff_builder::RunSpec,
        out: &mut dyn std::io::Write,
    ) -> Result<skiff_builder::LayerDiff, skiff_builder::RunError> {
        use skiff_builder::RunError;
        let engine = self.0;
        let store = engine.store();
        let failed = |e: &dyn std::fmt::Display| RunError::Failed(e.to_string());
        let Some(image) = image else {
            return Err(RunError::Failed("RUN needs an image with a shell: FROM scratch has none".into()));
        };
        let _ = out.flush();
        let mut opts = skiff_engine::RunOptions { image: image.to_string(), ..Default::default() };
        opts.entrypoint = Some(String::new());
        opts.cmd = spec.argv.clone();
        opts.env = spec.env.clone();
        opts.workdir = Some(spec.workdir.clone());
        opts.user = (!spec.user.is_empty()).then(|| spec.user.clone());
        opts.hostname = Some(spec.hostname.clone());
        match spec.network.as_deref() {
            Some("none") => opts.network = skiff_engine::NetworkMode::None,
            Some("host") => opts.network = skiff_engine::NetworkMode::Host,
            _ => {}
        }
        let (c, spec) = engine.create_with_spec(opts).map_err(|e| failed(&e))?;
        let result = (|| {
            let attach = skiff_engine::container::Attach { output: true, stdin: false };
            let started = engine.start_with_spec(&c, attach, None, Some(spec)).map_err(|e| failed(&e))?;
            let code = engine.wait_attached(&c, &started);
            if code != 0 {
                return Err(RunError::Exit(code));
            }
            let upper = c.dir(store).join("upper");
            let exclude: Vec<String> = RUNTIME_PATHS.iter().map(|p| p.to_string()).collect();
            let w = store.blobs().writer().map_err(|e| failed(&e))?;
            let w = skiff_image::overlay::upper_to_tar_excluding(&upper, w, &exclude).map_err(|e| failed(&e))?;
            Ok(skiff_builder::LayerDiff::Tar(w.finish().map_err(|e| failed(&e))?))
        })();
        let _ = engine.remove(&c, skiff_engine::container::RemoveOptions { force: true, volumes: false });
        result
    }
}
