//! Health checks end to end: the `proxyd` binary against loopback backends
//! started by the test. Server death and recovery with rise/fall and
//! HAProxy's log lines, tcp-check send/expect, httpchk status.

mod health_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use health_support::*;

const T: Duration = Duration::from_secs(20);

fn count(lines: &[String], from: usize, to: usize, needle: &str) -> usize {
    lines[from..to]
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

#[test]
fn server_death_and_recovery_follow_rise_and_fall() {
    let mut web1 = TestBackend::start(name_handler("web1"));
    let mut web2 = TestBackend::start(name_handler("web2"));
    let fe = free_port();
    let dir = test_dir("health-rf");
    let cfg = format!(
        "global\n\
         defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend mysite\n    bind 127.0.0.1:{fe}\n    default_backend web-servers\n\
         backend web-servers\n    balance roundrobin\n\
         \x20   server web1 127.0.0.1:{} check inter 100 rise 2 fall 3\n\
         \x20   server web2 127.0.0.1:{} check inter 100 rise 2 fall 3\n",
        web1.port, web2.port
    );
    let p = Proxyd::start(&dir, &cfg);
    let fe_addr = std::net::SocketAddr::from(([127, 0, 0, 1], fe));

    // Both servers pass a check: fully up.
    let ok1 = p.wait_line(0, T, "first web1 check", |l| {
        l.contains("health check of web-servers/web1: L4OK")
    });
    p.wait_line(0, T, "first web2 check", |l| {
        l.contains("health check of web-servers/web2: L4OK")
    });
    // Traffic reaches both.
    let mut seen = std::collections::HashSet::new();
    wait_for(T, "both servers answering", || {
        if let Some(w) = who(fe_addr) {
            seen.insert(w);
        }
        (seen.len() == 2).then_some(())
    });

    // web1 dies: DOWN after exactly `fall` failed checks.
    let before_kill = p.log().len().max(ok1 + 1);
    web1.stop();
    let down = p.wait_line(before_kill, T, "web1 DOWN", |l| {
        l.contains("Server web-servers/web1 is DOWN")
    });
    let log = p.log();
    let line = &log[down];
    assert!(
        line.starts_with("<1>Server web-servers/web1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: "),
        "{line}"
    );
    assert!(
        line.ends_with("ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."),
        "{line}"
    );
    assert_eq!(
        count(
            &log,
            before_kill,
            down,
            "health check of web-servers/web1: L4CON"
        ),
        3,
        "fall 3:\n{}",
        p.dump()
    );
    // Only web2 answers now.
    for _ in 0..6 {
        assert_eq!(who(fe_addr).as_deref(), Some("web2"));
    }

    // web1 comes back: UP after exactly `rise` good checks.
    let before_restart = p.log().len();
    web1.restart();
    let up = p.wait_line(before_restart, T, "web1 UP", |l| {
        l.contains("Server web-servers/web1 is UP")
    });
    let log = p.log();
    let line = &log[up];
    assert!(
        line.starts_with(
            "<5>Server web-servers/web1 is UP, reason: Layer4 check passed, check duration: "
        ),
        "{line}"
    );
    assert!(
        line.ends_with(
            "ms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        ),
        "{line}"
    );
    assert_eq!(
        count(
            &log,
            before_restart,
            up,
            "health check of web-servers/web1: L4OK"
        ),
        2,
        "rise 2:\n{}",
        p.dump()
    );
    wait_for(T, "web1 answering again", || {
        (who(fe_addr).as_deref() == Some("web1")).then_some(())
    });

    // Both die: the last one takes the backend down, at emerg.
    let before = p.log().len();
    web1.stop();
    web2.stop();
    p.wait_line(before, T, "no server available", |l| {
        l == "<0>backend web-servers has no server available!"
    });
    let log = p.log();
    assert!(
        log[before..]
            .iter()
            .any(|l| l.contains("0 active and 0 backup servers left.")),
        "{}",
        p.dump()
    );
}

#[test]
fn boot_failure_marks_down_at_first_check() {
    // A dead server starts UP (health = rise) and one failure marks it DOWN.
    let dead = free_port();
    let web2 = TestBackend::start(name_handler("web2"));
    let fe = free_port();
    let dir = test_dir("health-boot");
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         listen app\n    bind 127.0.0.1:{fe}\n\
         \x20   server dead 127.0.0.1:{dead} check inter 200 rise 3 fall 4\n\
         \x20   server web2 127.0.0.1:{} check inter 200\n",
        web2.port
    );
    let p = Proxyd::start(&dir, &cfg);
    let down = p.wait_line(0, T, "dead DOWN", |l| l.contains("Server app/dead is DOWN"));
    let log = p.log();
    assert_eq!(
        count(&log, 0, down, "health check of app/dead: L4CON"),
        1,
        "{}",
        p.dump()
    );
}

fn pong_handler() -> Handler {
    Arc::new(|s: &mut TcpStream| {
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap_or(0);
        let req = &buf[..n];
        let reply: &[u8] = if req.windows(4).any(|w| w == b"PING") {
            b"PONG\r\n"
        } else {
            b"ERR\r\n"
        };
        let _ = s.write_all(reply);
    })
}

fn garbage_handler() -> Handler {
    Arc::new(|s: &mut TcpStream| {
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"garbage\r\n");
    })
}

#[test]
fn tcp_check_send_expect() {
    let good = TestBackend::start(pong_handler());
    let bad = TestBackend::start(garbage_handler());
    let fe = free_port();
    let dir = test_dir("health-tcpchk");
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout check 1s\n\
         frontend f\n    bind 127.0.0.1:{fe}\n    default_backend b\n\
         backend b\n    option tcp-check\n    tcp-check send PING\\r\\n\n    tcp-check expect string PONG\n\
         \x20   server good 127.0.0.1:{} check inter 200\n\
         \x20   server bad 127.0.0.1:{} check inter 200\n",
        good.port, bad.port
    );
    let p = Proxyd::start(&dir, &cfg);
    let i = p.wait_line(0, T, "bad DOWN", |l| l.contains("Server b/bad is DOWN"));
    assert_eq!(
        p.log()[i],
        format!(
            "<1>Server b/bad is DOWN, reason: Layer7 invalid response, info: \"TCPCHK did not match content 'PONG' at step 2\", check duration: {}",
            p.log()[i].split("check duration: ").nth(1).unwrap_or("")
        )
    );
    p.wait_line(0, T, "good passes", |l| {
        l.contains("health check of b/good: L7OK \"(tcp-check)\"")
    });
    assert!(
        !p.log().iter().any(|l| l.contains("Server b/good is DOWN")),
        "{}",
        p.dump()
    );
}

fn http_handler(status: &'static str) -> Handler {
    Arc::new(move |s: &mut TcpStream| {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        let _ = s.write_all(format!("HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
    })
}

#[test]
fn httpchk_status() {
    let ok = TestBackend::start(http_handler("200 OK"));
    let bad = TestBackend::start(http_handler("503 Service Unavailable"));
    let want404 = TestBackend::start(http_handler("404 Not Found"));
    let fe = free_port();
    let dir = test_dir("health-http");
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout check 3s\n\
         frontend f\n    bind 127.0.0.1:{fe}\n    default_backend web\n\
         backend web\n    option httpchk GET /health\n\
         \x20   server ok 127.0.0.1:{} check inter 200\n\
         \x20   server bad 127.0.0.1:{} check inter 200\n\
         backend web404\n    option httpchk GET /health\n    http-check expect status 404\n\
         \x20   server w404 127.0.0.1:{} check inter 200\n",
        ok.port, bad.port, want404.port
    );
    let p = Proxyd::start(&dir, &cfg);
    let i = p.wait_line(0, T, "bad DOWN", |l| l.contains("Server web/bad is DOWN"));
    let line = p.log()[i].clone();
    assert!(
        line.starts_with("<1>Server web/bad is DOWN, reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\", check duration: "),
        "{line}"
    );
    p.wait_line(0, T, "ok passes", |l| {
        l.contains("health check of web/ok: L7OK")
    });
    p.wait_line(0, T, "404 expected passes", |l| {
        l.contains("health check of web404/w404: L7OK")
    });
    let log = p.log();
    assert!(
        !log.iter().any(|l| l.contains("Server web/ok is DOWN")),
        "{}",
        p.dump()
    );
    assert!(
        !log.iter().any(|l| l.contains("Server web404/w404 is DOWN")),
        "{}",
        p.dump()
    );
}

fn echo_handler() -> Handler {
    Arc::new(|s: &mut TcpStream| {
        let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
        let mut buf = [0u8; 1024];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 || s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    })
}

#[test]
fn check_port_override_and_on_marked_down_shutdown_sessions() {
    // Traffic goes to `data`; the check goes to another port (`port`).
    let data = TestBackend::start(echo_handler());
    let mut check = TestBackend::start(name_handler("check"));
    let fe = free_port();
    let dir = test_dir("health-omd");
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n\
         listen app\n    bind 127.0.0.1:{fe}\n\
         \x20   server web1 127.0.0.1:{} check port {} inter 100 rise 1 fall 1 on-marked-down shutdown-sessions\n",
        data.port, check.port
    );
    let p = Proxyd::start(&dir, &cfg);
    p.wait_line(0, T, "check on the check port", |l| {
        l.contains("health check of app/web1: L4OK")
    });
    wait_for(T, "check connections on the check port", || {
        (check.accepted.load(std::sync::atomic::Ordering::Relaxed) > 0).then_some(())
    });

    // An established session through the proxy.
    let mut c = TcpStream::connect(("127.0.0.1", fe)).expect("connect");
    c.set_read_timeout(Some(T)).expect("timeout");
    c.write_all(b"ping").expect("write");
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).expect("echo");
    assert_eq!(&buf, b"ping");

    // The check port dies: the server goes DOWN and its session is cut.
    let from = p.log().len();
    check.stop();
    p.wait_line(from, T, "web1 DOWN", |l| {
        l.contains("Server app/web1 is DOWN")
    });
    assert_cut(&mut c, "session not cut");
}

#[test]
fn reload_keeps_health_state_and_applies_new_rise() {
    let mut web1 = TestBackend::start(name_handler("web1"));
    web1.stop(); // dead at boot
    let web2 = TestBackend::start(name_handler("web2"));
    let fe = free_port();
    let dir = test_dir("health-reload");
    let cfg = |rise: u32| {
        format!(
            "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             listen app\n    bind 127.0.0.1:{fe}\n\
             \x20   server web1 127.0.0.1:{} check inter 100 rise {rise} fall 2\n\
             \x20   server web2 127.0.0.1:{} check inter 100\n",
            web1.port, web2.port
        )
    };
    let p = Proxyd::start(&dir, &cfg(2));
    p.wait_line(0, T, "web1 DOWN", |l| l.contains("Server app/web1 is DOWN"));

    // Reload with rise 3: web1 stays DOWN (no second DOWN line, no UP).
    std::fs::write(dir.join("proxyd.cfg"), cfg(3)).expect("rewrite config");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(p.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .expect("SIGHUP");
    let reload = p.wait_line(0, T, "reload", |l| l.contains("Reloading configuration"));
    wait_for(T, "checks after the reload", || {
        (count(
            &p.log(),
            reload,
            p.log().len(),
            "health check of app/web1: L4CON",
        ) >= 3)
            .then_some(())
    });
    let log = p.log();
    assert_eq!(
        count(&log, reload, log.len(), "Server app/web1 is"),
        0,
        "{}",
        p.dump()
    );

    // It comes back after the new rise (3 good checks).
    let before = p.log().len();
    web1.restart();
    let up = p.wait_line(before, T, "web1 UP", |l| {
        l.contains("Server app/web1 is UP")
    });
    let log = p.log();
    assert_eq!(
        count(&log, before, up, "health check of app/web1: L4OK"),
        3,
        "{}",
        p.dump()
    );
}

#[test]
fn on_marked_up_shutdown_backup_sessions() {
    // web1's check port is dead at boot: traffic goes to the backup.
    let web1 = TestBackend::start(echo_handler());
    let mut web1_check = TestBackend::start(name_handler("check"));
    web1_check.stop();
    let backup = TestBackend::start(echo_handler());
    let fe = free_port();
    let dir = test_dir("health-omu");
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n\
         listen app\n    bind 127.0.0.1:{fe}\n\
         \x20   server web1 127.0.0.1:{} check port {} inter 100 rise 1 fall 1 on-marked-up shutdown-backup-sessions\n\
         \x20   server bk 127.0.0.1:{} check inter 100 backup\n",
        web1.port, web1_check.port, backup.port
    );
    let p = Proxyd::start(&dir, &cfg);
    p.wait_line(0, T, "web1 DOWN", |l| {
        l.contains("Server app/web1 is DOWN") && l.contains("Running on backup.")
    });
    let mut c = TcpStream::connect(("127.0.0.1", fe)).expect("connect");
    c.set_read_timeout(Some(T)).expect("timeout");
    c.write_all(b"ping").expect("write");
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).expect("echo from the backup");
    wait_for(T, "session on the backup", || {
        (backup.accepted.load(std::sync::atomic::Ordering::Relaxed) > 0).then_some(())
    });

    // web1 comes UP: the backup's session is cut.
    let from = p.log().len();
    web1_check.restart();
    p.wait_line(from, T, "web1 UP", |l| l.contains("Server app/web1 is UP"));
    assert_cut(&mut c, "backup session not cut");
}

/// The proxy closed the session: reading it ends (EOF or reset) instead of
/// timing out.
fn assert_cut(c: &mut std::net::TcpStream, what: &str) {
    use std::io::Read;
    let mut rest = Vec::new();
    if let Err(e) = c.read_to_end(&mut rest) {
        assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{what}: {e}"
        );
    }
}
