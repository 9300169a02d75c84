//! Published ports, parsed once from `-p/--publish [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`
//! (ranges on either side) into [`PortBinding`]s, with the errors of Docker's CLI (its
//! `go-connections/nat` parser). A range on the container side expands to one binding per port;
//! a host range of the same length pairs port by port; a host range against one container port
//! is a range to choose a free port from.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A `-p` that is not one. (Docker's CLI's words.)
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    #[error("Invalid containerPort: {0}")]
    ContainerPort(String),
    #[error("Invalid hostPort: {0}")]
    HostPort(String),
    #[error("Invalid ip address: {0}")]
    HostIp(String),
    #[error("Invalid proto: {0}")]
    Protocol(String),
    #[error("Invalid ranges specified for container and host Ports: {container} and {host}")]
    Ranges { container: String, host: String },
    #[error("No port specified: {0}<empty>")]
    Empty(String),
}

/// A transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "sctp" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    pub container_port: u16,
    pub protocol: Protocol,
    /// The host address to listen on; `None` is every address.
    pub host_ip: Option<IpAddr>,
    /// The host port, or the first and last of a range to choose a free one from; `None` is any
    /// free port.
    pub host_ports: Option<(u16, u16)>,
}

/// `a` or `a-b` as a range of ports; `what` makes the error.
fn port_range(s: &str, what: fn(String) -> PortError) -> Result<(u16, u16), PortError> {
    let bad = || what(s.to_string());
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// Parses one `-p`.
pub fn parse_publish(spec: &str) -> Result<Vec<PortBinding>, PortError> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p),
        None => (spec, "tcp"),
    };
    let protocol = Protocol::parse(proto).ok_or_else(|| PortError::Protocol(proto.to_string()))?;
    // [IP:][HOST:]CONTAINER, where IP may be an IPv6 address in brackets.
    let (ip, host, container) = match rest.rsplit_once(':') {
        None => ("", "", rest),
        Some((before, container)) => match before.rsplit_once(':') {
            Some((ip, host)) => (ip, host, container),
            None => ("", before, container),
        },
    };
    if container.is_empty() {
        return Err(PortError::Empty(spec.to_string()));
    }
    let host_ip = if ip.is_empty() {
        None
    } else {
        let bare = ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')).unwrap_or(ip);
        Some(bare.parse::<IpAddr>().map_err(|_| PortError::HostIp(ip.to_string()))?)
    };
    let (c0, c1) = port_range(container, PortError::ContainerPort)?;
    let hosts = if host.is_empty() { None } else { Some(port_range(host, PortError::HostPort)?) };
    if c0 == 0 {
        return Err(PortError::ContainerPort(container.to_string()));
    }
    let n = u32::from(c1 - c0) + 1;
    if let Some((h0, h1)) = hosts {
        let hn = u32::from(h1 - h0) + 1;
        if n > 1 && hn != n {
            return Err(PortError::Ranges { container: container.to_string(), host: host.to_string() });
        }
    }
    Ok((0..n)
        .map(|i| {
            let port = c0 + i as u16;
            let host_ports = match hosts {
                Some((h0, _)) if n > 1 => Some((h0 + i as u16, h0 + i as u16)),
                h => h,
            };
            PortBinding { container_port: port, protocol, host_ip, host_ports }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(c: u16, ip: Option<&str>, h: Option<(u16, u16)>) -> PortBinding {
        PortBinding {
            container_port: c,
            protocol: Protocol::Tcp,
            host_ip: ip.map(|i| i.parse().unwrap()),
            host_ports: h,
        }
    }

    #[test]
    fn publish_specs_parse_as_dockers_cli_reads_them() {
        assert_eq!(parse_publish("80"), Ok(vec![b(80, None, None)]));
        assert_eq!(parse_publish("8080:80"), Ok(vec![b(80, None, Some((8080, 8080)))]));
        assert_eq!(parse_publish("127.0.0.1:8080:80"), Ok(vec![b(80, Some("127.0.0.1"), Some((8080, 8080)))]));
        assert_eq!(parse_publish("127.0.0.1::80"), Ok(vec![b(80, Some("127.0.0.1"), None)]));
        assert_eq!(parse_publish("[::1]:8080:80"), Ok(vec![b(80, Some("::1"), Some((8080, 8080)))]));
        assert_eq!(
            parse_publish("8000-8001:80-81"),
            Ok(vec![b(80, None, Some((8000, 8000))), b(81, None, Some((8001, 8001)))])
        );
        assert_eq!(parse_publish("8000-8010:80"), Ok(vec![b(80, None, Some((8000, 8010)))]));
        let udp = parse_publish("53:53/udp").unwrap();
        assert_eq!(udp[0].protocol, Protocol::Udp);
    }

    #[test]
    fn bad_publish_specs_get_dockers_words() {
        let err = |s: &str| parse_publish(s).unwrap_err().to_string();
        assert_eq!(err("foo"), "Invalid containerPort: foo");
        assert_eq!(err("99999:80"), "Invalid hostPort: 99999");
        assert_eq!(err("80/bogus"), "Invalid proto: bogus");
        assert_eq!(err("1-3:1-2"), "Invalid ranges specified for container and host Ports: 1-2 and 1-3");
        assert_eq!(err("nope:80:80"), "Invalid ip address: nope");
        assert_eq!(err("0"), "Invalid containerPort: 0");
    }
}
