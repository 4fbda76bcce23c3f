//! Every keepalived 2.2 keyword vrrpd knows about, in one table,
//! [`KEYWORDS`]: the ones it implements (with their arity), the ones it
//! does not implement (reported as "Unsupported keyword", not "Unknown
//! keyword") and the harmless ones it ignores with a note. The parser
//! queries it ([`arity`], [`refused`], [`ignored`], [`takes_block`]) and
//! docs/migration.md carries its rendering ([`render_doc`], checked by a
//! test). A test checks that the table and parse.rs's match arms agree.

/// Where a keyword appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Top level of keepalived.conf.
    Root,
    /// `global_defs { }`.
    Global,
    /// `vrrp_instance NAME { }`.
    Instance,
    /// `vrrp_sync_group NAME { }`.
    SyncGroup,
    /// An option after an address in `virtual_ipaddress { }`.
    VipOption,
    /// `vrrp_script NAME { }`.
    Script,
    /// `vrrp_track_process NAME { }`.
    TrackProcess,
    /// `authentication { }` inside `vrrp_instance`.
    Auth,
}

/// How many values a supported keyword takes after its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// No value (some accept an optional `on`/`off`, checked by the parser).
    Flag,
    /// An optional value (checked by the parser).
    Optional,
    /// Exactly one value.
    One,
    /// One value or more (e.g. a command, then user and group).
    AtLeastOne,
    /// A `{ }` block and no value.
    Block,
    /// A name, then a `{ }` block.
    NamedBlock,
    /// Not checked from the table (refused and ignored keywords).
    Any,
}

#[cfg(test)]
impl Section {
    /// How the docs name it.
    pub fn doc_name(self) -> &'static str {
        match self {
            Section::Root => "top level",
            Section::Global => "`global_defs`",
            Section::Instance => "`vrrp_instance`",
            Section::SyncGroup => "`vrrp_sync_group`",
            Section::VipOption => "`virtual_ipaddress` options",
            Section::Script => "`vrrp_script`",
            Section::TrackProcess => "`vrrp_track_process`",
            Section::Auth => "`authentication`",
        }
    }
}

/// What vrrpd does with a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented (parsed in parse.rs).
    Supported,
    /// Refused with file:line ("Unsupported keyword"); why.
    Refused(&'static str),
    /// Accepted with a note and otherwise ignored; the note.
    Ignored(&'static str),
}

/// One keyword in one section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyword {
    pub name: &'static str,
    pub section: Section,
    /// It may take a `{ }` block there (otherwise a block is an error).
    pub block: bool,
    /// How many values it takes ([`Arity::Any`] unless supported).
    pub arity: Arity,
    pub support: Support,
}

/// A refused or ignored keyword.
const fn kw(name: &'static str, section: Section, block: bool, support: Support) -> Keyword {
    Keyword {
        name,
        section,
        block,
        arity: Arity::Any,
        support,
    }
}

/// A supported keyword.
const fn sup(name: &'static str, section: Section, arity: Arity) -> Keyword {
    Keyword {
        name,
        section,
        block: matches!(arity, Arity::Block | Arity::NamedBlock),
        arity,
        support: Support::Supported,
    }
}

const R_ROOT: Support = Support::Refused(
    "LVS/IPVS, BFD, static routing, file tracking and namespaces are not implemented",
);
const R_GLOBAL: Support = Support::Refused("not implemented by vrrpd");
const R_INSTANCE: Support = Support::Refused("instance option not implemented by vrrpd");
const R_GROUP: Support =
    Support::Refused("sync group tracking is not implemented (track in the instances)");
const R_VIP: Support = Support::Refused("address option not implemented by vrrpd");
const I_EMAIL: Support = Support::Ignored("vrrpd does not send e-mail");
const I_TUNING: Support =
    Support::Ignored("process tuning of keepalived's processes, not applicable to vrrpd");
const I_DEBUG: Support = Support::Ignored("use vrrpd's log filter (RUST_LOG) instead");

use Arity::*;
use Section::*;

/// Every keyword vrrpd knows about.
pub const KEYWORDS: &[Keyword] = &[
    sup("include", Root, One),
    sup("global_defs", Root, Block),
    sup("vrrp_script", Root, NamedBlock),
    sup("vrrp_track_process", Root, NamedBlock),
    sup("vrrp_instance", Root, NamedBlock),
    sup("vrrp_sync_group", Root, NamedBlock),
    sup("router_id", Global, One),
    sup("vrrp_version", Global, One),
    sup("script_user", Global, AtLeastOne),
    sup("enable_script_security", Global, Flag),
    sup("vrrp_garp_master_delay", Global, One),
    sup("vrrp_garp_master_repeat", Global, One),
    sup("vrrp_garp_master_refresh", Global, One),
    sup("vrrp_garp_master_refresh_repeat", Global, One),
    sup("vrrp_garp_interval", Global, One),
    sup("vrrp_gna_interval", Global, One),
    sup("vrrp_mcast_group4", Global, One),
    sup("vrrp_mcast_group6", Global, One),
    sup("vrrp_skip_check_adv_addr", Global, Flag),
    sup("vrrp_garp_lower_prio_delay", Global, One),
    sup("vrrp_garp_lower_prio_repeat", Global, One),
    sup("vrrp_lower_prio_no_advert", Global, Flag),
    sup("vrrp_higher_prio_send_advert", Global, Flag),
    sup("vrrp_check_unicast_src", Global, Flag),
    sup("notify_fifo", Global, AtLeastOne),
    sup("vrrp_notify_fifo", Global, AtLeastOne),
    sup("script", Script, AtLeastOne),
    sup("interval", Script, One),
    sup("timeout", Script, One),
    sup("weight", Script, AtLeastOne),
    sup("rise", Script, One),
    sup("fall", Script, One),
    sup("user", Script, AtLeastOne),
    sup("init_fail", Script, Flag),
    sup("process", TrackProcess, AtLeastOne),
    sup("param_match", TrackProcess, Optional),
    sup("weight", TrackProcess, AtLeastOne),
    sup("quorum", TrackProcess, One),
    sup("quorum_max", TrackProcess, One),
    sup("delay", TrackProcess, One),
    sup("terminate_delay", TrackProcess, One),
    sup("fork_delay", TrackProcess, One),
    sup("full_command", TrackProcess, Flag),
    sup("state", Instance, One),
    sup("interface", Instance, One),
    sup("virtual_router_id", Instance, One),
    sup("priority", Instance, One),
    sup("advert_int", Instance, One),
    sup("version", Instance, One),
    sup("nopreempt", Instance, Flag),
    sup("preempt", Instance, Flag),
    sup("preempt_delay", Instance, One),
    sup("authentication", Instance, Block),
    sup("virtual_ipaddress", Instance, Block),
    sup("virtual_ipaddress_excluded", Instance, Block),
    sup("track_script", Instance, Block),
    sup("track_process", Instance, Block),
    sup("track_interface", Instance, Block),
    sup("dont_track_primary", Instance, Flag),
    sup("unicast_src_ip", Instance, One),
    sup("mcast_src_ip", Instance, One),
    sup("unicast_peer", Instance, Block),
    sup("notify_master", Instance, AtLeastOne),
    sup("notify_backup", Instance, AtLeastOne),
    sup("notify_fault", Instance, AtLeastOne),
    sup("notify_stop", Instance, AtLeastOne),
    sup("notify", Instance, AtLeastOne),
    sup("garp_master_delay", Instance, One),
    sup("garp_master_repeat", Instance, One),
    sup("garp_master_refresh", Instance, One),
    sup("garp_master_refresh_repeat", Instance, One),
    sup("v3_checksum_as_v2", Instance, Flag),
    sup("garp_lower_prio_delay", Instance, One),
    sup("garp_lower_prio_repeat", Instance, One),
    sup("lower_prio_no_advert", Instance, Flag),
    sup("higher_prio_send_advert", Instance, Flag),
    sup("accept", Instance, Flag),
    kw("smtp_alert", Instance, false, I_EMAIL),
    kw("debug", Instance, false, I_DEBUG),
    sup("auth_type", Auth, One),
    sup("auth_pass", Auth, One),
    sup("group", SyncGroup, Block),
    sup("notify_master", SyncGroup, AtLeastOne),
    sup("notify_backup", SyncGroup, AtLeastOne),
    sup("notify_fault", SyncGroup, AtLeastOne),
    sup("notify_stop", SyncGroup, AtLeastOne),
    sup("notify", SyncGroup, AtLeastOne),
    kw("smtp_alert", SyncGroup, false, I_EMAIL),
    sup("dev", VipOption, One),
    sup("label", VipOption, One),
    sup("scope", VipOption, One),
    sup("brd", VipOption, One),
    sup("broadcast", VipOption, One),
    kw("virtual_server", Root, true, R_ROOT),
    kw("virtual_server_group", Root, true, R_ROOT),
    kw("real_server", Root, true, R_ROOT),
    kw("bfd_instance", Root, true, R_ROOT),
    kw("child_wait_time", Root, true, R_ROOT),
    kw("garp_group", Root, true, R_ROOT),
    kw("instance", Root, true, R_ROOT),
    kw("interface_up_down_delays", Root, true, R_ROOT),
    kw("linkbeat_interfaces", Root, true, R_ROOT),
    kw("linkbeat_use_polling", Root, true, R_ROOT),
    kw("namespace_with_ipsets", Root, true, R_ROOT),
    kw("net_namespace", Root, true, R_ROOT),
    kw("net_namespace_ipvs", Root, true, R_ROOT),
    kw("static_ipaddress", Root, true, R_ROOT),
    kw("static_routes", Root, true, R_ROOT),
    kw("static_rules", Root, true, R_ROOT),
    kw("track_group", Root, true, R_ROOT),
    kw("use_pid_dir", Root, true, R_ROOT),
    kw("vrrp_track_file", Root, true, R_ROOT),
    kw("track_file", Root, true, R_ROOT),
    kw("vrrp_track_bfd", Root, true, R_ROOT),
    kw("notification_email", Global, true, I_EMAIL),
    kw("notification_email_from", Global, false, I_EMAIL),
    kw("smtp_server", Global, false, I_EMAIL),
    kw("smtp_connect_timeout", Global, false, I_EMAIL),
    kw("smtp_helo_name", Global, false, I_EMAIL),
    kw("smtp_alert", Global, false, I_EMAIL),
    kw("smtp_alert_vrrp", Global, false, I_EMAIL),
    kw("smtp_alert_checker", Global, false, I_EMAIL),
    kw("no_email_faults", Global, false, I_EMAIL),
    kw("no_checker_emails", Global, false, I_EMAIL),
    kw("vrrp_priority", Global, false, I_TUNING),
    kw("checker_priority", Global, false, I_TUNING),
    kw("bfd_priority", Global, false, I_TUNING),
    kw("vrrp_no_swap", Global, false, I_TUNING),
    kw("checker_no_swap", Global, false, I_TUNING),
    kw("bfd_no_swap", Global, false, I_TUNING),
    kw("vrrp_rt_priority", Global, false, I_TUNING),
    kw("checker_rt_priority", Global, false, I_TUNING),
    kw("bfd_rt_priority", Global, false, I_TUNING),
    kw("vrrp_rlimit_rtime", Global, false, I_TUNING),
    kw("checker_rlimit_rtime", Global, false, I_TUNING),
    kw("bfd_rlimit_rtime", Global, false, I_TUNING),
    kw("vrrp_rlimit_rttime", Global, false, I_TUNING),
    kw("checker_rlimit_rttime", Global, false, I_TUNING),
    kw("bfd_rlimit_rttime", Global, false, I_TUNING),
    kw("vrrp_cpu_affinity", Global, false, I_TUNING),
    kw("checker_cpu_affinity", Global, false, I_TUNING),
    kw("bfd_cpu_affinity", Global, false, I_TUNING),
    kw("max_auto_priority", Global, false, I_TUNING),
    kw("min_auto_priority_delay", Global, false, I_TUNING),
    kw("process_names", Global, false, I_TUNING),
    kw("process_name", Global, false, I_TUNING),
    kw("vrrp_process_name", Global, false, I_TUNING),
    kw("checker_process_name", Global, false, I_TUNING),
    kw("bfd_process_name", Global, false, I_TUNING),
    kw("lvs_process_name", Global, false, I_TUNING),
    kw("checker_log_all_failures", Global, false, I_TUNING),
    kw("child_wait_time", Global, true, R_GLOBAL),
    kw("config_save_dir", Global, true, R_GLOBAL),
    kw("data_use_instance", Global, true, R_GLOBAL),
    kw("dbus_service_name", Global, true, R_GLOBAL),
    kw("default_interface", Global, true, R_GLOBAL),
    kw("disable_local_igmp", Global, true, R_GLOBAL),
    kw("dynamic_interfaces", Global, true, R_GLOBAL),
    kw("enable_dbus", Global, true, R_GLOBAL),
    kw("enable_snmp_checker", Global, true, R_GLOBAL),
    kw("enable_snmp_keepalived", Global, true, R_GLOBAL),
    kw("enable_snmp_rfc", Global, true, R_GLOBAL),
    kw("enable_snmp_rfcv2", Global, true, R_GLOBAL),
    kw("enable_snmp_rfcv3", Global, true, R_GLOBAL),
    kw("enable_snmp_vrrp", Global, true, R_GLOBAL),
    kw("enable_traps", Global, true, R_GLOBAL),
    kw("fifo_write_vrrp_states_on_reload", Global, true, R_GLOBAL),
    kw("include_check", Global, true, R_GLOBAL),
    kw("instance", Global, true, R_GLOBAL),
    kw("linkbeat_use_polling", Global, true, R_GLOBAL),
    kw("log_unknown_vrids", Global, true, R_GLOBAL),
    kw("lvs_flush", Global, true, R_GLOBAL),
    kw("lvs_flush_on_stop", Global, true, R_GLOBAL),
    kw("lvs_flush_onstop", Global, true, R_GLOBAL),
    kw("lvs_id", Global, true, R_GLOBAL),
    kw("lvs_netlink_cmd_rcv_bufs", Global, true, R_GLOBAL),
    kw("lvs_netlink_cmd_rcv_bufs_force", Global, true, R_GLOBAL),
    kw("lvs_netlink_monitor_rcv_bufs", Global, true, R_GLOBAL),
    kw("lvs_netlink_monitor_rcv_bufs_force", Global, true, R_GLOBAL),
    kw("lvs_notify_fifo", Global, true, R_GLOBAL),
    kw("lvs_notify_fifo_script", Global, true, R_GLOBAL),
    kw("lvs_sync_daemon", Global, true, R_GLOBAL),
    kw("lvs_timeouts", Global, true, R_GLOBAL),
    kw("namespace_with_ipsets", Global, true, R_GLOBAL),
    kw("net_namespace", Global, true, R_GLOBAL),
    kw("net_namespace_ipvs", Global, true, R_GLOBAL),
    kw("nftables", Global, true, R_GLOBAL),
    kw("nftables_counters", Global, true, R_GLOBAL),
    kw("nftables_ifindex", Global, true, R_GLOBAL),
    kw("nftables_ipvs", Global, true, R_GLOBAL),
    kw("nftables_ipvs_priority", Global, true, R_GLOBAL),
    kw("nftables_ipvs_start_fwmark", Global, true, R_GLOBAL),
    kw("nftables_priority", Global, true, R_GLOBAL),
    kw("notify_fifo_script", Global, true, R_GLOBAL),
    kw("process_monitor_rcv_bufs", Global, true, R_GLOBAL),
    kw("process_monitor_rcv_bufs_force", Global, true, R_GLOBAL),
    kw("random_seed", Global, true, R_GLOBAL),
    kw("reload_check_config", Global, true, R_GLOBAL),
    kw("reload_file", Global, true, R_GLOBAL),
    kw("reload_repeat", Global, true, R_GLOBAL),
    kw("reload_time_file", Global, true, R_GLOBAL),
    kw("rs_init_notifies", Global, true, R_GLOBAL),
    kw("shutdown_script", Global, true, R_GLOBAL),
    kw("shutdown_script_timeout", Global, true, R_GLOBAL),
    kw("snmp_socket", Global, true, R_GLOBAL),
    kw("startup_script", Global, true, R_GLOBAL),
    kw("startup_script_timeout", Global, true, R_GLOBAL),
    kw("tmp_config_directory", Global, true, R_GLOBAL),
    kw("umask", Global, true, R_GLOBAL),
    kw("use_pid_dir", Global, true, R_GLOBAL),
    kw("vmac_addr_prefix", Global, true, R_GLOBAL),
    kw("vmac_prefix", Global, true, R_GLOBAL),
    kw("vrrp_down_timer_adverts", Global, true, R_GLOBAL),
    kw("vrrp_garp_extra_if", Global, true, R_GLOBAL),
    kw("vrrp_ipsets", Global, true, R_GLOBAL),
    kw("vrrp_iptables", Global, true, R_GLOBAL),
    kw("vrrp_min_garp", Global, true, R_GLOBAL),
    kw("vrrp_netlink_cmd_rcv_bufs", Global, true, R_GLOBAL),
    kw("vrrp_netlink_cmd_rcv_bufs_force", Global, true, R_GLOBAL),
    kw("vrrp_netlink_monitor_rcv_bufs", Global, true, R_GLOBAL),
    kw(
        "vrrp_netlink_monitor_rcv_bufs_force",
        Global,
        true,
        R_GLOBAL,
    ),
    kw("vrrp_notify_fifo_script", Global, true, R_GLOBAL),
    kw("vrrp_notify_priority_changes", Global, true, R_GLOBAL),
    kw("vrrp_rx_bufs_multiplier", Global, true, R_GLOBAL),
    kw("vrrp_rx_bufs_policy", Global, true, R_GLOBAL),
    kw("vrrp_startup_delay", Global, true, R_GLOBAL),
    kw("vrrp_strict", Global, true, R_GLOBAL),
    kw("vrrp_vmac_garp_intvl", Global, true, R_GLOBAL),
    kw("use_vmac", Instance, false, R_INSTANCE),
    kw("use_vmac_addr", Instance, false, R_INSTANCE),
    kw("vmac_xmit_base", Instance, false, R_INSTANCE),
    kw("use_ipvlan", Instance, false, R_INSTANCE),
    kw("unicast_fault_no_peer", Instance, false, R_INSTANCE),
    kw("check_unicast_src", Instance, false, R_INSTANCE),
    kw("old_unicast_checksum", Instance, false, R_INSTANCE),
    kw("native_ipv6", Instance, false, R_INSTANCE),
    kw("vrf", Instance, false, R_INSTANCE),
    kw("track_file", Instance, true, R_INSTANCE),
    kw("track_bfd", Instance, true, R_INSTANCE),
    kw("mcast_dst_ip", Instance, false, R_INSTANCE),
    kw("track_src_ip", Instance, false, R_INSTANCE),
    kw("unicast_ttl", Instance, false, R_INSTANCE),
    kw("promote_secondaries", Instance, false, R_INSTANCE),
    kw("linkbeat_use_polling", Instance, false, R_INSTANCE),
    kw("virtual_routes", Instance, true, R_INSTANCE),
    kw("virtual_rules", Instance, true, R_INSTANCE),
    kw("no_accept", Instance, false, R_INSTANCE),
    kw("skip_check_adv_addr", Instance, false, R_INSTANCE),
    kw("strict_mode", Instance, false, R_INSTANCE),
    kw("notify_deleted", Instance, false, R_INSTANCE),
    kw("notify_master_rx_lower_pri", Instance, false, R_INSTANCE),
    kw("notify_priority_changes", Instance, false, R_INSTANCE),
    kw("lvs_sync_daemon_interface", Instance, false, R_INSTANCE),
    kw("down_timer_adverts", Instance, false, R_INSTANCE),
    kw("garp_extra_if", Instance, false, R_INSTANCE),
    kw("vmac_garp_intvl", Instance, false, R_INSTANCE),
    kw("kernel_rx_buf_size", Instance, false, R_INSTANCE),
    kw("track_interface", SyncGroup, true, R_GROUP),
    kw("track_script", SyncGroup, true, R_GROUP),
    kw("track_file", SyncGroup, true, R_GROUP),
    kw("track_process", SyncGroup, true, R_GROUP),
    kw("track_bfd", SyncGroup, true, R_GROUP),
    kw("global_tracking", SyncGroup, true, R_GROUP),
    kw("sync_group_tracking_weight", SyncGroup, true, R_GROUP),
    kw("notify_priority_changes", SyncGroup, true, R_GROUP),
    kw("peer", VipOption, false, R_VIP),
    kw("home", VipOption, false, R_VIP),
    kw("-nodad", VipOption, false, R_VIP),
    kw("nodad", VipOption, false, R_VIP),
    kw("noprefixroute", VipOption, false, R_VIP),
    kw("autojoin", VipOption, false, R_VIP),
    kw("preferred_lft", VipOption, false, R_VIP),
    kw("no_track", VipOption, false, R_VIP),
    kw("track", VipOption, false, R_VIP),
    kw("metric", VipOption, false, R_VIP),
];

fn find(section: Section, name: &str) -> impl Iterator<Item = &'static Keyword> + '_ {
    KEYWORDS
        .iter()
        .filter(move |k| k.section == section && k.name == name)
}

/// The arity of `name` if vrrpd implements it in `section`.
pub fn arity(section: Section, name: &str) -> Option<Arity> {
    find(section, name).find_map(|k| match k.support {
        Support::Supported => Some(k.arity),
        _ => None,
    })
}

/// keepalived knows `name` in `section` but vrrpd refuses it.
pub fn refused(section: Section, name: &str) -> bool {
    find(section, name).any(|k| matches!(k.support, Support::Refused(_)))
}

/// vrrpd ignores `name` in `section`; the note to log.
pub fn ignored(section: Section, name: &str) -> Option<&'static str> {
    find(section, name).find_map(|k| match k.support {
        Support::Ignored(note) => Some(note),
        _ => None,
    })
}

/// `name` may take a `{ }` block in `section`.
pub fn takes_block(section: Section, name: &str) -> bool {
    find(section, name).any(|k| k.block)
}

/// The supported, refused and ignored keywords as markdown, for
/// docs/migration.md.
#[cfg(test)]
pub fn render_doc() -> String {
    #[derive(PartialEq)]
    enum Kind {
        Supported,
        Refused,
        Ignored,
    }
    let mut out = String::new();
    for (title, kind) in [
        ("Supported", Kind::Supported),
        (
            "Refused (file:line, \"Unsupported keyword\")",
            Kind::Refused,
        ),
        ("Accepted and ignored, with a note", Kind::Ignored),
    ] {
        out.push_str(&format!("{title}:\n\n"));
        for section in [
            Root,
            Global,
            Script,
            TrackProcess,
            Instance,
            Auth,
            SyncGroup,
            VipOption,
        ] {
            let mut names: Vec<&str> = KEYWORDS
                .iter()
                .filter(|k| k.section == section)
                .filter(|k| {
                    kind == match k.support {
                        Support::Supported => Kind::Supported,
                        Support::Refused(_) => Kind::Refused,
                        Support::Ignored(_) => Kind::Ignored,
                    }
                })
                .map(|k| k.name)
                .collect();
            if names.is_empty() {
                continue;
            }
            names.sort_unstable();
            names.dedup();
            let mut line = format!("- {}:", section.doc_name());
            for (i, n) in names.iter().enumerate() {
                let sep = if i + 1 == names.len() { "." } else { "," };
                let word = format!("`{n}`{sep}");
                if line.len() + 1 + word.len() > 76 {
                    out.push_str(&line);
                    out.push('\n');
                    line = format!("  {word}");
                } else {
                    line = format!("{line} {word}");
                }
            }
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- BEGIN generated: vrrpd keywords -->";
    const END: &str = "<!-- END generated: vrrpd keywords -->";

    #[test]
    fn queries() {
        assert!(refused(Root, "virtual_server"));
        assert!(!refused(Instance, "virtual_server"));
        assert!(refused(Instance, "track_file") && takes_block(Instance, "track_file"));
        assert!(takes_block(Instance, "track_script") && !refused(Instance, "track_script"));
        assert_eq!(
            ignored(Global, "smtp_server"),
            Some("vrrpd does not send e-mail")
        );
        assert!(takes_block(Global, "notification_email"));
        assert!(!takes_block(Global, "smtp_server"));
    }

    struct Sys;
    impl crate::config::parse::System for Sys {
        fn interface(&self, _: &str) -> crate::config::parse::IfKind {
            crate::config::parse::IfKind::Present
        }
        fn user_exists(&self, _: &str) -> bool {
            true
        }
        fn group_exists(&self, _: &str) -> bool {
            true
        }
    }

    /// A config using `name` once in `section` (with a value, a block or
    /// both as its arity wants).
    fn snippet(section: Section, name: &str, arity: Arity) -> String {
        let line = match arity {
            Flag | Optional => name.to_string(),
            One | AtLeastOne | Any => format!("{name} 1"),
            Block => format!("{name} {{\n}}"),
            NamedBlock => format!("{name} N {{\n}}"),
        };
        match section {
            Root => format!("{line}\n"),
            Global => format!("global_defs {{\n{line}\n}}\n"),
            Instance => format!("vrrp_instance I {{\n{line}\n}}\n"),
            SyncGroup => format!("vrrp_sync_group G {{\n{line}\n}}\n"),
            Script => format!("vrrp_script S {{\n{line}\n}}\n"),
            TrackProcess => format!("vrrp_track_process P {{\n{line}\n}}\n"),
            Auth => format!("vrrp_instance I {{\nauthentication {{\n{line}\n}}\n}}\n"),
            VipOption => {
                format!("vrrp_instance I {{\nvirtual_ipaddress {{\n10.0.0.1/32 {line}\n}}\n}}\n")
            }
        }
    }

    fn unknown_messages(src: &str) -> Vec<String> {
        let (_, diags) = crate::config::parse::parse_str("t.conf", src, &Sys);
        diags
            .into_iter()
            .map(|d| d.message)
            .filter(|m| {
                m.starts_with("Unknown keyword") || m.starts_with("Unknown configuration entry")
            })
            .collect()
    }

    /// Every keyword of the table is known to the parser in its section,
    /// and a name outside the table is not.
    #[test]
    fn parser_knows_every_table_keyword() {
        for k in KEYWORDS {
            let src = snippet(k.section, k.name, k.arity);
            let unknown = unknown_messages(&src);
            assert!(
                unknown.is_empty(),
                "{:?} {} is in the table but the parser says {unknown:?} for:\n{src}",
                k.section,
                k.name
            );
        }
        for section in [
            Root,
            Global,
            Instance,
            SyncGroup,
            Script,
            TrackProcess,
            Auth,
            VipOption,
        ] {
            let src = snippet(section, "no_such_keyword", One);
            assert_eq!(unknown_messages(&src).len(), 1, "{src}");
        }
    }

    /// The table's arity check gives keepalived 2.2.7's message (`keepalived
    /// -t` on this input prints it, exit 2), once.
    #[test]
    fn arity_check_reports_a_missing_value_like_keepalived() {
        let (_, diags) = crate::config::parse::parse_str(
            "t.conf",
            "vrrp_instance VI_1 {\n    interface\n    virtual_router_id 1\n}\n",
            &Sys,
        );
        let want = "*** Configuration line starting `interface` is missing a parameter after keyword `interface` at word position 2";
        let got: Vec<_> = diags.iter().filter(|d| d.message == want).collect();
        assert_eq!(got.len(), 1, "{diags:?}");
        assert_eq!(got[0].pos.as_ref().map(|p| p.line), Some(2));
        assert_eq!(arity(Instance, "interface"), Some(One));
        assert_eq!(arity(Instance, "use_vmac"), None);
        assert_eq!(arity(Root, "vrrp_instance"), Some(NamedBlock));
    }

    /// Every keyword parse.rs matches (the string literals of its match
    /// arms, less the values it matches) is in the table as supported or
    /// ignored.
    #[test]
    fn table_has_every_parser_keyword() {
        const VALUES: &[&str] = &[
            "MASTER", "BACKUP", "PASS", "AH", "true", "yes", "on", "false", "no", "off", "global",
            "universe", "site", "link", "host", "nowhere",
        ];
        let src = include_str!("parse.rs");
        let mut seen = 0;
        for line in src.lines() {
            let t = line.trim_start();
            let arm = match t.strip_prefix("k @ (") {
                Some(rest) => rest,
                None if t.starts_with('"') => t,
                None => continue,
            };
            let Some((pats, _)) = arm.split_once("=>") else {
                continue;
            };
            for lit in pats.split('|') {
                let lit = lit.trim().trim_end_matches(')').trim();
                let Some(name) = lit.strip_prefix('"').and_then(|l| l.strip_suffix('"')) else {
                    continue;
                };
                if VALUES.contains(&name) {
                    continue;
                }
                seen += 1;
                assert!(
                    KEYWORDS
                        .iter()
                        .any(|k| k.name == name && !matches!(k.support, Support::Refused(_))),
                    "parse.rs matches keyword {name:?} but config/keywords.rs does not list it as supported"
                );
            }
        }
        assert!(
            seen > 50,
            "only {seen} keywords found in parse.rs's match arms"
        );
    }

    /// docs/migration.md carries [`render_doc`] between the markers;
    /// `UPDATE_DOCS=1` rewrites it.
    #[test]
    fn migration_doc_agrees_with_the_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/migration.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
            panic!("{} lacks the markers {BEGIN} / {END}", path.display());
        };
        let start = b + BEGIN.len();
        let want = format!("\n{}", render_doc());
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let new = format!("{}{want}{}", &doc[..start], &doc[e..]);
            std::fs::write(&path, new).unwrap();
            return;
        }
        assert_eq!(
            &doc[start..e],
            want,
            "docs/migration.md is out of date with config/keywords.rs (UPDATE_DOCS=1 regenerates)"
        );
    }
}
