//! Waiting for something that happens on its own schedule (a container starting, a process
//! exiting, a server accepting connections): poll a condition every [`INTERVAL`] until it holds or
//! a deadline passes. Tests never sleep and then assert.

use std::time::{Duration, Instant};

/// How long [`eventually`] waits before giving up.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// How often a condition is polled.
pub const INTERVAL: Duration = Duration::from_millis(20);

/// What a polled condition returns: `bool` (holds or not) or `Option<T>` (a value once there).
pub trait Ready {
    /// What polling yields once the condition holds.
    type Value;
    /// `Some` once the condition holds.
    fn ready(self) -> Option<Self::Value>;
}

impl Ready for bool {
    type Value = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Ready for Option<T> {
    type Value = T;
    fn ready(self) -> Option<T> {
        self
    }
}

/// Polls `f` until it is ready or `timeout` has passed (it is always tried at least once, and
/// once more at the deadline); `None` when it never was.
pub fn poll<R: Ready>(timeout: Duration, mut f: impl FnMut() -> R) -> Option<R::Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let late = Instant::now() >= deadline;
        if let Some(v) = f().ready() {
            return Some(v);
        }
        if late {
            return None;
        }
        std::thread::sleep(INTERVAL);
    }
}

/// Polls `f` for up to [`PATIENCE`] and returns its value; panics with "gave up waiting for
/// {what}" when it never became ready.
pub fn eventually<R: Ready>(what: &str, f: impl FnMut() -> R) -> R::Value {
    eventually_within(what, PATIENCE, f)
}

/// [`eventually`] with a deadline of its own.
pub fn eventually_within<R: Ready>(what: &str, timeout: Duration, f: impl FnMut() -> R) -> R::Value {
    match poll(timeout, f) {
        Some(v) => v,
        None => panic!("gave up waiting for {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_that_comes_true_yields_its_value() {
        let mut n = 0;
        assert_eq!(
            poll(Duration::from_secs(5), || {
                n += 1;
                (n == 3).then_some(n * 10)
            }),
            Some(30)
        );
        eventually("a bool", || true);
    }

    #[test]
    fn a_condition_that_never_holds_gives_up_at_the_deadline() {
        let start = Instant::now();
        let mut tries = 0;
        assert_eq!(
            poll(Duration::from_millis(100), || {
                tries += 1;
                false
            }),
            None
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert!(tries >= 2, "tried at the start and at the deadline at least: {tries}");
    }

    #[test]
    #[should_panic(expected = "gave up waiting for nothing")]
    fn eventually_panics_naming_what_it_waited_for() {
        eventually_within("nothing", Duration::from_millis(50), || None::<()>);
    }
}
