//! proxyd: a HAProxy-compatible TCP load balancer.

pub mod acl;
pub mod app;
pub mod checks;
pub mod cli;
pub mod config;
pub mod health;
pub mod lb;
pub mod limit;
pub mod logsink;
pub mod proxy;
pub mod reload;
pub mod rootfs;
pub mod server;
pub mod splice;
pub mod state;
pub mod stats;
pub mod tcplog;
pub mod tls_hello;
