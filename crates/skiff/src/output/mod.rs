//! Everything `skiff` prints the way Docker 20.10 prints it: Go templates for `--format`
//! ([`template`]), list tables with Go's tabwriter alignment ([`table`]), go-units sizes and
//! durations ([`units`]), Go's JSON encoding for `inspect` ([`json`]), Docker's short IDs and
//! ellipsis truncation ([`display`]) and terminal-only progress bars ([`progress`]).
//! Commands build `serde_json::Value` rows and hand them here; this layer does no I/O of its
//! own beyond the writer it is given (and stderr for progress).

pub mod display;
pub mod gofmt;
pub mod json;
pub mod progress;
pub mod table;
pub mod template;
pub mod units;
