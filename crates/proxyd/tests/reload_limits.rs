//! Reload changes `maxconn` (global, frontend, bind) for the connections
//! that come next: a lowering below the open sessions admits nobody until
//! fewer than the new limit remain; a raise admits the waiting ones at
//! once. Real proxyd, real TCP on 127.0.0.1.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(15);

/// Where the limit is written.
#[derive(Clone, Copy)]
enum Level {
    Global,
    Frontend,
    Bind,
}

fn cfg(level: Level, fe: u16, b: &Backend, max: u32) -> String {
    let (global, front, bind) = match level {
        Level::Global => (format!("    maxconn {max}\n"), String::new(), String::new()),
        Level::Frontend => (String::new(), format!("    maxconn {max}\n"), String::new()),
        Level::Bind => (String::new(), String::new(), format!(" maxconn {max}")),
    };
    format!(
        "global\n    log stderr local0\n{global}\ndefaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\nfrontend f\n    bind 127.0.0.1:{fe}{bind}\n{front}    default_backend be\nbackend be\n    server b 127.0.0.1:{}\n",
        b.port()
    )
}

/// Open a session in a thread; the receiver gets it once proxyd admitted
/// it (the backend's name line arrived).
fn pending(fe: u16) -> mpsc::Receiver<Session> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok(s) = open_session(fe) {
            let _ = tx.send(s);
        }
    });
    rx
}

/// `true` if `rx` got a session within a short grace period (used to
/// check that a session is *not* admitted).
fn admitted_soon(rx: &mpsc::Receiver<Session>) -> bool {
    rx.recv_timeout(Duration::from_millis(300)).is_ok()
}

fn lower_then_raise(level: Level, tag: &str) {
    let b = Backend::start("b");
    let fe = free_port();
    let p = Proxyd::start(tag, &cfg(level, fe, &b, 4));
    let mut open: Vec<Session> = (0..4)
        .map(|_| open_session(fe).expect("admitted under maxconn 4"))
        .collect();
    // at the limit: a fifth waits
    let fifth = pending(fe);
    assert!(!admitted_soon(&fifth), "over maxconn 4");
    // lower to 2 with 4 open: still nobody
    p.write_cfg(&cfg(level, fe, &b, 2));
    p.signal(libc::SIGHUP);
    assert!(p.wait_log("Configuration reloaded", T), "{}", p.log());
    // close two: 2 remain, still at the new limit
    open.truncate(2);
    assert!(p.wait_count(" f be/b ", 2, T), "{}", p.log());
    assert!(!admitted_soon(&fifth), "2 open, maxconn lowered to 2");
    assert_eq!(b.accepted.load(std::sync::atomic::Ordering::SeqCst), 4);
    // one more ends: 1 open, below 2, the fifth gets in
    open.truncate(1);
    let fifth = fifth.recv_timeout(T).expect("admitted below the new limit");
    open.push(fifth);
    // 2 open again: a sixth waits, until a raise admits it at once
    let sixth = pending(fe);
    assert!(!admitted_soon(&sixth), "2 open, maxconn 2");
    p.write_cfg(&cfg(level, fe, &b, 10));
    p.signal(libc::SIGHUP);
    assert!(p.wait_count("Configuration reloaded", 2, T), "{}", p.log());
    let sixth = sixth.recv_timeout(T).expect("admitted by the raise");
    open.push(sixth);
    for s in &mut open {
        s.echo(b"still relayed")
            .expect("open sessions keep working");
    }
    assert_eq!(open.len(), 3);
}

#[test]
fn reload_lowers_and_raises_global_maxconn() {
    lower_then_raise(Level::Global, "rl-global");
}

#[test]
fn reload_lowers_and_raises_frontend_maxconn() {
    lower_then_raise(Level::Frontend, "rl-frontend");
}

#[test]
fn reload_lowers_and_raises_bind_maxconn() {
    lower_then_raise(Level::Bind, "rl-bind");
}

fn server_cfg(fe: u16, b: &Backend, max: u32) -> String {
    format!(
        "global\n    log stderr local0\n\ndefaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    timeout queue 20s\n\nfrontend f\n    bind 127.0.0.1:{fe}\n    default_backend be\nbackend be\n    server b 127.0.0.1:{} maxconn {max}\n",
        b.port()
    )
}

/// The same for a server's `maxconn` (its queue is in the backend state,
/// owned elsewhere): lowering must hold new sessions in the queue until
/// fewer than the new limit are open on the server, raising must serve
/// the queued ones at once.
#[test]
fn reload_lowers_and_raises_server_maxconn() {
    let b = Backend::start("b");
    let fe = free_port();
    let p = Proxyd::start("rl-server", &server_cfg(fe, &b, 4));
    let mut open: Vec<Session> = (0..4)
        .map(|_| open_session(fe).expect("served under maxconn 4"))
        .collect();
    p.write_cfg(&server_cfg(fe, &b, 2));
    p.signal(libc::SIGHUP);
    assert!(p.wait_log("Configuration reloaded", T), "{}", p.log());
    let fifth = pending(fe);
    assert!(
        !admitted_soon(&fifth),
        "4 open on b, server maxconn lowered to 2"
    );
    open.truncate(1);
    open.push(fifth.recv_timeout(T).expect("served below the new limit"));
    let third = pending(fe);
    assert!(!admitted_soon(&third), "2 open on b, maxconn 2");
    p.write_cfg(&server_cfg(fe, &b, 10));
    p.signal(libc::SIGHUP);
    assert!(p.wait_count("Configuration reloaded", 2, T), "{}", p.log());
    open.push(third.recv_timeout(T).expect("served after the raise"));
}

/// Raising a server's `maxconn` serves its queued sessions at once.
#[test]
fn reload_raising_server_maxconn_serves_the_queue() {
    let b = Backend::start("b");
    let fe = free_port();
    let p = Proxyd::start("rl-server-raise", &server_cfg(fe, &b, 2));
    let mut open: Vec<Session> = (0..2)
        .map(|_| open_session(fe).expect("served under maxconn 2"))
        .collect();
    let third = pending(fe);
    assert!(!admitted_soon(&third), "2 open on b, maxconn 2");
    p.write_cfg(&server_cfg(fe, &b, 10));
    p.signal(libc::SIGHUP);
    assert!(p.wait_log("Configuration reloaded", T), "{}", p.log());
    open.push(third.recv_timeout(T).expect("served after the raise"));
    assert_eq!(open.len(), 3);
}
