//! Unit tests of the keepalived.conf parser: every error path, includes,
//! script argv splitting, VIP forms and defaults.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::*;

/// eth0/eth1/enp0s3 exist, lo is the loopback; users root and nobody.
struct Fake {
    keepalived_script: bool,
}

const FAKE: Fake = Fake {
    keepalived_script: false,
};

impl System for Fake {
    fn interface(&self, name: &str) -> IfKind {
        match name {
            "eth0" | "eth1" | "enp0s3" => IfKind::Present,
            "lo" => IfKind::Loopback,
            _ => IfKind::Missing,
        }
    }
    fn user_exists(&self, name: &str) -> bool {
        name == "root"
            || name == "nobody"
            || (self.keepalived_script && name == "keepalived_script")
    }
    fn group_exists(&self, name: &str) -> bool {
        name == "root" || name == "nogroup"
    }
}

fn parse(src: &str) -> (Config, Vec<Diagnostic>) {
    parse_str("t.conf", src, &FAKE)
}

fn msgs(src: &str) -> Vec<String> {
    parse(src).1.iter().map(|d| d.to_string()).collect()
}

/// The rendered diagnostics of a config expected to be rejected.
fn rejected(src: &str) -> Vec<String> {
    let (_, d) = parse(src);
    assert!(
        d.iter().any(Diagnostic::rejects),
        "expected a rejection, got {d:?}"
    );
    d.iter().map(|d| d.to_string()).collect()
}

fn has(msgs: &[String], needle: &str) -> bool {
    msgs.iter().any(|m| m.contains(needle))
}

#[track_caller]
fn assert_has(msgs: &[String], needle: &str) {
    assert!(has(msgs, needle), "no {needle:?} in {msgs:#?}");
}

/// Wrap instance body lines into a valid instance + secure globals.
fn inst(body: &str) -> String {
    format!(
        "global_defs {{\n script_user nobody\n}}\nvrrp_instance vi {{\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {{\n  10.0.2.100\n }}\n{body}\n}}\n"
    )
}

const SEED_MASTER: &str = r#"# Following script will be used to check if HAProxy is still running
vrrp_script chk_haproxy {
    script "killall -0 haproxy"
    interval 2              # script check frequency
    weight 2                # step size for priority increase/decrease
}

# Create a virtual interface
vrrp_instance vif1 {
    interface enp0s3        # the physical interface to attach to
                            # get correct adapter name using ip addr/ifconfig command on your LB nodes. 
    state MASTER            # we will set this to BACKUP on the other machine
    priority 101            # we will set this to 100 on the other machine

    virtual_router_id 51    # needs to be the same on MASTER and BACKUP 

    # The virtual ip address shared between the two loadbalancers
    virtual_ipaddress {
        10.0.2.100
    }

    # Use the script above to check if we should fail over
    track_script {
        chk_haproxy
    }
}
"#;

#[test]
fn seed_config_and_defaults() {
    let (c, d) = parse(SEED_MASTER);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].severity, Severity::Security);
    assert_eq!(
        d[0].to_string(),
        "SECURITY VIOLATION - scripts are being executed but script_security not enabled."
    );
    assert_eq!(exit_code(&d), 6);
    assert_eq!(c.global, GlobalDefs::default());
    assert_eq!(c.global.vrrp_version, 2);
    let s = c.script("chk_haproxy").expect("script");
    assert_eq!(s.script.argv, ["killall", "-0", "haproxy"]);
    assert_eq!(s.script.user, None);
    assert_eq!(s.interval, Duration::from_secs(2));
    assert_eq!(
        (s.weight, s.weight_reverse, s.rise, s.fall),
        (2, false, 1, 1)
    );
    assert_eq!(s.timeout, None);
    assert!(!s.init_fail);
    let i = c.instance("vif1").expect("instance");
    assert_eq!(i.interface, "enp0s3");
    assert_eq!(i.initial_state, Some(InitialState::Master));
    assert_eq!((i.vrid, i.priority, i.version), (51, 101, 2));
    assert_eq!(i.advert_int, Duration::from_secs(1));
    assert_eq!(i.family, Family::V4);
    assert_eq!(
        i.vips,
        [Vip {
            addr: "10.0.2.100".parse().unwrap(),
            prefix: 32,
            dev: None,
            label: None,
            scope: None,
            brd: None
        }]
    );
    assert_eq!(
        i.track_scripts,
        [TrackRef {
            name: "chk_haproxy".into(),
            weight: None,
            reverse: false
        }]
    );
    assert!(!i.nopreempt && i.preempt_delay.is_none() && i.auth.is_none());
    assert_eq!(i.garp_master_delay, Duration::from_secs(5));
    assert_eq!(i.garp_master_repeat, 5);
    assert_eq!(i.garp_master_refresh, None);
    assert_eq!(i.garp_master_refresh_repeat, 1);
    assert!(i.unicast_peers.is_empty() && !i.v3_checksum_as_v2);
    // The daemon accepts it (security is a warning for it, as for keepalived).
    let backup = SEED_MASTER
        .replace("state MASTER", "state BACKUP")
        .replace("priority 101", "priority 100");
    let (c2, d2) = parse(&backup);
    assert!(!d2.iter().any(Diagnostic::rejects));
    assert_eq!(c2.instances[0].priority, 100);
    assert_eq!(c2.instances[0].initial_state, Some(InitialState::Backup));
}

#[test]
fn positions_do_not_take_part_in_equality() {
    let (a, _) = parse(SEED_MASTER);
    let (b, _) = parse(&format!("\n\n\n{SEED_MASTER}"));
    assert_eq!(a, b);
    assert_ne!(
        a.instances[0].pos.to_string(),
        b.instances[0].pos.to_string()
    );
}

#[test]
fn unknown_keywords_everywhere() {
    let m = rejected("global_defs {\n router_id x\n bogus_keyword 3\n}\n");
    assert_eq!(m, ["(t.conf: Line 3) Unknown keyword 'bogus_keyword'"]);
    assert_has(
        &rejected("bogus_root { x }\n"),
        "(t.conf: Line 1) Unknown keyword 'bogus_root'",
    );
    assert_has(
        &rejected(&inst(" frobnicate")),
        "Line 10) Unknown keyword 'frobnicate'",
    );
    assert_has(
        &rejected("vrrp_script s {\n script /bin/true\n colour red\n}\n"),
        "(t.conf: Line 3) Unknown keyword 'colour'",
    );
    assert_has(
        &rejected("vrrp_track_process p {\n process x\n foo\n}\n"),
        "Line 3) Unknown keyword 'foo'",
    );
    assert_has(
        &rejected(&inst(" authentication {\n  auth_kind PASS\n }")),
        "Unknown keyword 'auth_kind'",
    );
    assert_has(&rejected("{ x }\n"), "block without keyword");
}

#[test]
fn unsupported_keywords_name_file_line_and_keyword() {
    let m = rejected(&inst(" use_vmac"));
    assert_eq!(
        m,
        ["(t.conf: Line 10) Unsupported keyword 'use_vmac' - vrrpd does not implement it (it is a keepalived keyword)"]
    );
    assert_has(
        &rejected("virtual_server 10.0.0.1 80 {\n}\n"),
        "(t.conf: Line 1) Unsupported keyword 'virtual_server'",
    );
    assert_has(
        &rejected("global_defs {\n vrrp_strict\n}\n"),
        "Line 2) Unsupported keyword 'vrrp_strict'",
    );
    assert_has(
        &rejected(&inst(" virtual_routes {\n  10.1.0.0/16 via 10.0.2.1\n }")),
        "Unsupported keyword 'virtual_routes'",
    );
    assert_has(&rejected("$IF=eth0\n"), "Unsupported keepalived parameter");
    assert_has(
        &rejected(&inst(
            " authentication {\n  auth_type AH\n  auth_pass x\n }",
        )),
        "Unsupported auth_type 'AH'",
    );
    assert_has(
        &rejected("vrrp_sync_group g {\n group { vi }\n track_script { s }\n}\n"),
        "Unsupported keyword 'track_script'",
    );
}

#[test]
fn harmless_keywords_are_notes() {
    let (c, d) = parse(
        "global_defs {\n notification_email {\n  a@b.c\n }\n notification_email_from x@y\n smtp_server 127.0.0.1\n smtp_connect_timeout 30\n vrrp_no_swap\n max_auto_priority\n}\n",
    );
    assert_eq!(exit_code(&d), 0, "{d:?}");
    assert_eq!(d.len(), 6);
    assert!(d.iter().all(|x| x.severity == Severity::Note));
    assert_eq!(
        d[0].to_string(),
        "(t.conf: Line 2) Keyword 'notification_email' ignored: vrrpd does not send e-mail"
    );
    assert!(c.instances.is_empty());
    let (_, d) = parse(&inst(" smtp_alert\n debug 2\n accept"));
    assert_eq!(exit_code(&d), 0, "{d:?}");
}

#[test]
fn numbers_and_ranges() {
    assert_eq!(
        rejected(&inst(" priority 300")),
        ["(t.conf: Line 10) number '300' outside range [1, 255]"]
    );
    assert_has(
        &rejected(&inst(" priority 0")),
        "number '0' outside range [1, 255]",
    );
    assert_has(&rejected(&inst(" priority high")), "invalid number 'high'");
    assert_has(
        &rejected(&inst(" virtual_router_id 256")),
        "number '256' outside range [1, 255]",
    );
    assert_has(
        &rejected(&inst(" version 4")),
        "number '4' outside range [2, 3]",
    );
    assert_has(
        &rejected("vrrp_script s {\n script x\n weight 300\n}\n"),
        "(t.conf: Line 3) number '300' outside range [-253, 253]",
    );
    assert_has(
        &rejected("vrrp_script s {\n script x\n weight 3 sideways\n}\n"),
        "unknown weight option sideways",
    );
    assert_has(
        &rejected("vrrp_script s {\n script x\n rise 0\n}\n"),
        "number '0' outside range [1, 2147483647]",
    );
    assert_has(
        &rejected("vrrp_script s {\n script x\n interval 0\n}\n"),
        "number '0' outside range",
    );
    assert_has(
        &rejected("vrrp_script s {\n script x\n timeout 2.5\n}\n"),
        "invalid number '2.5'",
    );
    assert_has(
        &rejected(&inst(" advert_int 0.001")),
        "number '0.001' outside range [0.010000, 255.000000]",
    );
    assert_has(
        &rejected(&inst(" preempt_delay 1001")),
        "outside range [0.000000, 1000.000000]",
    );
    assert_has(
        &rejected(&inst(" garp_master_repeat 0")),
        "number '0' outside range",
    );
    assert_has(
        &rejected("global_defs {\n vrrp_version 1\n}\n"),
        "number '1' outside range [2, 3]",
    );
}

#[test]
fn missing_parameters() {
    assert_eq!(
        rejected(&inst(" priority")),
        ["(t.conf: Line 10) *** Configuration line starting `priority` is missing a parameter after keyword `priority` at word position 2"]
    );
    assert_has(
        &rejected("include\n"),
        "missing a parameter after keyword `include`",
    );
    assert_has(
        &rejected("vrrp_instance {\n}\n"),
        "vrrp_instance must have a name",
    );
    assert_has(
        &rejected(&inst(" virtual_ipaddress_excluded")),
        "Missing '{' at start of the 'virtual_ipaddress_excluded' block",
    );
    assert_has(&rejected(&inst(" priority 5 {\n }")), "Unexpected '{'");
}

#[test]
fn braces() {
    assert_eq!(
        rejected("vrrp_instance v {\n interface eth0\n"),
        ["(t.conf: Line 1) Missing '}' for the block opened here (There are 1 missing '}'s or extra '{'s)"]
    );
    assert_eq!(
        rejected("global_defs {\n}\n}\n"),
        ["(t.conf: Line 3) Extra '}' found"]
    );
}

#[test]
fn instance_semantics() {
    let m = rejected(&format!(
        "{}vrrp_instance vi {{\n interface eth0\n virtual_router_id 52\n}}\n",
        inst("")
    ));
    assert_has(&m, "(t.conf: Line 12) vrrp instance vi already defined");
    assert_has(
        &rejected("vrrp_instance v {\n virtual_router_id 5\n virtual_ipaddress { 10.0.0.1 }\n}\n"),
        "(t.conf: Line 1) (v) Unknown interface!",
    );
    assert_has(
        &rejected("vrrp_instance v {\n interface eth0\n virtual_ipaddress { 10.0.0.1 }\n}\n"),
        "(v) the virtual router id must be set",
    );
    assert_has(
        &rejected(&inst(" state FOO")),
        "(vi) unknown state 'FOO', defaulting to BACKUP",
    );
    assert_has(
        &rejected(&inst(" state MASTER\n state BACKUP")),
        "(vi) state previously set as MASTER - ignoring BACKUP",
    );
    assert_has(
        &rejected(&inst(" interface lo")),
        "(vi) cannot use a loopback interface (lo) for vrrp - ignoring",
    );
    assert_has(
        &rejected(&inst(" interface abcdefghijklmnopq")),
        "Interface name 'abcdefghijklmnopq' too long",
    );
    // Same VRID on the same interface twice.
    let two = format!(
        "{}vrrp_instance w {{\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {{ 10.0.2.101 }}\n}}\n",
        inst("")
    );
    assert_has(
        &rejected(&two),
        "vi and w both use VRID 51 with IPv4 on interface eth0",
    );
    // Missing interface: a warning, the daemon still runs it.
    let (c, d) = parse(&inst(" interface eth9"));
    assert_eq!(exit_code(&d), 5);
    assert!(!d.iter().any(Diagnostic::rejects));
    assert_eq!(
        d[0].to_string(),
        "(t.conf: Line 10) WARNING - interface eth9 for vrrp_instance vi doesn't exist"
    );
    assert_eq!(c.instances[0].interface, "eth9");
    // No VIP: warning.
    let (_, d) = parse("vrrp_instance v {\n interface eth0\n virtual_router_id 5\n}\n");
    assert_eq!(
        d[0].to_string(),
        "(t.conf: Line 1) (v) No VIP specified; at least one is sensible"
    );
    assert_eq!(d[0].severity, Severity::Warning);
}

#[test]
fn full_instance() {
    let (c, d) = parse(&inst(
        " state BACKUP\n priority 150\n advert_int 3\n preempt_delay 2.5\n authentication {\n  auth_type PASS\n  auth_pass secret\n }\n virtual_ipaddress_excluded {\n  fe80::10/64 dev eth1\n  192.168.1.1/24\n }\n track_interface {\n  eth1 weight -20\n  eth0\n }\n track_script {\n  s weight 10 reverse\n }\n dont_track_primary\n unicast_src_ip 10.0.2.11\n unicast_peer {\n  10.0.2.12\n  10.0.2.13\n }\n notify_master \"/usr/local/bin/n master 'two words'\" nobody nogroup\n notify /bin/notify\n garp_master_delay 2\n garp_master_repeat 3\n garp_master_refresh 60\n garp_master_refresh_repeat 2\n v3_checksum_as_v2\n}\nvrrp_script s {\n script \"/bin/check --x\"\n interval 3\n timeout 4\n weight -5 reverse\n rise 2\n fall 3\n init_fail\n user nobody nogroup\n",
    ));
    assert!(d.is_empty(), "{d:?}");
    let i = &c.instances[0];
    assert_eq!(i.initial_state, Some(InitialState::Backup));
    assert_eq!(i.priority, 150);
    assert_eq!(i.advert_int, Duration::from_secs(3));
    assert!(!i.nopreempt);
    assert_eq!(i.preempt_delay, Some(Duration::from_millis(2500)));
    let (c2, d2) = parse(&inst(" nopreempt\n preempt_delay 5"));
    assert_eq!(d2.len(), 1);
    assert_eq!(d2[0].severity, Severity::Warning);
    assert_eq!(
        d2[0].to_string(),
        "(t.conf: Line 4) (vi) preempt_delay is incompatible with nopreempt mode - resetting"
    );
    assert!(c2.instances[0].nopreempt && c2.instances[0].preempt_delay.is_none());
    assert_eq!(i.auth, Some(Auth::Pass("secret".into())));
    assert_eq!(i.vips_excluded.len(), 2);
    assert_eq!(i.vips_excluded[0].prefix, 64);
    assert_eq!(i.vips_excluded[0].dev.as_deref(), Some("eth1"));
    assert_eq!(
        i.track_interfaces,
        [
            TrackIf {
                name: "eth1".into(),
                weight: Some(-20),
                reverse: false
            },
            TrackIf {
                name: "eth0".into(),
                weight: None,
                reverse: false
            }
        ]
    );
    assert_eq!(
        i.track_scripts,
        [TrackRef {
            name: "s".into(),
            weight: Some(10),
            reverse: true
        }]
    );
    assert!(i.dont_track_primary);
    assert_eq!(i.unicast_src_ip, Some("10.0.2.11".parse().unwrap()));
    assert_eq!(i.unicast_peers.len(), 2);
    let nm = i.notify_master.as_ref().unwrap();
    assert_eq!(nm.argv, ["/usr/local/bin/n", "master", "two words"]);
    assert_eq!(
        nm.user,
        Some(ScriptUser {
            user: "nobody".into(),
            group: Some("nogroup".into())
        })
    );
    assert_eq!(i.notify.as_ref().unwrap().argv, ["/bin/notify"]);
    assert_eq!(i.garp_master_delay, Duration::from_secs(2));
    assert_eq!(i.garp_master_repeat, 3);
    assert_eq!(i.garp_master_refresh, Some(Duration::from_secs(60)));
    assert_eq!(i.garp_master_refresh_repeat, 2);
    assert!(i.v3_checksum_as_v2);
    let s = &c.scripts[0];
    assert_eq!(s.script.argv, ["/bin/check", "--x"]);
    assert_eq!(s.interval, Duration::from_secs(3));
    assert_eq!(s.timeout, Some(Duration::from_secs(4)));
    assert_eq!(
        (s.weight, s.weight_reverse, s.rise, s.fall, s.init_fail),
        (-5, true, 2, 3, true)
    );
    assert_eq!(
        s.script.user,
        Some(ScriptUser {
            user: "nobody".into(),
            group: Some("nogroup".into())
        })
    );
}

#[test]
fn globals() {
    let (c, d) = parse(
        "global_defs {\n router_id lb1\n vrrp_version 3\n script_user nobody\n enable_script_security\n vrrp_garp_master_delay 1\n vrrp_garp_master_repeat 2\n vrrp_garp_master_refresh 30\n vrrp_garp_master_refresh_repeat 4\n vrrp_garp_interval 0.001\n vrrp_gna_interval 0.5\n vrrp_mcast_group4 224.0.0.19\n vrrp_mcast_group6 ff02::13\n vrrp_skip_check_adv_addr\n vrrp_check_unicast_src\n}\nvrrp_instance v {\n interface eth0\n virtual_router_id 1\n advert_int 0.5\n virtual_ipaddress { 10.0.0.1 }\n}\n",
    );
    assert!(d.is_empty(), "{d:?}");
    let g = &c.global;
    assert_eq!(g.router_id.as_deref(), Some("lb1"));
    assert_eq!(g.vrrp_version, 3);
    assert_eq!(
        g.script_user,
        Some(ScriptUser {
            user: "nobody".into(),
            group: None
        })
    );
    assert!(g.enable_script_security && g.vrrp_skip_check_adv_addr && g.vrrp_check_unicast_src);
    assert_eq!(g.vrrp_garp_interval, Duration::from_millis(1));
    assert_eq!(g.vrrp_gna_interval, Duration::from_millis(500));
    assert_eq!(g.vrrp_mcast_group4.to_string(), "224.0.0.19");
    assert_eq!(g.vrrp_mcast_group6.to_string(), "ff02::13");
    let i = &c.instances[0];
    assert_eq!(i.version, 3);
    assert_eq!(i.advert_int, Duration::from_millis(500));
    assert_eq!(
        (
            i.garp_master_delay,
            i.garp_master_repeat,
            i.garp_master_refresh,
            i.garp_master_refresh_repeat
        ),
        (Duration::from_secs(1), 2, Some(Duration::from_secs(30)), 4)
    );
    assert_has(
        &rejected("global_defs {\n script_user ghost\n}\n"),
        "Unknown user 'ghost'",
    );
    assert_has(
        &rejected("global_defs {\n vrrp_mcast_group4 10.0.0.1\n}\n"),
        "not an IPv4 multicast address",
    );
    assert_has(
        &rejected("global_defs {\n enable_script_security maybe\n}\n"),
        "Invalid value 'maybe'",
    );
    assert_has(
        &rejected("global_defs x {\n}\n"),
        "Unexpected 'x' after 'global_defs'",
    );
}

#[test]
fn advert_int_rules() {
    assert_has(
        &rejected(&inst(" advert_int 1.5")),
        "(t.conf: Line 10) (vi) VRRPv2 advertisement interval 1.500000s must be an integer",
    );
    let (c, d) = parse(&inst(" version 3\n advert_int 0.05"));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.instances[0].advert_int, Duration::from_millis(50));
    assert_has(
        &rejected(&inst(" version 3\n advert_int 0.015")),
        "multiple of 0.01s",
    );
    assert_has(
        &rejected(&inst(" version 3\n advert_int 41")),
        "at most 40.95s",
    );
}

#[test]
fn authentication() {
    let (c, d) = parse(&inst(
        " authentication {\n  auth_type PASS\n  auth_pass 123456789\n }",
    ));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Warning);
    assert_eq!(
        d[0].to_string(),
        "(t.conf: Line 12) Truncating auth_pass to 8 characters"
    );
    assert_eq!(c.instances[0].auth, Some(Auth::Pass("12345678".into())));
    assert_has(
        &rejected(&inst(" authentication {\n  auth_type PASS\n }")),
        "auth_type PASS without auth_pass",
    );
    assert_has(
        &rejected(&inst(" authentication {\n  auth_pass x\n }")),
        "auth_pass without auth_type",
    );
    assert_has(
        &rejected(&inst(" authentication {\n  auth_type FOO\n }")),
        "unknown authentication type 'FOO'",
    );
    assert_has(
        &rejected(&inst(
            " version 3\n authentication {\n  auth_type PASS\n  auth_pass x\n }",
        )),
        "authentication is not supported with VRRPv3",
    );
}

fn one_vip(entry: &str) -> (Config, Vec<Diagnostic>) {
    parse(&format!(
        "global_defs {{\n script_user nobody\n}}\nvrrp_instance vi {{\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {{\n  {entry}\n }}\n}}\n"
    ))
}

#[test]
fn vip_forms() {
    let (c, d) = one_vip("10.0.0.3/24 dev eth1 label eth1:1 scope link brd 10.0.0.255");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        c.instances[0].vips[0],
        Vip {
            addr: "10.0.0.3".parse().unwrap(),
            prefix: 24,
            dev: Some("eth1".into()),
            label: Some("eth1:1".into()),
            scope: Some(Scope::Link),
            brd: Some("10.0.0.255".parse().unwrap()),
        }
    );
    assert_eq!(Scope::Link.value(), 253);
    let (c, d) = one_vip("fd00::1");
    assert!(d.is_empty(), "{d:?}");
    let i = &c.instances[0];
    assert_eq!(
        (i.vips[0].prefix, i.family, i.version),
        (128, Family::V6, 3)
    );
    let (c, _) = one_vip("10.0.0.1 scope 200");
    assert_eq!(c.instances[0].vips[0].scope, Some(Scope::Other(200)));

    let bad = |e: &str| -> Vec<String> {
        let (_, d) = one_vip(e);
        assert!(d.iter().any(Diagnostic::rejects), "{e}: {d:?}");
        d.iter().map(|x| x.to_string()).collect()
    };
    assert_has(
        &bad("10.0.0.1/33"),
        "(t.conf: Line 8) number '33' outside range [0, 32]",
    );
    assert_has(&bad("10.0.0.1/x"), "invalid number 'x'");
    assert_has(
        &bad("bad.addr"),
        "VRRP parsed invalid IP bad.addr. skipping IP...",
    );
    assert_has(
        &bad("10.0.0.1 10.0.0.2"),
        "Unknown configuration entry '10.0.0.2' for ip address - ignoring",
    );
    assert_has(
        &bad("10.0.0.1 dev"),
        "missing a parameter after keyword `dev`",
    );
    assert_has(&bad("10.0.0.1 scope galaxy"), "Invalid scope 'galaxy'");
    assert_has(&bad("10.0.0.1 brd x"), "Invalid broadcast address 'x'");
    assert_has(&bad("fd00::1 brd 10.0.0.255"), "brd is only valid for IPv4");
    assert_has(
        &bad("10.0.0.1 nodad"),
        "Unsupported ip address option 'nodad'",
    );
    // Missing dev interface: warning only.
    let (_, d) = one_vip("10.0.0.1 dev eth7");
    assert_eq!(exit_code(&d), 5);
    assert!(!d.iter().any(Diagnostic::rejects));
    assert!(msgs(&inst("")).is_empty());
    // Mixed families.
    let (_, d) = parse(&inst(" virtual_ipaddress {\n  fd00::1\n }"));
    assert_has(
        &d.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
        "(t.conf: Line 11) (vi): address family must match VRRP instance [fd00::1] - ignoring",
    );
    assert_has(
        &rejected(
            &inst(" version 2\n virtual_ipaddress {\n  fd00::2\n }")
                .replace("10.0.2.100", "fd00::1"),
        ),
        "cannot use IPv6 with VRRP version 2",
    );
}

#[test]
fn unicast_peers() {
    let (c, d) = parse(&inst(" unicast_peer {\n  10.0.2.12\n }"));
    assert!(d.is_empty());
    assert_eq!(
        c.instances[0].unicast_peers,
        ["10.0.2.12".parse::<IpAddr>().unwrap()]
    );
    assert_has(
        &rejected(&inst(" unicast_peer {\n  fe80::2\n }")),
        "Configuration error: VRRP instance[vi] and unicast peer address[fe80::2] MUST be of the same family !!! Skipping...",
    );
    assert_has(
        &rejected(&inst(" unicast_peer {\n  bogus\n }")),
        "(t.conf: Line 11) Configuration error: VRRP instance[vi] malformed unicast peer address[bogus]. Skipping...",
    );
    assert_has(
        &rejected(&inst(" unicast_peer {\n  10.0.2.12 min_ttl 3\n }")),
        "Unsupported unicast_peer option 'min_ttl'",
    );
    assert_has(
        &rejected(&inst(" unicast_peer {\n  10.0.2.12 foo\n }")),
        "Unknown unicast_peer option 'foo'",
    );
    assert_has(
        &rejected(&inst(" unicast_peer {\n  10.0.2.12\n  10.0.2.12\n }")),
        "duplicate unicast peer",
    );
    assert_has(
        &rejected(&inst(" unicast_src_ip fe80::1")),
        "is not of the instance's address family",
    );
    assert_has(
        &rejected(&inst(" unicast_src_ip nope")),
        "Invalid source address 'nope'",
    );
}

#[test]
fn tracking_references() {
    assert_eq!(
        rejected(&inst(" track_script {\n  nonexist\n }")),
        ["(t.conf: Line 11) (vi) track script nonexist not found, ignoring..."]
    );
    assert_has(
        &rejected(&inst(" track_process {\n  p\n }")),
        "(vi) track process p not found, ignoring...",
    );
    assert_has(
        &rejected(&inst(" track_script {\n  s colour 3\n }")),
        "Unknown option 'colour'",
    );
    assert_has(
        &rejected(&inst(" track_script {\n  s weight\n }")),
        "missing a parameter after keyword `weight`",
    );
    assert_has(
        &rejected(&inst(" track_interface {\n  eth1 weight 300\n }")),
        "outside range [-254, 254]",
    );
    let (_, d) = parse(&inst(" track_interface {\n  eth8\n }"));
    assert!(!d.iter().any(Diagnostic::rejects));
    assert_eq!(exit_code(&d), 5);
}

#[test]
fn track_process_keywords() {
    let (c, d) = parse(&format!(
        "vrrp_track_process tp {{\n process proxyd -f /etc/x.cfg\n param_match initial\n weight -10 reverse\n quorum 2\n quorum_max 4\n delay 0.5\n fork_delay 2\n}}\nvrrp_track_process tq {{\n process proxyd\n terminate_delay 1\n}}\n{}",
        inst(" track_process {\n  tp\n  tq weight 5\n }")
    ));
    assert!(d.is_empty(), "{d:?}");
    let t = c.track_process("tp").unwrap();
    assert_eq!(t.process, "proxyd");
    assert_eq!(
        t.params,
        Some(vec!["-f".to_string(), "/etc/x.cfg".to_string()])
    );
    assert_eq!(t.param_match, ParamMatch::Initial);
    assert!(t.full_command);
    assert_eq!(
        (t.weight, t.weight_reverse, t.quorum, t.quorum_max),
        (-10, true, 2, Some(4))
    );
    assert_eq!(t.terminate_delay, Some(Duration::from_millis(500)));
    assert_eq!(t.fork_delay, Some(Duration::from_secs(2)));
    let q = c.track_process("tq").unwrap();
    assert_eq!(
        (q.params.clone(), q.full_command, q.quorum, q.quorum_max),
        (None, false, 1, None)
    );
    assert_eq!(
        (q.terminate_delay, q.fork_delay),
        (Some(Duration::from_secs(1)), None)
    );
    assert_eq!(c.instances[0].track_processes[1].weight, Some(5));
    assert_has(
        &rejected("vrrp_track_process t {\n weight 1\n}\n"),
        "track process 't' process name not specified",
    );
    assert_has(
        &rejected("vrrp_track_process t {\n process a\n quorum 3\n quorum_max 2\n}\n"),
        "quorum_max is less than quorum",
    );
    assert_has(
        &rejected("vrrp_track_process t {\n process a\n param_match weird\n}\n"),
        "Invalid param_match type weird",
    );
    assert_has(
        &rejected("vrrp_track_process t {\n process a\n process b\n}\n"),
        "Process already set",
    );
    assert_has(
        &rejected("vrrp_track_process t {\n process a\n delay 0\n}\n"),
        "outside range",
    );
    assert_has(
        &rejected("vrrp_track_process t {\n process a\n}\nvrrp_track_process t {\n process b\n}\n"),
        "vrrp_track_process t already defined",
    );
}

#[test]
fn scripts_and_security() {
    // script_user makes it secure enough for keepalived: no security error.
    let (_, d) = parse(&format!(
        "{}vrrp_script s {{\n script \"killall -0 proxyd\"\n}}\n",
        inst("")
    ));
    assert!(d.is_empty(), "{d:?}");
    // enable_script_security with no usable default user.
    assert_has(
        &rejected(
            "global_defs {\n enable_script_security\n}\nvrrp_script s {\n script /bin/true\n}\n",
        ),
        "(t.conf: Line 4) Unable to set default user for vrrp script s",
    );
    // ... unless keepalived_script exists.
    let (_, d) = parse_str(
        "t.conf",
        "global_defs {\n enable_script_security\n}\nvrrp_script s {\n script /bin/true\n}\n",
        &Fake {
            keepalived_script: true,
        },
    );
    assert!(d.is_empty(), "{d:?}");
    // Notify scripts running as root count too.
    let (_, d) = parse("vrrp_instance v {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n notify /bin/n\n}\n");
    assert_eq!(exit_code(&d), 6);
    // Only the first argument is the command, like keepalived.
    let (c, d) = parse(
        "global_defs {\n script_user nobody\n}\nvrrp_script s {\n script /bin/echo \"x y\" z\n}\n",
    );
    assert_eq!(c.scripts[0].script.argv, ["/bin/echo"]);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Note);
    assert_has(
        &rejected("vrrp_script s {\n interval 2\n}\n"),
        "(t.conf: Line 1) No script set for vrrp_script s - removing",
    );
    assert_has(
        &rejected("vrrp_script s {\n script \"echo 'x\"\n}\n"),
        "String 'echo 'x': missing terminating '",
    );
    assert_has(
        &rejected("vrrp_script s {\n script \"\"\n}\n"),
        "Empty command for 'script'",
    );
    assert_has(
        &rejected("vrrp_script s {\n script x\n user ghost\n}\n"),
        "Unknown user 'ghost'",
    );
    assert_has(
        &rejected("vrrp_script s {\n script x\n user root ghosts\n}\n"),
        "Unknown group 'ghosts'",
    );
    assert_has(
        &rejected("vrrp_script s {\n script x\n}\nvrrp_script s {\n script y\n}\n"),
        "vrrp_script s already defined",
    );
    assert_has(
        &rejected(&inst(" notify_master /bin/x ghost")),
        "Unknown user 'ghost'",
    );
    assert_has(
        &rejected(&inst(" notify_master /bin/x root root extra")),
        "Unexpected 'extra'",
    );
}

#[test]
fn sync_groups() {
    let two = format!(
        "{}vrrp_instance w {{\n interface eth1\n virtual_router_id 52\n virtual_ipaddress {{ 10.0.3.100 }}\n}}\n",
        inst("")
    );
    let (c, d) = parse(&format!("{two}vrrp_sync_group g {{\n group {{\n  vi\n  w\n }}\n notify_master /bin/m\n smtp_alert\n}}\n"));
    assert_eq!(exit_code(&d), 0, "{d:?}");
    assert_eq!(c.sync_groups[0].members, ["vi", "w"]);
    assert_eq!(c.sync_group_of("w").map(|g| g.name.as_str()), Some("g"));
    assert_eq!(
        c.sync_groups[0].notify_master.as_ref().unwrap().argv,
        ["/bin/m"]
    );
    assert_has(
        &rejected(&format!(
            "{two}vrrp_sync_group g {{\n group {{ vi zz }}\n}}\n"
        )),
        "Virtual router zz specified in sync group g doesn't exist - ignoring",
    );
    assert_has(
        &rejected(&format!("{two}vrrp_sync_group g {{\n group {{ vi w }}\n}}\nvrrp_sync_group h {{\n group {{ vi w }}\n}}\n")),
        "Virtual router vi cannot exist in more than one sync group",
    );
    assert_has(
        &rejected(&format!(
            "{two}vrrp_sync_group g {{\n group {{ vi vi w }}\n}}\n"
        )),
        "specified twice",
    );
    let (_, d) = parse(&format!("{two}vrrp_sync_group g {{\n group {{ vi }}\n}}\n"));
    assert!(!d.iter().any(Diagnostic::rejects));
    assert_has(
        &d.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
        "Sync group g has only 1 virtual router(s) - this probably isn't what you want",
    );
    assert_has(&rejected(&format!("{two}vrrp_sync_group g {{\n group {{ vi w }}\n}}\nvrrp_sync_group g {{\n group {{ }}\n}}\n")), "vrrp sync group g already defined");
}

static DIRS: AtomicU32 = AtomicU32::new(0);

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "vrrpd-cfg-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn includes_with_globs() {
    let t = TempDir::new();
    t.write("conf.d/b.conf", "vrrp_script sb {\n script /bin/true\n}\n");
    t.write(
        "conf.d/a.conf",
        "vrrp_script sa {\n script /bin/false\n bogus\n}\n",
    );
    t.write("conf.d/skip.txt", "garbage\n");
    t.write(
        "vi.inc",
        "vrrp_instance vi {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n  include vip.inc\n }\n}\n",
    );
    t.write("vip.inc", "10.0.0.7\n");
    let main = t.write(
        "keepalived.conf",
        "global_defs {\n script_user nobody\n}\ninclude conf.d/*.conf\ninclude vi.inc\ninclude nothere/*.conf\n",
    );
    let (c, d) = parse_file(&main, &FAKE);
    let names: Vec<&str> = c.scripts.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["sa", "sb"]);
    assert_eq!(c.instances[0].vips[0].addr.to_string(), "10.0.0.7");
    let rendered: Vec<String> = d.iter().map(|x| x.to_string()).collect();
    let a = t.0.join("conf.d/a.conf");
    assert_eq!(rendered.len(), 2, "{rendered:?}");
    assert_eq!(
        rendered[0],
        format!(
            "({}: Line 6) Config files missing 'nothere/*.conf'.",
            main.display()
        )
    );
    assert_eq!(
        rendered[1],
        format!("({}: Line 3) Unknown keyword 'bogus'", a.display())
    );
    assert_eq!(d[0].severity, Severity::Note);
    assert!(load_with(&main, &FAKE).is_err());

    // A missing include alone keeps exit status 0, as keepalived.
    let ok = t.write("ok.conf", "include none*.conf\n");
    assert_eq!(exit_code(&parse_file(&ok, &FAKE).1), 0);

    // Include loops stop at the depth limit with an error.
    let lp = t.write("loop.conf", "include loop.conf\n");
    let (_, d) = parse_file(&lp, &FAKE);
    assert!(
        d.iter()
            .any(|x| x.rejects() && x.message.contains("nesting deeper than 8 levels")),
        "{d:?}"
    );
}

#[test]
fn missing_file_is_fatal() {
    let (_, d) = parse_file(std::path::Path::new("/nonexistent/keepalived.conf"), &FAKE);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Fatal);
    assert!(d[0]
        .message
        .starts_with("Configuration file '/nonexistent/keepalived.conf' could not be read"));
    assert_eq!(exit_code(&d), 4);
}

#[test]
fn run_check_output_and_status() {
    let t = TempDir::new();
    let f = t.write("k.conf", "global_defs {\n bogus_keyword 3\n}\n");
    let mut out = Vec::new();
    let rc = check::run_check_with(&f, &FAKE, &mut out);
    assert_eq!(rc, 5);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "({}: Line 2) Unknown keyword 'bogus_keyword'\n",
            f.display()
        )
    );
    let g = t.write("g.conf", &inst(""));
    let mut out = Vec::new();
    assert_eq!(check::run_check_with(&g, &FAKE, &mut out), 0);
    assert!(out.is_empty());
    let loaded = load_with(&g, &FAKE).unwrap();
    assert_eq!(loaded.config.instances.len(), 1);
}

#[test]
fn decimal_parsing() {
    use super::parse::parse_decimal_us;
    assert_eq!(parse_decimal_us("1"), Some(1_000_000));
    assert_eq!(parse_decimal_us("0.01"), Some(10_000));
    assert_eq!(parse_decimal_us(".5"), Some(500_000));
    assert_eq!(parse_decimal_us("2."), Some(2_000_000));
    assert_eq!(parse_decimal_us("1.0000001"), None);
    assert_eq!(parse_decimal_us("-1"), None);
    assert_eq!(parse_decimal_us("."), None);
    assert_eq!(parse_decimal_us("1e3"), None);
}

#[test]
fn script_lines_are_reread_like_keepalived() {
    let argv = |line: &str| -> Vec<String> {
        let (c, d) = parse(&format!(
            "global_defs {{\n script_user nobody\n}}\nvrrp_script s {{\n{line}\n}}\n"
        ));
        assert!(!d.iter().any(Diagnostic::rejects), "{line}: {d:?}");
        c.scripts[0].script.argv.clone()
    };
    assert_eq!(argv(" script '/bin/echo a'"), ["/bin/echo", "a"]);
    assert_eq!(argv(r#" script "/bin/echo \"a b\"""#), ["/bin/echo", "a b"]);
    assert_eq!(
        argv(r#" script "/bin/x\x41 a\tb" # comment"#),
        ["/bin/xA", "a", "b"]
    );
    assert_eq!(argv(" script /bin/plain"), ["/bin/plain"]);
    let (c, d) =
        parse("global_defs { script_user nobody }\nvrrp_script s { script \"killall -0 x\" }\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.scripts[0].script.argv, ["killall", "-0", "x"]);
    let (c, _) = parse(&inst(" notify_master \"/bin/n 'a b'\" nobody nogroup }\n{"));
    let n = c.instances[0]
        .notify_master
        .as_ref()
        .expect("notify_master");
    assert_eq!(n.argv, ["/bin/n", "a b"]);
    assert_eq!(
        n.user,
        Some(ScriptUser {
            user: "nobody".into(),
            group: Some("nogroup".into())
        })
    );
    assert_has(
        &rejected("vrrp_script s {\n script '/bin/x\n}\n"),
        "missing terminating '",
    );
}

#[test]
fn unsupported_blocks_get_one_message() {
    let m = rejected(&format!(
        "{}vrrp_sync_group g {{\n group {{\n  vi\n }}\n track_interface {{\n  eth1\n }}\n}}\n",
        inst("")
    ));
    assert!(!has(&m, "Unexpected '{'"), "{m:?}");
    assert_has(&m, "Unsupported keyword 'track_interface'");
    // A rejected VIP is not also reported as "no VIP".
    let (_, d) = one_vip("fd00::1 -nodad");
    assert_eq!(d.len(), 1, "{d:?}");
}

#[test]
fn security_needs_an_instance_like_keepalived() {
    let (_, d) = parse("vrrp_script s {\n script /bin/true\n}\n");
    assert_eq!(exit_code(&d), 0, "{d:?}");
    let (_, d) = parse(&format!(
        "vrrp_script s {{\n script /bin/true\n}}\n{}",
        inst("").replace(" script_user nobody\n", "")
    ));
    assert_eq!(exit_code(&d), 6, "{d:?}");
}

#[test]
fn lower_and_higher_prio_keywords() {
    // Globals are the instances' defaults; an instance overrides them.
    let (c, d) = parse(
        "global_defs {\n vrrp_garp_lower_prio_delay 2\n vrrp_garp_lower_prio_repeat 3\n vrrp_lower_prio_no_advert\n vrrp_higher_prio_send_advert true\n}\nvrrp_instance a {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n}\nvrrp_instance b {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress { 10.0.0.2 }\n garp_lower_prio_delay 0\n garp_lower_prio_repeat 0\n lower_prio_no_advert off\n higher_prio_send_advert false\n}\n",
    );
    assert!(d.is_empty(), "{d:?}");
    let a = &c.instances[0];
    assert_eq!(a.garp_lower_prio_delay, Some(Duration::from_secs(2)));
    assert_eq!(a.garp_lower_prio_repeat, Some(3));
    assert!(a.lower_prio_no_advert && a.higher_prio_send_advert);
    let b = &c.instances[1];
    assert_eq!(b.garp_lower_prio_delay, Some(Duration::ZERO));
    assert_eq!(b.garp_lower_prio_repeat, Some(0));
    assert!(!b.lower_prio_no_advert && !b.higher_prio_send_advert);
    // Unset: None (the garp_master_* values apply).
    let (c, _) = parse(
        "vrrp_instance a {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n}\n",
    );
    let a = &c.instances[0];
    assert_eq!(
        (a.garp_lower_prio_delay, a.garp_lower_prio_repeat),
        (None, None)
    );
    assert!(!a.lower_prio_no_advert && !a.higher_prio_send_advert);
    assert_has(
        &rejected("vrrp_instance a {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n lower_prio_no_advert maybe\n}\n"),
        "Invalid value 'maybe' for 'lower_prio_no_advert'",
    );
}

#[test]
fn weighted_tracking_ignored_in_sync_groups() {
    // As keepalived 2.2.7: "(a) ignoring tracked script chk with weights due
    // to SYNC group"; weight-0 tracking stays.
    let (c, d) = parse(
        "global_defs {\n script_user nobody\n}\nvrrp_script chk {\n script \"/bin/true\"\n weight -20\n}\nvrrp_script must {\n script \"/bin/true\"\n}\nvrrp_instance a {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n track_script {\n  chk\n  must\n }\n track_interface {\n  eth1 weight 5\n  eth2\n }\n}\nvrrp_instance b {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress { 10.0.0.2 }\n track_script {\n  must weight 3\n }\n}\nvrrp_instance c {\n interface eth0\n virtual_router_id 3\n virtual_ipaddress { 10.0.0.3 }\n track_script {\n  chk\n }\n}\nvrrp_sync_group G {\n group {\n  a\n  b\n }\n}\n",
    );
    assert!(!d.iter().any(Diagnostic::rejects), "{d:?}");
    let m: Vec<String> = d.iter().map(|x| x.to_string()).collect();
    assert_has(
        &m,
        "(a) ignoring tracked script chk with weights due to SYNC group",
    );
    assert_has(
        &m,
        "(a) ignoring tracked interface eth1 with weights due to SYNC group",
    );
    assert_has(
        &m,
        "(b) ignoring tracked script must with weights due to SYNC group",
    );
    let names = |i: usize| -> Vec<String> {
        c.instances[i]
            .track_scripts
            .iter()
            .map(|t| t.name.clone())
            .collect()
    };
    assert_eq!(names(0), ["must"]);
    assert!(names(1).is_empty());
    // Not in a group: untouched.
    assert_eq!(names(2), ["chk"]);
    let ifs: Vec<&str> = c.instances[0]
        .track_interfaces
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(ifs, ["eth2"]);
}

/// `router_id "abc` (a quote never closed): keepalived 2.2.7 prints both
/// lines and `-t` exits 5; vrrpd gave 0.
#[test]
fn unterminated_quote_fails_the_check_as_keepalived() {
    let t = TempDir::new();
    let f = t.write("q.conf", "global_defs {\n    router_id \"abc\n}\n");
    let mut out = Vec::new();
    let rc = check::run_check_with(&f, &FAKE, &mut out);
    assert_eq!(rc, 5);
    let out = String::from_utf8(out).unwrap();
    let name = f.display();
    assert!(
        out.starts_with(&format!(
            "({name}: Line 2) Unterminated quote 'router_id \"abc'\n({name}: Line 2) Unmatched quote: 'router_id \"abc'\n"
        )),
        "{out}"
    );
}
