//! Go's number and string formatting rules, as `fmt` and `strconv` apply them.
//!
//! Docker's output is produced by Go, so sizes (`%.3g`), template `printf` verbs and
//! JSON numbers follow `strconv.FormatFloat` and `strconv.Quote`. This module owns those
//! rules: exact decimal rounding of an `f64` (ties to even on the exact binary value, as
//! `strconv` does) and the `e`, `f` and `g` layouts. Go-style quoting is
//! [`skiff_image::strconv::quote`], shared with the builder's history text.
//! See <https://pkg.go.dev/strconv#FormatFloat> and <https://pkg.go.dev/fmt>.

pub use skiff_image::strconv::quote;

/// A decimal expansion: `0.d1d2d3... × 10^dp`, digits without trailing zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    digits: Vec<u8>,
    dp: i32,
}

impl Decimal {
    /// The exact decimal value of a finite, non-negative `f64`.
    fn exact(x: f64) -> Decimal {
        if x == 0.0 {
            return Decimal { digits: Vec::new(), dp: 0 };
        }
        // x = m * 2^e exactly. With e < 0 its decimal expansion has one fractional digit per
        // fractional bit, so integer digits + fractional bits (+ slack) significant digits
        // hold the whole expansion; that is far fewer than the 767 an f64 can need at worst,
        // which keeps `docker images` (two sizes per row) cheap.
        let bits = x.to_bits();
        let field = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1u64 << 52) - 1);
        let (mant, e) = if field == 0 { (frac, -1074) } else { (frac | (1u64 << 52), field - 1075) };
        let frac_bits = (-(e + mant.trailing_zeros() as i32)).max(0);
        let int_digits = if x >= 1.0 { x.log10().floor() as i32 + 2 } else { 1 };
        let digits = (int_digits + frac_bits + 20).min(800) as usize;
        Self::from_sci(&format!("{x:.digits$e}"))
    }

    /// The shortest decimal that reads back as the same `f64` (what Go uses for precision -1).
    fn shortest(x: f64) -> Decimal {
        if x == 0.0 {
            return Decimal { digits: Vec::new(), dp: 0 };
        }
        Self::from_sci(&format!("{x:e}"))
    }

    fn from_sci(s: &str) -> Decimal {
        let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
        while digits.last() == Some(&0) {
            digits.pop();
        }
        let lead = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..lead);
        Decimal { dp: exp + 1 - lead as i32, digits }
    }

    /// Round to `nd` significant digits the way strconv does: up when the rest is more
    /// than half, to even when it is exactly half.
    fn round(&mut self, nd: usize) {
        if nd >= self.digits.len() {
            return;
        }
        let up = if self.digits[nd] == 5 && nd + 1 == self.digits.len() {
            nd > 0 && self.digits[nd - 1] % 2 == 1
        } else {
            self.digits[nd] >= 5
        };
        self.digits.truncate(nd);
        if up {
            let mut i = nd;
            loop {
                if i == 0 {
                    self.digits.insert(0, 1);
                    self.dp += 1;
                    break;
                }
                i -= 1;
                if self.digits[i] < 9 {
                    self.digits[i] += 1;
                    break;
                }
                self.digits[i] = 0;
            }
        }
        while self.digits.last() == Some(&0) {
            self.digits.pop();
        }
    }

    fn digit(&self, i: i32) -> char {
        if i >= 0 && (i as usize) < self.digits.len() {
            char::from(b'0' + self.digits[i as usize])
        } else {
            '0'
        }
    }
}

/// Format `x` like Go's `strconv.FormatFloat(x, fmt, prec, 64)` for `fmt` in `e E f F g G`.
/// A negative `prec` means "shortest representation that round-trips".
pub fn format_float(x: f64, fmt: char, prec: i32) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let neg = x.is_sign_negative() && x != 0.0;
    let shortest = prec < 0;
    let mut d;
    let mut prec = prec;
    if shortest {
        d = Decimal::shortest(x.abs());
        prec = match fmt {
            'e' | 'E' => d.digits.len() as i32 - 1,
            'f' | 'F' => (d.digits.len() as i32 - d.dp).max(0),
            _ => d.digits.len() as i32,
        };
    } else {
        d = Decimal::exact(x.abs());
        match fmt {
            'e' | 'E' => d.round((prec + 1) as usize),
            'f' | 'F' => {
                let nd = d.dp + prec;
                if nd < 0 {
                    d.digits.clear();
                } else {
                    d.round(nd as usize);
                }
            }
            _ => {
                if prec == 0 {
                    prec = 1;
                }
                d.round(prec as usize);
            }
        }
    }
    let body = match fmt {
        'e' | 'E' => fmt_e(&d, prec, fmt),
        'f' | 'F' => fmt_f(&d, prec),
        _ => {
            let mut eprec = prec;
            let nd = d.digits.len() as i32;
            if eprec > nd && nd >= d.dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = d.dp - 1;
            let e = if fmt == 'G' { 'E' } else { 'e' };
            if d.digits.is_empty() {
                // zero: always the %f branch with no decimals
                "0".to_string()
            } else if exp < -4 || exp >= eprec {
                fmt_e(&d, prec.min(nd) - 1, e)
            } else {
                let p = if prec > d.dp { nd } else { prec };
                fmt_f(&d, (p - d.dp).max(0))
            }
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

fn fmt_e(d: &Decimal, prec: i32, e: char) -> String {
    let mut s = String::new();
    s.push(if d.digits.is_empty() { '0' } else { d.digit(0) });
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(d.digit(i));
        }
    }
    s.push(e);
    let exp = if d.digits.is_empty() { 0 } else { d.dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.abs();
    if exp < 10 {
        s.push('0');
    }
    s.push_str(&exp.to_string());
    s
}

fn fmt_f(d: &Decimal, prec: i32) -> String {
    let mut s = String::new();
    if d.dp > 0 {
        for i in 0..d.dp {
            s.push(d.digit(i));
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec {
            s.push(d.digit(d.dp + i));
        }
    }
    s
}

/// `%v` of a float64 in Go: `strconv`'s shortest `g` form (exponent from 1e+06 up or below 1e-04).
pub fn float_v(x: f64) -> String {
    format_float(x, 'g', -1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_precision_three_keeps_significant_digits_and_drops_trailing_zeros() {
        // fmt.Sprintf("%.3g", ...) in Go
        assert_eq!(format_float(3.964683, 'g', 3), "3.96");
        assert_eq!(format_float(185.0, 'g', 3), "185");
        assert_eq!(format_float(1.2, 'g', 3), "1.2");
        assert_eq!(format_float(20.0, 'g', 3), "20");
        assert_eq!(format_float(0.0, 'g', 3), "0");
        assert_eq!(format_float(1.5, 'g', 3), "1.5");
    }

    #[test]
    fn g_switches_to_exponent_when_rounding_reaches_the_precision() {
        // 999.9 rounded to 3 significant digits is 1.00e+03, and Go prints "1e+03"
        assert_eq!(format_float(999.9, 'g', 3), "1e+03");
        assert_eq!(format_float(0.00001234, 'g', 3), "1.23e-05");
    }

    #[test]
    fn exact_halves_round_to_even_like_strconv() {
        // 1.125 and 1.375 are exact binary values, so ties go to the even digit
        assert_eq!(format_float(1.125, 'g', 3), "1.12");
        assert_eq!(format_float(1.375, 'g', 3), "1.38");
        // 1.005 is really 1.00499999..., so it rounds down
        assert_eq!(format_float(1.005, 'f', 2), "1.00");
        assert_eq!(format_float(2.5, 'f', 0), "2");
        assert_eq!(format_float(3.5, 'f', 0), "4");
    }

    #[test]
    fn e_and_f_layouts_match_go() {
        assert_eq!(format_float(1e6, 'e', 6), "1.000000e+06");
        assert_eq!(format_float(1234.5678, 'f', 6), "1234.567800");
        assert_eq!(format_float(-0.5, 'f', 1), "-0.5");
        assert_eq!(format_float(0.0, 'e', 2), "0.00e+00");
        assert_eq!(format_float(1e-7, 'e', -1), "1e-07");
        assert_eq!(format_float(123456789.0, 'g', -1), "1.23456789e+08");
    }

    #[test]
    fn v_of_float_uses_exponent_only_for_huge_or_tiny_values() {
        assert_eq!(float_v(1.5), "1.5");
        assert_eq!(float_v(123456.0), "123456");
        assert_eq!(float_v(1e6), "1e+06");
        assert_eq!(float_v(0.0001), "0.0001");
        assert_eq!(float_v(0.00001), "1e-05");
    }
}

#[cfg(test)]
mod exact_tests {
    use super::Decimal;

    /// The short expansion equals the full 800-digit one for values across the whole range.
    #[test]
    fn exact_expansion_matches_the_full_one() {
        let mut x = 5e-324f64;
        let mut samples = vec![0.1, 1.0 / 3.0, 3.964683, 999.9999, 1e300, 2f64.powi(100), f64::MAX, 1.125];
        while x < 1e308 {
            samples.push(x);
            x *= 7.3;
        }
        for v in samples {
            let full = Decimal::from_sci(&format!("{v:.800e}"));
            let fast = Decimal::exact(v);
            assert_eq!((fast.digits, fast.dp), (full.digits, full.dp), "{v:e}");
        }
    }
}
