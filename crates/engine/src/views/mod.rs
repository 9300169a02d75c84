//! Docker's views of the engine's objects, shared by every front end so that the CLI and an API
//! server print the same thing: a container's `ContainerJSON` ([`inspect`]), its line in the
//! container list ([`summary`]), and the daemon's wording of durations ([`humanize`]).

pub mod humanize;
pub mod inspect;
pub mod summary;
