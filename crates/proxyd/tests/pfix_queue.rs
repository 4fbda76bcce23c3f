//! Queued sessions are served first in first out, as HAProxy dequeues
//! them: with a `maxconn 1` server, clients queued one after the other
//! reach the server in their order of arrival, and a newcomer arriving
//! when the slot frees waits behind them.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(15);

/// The backend's `qcur` from `show stat`.
fn backend_qcur(sock: &Path, px: &str) -> Option<u64> {
    let mut s = UnixStream::connect(sock).ok()?;
    s.write_all(b"show stat\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
    let col = header.iter().position(|h| *h == "qcur")?;
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&px) && f.get(1) == Some(&"BACKEND"))
        .and_then(|f| f.get(col)?.parse().ok())
}

/// A client: connects, and once served (the server's name line read)
/// records its tag, then closes to free the slot.
fn client(port: u16, tag: usize, order: Arc<Mutex<Vec<usize>>>) -> std::thread::JoinHandle<()> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        s.set_read_timeout(Some(T)).unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        assert_eq!(line, "a\n");
        order.lock().unwrap().push(tag);
    })
}

#[test]
fn queue_is_served_in_order_of_arrival() {
    let a = Backend::start("a");
    let dir = temp_dir("pfix-queue");
    let sock = dir.join("admin.sock");
    let fe = free_port();
    let cfg = format!(
        "global\n    stats socket {} level admin\n\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    timeout queue 30s\n\nlisten l\n    bind 127.0.0.1:{fe}\n    server a 127.0.0.1:{} maxconn 1\n",
        sock.display(),
        a.port()
    );
    let p = Proxyd::start("pfix_queue", &cfg);
    assert!(
        wait_for(T, || backend_qcur(&sock, "l").is_some()),
        "{}",
        p.log()
    );
    let hold = open_session(fe).unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for tag in 0..5 {
        clients.push(client(fe, tag, order.clone()));
        let want = tag as u64 + 1;
        assert!(
            wait_for(T, || backend_qcur(&sock, "l") == Some(want)),
            "client {tag} not queued\n{}",
            p.log()
        );
    }
    // the slot frees and a newcomer arrives at once: it queues behind
    drop(hold);
    clients.push(client(fe, 5, order.clone()));
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4, 5]);
    let _ = std::fs::remove_dir_all(&dir);
}
