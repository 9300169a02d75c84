//! One container as Docker's daemon lists it (`GET /containers/json`, the data behind
//! `docker ps`): ids and names, the command, the state and its status words (`Up 5 seconds`,
//! `Exited (0) 3 minutes ago`), the ports and the network mode, sizes on request. How a front end
//! shows it (truncation, quoting, `CREATED` as "ago", port ranges) is the front end's business,
//! as it is Docker's CLI's.

use super::humanize::human_duration;
use crate::network_mode::NetworkMode;
use crate::record::Container;
use crate::state::Status;
use crate::Engine;
use chrono::{DateTime, Utc};

/// A port of a container, as the container list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSummary {
    pub private_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

/// One container of the list.
#[derive(Debug, Clone)]
pub struct ContainerSummary {
    pub id: String,
    /// The name without the leading `/` Docker's API puts before it.
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: skiff_image::Digest,
    /// The path and its arguments, an argument with a space in single quotes.
    pub command: String,
    pub created: DateTime<Utc>,
    /// Docker's `State` word: created, running, paused, exited.
    pub state: &'static str,
    /// Docker's status words, as of `now`.
    pub status: String,
    /// The ports the container exposes while it runs in a network namespace of its own.
    pub ports: Vec<PortSummary>,
    /// The networks column: `bridge`, `host`, `none` or a network's name.
    pub network: String,
    /// The bytes of the writable layer, and of it with the image's (asked for with `-s`).
    pub size_rw: Option<u64>,
    pub size_root_fs: Option<u64>,
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Docker's status words for a container in state `s`, as of `now`.
pub fn status_text(s: &Status, now: DateTime<Utc>) -> String {
    let since =
        |t: &str| parse_time(t).map(|t| human_duration((now - t).to_std().unwrap_or_default())).unwrap_or_default();
    match s {
        Status::Created => "Created".to_string(),
        Status::Running { started, .. } => format!("Up {}", since(started)),
        Status::Paused { started, .. } => format!("Up {} (Paused)", since(started)),
        Status::Exited { code, finished, .. } => match parse_time(finished) {
            Some(_) => format!("Exited ({code}) {} ago", since(finished)),
            None => format!("Exited ({code})"),
        },
    }
}

impl Engine {
    /// Container `c` in state `s` as the container list shows it, with its sizes when
    /// `with_size`.
    pub fn summary(&self, c: &Container, s: &Status, with_size: bool) -> ContainerSummary {
        let store = self.store();
        let now = Utc::now();
        let (size_rw, size_root_fs) = if with_size {
            let rw = crate::files::dir_size(&c.dir(store).join("upper"));
            let image = store.image(&c.image_id).map(|i| i.size).unwrap_or(0);
            (Some(rw), Some(rw + image))
        } else {
            (None, None)
        };
        ContainerSummary {
            id: c.id.clone(),
            name: c.name.clone(),
            image: c.image.clone(),
            image_id: c.image_id.clone(),
            command: c.listed_command(),
            created: parse_time(&c.created).unwrap_or(now),
            state: s.word(),
            status: status_text(s, now),
            ports: self.exposed_ports(c, s),
            network: c.opts.network.network_name().to_string(),
            size_rw,
            size_root_fs,
        }
    }

    /// The image's exposed ports while the container runs in its own network namespace (Docker
    /// lists none for stopped containers, for `--network host|none` and for `--network
    /// container:NAME`), by port then protocol.
    fn exposed_ports(&self, c: &Container, s: &Status) -> Vec<PortSummary> {
        let own_net = matches!(c.opts.network, NetworkMode::Default | NetworkMode::Network(_));
        if !s.is_running() || !own_net {
            return Vec::new();
        }
        let Some(exposed) =
            self.store().config(&c.image_id).ok().and_then(|cfg| cfg.config.and_then(|cc| cc.exposed_ports))
        else {
            return Vec::new();
        };
        let mut list: Vec<PortSummary> = exposed
            .keys()
            .filter_map(|k| {
                let (port, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
                port.parse().ok().map(|p| PortSummary { private_port: p, protocol: proto.to_string() })
            })
            .collect();
        list.sort_by(|a, b| (a.private_port, &a.protocol).cmp(&(b.private_port, &b.protocol)));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_as_dockers_daemon_writes_them() {
        let now = DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(status_text(&Status::Created, now), "Created");
        let running = Status::Running { pid: 1, started: "2026-12-04T09:59:55Z".into() };
        assert_eq!(status_text(&running, now), "Up 5 seconds");
        let paused = Status::Paused { pid: 1, started: "2026-12-04T08:00:00Z".into() };
        assert_eq!(status_text(&paused, now), "Up 2 hours (Paused)");
        let exited = Status::Exited {
            code: 3,
            started: String::new(),
            finished: "2026-12-04T09:57:00Z".into(),
            oom_killed: false,
        };
        assert_eq!(status_text(&exited, now), "Exited (3) 3 minutes ago");
        let lost = Status::Exited { code: 255, started: String::new(), finished: String::new(), oom_killed: false };
        assert_eq!(status_text(&lost, now), "Exited (255)");
    }
}
