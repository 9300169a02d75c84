//! Docker's size strings (`--memory 32m`, `--shm-size 1g`): binary units, as
//! Docker's `RAMInBytes` reads them, with errors that name the input.

/// A size string that is not a size.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnitsError {
    #[error("invalid size: '{0}'")]
    InvalidSize(String),
    /// Go's `big.Rat.SetString` failing, in Docker's words.
    #[error("failed to parse {0} as a rational number")]
    Rational(String),
    /// A CPU count with more than nine decimals (nano CPUs are whole).
    #[error("value is too precise")]
    TooPrecise,
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

/// Parses `--cpus` into nano CPUs as Docker does: an exact rational number (`1.5`, `3/2`, `15e-1`),
/// whose billionfold must be whole.
pub fn nano_cpus(s: &str) -> Result<i64, UnitsError> {
    let (num, den) = rational(s).ok_or_else(|| UnitsError::Rational(s.to_string()))?;
    let scaled = num.checked_mul(1_000_000_000).ok_or_else(|| UnitsError::Rational(s.to_string()))?;
    if scaled % den != 0 {
        return Err(UnitsError::TooPrecise);
    }
    i64::try_from(scaled / den).map_err(|_| UnitsError::Rational(s.to_string()))
}

/// `a/b` or a decimal with an optional exponent, as (numerator, positive denominator); None when it
/// is neither or does not fit.
fn rational(s: &str) -> Option<(i128, i128)> {
    if let Some((a, b)) = s.split_once('/') {
        // The denominator is unsigned, as Go scans it.
        let b: i128 = if b.bytes().all(|c| c.is_ascii_digit()) { integer(b)? } else { return None };
        return (b != 0).then_some((integer(a)?, b));
    }
    let (mantissa, exp) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, integer(e)?),
        None => (s, 0),
    };
    let (sign, digits) = match mantissa.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut num: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        num = num.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    let scale = exp.checked_sub(i128::try_from(frac.len()).ok()?)?;
    let pow = |n: i128| 10i128.checked_pow(u32::try_from(n).ok()?);
    if scale >= 0 {
        Some((sign * num.checked_mul(pow(scale)?)?, 1))
    } else {
        Some((sign * num, pow(-scale)?))
    }
}

/// A decimal integer with an optional sign, as Go's big.Int reads one.
fn integer(s: &str) -> Option<i128> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.strip_prefix('+').unwrap_or(s).parse().ok()
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
    fn cpus_as_docker_reads_them() {
        assert_eq!(nano_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(nano_cpus("3/2"), Ok(1_500_000_000));
        assert_eq!(nano_cpus("15e-1"), Ok(1_500_000_000));
        assert_eq!(nano_cpus("1e-9"), Ok(1));
        assert_eq!(nano_cpus(".5"), Ok(500_000_000));
        assert_eq!(nano_cpus("2."), Ok(2_000_000_000));
        assert_eq!(nano_cpus("-1"), Ok(-1_000_000_000));
        assert_eq!(nano_cpus("0.0000000001"), Err(UnitsError::TooPrecise));
        assert_eq!(nano_cpus("1/3"), Err(UnitsError::TooPrecise));
        for bad in
            ["lots", "", " 1", "1/0", "1/-2", "1.5.2", "e3", ".", "1/", "1e", "99999999999999999999999999999999999999"]
        {
            assert_eq!(nano_cpus(bad), Err(UnitsError::Rational(bad.into())), "{bad:?}");
        }
        assert_eq!(nano_cpus("abc").unwrap_err().to_string(), "failed to parse abc as a rational number");
    }
}
