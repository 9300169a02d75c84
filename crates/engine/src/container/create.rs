//! `docker create`: resolves the image, names the container, writes its directory
//! (`config.json`, hostname, hosts, resolv.conf, `config.v2.json`) and its record.

use crate::error::{io, Result};
use crate::mounts::{Mount, MountSource};
use crate::options::RunOptions;
use crate::record::{self, Container, RecordError};
use crate::spec::{self, SpecError};
use crate::{hosts_files, names, Engine};

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl Engine {
    /// `docker create`: resolves the image, names the container, writes its directory and record.
    pub fn create(&self, opts: RunOptions) -> Result<Container> {
        self.create_with_spec(opts).map(|(c, _)| c)
    }

    /// [`Engine::create`], also returning the spec it generated, for a
    /// [`Engine::start_with_spec`] right after (`run`): generating it again would give the
    /// same spec.
    pub fn create_with_spec(&self, opts: RunOptions) -> Result<(Container, oci_spec::runtime::Spec)> {
        let store = self.store();
        opts.check(crate::options::HostCpus::read)?;
        crate::oci_runtime::resolve(opts.runtime.as_deref())?;
        let img = store.resolve(&opts.image)?;
        let cfg = store.config(&img.id)?;
        let id = names::new_id();
        skiff_runtime::timing::mark("create: image resolved");
        if let Some(n) = &opts.name {
            if !names::valid_name(n.strip_prefix('/').unwrap_or(n)) {
                return Err(RecordError::InvalidName(n.clone()).into());
            }
        }
        let mut opts = opts;
        name_anonymous_volumes(&mut opts, &cfg);
        let args = spec::process_args(&cfg, &opts);
        if args.is_empty() {
            return Err(SpecError::NoCommand.into());
        }
        let mut c = Container {
            id: id.clone(),
            name: String::new(),
            image: opts.image.clone(),
            image_id: img.id.clone(),
            created: now(),
            path: args[0].clone(),
            args: args[1..].to_vec(),
            opts,
            restart_count: 0,
        };
        let dir = c.dir(store);
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let result = (|| -> Result<oci_spec::runtime::Spec> {
            let hostname = c.opts.hostname.clone().unwrap_or_else(|| spec::default_hostname(&id));
            let write = |f: &str, text: String| std::fs::write(dir.join(f), text).map_err(io("write", &dir.join(f)));
            write("hostname", format!("{hostname}\n"))?;
            write("hosts", hosts_files::hosts_file(&hostname, &c.opts.network))?;
            write("resolv.conf", hosts_files::resolv_conf())?;
            for name in c.opts.mounts.iter().filter_map(Mount::volume_name) {
                let data = store.root().join("volumes").join(name).join("_data");
                std::fs::create_dir_all(&data).map_err(io("create", &data))?;
            }
            skiff_runtime::timing::mark("create: files written");
            // Validate the spec now, so `create` reports bad users, caps and mounts.
            let spec = self.generate_spec(&c)?;
            skiff_runtime::timing::mark("create: spec generated");
            self.write_spec(&c, &spec)?;
            skiff_runtime::timing::mark("create: spec written");
            match c.opts.name.clone() {
                Some(n) => {
                    c.name = n.strip_prefix('/').unwrap_or(&n).to_string();
                    record::insert(store, &c)?;
                }
                None => {
                    let mut retry = 0;
                    loop {
                        c.name = names::random_name(retry);
                        match record::insert(store, &c) {
                            Err(RecordError::NameInUse { .. }) if retry < 10 => retry += 1,
                            r => break r?,
                        }
                    }
                }
            }
            skiff_runtime::timing::mark("create: record inserted");
            record::write_json(&dir.join("config.v2.json"), &c)?;
            Ok(spec)
        })();
        match result {
            Ok(spec) => Ok((c, spec)),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }
}

/// Adds the image's `VOLUME`s that no `-v` or `--tmpfs` covers as anonymous volumes, and names
/// every anonymous volume.
fn name_anonymous_volumes(opts: &mut RunOptions, image: &skiff_image::config::ImageConfig) {
    let image_volumes = image.config.as_ref().and_then(|c| c.volumes.clone()).unwrap_or_default();
    for dest in image_volumes.keys() {
        if !opts.mounts.iter().any(|m| m.target == *dest) {
            opts.mounts.push(Mount::anonymous_volume(dest));
        }
    }
    for m in &mut opts.mounts {
        if let MountSource::Volume { name, anonymous: true } = &mut m.source {
            if name.is_empty() {
                *name = names::new_id();
            }
        }
    }
}
