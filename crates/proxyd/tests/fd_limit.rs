//! Start-up with a global `maxconn` the file-descriptor limit cannot
//! hold: proxyd refuses to start with HAProxy 2.6's alert and exit code
//! (measured with `ulimit -n 1024`, maxconn 100000, one listener, two
//! threads: "Cannot raise FD limit to 200017, limit is 1024.", exit 1);
//! `-c` still says the file is valid, as `haproxy -c`.

mod support;

use std::process::Command;

use support::*;

fn cfg(fe: u16) -> String {
    format!(
        "global\n    maxconn 100000\n    nbthread 2\n\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\nlisten l\n    bind 127.0.0.1:{fe}\n    server s 127.0.0.1:{}\n",
        free_port()
    )
}

fn under_1024(args: &[&str]) -> std::process::Output {
    Command::new("prlimit")
        .arg("--nofile=1024:1024")
        .arg(BIN)
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .output()
        .expect("run prlimit")
}

#[test]
fn a_maxconn_the_fd_limit_cannot_hold_refuses_to_start() {
    let dir = temp_dir("fd_limit");
    let path = dir.join("p.cfg");
    std::fs::write(&path, cfg(free_port())).expect("write cfg");
    let p = path.to_string_lossy().to_string();
    let out = under_1024(&["-db", "-f", &p]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[proxyd.main()] Cannot raise FD limit to 200017, limit is 1024."),
        "{err}"
    );
    let out = under_1024(&["-c", "-f", &p]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
