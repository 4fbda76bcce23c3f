//! The command line: keepalived's flags, `-t`, `-v`, pid files, sd_notify.

mod util;

use std::process::Command;
use std::time::Duration;

use util::*;

const BIN: &str = env!("CARGO_BIN_EXE_vrrpd");

#[test]
fn version_and_config_test() {
    let out = Command::new(BIN).arg("-v").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("vrrpd v"));
    let dir = TempDir::new("cli");
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "vrrp_instance x {\n    bogus_keyword\n}\n").unwrap();
    let out = Command::new(BIN)
        .args(["-t", "-f"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Line 2"), "{err}");
    // The daemon refuses it too, with exit status 1.
    let out = Command::new(BIN)
        .args(["-n", "-l", "-f"])
        .arg(&bad)
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus_keyword"));
}

/// In a namespace: pid files written and removed, READY sent to
/// NOTIFY_SOCKET once the instances run, exit 0 on SIGTERM.
#[test]
fn pid_files_and_sd_notify() {
    let lab = Lab::new("sdn", 1);
    let conf = lab.write(
        "a.conf",
        &format!("{GLOBAL}{}", v2("vif1", "BACKUP", 100, "")),
    );
    let sock_path = lab.dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let pid = lab.dir.path().join("p.pid");
    let rpid = lab.dir.path().join("r.pid");
    let log = std::fs::File::create(lab.dir.path().join("log")).unwrap();
    let mut cmd = lab.nodes[0].exec(&[
        BIN,
        "-n",
        "-f",
        conf.to_str().unwrap(),
        "-p",
        pid.to_str().unwrap(),
        "-r",
        rpid.to_str().unwrap(),
        "--dump-dir",
        lab.dir.path().to_str().unwrap(),
    ]);
    cmd.env("NOTIFY_SOCKET", &sock_path)
        .env_remove("JOURNAL_STREAM")
        .stderr(log);
    let mut child = Child::spawn(&mut cmd).unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("a notification");
    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(msg.contains("READY=1"), "{msg}");
    let me = child.id().unwrap().to_string();
    assert!(wait(Duration::from_secs(5), || {
        std::fs::read_to_string(&pid).unwrap_or_default().trim() == me
            && std::fs::read_to_string(&rpid).unwrap_or_default().trim() == me
    }));
    let st = child
        .stop(libc::SIGTERM, Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert!(st.success());
    assert!(!pid.exists() && !rpid.exists());
}
