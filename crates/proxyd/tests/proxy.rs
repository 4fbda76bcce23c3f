//! End-to-end tests of the data path, balancing, logs and lifecycle, with
//! real TCP on 127.0.0.1 and the `proxyd` binary.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(15);

fn servers(list: &[(&Backend, &str)]) -> String {
    list.iter()
        .map(|(b, opts)| format!("    server {} 127.0.0.1:{} {opts}\n", b.name, b.port()))
        .collect()
}

#[test]
fn roundrobin_order_and_weights() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let c = Backend::start("c");
    let fe = free_port();
    let fe2 = free_port();
    let cfg = format!(
        "{}frontend f\n    bind 127.0.0.1:{fe}\n    default_backend rr\n\nbackend rr\n    balance roundrobin\n{}\nlisten w\n    bind 127.0.0.1:{fe2}\n{}",
        head(""),
        servers(&[(&a, ""), (&b, ""), (&c, "")]),
        servers(&[(&a, "weight 3"), (&b, "weight 1")]),
    );
    let p = Proxyd::start("rr", &cfg);
    let got: Vec<String> = (0..6).map(|_| request(fe).unwrap()).collect();
    assert_eq!(got, ["a", "b", "c", "a", "b", "c"]);
    let got: Vec<String> = (0..8).map(|_| request(fe2).unwrap()).collect();
    assert_eq!(got.iter().filter(|n| *n == "a").count(), 6, "{got:?}");
    assert_eq!(got.iter().filter(|n| *n == "b").count(), 2, "{got:?}");
    // interleaved, not 6 then 2
    assert_ne!(&got[..3], ["a", "a", "a"]);
    // tcplog lines
    assert!(p.wait_count(" f rr/", 6, T), "{}", p.log());
    let log = p.log();
    let line = log.lines().find(|l| l.contains(" f rr/a ")).unwrap();
    assert!(line.contains(" -- "), "{line}");
    assert!(line.contains("<134>"), "{line}");
}

#[test]
fn backup_failover_down_and_up_logs() {
    let mut a = Backend::start("a");
    let bk1 = Backend::start("bk1");
    let bk2 = Backend::start("bk2");
    let fe = free_port();
    let cfg = format!(
        "{}frontend f\n    bind 127.0.0.1:{fe}\n    default_backend be\n\nbackend be\n{}",
        head(""),
        servers(&[
            (&a, "check inter 100 rise 2 fall 1"),
            (&bk1, "backup"),
            (&bk2, "backup"),
        ]),
    );
    let p = Proxyd::start("backup", &cfg);
    for _ in 0..3 {
        assert_eq!(request(fe).unwrap(), "a");
    }
    let port = a.port();
    a.kill();
    assert!(
        p.wait_log("Server be/a is DOWN, reason: Layer4 connection problem", T),
        "{}",
        p.log()
    );
    assert!(p.log().contains("0 active and 2 backup servers left."));
    // only the first backup takes traffic
    for _ in 0..3 {
        assert_eq!(request(fe).unwrap(), "bk1");
    }
    let _a = Backend::start_on("a", port);
    assert!(p.wait_log("Server be/a is UP", T), "{}", p.log());
    assert_eq!(request(fe).unwrap(), "a");
}

#[test]
fn all_backups_and_no_server() {
    let bk1 = Backend::start("bk1");
    let bk2 = Backend::start("bk2");
    let dead = free_port();
    let fe = free_port();
    let fe2 = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{fe}\n    option allbackups\n    server a 127.0.0.1:{dead} disabled\n{}\nlisten n\n    bind 127.0.0.1:{fe2}\n    server z 127.0.0.1:{dead} disabled\n",
        head(""),
        servers(&[(&bk1, "backup"), (&bk2, "backup")]),
    );
    let p = Proxyd::start("allbk", &cfg);
    let got: Vec<String> = (0..4).map(|_| request(fe).unwrap()).collect();
    assert_eq!(got, ["bk1", "bk2", "bk1", "bk2"]);
    // no usable server: closed, logged <NOSRV> SC
    assert!(request(fe2).is_err());
    assert!(p.wait_log(" n n/<NOSRV> ", T), "{}", p.log());
    let log = p.log();
    let line = log.lines().find(|l| l.contains("n/<NOSRV>")).unwrap();
    assert!(line.contains(" SC "), "{line}");
}

#[test]
fn redispatch_after_connect_failure() {
    let b = Backend::start("b");
    let dead = free_port();
    let fe = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{fe}\n    retries 1\n    option redispatch\n    server a 127.0.0.1:{dead}\n{}",
        head(""),
        servers(&[(&b, "")]),
    );
    let p = Proxyd::start("redisp", &cfg);
    // whichever server roundrobin picks first, every request ends on b
    for _ in 0..4 {
        assert_eq!(request(fe).unwrap(), "b");
    }
    assert!(p.wait_log("/+1 ", T), "{}", p.log());
}

#[test]
fn half_close_both_directions_and_bytes() {
    let b = Backend::start("b");
    let fe = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{fe}\n{}",
        head(""),
        servers(&[(&b, "")])
    );
    let p = Proxyd::start("half", &cfg);
    let mut s = TcpStream::connect(("127.0.0.1", fe)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let payload = vec![b'x'; 200_000];
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(&payload).unwrap();
        // client FIN: the server must see EOF and still send the rest
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got.len(), 2 + 200_000);
    assert!(got.starts_with(b"b\n"));
    assert!(p.wait_log(" l l/b ", T), "{}", p.log());
    let log = p.log();
    let line = log.lines().find(|l| l.contains(" l l/b ")).unwrap();
    assert!(line.contains(" 200002 -- "), "{line}");
}

#[test]
fn maxconn_queue_and_queue_timeout() {
    let b = Backend::start("b");
    let fe = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{fe}\n    timeout queue 400\n{}",
        head(""),
        servers(&[(&b, "maxconn 1")])
    );
    let p = Proxyd::start("queue", &cfg);
    let first = open_session(fe).unwrap();
    // a second session waits in the queue, gets the server when the first ends
    let waiter = std::thread::spawn(move || open_session(fe).map(|s| s.name));
    // the queued one is not served while the first is open
    assert!(wait_for(T, || b
        .accepted
        .load(std::sync::atomic::Ordering::SeqCst)
        == 1));
    drop(first);
    assert_eq!(waiter.join().unwrap().unwrap(), "b");
    // with the slot taken for longer than timeout queue: sQ
    let _hold = open_session(fe).unwrap();
    assert!(open_session(fe).is_err());
    assert!(p.wait_log(" sQ ", T), "{}", p.log());
    // %sq/%bq: its position in the backend queue
    let log = p.log();
    let line = log.lines().find(|l| l.contains(" sQ ")).unwrap();
    assert!(
        line.contains("l/<NOSRV> ") && line.ends_with(" 0/1"),
        "{line}"
    );
}

#[test]
fn client_and_server_timeouts() {
    let b = Backend::start("b");
    let fe = free_port();
    let fe2 = free_port();
    let cfg = format!(
        "{}listen c\n    bind 127.0.0.1:{fe}\n    timeout client 300\n    timeout server 10s\n{}\nlisten s\n    bind 127.0.0.1:{fe2}\n    timeout client 10s\n    timeout server 300\n{}",
        head(""),
        servers(&[(&b, "")]),
        servers(&[(&b, "")]),
    );
    let p = Proxyd::start("timeouts", &cfg);
    let mut s = open_session(fe).unwrap();
    let mut rest = Vec::new();
    // idle: proxyd closes after timeout client
    s.stream.read_to_end(&mut rest).unwrap();
    assert!(p.wait_log(" c c/b ", T));
    let log = p.log();
    let line = log.lines().find(|l| l.contains(" c c/b ")).unwrap();
    assert!(line.contains(" cD "), "{line}");
    let mut s = open_session(fe2).unwrap();
    s.stream.read_to_end(&mut rest).unwrap();
    assert!(p.wait_log(" s s/b ", T));
    let log = p.log();
    let line = log.lines().find(|l| l.contains(" s s/b ")).unwrap();
    assert!(line.contains(" sD "), "{line}");
}

#[test]
fn dontlognull() {
    let b = Backend::start("b");
    let fe = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{fe}\n    option dontlognull\n{}",
        head(""),
        servers(&[(&b, "")])
    );
    let p = Proxyd::start("dontlognull", &cfg);
    // no data from the client: not logged
    assert_eq!(request(fe).unwrap(), "b");
    let mut s = open_session(fe).unwrap();
    s.echo(b"ping").unwrap();
    drop(s);
    assert!(p.wait_count(" l l/b ", 1, T));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(p.count(" l l/b "), 1, "{}", p.log());
}

#[test]
fn soft_stop_lets_sessions_finish() {
    let b = Backend::start("b");
    let fe = free_port();
    let cfg = format!(
        "{}frontend f\n    bind 127.0.0.1:{fe}\n    default_backend be\nbackend be\n{}",
        head(""),
        servers(&[(&b, "")])
    );
    let mut p = Proxyd::start("softstop", &cfg);
    let mut s = open_session(fe).unwrap();
    p.signal(libc::SIGUSR1);
    assert!(
        p.wait_log("Proxy f stopped (cumulated conns: FE: 1, BE: 0).", T),
        "{}",
        p.log()
    );
    assert!(p
        .log()
        .contains("Proxy be stopped (cumulated conns: FE: 0, BE: 1)."));
    // listener closed, established session still flows
    assert!(wait_for(T, || TcpStream::connect(("127.0.0.1", fe)).is_err()));
    s.echo(b"still here").unwrap();
    assert!(p.child.try_wait().unwrap().is_none());
    drop(s);
    let st = p.wait_exit(T).expect("proxyd did not exit after soft stop");
    assert!(st.success(), "{st:?}");
}

#[test]
fn sigterm_kills_sessions() {
    let b = Backend::start("b");
    let fe = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{fe}\n{}",
        head(""),
        servers(&[(&b, "")])
    );
    let mut p = Proxyd::start("sigterm", &cfg);
    let mut s = open_session(fe).unwrap();
    s.echo(b"x").unwrap();
    p.signal(libc::SIGTERM);
    let st = p.wait_exit(T).expect("no exit on SIGTERM");
    assert!(st.success(), "{st:?}");
    assert!(p.log().contains(" KD "), "{}", p.log());
}

#[test]
fn pause_resume_and_pidfile() {
    let b = Backend::start("b");
    let fe = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{fe}\n{}",
        head(""),
        servers(&[(&b, "")])
    );
    let dir = temp_dir("pid");
    let pidfile = dir.join("p.pid");
    let p = Proxyd::start_args("pause", &cfg, &["-p", pidfile.to_str().unwrap()]);
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(pid.trim(), p.pid().to_string());
    p.signal(libc::SIGTTOU);
    assert!(p.wait_log("Paused frontend l.", T));
    // refused while paused, as HAProxy 2.6 does
    assert!(
        wait_for(T, || TcpStream::connect(("127.0.0.1", fe)).is_err()),
        "a paused frontend refuses connections"
    );
    p.signal(libc::SIGTTIN);
    assert!(p.wait_log("Resumed frontend l.", T));
    assert_eq!(request(fe).unwrap(), "b");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reload_good_and_bad_while_traffic_flows() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let fe = free_port();
    let fe_new = free_port();
    let cfg1 = format!(
        "{}frontend f\n    bind 127.0.0.1:{fe}\n    default_backend be\nbackend be\n{}",
        head(""),
        servers(&[(&a, "")])
    );
    let p = Proxyd::start("reload", &cfg1);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st2 = stop.clone();
    let traffic = std::thread::spawn(move || {
        let mut ok = 0usize;
        let mut failed = Vec::new();
        let mut seen_b = 0usize;
        while !st2.load(std::sync::atomic::Ordering::SeqCst) {
            match request(fe) {
                Ok(n) => {
                    ok += 1;
                    if n == "b" {
                        seen_b += 1;
                    }
                }
                Err(e) => failed.push(e),
            }
        }
        (ok, failed, seen_b)
    });
    // a long session that must survive both reloads
    let mut long = open_session(fe).unwrap();
    // good reload: add server b and a new bind
    let cfg2 = format!(
        "{}frontend f\n    bind 127.0.0.1:{fe}\n    bind 127.0.0.1:{fe_new}\n    default_backend be\nbackend be\n{}",
        head(""),
        servers(&[(&a, ""), (&b, "")])
    );
    p.write_cfg(&cfg2);
    p.signal(libc::SIGHUP);
    assert!(p.wait_log("Configuration reloaded", T), "{}", p.log());
    assert!(wait_for(T, || b
        .accepted
        .load(std::sync::atomic::Ordering::SeqCst)
        > 0));
    assert!(request(fe_new).is_ok());
    long.echo(b"after good reload").unwrap();
    // bad reload: nothing changes
    p.write_cfg(&format!("{cfg2}    bogus_keyword\n"));
    p.signal(libc::SIGUSR2);
    assert!(p.wait_log("Reload failed", T), "{}", p.log());
    assert!(p.log().contains("bogus_keyword"), "{}", p.log());
    assert!(request(fe_new).is_ok());
    long.echo(b"after bad reload").unwrap();
    // reload removing the new bind closes it
    p.write_cfg(&cfg1);
    p.signal(libc::SIGHUP);
    assert!(p.wait_count("Configuration reloaded", 2, T), "{}", p.log());
    assert!(wait_for(T, || TcpStream::connect(("127.0.0.1", fe_new)).is_err()));
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ok, failed, seen_b) = traffic.join().unwrap();
    assert!(
        failed.is_empty(),
        "{} failed of {}: {failed:?}",
        failed.len(),
        ok + failed.len()
    );
    assert!(ok > 0 && seen_b > 0, "ok={ok} b={seen_b}");
    long.echo(b"end").unwrap();
}

#[test]
fn bad_config_exits_1_and_check_mode() {
    let dir = temp_dir("badcfg");
    let bad = dir.join("bad.cfg");
    std::fs::write(&bad, "frontend f\n    bogus\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["-db", "-f"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[ALERT]") && err.contains("bad.cfg:2"),
        "{err}"
    );
    let good = dir.join("good.cfg");
    let fe = free_port();
    std::fs::write(
        &good,
        format!(
            "{}listen l\n    bind 127.0.0.1:{fe}\n    server s 127.0.0.1:1\n",
            head("")
        ),
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .arg("-c")
        .arg("-f")
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Configuration file is valid"));
    let out = std::process::Command::new(BIN).arg("-v").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("proxyd version"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bind_conflict_is_fatal() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let dir = temp_dir("busy");
    let cfg = dir.join("c.cfg");
    std::fs::write(
        &cfg,
        format!(
            "{}listen l\n    bind 127.0.0.1:{port}\n    server s 127.0.0.1:1\n",
            head("")
        ),
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["-db", "-f"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("for frontend l: cannot bind socket (Address already in use) for [127.0.0.1:"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reload_after_chroot_and_user_drop() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root (chroot, setuid)");
        return;
    }
    let b = Backend::start("b");
    let fe = free_port();
    let fe2 = free_port();
    let jail = temp_dir("jail");
    let cfg1 = format!(
        "global\n    log stderr local0\n    chroot {}\n    user nobody\n    group nogroup\n\ndefaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\nlisten l\n    bind 127.0.0.1:{fe}\n{}",
        jail.display(),
        servers(&[(&b, "")])
    );
    let p = Proxyd::start("chroot", &cfg1);
    assert_eq!(request(fe).unwrap(), "b");
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(!uid_line.contains("\t0\t"), "{uid_line}");
    p.write_cfg(&cfg1.replace(
        &format!("bind 127.0.0.1:{fe}\n"),
        &format!("bind 127.0.0.1:{fe}\n    bind 127.0.0.1:{fe2}\n"),
    ));
    p.signal(libc::SIGHUP);
    assert!(p.wait_log("Configuration reloaded", T), "{}", p.log());
    assert_eq!(request(fe2).unwrap(), "b");
    let _ = std::fs::remove_dir_all(&jail);
}

#[test]
fn ipv6_listener_and_udp_syslog_target() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no ::1");
        return;
    }
    let b = Backend::start("b");
    let fe = free_port();
    let syslog = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    syslog.set_read_timeout(Some(T)).unwrap();
    let cfg = format!(
        "global\n    log stderr local0\n\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\nlisten l6\n    bind [::1]:{fe}\n    log {} local1\n    option tcplog\n{}",
        syslog.local_addr().unwrap(),
        servers(&[(&b, "")])
    );
    let _p = Proxyd::start("ipv6", &cfg);
    let mut s = TcpStream::connect(("::1", fe)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert_eq!(got, "b\n");
    let mut buf = [0u8; 2048];
    // skip non-session lines, if any
    let line = loop {
        let n = syslog.recv(&mut buf).unwrap();
        let l = String::from_utf8_lossy(&buf[..n]).to_string();
        if l.contains(" l6 l6/b ") {
            break l;
        }
    };
    // local1.info = 17*8+6
    assert!(line.starts_with("<142>"), "{line}");
    assert!(line.contains("proxyd["), "{line}");
    assert!(line.contains("]: ::1:"), "{line}");
}

#[test]
fn client_timeout_while_queued() {
    let b = Backend::start("b");
    let fe = free_port();
    // timeout tunnel governs the data phase; timeout client still runs
    // while a session waits in the queue
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{fe}\n    timeout client 300\n    timeout tunnel 30s\n    timeout queue 20s\n{}",
        head(""),
        servers(&[(&b, "maxconn 1")])
    );
    let p = Proxyd::start("cq", &cfg);
    let mut first = open_session(fe).unwrap();
    assert!(open_session(fe).is_err());
    assert!(p.wait_log(" cQ ", T), "{}", p.log());
    first.echo(b"still served").unwrap();
}

/// `show stat` through the stats socket: (svname -> (status, stot)).
fn show_stat(sock: &std::path::Path, backend: &str) -> Vec<(String, String, String)> {
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(b"show stat\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (px, sv, st, stot) = (col("pxname"), col("svname"), col("status"), col("stot"));
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() > stot && f[px] == backend)
        .map(|f| (f[sv].to_string(), f[st].to_string(), f[stot].to_string()))
        .collect()
}

#[test]
fn reload_keeps_health_and_counters_and_drains_removed_servers() {
    let mut a = Backend::start("a");
    let b = Backend::start("b");
    let c = Backend::start("c");
    let fe = free_port();
    let dir = temp_dir("statsock");
    let sock = dir.join("s.sock");
    let cfg = |list: &str| {
        format!(
            "global\n    log stderr local0\n    stats socket {} level admin\n\ndefaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\nlisten l\n    bind 127.0.0.1:{fe}\n{list}",
            sock.display()
        )
    };
    let all = servers(&[(&a, "check inter 100 fall 1 rise 2"), (&b, ""), (&c, "")]);
    let p = Proxyd::start("keep", &cfg(&all));
    // a session on c, which the reload removes
    let mut on_c = loop {
        let s = open_session(fe).unwrap();
        if s.name == "c" {
            break s;
        }
    };
    a.kill();
    assert!(p.wait_log("Server l/a is DOWN", T), "{}", p.log());
    for _ in 0..4 {
        assert_ne!(request(fe).unwrap(), "a");
    }
    let before = show_stat(&sock, "l");
    let stot_b = before.iter().find(|r| r.0 == "b").unwrap().2.clone();
    assert_ne!(stot_b, "0");
    p.write_cfg(&cfg(&servers(&[
        (&a, "check inter 100 fall 1 rise 2"),
        (&b, ""),
    ])));
    p.signal(libc::SIGHUP);
    assert!(p.wait_log("Configuration reloaded", T), "{}", p.log());
    let after = show_stat(&sock, "l");
    let row = |n: &str| after.iter().find(|r| r.0 == n).cloned();
    assert!(row("c").is_none(), "{after:?}");
    // a kept its DOWN state (no new DOWN transition), b its counters
    assert!(row("a").unwrap().1.starts_with("DOWN"), "{after:?}");
    assert_eq!(row("b").unwrap().2, stot_b);
    for _ in 0..3 {
        assert_eq!(request(fe).unwrap(), "b");
    }
    assert_eq!(p.count("Server l/a is DOWN"), 1, "{}", p.log());
    // the session on the removed server still flows
    on_c.echo(b"removed but draining").unwrap();
    drop(on_c);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hard_stop_after_bounds_the_soft_stop() {
    let b = Backend::start("b");
    let fe = free_port();
    let cfg = format!(
        "global\n    log stderr local0\n    hard-stop-after 300ms\n\ndefaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\nlisten l\n    bind 127.0.0.1:{fe}\n{}",
        servers(&[(&b, "")])
    );
    let mut p = Proxyd::start("hardstop", &cfg);
    let mut s = open_session(fe).unwrap();
    s.echo(b"x").unwrap();
    p.signal(libc::SIGUSR1);
    let st = p
        .wait_exit(T)
        .expect("hard-stop-after did not end the process");
    assert!(st.success(), "{st:?}");
    assert!(p.log().contains(" KD "), "{}", p.log());
}

#[test]
fn marked_down_shuts_sessions() {
    let mut a = Backend::start("a");
    let fe = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{fe}\n{}",
        head(""),
        servers(&[(
            &a,
            "check inter 100 fall 1 rise 1 on-marked-down shutdown-sessions"
        )])
    );
    let p = Proxyd::start("shutsess", &cfg);
    let mut s = open_session(fe).unwrap();
    s.echo(b"x").unwrap();
    // the listener goes away (checks fail), the established session stays
    // up on the backend side: proxyd must cut it
    a.kill();
    assert!(p.wait_log("Server l/a is DOWN", T), "{}", p.log());
    let mut rest = Vec::new();
    let _ = s.stream.read_to_end(&mut rest);
    assert!(p.wait_log(" DD ", T), "{}", p.log());
}

#[test]
fn sd_notify_ready_reloading_stopping() {
    let b = Backend::start("b");
    let fe = free_port();
    let dir = temp_dir("notify");
    let sock_path = dir.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{fe}\n{}",
        head(""),
        servers(&[(&b, "")])
    );
    let mut p = Proxyd::start_env(
        "notify",
        &cfg,
        &["-Ws"],
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())],
    );
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    assert!(next().contains("READY=1"));
    // listeners are bound when READY is sent
    assert_eq!(request(fe).unwrap(), "b");
    p.signal(libc::SIGHUP);
    assert!(next().contains("RELOADING=1"));
    assert!(next().contains("READY=1"));
    p.signal(libc::SIGTERM);
    assert!(next().contains("STOPPING=1"));
    assert!(p.wait_exit(T).unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}
