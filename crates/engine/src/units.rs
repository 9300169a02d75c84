//! Docker's size strings (`--memory 32m`, `--shm-size 1g`): binary units, as
//! Docker's `RAMInBytes` reads them, with errors that name the input.

/// A size string that is not a size.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnitsError {
    #[error("invalid size: '{0}'")]
    InvalidSize(String),
}

/// Parses a memory size: a decimal number with an optional `b`, `k`, `m`,
/// `g`, `t` or `p` suffix (case-insensitive, optionally followed by `b` or
/// `ib`), multiples of 1024. `8000000` is bytes.
pub fn ram_in_bytes(s: &str) -> Result<i64, UnitsError> {
    let bad = || UnitsError::InvalidSize(s.to_string());
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    if num.is_empty() {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    let suffix = suffix.trim().to_ascii_lowercase();
    let mult: f64 = match suffix.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    let v = n * mult;
    if !v.is_finite() || v > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

/// Parses `--cpus 1.5` into nano CPUs, as Docker does.
pub fn nano_cpus(s: &str) -> Result<i64, UnitsError> {
    let v: f64 = s.trim().parse().map_err(|_| UnitsError::InvalidSize(s.to_string()))?;
    if !v.is_finite() || v < 0.0 {
        return Err(UnitsError::InvalidSize(s.to_string()));
    }
    Ok((v * 1e9).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_memory_strings() {
        assert_eq!(ram_in_bytes("8000000"), Ok(8_000_000));
        assert_eq!(ram_in_bytes("32m"), Ok(32 * 1024 * 1024));
        assert_eq!(ram_in_bytes("1g"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("1.5k"), Ok(1536));
        assert_eq!(ram_in_bytes("64MB"), Ok(64 << 20));
        let e = ram_in_bytes("12x").unwrap_err();
        assert!(e.to_string().contains("12x"), "{e}");
        assert!(ram_in_bytes("m").is_err());
        assert!(ram_in_bytes("").is_err());
    }

    #[test]
    fn cpus() {
        assert_eq!(nano_cpus("1.5"), Ok(1_500_000_000));
        assert!(nano_cpus("lots").is_err());
    }
}
