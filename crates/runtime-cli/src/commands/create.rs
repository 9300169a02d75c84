//! `create`: forks the holder, which spawns the init blocked before exec (see [`crate::holder`]).

use std::path::PathBuf;

use clap::Args;

use crate::holder::{self, CreateRequest};
use crate::GlobalOpts;

#[derive(Args, Debug)]
pub struct Create {
    /// Path to the root of the bundle directory, defaults to the current directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Specify the file to write the process id to
    #[arg(long = "pid-file", value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Accepted for runc compatibility; pivot_root is always used
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for runc compatibility
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

impl Create {
    pub(crate) fn request(&self, foreground: bool) -> CreateRequest<'_> {
        CreateRequest {
            id: &self.id,
            bundle: &self.bundle,
            console_socket: self.console_socket.as_deref(),
            preserve_fds: self.preserve_fds,
            foreground,
        }
    }

    pub(crate) fn write_pid_file(&self, pid: i32) -> anyhow::Result<()> {
        match &self.pid_file {
            Some(p) => crate::state::write_pid_file(p, pid),
            None => Ok(()),
        }
    }
}

pub fn run(g: &GlobalOpts, a: &Create) -> anyhow::Result<u8> {
    let (rec, _) = holder::create(g, &a.request(false))?;
    a.write_pid_file(rec.pid)?;
    Ok(0)
}
