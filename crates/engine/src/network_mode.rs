//! `--network`: which network namespace a container gets, as Docker's `HostConfig.NetworkMode`
//! names it: `default` (nothing asked: the default bridge), `bridge` or a network's name,
//! `none`, `host`, `container:NAME|ID`.
//!
//! Records of earlier skiff versions stored a namespace mode (`"Private"`, `"Host"`,
//! `{"Container": "x"}`) plus a `network_none` flag; those spellings still deserialize (see
//! `record`'s upgrade of old records).

use serde::{Deserialize, Serialize};

/// A container's network mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// No `--network`: Docker's default bridge.
    #[default]
    #[serde(alias = "Private")]
    Default,
    /// A network by name (`bridge` is the default bridge, asked for by name).
    Network(String),
    /// Loopback only.
    None,
    /// The host's network namespace.
    #[serde(alias = "Host")]
    Host,
    /// The network namespace of another container.
    #[serde(alias = "Container")]
    Container(String),
}

/// A `--network` value that names no mode.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid --network mode: {0:?}")]
pub struct NetworkModeError(pub String);

impl NetworkMode {
    /// Parses `--network`: `""` and `default` are the default; `none`, `host`, `bridge`,
    /// `container:NAME`, or a network's name.
    pub fn parse(s: &str) -> Result<NetworkMode, NetworkModeError> {
        Ok(match s {
            "" | "default" => NetworkMode::Default,
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            _ => match s.strip_prefix("container:") {
                Some(n) if !n.is_empty() => NetworkMode::Container(n.to_string()),
                Some(_) => return Err(NetworkModeError(s.to_string())),
                None => NetworkMode::Network(s.to_string()),
            },
        })
    }

    /// Docker's `HostConfig.NetworkMode` spelling.
    pub fn docker_string(&self) -> String {
        match self {
            NetworkMode::Default => "default".to_string(),
            NetworkMode::Network(n) => n.clone(),
            NetworkMode::None => "none".to_string(),
            NetworkMode::Host => "host".to_string(),
            NetworkMode::Container(n) => format!("container:{n}"),
        }
    }

    /// Whether the container gets a network namespace of its own (not the host's, not another
    /// container's).
    pub fn is_private(&self) -> bool {
        matches!(self, NetworkMode::Default | NetworkMode::Network(_) | NetworkMode::None)
    }

    /// The networks column of `docker ps`: `host`, `none`, else the network's name.
    pub fn network_name(&self) -> &str {
        match self {
            NetworkMode::Host => "host",
            NetworkMode::None => "none",
            NetworkMode::Network(n) => n,
            NetworkMode::Default | NetworkMode::Container(_) => "bridge",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_modes_parse_and_print_as_dockers() {
        for (s, m, shown) in [
            ("", NetworkMode::Default, "default"),
            ("default", NetworkMode::Default, "default"),
            ("bridge", NetworkMode::Network("bridge".into()), "bridge"),
            ("mynet", NetworkMode::Network("mynet".into()), "mynet"),
            ("none", NetworkMode::None, "none"),
            ("host", NetworkMode::Host, "host"),
            ("container:db", NetworkMode::Container("db".into()), "container:db"),
        ] {
            assert_eq!(NetworkMode::parse(s), Ok(m.clone()), "{s:?}");
            assert_eq!(m.docker_string(), shown);
        }
        assert_eq!(NetworkMode::parse("container:"), Err(NetworkModeError("container:".into())));
    }

    #[test]
    fn earlier_records_still_read() {
        let read = |j: &str| serde_json::from_str::<NetworkMode>(j).unwrap();
        assert_eq!(read(r#""Private""#), NetworkMode::Default);
        assert_eq!(read(r#""Host""#), NetworkMode::Host);
        assert_eq!(read(r#"{"Container":"db"}"#), NetworkMode::Container("db".into()));
        // And today's round-trip.
        for m in [NetworkMode::Default, NetworkMode::None, NetworkMode::Network("n".into()), NetworkMode::Host] {
            assert_eq!(read(&serde_json::to_string(&m).unwrap()), m);
        }
    }
}
