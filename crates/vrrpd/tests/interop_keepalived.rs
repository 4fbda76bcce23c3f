//! vrrpd against real keepalived (Debian's 2.2.7, /usr/sbin/keepalived) in
//! network namespaces. Skipped with a message when keepalived is absent.

mod util;

use std::time::Duration;

use util::*;

const T: Duration = Duration::from_secs(20);

fn instance(version: u8, state: &str, prio: u8) -> String {
    let extra = if version == 3 {
        "    version 3\n    advert_int 0.5\n".to_string()
    } else {
        "    advert_int 1\n    authentication {\n        auth_type PASS\n        auth_pass s3cret\n    }\n"
            .to_string()
    };
    let i = Inst {
        name: "vif1",
        state,
        prio,
        vrid: 51,
        extra,
    };
    format!("{GLOBAL}{}", i.render())
}

fn keepalived_present() -> bool {
    if std::path::Path::new("/usr/sbin/keepalived").exists() {
        true
    } else {
        eprintln!("SKIPPED: /usr/sbin/keepalived is not installed");
        false
    }
}

/// `ours_master`: vrrpd has the higher priority. Node 0 runs vrrpd, node 1
/// keepalived.
fn interop(version: u8, ours_master: bool) {
    if !keepalived_present() {
        return;
    }
    let lab = Lab::new(&format!("ka{version}"), 2);
    let (po, pk) = if ours_master { (150, 100) } else { (100, 150) };
    let (so, sk) = if ours_master {
        ("MASTER", "BACKUP")
    } else {
        ("BACKUP", "MASTER")
    };
    let mut ka = lab
        .keepalived(1, &instance(version, sk, pk))
        .expect("keepalived");
    let mut ours = lab.vrrpd(0, &instance(version, so, po));
    let (m, b) = if ours_master { (0, 1) } else { (1, 0) };
    let (dm, db) = if ours_master {
        (&ours, &ka)
    } else {
        (&ka, &ours)
    };
    assert!(
        dm.wait_log("(vif1) Entering MASTER STATE", 1, T),
        "{}",
        dump_logs(&[&ours, &ka])
    );
    assert!(
        wait(T, || lab.holders(VIP) == vec![m]),
        "{}",
        dump_logs(&[&ours, &ka])
    );
    // Steady state: never two masters, the backup stays backup.
    let before = db.count("Entering MASTER STATE");
    assert!(
        holds_for(Duration::from_secs(4), || lab.holders(VIP) == vec![m]),
        "{}",
        dump_logs(&[&ours, &ka])
    );
    assert_eq!(
        db.count("Entering MASTER STATE"),
        before,
        "{}",
        dump_logs(&[&ours, &ka])
    );
    assert!(db.log_text().contains("Entering BACKUP STATE"));
    // Failover: stop the master, the other one takes over.
    let stopped = if ours_master { ours.stop() } else { ka.stop() };
    assert!(
        stopped.is_some_and(|s| s.success()),
        "{}",
        dump_logs(&[&ours, &ka])
    );
    let db = if ours_master { &ka } else { &ours };
    assert!(
        db.wait_log("(vif1) Entering MASTER STATE", before + 1, T),
        "{}",
        dump_logs(&[&ours, &ka])
    );
    assert!(
        wait(T, || lab.holders(VIP) == vec![b]),
        "{}",
        dump_logs(&[&ours, &ka])
    );
    if std::env::var_os("VRRPD_TEST_LOGS").is_some() {
        eprintln!("{}", dump_logs(&[&ours, &ka]));
    }
}

#[test]
fn v2_vrrpd_master_keepalived_backup() {
    interop(2, true);
}

#[test]
fn v2_keepalived_master_vrrpd_backup() {
    interop(2, false);
}

#[test]
fn v3_vrrpd_master_keepalived_backup() {
    interop(3, true);
}

#[test]
fn v3_keepalived_master_vrrpd_backup() {
    interop(3, false);
}

/// Failover back and forth with preemption: keepalived (higher priority)
/// leaves and comes back; vrrpd yields again.
#[test]
fn v2_keepalived_returns_and_preempts() {
    if !keepalived_present() {
        return;
    }
    let lab = Lab::new("karet", 2);
    let ours = lab.vrrpd(0, &instance(2, "BACKUP", 100));
    let mut ka = lab.keepalived(1, &instance(2, "MASTER", 150)).expect("ka");
    assert!(
        wait(T, || lab.holders(VIP) == vec![1]),
        "{}",
        dump_logs(&[&ours, &ka])
    );
    ka.stop();
    assert!(
        wait(T, || lab.holders(VIP) == vec![0]),
        "{}",
        dump_logs(&[&ours, &ka])
    );
    let ka2 = lab.keepalived(1, &instance(2, "MASTER", 150)).expect("ka");
    assert!(
        wait(T, || lab.holders(VIP) == vec![1]),
        "{}",
        dump_logs(&[&ours, &ka2])
    );
    assert!(ours.wait_log("(vif1) Entering BACKUP STATE", 2, T));
    assert!(
        holds_for(Duration::from_secs(3), || lab.holders(VIP) == vec![1]),
        "{}",
        dump_logs(&[&ours, &ka2])
    );
}

/// Steady state and failover for an arbitrary pair of configurations:
/// node 0 runs vrrpd with `ours`, node 1 keepalived with `theirs`; `vip` is
/// expected on `first` and, after stopping that one, on the other.
fn pair_failover(tag: &str, ours: &str, theirs: &str, vip: &str, first: usize) {
    if !keepalived_present() {
        return;
    }
    let lab = Lab::new(tag, 2);
    let mut ka = lab.keepalived(1, theirs).expect("keepalived");
    let mut us = lab.vrrpd(0, ours);
    assert!(
        wait(T, || lab.holders(vip) == vec![first]),
        "{}",
        dump_logs(&[&us, &ka])
    );
    assert!(
        holds_for(Duration::from_secs(3), || lab.holders(vip) == vec![first]),
        "{}",
        dump_logs(&[&us, &ka])
    );
    let st = if first == 0 { us.stop() } else { ka.stop() };
    assert!(st.is_some_and(|s| s.success()));
    assert!(
        wait(T, || lab.holders(vip) == vec![1 - first]),
        "{}",
        dump_logs(&[&us, &ka])
    );
}

fn v6_conf(state: &str, prio: u8) -> String {
    format!(
        "{GLOBAL}vrrp_instance v6 {{\n    interface eth0\n    state {state}\n    priority {prio}\n    virtual_router_id 62\n    version 3\n    advert_int 0.5\n    virtual_ipaddress {{\n        fd77::100/64\n    }}\n}}\n"
    )
}

#[test]
fn v3_ipv6_vrrpd_master() {
    pair_failover(
        "ka6a",
        &v6_conf("MASTER", 150),
        &v6_conf("BACKUP", 100),
        "fd77::100",
        0,
    );
}

#[test]
fn v3_ipv6_keepalived_master() {
    pair_failover(
        "ka6b",
        &v6_conf("BACKUP", 100),
        &v6_conf("MASTER", 150),
        "fd77::100",
        1,
    );
}

#[test]
fn v2_unicast_with_keepalived() {
    let uc = |me: usize, peer: usize| {
        format!(
            "    unicast_src_ip {}\n    unicast_peer {{\n        {}\n    }}\n",
            node_ip(me),
            node_ip(peer)
        )
    };
    pair_failover(
        "kauc",
        &format!("{GLOBAL}{}", v2("vif1", "BACKUP", 100, &uc(0, 1))),
        &format!("{GLOBAL}{}", v2("vif1", "MASTER", 150, &uc(1, 0))),
        VIP,
        1,
    );
}
