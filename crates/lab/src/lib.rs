//! The network-namespace lab: the seed's four hosts (plus a client) on one
//! machine, with the daemons under a per-host init in its own PID
//! namespace, a built-in web server and HTTP client, and the demo's
//! narration. The `lab` binary is a thin CLI over this library; the
//! end-to-end tests (`tests/tests/e2e*.rs`) drive [`runtime::Lab`]
//! directly.

pub mod demo;
pub mod failover;
pub mod http;
pub mod init;
pub mod killall;
pub mod runtime;
pub mod soak;
pub mod timefmt;
pub mod topology;

pub use runtime::{Impl, Lab, LabOptions, Service};
pub use topology::{Role, Topology};
