//! haproxy.cfg parsing into a typed, validated configuration.
//!
//! * [`model`]: the typed configuration the runtime consumes.
//! * [`load`]: read files (or directories of `*.cfg`), parse and validate.
//! * [`check::run_check`]: `proxyd -c` semantics (HAProxy's output and exit
//!   codes).

pub mod check;
pub mod diag;
pub mod model;

pub use diag::{Diag, Errors, Level};
pub use model::*;

use std::path::PathBuf;

/// A successfully loaded configuration and the warnings found on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    /// Warnings (and notices), in order, to be logged by the caller.
    pub warnings: Vec<Diag>,
}

/// Load the configuration from `paths`, in order. A directory means its
/// `*.cfg` files in lexical order. Hostnames are resolved here.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, Errors> {
    let _ = paths;
    Err(Errors {
        diags: vec![Diag::raw(
            Level::Alert,
            None,
            "configuration parser not implemented yet",
        )],
    })
}
