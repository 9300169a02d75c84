//! The two unit formats runc's flags take: sizes as go-units' `RAMInBytes` reads them
//! (`update --memory 32m`) and durations as Go's `time.ParseDuration` does (`events
//! --interval 50ms`). The engine reads Docker's flags with its own copy of the first: this
//! crate depends on the runtime alone.

/// A size that is not one, in go-units' words.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidSize(String);

impl std::fmt::Display for InvalidSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid size: '{}'", self.0)
    }
}

impl std::error::Error for InvalidSize {}

/// A decimal number with an optional `b`, `k`, `m`, `g`, `t` or `p` suffix (any case, optionally
/// followed by `b` or `ib`), in multiples of 1024; no suffix is bytes.
pub fn ram_in_bytes(s: &str) -> Result<i64, InvalidSize> {
    let invalid = || InvalidSize(s.to_string());
    let t = s.trim();
    let digits = t.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
    let (number, unit) = t.split_at(digits);
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let unit = unit.trim().to_ascii_lowercase();
    let power = ["b", "k", "m", "g", "t", "p"]
        .iter()
        .position(|p| unit == *p || (*p != "b" && (unit == format!("{p}b") || unit == format!("{p}ib"))))
        .or(unit.is_empty().then_some(0))
        .ok_or_else(invalid)? as i32;
    let bytes = value * 1024f64.powi(power);
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(bytes as i64)
}

/// Nanoseconds: a sequence of decimal numbers each with a unit (`ns`, `us`, `µs`, `ms`, `s`,
/// `m`, `h`), as `1m30s` or `1.5s`; a bare `0` is zero.
pub fn parse_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[u..];
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_go_units_reads_them() {
        assert_eq!(ram_in_bytes("8000000"), Ok(8_000_000));
        assert_eq!(ram_in_bytes("32m"), Ok(32 << 20));
        assert_eq!(ram_in_bytes("1.5G"), Ok(3 << 29));
        assert_eq!(ram_in_bytes("4kb"), Ok(4096));
        assert_eq!(ram_in_bytes("4KiB"), Ok(4096));
        assert_eq!(ram_in_bytes("2b"), Ok(2));
        for bad in ["", "m", "12x", "1.2.3k", "-1", "5ib", "5bb"] {
            assert_eq!(ram_in_bytes(bad).unwrap_err().to_string(), format!("invalid size: '{bad}'"));
        }
    }

    #[test]
    fn durations_read_as_go_reads_them() {
        assert_eq!(parse_duration("50ms"), Some(50_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("3d"), None);
    }
}
