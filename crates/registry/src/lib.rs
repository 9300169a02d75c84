//! skiff's distribution client: talks the OCI distribution protocol to
//! registries for `pull`, `push`, `login`, `search` and `manifest inspect`.
//!
//! Modules: [`http`] (transport, retries, redirects), [`auth`] (challenges,
//! basic and bearer tokens), [`credentials`] (Docker's `config.json` and
//! credential helpers), [`config`] (mirrors, insecure registries),
//! [`client`] (one endpoint's API calls), [`manifest`] (documents and
//! platform choice), [`pull`](mod@pull), [`push`](mod@push), [`search`].
//!
//! Blobs reach the image store only through its API: pulled layers are
//! streamed into anonymous store blobs, verified, then committed at once.
//! HTTP is synchronous (`ureq`); parallel layers use threads, so no async
//! runtime is needed (see [`http`] for why this client).

#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod config;
pub mod credentials;
pub mod http;
pub mod manifest;
pub mod pull;
pub mod push;
pub mod search;
pub mod tarsize;

pub use client::{Client, ClientError, ClientOptions};
pub use config::RegistryConfig;
pub use pull::{pull, PullError, PullEvent, PullOptions, Pulled};
pub use push::{push, PushError, PushEvent, PushOptions, Pushed};
