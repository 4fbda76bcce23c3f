//! keepalived.conf parsing into a typed, validated configuration.

pub mod model;

pub use model::*;
