//! `skiff exec`.

use crate::commands::{daemon_error, open_engine, GlobalOpts};
use clap::Args;
use skiff_engine::exec::ExecOptions;
use skiff_engine::EngineError;

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// The container, then the command: one positional, so that flags after
    /// the container name belong to the command (`exec db ls -e`).
    #[arg(value_name = "CONTAINER COMMAND [ARG...]", num_args = 2.., required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub container_and_command: Vec<String>,
}

pub fn exec(g: &GlobalOpts, a: ExecArgs) -> anyhow::Result<u8> {
    let engine = open_engine(g)?;
    let c = engine.find(&a.container_and_command[0])?;
    let o = ExecOptions {
        cmd: a.container_and_command[1..].to_vec(),
        env: a.env,
        user: a.user,
        workdir: a.workdir,
        tty: a.tty,
        interactive: a.interactive,
        detach: a.detach,
        privileged: a.privileged,
    };
    match engine.exec(&c, &o) {
        Ok(code) => Ok(code.clamp(0, 255) as u8),
        Err(e) => {
            daemon_error(&e);
            // 126/127 when the command cannot run; other daemon errors exit 1, as Docker's CLI does.
            let code = match &e {
                EngineError::Runtime(r) if r.exit_code() != 125 => r.exit_code(),
                _ => 1,
            };
            Ok(code as u8)
        }
    }
}
