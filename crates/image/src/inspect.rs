//! Docker's `ImageInspect`: what `docker image inspect` prints and the Engine API's
//! `GET /images/{name}/json` returns, from the image's record and config, shared by every front
//! end.

use crate::digest::Digest;
use crate::store::{Result, Store};
use serde_json::{json, Value};

impl Store {
    /// Docker's `ImageInspect` (`docker image inspect`, `GET /images/{name}/json`) for image `id`.
    pub fn inspect(&self, id: &Digest) -> Result<Value> {
        let store = self;
        let rec = store.image(id)?;
        let cfg = store.config(id)?;
        let layers = store.image_layers(id)?;
        let mut tags: Vec<String> = rec.tags.iter().map(|t| t.familiar()).collect();
        tags.sort();
        let mut digests: Vec<String> = rec.digests.iter().map(|d| d.familiar()).collect();
        digests.sort();
        let lower: Vec<String> =
            layers.iter().rev().map(|l| store.layer_dir(&l.chain_id).display().to_string()).collect::<Vec<_>>();
        let mut v = json!({
            "Id": id.to_string(),
            "RepoTags": tags,
            "RepoDigests": digests,
            "Parent": rec.parent.map(|p| p.to_string()).unwrap_or_default(),
            "Comment": cfg.comment,
            "Created": cfg.created.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "Container": cfg.container,
            "ContainerConfig": cfg.container_config.clone().unwrap_or_default(),
            "DockerVersion": cfg.docker_version,
            "Author": cfg.author,
            "Config": cfg.config,
            "Architecture": cfg.architecture,
        });
        let obj = v.as_object_mut().expect("object");
        if let Some(var) = &cfg.variant {
            obj.insert("Variant".into(), json!(var));
        }
        obj.insert("Os".into(), json!(cfg.os));
        if let Some(osv) = &cfg.os_version {
            obj.insert("OsVersion".into(), json!(osv));
        }
        obj.insert("Size".into(), json!(rec.size));
        obj.insert("VirtualSize".into(), json!(rec.size));
        obj.insert("GraphDriver".into(), json!({ "Data": { "LowerDir": lower.join(":") }, "Name": "overlay" }));
        obj.insert(
        "RootFS".into(),
        json!({ "Type": "layers", "Layers": cfg.rootfs.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>() }),
    );
        obj.insert(
            "Metadata".into(),
            json!({ "LastTagTime": rec.last_tag_time.unwrap_or_else(|| "0001-01-01T00:00:00Z".into()) }),
        );
        Ok(v)
    }
}
