//! Go formatting the classic builder's history text depends on: `%q` of
//! string slices (strings are [`skiff_image::strconv::quote`]d), `time.Duration`
//! printing, EXPOSE port specs; and the random ids of intermediate containers.

use skiff_image::strconv::quote;

/// Go's `%q` of a string slice: `["a" "b"]`.
pub(super) fn go_quote_list(v: &[String]) -> String {
    format!("[{}]", v.iter().map(|s| quote(s, false)).collect::<Vec<_>>().join(" "))
}

pub(super) fn random_id() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("random bytes");
    hex::encode(b)
}

/// Go's `time.Duration.String()`.
pub(super) fn duration_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        return if ns % 1_000_000 == 0 {
            format!("{}ms", ns / 1_000_000)
        } else if ns % 1000 == 0 {
            format!("{}µs", ns / 1000)
        } else {
            format!("{ns}ns")
        };
    }
    let mut out = String::new();
    let h = ns / 3_600_000_000_000;
    let m = (ns / 60_000_000_000) % 60;
    let s = ns % 60_000_000_000;
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    let secs = s as f64 / 1e9;
    let mut ss = format!("{secs:.9}");
    while ss.ends_with('0') {
        ss.pop();
    }
    if ss.ends_with('.') {
        ss.pop();
    }
    out.push_str(&ss);
    out.push('s');
    out
}

/// Normalises EXPOSE specs: `80` → `80/tcp`, ranges expanded.
pub(super) fn parse_ports(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, pr)) => (p, pr.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    // An `ip:hostport:port` form takes the container port.
    let ports = ports.rsplit(':').next().unwrap_or(ports);
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (a, b),
        None => (ports, ports),
    };
    let lo: u32 = lo.parse().map_err(|_| format!("invalid containerPort: {ports}"))?;
    let hi: u32 = hi.parse().map_err(|_| format!("invalid containerPort: {ports}"))?;
    if lo > hi || hi > 65535 {
        return Err(format!("invalid port range: {ports}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(go_quote_list(&["/hello".to_string()]), r#"["/hello"]"#);
        assert_eq!(
            go_quote_list(&["/bin/sh".into(), "-c".into(), "echo \"hi\"".into()]),
            r#"["/bin/sh" "-c" "echo \"hi\""]"#
        );
        assert_eq!(duration_string(90_000_000_000), "1m30s");
        assert_eq!(duration_string(5_000_000_000), "5s");
        assert_eq!(duration_string(0), "0s");
        assert_eq!(parse_ports("6379").unwrap(), vec!["6379/tcp"]);
        assert_eq!(parse_ports("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(parse_ports("8000-8001").unwrap(), vec!["8000/tcp", "8001/tcp"]);
        assert!(parse_ports("x").is_err());
    }
}
