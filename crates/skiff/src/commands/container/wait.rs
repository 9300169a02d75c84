//! `skiff wait`: each container's exit code once it has stopped.

use super::NamesArgs;
use crate::commands::{daemon_error, open_engine, GlobalOpts};

pub fn wait(g: &GlobalOpts, a: NamesArgs) -> anyhow::Result<u8> {
    let engine = open_engine(g)?;
    let mut failed = false;
    for n in &a.containers {
        match engine.find(n).and_then(|c| engine.wait(&c)) {
            Ok(code) => println!("{code}"),
            Err(e) => {
                daemon_error(e);
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}
