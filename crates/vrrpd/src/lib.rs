//! vrrpd: a keepalived-compatible VRRP daemon.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod fifo;
pub mod fsm;
pub mod garp;
pub mod instance;
pub mod netlink;
pub mod packet;
pub mod probe;
pub mod script;
pub mod socket;
pub mod track;
