//! `state`: prints a container's OCI state document.

use std::io::Write;

use clap::Args;

use crate::GlobalOpts;

#[derive(Args, Debug)]
pub struct State {
    pub id: String,
}

pub fn run(g: &GlobalOpts, a: &State) -> anyhow::Result<u8> {
    let (dir, rec) = crate::state::load(g, &a.id)?;
    let v = crate::state::state_json(&dir, &rec, "");
    print!("{}", serde_json::to_string_pretty(&v)?);
    let _ = std::io::stdout().flush();
    Ok(0)
}
