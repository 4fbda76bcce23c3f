//! `balance source` sends each client address to the same server as the
//! real HAProxy (Debian's /usr/sbin/haproxy, skipped when absent) with the
//! same server list and weights: clients bound to 127.0.0.N connect to
//! both, side by side, and must reach the same servers.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use support::*;

const HAPROXY: &str = "/usr/sbin/haproxy";
const T: Duration = Duration::from_secs(15);

/// A child HAProxy, killed by pid and waited for on drop.
struct Haproxy {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server name answered to a client bound to `src`.
fn served_from(src: Ipv4Addr, port: u16) -> Result<String, String> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| e.to_string())?;
    s.bind(&SocketAddr::from((src, 0)).into())
        .map_err(|e| e.to_string())?;
    s.connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)).into(), T)
        .map_err(|e| e.to_string())?;
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(T)).map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ok(line.trim_end().to_string())
}

fn config(ports: &[u16], a: &Backend, b: &Backend, c: &Backend, dead: u16) -> String {
    let (pa, pb, pc) = (a.port(), b.port(), c.port());
    format!(
        "global\n    maxconn 100\n\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\n\
         listen equal\n    bind 127.0.0.1:{}\n    balance source\n    server a 127.0.0.1:{pa}\n    server b 127.0.0.1:{pb}\n    server c 127.0.0.1:{pc}\n\n\
         listen weighted\n    bind 127.0.0.1:{}\n    balance source\n    server a 127.0.0.1:{pa} weight 20\n    server b 127.0.0.1:{pb} weight 10\n    server c 127.0.0.1:{pc} weight 30\n\n\
         listen partial\n    bind 127.0.0.1:{}\n    balance source\n    server a 127.0.0.1:{pa} weight 3\n    server x 127.0.0.1:{dead} weight 2 disabled\n    server b 127.0.0.1:{pb} weight 1\n    server c 127.0.0.1:{pc} weight 4 backup\n",
        ports[0], ports[1], ports[2]
    )
}

#[test]
fn source_hash_matches_haproxy() {
    if !Path::new(HAPROXY).exists() {
        eprintln!("skipping: {HAPROXY} not installed");
        return;
    }
    let a = Backend::start("a");
    let b = Backend::start("b");
    let c = Backend::start("c");
    let dead = free_port();
    let hp: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let pp: Vec<u16> = (0..3).map(|_| free_port()).collect();

    let dir = temp_dir("pfix-source-haproxy");
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, config(&hp, &a, &b, &c, dead)).unwrap();
    let child = Command::new(HAPROXY)
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _haproxy = Haproxy { child, dir };
    let p = Proxyd::start("pfix_source", &config(&pp, &a, &b, &c, dead));
    assert!(
        wait_for(T, || hp.iter().chain(&pp).all(|port| TcpStream::connect((
            "127.0.0.1",
            *port
        ))
        .is_ok())),
        "listeners not up\n{}",
        p.log()
    );

    for (i, name) in ["equal", "weighted", "partial"].iter().enumerate() {
        let mut seen = std::collections::BTreeSet::new();
        for n in 1..=12u8 {
            let src = Ipv4Addr::new(127, 0, 0, n);
            let want = served_from(src, hp[i]).unwrap();
            let got = served_from(src, pp[i]).unwrap();
            assert_eq!(got, want, "{name}: client {src}");
            seen.insert(want);
        }
        assert!(seen.len() >= 2, "{name}: {seen:?}");
    }
}
