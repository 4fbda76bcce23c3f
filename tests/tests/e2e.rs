//! The seed's story end to end on the lab (deploy/lab/seed.yaml,
//! active-active.yaml): each test its own lab instance; assertions on
//! what a user sees (HTTP answers through the VIP, which host holds the
//! VIP, log lines). Outage figures are printed (`--nocapture`), not
//! asserted.

use std::net::Ipv4Addr;

use integration::{skip_unless_root, E2e, Impl, Service};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);
const VIP2: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 101);
const WEB1: &str = "Hello from web server 1";
const WEB2: &str = "Hello from web server 2";

fn seed() -> E2e {
    let e = E2e::up("seed.yaml").expect("lab up");
    e.expect_vip_on(VIP, "lb1");
    e
}

/// Roundrobin through the VIP reaches both web servers.
fn assert_both_served(e: &E2e, vip: Ipv4Addr) {
    let b = e.bodies(vip, 6);
    assert!(
        b.iter().any(|x| x == WEB1) && b.iter().any(|x| x == WEB2),
        "roundrobin over both web servers through {vip}: {b:?}"
    );
}

/// `killall -0 NAME` on a host succeeds.
fn killall0(e: &E2e, host: &str, name: &str) -> bool {
    let argv = ["killall".to_string(), "-0".to_string(), name.to_string()];
    e.lab
        .exec(host, &argv)
        .expect("exec")
        .stderr(std::process::Stdio::null())
        .status()
        .expect("killall")
        .success()
}

#[test]
fn proxy_death_on_master_moves_vip_to_backup() {
    if skip_unless_root() {
        return;
    }
    let e = seed();
    assert_both_served(&e, VIP);
    let before = e.lab.count_in_log("lb2", "Entering MASTER STATE");
    let p = e.probe(VIP);
    let proxy = e.lab.implementation().name(Service::Proxy);
    assert!(killall0(&e, "lb1", proxy) && killall0(&e, "lb2", proxy));
    e.note("kill -9 the proxy on lb1");
    e.lab.stop("lb1", Service::Proxy, libc::SIGKILL).unwrap();
    // each host has its own /proc and the dead proxy was reaped at once:
    // the seed's `killall -0` check fails on lb1 only
    assert!(
        !killall0(&e, "lb1", proxy),
        "lb1's proxy is gone (no zombie, lb2's invisible)"
    );
    assert!(killall0(&e, "lb2", proxy), "lb2's proxy runs");
    e.expect_vip_on(VIP, "lb2");
    e.wait_served(VIP).unwrap();
    e.finish_probe(p, "proxy death");
    assert_both_served(&e, VIP);
    e.expect_log("lb2", "Entering MASTER STATE", before);
}

#[test]
fn vrrp_sigterm_on_master_moves_vip_and_releases_it() {
    if skip_unless_root() {
        return;
    }
    let e = seed();
    let p = e.probe(VIP);
    e.note("SIGTERM the VRRP daemon on lb1");
    e.lab.stop("lb1", Service::Vrrp, libc::SIGTERM).unwrap();
    // exactly one holder: lb1 removed the VIP when it stopped
    e.expect_vip_on(VIP, "lb2");
    e.wait_served(VIP).unwrap();
    e.finish_probe(p, "VRRP daemon stopped");
    assert_both_served(&e, VIP);
    e.note("start it again: lb1 preempts");
    e.lab.start("lb1", Service::Vrrp).unwrap();
    e.expect_vip_on(VIP, "lb1");
    e.wait_served(VIP).unwrap();
}

#[test]
fn master_link_down_moves_vip_and_link_up_brings_it_back() {
    if skip_unless_root() {
        return;
    }
    let e = seed();
    let p = e.probe(VIP);
    e.note("unplug lb1's cable (its switch port down)");
    e.lab.set_link("lb1", false).unwrap();
    // lb1 may or may not drop the VIP on its dead link; what matters is
    // that lb2 has it and the client is served.
    assert!(
        testsupport::netns::wait_until(integration::SETTLE, || e
            .holders(VIP)
            .contains(&"lb2".to_string())),
        "lb2 should take {VIP}: {:?}",
        e.holders(VIP)
    );
    e.wait_served(VIP).unwrap();
    e.finish_probe(p, "master link down");
    assert_both_served(&e, VIP);
    e.note("plug it back: failback to lb1");
    let p = e.probe(VIP);
    e.lab.set_link("lb1", true).unwrap();
    e.expect_vip_on(VIP, "lb1");
    e.wait_served(VIP).unwrap();
    e.finish_probe(p, "link restored");
}

#[test]
fn web_server_stopped_traffic_continues_on_the_other() {
    if skip_unless_root() {
        return;
    }
    let e = seed();
    assert!(
        testsupport::netns::wait_until(integration::SETTLE, || {
            let b = e.bodies(VIP, 4);
            b.iter().any(|x| x == WEB1) && b.iter().any(|x| x == WEB2)
        }),
        "both web servers in the rotation before web1 stops"
    );
    let down = e.lab.count_in_log("lb1", "web1 is DOWN");
    let p = e.probe(VIP);
    e.note("stop web1's web server");
    e.lab.stop("web1", Service::Httpd, libc::SIGTERM).unwrap();
    e.expect_log("lb1", "web1 is DOWN", down);
    // once web1 is out of the rotation every request goes to web2
    let b = e.bodies(VIP, 6);
    assert!(
        b.iter().all(|x| x == WEB2),
        "only web2 should answer: {b:?}"
    );
    e.finish_probe(p, "web1 stopped");
    assert_eq!(e.holders(VIP), vec!["lb1".to_string()], "the VIP stays");
    let up = e.lab.count_in_log("lb1", "web1 is UP");
    e.note("start web1 again: back after `rise 2` checks");
    e.lab.start("web1", Service::Httpd).unwrap();
    e.expect_log("lb1", "web1 is UP", up);
    assert!(
        testsupport::netns::wait_until(integration::SETTLE, || e
            .bodies(VIP, 2)
            .iter()
            .any(|x| x == WEB1)),
        "web1 back in the rotation"
    );
    assert_both_served(&e, VIP);
}

#[test]
fn failback_when_the_master_proxy_returns() {
    if skip_unless_root() {
        return;
    }
    let e = seed();
    e.lab.stop("lb1", Service::Proxy, libc::SIGTERM).unwrap();
    e.expect_vip_on(VIP, "lb2");
    e.wait_served(VIP).unwrap();
    let before = e.lab.count_in_log("lb1", "Entering MASTER STATE");
    let p = e.probe(VIP);
    e.note("start the proxy on lb1 again");
    e.lab.start("lb1", Service::Proxy).unwrap();
    e.expect_vip_on(VIP, "lb1");
    e.wait_served(VIP).unwrap();
    e.finish_probe(p, "failback");
    assert_both_served(&e, VIP);
    e.expect_log("lb1", "Entering MASTER STATE", before);
}

#[test]
fn active_active_each_lb_takes_both_vips_when_the_other_fails() {
    if skip_unless_root() {
        return;
    }
    let e = E2e::up("active-active.yaml").expect("lab up");
    e.expect_vip_on(VIP, "lb1");
    e.expect_vip_on(VIP2, "lb2");
    assert_both_served(&e, VIP);
    assert_both_served(&e, VIP2);
    for (victim, other, moving) in [("lb2", "lb1", VIP2), ("lb1", "lb2", VIP)] {
        let p = e.probe(moving);
        e.note(&format!("stop the proxy on {victim}"));
        e.lab.stop(victim, Service::Proxy, libc::SIGTERM).unwrap();
        e.expect_vip_on(VIP, other);
        e.expect_vip_on(VIP2, other);
        e.wait_served(moving).unwrap();
        e.finish_probe(p, &format!("{victim} proxy stopped"));
        assert_both_served(&e, VIP);
        assert_both_served(&e, VIP2);
        e.note(&format!("start the proxy on {victim} again"));
        e.lab.start(victim, Service::Proxy).unwrap();
        e.expect_vip_on(moving, victim);
        e.wait_served(moving).unwrap();
    }
    e.expect_vip_on(VIP, "lb1");
    e.expect_vip_on(VIP2, "lb2");
}

/// The lab itself, checked with the reference pair (HAProxy + keepalived,
/// Debian packages): the seed's failover works there too.
#[test]
fn reference_haproxy_keepalived_proxy_death() {
    if skip_unless_root() {
        return;
    }
    if !std::path::Path::new("/usr/sbin/haproxy").exists()
        || !std::path::Path::new("/usr/sbin/keepalived").exists()
    {
        eprintln!("skipped: haproxy/keepalived not installed");
        return;
    }
    let e = E2e::up_with("seed.yaml", Impl::Haproxy).expect("lab up");
    e.expect_vip_on(VIP, "lb1");
    assert_both_served(&e, VIP);
    let before = e.lab.count_in_log("lb2", "Entering MASTER STATE");
    let p = e.probe(VIP);
    e.lab.stop("lb1", Service::Proxy, libc::SIGKILL).unwrap();
    assert!(!killall0(&e, "lb1", "haproxy"));
    e.expect_vip_on(VIP, "lb2");
    e.wait_served(VIP).unwrap();
    e.finish_probe(p, "HAProxy killed (reference)");
    e.expect_log("lb2", "Entering MASTER STATE", before);
}
