//! Progress bars on stderr for long transfers (load, save, pull), drawn only when stderr
//! is a terminal; otherwise every call is a no-op so scripted output stays clean.
//! Sizes are shown the way Docker's progress lines show them (`1.982MB/3.965MB`).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::units::human_size4;

/// A byte-counting progress bar, or nothing when stderr is not a terminal.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar labelled `label` counting bytes up to `total` (a spinner when unknown).
    pub fn bytes(total: Option<u64>, label: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let template = if total.is_some() {
            "{msg} [{bar:50}] {docker_pos}/{docker_total}"
        } else {
            "{msg} {spinner} {docker_pos}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
            .with_key("docker_pos", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&human_size4(s.pos()));
            })
            .with_key("docker_total", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&human_size4(s.len().unwrap_or(0)));
            });
        bar.set_style(style);
        bar.set_message(label.to_string());
        Progress { bar: Some(bar) }
    }

    /// A progress that never draws.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// Whether anything is drawn.
    #[cfg(test)]
    fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// Count `n` more bytes.
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Leave the bar drawn in its final state.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }

    /// Remove the bar from the terminal.
    pub fn finish_and_clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_progress_accepts_every_call() {
        let p = Progress::hidden();
        assert!(!p.is_visible());
        p.inc(10);
        p.finish();
        p.finish_and_clear();
    }

    #[test]
    fn bytes_is_a_no_op_when_stderr_is_not_a_terminal() {
        // under `cargo test` stderr is captured or piped unless run from a terminal
        if !std::io::stderr().is_terminal() {
            let p = Progress::bytes(Some(100), "Loading layer");
            assert!(!p.is_visible());
            p.inc(100);
            p.finish();
        }
    }
}
