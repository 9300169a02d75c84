//! `skiff pause` and `skiff unpause`.

use super::{each, NamesArgs};
use crate::commands::GlobalOpts;
use skiff_engine::Engine;

pub fn pause(g: &GlobalOpts, a: NamesArgs) -> anyhow::Result<u8> {
    each(g, &a.containers, Engine::pause)
}

pub fn unpause(g: &GlobalOpts, a: NamesArgs) -> anyhow::Result<u8> {
    each(g, &a.containers, Engine::unpause)
}
