//! Durations as Docker's daemon words them in a container's status (`Up 5 seconds`, `Exited (0)
//! About a minute ago`): go-units' `HumanDuration`, with Go's truncating conversions of
//! `Duration.Seconds()`, `Minutes()` and `Hours()`.

use std::time::Duration;

/// go-units `HumanDuration`: "Less than a second", "About a minute", "3 weeks", ...
pub fn human_duration(d: Duration) -> String {
    // Go computes Seconds()/Minutes()/Hours() as whole units plus the fractional
    // remainder, then truncates with int(); this reproduces those values.
    let nanos = d.as_nanos();
    let part = |unit: u128| (nanos / unit) as f64 + (nanos % unit) as f64 / unit as f64;
    let seconds = part(1_000_000_000) as i64;
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = part(60_000_000_000) as i64;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let exact_hours = part(3_600_000_000_000);
    let hours = (exact_hours + 0.5) as i64;
    if hours == 1 {
        return "About an hour".to_string();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", exact_hours as i64 / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn human_duration_seconds_and_minutes() {
        assert_eq!(human_duration(Duration::from_millis(450)), "Less than a second");
        assert_eq!(human_duration(secs(1)), "1 second");
        assert_eq!(human_duration(secs(18)), "18 seconds");
        assert_eq!(human_duration(secs(59)), "59 seconds");
        assert_eq!(human_duration(secs(60)), "About a minute");
        assert_eq!(human_duration(secs(119)), "About a minute");
        assert_eq!(human_duration(secs(120)), "2 minutes");
        assert_eq!(human_duration(secs(35 * 60 + 40)), "35 minutes");
        assert_eq!(human_duration(secs(59 * 60 + 59)), "59 minutes");
    }

    #[test]
    fn human_duration_hours_round_to_nearest() {
        let h = 3600;
        assert_eq!(human_duration(secs(h)), "About an hour");
        assert_eq!(human_duration(secs(h + 29 * 60)), "About an hour");
        assert_eq!(human_duration(secs(h + 31 * 60)), "2 hours");
        assert_eq!(human_duration(secs(3 * h + 29 * 60)), "3 hours");
        assert_eq!(human_duration(secs(3 * h + 31 * 60)), "4 hours");
        assert_eq!(human_duration(secs(24 * h)), "24 hours");
        assert_eq!(human_duration(secs(36 * h)), "36 hours");
        assert_eq!(human_duration(secs(47 * h + 29 * 60)), "47 hours");
    }

    #[test]
    fn human_duration_days_weeks_months_years() {
        let day = 86_400;
        let week = 7 * day;
        let month = 30 * day;
        let year = 365 * day;
        assert_eq!(human_duration(secs(2 * day)), "2 days");
        assert_eq!(human_duration(secs(13 * day + 5 * 3600)), "13 days");
        assert_eq!(human_duration(secs(2 * week)), "2 weeks");
        assert_eq!(human_duration(secs(3 * week)), "3 weeks");
        assert_eq!(human_duration(secs(month)), "4 weeks");
        assert_eq!(human_duration(secs(month + 2 * week)), "6 weeks");
        assert_eq!(human_duration(secs(2 * month)), "2 months");
        assert_eq!(human_duration(secs(14 * month)), "14 months");
        assert_eq!(human_duration(secs(24 * month)), "24 months");
        assert_eq!(human_duration(secs(24 * month + 2 * week)), "2 years");
        assert_eq!(human_duration(secs(3 * year + 2 * month)), "3 years");
    }
}
