//! Parser tests: the typed model produced from real-looking configurations,
//! defaults inheritance, listen splitting, binds, and every error path.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::values::Host;
use super::*;

struct FakeHost;

impl Host for FakeHost {
    fn resolve(&self, host: &str, v6: Option<bool>) -> Option<IpAddr> {
        match (host, v6) {
            ("localhost", Some(true)) => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ("localhost", _) => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ("web1.example", _) => Some(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 6))),
            _ => None,
        }
    }
    fn user_id(&self, name: &str) -> Option<u32> {
        match name {
            "root" => Some(0),
            "haproxy" => Some(108),
            _ => None,
        }
    }
    fn group_id(&self, name: &str) -> Option<u32> {
        match name {
            "root" => Some(0),
            "haproxy" => Some(113),
            _ => None,
        }
    }
    fn file_readable(&self, path: &Path) -> bool {
        path.starts_with("/etc/haproxy/errors") || path.starts_with("/fake")
    }
    fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        match path.to_str()? {
            "/fake/garbage.http" => Some(b"garbage\n\n".to_vec()),
            "/fake/unfinished.http" => Some(b"HTTP/1.0 503 x\r\n".to_vec()),
            _ if self.file_readable(path) => Some(b"HTTP/1.0 503 x\r\n\r\n".to_vec()),
            _ => None,
        }
    }
}

fn parse(src: &str) -> Result<Loaded, Errors> {
    parse_sources(
        &[("t.cfg".to_string(), src.to_string())],
        &FakeHost,
        &common::lexer::NoEnv,
    )
}

fn ok(src: &str) -> Loaded {
    match parse(src) {
        Ok(l) => l,
        Err(e) => panic!(
            "unexpected errors:\n{}",
            e.diags
                .iter()
                .map(|d| d.render(1))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn err(src: &str) -> String {
    match parse(src) {
        Ok(l) => panic!("accepted: {:?}", l.config),
        Err(e) => {
            let text = e
                .diags
                .iter()
                .map(|d| d.render(1))
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                text.ends_with("[ALERT]    (1) : config : Fatal errors found in configuration."),
                "{text}"
            );
            text
        }
    }
}

fn warnings(l: &Loaded) -> String {
    l.warnings
        .iter()
        .map(|d| d.render(1))
        .collect::<Vec<_>>()
        .join("\n")
}

const STOCK: &str = "global
	log /dev/log	local0
	log /dev/log	local1 notice
	chroot /var/lib/haproxy
	stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners
	stats timeout 30s
	user haproxy
	group haproxy
	daemon
	ca-base /etc/ssl/certs
	crt-base /etc/ssl/private
	ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256
	ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384
	ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets

defaults
	log	global
	mode	http
	option	httplog
	option	dontlognull
        timeout connect 5000
        timeout client  50000
        timeout server  50000
	errorfile 400 /etc/haproxy/errors/400.http
	errorfile 503 /etc/haproxy/errors/503.http

frontend mysite
    bind *:80
    option tcplog
    mode tcp
    default_backend web-servers
backend web-servers
    mode tcp
    balance roundrobin
    option tcp-check
    server web1 10.0.2.6:80 check fall 3 rise 2
    server web2 10.0.2.7:80 check fall 3 rise 2
";

const D: &str =
    "defaults\n mode tcp\n timeout connect 5s\n timeout client 50s\n timeout server 50s\n";

fn with_defaults(rest: &str) -> String {
    format!("{D}{rest}")
}

#[test]
fn debian_stock_plus_seed() {
    let l = ok(STOCK);
    assert_eq!(warnings(&l), "");
    let c = &l.config;
    let g = &c.global;
    assert_eq!(g.log.len(), 2);
    assert_eq!(g.log[0].dest, LogDest::Unix(PathBuf::from("/dev/log")));
    assert_eq!(g.log[0].facility.name(), "local0");
    assert_eq!(g.log[0].max_level, None);
    assert_eq!(g.log[1].facility, Facility(17));
    assert_eq!(g.log[1].max_level, Some(5));
    assert_eq!(g.chroot, Some(PathBuf::from("/var/lib/haproxy")));
    assert_eq!(g.stats_sockets.len(), 1);
    let s = &g.stats_sockets[0];
    assert_eq!(
        s.addr,
        StatsAddr::Unix(PathBuf::from("/run/haproxy/admin.sock"))
    );
    assert_eq!(s.mode, Some(0o660));
    assert_eq!(s.level, StatsLevel::Admin);
    assert!(s.expose_fd_listeners);
    assert_eq!(g.stats_timeout, Duration::from_secs(30));
    assert_eq!((g.user.as_deref(), g.uid), (Some("haproxy"), Some(108)));
    assert_eq!((g.group.as_deref(), g.gid), (Some("haproxy"), Some(113)));
    assert!(g.daemon);
    assert_eq!(g.ca_base, Some(PathBuf::from("/etc/ssl/certs")));

    assert_eq!(c.frontends.len(), 1);
    let f = &c.frontends[0];
    assert_eq!(f.name, "mysite");
    assert_eq!(f.pos.line, 27);
    assert_eq!(f.binds.len(), 1);
    assert_eq!(f.binds[0].addrs, vec!["0.0.0.0:80".parse().unwrap()]);
    assert_eq!(f.default_backend.as_deref(), Some("web-servers"));
    assert_eq!(f.log_format, LogFormat::TcpLog);
    assert!(f.dontlognull);
    assert_eq!(f.log, g.log, "log global copies the global targets");
    assert_eq!(f.timeout_client, Some(Duration::from_millis(50000)));
    assert_eq!(f.maxconn, None);

    let b = &c.backends[0];
    assert_eq!(b.name, "web-servers");
    assert_eq!(b.balance, Balance::RoundRobin);
    assert_eq!(b.check, CheckSpec::TcpCheck(vec![]));
    assert_eq!(b.timeout_connect, Some(Duration::from_secs(5)));
    assert_eq!(b.timeout_server, Some(Duration::from_secs(50)));
    assert_eq!(b.retries, 3);
    assert_eq!(b.servers.len(), 2);
    let w1 = &b.servers[0];
    assert_eq!(w1.addr, "10.0.2.6:80".parse::<SocketAddr>().unwrap());
    assert!(w1.check);
    assert_eq!((w1.rise, w1.fall, w1.weight), (2, 3, 1));
    assert_eq!(w1.inter, Duration::from_secs(2));
    assert_eq!(w1.fastinter, Duration::from_secs(2));
    assert_eq!(w1.downinter, Duration::from_secs(2));
    assert_eq!((w1.id, b.servers[1].id), (1, 2));
    // Id 1 is HAProxy's internal stats proxy when there is a stats socket.
    assert_eq!((f.id, b.id), (2, 3));
    assert!(c.has_listeners());
}

#[test]
fn httplog_falls_back_to_tcplog_with_warning() {
    let l = ok(&format!(
        "global\n log stdout local0\n{D} log global\n option httplog\nfrontend f\n bind :8080\n default_backend b\nbackend b\n server s 127.0.0.1:80\n"
    ));
    assert_eq!(l.config.frontends[0].log_format, LogFormat::TcpLog);
    assert_eq!(l.config.frontends[0].log[0].dest, LogDest::Stdout);
    assert_eq!(
        warnings(&l),
        "[WARNING]  (1) : config : parsing [t.cfg:9] : 'option httplog' not usable with frontend 'f' (needs 'mode http'). Falling back to 'option tcplog'."
    );
}

#[test]
fn http_only_options_are_ignored_in_tcp_mode() {
    let l = ok(&with_defaults(
        " option forwardfor\n option http-server-close\n timeout http-request 5s\nfrontend f\n bind :8080\n option httpclose\n default_backend b\nbackend b\n no option forwardfor\n server s 127.0.0.1:80\n",
    ));
    assert_eq!(
        warnings(&l),
        "[WARNING]  (1) : config : 'option forwardfor' ignored for frontend 'f' as it requires HTTP mode."
    );
}

#[test]
fn log_format_without_log_address_warns() {
    let l = ok(&with_defaults(
        "frontend f\n bind :8080\n option tcplog\n default_backend b\nbackend b\n server s 127.0.0.1:80\n",
    ));
    assert!(
        warnings(&l).contains("log format ignored for frontend 'f' since it has no log address.")
    );
}

#[test]
fn no_log_clears_inherited_targets() {
    let l = ok(&format!(
        "global\n log stdout local0\n{D} log global\nfrontend f\n no log\n bind :8080\n default_backend b\nbackend b\n server s 127.0.0.1:80\n"
    ));
    assert!(l.config.frontends[0].log.is_empty());
    assert_eq!(l.config.backends[0].log.len(), 1);
}

#[test]
fn listen_is_split_into_frontend_and_backend() {
    let l = ok(&with_defaults(
        "listen web\n bind 127.0.0.1:8080\n balance leastconn\n server a 127.0.0.1:81 check\n server b 127.0.0.1:82 backup\n",
    ));
    let c = &l.config;
    assert_eq!(c.frontends.len(), 1);
    assert_eq!(c.backends.len(), 1);
    let (f, b) = (&c.frontends[0], &c.backends[0]);
    assert_eq!(f.name, "web");
    assert_eq!(b.name, "web");
    assert!(f.from_listen && b.from_listen);
    assert_eq!(f.id, b.id);
    assert_eq!(f.default_backend.as_deref(), Some("web"));
    assert_eq!(b.balance, Balance::LeastConn);
    assert!(b.servers[1].backup);
    assert_eq!(f.timeout_client, Some(Duration::from_secs(50)));
    assert_eq!(b.timeout_server, Some(Duration::from_secs(50)));
}

#[test]
fn defaults_inheritance() {
    let l = ok("defaults base
 mode tcp
 timeout connect 5s
 timeout client 50s
 timeout server 50s
 retries 7
defaults slow from base
 timeout server 5m
defaults
 timeout client 1s
 retries 1
frontend latest
 bind :8080
 default_backend picked
frontend named from slow
 bind :8081
 default_backend picked
backend picked from slow
 server s 127.0.0.1:80
backend anon
 server s 127.0.0.1:80
");
    let c = &l.config;
    // The last defaults section (anonymous) replaces everything before it.
    let latest = c.frontend("latest").unwrap();
    assert_eq!(latest.timeout_client, Some(Duration::from_secs(1)));
    let anon = c.backend("anon").unwrap();
    assert_eq!(anon.retries, 1);
    assert_eq!(anon.timeout_server, None);
    // `from slow` picks the named one, which itself inherits `base`.
    let named = c.frontend("named").unwrap();
    assert_eq!(named.timeout_client, Some(Duration::from_secs(50)));
    let picked = c.backend("picked").unwrap();
    assert_eq!(picked.timeout_server, Some(Duration::from_secs(300)));
    assert_eq!(picked.timeout_connect, Some(Duration::from_secs(5)));
    assert_eq!(picked.retries, 7);
    // The anonymous section lacks connect/server timeouts: warnings.
    let w = warnings(&l);
    assert!(w.contains("missing timeouts for backend 'anon'."), "{w}");
    assert!(!w.contains("'picked'"), "{w}");
}

#[test]
fn named_defaults_become_current() {
    let l = ok("defaults a\n mode tcp\n retries 9\nbackend b\n server s 127.0.0.1:80\n");
    assert_eq!(l.config.backends[0].retries, 9);
}

#[test]
fn bind_forms() {
    let l = ok(&with_defaults(
        "frontend f
 bind *:80
 bind :81
 bind 10.0.0.1:8000-8002
 bind [::1]:82
 bind :::83 v6only
 bind :84,:85,127.0.0.1:86-87
 bind ipv6@:88 v4v6 name n maxconn 10 backlog 20
 bind localhost:89
 default_backend b
backend b
 server s 127.0.0.1:80
",
    ));
    let b = &l.config.frontends[0].binds;
    let a = |s: &str| s.parse::<SocketAddr>().unwrap();
    assert_eq!(b[0].addrs, vec![a("0.0.0.0:80")]);
    assert_eq!(b[1].addrs, vec![a("0.0.0.0:81")]);
    assert_eq!(
        b[2].addrs,
        vec![a("10.0.0.1:8000"), a("10.0.0.1:8001"), a("10.0.0.1:8002")]
    );
    assert_eq!(b[3].addrs, vec![a("[::1]:82")]);
    assert_eq!(b[4].addrs, vec![a("[::]:83")]);
    assert!(b[4].v6only);
    assert_eq!(
        b[5].addrs,
        vec![
            a("0.0.0.0:84"),
            a("0.0.0.0:85"),
            a("127.0.0.1:86"),
            a("127.0.0.1:87")
        ]
    );
    assert_eq!(b[6].addrs, vec![a("[::]:88")]);
    assert!(b[6].v4v6);
    assert_eq!(b[6].name.as_deref(), Some("n"));
    assert_eq!((b[6].maxconn, b[6].backlog), (Some(10), Some(20)));
    assert_eq!(b[7].addrs, vec![a("127.0.0.1:89")]);
    assert_eq!(b[7].text, "localhost:89");
    assert_eq!(b[7].pos.line, 14);
}

#[test]
fn default_server_applies_to_following_servers() {
    let l = ok(&with_defaults(
        "backend b
 default-server inter 3s fastinter 1s rise 4 fall 5 weight 10 maxconn 50 maxqueue 7 check
 server a 127.0.0.1:81
 server b 127.0.0.1:82 weight 20 no-check
 default-server inter 10s
 server c 127.0.0.1:83 backup
",
    ));
    let s = &l.config.backends[0].servers;
    assert_eq!(s[0].inter, Duration::from_secs(3));
    assert_eq!(s[0].fastinter, Duration::from_secs(1));
    assert_eq!(s[0].downinter, Duration::from_secs(3));
    assert_eq!((s[0].rise, s[0].fall, s[0].weight), (4, 5, 10));
    assert_eq!((s[0].maxconn, s[0].maxqueue), (Some(50), Some(7)));
    assert!(s[0].check);
    assert_eq!(s[1].weight, 20);
    assert!(!s[1].check);
    // A second default-server line amends the defaults.
    assert_eq!(s[2].inter, Duration::from_secs(10));
    assert_eq!(s[2].fastinter, Duration::from_secs(1));
    assert_eq!(s[2].rise, 4);
    assert!(s[2].check);
    assert!(s[2].backup);
}

#[test]
fn default_server_in_defaults_section() {
    let l = ok(&with_defaults(
        " default-server inter 1s\nbackend b\n server a 127.0.0.1:81 check\n",
    ));
    assert_eq!(
        l.config.backends[0].servers[0].inter,
        Duration::from_secs(1)
    );
}

#[test]
fn server_options() {
    let l = ok(&with_defaults(
        "backend b
 option allbackups
 option redispatch
 retries 5
 fullconn 100
 server a 127.0.0.1:81 check weight 0 on-marked-down shutdown-sessions
 server b 127.0.0.1:82 check weight 256 addr 127.0.0.5 port 9000 id 42 disabled
 server c web1.example:83 backup on-marked-up shutdown-backup-sessions downinter 7s
 server d localhost:84
",
    ));
    let b = &l.config.backends[0];
    assert!(b.allbackups && b.redispatch);
    assert_eq!((b.retries, b.fullconn), (5, Some(100)));
    let s = &b.servers;
    assert_eq!(s[0].weight, 0);
    assert!(s[0].on_marked_down_shutdown_sessions);
    assert_eq!(s[1].weight, 256);
    assert_eq!(s[1].check_addr, Some("127.0.0.5".parse().unwrap()));
    assert_eq!(s[1].check_port, Some(9000));
    assert_eq!(s[1].check_target(), "127.0.0.5:9000".parse().unwrap());
    assert_eq!(s[0].check_target(), "127.0.0.1:81".parse().unwrap());
    assert_eq!(s[1].id, 42);
    assert!(s[1].disabled);
    assert_eq!(s[2].addr, "10.0.2.6:83".parse().unwrap());
    assert_eq!(s[2].addr_text, "web1.example");
    assert!(s[2].on_marked_up_shutdown_backup_sessions);
    assert_eq!(s[2].downinter, Duration::from_secs(7));
    // Automatic ids: the lowest free numbers, after custom ones are known.
    assert_eq!((s[0].id, s[2].id, s[3].id), (1, 2, 3));
    let l = ok(&with_defaults(
        "backend b\n server a 127.0.0.1:81\n server b 127.0.0.1:82 id 1\n",
    ));
    let s = &l.config.backends[0].servers;
    assert_eq!((s[0].id, s[1].id), (2, 1));
}

#[test]
fn balance_algorithms() {
    for (w, b) in [
        ("roundrobin", Balance::RoundRobin),
        ("static-rr", Balance::StaticRr),
        ("leastconn", Balance::LeastConn),
        ("first", Balance::First),
        ("source", Balance::Source),
    ] {
        let l = ok(&with_defaults(&format!(
            "backend b\n balance {w}\n server s 127.0.0.1:80\n"
        )));
        assert_eq!(l.config.backends[0].balance, b);
        assert_eq!(b.name(), w);
    }
}

#[test]
fn regex_expects() {
    let l = ok(&with_defaults(
        r#"backend b
 option tcp-check
 tcp-check send "PING\r\n"
 tcp-check expect rstring ^\\+?PONG
 tcp-check expect ! rstring ^-ERR
 server s 127.0.0.1:6379 check
backend h
 option httpchk GET /health
 http-check expect ! rstatus ^5
 server s 127.0.0.1:80 check
backend h2
 option httpchk GET /health
 http-check expect rstring "ready|ok"
 server s 127.0.0.1:80 check
"#,
    ));
    let re = |p: &str| Pattern::new(p).unwrap();
    assert_eq!(
        l.config.backends[0].check,
        CheckSpec::TcpCheck(vec![
            TcpCheckRule::Send(b"PING\r\n".to_vec()),
            TcpCheckRule::Expect {
                negate: false,
                kind: ExpectKind::Rstring(re(r"^\+?PONG"))
            },
            TcpCheckRule::Expect {
                negate: true,
                kind: ExpectKind::Rstring(re("^-ERR"))
            },
        ])
    );
    let CheckSpec::HttpChk(h) = &l.config.backends[1].check else {
        panic!("{:?}", l.config.backends[1].check)
    };
    assert_eq!(
        h.expect,
        Some(HttpExpect {
            negate: true,
            kind: HttpExpectKind::Rstatus(re("^5"))
        })
    );
    let CheckSpec::HttpChk(h) = &l.config.backends[2].check else {
        panic!("{:?}", l.config.backends[2].check)
    };
    assert_eq!(
        h.expect.as_ref().map(|e| &e.kind),
        Some(&HttpExpectKind::Rstring(re("ready|ok")))
    );
}

#[test]
fn tcp_check_rules() {
    let l = ok(&with_defaults(
        r#"backend b
 option tcp-check
 tcp-check connect port 6379 addr 127.0.0.2
 tcp-check send "PING\r\n"
 tcp-check send-binary 50494e47
 tcp-check expect string +PONG
 tcp-check expect ! string -ERR
 tcp-check expect !binary 2d
 tcp-check comment hello
 server s 127.0.0.1:6379 check
"#,
    ));
    assert_eq!(
        l.config.backends[0].check,
        CheckSpec::TcpCheck(vec![
            TcpCheckRule::Connect {
                port: Some(6379),
                addr: Some("127.0.0.2".parse().unwrap())
            },
            TcpCheckRule::Send(b"PING\r\n".to_vec()),
            TcpCheckRule::SendBinary(b"PING".to_vec()),
            TcpCheckRule::Expect {
                negate: false,
                kind: ExpectKind::String(b"+PONG".to_vec())
            },
            TcpCheckRule::Expect {
                negate: true,
                kind: ExpectKind::String(b"-ERR".to_vec())
            },
            TcpCheckRule::Expect {
                negate: true,
                kind: ExpectKind::Binary(vec![0x2d])
            },
        ])
    );
}

#[test]
fn check_rules_from_defaults_are_replaced_not_extended() {
    let l = ok(&with_defaults(
        " option tcp-check
 tcp-check send PING
 tcp-check expect string PONG
backend inherits
 server s 127.0.0.1:80 check
backend own
 tcp-check send HELLO
 server s 127.0.0.1:80 check
",
    ));
    let rules = |b: &Backend| match &b.check {
        CheckSpec::TcpCheck(r) => r.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(rules(&l.config.backends[0]).len(), 2);
    assert_eq!(
        rules(&l.config.backends[1]),
        vec![TcpCheckRule::Send(b"HELLO".to_vec())]
    );
    let l = ok(&with_defaults(
        " option httpchk GET /
 http-check expect status 200
backend inherits
 server s 127.0.0.1:80 check
backend own
 http-check expect status 204
 server s 127.0.0.1:80 check
",
    ));
    let expect = |b: &Backend| match &b.check {
        CheckSpec::HttpChk(h) => h.expect.clone(),
        other => panic!("{other:?}"),
    };
    let st = |c| {
        Some(HttpExpect {
            negate: false,
            kind: HttpExpectKind::Status(vec![(c, c)]),
        })
    };
    assert_eq!(expect(&l.config.backends[0]), st(200));
    assert_eq!(expect(&l.config.backends[1]), st(204));
}

#[test]
fn tcp_check_rules_without_option_warn() {
    let l = ok(&with_defaults(
        "backend b\n tcp-check send x\n server s 127.0.0.1:80 check\n",
    ));
    assert_eq!(l.config.backends[0].check, CheckSpec::Connect);
    assert!(warnings(&l).contains(
        "backend 'b' uses tcp-check rules without 'option tcp-check', so the rules are ignored."
    ));
}

#[test]
fn httpchk() {
    let l = ok(&with_defaults(
        r"backend b
 option httpchk GET /health HTTP/1.1\r\nHost:\ www
 http-check send hdr X-Check yes
 http-check expect status 200-299,304
 server s 127.0.0.1:80 check
",
    ));
    let CheckSpec::HttpChk(h) = &l.config.backends[0].check else {
        panic!("{:?}", l.config.backends[0].check);
    };
    assert_eq!((h.method.as_str(), h.uri.as_str()), ("GET", "/health"));
    assert_eq!(h.version, "HTTP/1.1");
    assert_eq!(
        h.headers,
        vec![
            ("Host".to_string(), "www".to_string()),
            ("X-Check".to_string(), "yes".to_string())
        ]
    );
    assert_eq!(
        h.expect,
        Some(HttpExpect {
            negate: false,
            kind: HttpExpectKind::Status(vec![(200, 299), (304, 304)])
        })
    );
    let l = ok(&with_defaults(
        "backend b\n option httpchk\n server s 127.0.0.1:80 check\n",
    ));
    let CheckSpec::HttpChk(h) = &l.config.backends[0].check else {
        panic!()
    };
    assert_eq!(
        (h.method.as_str(), h.uri.as_str(), h.version.as_str()),
        ("OPTIONS", "/", "HTTP/1.0")
    );
    assert_eq!(h.expect, None);
    let l = ok(&with_defaults(
        "backend b\n option httpchk /ping\n http-check expect ! string maintenance\n server s 127.0.0.1:80 check\n",
    ));
    let CheckSpec::HttpChk(h) = &l.config.backends[0].check else {
        panic!()
    };
    assert_eq!(h.uri, "/ping");
    assert_eq!(
        h.expect,
        Some(HttpExpect {
            negate: true,
            kind: HttpExpectKind::String(b"maintenance".to_vec())
        })
    );
}

#[test]
fn timeouts_and_units() {
    let l = ok("defaults
 mode tcp
 timeout connect 500000us
 timeout client 2m
 timeout server 1h
 timeout tunnel 1d
 timeout client-fin 1s
 timeout server-fin 1500
 timeout queue 30s
 timeout check 2s
 timeout http-request 10s
listen l
 bind :80
 server s 127.0.0.1:81
");
    let (f, b) = (&l.config.frontends[0], &l.config.backends[0]);
    assert_eq!(f.timeout_client, Some(Duration::from_secs(120)));
    assert_eq!(f.timeout_client_fin, Some(Duration::from_secs(1)));
    assert_eq!(b.timeout_connect, Some(Duration::from_millis(500)));
    assert_eq!(b.timeout_server, Some(Duration::from_secs(3600)));
    assert_eq!(b.timeout_tunnel, Some(Duration::from_secs(86400)));
    assert_eq!(b.timeout_server_fin, Some(Duration::from_millis(1500)));
    assert_eq!(b.timeout_queue, Some(Duration::from_secs(30)));
    assert_eq!(b.timeout_check, Some(Duration::from_secs(2)));
    assert_eq!(warnings(&l), "");
}

#[test]
fn global_settings() {
    let l = ok("global
 log stdout format raw local0 info
 log stderr local1 notice err
 log 127.0.0.1:5140 len 2048 local2
 log 127.0.0.1 local3
 maxconn 4096
 nbthread 2
 pidfile /run/p.pid
 hard-stop-after 30s
 stats socket ipv4@127.0.0.1:9999 level operator
 stats socket /tmp/s.sock user root group root
 stats maxconn 5
 uid 0
 spread-checks 5
 log-tag px
 master-worker
 node lb1
 description two words
");
    let g = &l.config.global;
    assert_eq!(g.log[0].dest, LogDest::Stdout);
    assert_eq!(g.log[0].format, LogFormatKind::Raw);
    assert_eq!(g.log[0].max_level, Some(6));
    assert_eq!(g.log[1].dest, LogDest::Stderr);
    assert_eq!((g.log[1].max_level, g.log[1].min_level), (Some(5), Some(3)));
    assert_eq!(
        g.log[2].dest,
        LogDest::Udp("127.0.0.1:5140".parse().unwrap())
    );
    assert_eq!(g.log[2].len, Some(2048));
    assert_eq!(
        g.log[3].dest,
        LogDest::Udp("127.0.0.1:514".parse().unwrap())
    );
    assert_eq!(g.maxconn, Some(4096));
    assert_eq!(g.nbthread, Some(2));
    assert_eq!(g.pidfile, Some(PathBuf::from("/run/p.pid")));
    assert_eq!(g.hard_stop_after, Some(Duration::from_secs(30)));
    assert_eq!(
        g.stats_sockets[0].addr,
        StatsAddr::Tcp("127.0.0.1:9999".parse().unwrap())
    );
    assert_eq!(g.stats_sockets[0].level, StatsLevel::Operator);
    assert_eq!(g.stats_sockets[1].level, StatsLevel::Operator);
    assert_eq!(
        (g.stats_sockets[1].uid, g.stats_sockets[1].gid),
        (Some(0), Some(0))
    );
    assert_eq!(g.stats_timeout, DEFAULT_STATS_TIMEOUT);
    assert_eq!(g.stats_maxconn, Some(5));
    assert_eq!(g.uid, Some(0));
    assert_eq!(g.spread_checks, 5);
    assert_eq!(g.log_tag.as_deref(), Some("px"));
    assert!(g.master_worker);
    assert_eq!(g.node.as_deref(), Some("lb1"));
    assert_eq!(g.description.as_deref(), Some("two words"));
    // A stats socket counts as a listener, as for `haproxy -c`.
    assert!(l.config.has_listeners());
}

#[test]
fn performance_tuning_is_accepted_with_a_warning() {
    let l = ok("global\n tune.bufsize 32768\n cpu-map auto:1/1-4 0-3\n ssl-engine rdrand\n");
    let w = warnings(&l);
    assert!(w.contains("parsing [t.cfg:2] : 'tune.bufsize' only tunes HAProxy's internals; accepted, it has no effect in proxyd."), "{w}");
    assert!(w.contains("'cpu-map'"), "{w}");
    assert!(!w.contains("ssl-engine"), "{w}");
    let l = ok(&with_defaults(
        " option splice-auto\nbackend b\n server s 127.0.0.1:80\n",
    ));
    assert!(warnings(&l).contains("'option splice-auto' only tunes HAProxy's internals"));
}

#[test]
fn effective_maxconn_and_fullconn() {
    let l = ok(&with_defaults(
        "frontend f\n bind :80\n default_backend b\nfrontend g\n bind :81\n maxconn 100\n default_backend b\nbackend b\nbackend c\n fullconn 7\nbackend d\n",
    ));
    let c = &l.config;
    assert_eq!(c.frontend_maxconn(&c.frontends[0], 9985), 9985);
    assert_eq!(c.frontend_maxconn(&c.frontends[1], 9985), 100);
    // (9985 + 100) / 10 rounded up, as HAProxy's `slim` of the backend.
    assert_eq!(c.backend_fullconn(&c.backends[0], 9985), 1009);
    assert_eq!(c.backend_fullconn(&c.backends[1], 9985), 7);
    assert_eq!(c.backend_fullconn(&c.backends[2], 9985), 1);
}

#[test]
fn no_listener() {
    let l = ok(&with_defaults("backend b\n server s 127.0.0.1:80\n"));
    assert!(!l.config.has_listeners());
    let l = ok(&with_defaults(
        "frontend f\n disabled\n bind :80\n default_backend b\nbackend b\n server s 127.0.0.1:80\n",
    ));
    assert!(l.config.frontends[0].disabled);
    assert!(!l.config.has_listeners());
}

#[test]
fn lenient_numbers_warn_like_atol() {
    let l = ok(&with_defaults(
        "frontend f\n bind :80\n maxconn abc\n default_backend b\nbackend b\n retries 4x\n server s 127.0.0.1:80 weight abc\n",
    ));
    assert_eq!(l.config.frontends[0].maxconn, None);
    assert_eq!(l.config.backends[0].retries, 4);
    assert_eq!(l.config.backends[0].servers[0].weight, 0);
    let w = warnings(&l);
    assert!(
        w.contains("'maxconn' : 'abc' is not a valid number, read as 0 like HAProxy does."),
        "{w}"
    );
}

#[test]
fn capability_warnings() {
    let l = ok(&with_defaults(
        "frontend f\n bind :80\n balance leastconn\n timeout server 1s\n default_backend b\nbackend b\n bind :81\n option tcplog\n server s 127.0.0.1:80\n",
    ));
    let w = warnings(&l);
    assert!(
        w.contains(
            "parsing [t.cfg:8] : 'balance' ignored because frontend 'f' has no backend capability."
        ),
        "{w}"
    );
    assert!(w.contains("parsing [t.cfg:9] : 'timeout server' will be ignored because frontend 'f' has no backend capability"), "{w}");
    assert!(
        w.contains(
            "parsing [t.cfg:12] : 'bind' ignored because backend 'b' has no frontend capability."
        ),
        "{w}"
    );
    assert!(
        w.contains("backend 'b' : 'option tcplog' directive is ignored in backends."),
        "{w}"
    );
    assert!(l.config.backends[0].servers.len() == 1);
}

#[test]
fn quoting_and_env_in_values() {
    let l = ok(&with_defaults(
        "frontend \"q\"\n bind '127.0.0.1:8080' # comment\n default_backend b\nbackend b\n server s \"127.0.0.1:81\"\n",
    ));
    assert_eq!(l.config.frontends[0].name, "q");
    assert_eq!(
        l.config.frontends[0].binds[0].addrs[0],
        "127.0.0.1:8080".parse().unwrap()
    );
}

#[test]
fn files_are_read_in_order_and_sections_end_with_the_file() {
    let r = parse_sources(
        &[
            ("a.cfg".to_string(), D.to_string()),
            ("b.cfg".to_string(), " retries 3\n".to_string()),
        ],
        &FakeHost,
        &common::lexer::NoEnv,
    );
    let e = r.unwrap_err();
    assert!(e.diags[0]
        .render(1)
        .contains("parsing [b.cfg:1]: unknown keyword 'retries' out of section."));
    let l = parse_sources(
        &[
            ("a.cfg".to_string(), D.to_string()),
            (
                "b.cfg".to_string(),
                "listen l\n bind :80\n server s 127.0.0.1:81\n".to_string(),
            ),
        ],
        &FakeHost,
        &common::lexer::NoEnv,
    )
    .unwrap();
    assert_eq!(l.config.frontends[0].pos.to_string(), "b.cfg:1");
    assert_eq!(
        l.config.frontends[0].timeout_client,
        Some(Duration::from_secs(50))
    );
}

#[test]
fn load_reads_directories_in_lexical_order() {
    let dir = std::env::temp_dir().join(format!("proxyd-cfg-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("10-defaults.cfg"), D).unwrap();
    std::fs::write(
        dir.join("20-listen.cfg"),
        "listen l\n bind 127.0.0.1:80\n server s 127.0.0.1:81\n",
    )
    .unwrap();
    std::fs::write(dir.join("05-ignored.txt"), "garbage").unwrap();
    let r = load_with(std::slice::from_ref(&dir), &FakeHost, &common::lexer::NoEnv);
    let missing = load_with(&[dir.join("nope.cfg")], &FakeHost, &common::lexer::NoEnv);
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let none = load_with(&[empty], &FakeHost, &common::lexer::NoEnv);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(none.unwrap_err().diags[0]
        .text
        .contains("No configuration file found"));
    let l = r.unwrap();
    assert_eq!(l.config.frontends[0].name, "l");
    assert!(l.config.frontends[0].pos.file.ends_with("20-listen.cfg"));
    let e = missing.unwrap_err();
    assert!(e.diags[0]
        .text
        .contains("Cannot open configuration file/directory"));
    assert!(e.diags[0].text.ends_with("No such file or directory"));
}

/// Every error path: (configuration, expected part of the output).
#[test]
fn error_paths() {
    let fe = "frontend f\n bind :80\n default_backend b\n";
    let cases: Vec<(String, &str)> = vec![
        ("foo bar\n".into(), "parsing [t.cfg:1]: unknown keyword 'foo' out of section."),
        (with_defaults(&format!("{fe}backend b\n bogus 1\n")), "parsing [t.cfg:10] : unknown keyword 'bogus' in 'backend' section"),
        (with_defaults(&format!("{fe}backend b\n mdoe tcp\n")), "unknown keyword 'mdoe' in 'backend' section; did you mean 'mode' maybe ?"),
        ("global\n bogusg\n".into(), "unknown keyword 'bogusg' in 'global' section"),
        ("global\n deamon\n".into(), "did you mean 'daemon' maybe ?"),
        ("defaults\n timeout client 10x\n".into(), "parsing [t.cfg:2] : unexpected character 'x' in 'timeout client'"),
        ("defaults\n timeout client\n".into(), "'timeout client' expects an integer value (in milliseconds)"),
        ("defaults\n timeout client 30d\n".into(), "timer overflow"),
        ("defaults\n timeout client 1s 2s\n".into(), "cannot handle unexpected argument '2s'"),
        ("defaults\n timeout forever 1s\n".into(), "(got 'forever')"),
        ("defaults\n mode udp\n".into(), "unknown proxy mode 'udp'."),
        ("defaults\n mode\n".into(), "'mode' expects"),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 weight 300\n")), "[t.cfg:10] : 'server b/s1' : weight of server s1 is not within 0 and 256 (300).."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 rise 0\n")), "'server b/s1' : 'rise' has to be > 0.."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 weight -1\n")), "weight of server s1 is not within 0 and 256 (-1).."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 fall -2\n")), "'server b/s1' : 'fall' has to be > 0.."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 id -1\n")), "custom id has to be > 0"),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 fall 0\n")), "'server b/s1' : 'fall' has to be > 0.."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 inter 5q\n")), "unexpected character 'q' in 'inter' argument of server s1.."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 inter 0\n")), "invalid value 0 for argument 'inter'"),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 inter\n")), "'inter' expects a delay as argument.."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 rise\n")), "'rise' expects an integer argument.."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 chek\n")), "'server b/s1' : unknown keyword 'chek'; did you mean 'check' maybe ?"),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 zzzzzz\n")), "'server b/s1' : unknown keyword 'zzzzzz'."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 send-proxy\n")), "'server b/s1' : 'send-proxy' is not supported by proxyd."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:99999\n")), "'server b/s1' : invalid port '99999'"),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:abc\n")), "invalid character 'a' in port number 'abc' in '127.0.0.1:abc'"),
        (with_defaults(&format!("{fe}backend b\n server s1 nosuch.invalid:80\n")), "[t.cfg:10] : 'server b/s1' : could not resolve address 'nosuch.invalid'.\n[ALERT]    (1) : config : Failed to initialize server(s) addr."),
        (with_defaults(&format!("{fe}backend b\n server s1 *:80\n")), "'server b/s1' : invalid address: '*' in '*:80'"),
        (with_defaults(&format!("{fe}backend b\n server s1 /tmp/sock\n")), "address '/tmp/sock' is not supported by proxyd"),
        (with_defaults(&format!("{fe}backend b\n server s1\n")), "'server' expects <name> and <addr>[:<port>] as arguments."),
        (with_defaults(&format!("{fe}backend b\n server s!1 127.0.0.1:80\n")), "character '!' is not permitted in server name 's!1'"),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1 check\n")), "config: backend 'b': server 's1' has neither service port nor check port."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1\n")), "without a port (the client's destination port) is not supported by proxyd"),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:+1000\n")), "'server b/s1' : port offsets ('+1000', relative to the client's destination port) are not supported by proxyd."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80\n server s1 127.0.0.1:81\n")), "parsing [t.cfg:11] : backend 'b', another server named 's1' was already defined at line 10, please use distinct names."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 id 0\n")), "custom id has to be > 0"),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 id 3\n server s2 127.0.0.1:80 id 3\n")), "custom id 3 already used"),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 addr nosuch.invalid\n")), "'addr' : invalid address: 'nosuch.invalid'"),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 port 70000\n")), "invalid port '70000'"),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 on-marked-down foo\n")), "'on-marked-down' expects 'shutdown-sessions' but got 'foo'."),
        (with_defaults(&format!("{fe}backend b\n server s1 127.0.0.1:80 on-marked-up foo\n")), "'on-marked-up' expects 'shutdown-backup-sessions' but got 'foo'."),
        (with_defaults(&format!("{fe}backend b\n default-server id 4\n")), "'id' is not allowed on default-server"),
        (with_defaults("frontend f\n bind :80\n default_backend nob\n"), "Proxy 'f': unable to find required default_backend: 'nob'."),
        (with_defaults("frontend f\n bind :80\n default_backend g\nfrontend g\n bind :81\n"), "unable to find required default_backend: 'g'."),
        (with_defaults("frontend f\n bind :80\n default_backend\n"), "'default_backend' expects a backend name."),
        (with_defaults("frontend f\n bind :80\nfrontend f\n bind :81\n"), "Parsing [t.cfg:8]: frontend 'f' has the same name as frontend 'f' declared at t.cfg:6."),
        (with_defaults("listen f\n bind :80\nbackend f\n"), "backend 'f' has the same name as proxy 'f' declared at t.cfg:6."),
        (with_defaults("frontend\n bind :80\n"), "'frontend' expects an <id> argument"),
        (with_defaults("backend a/b\n"), "character '/' is not permitted in 'backend' name 'a/b'."),
        (with_defaults("backend a junk\n"), "unexpected argument 'junk'"),
        (with_defaults("backend a from\n"), "missing defaults section name after 'from'"),
        ("defaults base\nfrontend f from nosuch\n bind :80\n".into(), "defaults section 'nosuch' not found for frontend 'f'."),
        ("defaults a from nosuch\n".into(), "defaults section 'nosuch' not found for defaults section 'a'."),
        ("defaults base\ndefaults base\nlisten l from base\n bind :80\n".into(), "ambiguous defaults section name 'base' referenced by proxy 'l' exists at least at t.cfg:1 and t.cfg:2."),
        (with_defaults("frontend f\n bind 127.0.0.1:abc\n"), "'bind' : invalid character 'a' in port number 'abc' in '127.0.0.1:abc'"),
        (with_defaults("frontend f\n bind 127.0.0.1\n"), "'bind' : missing port specification in '127.0.0.1'"),
        (with_defaults("frontend f\n bind :0\n"), "'bind' : invalid port '0'"),
        (with_defaults("frontend f\n bind :2-1\n"), "'bind' : invalid port range '2-1'"),
        (with_defaults("frontend f\n bind nosuch.invalid:80\n"), "'bind' : invalid address: 'nosuch.invalid' in 'nosuch.invalid:80'"),
        (with_defaults("frontend f\n bind\n"), "'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments."),
        (with_defaults("frontend f\n bind :80 ssl crt x.pem\n"), "'bind :80' : 'ssl' is not supported by proxyd."),
        (with_defaults("frontend f\n bind :80 maxconn\n"), "missing maxconn value"),
        (with_defaults("frontend f\n bind :80 maxconn 0\n"), "invalid maxconn value '0'"),
        (with_defaults("frontend f\n bind :80 bogus\n"), "'bind :80' unknown keyword 'bogus'."),
        (with_defaults("frontend f\n bind /tmp/x.sock\n"), "'bind /tmp/x.sock' is not supported by proxyd (only TCP addresses)."),
        (with_defaults(" bind :80\n"), "parsing [t.cfg:6] : 'bind' not allowed in 'defaults' section."),
        (with_defaults(" server s 127.0.0.1:80\n"), "[t.cfg:6] : 'server' not allowed in 'defaults' section."),
        (with_defaults("frontend f\n bind :80\n server s 127.0.0.1:80\n"), "[t.cfg:8] : parsing [t.cfg:8] : 'server' not allowed because frontend 'f' has no backend capability."),
        (with_defaults("frontend f\n bind :80\n maxconn\n"), "'maxconn' expects an integer argument."),
        (with_defaults("frontend f\n bind :80\n backlog\n"), "'backlog' expects an integer argument."),
        (with_defaults("backend b\n fullconn\n"), "'fullconn' expects an integer argument."),
        (with_defaults("backend b\n retries\n"), "'retries' expects an integer argument."),
        (with_defaults("backend b\n balance fastest\n"), "balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options."),
        (with_defaults("backend b\n balance uri\n"), "'balance uri' is not supported by proxyd"),
        (with_defaults("backend b\n balance roundrobin extra\n"), "unexpected argument 'extra'"),
        (with_defaults("backend b\n option tcpchk\n"), "unknown option 'tcpchk'; did you mean 'httpchk' maybe ?"),
        (with_defaults("backend b\n option zzzzzz\n"), "unknown option 'zzzzzz'."),
        (with_defaults("backend b\n option\n"), "'option' expects an option name."),
        (with_defaults("frontend f\n bind :80\n option dontlognull x\n"), "'option dontlognull' cannot handle unexpected argument 'x'."),
        (with_defaults("frontend f\n bind :80\n option httplog foo\n"), "'option httplog' only supports the 'clf' argument."),
        (with_defaults("frontend f\n bind :80\n option httpslog\n"), "'option httpslog' (in 'frontend' section) is not supported by proxyd"),
        (with_defaults("backend b\n option tcpka\n"), "'option tcpka' (in 'backend' section) is not supported by proxyd"),
        (with_defaults("backend b\n option redispatch 3\n"), "'option redispatch <interval>' is not supported by proxyd"),
        (with_defaults("backend b\n no option tcp-check\n"), "'no option tcp-check' is not supported."),
        (with_defaults("backend b\n no foo\n"), "'no' only supports 'option' and 'log'."),
        (with_defaults("backend b\n option httpchk GET / HTTP/1.0 x\n"), "'option httpchk' cannot handle unexpected argument 'x'."),
        (with_defaults("backend b\n tcp-check foo\n"), "'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', 'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got 'foo'"),
        (with_defaults("backend b\n tcp-check send-binary zz\n"), "'tcp-check send-binary' : 'zz' invalid binary string (an hex digit is expected (found 'z'))."),
        (with_defaults("backend b\n tcp-check send\n"), "'tcp-check send' expects a string as argument."),
        (with_defaults("backend b\n tcp-check send a b\n"), "unexpected argument 'b'"),
        (with_defaults("backend b\n tcp-check send-lf x\n"), "'tcp-check send-lf' is not supported by proxyd."),
        (with_defaults("backend b\n tcp-check set-var(check.x) int(1)\n"), "is not supported by proxyd"),
        (with_defaults("backend b\n tcp-check connect port 0\n"), "expects a valid TCP port"),
        (with_defaults("backend b\n tcp-check connect ssl\n"), "'tcp-check connect' : 'ssl' is not supported by proxyd."),
        (with_defaults("backend b\n tcp-check connect foo\n"), "'tcp-check connect' : unexpected argument 'foo'"),
        (with_defaults("backend b\n tcp-check connect addr nosuch.invalid\n"), "invalid address 'nosuch.invalid'"),
        (with_defaults("backend b\n tcp-check expect foo bar\n"), "but got 'foo' as argument.."),
        (with_defaults("backend b\n tcp-check expect string\n"), "'string' expects <pattern> as an argument."),
        (with_defaults("backend b\n tcp-check expect min-recv 4\n"), "'tcp-check expect min-recv' is not supported by proxyd"),
        (with_defaults("backend b\n tcp-check expect rbinary\n"), "'rbinary' expects <pattern> as an argument."),
        (with_defaults("backend b\n tcp-check expect rstring (OK\n"), "'tcp-check expect' : regex '(OK' is invalid"),
        (with_defaults("backend b\n tcp-check expect binary zz\n"), "invalid binary string"),
        (with_defaults("backend b\n tcp-check expect string OK on-success x\n"), "'on-success' is not supported by proxyd."),
        (with_defaults("backend b\n http-check expect status 200\n http-check expect status 201\n"), "several expect rules are not supported by proxyd"),
        (with_defaults("backend b\n http-check expect status abc\n"), "invalid range of status codes 'abc'"),
        (with_defaults("backend b\n http-check expect status\n"), "'status' expects <pattern> as an argument."),
        (with_defaults("backend b\n http-check expect hdr name x\n"), "'http-check expect hdr' is not supported by proxyd"),
        (with_defaults("backend b\n http-check expect rstatus ^2(\n"), "'http-check expect' : regex '^2(' is invalid"),
        (with_defaults("backend b\n http-check expect foo 1\n"), "but got 'foo' as argument."),
        (with_defaults("backend b\n http-check expect status 200\n http-check send meth GET\n"), "unable to add http-check send rule at step 2 (missing connect rule).."),
        (with_defaults("backend b\n http-check send foo bar\n"), "'http-check send' : 'foo' is not supported by proxyd"),
        (with_defaults("backend b\n http-check send hdr X\n"), "'hdr' expects <name> and <value> as arguments."),
        (with_defaults("backend b\n http-check send meth\n"), "'meth' expects a value."),
        (with_defaults("backend b\n http-check disable-on-404\n"), "'http-check disable-on-404' is not supported by proxyd."),
        (with_defaults("backend b\n http-check foo\n"), "'http-check' only supports"),
        (with_defaults("frontend f\n bind :80\n acl a src 1.2.3.4\n"), "parsing [t.cfg:8] : 'acl' (in 'frontend' section) is not supported by proxyd"),
        (with_defaults("frontend f\n bind :80\n use_backend b if TRUE\n"), "'use_backend' (in 'frontend' section) is not supported by proxyd"),
        (with_defaults("frontend f\n bind :80\n http-request deny\n"), "'http-request' (in 'frontend' section) is not supported by proxyd"),
        (with_defaults("frontend f\n mode http\n bind :80\n"), "parsing [t.cfg:7] : frontend 'f' (declared at t.cfg:6) is in 'mode http', which proxyd does not support (only 'mode tcp' is implemented)."),
        ("defaults\n mode http\nbackend b\n".into(), "parsing [t.cfg:2] : backend 'b' (declared at t.cfg:3) is in 'mode http', which proxyd does not support"),
        (with_defaults("peers p\n peer a 127.0.0.1:1\n"), "parsing [t.cfg:6] : 'peers' sections are not supported by proxyd."),
        (with_defaults("userlist u\n"), "'userlist' sections are not supported by proxyd."),
        ("defaults\n errorfile 400 /nonexistent/400.http\n".into(), "parsing [t.cfg:2] : errorfile : error opening file '/nonexistent/400.http'."),
        ("defaults\n errorfile 400\n".into(), "'errorfile' expects <status_code> and <file> as arguments."),
        ("defaults\n errorfile 999 /etc/haproxy/errors/400.http\n".into(), "errorfile : status code '999' not handled."),
        ("defaults\n errorfile 503 /fake/garbage.http\n".into(), "errorfile : '/fake/garbage.http': unable to parse headers (error offset: 0)"),
        ("defaults\n errorfile 503 /fake/unfinished.http\n".into(), "unable to parse headers (error offset: -2)"),
        (with_defaults("backend b\n id 0\n"), "'id' : expects a strictly positive integer argument"),
        (with_defaults("backend a\n id 5\nbackend b\n id 5\n"), "custom id 5 already used at t.cfg:6 ('a')"),
        (with_defaults(" id 5\n"), "'id' not allowed in 'defaults' section."),
        ("global\n user nosuchuser\n".into(), "parsing [t.cfg:2] : cannot find user id for 'nosuchuser' (0:Success)"),
        ("global\n group nosuchgroup\n".into(), "cannot find group id for 'nosuchgroup' (0:Success)"),
        ("global\n user\n".into(), "'user' expects a user name."),
        ("global\n uid x\n".into(), "'uid' expects an integer argument."),
        ("global\n chroot\n".into(), "'chroot' expects a directory as an argument."),
        ("global\n pidfile\n".into(), "'pidfile' expects a file name as an argument."),
        ("global\n ca-base\n".into(), "'ca-base' expects a directory path as an argument."),
        ("global\n maxconn\n".into(), "'maxconn' expects an integer argument."),
        ("global\n nbthread 0\n".into(), "'nbthread' value must be between 1 and 64 (was 0)"),
        ("global\n nbthread 65\n".into(), "'nbthread' value must be between 1 and 64 (was 65)"),
        ("global\n nbthread\n".into(), "'nbthread' expects an integer argument."),
        ("global\n hard-stop-after 5q\n".into(), "unexpected character 'q' in argument to <hard-stop-after>."),
        ("global\n hard-stop-after\n".into(), "'hard-stop-after' expects <time> as argument."),
        ("global\n hard-stop-after 99d\n".into(), "timer overflow"),
        ("global\n spread-checks 60\n".into(), "'spread-checks' needs a positive value in range 0..50."),
        ("global\n spread-checks\n".into(), "'spread-checks' expects an integer argument."),
        ("global\n log-tag\n".into(), "'log-tag' expects a tag for use in syslog."),
        ("global\n nbproc 2\n".into(), "'nbproc' (in 'global' section) is not supported by proxyd"),
        ("global\n stats timeout 1x\n".into(), "'stats timeout' : unexpected character 'x'"),
        ("global\n stats timeout 0\n".into(), "'stats timeout' expects a positive value"),
        ("global\n stats timeout\n".into(), "'stats timeout' expects a timeout in milliseconds."),
        ("global\n stats timeout 30d\n".into(), "timer overflow"),
        ("global\n stats maxconn 0\n".into(), "'stats maxconn' : bad value"),
        ("global\n stats maxconn\n".into(), "'stats maxconn' expects an integer argument."),
        ("global\n stats foo\n".into(), "'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got 'foo')."),
        ("global\n stats socket\n".into(), "'stats socket' : missing socket address"),
        ("global\n stats socket /run/x.sock mode 999\n".into(), "'stats socket' : ''mode' : missing or invalid mode '999' (octal integer expected)'"),
        ("global\n stats socket /run/x.sock level god\n".into(), "'level' only supports 'user', 'operator', and 'admin' (got 'god')"),
        ("global\n stats socket /run/x.sock user nosuch\n".into(), "'user' : unknown user name 'nosuch'"),
        ("global\n stats socket /run/x.sock uid x\n".into(), "'uid' : expects an integer argument"),
        ("global\n stats socket /run/x.sock uid\n".into(), "'uid' : missing value"),
        ("global\n stats socket /run/x.sock expose-fd all\n".into(), "only 'listeners' is supported"),
        ("global\n stats socket /run/x.sock ssl\n".into(), "'stats socket' : 'ssl' is not supported by proxyd on stats sockets."),
        ("global\n stats socket /run/x.sock levle admin\n".into(), "'stats socket' : unknown keyword 'levle'; did you mean 'level' maybe ?"),
        ("global\n stats socket 127.0.0.1\n".into(), "'stats socket' : missing port specification in '127.0.0.1'"),
        ("global\n stats socket nosuch.invalid:80\n".into(), "'stats socket' : invalid address: 'nosuch.invalid'"),
        ("global\n stats socket 127.0.0.1:abc\n".into(), "'stats socket' : invalid character 'a'"),
        ("global\n stats socket abns@x\n".into(), "address 'abns@x' is not supported by proxyd"),
        ("global\n log /dev/log local9\n".into(), "parsing [t.cfg:2] : log : unknown log facility 'local9'"),
        ("global\n log /dev/log local0 loud\n".into(), "log : unknown optional log level 'loud'"),
        ("global\n log /dev/log local0 info loud\n".into(), "log : unknown optional minimum log level 'loud'"),
        ("global\n log /dev/log local0 info err x\n".into(), "log : cannot handle unexpected argument 'x'."),
        ("global\n log /dev/log\n".into(), "'log' expects <address> and <facility> as arguments."),
        ("global\n log\n".into(), "'log' expects either <address[:port]> and <facility> or 'global' as arguments."),
        ("global\n log global\n".into(), "'log global' makes no sense in the 'global' section."),
        ("global\n log ring@r local0\n".into(), "log : target 'ring@r' is not supported by proxyd"),
        ("global\n log nosuch.invalid local0\n".into(), "log : invalid address: 'nosuch.invalid'"),
        ("global\n log 127.0.0.1:abc local0\n".into(), "log : invalid character 'a'"),
        ("global\n log /dev/log len 10 local0\n".into(), "log : invalid max length '10'"),
        ("global\n log /dev/log len\n".into(), "log : 'len' expects an integer argument."),
        ("global\n log /dev/log format xml local0\n".into(), "log : unknown log format 'xml'"),
        ("global\n log /dev/log sample 1:2 local0\n".into(), "log : 'sample' is not supported by proxyd."),
        (with_defaults(" log global x\n"), "'log global' does not take any argument."),
        ("frontend f\n bind \"127.0.0.1:80\n".into(), "parsing [t.cfg:2]: unmatched quote at position 7:\n   bind \"127.0.0.1:80\n        ^"),
    ];
    let mut failures = Vec::new();
    for (src, want) in &cases {
        match parse(src) {
            Ok(_) => failures.push(format!("accepted:\n{src}")),
            Err(e) => {
                let text = e
                    .diags
                    .iter()
                    .map(|d| d.render(1))
                    .collect::<Vec<_>>()
                    .join("\n");
                if !text.contains(want) {
                    failures.push(format!("{src}\n-- wanted {want:?}, got:\n{text}"));
                }
                if !text.ends_with("Fatal errors found in configuration.") {
                    failures.push(format!("{src}\n-- no final line:\n{text}"));
                }
                if e.alerts().all(|d| d.pos.is_none()) {
                    failures.push(format!("{src}\n-- no alert carries a position:\n{text}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn parse_errors_name_the_file_and_stop_before_post_checks() {
    let text = err(&with_defaults(
        "frontend f\n bind :80\n default_backend nob\n bogus\n",
    ));
    assert!(text.contains("[ALERT]    (1) : config : parsing [t.cfg:9] : unknown keyword 'bogus' in 'frontend' section"));
    assert!(text.contains("[ALERT]    (1) : config : Error(s) found in configuration file : t.cfg"));
    // Post-parse checks (the missing backend) are not run after parse errors.
    assert!(!text.contains("default_backend: 'nob'"));
}

#[test]
fn conditional_blocks() {
    let l = ok(&with_defaults(
        ".if 0
frontend never
 bogus
.elif streq(a,a)
.warning \"picked\"
frontend f
 bind :80
 .if version_before(2.0)
 default_backend old
 .else
 default_backend b
 .endif
.else
frontend nor
.endif
backend b
 server s 127.0.0.1:81
",
    ));
    assert_eq!(l.config.frontends.len(), 1);
    assert_eq!(l.config.frontends[0].default_backend.as_deref(), Some("b"));
    assert_eq!(
        warnings(&l),
        "[WARNING]  (1) : config : parsing [t.cfg:10]: 'picked'."
    );
    // Nested blocks inside an inactive branch stay inactive.
    let l = ok(&with_defaults(
        ".if 0\n.if 1\nfrontend x\n.else\nfrontend y\n.endif\n.endif\n",
    ));
    assert!(l.config.frontends.is_empty());
    assert!(
        err(".if 1\n.else\n.elif 1\n.endif\n").contains("'.elif' after '.else' is not permitted.")
    );
    assert!(err(".elif 1\n").contains("lone '.elif' with no matching '.if'."));
    assert!(err(".if 1\n.alert \"no\"\n.endif\n").contains("parsing [t.cfg:2]: 'no'."));
}

#[test]
fn setenv_family_affects_later_lines() {
    struct E;
    impl common::lexer::Env for E {
        fn get(&self, name: &str) -> Option<String> {
            match name {
                "KEEP" => Some("1".into()),
                "DROP" => Some("2".into()),
                "PRE" => Some("19000".into()),
                _ => None,
            }
        }
    }
    let src = format!(
        "global
 setenv PORT 18099
 presetenv PRE 1
 presetenv NEW 18100
 unsetenv KEEP2
 resetenv KEEP PORT PRE NEW
{D}frontend f
 bind :\"$PORT\"
 bind :${{PRE}}
 bind :$NEW
.if defined(DROP)
 bogus
.endif
.if defined(KEEP)
 default_backend b
.endif
backend b
 server s 127.0.0.1:80
"
    );
    let l = parse_sources(&[("t.cfg".to_string(), src)], &FakeHost, &E).unwrap();
    let f = &l.config.frontends[0];
    let ports: Vec<u16> = f.binds.iter().map(|b| b.addrs[0].port()).collect();
    assert_eq!(ports, vec![18099, 19000, 18100]);
    assert_eq!(f.default_backend.as_deref(), Some("b"));
    assert!(err("global\n setenv X\n").contains("'setenv' expects a name and a value."));
}

#[test]
fn diffable_models() {
    let a = ok(STOCK).config;
    let mut b = ok(STOCK).config;
    assert_eq!(a, b);
    b.backends[0].servers[1].weight = 5;
    assert_ne!(a, b);
}

/// Robustness: every fixture with each line cut after each of its words,
/// and with odd characters appended, parses without panicking.
#[test]
fn truncated_and_mangled_lines_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/haproxy");
    let mut files = Vec::new();
    for kind in ["good", "bad", "unsupported"] {
        if let Ok(rd) = std::fs::read_dir(root.join(kind)) {
            files.extend(
                rd.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "cfg")),
            );
        }
    }
    assert!(
        files.len() > 30,
        "fixtures not found under {}",
        root.display()
    );
    let mut parses = 0;
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let mut variants: Vec<String> = (0..words.len())
                .map(|n| format!("\t{}", words[..n].join(" ")))
                .collect();
            for junk in ["[", "]:", "@", "-", "\"", "999999999999"] {
                variants.push(format!("{line}{junk}"));
            }
            variants.push(format!("{line} !"));
            for v in variants {
                let mut copy = lines.clone();
                copy[i] = &v;
                let src = copy.join("\n");
                let _ = parse_sources(
                    &[("f.cfg".to_string(), src)],
                    &FakeHost,
                    &common::lexer::NoEnv,
                );
                parses += 1;
            }
        }
    }
    assert!(parses > 1000);
}

// ------------------------------------------------ ranges, files, scaling

#[test]
fn server_int_ranges_are_haproxys() {
    // HAProxy keeps rise/fall in an int: past 2147483647 they wrap to a
    // negative and are refused with its "> 0" message.
    for kv in [
        "rise 0",
        "rise 2147483648",
        "rise 4294967295",
        "rise 99999999999999999999",
    ] {
        let e = err(&with_defaults(&format!(
            "backend b\n server s 127.0.0.1:80 check {kv}\n"
        )));
        assert!(
            e.contains("'server b/s' : 'rise' has to be > 0.."),
            "{kv}: {e}"
        );
    }
    let e = err(&with_defaults(
        "backend b\n default-server fall 4294967296\n server s 127.0.0.1:80\n",
    ));
    assert!(e.contains("[t.cfg:7] : 'fall' has to be > 0.."), "{e}");
    let l = ok(&with_defaults(
        "backend b\n server s 127.0.0.1:80 check rise 2147483647 fall 2147483647 inter 2147483647 maxconn 2147483647 maxqueue 2147483647 weight 256\n",
    ));
    let s = &l.config.backends[0].servers[0];
    assert_eq!((s.rise, s.fall, s.weight), (2147483647, 2147483647, 256));
    assert_eq!(s.inter, Duration::from_millis(2147483647));
    assert_eq!(
        (s.maxconn, s.maxqueue),
        (Some(2147483647), Some(2147483647))
    );
    for k in ["inter", "fastinter", "downinter"] {
        let e = err(&with_defaults(&format!(
            "backend b\n server s 127.0.0.1:80 check {k} 25d\n"
        )));
        assert!(
            e.contains(&format!("'server b/s' : timer overflow in argument <25d> to <{k}> of server s, maximum value is 2147483647 ms (~24.8 days)..")),
            "{e}"
        );
    }
    let e = err(&with_defaults(
        "backend b\n server s 127.0.0.1:80 weight 257\n",
    ));
    assert!(
        e.contains("weight of server s is not within 0 and 256 (257).."),
        "{e}"
    );
    for k in ["maxconn", "maxqueue"] {
        let e = err(&with_defaults(&format!(
            "backend b\n server s 127.0.0.1:80 {k} 2147483648\n"
        )));
        assert!(
            e.contains(&format!("'{k}' 2147483648 is out of range")),
            "{e}"
        );
    }
    let e = err(&with_defaults(
        "backend b\n server s 127.0.0.1:80 id 2147483648\n",
    ));
    assert!(e.contains("custom id has to be > 0"), "{e}");
}

#[test]
fn missing_lf_on_last_line_is_an_error() {
    let src = with_defaults("listen l\n bind 127.0.0.1:8999\n server s 127.0.0.1:80");
    let e = err(&src);
    assert!(
        e.contains("parsing [t.cfg:8]: Missing LF on last line, file might have been truncated at position 23."),
        "{e}"
    );
    assert!(
        e.contains("Error(s) found in configuration file : t.cfg"),
        "{e}"
    );
    // The last line is still parsed first, as HAProxy does.
    let e = err("defaults\n mode tcp\n bogus");
    let unknown = e.find("unknown keyword 'bogus'").expect(&e);
    let lf = e.find("Missing LF on last line").expect(&e);
    assert!(unknown < lf, "{e}");
    assert!(e.contains("at position 7."), "{e}");
    // An empty file and a file ending in LF are fine.
    ok("");
    ok(&with_defaults("backend b\n server s 127.0.0.1:80\n"));
}

#[test]
fn latin1_comment_is_accepted() {
    let dir = std::env::temp_dir().join(format!("proxyd-latin1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("l.cfg");
    let mut bytes = b"# caf\xe9 cr\xe8me\n".to_vec();
    bytes.extend_from_slice(with_defaults("backend b #").as_bytes());
    bytes.extend_from_slice(b" \xff\n server s 127.0.0.1:80\n");
    std::fs::write(&f, bytes).unwrap();
    let r = load_with(std::slice::from_ref(&f), &FakeHost, &common::lexer::NoEnv);
    std::fs::remove_dir_all(&dir).unwrap();
    let l = r.expect("a Latin-1 comment is accepted");
    assert_eq!(l.config.backends[0].servers.len(), 1);
}

#[test]
fn twenty_thousand_servers_parse_in_linear_time() {
    let mut src = with_defaults("backend b\n");
    for i in 0..20_000u32 {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
        // Every tenth server has an explicit id, the others get the lowest
        // free ones.
        if i % 10 == 0 {
            src.push_str(&format!(" server s{i} {ip}:80 id {}\n", 100_000 + i));
        } else {
            src.push_str(&format!(" server s{i} {ip}:80\n"));
        }
    }
    src.push_str(" server s1 127.0.0.1:80\n");
    let e = err(&src);
    assert!(
        e.contains("another server named 's1' was already defined at line 8"),
        "{e}"
    );
    let src = src.rsplit_once(" server s1 ").unwrap().0.to_string();
    let l = ok(&src);
    let s = &l.config.backends[0].servers;
    assert_eq!(s.len(), 20_000);
    assert_eq!((s[0].id, s[1].id, s[2].id, s[11].id), (100_000, 1, 2, 10));
    let mut ids: Vec<u32> = s.iter().map(|s| s.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20_000);
}

#[test]
fn default_server_messages_name_no_proxy() {
    let e = err(&with_defaults(
        "backend b\n default-server weight 300\n server s 127.0.0.1:80\n",
    ));
    assert!(
        e.contains("[t.cfg:7] : weight of server default-server is not within 0 and 256 (300).."),
        "{e}"
    );
    let e = err(&with_defaults(
        "backend b\n default-server inter 0\n server s 127.0.0.1:80\n",
    ));
    assert!(
        e.contains("[t.cfg:7] : invalid value 0 for argument 'inter' of server default-server.."),
        "{e}"
    );
}

/// Every row of the keyword table reaches the parser as a known keyword:
/// supported ones have an arm, refused ones are refused (never "unknown").
#[test]
fn keyword_table_rows_are_all_known_to_the_parser() {
    use super::keywords::{Support, Where, KEYWORDS};
    let mut failures = Vec::new();
    for k in KEYWORDS {
        let n = k.name;
        let src = match k.place {
            Where::Section => format!("{n}\n"),
            Where::Global => format!("global\n {n}\n"),
            Where::Proxy => with_defaults(&format!("listen l\n {n}\n")),
            Where::Opt => with_defaults(&format!("listen l\n option {n}\n")),
            Where::Bind => with_defaults(&format!("listen l\n bind 127.0.0.1:80 {n}\n")),
            Where::StatsSocket => format!("global\n stats socket /tmp/s {n}\n"),
            Where::Server => with_defaults(&format!("backend b\n server s 127.0.0.1:80 {n}\n")),
        };
        let text = match parse(&src) {
            Ok(l) => warnings(&l),
            Err(e) => e
                .diags
                .iter()
                .map(|d| d.render(1))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        let unknown = text.contains("unknown keyword") || text.contains("unknown option");
        let refused = text.contains("not supported by proxyd");
        let ok = match k.support {
            Support::Refused(_) => refused && !unknown,
            _ => !unknown,
        };
        if !ok {
            failures.push(format!("{:?} {n} ({:?}):\n{text}", k.place, k.support));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every `Supported` row with a fixed arity: given one word too few it is
/// refused (as real `haproxy -c` 2.6 refuses it, when installed), given its
/// count it is accepted.
#[test]
fn keyword_table_arity_too_few_is_refused() {
    use super::keywords::{Support, Where, KEYWORDS};
    // A valid argument list for each keyword with a fixed arity.
    fn sample(place: Where, name: &str) -> Option<&'static str> {
        Some(match (place, name) {
            (Where::Global, "maxconn") => "100",
            (Where::Global, "user" | "group") => "root",
            (Where::Global, "uid" | "gid") => "0",
            (Where::Global, "chroot" | "ca-base" | "crt-base") => "/",
            (Where::Global, "pidfile") => "/tmp/proxyd-arity.pid",
            (Where::Global, "nbthread") => "1",
            (Where::Global, "hard-stop-after") => "1s",
            (Where::Global, "spread-checks") => "5",
            (Where::Global, "log-tag") => "tag",
            (Where::Global, "description") => "text",
            (Where::Global, "setenv" | "presetenv") => "NAME value",
            (Where::Proxy, "mode") => "tcp",
            (Where::Proxy, "maxconn" | "backlog" | "fullconn" | "retries" | "id") => "7",
            (Where::Proxy, "default_backend") => "x",
            (Where::Proxy, "errorfile") => "503 /etc/haproxy/errors/503.http",
            (Where::Bind, "name") => "n",
            (Where::Bind, "maxconn" | "backlog") => "10",
            (Where::StatsSocket, "mode") => "600",
            (Where::StatsSocket, "level") => "admin",
            (Where::StatsSocket, "user" | "group") => "root",
            (Where::StatsSocket, "uid" | "gid") => "0",
            (Where::StatsSocket, "expose-fd") => "listeners",
            (Where::Server, "inter" | "fastinter" | "downinter") => "2s",
            (Where::Server, "rise" | "fall" | "weight" | "maxconn" | "maxqueue" | "id") => "3",
            (Where::Server, "port") => "81",
            (Where::Server, "addr") => "127.0.0.2",
            (Where::Server, "on-marked-down") => "shutdown-sessions",
            (Where::Server, "on-marked-up") => "shutdown-backup-sessions",
            _ => return None,
        })
    }
    fn too_few_message(place: Where, name: &str) -> Option<&'static str> {
        Some(match (place, name) {
            (Where::Global, "maxconn") => "'maxconn' expects an integer argument.",
            (Where::Global, "user") => "'user' expects a user name.",
            (Where::Global, "group") => "'group' expects a group name.",
            (Where::Global, "uid") => "'uid' expects an integer argument.",
            (Where::Global, "gid") => "'gid' expects an integer argument.",
            (Where::Global, "chroot") => "'chroot' expects a directory as an argument.",
            (Where::Global, "pidfile") => "'pidfile' expects a file name as an argument.",
            (Where::Global, "ca-base") => "'ca-base' expects a directory path as an argument.",
            (Where::Global, "crt-base") => "'crt-base' expects a directory path as an argument.",
            (Where::Global, "nbthread") => "'nbthread' expects an integer argument.",
            (Where::Global, "hard-stop-after") => "'hard-stop-after' expects <time> as argument.",
            (Where::Global, "spread-checks") => "'spread-checks' expects an integer argument.",
            (Where::Global, "log-tag") => "'log-tag' expects a tag for use in syslog.",
            (Where::Global, "description") => "'description' expects a string argument.",
            (Where::Proxy, "mode") => "'mode' expects one of 'tcp', 'http' or 'health'.",
            (Where::Proxy, "maxconn") => "'maxconn' expects an integer argument.",
            (Where::Proxy, "backlog") => "'backlog' expects an integer argument.",
            (Where::Proxy, "fullconn") => "'fullconn' expects an integer argument.",
            (Where::Proxy, "retries") => "'retries' expects an integer argument.",
            (Where::Proxy, "default_backend") => "'default_backend' expects a backend name.",
            (Where::Proxy, "errorfile") => {
                "'errorfile' expects <status_code> and <file> as arguments."
            }
            _ => return None,
        })
    }
    fn config(place: Where, line: &str) -> String {
        match place {
            Where::Global => format!("global\n {line}\n"),
            Where::Proxy => with_defaults(&format!("listen l\n {line}\nbackend x\n")),
            Where::Opt => with_defaults(&format!("listen l\n option {line}\n")),
            Where::Bind => with_defaults(&format!("listen l\n bind 127.0.0.1:80 {line}\n")),
            Where::StatsSocket => format!("global\n stats socket /tmp/proxyd-arity.sock {line}\n"),
            Where::Server => with_defaults(&format!("backend b\n server s 127.0.0.1:80 {line}\n")),
            Where::Section => line.to_string(),
        }
    }
    let haproxy = Path::new("/usr/sbin/haproxy");
    let haproxy = haproxy.exists().then_some(haproxy);
    let dir = std::env::temp_dir().join(format!("proxyd-arity-{}", std::process::id()));
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, k) in KEYWORDS.iter().enumerate() {
        let Some(min) = k.arity.min() else { continue };
        if k.support != Support::Supported || min == 0 {
            continue;
        }
        if k.too_few != too_few_message(k.place, k.name) {
            failures.push(format!(
                "{:?} {}: table says {:?}",
                k.place, k.name, k.too_few
            ));
        }
        let Some(args) = sample(k.place, k.name) else {
            failures.push(format!(
                "{:?} {}: no sample arguments in this test",
                k.place, k.name
            ));
            continue;
        };
        let words: Vec<&str> = args.split(' ').collect();
        assert_eq!(words.len(), min, "{} sample", k.name);
        let right = config(k.place, &format!("{} {args}", k.name));
        let few = config(
            k.place,
            &[&[k.name][..], &words[..min - 1]].concat().join(" "),
        );
        checked += 1;
        if let Err(e) = parse(&right) {
            let d: Vec<String> = e.diags.iter().map(|d| d.render(1)).collect();
            failures.push(format!(
                "{:?} {} refused with {args}:\n{}",
                k.place,
                k.name,
                d.join("\n")
            ));
        }
        match parse(&few) {
            Ok(_) => failures.push(format!(
                "{:?} {} accepted with too few words:\n{few}",
                k.place, k.name
            )),
            // The message the hand-written arms gave before the table
            // checked the count, byte for byte.
            Err(e) => {
                if let Some(m) = too_few_message(k.place, k.name) {
                    let d: Vec<String> = e.diags.iter().map(|d| d.render(1)).collect();
                    if !d.iter().any(|l| l.ends_with(m)) {
                        failures.push(format!(
                            "{:?} {}: not {m:?}:\n{}",
                            k.place,
                            k.name,
                            d.join("\n")
                        ));
                    }
                }
            }
        }
        if let Some(h) = haproxy {
            std::fs::create_dir_all(&dir).expect("temp dir");
            let f = dir.join(format!("{i}.cfg"));
            std::fs::write(&f, &few).expect("write config");
            let st = std::process::Command::new(h)
                .arg("-c")
                .arg("-f")
                .arg(&f)
                .output()
                .expect("run haproxy");
            if st.status.success() {
                failures.push(format!(
                    "{:?} {}: haproxy -c accepts too few words:\n{few}",
                    k.place, k.name
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(checked > 40, "only {checked} rows checked");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
