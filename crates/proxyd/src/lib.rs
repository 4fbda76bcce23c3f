//! proxyd: a HAProxy-compatible TCP load balancer.

pub mod cli;
pub mod config;
