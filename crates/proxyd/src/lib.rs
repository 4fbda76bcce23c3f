//! proxyd: a HAProxy-compatible TCP load balancer.

pub mod cli;
pub mod config;
pub mod health;
pub mod lb;
pub mod state;
