//! skiff's image builder: the Dockerfile parser ([`parser`], pure) and the
//! executor ([`executor`]) that builds images the way Docker's classic builder
//! does, with its output, history entries and a local layer cache.

pub mod context;
pub mod executor;
pub mod ignore;
pub mod layer;
pub mod parser;
pub mod rootfs;
pub mod shell;

pub use context::BuildContext;
pub use executor::{build, BuildError, BuildOptions, BuildOutcome, LayerDiff, RunError, RunExecutor, RunSpec};
