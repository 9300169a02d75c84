//! The per-container monitor. Daemonless skiff has no daemon to hold a
//! container's stdio or reap it, so each container gets a small,
//! single-threaded process as its parent: the process that spawned the
//! container (so the container init is already its child). A detached
//! container's spawner execs `skiff-monitor` (a binary of the `skiff` package
//! that only calls [`main`]), whose resident set stays well under 1 MiB; a
//! foreground run's spawner, whose CLI waits anyway, runs [`run`] in place.
//! The monitor:
//! - reads the container's stdout/stderr pipes (or a pty master) and appends
//!   Docker's json-file log lines to the log; when attached it also copies them
//!   to its own stdout/stderr (foreground run);
//! - reaps the container, then records the exit code, finish time and whether
//!   the memory cgroup OOM-killed it in the state directory (written to a
//!   temporary file and renamed, so readers see all or nothing);
//! - in place, tells the waiting CLI the exit is recorded, lets go of the CLI's
//!   stdio and deletes what the CLI hands back (a `run --rm`'s files, moved
//!   aside), off the CLI's path;
//! - exits with the container's code, or execs a command afterwards (`skiff rm`
//!   for `run -d --rm`).
//!
//! It uses only `std` and skiff-runtime's process plumbing (rustix underneath;
//! no allocator-heavy crates, no threads, no async runtime).

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use skiff_runtime::fd::{self, PollFd, PollFlags};
use skiff_runtime::signal::{SignalFd, SignalSet};

/// What a monitor watches and where it records.
#[derive(Debug, Clone, Default)]
pub struct MonitorArgs {
    /// The container init (our child).
    pub pid: i32,
    /// The container's state directory (`/run/skiff/<id>`), where `exit` is written.
    pub state: PathBuf,
    /// The json-file log.
    pub log: Option<PathBuf>,
    /// Copy the container's output to our stdout/stderr too (foreground run).
    pub attach: bool,
    /// Copy our stdin to the container's pty (`run -it` in the foreground).
    pub stdin: bool,
    /// The container's memory cgroup, for OOM kills.
    pub memcg: Option<PathBuf>,
    /// A command exec'd once the exit is recorded.
    pub then: Vec<OsString>,
    /// In place (a foreground start), the (done, after) pipes to the starting CLI: one byte on
    /// `done` once the exit is recorded; then `after` is read to its end, and the paths there
    /// (NUL-separated) are directories to delete before exiting (a removed container's files,
    /// off the CLI's path).
    pub handoff: Option<(RawFd, RawFd)>,
}

impl MonitorArgs {
    /// Parses `skiff-monitor`'s arguments (without the program name).
    pub fn parse(mut it: impl Iterator<Item = OsString>) -> Option<Self> {
        let mut a = MonitorArgs::default();
        while let Some(k) = it.next() {
            match k.as_bytes() {
                b"--pid" => a.pid = it.next()?.to_str()?.parse().ok()?,
                b"--state" => a.state = it.next()?.into(),
                b"--log" => a.log = Some(it.next()?.into()),
                b"--memcg" => a.memcg = Some(it.next()?.into()),
                b"--attach" => a.attach = true,
                b"--stdin" => a.stdin = true,
                b"--then" => {
                    a.then = it.by_ref().collect();
                }
                _ => return None,
            }
        }
        (a.pid > 0).then_some(a)
    }

    /// The arguments [`MonitorArgs::parse`] reads back.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> =
            vec!["--pid".into(), self.pid.to_string().into(), "--state".into(), self.state.clone().into()];
        if let Some(l) = &self.log {
            v.extend(["--log".into(), l.clone().into()]);
        }
        if let Some(m) = &self.memcg {
            v.extend(["--memcg".into(), m.clone().into()]);
        }
        if self.attach {
            v.push("--attach".into());
        }
        if self.stdin {
            v.push("--stdin".into());
        }
        if !self.then.is_empty() {
            v.push("--then".into());
            v.extend(self.then.iter().cloned());
        }
        v
    }
}

/// Formats the wall clock as RFC 3339 with nanoseconds, UTC (Docker's log time).
fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Go's RFC3339Nano: trailing zeros of the fraction (and a bare dot) dropped.
    let frac = format!(".{:09}", d.subsec_nanos());
    let frac = frac.trim_end_matches('0').trim_end_matches('.');
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{frac}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn json_escape(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{:04x}", b).as_bytes()),
            _ => out.push(b),
        }
    }
}

/// One stream: its fd, name, and the partial line not yet logged.
struct Stream {
    fd: OwnedFd,
    name: &'static str,
    pending: Vec<u8>,
    open: bool,
}

fn log_line(log: &mut Option<std::fs::File>, stream: &str, line: &[u8]) {
    if let Some(f) = log {
        let mut rec = Vec::with_capacity(line.len() + 80);
        rec.extend_from_slice(b"{\"log\":\"");
        json_escape(&mut rec, String::from_utf8_lossy(line).as_bytes());
        rec.extend_from_slice(b"\",\"stream\":\"");
        rec.extend_from_slice(stream.as_bytes());
        rec.extend_from_slice(b"\",\"time\":\"");
        rec.extend_from_slice(now_rfc3339().as_bytes());
        rec.extend_from_slice(b"\"}\n");
        let _ = f.write_all(&rec);
    }
}

/// Copies our terminal's window size to the pty; failures (no terminal) are ignored.
fn copy_winsize(pty: impl AsFd) {
    let _ = skiff_runtime::tty::copy_window_size(fd::stdin(), pty);
}

/// Copies the streams to the log (and, attached, to our stdout/stderr) until all are closed;
/// with `stdin`, also our stdin to the pty (the first stream) and our window size to it, now
/// and on every SIGWINCH.
fn pump(streams: &mut [Stream], log: &mut Option<std::fs::File>, attach: bool, mut stdin: bool) {
    let mut buf = vec![0u8; 32 * 1024];
    // SIGWINCH queues for a signalfd while we relay stdin (the mask is restored on return).
    let winch = SignalSet::new(&[libc::SIGWINCH]).ok().filter(|_| stdin);
    let _blocked = winch.as_ref().and_then(|w| w.block_scoped().ok());
    let winch = winch.as_ref().and_then(|w| SignalFd::new(w).ok());
    if stdin {
        if let Some(pty) = streams.first() {
            copy_winsize(&pty.fd);
        }
    }
    loop {
        let input = fd::stdin();
        let mut fds: Vec<PollFd<'_>> =
            streams.iter().filter(|s| s.open).map(|s| PollFd::new(&s.fd, PollFlags::IN)).collect();
        let n_streams = fds.len();
        if n_streams == 0 {
            return;
        }
        let stdin_at = stdin.then(|| {
            fds.push(PollFd::new(&input, PollFlags::IN));
            fds.len() - 1
        });
        let winch_at = winch.as_ref().map(|w| {
            fds.push(PollFd::new(w, PollFlags::IN));
            fds.len() - 1
        });
        if fd::poll(&mut fds, None).is_err() {
            return;
        }
        let ready: Vec<bool> = fds[..n_streams].iter().map(fd::ready).collect();
        let ready_at = |i: Option<usize>| i.is_some_and(|i| fd::ready(&fds[i]));
        let (from_stdin, resized) = (ready_at(stdin_at), ready_at(winch_at));
        drop(fds);
        if resized {
            if let (Some(w), Some(pty)) = (&winch, streams.first()) {
                let _ = w.read();
                copy_winsize(&pty.fd);
            }
        }
        if from_stdin {
            match fd::read(input, &mut buf) {
                Ok(n) if n > 0 => {
                    if let Some(pty) = streams.first() {
                        let _ = fd::write_all(&pty.fd, &buf[..n]);
                    }
                }
                _ => stdin = false,
            }
        }
        let open: Vec<usize> = (0..streams.len()).filter(|&i| streams[i].open).collect();
        for (i, _) in open.into_iter().zip(ready).filter(|(_, r)| *r) {
            let s = &mut streams[i];
            // A read error ends the stream as its end does.
            let r = fd::read(&s.fd, &mut buf).unwrap_or_default();
            if r == 0 {
                s.open = false;
                if !s.pending.is_empty() {
                    let rest = std::mem::take(&mut s.pending);
                    log_line(log, s.name, &rest);
                }
                continue;
            }
            let data = &buf[..r];
            if attach {
                if s.name == "stderr" {
                    let _ = std::io::stderr().write_all(data);
                } else {
                    let mut o = std::io::stdout().lock();
                    let _ = o.write_all(data);
                    let _ = o.flush();
                }
            }
            s.pending.extend_from_slice(data);
            while let Some(i) = s.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = s.pending.drain(..=i).collect();
                log_line(log, s.name, &line);
            }
            if s.pending.len() > 16 * 1024 {
                let line = std::mem::take(&mut s.pending);
                log_line(log, s.name, &line);
            }
        }
    }
}

fn reap(pid: i32) -> i32 {
    skiff_runtime::wait(pid).map_or(255, |s| s.code())
}

fn oom_kills(memcg: &std::path::Path) -> u64 {
    for file in ["memory.events", "memory.oom_control"] {
        if let Ok(text) = std::fs::read_to_string(memcg.join(file)) {
            for l in text.lines() {
                if let Some(v) = l.strip_prefix("oom_kill ") {
                    return v.trim().parse().unwrap_or(0);
                }
            }
        }
    }
    0
}

/// Points our stdin, stdout and stderr at /dev/null.
pub(crate) fn stdio_to_null() {
    let _ = fd::stdio_to_null();
}

/// Tells the CLI the exit is recorded, then deletes what it hands back, if anything.
fn hand_back(done: RawFd, after: RawFd) {
    // Nothing more goes to the terminal or the CLI's pipes: let go of them, so a caller reading
    // the CLI's output to its end does not wait for us.
    stdio_to_null();
    // Both fds were handed to us for this and are closed once, here.
    if let Ok(done) = fd::claim_inherited(done) {
        let _ = fd::write_all(&done, b"X");
    }
    let mut paths = Vec::new();
    if let Ok(after) = fd::claim_inherited(after) {
        let _ = std::io::Read::read_to_end(&mut std::fs::File::from(after), &mut paths);
    }
    for p in paths.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let _ = std::fs::remove_dir_all(std::ffi::OsStr::from_bytes(p));
    }
}

/// Watches the container `a.pid` whose output comes from `streams` (fd and stream name: `stdout`
/// and `stderr` pipes, or one pty master as `stdout`); records its exit; exits with its code (or
/// execs `a.then`). `trim` drops the start-up pages from the resident set first (a long-lived
/// detached monitor).
pub fn run(a: &MonitorArgs, streams: &[(RawFd, &'static str)], trim: bool) -> ! {
    // Terminal signals (Ctrl-C in a foreground run) are not ours: the CLI forwards them to the container.
    let _ = skiff_runtime::signal::ignore(&[
        libc::SIGHUP,
        libc::SIGPIPE,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
    ]);
    // The stream fds were handed to us by the spawner, to be closed once, here.
    let mut streams: Vec<Stream> = streams
        .iter()
        .filter_map(|&(n, name)| {
            fd::claim_inherited(n).ok().map(|fd| Stream { fd, name, pending: Vec::new(), open: true })
        })
        .collect();
    let mut log = a.log.as_ref().and_then(|p| std::fs::OpenOptions::new().create(true).append(true).open(p).ok());
    let before = a.memcg.as_deref().map(oom_kills).unwrap_or(0);
    if trim {
        // Drops the pages start-up touched (loader, libc init, argument parsing) from the
        // resident set, which is then what the pump loop uses.
        let _ = skiff_runtime::process::trim_resident();
    }
    pump(&mut streams, &mut log, a.attach, a.stdin);
    skiff_runtime::timing::mark("monitor: streams closed");
    let code = reap(a.pid);
    skiff_runtime::timing::mark("monitor: reaped");
    let oom = a.memcg.as_deref().map(|m| oom_kills(m) > before).unwrap_or(false);
    drop(streams);
    let record = format!("{code}\n{}\n{}\n", now_rfc3339(), if oom { "oom" } else { "" });
    let tmp = a.state.join("exit.tmp");
    if std::fs::write(&tmp, record).is_ok() {
        let _ = std::fs::rename(&tmp, a.state.join("exit"));
    }
    drop(log);
    skiff_runtime::timing::mark("monitor: exit recorded");
    if let Some((done, after)) = a.handoff {
        hand_back(done, after);
    }
    if let Some((prog, rest)) = a.then.split_first() {
        let err = std::process::Command::new(prog)
            .args(rest)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .exec();
        eprintln!("skiff-monitor: {err}");
    }
    std::process::exit(code);
}

/// `skiff-monitor --pid PID --state DIR [--log FILE] [--memcg DIR] [--attach] [--stdin] [--then CMD...]`,
/// the container's output on fds 3 and 4 (stdout, stderr pipes) or a pty master on fd 3.
pub fn main() -> ! {
    skiff_runtime::timing::mark("monitor: started");
    let Some(args) = MonitorArgs::parse(std::env::args_os().skip(1)) else {
        eprintln!("usage: skiff-monitor --pid PID --state DIR [--log FILE] [--memcg DIR] [--attach] [--then CMD...]");
        std::process::exit(125);
    };
    let streams: Vec<(RawFd, &'static str)> =
        [(3, "stdout"), (4, "stderr")].into_iter().filter(|(n, _)| fd::is_open(*n)).collect();
    run(&args, &streams, true)
}
