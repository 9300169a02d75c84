//! `exec`: runs another process in a created or running container (`--process`'s, or the
//! container's with the command line's changes, by runc's rules); in the foreground waits and
//! exits with its code (forwarding signals); with `-d`, returns at once.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use skiff_runtime::oci_spec::runtime::{Capabilities, Capability, Process, Spec};

use crate::holder::{dup_cloexec, send_console};
use crate::state::{self, Record};
use crate::GlobalOpts;

#[derive(Args, Debug)]
pub struct Exec {
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Current working directory in the container
    #[arg(long)]
    pub cwd: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// UID (format: <uid>[:<gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional gids
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Path to the process.json
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Specify the file to write the process id to
    #[arg(long = "pid-file", value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Set the no new privileges value for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to the bounding set for the process
    #[arg(short = 'c', long = "cap", value_name = "CAP")]
    pub cap: Vec<String>,
    /// Allow exec in a paused container
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Set the apparmor profile for the process
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
    /// The command and its arguments (unless --process)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The process `exec` runs: `--process`'s, else the container's with the command line's changes (runc's rules).
fn exec_process(o: &Exec, dir: &Path, rec: &Record) -> anyhow::Result<(Spec, Process)> {
    let spec = state::stored_spec(dir, rec)?;
    if let Some(p) = &o.process {
        let text = std::fs::read(p).with_context(|| format!("open {}", p.display()))?;
        let process: Process =
            serde_json::from_slice(&text).with_context(|| format!("invalid process {}", p.display()))?;
        return Ok((spec, process));
    }
    if o.command.is_empty() {
        bail!("exec args cannot be empty");
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(o.command.clone()));
    p.set_terminal(Some(o.tty));
    if let Some(cwd) = &o.cwd {
        p.set_cwd(PathBuf::from(cwd));
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(o.env.iter().cloned());
    p.set_env(Some(env));
    let mut user = p.user().clone();
    if let Some(u) = &o.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        user.set_uid(uid.parse().map_err(|_| anyhow!("parsing {uid} as int for uid failed"))?);
        if let Some(g) = gid {
            user.set_gid(g.parse().map_err(|_| anyhow!("parsing {g} as int for gid failed"))?);
        }
    }
    if !o.additional_gids.is_empty() {
        user.set_additional_gids(Some(o.additional_gids.clone()));
    }
    p.set_user(user);
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &o.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if !o.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &o.cap {
            let upper = name.to_uppercase();
            let cap: Capability = upper
                .strip_prefix("CAP_")
                .unwrap_or(&upper)
                .parse()
                .map_err(|_| anyhow!("unknown capability {name:?}"))?;
            let add = |set: &Option<Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.insert(cap);
                Some(set)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    Ok((spec, p))
}

pub fn run(g: &GlobalOpts, o: &Exec) -> anyhow::Result<u8> {
    let (dir, rec) = state::load(g, &o.id)?;
    match state::status(&dir, &rec) {
        "stopped" => bail!("cannot exec in a stopped container"),
        "paused" if !o.ignore_paused => bail!("cannot exec in a paused container (use --ignore-paused to override)"),
        _ => {}
    }
    let (spec, process) = exec_process(o, &dir, &rec)?;
    let tty = process.terminal().unwrap_or(false);
    if tty && o.detach && o.console_socket.is_none() {
        bail!("cannot allocate tty if runc will detach without setting console socket");
    }
    if !tty && o.console_socket.is_some() {
        bail!("cannot use console socket if runc will not detach or allocate tty");
    }
    // Detached or not, the process gets our stdio (a shim hands its pipes over this way), unless it has a terminal.
    let stdio = if tty {
        skiff_runtime::StdioSpec::default()
    } else {
        skiff_runtime::StdioSpec {
            stdin: Some(dup_cloexec(0)?),
            stdout: Some(dup_cloexec(1)?),
            stderr: Some(dup_cloexec(2)?),
        }
    };
    let set = if !o.detach && !tty { Some(super::block_forwarded_signals()?) } else { None };
    let terminal = if tty { skiff_runtime::Terminal::Pty } else { skiff_runtime::Terminal::None };
    // Our fds 3 .. 3+N become the process's 3 .. 3+N, as runc hands them over.
    let preserve =
        (0..o.preserve_fds).map(|i| dup_cloexec(3 + i as RawFd)).collect::<anyhow::Result<Vec<OwnedFd>>>()?;
    let spawned = skiff_runtime::exec_with(rec.pid, &process, &spec, stdio, terminal, preserve)?;
    let pid = spawned.pid;
    let mut pty = spawned.pty_master;
    if let (Some(sock), Some(m)) = (&o.console_socket, &pty) {
        send_console(&state::absolute(sock)?, m.as_raw_fd())?;
        pty = None;
    }
    if let Some(p) = &o.pid_file {
        state::write_pid_file(p, pid)?;
    }
    if o.detach {
        return Ok(0);
    }
    let status = match (&set, &pty) {
        (Some(set), _) => skiff_runtime::signal::reap_forwarding(pid, set, |sig| {
            if sig != libc::SIGWINCH {
                let _ = skiff_runtime::signal(pid, sig);
            }
        })
        .ok(),
        (None, master) => {
            if let Some(m) = master {
                // Keys go to the process's terminal unprocessed, as with runc exec -t.
                let _raw = skiff_runtime::tty::RawTerminal::enter();
                skiff_runtime::tty::relay_pty(m, true);
            }
            // The process is cloned as our child.
            skiff_runtime::wait(pid).ok()
        }
    };
    // A wait that failed reads as status 0, as it always has.
    let code = status.map_or(0, |s| s.code());
    Ok(code.clamp(0, 255) as u8)
}
