//! The `stats socket` end to end: the `proxyd` binary with a unix stats
//! socket, driven with `socat` (as operators do) and with a plain
//! UnixStream: show stat/info/servers state, set server state drain/maint/
//! ready with their log lines and their effect on traffic.

mod health_support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use health_support::*;

const T: Duration = Duration::from_secs(20);
const SOCAT: &str = "/usr/bin/socat";

struct Setup {
    web1: TestBackend,
    web2: TestBackend,
    fe: SocketAddr,
    sock: PathBuf,
    p: Proxyd,
}

fn setup(tag: &str) -> Setup {
    let web1 = TestBackend::start(name_handler("web1"));
    let web2 = TestBackend::start(name_handler("web2"));
    let fe_port = free_port();
    let dir = test_dir(tag);
    let sock = dir.join("admin.sock");
    // a stale file where the socket goes is replaced
    std::fs::write(&sock, b"stale").expect("stale file");
    let cfg = format!(
        "global\n    stats socket {} mode 660 level admin\n    stats timeout 30s\n\
         defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend mysite\n    bind 127.0.0.1:{fe_port}\n    default_backend web-servers\n\
         backend web-servers\n    balance roundrobin\n\
         \x20   server web1 127.0.0.1:{} check inter 100\n\
         \x20   server web2 127.0.0.1:{} check inter 100\n",
        sock.display(),
        web1.port,
        web2.port
    );
    let p = Proxyd::start(&dir, &cfg);
    wait_for(T, "stats socket", || UnixStream::connect(&sock).ok());
    // both servers fully up
    for s in ["web1", "web2"] {
        p.wait_line(0, T, "first checks", |l| {
            l.contains(&format!("health check of web-servers/{s}: L4OK"))
        });
    }
    Setup {
        web1,
        web2,
        fe: SocketAddr::from(([127, 0, 0, 1], fe_port)),
        sock,
        p,
    }
}

/// Send `input` on a fresh connection and read the whole answer.
fn ask(sock: &Path, input: &str) -> String {
    let mut s = UnixStream::connect(sock).expect("connect stats socket");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(input.as_bytes()).expect("write");
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

fn socat(sock: &Path, cmd: &str) -> Option<String> {
    if !Path::new(SOCAT).exists() {
        eprintln!("skipping socat part: {SOCAT} not installed");
        return None;
    }
    let mut child = Command::new(SOCAT)
        .arg("-")
        .arg(format!("UNIX-CONNECT:{}", sock.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn socat");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(format!("{cmd}\n").as_bytes());
    }
    let out = child.wait_with_output().expect("socat output");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `show stat` as (header, rows) with columns by name.
fn stat_rows(csv: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = csv.lines();
    let header = lines.next().expect("header");
    assert!(header.starts_with("# pxname,svname,"), "{header}");
    let names: Vec<&str> = header[2..].split(',').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            names
                .iter()
                .zip(l.split(','))
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn server_status(sock: &Path, srv: &str) -> String {
    stat_rows(&ask(sock, "show stat\n"))
        .into_iter()
        .find(|r| r["svname"] == srv)
        .map(|r| r["status"].clone())
        .unwrap_or_default()
}

#[test]
fn socket_mode_and_show_commands() {
    let s = setup("stats-show");
    let mode = std::fs::metadata(&s.sock)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660);

    let csv = match socat(&s.sock, "show stat") {
        Some(c) => c,
        None => ask(&s.sock, "show stat\n"),
    };
    assert!(csv.starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,"));
    assert!(csv.ends_with(",\n\n"), "{csv:?}");
    let rows = stat_rows(&csv);
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["pxname"].as_str(), r["svname"].as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("mysite", "FRONTEND"),
            ("web-servers", "web1"),
            ("web-servers", "web2"),
            ("web-servers", "BACKEND")
        ]
    );
    assert_eq!(rows[0]["status"], "OPEN");
    assert_eq!(rows[1]["status"], "UP");
    // "* " marks a check in progress
    assert_eq!(rows[1]["check_status"].trim_start_matches("* "), "L4OK");
    assert_eq!(rows[1]["check_desc"], "Layer4 check passed");
    assert_eq!(rows[1]["addr"], format!("127.0.0.1:{}", s.web1.port));
    assert_eq!(rows[3]["status"], "UP");
    assert_eq!(rows[3]["act"], "2");
    assert_eq!(rows[3]["algo"], "roundrobin");

    // traffic shows in the counters
    for _ in 0..4 {
        assert!(who(s.fe).is_some());
    }
    wait_for(T, "stot counted", || {
        let rows = stat_rows(&ask(&s.sock, "show stat\n"));
        (rows[3]["stot"] == "4").then_some(())
    });

    let info = ask(&s.sock, "show info\n");
    assert!(info.starts_with("Name: proxyd\n"), "{info}");
    assert!(info.contains(&format!("\nPid: {}\n", s.p.pid())), "{info}");

    let state = ask(&s.sock, "show servers state web-servers\n");
    let lines: Vec<&str> = state.lines().collect();
    assert_eq!(lines[0], "1");
    assert!(lines[1]
        .starts_with("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state"));
    assert!(
        lines[2].contains(" web-servers 1 web1 127.0.0.1 2 0 1 1 "),
        "{state}"
    );

    assert_eq!(ask(&s.sock, "show backend\n"), "# name\nweb-servers\n\n");
    assert_eq!(
        ask(
            &s.sock,
            "get weight web-servers/web1;get weight web-servers/nope\n"
        ),
        "1 (initial 1)\n\nNo such server.\n\n"
    );
    let unknown = ask(&s.sock, "bogus\n");
    assert!(unknown.starts_with("Unknown command"), "{unknown}");
    // interactive mode
    assert_eq!(
        ask(&s.sock, "prompt\nshow backend\nquit\n"),
        "\n> # name\nweb-servers\n\n> "
    );
}

#[test]
fn drain_maint_ready_change_traffic_and_log() {
    let s = setup("stats-admin");
    let sock = s.sock.clone();
    let set = |cmd: &str| -> String {
        match socat(&sock, cmd) {
            Some(o) => o,
            None => ask(&sock, &format!("{cmd}\n")),
        }
    };

    // drain: no new traffic to web1
    let from = s.p.log().len();
    assert_eq!(set("set server web-servers/web1 state drain"), "\n");
    s.p.wait_line(from, T, "drain line", |l| {
        l == "<5>Server web-servers/web1 enters drain state. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
    });
    assert_eq!(server_status(&sock, "web1"), "DRAIN");
    for _ in 0..6 {
        assert_eq!(who(s.fe).as_deref(), Some("web2"));
    }

    // drain -> maint: notice, since it was draining
    let from = s.p.log().len();
    assert_eq!(set("set server web-servers/web1 state maint"), "\n");
    s.p.wait_line(from, T, "maint line", |l| {
        l == "<5>Server web-servers/web1 is going DOWN for maintenance. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    });
    assert_eq!(server_status(&sock, "web1"), "MAINT");

    // ready: back in rotation at once
    let from = s.p.log().len();
    assert_eq!(set("set server web-servers/web1 state ready"), "\n");
    s.p.wait_line(from, T, "ready line", |l| {
        l == "<5>Server web-servers/web1 is UP/READY (leaving forced maintenance)."
    });
    wait_for(T, "web1 answering", || {
        (who(s.fe).as_deref() == Some("web1")).then_some(())
    });

    // ready -> maint is an alert; the last one out takes the backend down
    let from = s.p.log().len();
    assert_eq!(set("disable server web-servers/web2"), "\n");
    s.p.wait_line(from, T, "web2 maint", |l| {
        l == "<1>Server web-servers/web2 is going DOWN for maintenance. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    });
    assert_eq!(set("disable server web-servers/web1"), "\n");
    s.p.wait_line(from, T, "no server", |l| {
        l == "<0>backend web-servers has no server available!"
    });
    assert!(who(s.fe).is_none());
    assert_eq!(set("enable server web-servers/web2"), "\n");
    wait_for(T, "web2 answering", || {
        (who(s.fe).as_deref() == Some("web2")).then_some(())
    });

    // weight
    assert_eq!(set("set server web-servers/web2 weight 10"), "\n");
    assert_eq!(set("get weight web-servers/web2"), "10 (initial 1)\n\n");
    assert_eq!(
        set("set server web-servers/web2 state bogus"),
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
    );
    drop(s.web1);
    drop(s.web2);
}
