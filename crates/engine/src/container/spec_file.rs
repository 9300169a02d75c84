//! A container's OCI spec (`containers/<id>/config.json`) from its record: the image's config,
//! its users, the run options and the namespaces of the containers it joins, resolved now.

use crate::error::{io, json, EngineError, Result};
use crate::network_mode::NetworkMode;
use crate::options::RunOptions;
use crate::record::Container;
use crate::spec::{self, SpecInput};
use crate::Engine;
use skiff_image::userdb::UserDb;
use std::collections::BTreeMap;
use std::path::Path;

impl Engine {
    /// Generates a container's spec from its record (joins resolved now).
    pub fn generate_spec(&self, c: &Container) -> Result<oci_spec::runtime::Spec> {
        let store = self.store();
        let cfg = store.config(&c.image_id)?;
        let layers = store.unpacked_layers(&c.image_id)?;
        let users = UserDb::from_layers(&layers);
        let seccomp_profile = match c.opts.seccomp_file() {
            Some(f) => Some(std::fs::read_to_string(f).map_err(io("read seccomp profile", Path::new(f)))?),
            None => None,
        };
        let apparmor_profile = crate::apparmor::choose(
            skiff_runtime::apparmor_enabled(),
            crate::apparmor::requested(&c.opts.security_opt),
            c.opts.privileged,
        );
        if apparmor_profile.as_deref() == Some(crate::apparmor::DEFAULT_PROFILE) {
            crate::apparmor::ensure_default_loaded(&store.tmp_dir())?;
        }
        let dir = c.dir(store);
        let rootfs = c.rootfs(store);
        let input = SpecInput {
            id: &c.id,
            image: &cfg,
            opts: &c.opts,
            users: &users,
            container_dir: &dir,
            rootfs: &rootfs,
            join: self.join_paths(&c.opts)?,
            seccomp_profile,
            volumes_dir: &store.root().join("volumes"),
            apparmor_profile,
        };
        let mut spec = spec::generate(&input)?;
        if c.opts.init {
            spec::add_init(&mut spec, &crate::oci_runtime::init_binary()?)?;
        }
        Ok(spec)
    }

    /// Writes `spec` as the container's `config.json`.
    pub(super) fn write_spec(&self, c: &Container, spec: &oci_spec::runtime::Spec) -> Result<()> {
        let path = c.dir(self.store()).join("config.json");
        let text = serde_json::to_vec_pretty(spec).map_err(json(format!("the spec of container {}", c.id)))?;
        std::fs::write(&path, text).map_err(io("write", &path))
    }

    /// The namespace paths of `container:NAME` modes, keyed by OCI namespace type.
    fn join_paths(&self, o: &RunOptions) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let network = match &o.network {
            NetworkMode::Container(name) => Some(name),
            _ => None,
        };
        let namespaces = [
            ("network", "net", "network", network),
            ("pid", "pid", "pid namespace", o.pid.container()),
            ("ipc", "ipc", "ipc namespace", o.ipc.container()),
            ("uts", "uts", "uts namespace", o.uts.container()),
        ];
        for (kind, file, what, joined) in namespaces {
            if let Some(name) = joined {
                let other = self.find(name)?;
                let pid =
                    self.status(&other).pid().ok_or(EngineError::JoinNotRunning { what, id: other.id.clone() })?;
                out.insert(kind.to_string(), format!("/proc/{pid}/ns/{file}"));
            }
        }
        Ok(out)
    }
}
