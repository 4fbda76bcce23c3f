//! The runtime API: HAProxy's `stats socket` (unix or TCP), speaking the
//! same line protocol (`;`-separated commands, interactive `prompt` mode,
//! one response per command followed by an empty line) and answering the
//! commands operators drive with `socat`: `show info`, `show stat`,
//! `show servers state`, `show backend`, `set server BE/SRV state|weight`,
//! `disable|enable server`, `get weight`, `set weight`, `help`.
//!
//! Administrative state changes log HAProxy's lines (`... is going DOWN for
//! maintenance ...`, `... enters drain state ...`, `... (leaving forced
//! maintenance).`).
//!
//! Split into [`parse`] (the pure command language), [`render`] (the
//! `show ...` outputs), [`command`] (execution against the runtime state)
//! and [`socket`] (binding and serving connections).

pub mod command;
pub mod parse;
pub mod render;
pub mod socket;

pub use command::{execute, process_input, set_admin_state, Session};
pub use parse::{split_args, StatFilter};
pub use render::{
    format_uptime, server_status, show_backend, show_info, show_servers_state, show_stat,
    show_stat_filtered, RELEASE_DATE, STAT_FIELDS,
};
pub use socket::{bind, serve, Bound, Limits, DEFAULT_MAXCONN};

#[cfg(test)]
mod tests;
