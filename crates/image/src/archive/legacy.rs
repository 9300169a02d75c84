//! The legacy half of a docker-archive (Docker 1.10 – 24, the layout the seeds show):
//! `<v1id>/VERSION`, `<v1id>/json`, `<v1id>/layer.tar` and `<config-hex>.json`.
//!
//! v1 IDs are computed as Docker computes them (moby `image/v1/imagev1.go` `CreateID`,
//! reference notes §1.4): the v1 image JSON of the layer (the image's own fields for the
//! top layer, an empty one dated 1970 below it) with `layer_id` = the layer's ChainID and
//! `parent` = the v1 ID below, marshalled with sorted keys, hashed. Loaders never check
//! them, but matching Docker keeps `save` output comparable file for file.

use crate::config::{format_time, go_json, ContainerConfig, ImageConfig};
use crate::digest::Digest;
use serde_json::{Map, Value};

/// `<v1id>/VERSION`: the three bytes `1.0`.
pub(crate) const VERSION: &[u8] = b"1.0";

/// One legacy layer directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V1Layer {
    /// The directory name (hex, no algorithm).
    pub id: String,
    /// The `json` file.
    pub json: Vec<u8>,
}

const EPOCH: &str = "1970-01-01T00:00:00Z";

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("serialises")
}

/// The v1 image fields of the top layer, as Go's `V1Image` marshals them (omitempty honoured).
fn top_fields(cfg: &ImageConfig) -> Vec<(&'static str, Value)> {
    let created = cfg.created_time().map(|t| format_time(&t)).unwrap_or_else(|| EPOCH.to_string());
    let mut out: Vec<(&'static str, Value)> = Vec::new();
    let put_str = |k: &'static str, v: &str, out: &mut Vec<(&'static str, Value)>| {
        if !v.is_empty() {
            out.push((k, Value::from(v)));
        }
    };
    put_str("comment", &cfg.comment, &mut out);
    out.push(("created", Value::from(created)));
    put_str("container", &cfg.container, &mut out);
    out.push(("container_config", to_value(&cfg.container_config.clone().unwrap_or_default())));
    put_str("docker_version", &cfg.docker_version, &mut out);
    put_str("author", &cfg.author, &mut out);
    if let Some(c) = &cfg.config {
        out.push(("config", to_value(c)));
    }
    put_str("architecture", &cfg.architecture, &mut out);
    if let Some(v) = cfg.variant.as_deref() {
        put_str("variant", v, &mut out);
    }
    put_str("os", &cfg.os, &mut out);
    out
}

fn empty_fields() -> Vec<(&'static str, Value)> {
    vec![("created", Value::from(EPOCH)), ("container_config", to_value(&ContainerConfig::default()))]
}

/// The legacy layer directories of an image, base first.
pub(crate) fn v1_layers(cfg: &ImageConfig) -> Vec<V1Layer> {
    let chain = Digest::chain_ids(&cfg.rootfs.diff_ids);
    let mut out: Vec<V1Layer> = Vec::with_capacity(chain.len());
    for (i, chain_id) in chain.iter().enumerate() {
        let top = i + 1 == chain.len();
        let fields = if top { top_fields(cfg) } else { empty_fields() };
        let parent = out.last().map(|p| p.id.clone());
        // Hashed form: a map, so Go sorts its keys.
        let mut hashed: std::collections::BTreeMap<String, Value> =
            fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        hashed.insert("layer_id".into(), Value::from(chain_id.to_string()));
        if let Some(p) = &parent {
            hashed.insert("parent".into(), Value::from(format!("sha256:{p}")));
        }
        let id = Digest::of(go_json(&to_value(&hashed)).as_bytes()).hex().to_string();
        // Written form: the struct's field order, with id, parent and (for every layer) os.
        let mut written = Map::new();
        written.insert("id".into(), Value::from(id.clone()));
        if let Some(p) = &parent {
            written.insert("parent".into(), Value::from(p.clone()));
        }
        for (k, v) in fields {
            if k != "os" {
                written.insert(k.into(), v);
            }
        }
        if !cfg.os.is_empty() {
            written.insert("os".into(), Value::from(cfg.os.clone()));
        }
        out.push(V1Layer { id, json: go_json(&Value::Object(written)).into_bytes() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from moby v28.1.1's own CreateID (reference notes §1.4).
    #[test]
    fn v1_ids_match_docker() {
        let config = r#"{"architecture":"amd64","config":{"Cmd":["sh"],"Env":["PATH=/usr/bin:/bin"]},"created":"2024-01-02T03:04:05Z","history":[{"created":"2024-01-02T03:04:05Z"},{"created":"2024-01-02T03:04:05Z"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111","sha256:2222222222222222222222222222222222222222222222222222222222222222"]}}"#;
        let cfg = ImageConfig::parse(config.as_bytes(), "vector").unwrap();
        let layers = v1_layers(&cfg);
        assert_eq!(layers[0].id, "b92deaa799f8eb0e37ff758683cf41685a53eb2ca7a8c0853efb3c6ef9966ba4");
        assert_eq!(layers[1].id, "c2cd438284d189a2e6b2f0f8047637d911466b54e45d3d99296a2504ae79472c");
        let j0: Value = serde_json::from_slice(&layers[0].json).unwrap();
        assert_eq!(j0["created"], EPOCH);
        assert_eq!(j0["os"], "linux");
        assert!(j0.get("parent").is_none());
        let j1: Value = serde_json::from_slice(&layers[1].json).unwrap();
        assert_eq!(j1["parent"], layers[0].id.as_str());
    }

    /// Docker 20.10's own `docker save` of the imported busybox: the same v1 ID and `json` bytes.
    #[test]
    fn busybox_legacy_layer_matches_docker_save() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/busybox.docker.tar");
        let mut ar = tar::Archive::new(std::fs::File::open(path).unwrap());
        let (mut config, mut json, mut dir) = (Vec::new(), Vec::new(), String::new());
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().to_string_lossy().into_owned();
            if p == "b8fec42fe388bb1127f7a3df258520d7f5475fa3121aafc38401edae7ff3e520.json" {
                std::io::Read::read_to_end(&mut e, &mut config).unwrap();
            } else if p.ends_with("/json") {
                dir = p.trim_end_matches("/json").to_string();
                std::io::Read::read_to_end(&mut e, &mut json).unwrap();
            }
        }
        let cfg = ImageConfig::parse(&config, "busybox").unwrap();
        let layers = v1_layers(&cfg);
        assert_eq!(layers[0].id, dir);
        assert_eq!(String::from_utf8(layers[0].json.clone()).unwrap(), String::from_utf8(json).unwrap());
    }
}
