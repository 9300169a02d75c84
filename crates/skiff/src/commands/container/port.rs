//! `skiff port`.

use crate::commands::{daemon_error, open_engine, GlobalOpts};
use clap::Args;

#[derive(Args, Debug)]
pub struct PortArgs {
    pub container: String,
    pub port: Option<String>,
}

/// `skiff port`: skiff publishes no ports yet (no bridge network), so there is nothing to list.
pub fn port(g: &GlobalOpts, a: PortArgs) -> anyhow::Result<u8> {
    let engine = open_engine(g)?;
    engine.find(&a.container)?;
    if let Some(p) = a.port {
        daemon_error(format!("No public port '{p}' published for {}", a.container));
        return Ok(1);
    }
    Ok(0)
}
