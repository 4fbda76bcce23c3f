//! vrrpd against vrrpd in network namespaces (run as root).

mod util;

use std::time::Duration;

use util::*;

const T: Duration = Duration::from_secs(15);

fn master_of(lab: &Lab) -> Vec<usize> {
    lab.holders(VIP)
}

/// Wait until node `node` alone holds the VIP; on failure show the logs
/// of `ds`.
fn expect_master(lab: &Lab, node: usize, ds: &[&Daemon]) {
    assert!(
        wait(T, || master_of(lab) == vec![node]),
        "{}",
        dump_logs(ds)
    );
}

#[test]
fn two_nodes_one_master_and_sigterm_failover() {
    let lab = Lab::new("basic", 2);
    let mut a = lab.vrrpd(0, &format!("{GLOBAL}{}", v2("vif1", "MASTER", 150, "")));
    let mut b = lab.vrrpd(1, &format!("{GLOBAL}{}", v2("vif1", "BACKUP", 100, "")));
    assert!(
        a.wait_log("(vif1) Entering MASTER STATE", 1, T),
        "{}",
        dump_logs(&[&a, &b])
    );
    assert!(b.wait_log("(vif1) Entering BACKUP STATE", 1, T));
    // Steady state: exactly one master, the VIP only there.
    expect_master(&lab, 0, &[&a, &b]);
    // (b may have been master for a moment if a started late: count from
    // the steady state on.)
    let b_masters = b.count("Entering MASTER STATE");
    assert!(holds_for(Duration::from_secs(3), || master_of(&lab) == vec![0]));
    assert_eq!(
        b.count("Entering MASTER STATE"),
        b_masters,
        "{}",
        dump_logs(&[&a, &b])
    );
    // Dumps.
    let data = a.dump_file(libc::SIGUSR1, "vrrpd.data");
    assert!(data.contains("State = MASTER"), "{data}");
    let json = a.dump_file(libc::SIGUSR1, "vrrpd.json");
    assert!(json.contains("\"state\": \"MASTER\""), "{json}");
    let stats = b.dump_file(libc::SIGUSR2, "vrrpd.stats");
    assert!(stats.contains("Received:"), "{stats}");
    // SIGTERM of the master: priority 0, VIP removed, exit 0; b takes over.
    let st = a.stop().expect("exit status");
    assert!(st.success(), "{st:?}\n{}", dump_logs(&[&a]));
    assert!(!lab.has(0, VIP));
    assert!(
        b.wait_log("(vif1) Entering MASTER STATE", b_masters + 1, T),
        "{}",
        dump_logs(&[&a, &b])
    );
    assert!(b
        .log_text()
        .contains("Backup received priority 0 advertisement"));
    assert!(wait(T, || master_of(&lab) == vec![1]));
    assert!(b.stop().expect("exit").success());
    assert!(lab.holders(VIP).is_empty());
    if std::env::var_os("VRRPD_TEST_LOGS").is_some() {
        eprintln!("{}", dump_logs(&[&a, &b]));
    }
}

/// Start a then b (a wins on priority); wait for steady state.
fn pair(lab: &Lab, ca: &str, cb: &str) -> (Daemon, Daemon) {
    let a = lab.vrrpd(0, &format!("{GLOBAL}{ca}"));
    let b = lab.vrrpd(1, &format!("{GLOBAL}{cb}"));
    (a, b)
}

#[test]
fn tracked_script_failure_moves_vip() {
    let lab = Lab::new("script", 2);
    let fa = lab.write("ok-a", "");
    let fb = lab.write("ok-b", "");
    let script = |f: &std::path::Path| {
        format!(
            "vrrp_script chk_proxyd {{\n    script \"/usr/bin/test -f {}\"\n    interval 1\n    weight 2\n    fall 1\n    rise 1\n}}\n",
            f.display()
        )
    };
    let track = "    track_script {\n        chk_proxyd\n    }\n";
    let (a, b) = pair(
        &lab,
        &format!("{}{}", script(&fa), v2("vif1", "MASTER", 101, track)),
        &format!("{}{}", script(&fb), v2("vif1", "BACKUP", 100, track)),
    );
    assert!(a.wait_log("VRRP_Script(chk_proxyd) succeeded", 1, T));
    expect_master(&lab, 0, &[&a, &b]);
    assert!(a.wait_log("(vif1) Changing effective priority from 101 to 103", 1, T));
    std::fs::remove_file(&fa).unwrap();
    assert!(
        a.wait_log(
            "VRRP_Script(chk_proxyd) failed (exited with status 1)",
            1,
            T
        ),
        "{}",
        dump_logs(&[&a])
    );
    assert!(a.wait_log("(vif1) Changing effective priority from 103 to 101", 1, T));
    expect_master(&lab, 1, &[&a, &b]);
    assert!(a.wait_log("(vif1) Entering BACKUP STATE", 1, T));
}

#[test]
fn tracked_process_death_moves_vip_even_as_zombie() {
    let lab = Lab::new("proc", 2);
    let name = format!("vtproc{}", std::process::id());
    let tp = format!("vrrp_track_process trk {{\n    process {name}\n    weight 0\n}}\n");
    let track = "    track_process {\n        trk\n    }\n";
    // A dummy process with a unique argv[0], started (and reaped) by us.
    let mut dummy = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("exec -a {name} sleep 300"))
        .spawn()
        .unwrap();
    let (a, b) = pair(
        &lab,
        &format!("{tp}{}", v2("vif1", "MASTER", 150, track)),
        &v2("vif1", "BACKUP", 100, ""),
    );
    expect_master(&lab, 0, &[&a, &b]);
    // Kill it but do not reap yet: a zombie must count as dead.
    dummy.kill().unwrap();
    assert!(
        a.wait_log("(vif1) Entering FAULT STATE", 1, T),
        "{}",
        dump_logs(&[&a, &b])
    );
    assert!(wait(T, || master_of(&lab) == vec![1]));
    dummy.wait().unwrap();
    // A new process of that name: back to BACKUP, then MASTER (preempt).
    let mut again = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("exec -a {name} sleep 300"))
        .spawn()
        .unwrap();
    expect_master(&lab, 0, &[&a, &b]);
    let _ = again.kill();
    let _ = again.wait();
}

#[test]
fn link_down_is_fault_and_vip_moves() {
    let lab = Lab::new("link", 2);
    let (a, b) = pair(
        &lab,
        &v2("vif1", "MASTER", 150, ""),
        &v2("vif1", "BACKUP", 100, ""),
    );
    expect_master(&lab, 0, &[&a, &b]);
    netns::link_down(&lab.nodes[0], "eth0").unwrap();
    assert!(
        a.wait_log("Netlink reports eth0 down", 1, T),
        "{}",
        dump_logs(&[&a])
    );
    assert!(a.wait_log("(vif1) Entering FAULT STATE", 1, T));
    expect_master(&lab, 1, &[&a, &b]);
    netns::link_up(&lab.nodes[0], "eth0").unwrap();
    assert!(
        a.wait_log("Netlink reports eth0 up", 1, T),
        "{}",
        dump_logs(&[&a])
    );
    expect_master(&lab, 0, &[&a, &b]);
}

fn preempt_case(extra: &str, expect_takeover: bool) {
    let lab = Lab::new("preempt", 2);
    // b (low priority) first: it becomes master alone.
    let b = lab.vrrpd(1, &format!("{GLOBAL}{}", v2("vif1", "BACKUP", 100, "")));
    assert!(b.wait_log("(vif1) Entering MASTER STATE", 1, T));
    let a = lab.vrrpd(0, &format!("{GLOBAL}{}", v2("vif1", "BACKUP", 150, extra)));
    assert!(a.wait_log("(vif1) Entering BACKUP STATE (init)", 1, T));
    if expect_takeover {
        expect_master(&lab, 0, &[&a, &b]);
        assert!(b.wait_log("(vif1) Entering BACKUP STATE", 2, T));
    } else {
        assert!(
            holds_for(Duration::from_secs(5), || master_of(&lab) == vec![1]),
            "{}",
            dump_logs(&[&a, &b])
        );
        assert_eq!(a.count("Entering MASTER STATE"), 0);
    }
}

#[test]
fn preempt_higher_priority_takes_over() {
    preempt_case("", true);
}

#[test]
fn nopreempt_keeps_current_master() {
    preempt_case("    nopreempt\n", false);
}

#[test]
fn preempt_delay_postpones_takeover() {
    let lab = Lab::new("pdelay", 2);
    let b = lab.vrrpd(1, &format!("{GLOBAL}{}", v2("vif1", "BACKUP", 100, "")));
    assert!(b.wait_log("(vif1) Entering MASTER STATE", 1, T));
    let a = lab.vrrpd(
        0,
        &format!(
            "{GLOBAL}{}",
            v2("vif1", "BACKUP", 150, "    preempt_delay 4\n")
        ),
    );
    assert!(a.wait_log("(vif1) Entering BACKUP STATE (init)", 1, T));
    // Not before the delay (4 s from the first lower-priority advert)...
    assert!(holds_for(Duration::from_secs(2), || master_of(&lab) == vec![1]));
    // ...but after it.
    expect_master(&lab, 0, &[&a, &b]);
}

#[test]
fn pass_auth_mismatch_drops_adverts() {
    let lab = Lab::new("auth", 2);
    let other = v2("vif1", "BACKUP", 100, "").replace("s3cret", "other");
    let (mut a, b) = pair(&lab, &v2("vif1", "MASTER", 150, ""), &other);
    // Each drops the other's adverts: both end up master (as keepalived).
    assert!(
        wait(T, || master_of(&lab) == vec![0, 1]),
        "{}",
        dump_logs(&[&a, &b])
    );
    assert!(
        a.wait_log("received an invalid passwd!", 1, T),
        "{}",
        dump_logs(&[&a])
    );
    let stats = a.dump_file(libc::SIGUSR2, "vrrpd.stats");
    assert!(stats.contains("auth_failure:"), "{stats}");
}

#[test]
fn v3_ipv4_fast_failover() {
    let lab = Lab::new("v3", 2);
    let inst = |state: &str, prio: u8| {
        Inst {
            name: "v3i",
            state,
            prio,
            vrid: 61,
            extra: "    version 3\n    advert_int 0.1\n".into(),
        }
        .render()
    };
    let (mut a, b) = pair(&lab, &inst("MASTER", 150), &inst("BACKUP", 100));
    expect_master(&lab, 0, &[&a, &b]);
    assert!(holds_for(Duration::from_secs(2), || master_of(&lab) == vec![0]));
    assert!(a.stop().expect("exit").success());
    expect_master(&lab, 1, &[&a, &b]);
}

#[test]
fn v3_ipv6() {
    let lab = Lab::new("v6", 2);
    let vip6 = "fd77::100";
    let inst = |state: &str, prio: u8| {
        format!(
            "vrrp_instance v6i {{\n    interface eth0\n    state {state}\n    priority {prio}\n    virtual_router_id 62\n    version 3\n    advert_int 0.2\n    virtual_ipaddress {{\n        {vip6}/64\n    }}\n}}\n"
        )
    };
    let (mut a, b) = pair(&lab, &inst("MASTER", 150), &inst("BACKUP", 100));
    let holders = |lab: &Lab| lab.holders(vip6);
    assert!(
        wait(T, || holders(&lab) == vec![0]),
        "{}",
        dump_logs(&[&a, &b])
    );
    assert!(holds_for(Duration::from_secs(2), || holders(&lab) == vec![0]));
    assert!(a.stop().expect("exit").success());
    assert!(
        wait(T, || holders(&lab) == vec![1]),
        "{}",
        dump_logs(&[&a, &b])
    );
}

#[test]
fn unicast_peers() {
    let lab = Lab::new("ucast", 2);
    let uc = |me: usize, peer: usize| {
        format!(
            "    unicast_src_ip {}\n    unicast_peer {{\n        {}\n    }}\n",
            node_ip(me),
            node_ip(peer)
        )
    };
    let (mut a, b) = pair(
        &lab,
        &v2("vif1", "MASTER", 150, &uc(0, 1)),
        &v2("vif1", "BACKUP", 100, &uc(1, 0)),
    );
    expect_master(&lab, 0, &[&a, &b]);
    assert!(holds_for(Duration::from_secs(3), || master_of(&lab) == vec![0]));
    assert!(a.stop().expect("exit").success());
    expect_master(&lab, 1, &[&a, &b]);
}

#[test]
fn reload_keeps_unchanged_and_rejects_bad() {
    let lab = Lab::new("reload", 1);
    let one = v2("vif1", "MASTER", 150, "");
    let two = Inst {
        name: "vif2",
        state: "BACKUP",
        prio: 100,
        vrid: 52,
        extra: "    advert_int 1\n".into(),
    }
    .render()
    .replace(VIP, "10.77.0.101");
    let mut a = lab.vrrpd(0, &format!("{GLOBAL}{one}"));
    assert!(a.wait_log("(vif1) Entering MASTER STATE", 1, T));
    assert!(wait(T, || lab.has(0, VIP)));
    let conf = a.log.with_extension("conf");
    // Bad file: logged, nothing changes.
    std::fs::write(&conf, format!("{GLOBAL}{one}bogus_keyword\n")).unwrap();
    a.signal(libc::SIGHUP);
    assert!(a.wait_log("Reload failed", 1, T), "{}", dump_logs(&[&a]));
    assert!(lab.has(0, VIP));
    // Add an instance: vif1 keeps its state (no new transition).
    std::fs::write(&conf, format!("{GLOBAL}{one}{two}")).unwrap();
    a.signal(libc::SIGHUP);
    assert!(a.wait_log("Reload finished", 1, T));
    assert!(
        a.wait_log("(vif2) Entering MASTER STATE", 1, T),
        "{}",
        dump_logs(&[&a])
    );
    assert_eq!(a.count("(vif1) Entering"), 2, "{}", dump_logs(&[&a]));
    assert!(lab.has(0, VIP) && lab.has(0, "10.77.0.101"));
    // Remove vif2: it stops cleanly and its VIP goes.
    std::fs::write(&conf, format!("{GLOBAL}{one}")).unwrap();
    a.signal(libc::SIGHUP);
    assert!(a.wait_log("Reload finished", 2, T));
    assert!(wait(T, || !lab.has(0, "10.77.0.101")));
    assert!(lab.has(0, VIP));
    assert_eq!(a.count("(vif1) Entering"), 2, "{}", dump_logs(&[&a]));
    // Change vif1's priority and VIPs: applied in place (no transition,
    // the kept VIP never goes away, the new one is added).
    let changed = one.replace("priority 150", "priority 140").replace(
        &format!("        {VIP}\n"),
        &format!("        {VIP}\n        10.77.0.102\n"),
    );
    std::fs::write(&conf, format!("{GLOBAL}{changed}")).unwrap();
    a.signal(libc::SIGHUP);
    assert!(a.wait_log("Reload finished", 3, T));
    assert!(
        a.wait_log("(vif1) Changing effective priority from 150 to 140", 1, T),
        "{}",
        dump_logs(&[&a])
    );
    assert!(
        wait(T, || lab.has(0, "10.77.0.102")),
        "{}",
        dump_logs(&[&a])
    );
    assert!(lab.has(0, VIP));
    assert_eq!(a.count("(vif1) Entering"), 2, "{}", dump_logs(&[&a]));
    // A new VRID is another router: vif1 restarts.
    std::fs::write(
        &conf,
        format!(
            "{GLOBAL}{}",
            changed.replace("virtual_router_id 51", "virtual_router_id 53")
        ),
    )
    .unwrap();
    a.signal(libc::SIGHUP);
    assert!(a.wait_log("Reload finished", 4, T));
    assert!(
        a.wait_log("(vif1) Entering MASTER STATE", 2, T),
        "{}",
        dump_logs(&[&a])
    );
    assert!(wait(T, || lab.has(0, VIP) && lab.has(0, "10.77.0.102")));
}

/// Send raw VRRP payloads from the switch namespace (10.77.0.9).
fn send_raw(lab: &Lab, packets: Vec<(Vec<u8>, u32)>) {
    lab.sw
        .run_in(move || {
            use socket2::{Domain, Protocol, SockAddr, Socket, Type};
            let src: std::net::Ipv4Addr = SW_IP.parse().unwrap();
            let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).unwrap();
            s.set_multicast_if_v4(&src).unwrap();
            s.bind(&SockAddr::from(std::net::SocketAddrV4::new(src, 0)))
                .unwrap();
            let dst = SockAddr::from(std::net::SocketAddrV4::new(
                std::net::Ipv4Addr::new(224, 0, 0, 18),
                0,
            ));
            for (p, ttl) in packets {
                s.set_multicast_ttl_v4(ttl).unwrap();
                s.send_to(&p, &dst).unwrap();
            }
        })
        .unwrap();
}

#[test]
fn hostile_packets_change_nothing() {
    use vrrpd::packet::{encode, Advert, Auth, Options, Version};
    let lab = Lab::new("hostile", 1);
    let mut a = lab.vrrpd(0, &format!("{GLOBAL}{}", v2("vif1", "MASTER", 100, "")));
    assert!(a.wait_log("(vif1) Entering MASTER STATE", 1, T));
    let src: std::net::IpAddr = SW_IP.parse().unwrap();
    let dst: std::net::IpAddr = "224.0.0.18".parse().unwrap();
    let vip: std::net::IpAddr = VIP.parse().unwrap();
    let good = Advert {
        version: Version::V2,
        vrid: 51,
        priority: 254,
        interval_cs: 100,
        auth: Auth::pass(b"s3cret"),
        addrs: vec![vip],
    };
    let enc = |a: &Advert| encode(a, src, dst, &Options::default()).unwrap();
    let valid = enc(&good);
    let mut bad_sum = valid.clone();
    bad_sum[6] ^= 0xff;
    let mut long = valid.clone();
    long.extend_from_slice(&[0, 0, 0, 0]);
    let mut bad_type = valid.clone();
    bad_type[0] = 0x22;
    let packets = vec![
        (valid.clone(), 1), // TTL 1
        (bad_sum, 255),     // checksum
        (
            enc(&Advert {
                auth: Auth::pass(b"wrong"),
                ..good.clone()
            }),
            255,
        ), // auth
        (
            enc(&Advert {
                auth: Auth::None,
                ..good.clone()
            }),
            255,
        ), // auth type
        (
            enc(&Advert {
                vrid: 52,
                ..good.clone()
            }),
            255,
        ), // other VRID
        (
            enc(&Advert {
                addrs: vec![vip, "10.77.0.101".parse().unwrap()],
                ..good.clone()
            }),
            255,
        ), // address count
        (
            enc(&Advert {
                addrs: vec!["10.77.0.102".parse().unwrap()],
                ..good.clone()
            }),
            255,
        ), // address list
        (long, 255),        // length
        (valid[..6].to_vec(), 255), // truncated
        (bad_type, 255),    // type
        (
            enc(&Advert {
                interval_cs: 200,
                ..good.clone()
            }),
            255,
        ), // interval
    ];
    for _ in 0..3 {
        send_raw(&lab, packets.clone());
    }
    assert!(
        holds_for(Duration::from_secs(2), || lab.has(0, VIP)),
        "{}",
        dump_logs(&[&a])
    );
    assert_eq!(a.count("Entering BACKUP STATE"), 1, "{}", dump_logs(&[&a]));
    let stats = a.dump_file(libc::SIGUSR2, "vrrpd.stats");
    for k in [
        "bad_ttl",
        "bad_checksum",
        "auth_failure",
        "auth_type_mismatch",
        "addr_count_mismatch",
        "addr_missing",
        "length_mismatch",
        "truncated",
        "bad_type",
        "interval_mismatch",
    ] {
        assert!(stats.contains(&format!("{k}: 3")), "{k}\n{stats}");
    }
    assert!(stats.contains("Other VRIDs: 3"), "{stats}");
    // Control: the valid packet does make the master step down.
    send_raw(&lab, vec![(valid, 255)]);
    assert!(
        a.wait_log("(vif1) Entering BACKUP STATE", 2, T),
        "{}",
        dump_logs(&[&a])
    );
}

#[test]
fn notify_scripts_get_keepalived_arguments() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::new("notify", 1);
    let out = lab.dir.path().join("notify.out");
    let script = lab.write(
        "notify.sh",
        &format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display()),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let extra = format!(
        "    notify {s}\n    notify_master \"{s} master-only\"\n",
        s = script.display()
    );
    let mut a = lab.vrrpd(0, &format!("{GLOBAL}{}", v2("vif1", "BACKUP", 150, &extra)));
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        wait(T, || read().contains("INSTANCE vif1 MASTER 150")
            && read().contains("master-only")),
        "{}\n{}",
        read(),
        dump_logs(&[&a])
    );
    assert!(read().contains("INSTANCE vif1 BACKUP 150"), "{}", read());
    assert!(a.stop().expect("exit").success());
    assert!(
        wait(T, || read().contains("INSTANCE vif1 STOP")),
        "{}",
        read()
    );
}

/// `vrrp_notify_fifo`: the FIFO is created, gets keepalived's lines in
/// order (BACKUP at start, MASTER, STOP at exit) and is removed at exit.
#[test]
fn notify_fifo_gets_keepalived_lines() {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let lab = Lab::new("fifo", 1);
    let fifo = lab.dir.path().join("notify.fifo");
    let global = GLOBAL.replace(
        "router_id test\n",
        &format!("router_id test\n    vrrp_notify_fifo {}\n", fifo.display()),
    );
    let mut a = lab.vrrpd(0, &format!("{global}{}", v2("vif1", "BACKUP", 150, "")));
    assert!(wait(T, || fifo.exists()), "{}", dump_logs(&[&a]));
    // read-write: opening does not wait for the writer, reads do not see
    // EOF when it closes
    let mut r = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let mut got = String::new();
    let mut read = |got: &mut String| {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        got.clone()
    };
    assert!(
        wait(T, || read(&mut got)
            .contains("INSTANCE \"vif1\" MASTER 150\n")),
        "{got}\n{}",
        dump_logs(&[&a])
    );
    assert!(a.stop().expect("exit").success());
    let all = read(&mut got);
    assert_eq!(
        all,
        "INSTANCE \"vif1\" BACKUP 150\nINSTANCE \"vif1\" MASTER 150\nINSTANCE \"vif1\" STOP 150\n",
        "{}",
        dump_logs(&[&a])
    );
    assert!(!fifo.exists(), "the FIFO vrrpd created is removed at exit");
}

#[test]
fn sync_group_fault_takes_all_members_down() {
    let lab = Lab::new("sync", 2);
    let name = format!("vtsync{}", std::process::id());
    let mut dummy = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("exec -a {name} sleep 300"))
        .spawn()
        .unwrap();
    let vip2 = "10.77.0.101";
    let conf = |prio: u8, track: bool| {
        let tp = format!("vrrp_track_process trk {{\n    process {name}\n    weight 0\n}}\n");
        let t = if track {
            "    track_process {\n        trk\n    }\n"
        } else {
            ""
        };
        let two = Inst {
            name: "vif2",
            state: "BACKUP",
            prio,
            vrid: 52,
            extra: format!("    advert_int 1\n{t}"),
        }
        .render()
        .replace(VIP, vip2);
        format!(
            "{GLOBAL}{tp}{}{two}vrrp_sync_group G1 {{\n    group {{\n        vif1\n        vif2\n    }}\n}}\n",
            v2("vif1", "BACKUP", prio, "")
        )
    };
    let a = lab.vrrpd(0, &conf(150, true));
    let b = lab.vrrpd(1, &conf(100, false));
    assert!(
        wait(T, || lab.holders(VIP) == vec![0]
            && lab.holders(vip2) == vec![0]),
        "{}",
        dump_logs(&[&a, &b])
    );
    dummy.kill().unwrap();
    dummy.wait().unwrap();
    assert!(
        a.wait_log("VRRP_Group(G1) Syncing instances to FAULT state", 1, T),
        "{}",
        dump_logs(&[&a])
    );
    assert!(
        wait(T, || lab.holders(VIP) == vec![1]
            && lab.holders(vip2) == vec![1]),
        "{}",
        dump_logs(&[&a, &b])
    );
    assert!(a.log_text().contains("(vif1) Entering FAULT STATE"));
}

/// The seed's setup: `killall -0 NAME` with interval 2 / weight 2 on both
/// nodes; each node's proxy has its own process name (killall sees the whole
/// machine).
#[test]
fn seed_killall_check_moves_vip() {
    let lab = Lab::new("seed", 2);
    let pid = std::process::id();
    let names = [format!("vtpxa{pid}"), format!("vtpxb{pid}")];
    let mut proxies: Vec<std::process::Child> = names
        .iter()
        .map(|n| {
            // A copy of sleep under that name: killall compares comm.
            let bin = lab.dir.path().join(n);
            std::fs::copy("/bin/sleep", &bin).unwrap();
            std::process::Command::new(&bin).arg("300").spawn().unwrap()
        })
        .collect();
    let conf = |name: &str, state: &str, prio: u8| {
        format!(
            "vrrp_script chk_proxyd {{\n    script \"killall -0 {name}\"\n    interval 2\n    weight 2\n}}\n{}",
            Inst {
                name: "vif1",
                state,
                prio,
                vrid: 51,
                extra: "    track_script {\n        chk_proxyd\n    }\n".into(),
            }
            .render()
        )
    };
    let a = lab.vrrpd(0, &format!("{GLOBAL}{}", conf(&names[0], "MASTER", 101)));
    let b = lab.vrrpd(1, &format!("{GLOBAL}{}", conf(&names[1], "BACKUP", 100)));
    assert!(
        wait(T, || lab.holders(VIP) == vec![0]),
        "{}",
        dump_logs(&[&a, &b])
    );
    assert!(b.wait_log("VRRP_Script(chk_proxyd) succeeded", 1, T));
    // Stop node a's proxy (and reap it: killall -0 counts zombies).
    proxies[0].kill().unwrap();
    proxies[0].wait().unwrap();
    assert!(
        a.wait_log(
            "VRRP_Script(chk_proxyd) failed (exited with status 1)",
            1,
            T
        ),
        "{}",
        dump_logs(&[&a])
    );
    assert!(
        wait(T, || lab.holders(VIP) == vec![1]),
        "{}",
        dump_logs(&[&a, &b])
    );
    let _ = proxies[1].kill();
    let _ = proxies[1].wait();
}

/// Becoming master sends gratuitous ARPs for the VIP from the node's MAC.
#[test]
fn gratuitous_arp_on_takeover() {
    let lab = Lab::new("garp", 1);
    let mac = lab.nodes[0]
        .ip(&["-o", "link", "show", "eth0"])
        .unwrap()
        .split("link/ether ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_string();
    let sw = lab.sw.path();
    let cap = std::thread::spawn(move || {
        testsupport::netns::run_in_netns(&sw, || {
            use socket2::{Domain, Protocol, Socket, Type};
            use std::io::Read;
            let arp = Protocol::from(i32::from((libc::ETH_P_ARP as u16).to_be()));
            let s = Socket::new(Domain::PACKET, Type::RAW, Some(arp)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            let mut frames = Vec::new();
            while std::time::Instant::now() < deadline && frames.len() < 5 {
                let mut buf = [0u8; 256];
                let n = (&s).read(&mut buf).unwrap_or(0);
                if n >= 42 && buf[28..32] == [10, 77, 0, 100] {
                    frames.push(buf[..n].to_vec());
                }
            }
            frames
        })
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(300));
    let a = lab.vrrpd(0, &format!("{GLOBAL}{}", v2("vif1", "MASTER", 150, "")));
    let frames = cap.join().unwrap();
    assert!(
        frames.len() >= 5,
        "{} frames\n{}",
        frames.len(),
        dump_logs(&[&a])
    );
    let want: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    for f in &frames {
        assert_eq!(&f[0..6], &[0xff; 6]); // broadcast
        assert_eq!(&f[6..12], want.as_slice()); // from the node
        assert_eq!(&f[22..28], want.as_slice()); // sender MAC
        assert_eq!(&f[38..42], &[10, 77, 0, 100]); // target IP = VIP
    }
}

#[test]
fn track_interface_weight_lowers_priority() {
    let lab = Lab::new("trkif", 2);
    // A second link (no dummy module on every kernel): a veth to the switch.
    netns::veth_pair(&lab.nodes[0], "dum0", &lab.sw, "q0").unwrap();
    netns::link_up(&lab.sw, "q0").unwrap();
    netns::link_up(&lab.nodes[0], "dum0").unwrap();
    let (a, b) = pair(
        &lab,
        &v2(
            "vif1",
            "MASTER",
            150,
            "    track_interface {\n        dum0 weight -60\n    }\n",
        ),
        &v2("vif1", "BACKUP", 100, ""),
    );
    expect_master(&lab, 0, &[&a, &b]);
    netns::link_down(&lab.nodes[0], "dum0").unwrap();
    assert!(
        a.wait_log("(vif1) Changing effective priority from 150 to 90", 1, T),
        "{}",
        dump_logs(&[&a])
    );
    expect_master(&lab, 1, &[&a, &b]);
    netns::link_up(&lab.nodes[0], "dum0").unwrap();
    expect_master(&lab, 0, &[&a, &b]);
}

/// SIGTERM while a check script hangs: vrrpd kills the script's process
/// group, waits for it and exits 0 promptly; no script process is left.
#[test]
fn sigterm_with_hanging_script_leaves_nothing() {
    let lab = Lab::new("hang", 1);
    let name = format!("vthang{}", std::process::id());
    let bin = lab.dir.path().join(&name);
    std::fs::copy("/bin/sleep", &bin).unwrap();
    let conf = format!(
        "vrrp_script chk {{\n    script \"{} 300\"\n    interval 1\n    timeout 200\n}}\n{}",
        bin.display(),
        v2(
            "vif1",
            "BACKUP",
            100,
            "    track_script {\n        chk\n    }\n"
        )
    );
    let mut a = lab.vrrpd(0, &format!("{GLOBAL}{conf}"));
    assert!(
        wait(T, || !vrrpd::probe::live_pids_by_name(&name).is_empty()),
        "{}",
        dump_logs(&[&a])
    );
    let st = a.stop().expect("exit status");
    assert!(st.success(), "{st:?}\n{}", dump_logs(&[&a]));
    assert!(
        wait(Duration::from_secs(5), || vrrpd::probe::pids_by_name(&name)
            .is_empty()),
        "script process (or its zombie) left behind"
    );
}

/// A flood of invalid adverts (bad password) for 3 s: the master keeps
/// advertising, the backup never takes over.
#[test]
fn flood_of_invalid_packets_changes_nothing() {
    use vrrpd::packet::{encode, Advert, Auth, Options, Version};
    let lab = Lab::new("flood", 2);
    let (mut a, b) = pair(
        &lab,
        &v2("vif1", "MASTER", 150, ""),
        &v2("vif1", "BACKUP", 100, ""),
    );
    expect_master(&lab, 0, &[&a, &b]);
    let b_masters = b.count("Entering MASTER STATE");
    let src: std::net::IpAddr = SW_IP.parse().unwrap();
    let dst: std::net::IpAddr = "224.0.0.18".parse().unwrap();
    let bad = encode(
        &Advert {
            version: Version::V2,
            vrid: 51,
            priority: 254,
            interval_cs: 100,
            auth: Auth::pass(b"wrong"),
            addrs: vec![VIP.parse().unwrap()],
        },
        src,
        dst,
        &Options::default(),
    )
    .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        let sw = lab.sw.path();
        std::thread::spawn(move || {
            testsupport::netns::run_in_netns(&sw, move || {
                use socket2::{Domain, Protocol, SockAddr, Socket, Type};
                let src: std::net::Ipv4Addr = SW_IP.parse().unwrap();
                let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).unwrap();
                s.set_multicast_if_v4(&src).unwrap();
                s.set_multicast_ttl_v4(255).unwrap();
                let to = SockAddr::from(std::net::SocketAddrV4::new(
                    std::net::Ipv4Addr::new(224, 0, 0, 18),
                    0,
                ));
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if s.send_to(&bad, &to).is_ok() {
                        n += 1;
                    }
                    if n % 64 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                n
            })
            .unwrap()
        })
    };
    let steady = holds_for(Duration::from_secs(3), || master_of(&lab) == vec![0]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = flood.join().unwrap();
    assert!(steady, "{}", dump_logs(&[&a, &b]));
    assert!(sent > 1000, "only {sent} packets");
    assert_eq!(b.count("Entering MASTER STATE"), b_masters);
    let stats = a.dump_file(libc::SIGUSR2, "vrrpd.stats");
    assert!(stats.contains("auth_failure:"), "{stats}");
}

/// Active-active: two instances on one interface with crossed priorities.
/// Both start at once (their start-up netlink dumps share one socket and
/// used to collide with EBUSY, delaying one instance) and each node masters
/// one VIP.
#[test]
fn two_instances_on_one_interface_start_together() {
    let lab = Lab::new("aa", 2);
    let vip2 = "10.77.0.101";
    let conf = |p1: u8, p2: u8| {
        let two = Inst {
            name: "vif2",
            state: "BACKUP",
            prio: p2,
            vrid: 52,
            extra: "    advert_int 1\n".into(),
        }
        .render()
        .replace(VIP, vip2);
        format!("{GLOBAL}{}{two}", v2("vif1", "BACKUP", p1, ""))
    };
    let a = lab.vrrpd(0, &conf(150, 100));
    let b = lab.vrrpd(1, &conf(100, 150));
    assert!(
        wait(T, || lab.holders(VIP) == vec![0]
            && lab.holders(vip2) == vec![1]),
        "{}",
        dump_logs(&[&a, &b])
    );
    for d in [&a, &b] {
        assert!(d.wait_log("(vif1) Entering BACKUP STATE (init)", 1, T));
        assert!(d.wait_log("(vif2) Entering BACKUP STATE (init)", 1, T));
        let log = d.log_text();
        assert!(
            !log.contains("cannot start yet") && !log.contains("cannot open VRRP socket"),
            "{}",
            dump_logs(&[d])
        );
    }
}

/// Sync group MASTER/BACKUP: a node with a higher priority joins; its
/// members go MASTER together ("Syncing instances to MASTER state"), the
/// old master's members go BACKUP together, and the group notify scripts
/// run on both sides.
#[test]
fn sync_group_members_move_together() {
    let lab = Lab::new("syncmb", 2);
    let vip2 = "10.77.0.101";
    let conf = |prio: u8, tag: &str| {
        let two = Inst {
            name: "vif2",
            state: "BACKUP",
            prio,
            vrid: 52,
            extra: "    advert_int 1\n".into(),
        }
        .render()
        .replace(VIP, vip2);
        let dir = lab.dir.path().display().to_string();
        format!(
            "{GLOBAL}{}{two}vrrp_sync_group G1 {{\n    group {{\n        vif1\n        vif2\n    }}\n    notify_master \"/usr/bin/touch {dir}/{tag}-master\"\n    notify_backup \"/usr/bin/touch {dir}/{tag}-backup\"\n}}\n",
            v2("vif1", "BACKUP", prio, "")
        )
    };
    let a = lab.vrrpd(0, &conf(100, "a"));
    assert!(
        wait(T, || lab.holders(VIP) == vec![0]
            && lab.holders(vip2) == vec![0]),
        "{}",
        dump_logs(&[&a])
    );
    assert!(a.wait_log("VRRP_Group(G1) Syncing instances to MASTER state", 1, T));
    assert!(wait(T, || lab.dir.path().join("a-master").exists()));
    let b = lab.vrrpd(1, &conf(150, "b"));
    assert!(
        wait(T, || lab.holders(VIP) == vec![1]
            && lab.holders(vip2) == vec![1]),
        "{}",
        dump_logs(&[&a, &b])
    );
    assert!(
        b.wait_log("VRRP_Group(G1) Syncing instances to MASTER state", 1, T),
        "{}",
        dump_logs(&[&b])
    );
    // a: BACKUP at init, MASTER, then BACKUP again, as one group.
    assert!(
        a.wait_log("VRRP_Group(G1) Syncing instances to BACKUP state", 2, T),
        "{}",
        dump_logs(&[&a])
    );
    assert!(a.wait_log("(vif1) Entering BACKUP STATE", 2, T));
    assert!(a.wait_log("(vif2) Entering BACKUP STATE", 2, T));
    assert!(wait(T, || lab.dir.path().join("b-master").exists()));
    assert!(wait(T, || lab.dir.path().join("a-backup").exists()));
    // Steady: b keeps both.
    assert!(holds_for(Duration::from_secs(2), || lab.holders(VIP)
        == vec![1]
        && lab.holders(vip2) == vec![1]));
}

/// The instance's interface is deleted (FAULT, the VIP moves) and created
/// again with a new ifindex, its address added after the link: the
/// instance re-opens its socket on the new interface and takes the VIP back.
#[test]
fn interface_deleted_and_recreated() {
    let lab = Lab::new("ifre", 2);
    let (a, b) = pair(
        &lab,
        &v2("vif1", "MASTER", 150, ""),
        &v2("vif1", "BACKUP", 100, ""),
    );
    expect_master(&lab, 0, &[&a, &b]);
    lab.nodes[0].ip(&["link", "del", "eth0"]).unwrap();
    assert!(
        a.wait_log("Interface eth0 deleted", 1, T),
        "{}",
        dump_logs(&[&a])
    );
    assert!(
        a.wait_log("(vif1) Entering FAULT STATE", 1, T),
        "{}",
        dump_logs(&[&a])
    );
    expect_master(&lab, 1, &[&a, &b]);
    // Back, with a new ifindex; the address comes after the link.
    netns::veth_pair(&lab.nodes[0], "eth0", &lab.sw, "p0").unwrap();
    netns::bridge_attach(&lab.sw, "br0", "p0").unwrap();
    netns::link_up(&lab.sw, "p0").unwrap();
    netns::link_up(&lab.nodes[0], "eth0").unwrap();
    netns::addr_add(&lab.nodes[0], "eth0", &format!("{}/24", node_ip(0))).unwrap();
    assert!(a.wait_log("Interface eth0 added", 1, T));
    assert!(
        a.wait_log("VRRP socket re-opened", 1, T),
        "{}",
        dump_logs(&[&a])
    );
    expect_master(&lab, 0, &[&a, &b]);
    assert!(b.wait_log("(vif1) Entering BACKUP STATE", 2, T));
    assert!(holds_for(Duration::from_secs(2), || master_of(&lab) == vec![0]));
    if std::env::var_os("VRRPD_TEST_LOGS").is_some() {
        eprintln!("{}", dump_logs(&[&a, &b]));
    }
}

/// The primary address of the interface changes: the instance re-opens its
/// socket on the new source address and its peer hears it from there.
#[test]
fn primary_address_change_reopens_socket() {
    let lab = Lab::new("addr", 2);
    let (mut a, mut b) = pair(
        &lab,
        &v2("vif1", "MASTER", 150, ""),
        &v2("vif1", "BACKUP", 100, ""),
    );
    expect_master(&lab, 0, &[&a, &b]);
    let new = "10.77.0.30";
    lab.nodes[0]
        .ip(&["addr", "del", &format!("{}/24", node_ip(0)), "dev", "eth0"])
        .unwrap();
    netns::addr_add(&lab.nodes[0], "eth0", &format!("{new}/24")).unwrap();
    assert!(
        a.wait_log(
            &format!(
                "primary address of eth0 changed from {} to {new}",
                node_ip(0)
            ),
            1,
            T
        ),
        "{}",
        dump_logs(&[&a])
    );
    assert!(a.wait_log("VRRP socket re-opened", 1, T));
    // b hears the master from its new address; the VIP stays on a.
    assert!(
        wait(T, || b
            .dump_file(libc::SIGUSR1, "vrrpd.json")
            .contains(&format!("\"master\": \"{new}\""))),
        "{}",
        dump_logs(&[&a, &b])
    );
    assert!(holds_for(Duration::from_secs(2), || master_of(&lab) == vec![0]));
    assert!(a.stop().expect("exit").success());
}
