use super::*;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use common::{CancellationToken, TaskTracker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::model;
use crate::config::{StatsAddr, StatsLevel, StatsSocket};
use crate::health::CheckStatus;
use crate::health::{CheckResult, HealthParams};
use crate::state::{unix_now, AdminState, BackendState, Runtime, ServerState};
use crate::state::{BackendSettings, FrontendState};
use std::net::SocketAddr;

fn conf(name: &str, id: u32, port: u16, check: bool) -> model::Server {
    model::Server {
        id,
        check,
        ..model::Server::for_test(name, SocketAddr::from(([127, 0, 0, 1], port)))
    }
}

fn runtime() -> Arc<Runtime> {
    let rt = Runtime::new(100, 2);
    let s1 = Arc::new(ServerState::new(&conf("web1", 1, 8081, true)));
    let s2 = Arc::new(ServerState::new(&conf("web2", 2, 8082, true)));
    let p = HealthParams {
        rise: 2,
        fall: 3,
        ..Default::default()
    };
    s1.update(|r| r.configure_checks(Some(p), unix_now()));
    s2.update(|r| r.configure_checks(Some(p), unix_now()));
    let be = BackendState::new("web-servers", 3, BackendSettings::default(), vec![s1, s2]);
    let fe = FrontendState::new("mysite", 2, 0);
    rt.set_proxies(vec![fe], vec![be]);
    rt
}

fn run(rt: &Runtime, input: &str) -> String {
    let mut s = Session::new(StatsLevel::Admin);
    let (out, _) = process_input(rt, &mut s, input.as_bytes());
    String::from_utf8(out).unwrap()
}

#[test]
fn uptime_format() {
    assert_eq!(format_uptime(1), "0d 0h00m01s");
    assert_eq!(format_uptime(90061), "1d 1h01m01s");
}

#[test]
fn show_stat_header_and_rows() {
    let rt = runtime();
    let be = rt.backend("web-servers").unwrap();
    let web1 = be.server("web1").unwrap();
    let r = CheckResult::new(CheckStatus::L4Con, "Connection refused", Duration::ZERO);
    be.update_server(&web1, |rec| rec.check_result(r, unix_now()));
    let out = run(&rt, "show stat\n");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,"));
    let hdr: Vec<&str> = lines[0][2..].split(',').collect();
    let get = |line: &str, name: &str| -> String {
        let v: Vec<&str> = line.split(',').collect();
        let i = hdr.iter().position(|h| *h == name).unwrap();
        v[i].to_string()
    };
    assert_eq!(lines.len(), 5 + 1); // header, FE, 2 servers, BE, empty line
    assert_eq!(get(lines[1], "svname"), "FRONTEND");
    assert_eq!(get(lines[1], "status"), "OPEN");
    assert_eq!(get(lines[1], "slim"), "100");
    assert_eq!(get(lines[2], "svname"), "web1");
    assert_eq!(get(lines[2], "status"), "DOWN");
    assert_eq!(get(lines[2], "check_status"), "L4CON");
    assert_eq!(get(lines[2], "check_desc"), "Layer4 connection problem");
    assert_eq!(get(lines[2], "last_chk"), "Connection refused");
    assert_eq!(get(lines[2], "chkfail"), "1");
    assert_eq!(get(lines[2], "chkdown"), "1");
    assert_eq!(get(lines[2], "check_health"), "0");
    assert_eq!(get(lines[2], "addr"), "127.0.0.1:8081");
    assert_eq!(get(lines[2], "iid"), "3");
    assert_eq!(get(lines[2], "sid"), "1");
    assert_eq!(get(lines[2], "type"), "2");
    // web2 never checked yet: health = rise, "UP 1/3" (transition)
    assert_eq!(get(lines[3], "status"), "UP 1/3");
    assert_eq!(get(lines[3], "check_status"), "INI");
    assert_eq!(get(lines[4], "svname"), "BACKEND");
    assert_eq!(get(lines[4], "status"), "UP");
    assert_eq!(get(lines[4], "act"), "1");
    assert_eq!(get(lines[4], "algo"), "roundrobin");
    for l in &lines[1..5] {
        assert_eq!(l.split(',').count(), hdr.len(), "{l}");
    }
}

#[test]
fn show_stat_filters() {
    let rt = runtime();
    let be = rt.backend("web-servers").unwrap();
    let web2 = be.server("web2").unwrap();
    let rows = |cmd: &str| -> Vec<String> {
        run(&rt, cmd)
            .lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join("/"))
            .collect()
    };
    assert_eq!(
        rows("show stat\n"),
        [
            "mysite/FRONTEND",
            "web-servers/web1",
            "web-servers/web2",
            "web-servers/BACKEND"
        ]
    );
    assert_eq!(
        rows("show stat -1 4 -1\n"),
        ["web-servers/web1", "web-servers/web2"]
    );
    assert_eq!(rows("show stat web-servers 4 2\n"), ["web-servers/web2"]);
    assert_eq!(rows("show stat 3 2 -1\n"), ["web-servers/BACKEND"]);
    assert_eq!(rows("show stat mysite 1 -1\n"), ["mysite/FRONTEND"]);
    set_admin_state(&be, &web2, AdminState::Maint);
    assert_eq!(rows("show stat -1 4 -1 no-maint\n"), ["web-servers/web1"]);
    assert_eq!(rows("show stat -1 4 -1 up\n"), ["web-servers/web1"]);
    assert_eq!(run(&rt, "show stat nope 1 1\n"), "No such proxy.\n\n");
}

#[test]
fn admin_commands() {
    let rt = runtime();
    let be = rt.backend("web-servers").unwrap();
    let web2 = be.server("web2").unwrap();
    assert_eq!(run(&rt, "set server web-servers/web2 state drain\n"), "\n");
    assert_eq!(web2.admin(), AdminState::Drain);
    assert!(run(&rt, "show stat\n").contains(",DRAIN 1/3,"));
    assert_eq!(run(&rt, "set server web-servers/web2 state maint\n"), "\n");
    assert_eq!(web2.admin(), AdminState::Maint);
    assert!(web2.with_record(|r| r.checks_paused()));
    assert!(run(&rt, "show stat\n").contains(",MAINT,"));
    assert_eq!(run(&rt, "enable server web-servers/web2\n"), "\n");
    assert_eq!(web2.admin(), AdminState::Ready);
    assert!(web2.is_up());
    assert_eq!(run(&rt, "disable server web-servers/web2\n"), "\n");
    assert_eq!(web2.admin(), AdminState::Maint);
    assert_eq!(run(&rt, "set server web-servers/web2 state ready\n"), "\n");
    assert_eq!(
        run(&rt, "set server web-servers/web2 state bogus\n"),
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
    );
    assert_eq!(
        run(&rt, "set server web-servers/nope state drain\n"),
        "No such server.\n\n"
    );
    assert_eq!(
        run(&rt, "set server nope/web2 state drain\n"),
        "No such backend.\n\n"
    );
    assert_eq!(
        run(&rt, "set server web-servers\n"),
        "Require 'backend/server'.\n\n"
    );
    assert_eq!(
        run(&rt, "get weight web-servers/web2\n"),
        "1 (initial 1)\n\n"
    );
    assert_eq!(run(&rt, "set server web-servers/web2 weight 50\n"), "\n");
    assert_eq!(
        run(&rt, "get weight web-servers/web2\n"),
        "50 (initial 1)\n\n"
    );
    assert_eq!(
        run(&rt, "set server web-servers/web2 weight 300\n"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    assert_eq!(
        run(&rt, "set server web-servers/web2 weight abc\n"),
        "Empty weight string empty or preceded by garbage\n"
    );
    assert_eq!(run(&rt, "set weight web-servers/web2 200%\n"), "\n");
    assert_eq!(web2.weight(), 2);
    let mut user = Session::new(StatsLevel::User);
    let (out, _) = process_input(&rt, &mut user, b"set server web-servers/web2 state maint\n");
    assert_eq!(out, b"Permission denied\n\n");
}

#[test]
fn clear_and_shutdown() {
    let rt = runtime();
    let be = rt.backend("web-servers").unwrap();
    let web1 = be.server("web1").unwrap();
    web1.counters.open();
    web1.counters.open();
    web1.counters.close();
    assert_eq!(run(&rt, "clear counters\n"), "\n");
    assert_eq!((web1.counters.smax.get(), web1.counters.stot.get()), (1, 2));
    assert_eq!(run(&rt, "clear counters all\n"), "\n");
    assert_eq!(web1.counters.stot.get(), 0);
    let t = web1.kill_token();
    assert_eq!(
        run(&rt, "shutdown sessions server web-servers/web1\n"),
        "\n"
    );
    assert!(t.is_cancelled());
    assert_eq!(
        run(&rt, "shutdown sessions server web-servers/nope\n"),
        "No such server.\n\n"
    );
    assert!(run(&rt, "show version\n").ends_with("\n\n"));
}

#[test]
fn health_force() {
    let rt = runtime();
    let be = rt.backend("web-servers").unwrap();
    let web1 = be.server("web1").unwrap();
    assert_eq!(run(&rt, "set server web-servers/web1 health down\n"), "\n");
    assert!(!web1.is_up());
    assert_eq!(run(&rt, "set server web-servers/web1 health up\n"), "\n");
    assert!(web1.is_up());
    assert_eq!(web1.with_record(|r| r.health()), 4);
}

#[test]
fn protocol() {
    let rt = runtime();
    // several commands per line, prompt mode, quit
    let out = run(&rt, "show backend;get weight web-servers/web1\n");
    assert_eq!(out, "# name\nweb-servers\n\n1 (initial 1)\n\n");
    let out = run(&rt, "prompt\nshow backend\nquit\nshow backend\n");
    assert_eq!(out, "\n> # name\nweb-servers\n\n> ");
    let out = run(&rt, "bogus\n");
    assert!(out.starts_with("Unknown command. Please enter one of the following commands only:\n"));
    assert!(out.contains("  show stat [<iid> <type> <sid>] [up|no-maint]: "));
    let out = run(&rt, "show\n");
    assert!(out.starts_with(
        "Unknown command, but maybe one of the following ones is a better match:\n  show backend"
    ));
    let out = run(&rt, "help\n");
    assert!(out.starts_with("The following commands are valid at this level:\n"));
    let out = run(&rt, "show servers state nope\n");
    assert_eq!(out, "Can't find backend.\n\n");
    let out = run(&rt, "show servers state web-servers\n");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1");
    assert!(lines[1].starts_with("# be_id be_name srv_id srv_name srv_addr srv_op_state"));
    assert_eq!(
        lines[2],
        "3 web-servers 1 web1 127.0.0.1 2 0 1 1 0 1 0 2 6 0 0 0 - 8081 - 0 0 - - 0"
    );
    let info = run(&rt, "show info\n");
    assert!(info.starts_with("Name: proxyd\nVersion: "));
    assert!(info.contains("\nUptime: 0d 0h00m0"));
    assert!(info.contains("\nMaxconn: 100\n"));
}

#[test]
fn args_and_commands_split() {
    assert_eq!(
        split_args("  set  server a/b\\ c state "),
        vec!["set", "server", "a/b c", "state"]
    );
}

#[test]
fn partial_lines_wait() {
    let rt = runtime();
    let mut s = Session::new(StatsLevel::Admin);
    let (out, consumed) = process_input(&rt, &mut s, b"show back");
    assert!(out.is_empty());
    assert_eq!(consumed, 0);
    // `;` terminates a command too; the rest waits
    let (out, consumed) = process_input(&rt, &mut s, b"show backend;show back");
    assert_eq!(out, b"# name\nweb-servers\n\n");
    assert_eq!(consumed, 13);
    // an escaped `;` does not
    let (out, _) = process_input(&rt, &mut s, b"get weight web-servers/web1\\;x\n");
    assert_eq!(out, b"No such server.\n\n");
    // "cmd;" then newline: an empty command follows
    let (out, _) = process_input(&rt, &mut s, b"show backend;\n");
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with("# name\nweb-servers\n\nUnknown command."),
        "{out}"
    );
}

#[tokio::test]
async fn unix_socket_end_to_end() {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("proxyd-stats-unit-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("admin.sock");
    // a stale file is replaced
    std::fs::write(&path, b"stale").unwrap();
    let sock = StatsSocket {
        pos: common::lexer::Pos {
            file: "t".into(),
            line: 1,
        },
        addr: StatsAddr::Unix(path.clone()),
        mode: Some(0o660),
        uid: None,
        gid: None,
        level: StatsLevel::Admin,
        expose_fd_listeners: false,
    };
    let bound = bind(&sock).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let tracker = TaskTracker::new();
    let cancel = CancellationToken::new();
    serve(
        bound,
        rt.clone(),
        &Limits::new(Duration::from_secs(5), None),
        &tracker,
        cancel.clone(),
    )
    .unwrap();
    let mut c = tokio::net::UnixStream::connect(&path).await.unwrap();
    c.write_all(b"show backend\n").await.unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "# name\nweb-servers\n\n");
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Serve `rt` on a TCP stats socket on 127.0.0.1 with `limits`.
fn serve_tcp(
    rt: &Arc<Runtime>,
    limits: &Limits,
) -> (std::net::SocketAddr, TaskTracker, CancellationToken) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let tracker = TaskTracker::new();
    let cancel = CancellationToken::new();
    let bound = Bound::Tcp {
        listener,
        level: StatsLevel::Admin,
    };
    serve(bound, rt.clone(), limits, &tracker, cancel.clone()).unwrap();
    (addr, tracker, cancel)
}

/// Read until the output ends with `end` (or a 10 s deadline).
async fn read_until(c: &mut tokio::net::TcpStream, end: &str) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !out.ends_with(end.as_bytes()) {
        let n = tokio::time::timeout_at(deadline, c.read(&mut buf))
            .await
            .expect("deadline")
            .unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn maxconn_holds_the_next_connection_in_the_backlog() {
    let rt = runtime();
    let limits = Limits::new(Duration::from_secs(60), None);
    let (addr, tracker, cancel) = serve_tcp(&rt, &limits);
    // HAProxy's default: 10 connections served at once
    let mut open = Vec::new();
    for _ in 0..DEFAULT_MAXCONN {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"prompt\n").await.unwrap();
        read_until(&mut c, "> ").await;
        open.push(c);
    }
    // the 11th connects (listen backlog) but is not served...
    let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
    extra.write_all(b"show backend\n").await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(300), extra.read(&mut buf)).await;
    assert!(early.is_err(), "served beyond stats maxconn");
    // ...until one closes
    drop(open.pop());
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), extra.read_to_string(&mut out))
        .await
        .expect("deadline")
        .unwrap();
    assert_eq!(out, "# name\nweb-servers\n\n");
    drop(open);
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
}

#[tokio::test]
async fn idle_connection_closed_after_stats_timeout() {
    let rt = runtime();
    let limits = Limits::new(Duration::from_millis(200), Some(1));
    let (addr, tracker, cancel) = serve_tcp(&rt, &limits);
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut out = String::new();
    let n = tokio::time::timeout(Duration::from_secs(10), idle.read_to_string(&mut out))
        .await
        .expect("idle connection not closed")
        .unwrap();
    assert_eq!((n, out.as_str()), (0, ""));
    // its slot is free again (maxconn 1)
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(b"show backend\n").await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_string(&mut out))
        .await
        .expect("deadline")
        .unwrap();
    assert_eq!(out, "# name\nweb-servers\n\n");
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
}
