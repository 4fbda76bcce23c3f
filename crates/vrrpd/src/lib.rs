//! vrrpd: a keepalived-compatible VRRP daemon.

pub mod cli;
pub mod config;
pub mod fsm;
pub mod packet;
