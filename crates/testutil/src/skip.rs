//! Counted skips. A test that cannot run on this machine (no peer Docker, no cgroup v1, no
//! docker-registry, ...) says so with [`skip!`](crate::skip!) (or [`require!`](crate::require!)
//! on a detector's `Result<_, Missing>`) instead of printing and returning, which cargo would count
//! as a pass and whose output it hides.
//!
//! A skip prints `skipped: REASON` and, when the environment variable [`SKIPS_ENV`]
//! (`SKIFF_TEST_SKIPS`) names a file, appends one line to it:
//! `PACKAGE::TEST_BINARY::TEST_NAME<TAB>REASON`. `scripts/test.sh` points it at a fresh file before
//! `cargo test` and lists those lines in its summary. The test's name is its thread's: libtest runs
//! every test on a thread named after it.

use std::io::Write;
use std::path::Path;

/// The environment variable naming the file skips are appended to; unset or empty: print only.
pub const SKIPS_ENV: &str = "SKIFF_TEST_SKIPS";

/// Why a test cannot run here: what a detector in [`peers`](crate::peers) or [`host`](crate::host)
/// answers when this machine lacks what it looks for. Its text is the skip's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub String);

impl Missing {
    pub fn new(reason: impl Into<String>) -> Missing {
        Missing(reason.into())
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Missing {}

/// Records that the running test skips for `reason`: prints it, and appends its line to the file
/// [`SKIPS_ENV`] names. `binary` is `PACKAGE::TEST_BINARY` ([`skip!`](crate::skip!) passes the
/// calling crate's). Panics when that file cannot be written, so a skip is never lost quietly.
pub fn record(binary: &str, reason: &str) {
    let test = std::thread::current().name().unwrap_or("<unnamed thread>").to_string();
    eprintln!("skipped: {reason}");
    if let Some(file) = std::env::var_os(SKIPS_ENV).filter(|f| !f.is_empty()) {
        append(Path::new(&file), &line(binary, &test, reason));
    }
}

/// The line a skip appends: tabs and line breaks in the reason become spaces, so the file stays
/// one skip per line and one tab per skip.
fn line(binary: &str, test: &str, reason: &str) -> String {
    let reason: String = reason.chars().map(|c| if matches!(c, '\t' | '\n' | '\r') { ' ' } else { c }).collect();
    format!("{binary}::{test}\t{reason}\n")
}

/// Appends `line` in one write (an `O_APPEND` write of a short line is not interleaved with the
/// other test threads' and binaries').
fn append(file: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap_or_else(|e| panic!("{SKIPS_ENV}={}: {e}", file.display()));
    f.write_all(line.as_bytes()).unwrap_or_else(|e| panic!("{SKIPS_ENV}={}: {e}", file.display()));
}

/// Skips the running test: records the reason (a `format!` string) as [`record`] does, then
/// returns from the enclosing function, which must return `()`.
///
/// ```
/// fn resource_flags_reach_the_cgroup() {
///     if !std::path::Path::new("/sys/fs/cgroup/cpu/cpu.shares").exists() {
///         skiff_testutil::skip!("cgroup v1 cpu controller not here");
///     }
///     // ...
/// }
/// ```
#[macro_export]
macro_rules! skip {
    ($($reason:tt)+) => {{
        $crate::skip::record(
            ::std::concat!(::std::env!("CARGO_PKG_NAME"), "::", ::std::env!("CARGO_CRATE_NAME")),
            &::std::format!($($reason)+),
        );
        return;
    }};
}

/// The value of a `Result<T, Missing>` (or any `Result` whose error displays as a reason), or a
/// [`skip!`](crate::skip!) of the running test with the error as the reason.
///
/// ```
/// fn push_then_pull() {
///     let registry = skiff_testutil::require!(skiff_testutil::registry::start_registry("", ""));
///     // ... registry.addr ...
/// #   drop(registry);
/// }
/// ```
#[macro_export]
macro_rules! require {
    ($needed:expr) => {
        match $needed {
            ::std::result::Result::Ok(value) => value,
            ::std::result::Result::Err(missing) => $crate::skip!("{}", missing),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_is_one_line_naming_the_test_then_a_tab_then_the_reason() {
        assert_eq!(
            line("skiff::containers", "cgroups::v1", "no v1\there\n"),
            "skiff::containers::cgroups::v1\tno v1 here \n"
        );
    }

    #[test]
    fn skips_append_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("skips");
        append(&file, "a::b\tone\n");
        append(&file, "a::c\ttwo\n");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "a::b\tone\na::c\ttwo\n");
    }

    #[test]
    fn the_test_thread_is_named_after_the_test() {
        assert_eq!(std::thread::current().name(), Some("skip::tests::the_test_thread_is_named_after_the_test"));
    }
}
