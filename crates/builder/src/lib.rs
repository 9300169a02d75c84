//! skiff's image builder: Dockerfiles built the way Docker's classic builder
//! builds them (its output, its history entries and configs, a local cache).
//!
//! - [`parser`]: the Dockerfile language (pure): directives, continuations,
//!   heredocs, flags, JSON and shell forms, typed instructions.
//! - [`shell`]: word expansion (`$VAR`, `${VAR:-word}`, quotes, escapes).
//! - [`ignore`]: `.dockerignore` patterns.
//! - [`context`]: the build context and Docker's source hashes.
//! - [`executor`]: [`build`] runs it all; RUN goes through a [`RunExecutor`],
//!   FROM pulls through an [`ImagePuller`].

#![forbid(unsafe_code)]

pub mod context;
pub mod executor;
pub mod ignore;
pub mod parser;
pub mod shell;

pub use context::BuildContext;
pub use executor::{
    build, build_with_puller, BuildError, BuildOptions, BuildOutcome, ImagePuller, LayerDiff, PullFailed, RunError,
    RunExecutor, RunSpec,
};
