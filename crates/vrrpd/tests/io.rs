//! The thin I/O modules on their own, in namespaces: netlink (links,
//! addresses, idempotent VIPs, link events) and the raw VRRP sockets.

mod util;

use std::net::IpAddr;
use std::time::Duration;

use util::*;
use vrrpd::netlink::{self, Netlink};
use vrrpd::socket::{SocketSpec, VrrpSocket, VRRP_GROUP_V4};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn netlink_addresses_and_link_events() {
    let lab = Lab::new("nl", 1);
    let ns = lab.nodes[0].name().to_string();
    let out = lab.nodes[0]
        .run_in(move || {
            rt().block_on(async move {
                let nl = Netlink::new().unwrap();
                let l = nl.link_by_name("eth0").await.unwrap();
                assert!(l.is_up());
                assert_eq!(l.mac.len(), 6);
                assert!(matches!(
                    nl.link_by_name("nope0").await,
                    Err(netlink::NetlinkError::NoSuchInterface(_))
                ));
                let vip: IpAddr = VIP.parse().unwrap();
                assert_eq!(
                    nl.primary_ipv4(l.index, &[]).await.unwrap(),
                    Some(node_ip(0).parse().unwrap())
                );
                // Idempotent add and remove; the label is kept.
                assert!(nl
                    .add_address(l.index, vip, 32, Some("eth0:vip"))
                    .await
                    .unwrap());
                assert!(!nl
                    .add_address(l.index, vip, 32, Some("eth0:vip"))
                    .await
                    .unwrap());
                let addrs = nl.addresses(l.index).await.unwrap();
                let a = addrs.iter().find(|a| a.addr == vip).unwrap();
                assert_eq!(a.prefix, 32);
                assert_eq!(a.label.as_deref(), Some("eth0:vip"));
                // The VIP is never taken as the primary address.
                assert_eq!(
                    nl.primary_ipv4(l.index, &[]).await.unwrap(),
                    Some(node_ip(0).parse().unwrap())
                );
                assert!(nl.del_address(l.index, vip, 32).await.unwrap());
                assert!(!nl.del_address(l.index, vip, 32).await.unwrap());
                assert!(!nl.has_address(l.index, vip).await.unwrap());
                // Link events: down then up.
                let mut ev = netlink::link_events().unwrap();
                let status = std::process::Command::new("ip")
                    .args(["-n", &ns, "link", "set", "eth0", "down"])
                    .status()
                    .unwrap();
                assert!(status.success());
                let down = tokio::time::timeout(Duration::from_secs(5), async {
                    loop {
                        let e = ev.recv().await.unwrap();
                        if e.link.name == "eth0" && !e.link.is_up() {
                            return e;
                        }
                    }
                })
                .await
                .unwrap();
                assert!(!down.link.admin_up);
                "ok"
            })
        })
        .unwrap();
    assert_eq!(out, "ok");
}

#[test]
fn raw_sockets_between_namespaces() {
    let lab = Lab::new("sock", 2);
    let (tx_ready, rx_ready) = std::sync::mpsc::channel();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done2 = done.clone();
    let receiver = {
        let path = lab.nodes[1].path();
        std::thread::spawn(move || {
            testsupport::netns::run_in_netns(&path, move || {
                rt().block_on(async move {
                    let nl = Netlink::new().unwrap();
                    let l = nl.link_by_name("eth0").await.unwrap();
                    let s = VrrpSocket::open(SocketSpec {
                        ifname: "eth0".into(),
                        ifindex: l.index,
                        src: node_ip(1).parse().unwrap(),
                        unicast: false,
                        group: VRRP_GROUP_V4.into(),
                    })
                    .unwrap();
                    tx_ready.send(()).unwrap();
                    let r = tokio::time::timeout(Duration::from_secs(10), s.recv())
                        .await
                        .unwrap()
                        .unwrap()
                        .unwrap();
                    done2.store(true, std::sync::atomic::Ordering::SeqCst);
                    r
                })
            })
            .unwrap()
        })
    };
    rx_ready.recv().unwrap();
    let sent = lab.nodes[0].run_in(|| {
        rt().block_on(async {
            let nl = Netlink::new().unwrap();
            let l = nl.link_by_name("eth0").await.unwrap();
            let s = VrrpSocket::open(SocketSpec {
                ifname: "eth0".into(),
                ifindex: l.index,
                src: node_ip(0).parse().unwrap(),
                unicast: false,
                group: VRRP_GROUP_V4.into(),
            })
            .unwrap();
            let payload = vec![0x21, 0x33, 0x67, 0x01, 0x00, 0x01, 0x6b, 0x66];
            // Until the receiver has it (multicast join may race).
            for _ in 0..50 {
                s.send_to(&payload, s.group()).unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            payload
        })
    });
    let got = receiver.join().unwrap();
    let sent = sent.unwrap();
    assert_eq!(got.payload, sent);
    assert_eq!(got.ttl, 255);
    assert_eq!(got.src, node_ip(0).parse::<IpAddr>().unwrap());
    assert_eq!(got.dst, IpAddr::from(VRRP_GROUP_V4));
}

/// Every instance shares one rtnetlink socket; the kernel runs one dump per
/// socket at a time (a second one gets EBUSY, seen in the lab when two
/// instances on one interface started together). Concurrent dumps large
/// enough to span several messages must all succeed.
#[test]
fn concurrent_netlink_dumps_on_one_socket() {
    let lab = Lab::new("nldump", 1);
    let out = lab.nodes[0]
        .run_in(move || {
            rt().block_on(async move {
                let nl = Netlink::new().unwrap();
                let l = nl.link_by_name("eth0").await.unwrap();
                // Enough addresses that one dump does not fit in one reply.
                for i in 0..300u32 {
                    let a = IpAddr::from([10, 78, (i / 200) as u8, (i % 200 + 1) as u8]);
                    nl.add_address(l.index, a, 32, None).await.unwrap();
                }
                for _ in 0..5 {
                    let dumps = (0..6).map(|_| nl.addresses(l.index));
                    for r in futures::future::join_all(dumps).await {
                        let v4 = r.unwrap().iter().filter(|a| a.addr.is_ipv4()).count();
                        assert_eq!(v4, 301);
                    }
                    let (a, b, c) =
                        tokio::join!(nl.links(), nl.addresses(l.index), nl.link_by_name("eth0"));
                    a.unwrap();
                    b.unwrap();
                    c.unwrap();
                }
                "ok"
            })
        })
        .unwrap();
    assert_eq!(out, "ok");
}
