//! keepalived.conf parsing into a typed, validated configuration.
//!
//! `load(path)` reads the file (default [`DEFAULT_CONFIG`]) with
//! `common::lexer` (Keepalived dialect), splices `include PATTERN` files in
//! place (globs relative to the including file, at most
//! [`MAX_INCLUDE_DEPTH`] levels; a pattern matching nothing is a note, as in
//! keepalived), builds the block tree and the typed [`Config`], then checks
//! cross references. [`check::run_check`] is `vrrpd -t`.
//!
//! Diagnostics are worded like keepalived's (`(FILE: Line N) Unknown keyword
//! 'x'`, `number '300' outside range [1, 255]`) and carry a [`Severity`]:
//! `-t` exits like `keepalived -t` (0 ok, 4 fatal, 5 config errors or
//! warnings, 6 script security), and the daemon refuses a configuration
//! with any `Error` or `Fatal` diagnostic.
//!
//! # Decisions on keywords
//! * Implemented: see the keyword lists of the issue: `global_defs`
//!   (`router_id`, `vrrp_version`, `script_user`, `enable_script_security`,
//!   `vrrp_garp_master_delay|repeat|refresh|refresh_repeat`,
//!   `vrrp_garp_interval`, `vrrp_gna_interval`, `vrrp_mcast_group4|6`,
//!   `vrrp_skip_check_adv_addr`, `vrrp_check_unicast_src`,
//!   `vrrp_garp_lower_prio_delay|repeat`, `vrrp_lower_prio_no_advert`,
//!   `vrrp_higher_prio_send_advert`), `vrrp_script`
//!   (all 8 keywords), `vrrp_track_process` (all 9 keywords), `vrrp_instance`
//!   (state, interface, virtual_router_id, priority, advert_int, version,
//!   nopreempt, preempt, preempt_delay, authentication PASS,
//!   virtual_ipaddress[_excluded] with `dev`, `label`, `scope`, `brd`,
//!   track_script, track_interface, track_process, dont_track_primary,
//!   unicast_src_ip, mcast_src_ip (same meaning), unicast_peer, notify*,
//!   garp_master_*, garp_lower_prio_delay|repeat, lower_prio_no_advert,
//!   higher_prio_send_advert, `accept` (our behaviour anyway)), `vrrp_sync_group`
//!   (`group`, notify*).
//! * As keepalived: tracked scripts, processes and interfaces with a
//!   weight are dropped from the members of a `vrrp_sync_group`, with a note
//!   (`(a) ignoring tracked script chk with weights due to SYNC group`).
//! * vrrpd extension: `v3_checksum_as_v2` in `vrrp_instance` (keepalived
//!   itself would report it as an unknown keyword).
//! * Ignored with a note (printed by `-t` and at start, exit status not
//!   affected, like keepalived's): e-mail keywords (`notification_email`,
//!   `notification_email_from`, `smtp_*`, `smtp_alert`, ...), keepalived
//!   process tuning (`vrrp_priority`, `*_no_swap`, `*_rt_priority`,
//!   `max_auto_priority`, process names, ...) and instance `debug`.
//! * Rejected as "Unsupported keyword ... vrrpd does not implement it": every
//!   other keepalived 2.2 keyword of those contexts (LVS `virtual_server`,
//!   BFD, `static_*`, `use_vmac`, `vrrp_strict`/`strict_mode`, `track_file`,
//!   `virtual_routes`, SNMP, DBus, FIFOs, `unicast_ttl`, ...), AH
//!   authentication, VIP options `peer`/`home`/`nodad`/..., `unicast_peer`
//!   `min_ttl`/`max_ttl`, the `$NAME=` / `@host` / `~SEQ` preprocessor.
//! * Anything else: "Unknown keyword 'x'".
//!
//! # Where vrrpd is stricter than keepalived
//! keepalived reports these and then runs with a default or without the
//! object; vrrpd refuses to start (or keeps the old config on reload): out
//! of range numbers, unknown `state`, duplicate names, track_script /
//! track_process naming an undefined object, sync group members that do
//! not exist or belong to two groups, a VIP or unicast peer of the wrong
//! family, malformed VIPs, a VRRPv2 `advert_int` that is not whole seconds
//! (keepalived rounds), a VRRPv3 one that is not a multiple of 10 ms or
//! above 40.95 s, authentication with VRRPv3, `version 2` with IPv6, a
//! loopback interface, two instances with the same interface, VRID and
//! family. Accepted with a warning (keepalived `-t` exits 5 too): an
//! interface that does not exist (yet), an instance without VIPs, a sync
//! group with one member, `auth_pass` longer than 8 characters (truncated).
//!
//! # Scripts
//! `script` and `notify*` lines are re-read from the raw text the way
//! keepalived does (quotes of both kinds and backslash escapes, up to an
//! unquoted brace); the first argument (quote the whole command) is split
//! again into argv (see [`argv`]); `notify*` accept `user [group]` after it,
//! further words of `script` are ignored with a note, as in keepalived. Scripts without a user
//! run as `script_user`, else `keepalived_script` if that user exists, else
//! root; root without `enable_script_security` gives keepalived's
//! "SECURITY VIOLATION" (exit 6 with `-t`), and `enable_script_security`
//! with no usable default user is an error.

pub mod argv;
pub mod check;
pub mod diag;
mod keywords;
pub mod model;
pub mod parse;
#[cfg(test)]
mod tests;

pub use diag::{exit_code, ConfigError, Diagnostic, Severity};
pub use model::*;
pub use parse::{
    load, load_with, parse_file, parse_str, HostSystem, IfKind, Loaded, System, DEFAULT_CONFIG,
    MAX_INCLUDE_DEPTH,
};
