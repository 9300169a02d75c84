//! Human-readable sizes, durations and timestamps exactly as Docker prints them.
//!
//! Docker formats these with the `github.com/docker/go-units` package: `HumanSizeWithPrecision`
//! (decimal units, `%.3g` for image sizes, `%.4g` for `HumanSize`), `BytesSize` (binary units,
//! `%.4g`) and `HumanDuration` (the "About an hour" style used by `CREATED` columns).
//! The arithmetic is reproduced as Go does it: repeated `f64` division by the base, and
//! truncating conversions of `Duration.Seconds()`, `Minutes()` and `Hours()`.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::gofmt::format_float;
pub use skiff_engine::views::humanize::human_duration;

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// Divide by `base` while the value is at least `base` (and a larger unit exists).
fn scale(mut size: f64, base: f64, units: &[&'static str]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// Decimal size with `precision` significant digits: go-units `HumanSizeWithPrecision`.
pub fn human_size_with_precision(size: f64, precision: i32) -> String {
    let (value, unit) = scale(size, 1000.0, &DECIMAL_UNITS);
    format!("{}{}", format_float(value, 'g', precision), unit)
}

/// The size Docker shows in `docker images`, `docker history` and `docker ps -s`:
/// decimal units with three significant digits (`3.96MB`, `861kB`, `0B`).
pub fn human_size(bytes: u64) -> String {
    human_size_with_precision(bytes as f64, 3)
}

/// go-units `HumanSize`: decimal units with four significant digits (`2.746MB`).
pub fn human_size4(bytes: u64) -> String {
    human_size_with_precision(bytes as f64, 4)
}

/// go-units `BytesSize`: binary units with four significant digits, as `docker info`
/// prints Total Memory (`1.784GiB`).
pub fn bytes_size(bytes: u64) -> String {
    let (value, unit) = scale(bytes as f64, 1024.0, &BINARY_UNITS);
    format!("{}{}", format_float(value, 'g', 4), unit)
}

/// `HumanDuration(now - t) + " ago"`, as the `CREATED` columns print it. A time in the
/// future counts as "Less than a second ago", like Go's negative durations.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = (now - t).to_std().unwrap_or(Duration::ZERO);
    format!("{} ago", human_duration(d))
}

/// Go's `time.Time.String()` for a UTC time, as `docker images --format {{.CreatedAt}}`
/// prints it: `2026-11-24 01:30:00 +0000 UTC` (fractional seconds only when non-zero).
pub fn go_time_string(t: DateTime<Utc>) -> String {
    let frac = t.timestamp_subsec_nanos();
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    if frac != 0 {
        let digits = format!("{frac:09}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// A creation time as `docker ps` and `docker images` print `{{.CreatedAt}}`: Go's
/// `time.Unix(seconds, 0).String()`, whole seconds.
pub fn created_at_string(t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    go_time_string(t.with_nanosecond(0).unwrap_or(t))
}

/// RFC 3339 in UTC with whole seconds, as `docker history --format {{.CreatedAt}}` prints it.
pub fn rfc3339_seconds(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_size_matches_docker_images_size_column() {
        // features:1.0 is 3964683 bytes; `docker images` shows 3.96MB (FIXTURES.md)
        assert_eq!(human_size(3_964_683), "3.96MB");
        // busybox:latest is 1982354 bytes; `docker history` shows 1.98MB (facts/history-busybox_latest.jsonl)
        assert_eq!(human_size(1_982_354), "1.98MB");
        // the empty image, and the 31-byte and 15-byte layers in facts/history-features_1.0.jsonl
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(31), "31B");
        assert_eq!(human_size(15), "15B");
    }

    #[test]
    fn human_size_uses_decimal_units_and_three_significant_digits() {
        assert_eq!(human_size(861_000), "861kB");
        assert_eq!(human_size(1_840), "1.84kB");
        assert_eq!(human_size(20_700_000), "20.7MB");
        assert_eq!(human_size(185_000_000), "185MB");
        assert_eq!(human_size(1_200_000_000), "1.2GB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1024), "1.02kB");
        assert_eq!(human_size(20_000), "20kB");
    }

    #[test]
    fn human_size_keeps_gos_exponent_quirk_just_below_the_next_unit() {
        // 999999 B is 999.999 kB; %.3g rounds it to 1.00e+03 and Go prints "1e+03"
        assert_eq!(human_size(999_999), "1e+03kB");
        assert_eq!(human_size(999_500), "1e+03kB");
        assert_eq!(human_size(999_499), "999kB");
    }

    #[test]
    fn human_size_rounds_exact_halves_to_even() {
        // 1125 B / 1000 = 1.125 exactly in binary: strconv rounds the tie to even
        assert_eq!(human_size(1125), "1.12kB");
        assert_eq!(human_size(1135), "1.14kB"); // 1.135 is slightly above the tie in binary
    }

    #[test]
    fn human_size4_matches_go_units_human_size() {
        // go-units HumanSize examples: "2.746 MB" style with 4 significant digits
        assert_eq!(human_size4(2_746_000), "2.746MB");
        assert_eq!(human_size4(796_000), "796kB");
        assert_eq!(human_size4(1000), "1kB");
    }

    #[test]
    fn bytes_size_uses_binary_units() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1024), "1KiB");
        assert_eq!(bytes_size(1024 * 1024), "1MiB");
        assert_eq!(bytes_size(1_915_555_840), "1.784GiB");
        assert_eq!(bytes_size(44 * 1024), "44KiB");
        assert_eq!(bytes_size(17 * 1024 * 1024 + 512 * 1024), "17.5MiB");
    }

    #[test]
    fn ago_appends_suffix_and_clamps_future_times() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T01:34:00Z").unwrap().with_timezone(&Utc);
        let created = DateTime::parse_from_rfc3339("2026-11-24T01:30:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(ago(created, now), "4 minutes ago");
        assert_eq!(ago(now, created), "Less than a second ago");
    }

    #[test]
    fn timestamps_in_go_layouts() {
        let t = DateTime::parse_from_rfc3339("2026-11-24T01:30:00.388327384Z").unwrap().with_timezone(&Utc);
        assert_eq!(go_time_string(t), "2026-11-24 01:30:00.388327384 +0000 UTC");
        assert_eq!(rfc3339_seconds(t), "2026-11-24T01:30:00Z");
        let whole = DateTime::parse_from_rfc3339("2026-11-24T01:30:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(go_time_string(whole), "2026-11-24 01:30:00 +0000 UTC");
        assert_eq!(created_at_string(t), "2026-11-24 01:30:00 +0000 UTC");
    }
}
