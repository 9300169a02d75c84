//! `skiff logout [SERVER]`: removes stored credentials.

use super::login::server_host;
use super::GlobalOpts;
use clap::Args;
use skiff_registry::credentials::{server_key, CredentialStore};

#[derive(Args, Debug)]
pub struct LogoutArgs {
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

pub fn run(_g: &GlobalOpts, a: LogoutArgs) -> anyhow::Result<u8> {
    let host = server_host(a.server.as_deref());
    let store = CredentialStore::default_location();
    let key = server_key(&host);
    if store.erase(&host)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(0)
}
