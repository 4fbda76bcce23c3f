//! What `proxyd` and `vrrpd` share: the configuration lexer (positions on
//! every token, both dialects), journald-friendly logging, signals, process
//! probes, network-namespace helpers and sd_notify.

pub mod lexer;
pub mod log;
pub mod netns;
pub mod notify;
pub mod probe;
pub mod signals;

pub use tokio_util::sync::CancellationToken;
pub use tokio_util::task::TaskTracker;
