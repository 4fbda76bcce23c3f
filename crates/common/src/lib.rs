//! What `proxyd` and `vrrpd` share: the configuration lexer (positions on
//! every token, both dialects), journald-friendly logging, signals and
//! sd_notify.

pub mod lexer;
pub mod log;
pub mod notify;
pub mod signals;

pub use tokio_util::sync::CancellationToken;
pub use tokio_util::task::TaskTracker;
