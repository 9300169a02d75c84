//! The files Docker writes for each container and binds over the image's: `/etc/hosts` and
//! `/etc/resolv.conf` (`containers/<id>/hosts`, `resolv.conf`), as Docker 20.10 writes them for
//! a container with a private network namespace or the host's.

use crate::network_mode::NetworkMode;

/// `/etc/hosts`: the host's own for `--network host`, else localhost and the IPv6 names, then
/// the container's hostname.
pub fn hosts_file(hostname: &str, network: &NetworkMode) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if *network == NetworkMode::Host {
        return std::fs::read_to_string("/etc/hosts").unwrap_or(s);
    }
    s.push_str(&format!("127.0.1.1\t{hostname}\n"));
    s
}

/// `/etc/resolv.conf`: the host's, without loopback resolvers (unreachable from the container);
/// Google's public resolvers when none is left, as Docker does.
pub fn resolv_conf() -> String {
    resolv_conf_from(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
}

fn resolv_conf_from(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for l in host.lines() {
        let t = l.trim();
        if let Some(ns) = t.strip_prefix("nameserver") {
            let ns = ns.trim();
            if ns.starts_with("127.") || ns == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(l);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolvers_are_left_out() {
        let host = "# by hand\nsearch example.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n";
        assert_eq!(resolv_conf_from(host), "# by hand\nsearch example.com\nnameserver 10.0.0.2\noptions edns0\n");
        assert_eq!(resolv_conf_from("nameserver ::1\n"), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }

    #[test]
    fn a_private_network_names_the_container() {
        let h = hosts_file("abc123", &NetworkMode::Default);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("127.0.1.1\tabc123\n"));
    }
}
