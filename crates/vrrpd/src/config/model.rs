//! The typed, validated keepalived.conf model consumed by the daemon.
//!
//! Every value here has already been range-checked and defaulted the way
//! keepalived 2.2 does it, so consumers never re-validate. Global defaults
//! (`vrrp_version`, `vrrp_garp_*`) are already folded into each [`Instance`].
//!
//! Positions ([`SrcPos`]) are carried for messages only: they never take part
//! in equality, so a reload that merely moves an instance to another line
//! compares equal and keeps its state.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::lexer::Pos;

/// Where something was defined. Compares equal to every other `SrcPos`.
#[derive(Clone, Debug, Default)]
pub struct SrcPos(pub Option<Pos>);

impl PartialEq for SrcPos {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for SrcPos {}

impl fmt::Display for SrcPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(p) => write!(f, "{p}"),
            None => f.write_str("?"),
        }
    }
}

impl From<Pos> for SrcPos {
    fn from(p: Pos) -> Self {
        SrcPos(Some(p))
    }
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Config {
    pub global: GlobalDefs,
    pub scripts: Vec<VrrpScript>,
    pub track_processes: Vec<TrackProcess>,
    pub instances: Vec<Instance>,
    pub sync_groups: Vec<SyncGroup>,
}

impl Config {
    pub fn script(&self, name: &str) -> Option<&VrrpScript> {
        self.scripts.iter().find(|s| s.name == name)
    }
    pub fn track_process(&self, name: &str) -> Option<&TrackProcess> {
        self.track_processes.iter().find(|s| s.name == name)
    }
    pub fn instance(&self, name: &str) -> Option<&Instance> {
        self.instances.iter().find(|s| s.name == name)
    }
    /// The sync group an instance belongs to, if any.
    pub fn sync_group_of(&self, instance: &str) -> Option<&SyncGroup> {
        self.sync_groups
            .iter()
            .find(|g| g.members.iter().any(|m| m == instance))
    }
}

/// `user [group]` of `script_user`, vrrp_script `user`, notify scripts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptUser {
    pub user: String,
    pub group: Option<String>,
}

/// A command line to execute (no shell), already split like keepalived does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// argv; never empty. `argv[0]` may be a bare name (PATH search).
    pub argv: Vec<String>,
    /// Per-script user (notify scripts accept `username [groupname]`).
    pub user: Option<ScriptUser>,
}

/// `notify_fifo` / `vrrp_notify_fifo PATH [USER [GROUP]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyFifo {
    pub path: std::path::PathBuf,
    /// Owner of the FIFO when vrrpd creates it.
    pub owner: Option<ScriptUser>,
}

/// `global_defs`.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    /// Default VRRP version of instances (2 or 3); default 2.
    pub vrrp_version: u8,
    pub script_user: Option<ScriptUser>,
    pub enable_script_security: bool,
    /// Defaults for the instances (already applied to each instance).
    pub vrrp_garp_master_delay: Duration,
    pub vrrp_garp_master_repeat: u32,
    pub vrrp_garp_master_refresh: Option<Duration>,
    pub vrrp_garp_master_refresh_repeat: u32,
    /// Delay between gratuitous ARPs of one burst (0 = back to back).
    pub vrrp_garp_interval: Duration,
    /// Delay between unsolicited neighbour advertisements of one burst.
    pub vrrp_gna_interval: Duration,
    /// Multicast groups (defaults 224.0.0.18 and ff02::12).
    pub vrrp_mcast_group4: Ipv4Addr,
    pub vrrp_mcast_group6: Ipv6Addr,
    /// `vrrp_skip_check_adv_addr`: do not check the address list of adverts
    /// from the current master.
    pub vrrp_skip_check_adv_addr: bool,
    /// `vrrp_check_unicast_src`: drop unicast adverts not from a peer.
    pub vrrp_check_unicast_src: bool,
    /// `notify_fifo` and `vrrp_notify_fifo` (both get the VRRP lines).
    pub notify_fifos: Vec<NotifyFifo>,
    /// Defaults of the instances' `garp_lower_prio_*`,
    /// `lower_prio_no_advert`, `higher_prio_send_advert`.
    pub vrrp_garp_lower_prio_delay: Option<Duration>,
    pub vrrp_garp_lower_prio_repeat: Option<u32>,
    pub vrrp_lower_prio_no_advert: bool,
    pub vrrp_higher_prio_send_advert: bool,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            vrrp_version: 2,
            script_user: None,
            enable_script_security: false,
            vrrp_garp_master_delay: Duration::from_secs(5),
            vrrp_garp_master_repeat: 5,
            vrrp_garp_master_refresh: None,
            vrrp_garp_master_refresh_repeat: 1,
            vrrp_garp_interval: Duration::ZERO,
            vrrp_gna_interval: Duration::ZERO,
            vrrp_mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            vrrp_mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            vrrp_skip_check_adv_addr: false,
            vrrp_check_unicast_src: false,
            notify_fifos: Vec::new(),
            vrrp_garp_lower_prio_delay: None,
            vrrp_garp_lower_prio_repeat: None,
            vrrp_lower_prio_no_advert: false,
            vrrp_higher_prio_send_advert: false,
        }
    }
}

/// `vrrp_script NAME { ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct VrrpScript {
    pub name: String,
    pub pos: SrcPos,
    /// The command (argv split like keepalived, quotes honoured); its `user`
    /// is the script's `user` keyword, else none (use `global.script_user`).
    pub script: Command,
    /// Default 1s.
    pub interval: Duration,
    /// Default: none (keepalived then uses the interval).
    pub timeout: Option<Duration>,
    /// -253..=253 (keepalived's range), default 0.
    pub weight: i32,
    pub weight_reverse: bool,
    /// Default 1.
    pub rise: u32,
    /// Default 1.
    pub fall: u32,
    pub init_fail: bool,
}

/// How `vrrp_track_process` matches the process' parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ParamMatch {
    /// Exact match of all parameters (keepalived default when parameters are given).
    #[default]
    Exact,
    /// The given parameters are a prefix of the process' parameters.
    Initial,
    /// The given parameters occur anywhere (keepalived 2.2 `partial`).
    Partial,
}

/// `vrrp_track_process NAME { ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackProcess {
    pub name: String,
    pub pos: SrcPos,
    /// Process name (comm, or argv[0] / full path with `full_command`).
    pub process: String,
    /// Parameters to match (`process NAME ARGS...`); none = any.
    pub params: Option<Vec<String>>,
    pub param_match: ParamMatch,
    /// Match the full command path rather than the 15-char comm name.
    pub full_command: bool,
    /// Minimum number of matching processes for "up" (default 1).
    pub quorum: u32,
    /// Maximum number of matching processes for "up" (default unlimited).
    pub quorum_max: Option<u32>,
    /// Delay before acting on a process' end (`delay` / `terminate_delay`).
    pub terminate_delay: Option<Duration>,
    /// Delay before acting on a new process (`delay` / `fork_delay`).
    pub fork_delay: Option<Duration>,
    /// -254..=254, default 0.
    pub weight: i32,
    pub weight_reverse: bool,
}

/// `state` of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialState {
    Master,
    Backup,
}

/// `authentication { auth_type PASS auth_pass X }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Simple password, at most 8 bytes (longer ones are truncated with a
    /// warning, as keepalived does). Sent zero padded to 8 bytes.
    Pass(String),
}

/// Address scope of a VIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
    Other(u8),
}

impl Scope {
    /// The kernel's `rtm_scope` / `ifa_scope` value.
    pub fn value(self) -> u8 {
        match self {
            Scope::Global => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
            Scope::Other(v) => v,
        }
    }
}

/// One `virtual_ipaddress` entry: `ADDR[/PREFIX] [brd B] [dev IF] [scope S] [label L]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vip {
    pub addr: IpAddr,
    /// Default 32 (IPv4) / 128 (IPv6).
    pub prefix: u8,
    /// Interface; none = the instance's interface.
    pub dev: Option<String>,
    pub label: Option<String>,
    pub scope: Option<Scope>,
    pub brd: Option<Ipv4Addr>,
}

/// `track_script { NAME [weight W [reverse]] }` / `track_process { ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackRef {
    pub name: String,
    /// Overrides the tracked object's weight.
    pub weight: Option<i32>,
    pub reverse: bool,
}

/// `track_interface { IF [weight W [reverse]] }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackIf {
    pub name: String,
    /// None = 0 = the instance goes FAULT when the interface is down.
    pub weight: Option<i32>,
    pub reverse: bool,
}

/// `vrrp_instance NAME { ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub name: String,
    pub pos: SrcPos,
    pub initial_state: Option<InitialState>,
    pub interface: String,
    /// 1..=255.
    pub vrid: u8,
    /// 1..=255, default 100.
    pub priority: u8,
    /// Default 1s; v2 whole seconds (1..=255), v3 centiseconds (0.01..=40.95).
    pub advert_int: Duration,
    /// 2 or 3 (instance `version`, else `global_defs vrrp_version`).
    pub version: u8,
    /// Address family of the instance (from the VIPs; IPv6 VIPs need v3).
    pub family: Family,
    pub nopreempt: bool,
    /// `preempt_delay` (0..=1000 s).
    pub preempt_delay: Option<Duration>,
    pub auth: Option<Auth>,
    pub vips: Vec<Vip>,
    pub vips_excluded: Vec<Vip>,
    pub track_scripts: Vec<TrackRef>,
    pub track_interfaces: Vec<TrackIf>,
    pub track_processes: Vec<TrackRef>,
    pub dont_track_primary: bool,
    /// `unicast_src_ip` / `mcast_src_ip`: source address of adverts.
    pub unicast_src_ip: Option<IpAddr>,
    /// Non-empty = unicast mode.
    pub unicast_peers: Vec<IpAddr>,
    pub notify_master: Option<Command>,
    pub notify_backup: Option<Command>,
    pub notify_fault: Option<Command>,
    pub notify_stop: Option<Command>,
    pub notify: Option<Command>,
    pub garp_master_delay: Duration,
    pub garp_master_repeat: u32,
    pub garp_master_refresh: Option<Duration>,
    pub garp_master_refresh_repeat: u32,
    /// `garp_lower_prio_delay` / `garp_lower_prio_repeat`: GARPs a master
    /// sends when it hears a lower priority advert (None = the
    /// `garp_master_*` values).
    pub garp_lower_prio_delay: Option<Duration>,
    pub garp_lower_prio_repeat: Option<u32>,
    /// `lower_prio_no_advert`: a master does not answer a lower priority
    /// advert with one of its own.
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert`: a master hearing a higher priority sends
    /// one advert before going BACKUP.
    pub higher_prio_send_advert: bool,
    /// vrrpd extension: compute the VRRPv3 IPv4 checksum without the
    /// pseudo-header (as some routers do), on send and receive.
    pub v3_checksum_as_v2: bool,
}

/// Address family of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// `vrrp_sync_group NAME { group { A B } notify_* }`.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncGroup {
    pub name: String,
    pub pos: SrcPos,
    /// Instance names, all defined.
    pub members: Vec<String>,
    pub notify_master: Option<Command>,
    pub notify_backup: Option<Command>,
    pub notify_fault: Option<Command>,
    pub notify_stop: Option<Command>,
    pub notify: Option<Command>,
}
