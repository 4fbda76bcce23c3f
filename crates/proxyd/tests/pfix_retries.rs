//! Connection retries against a blackholed server, timed as HAProxy 2.6
//! does (measured side by side on loopback, `timeout connect 1s`):
//! after a connect timeout the retry is immediate (`retries 2`: gives up
//! after 3.0 s, not 5.0 s), and `option redispatch` with another server
//! up moves at the first retry (`+1` after 1.0 s, not `+2`/`+3`).

mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use support::*;

/// A server that never answers SYN: a listener with backlog 0 whose
/// accept queue is full, so the kernel drops new SYNs.
struct Blackhole {
    _l: Socket,
    _fill: Vec<Socket>,
    port: u16,
}

fn blackhole() -> Blackhole {
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    l.bind(&any.into()).expect("bind");
    l.listen(0).expect("listen");
    let addr = l
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("local addr");
    let mut fill = Vec::new();
    for _ in 0..4 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        s.set_nonblocking(true).expect("nonblocking");
        let _ = s.connect(&addr.into());
        fill.push(s);
    }
    // let the handshakes that fit in the queue complete
    std::thread::sleep(Duration::from_millis(300));
    Blackhole {
        _l: l,
        _fill: fill,
        port: addr.port(),
    }
}

fn cfg(body: &str) -> String {
    format!(
        "global\n    log stderr local0\n\ndefaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n\n{body}"
    )
}

/// Connect to the frontend on `fe` and wait (15 s at most) until proxyd
/// closes the connection without sending anything; how long that took.
fn time_until_closed(fe: u16) -> Duration {
    let mut c = TcpStream::connect(("127.0.0.1", fe)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let n = c.read(&mut buf).unwrap_or(0);
    let took = t.elapsed();
    assert_eq!(n, 0);
    took
}

#[test]
fn retries_after_a_connect_timeout_are_immediate() {
    let bh = blackhole();
    let fe = free_port();
    let p = Proxyd::start(
        "pfix_retries_to",
        &cfg(&format!(
            "listen l\n    bind 127.0.0.1:{fe}\n    retries 2\n    server s1 127.0.0.1:{}\n",
            bh.port
        )),
    );
    let took = time_until_closed(fe);
    // HAProxy: 3.0 s (three 1 s attempts, no turn-around)
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_millis(4200),
        "gave up after {took:?}"
    );
    assert!(p.wait_log(" sC ", Duration::from_secs(5)), "{}", p.log());
    let line = p
        .log()
        .lines()
        .find(|l| l.contains(" sC "))
        .map(str::to_string);
    assert!(line.is_some_and(|l| l.contains("/2 0/0")), "{}", p.log());
}

#[test]
fn redispatch_moves_at_the_first_retry_when_another_server_is_up() {
    let bh = blackhole();
    let b = Backend::start("s2");
    let fe = free_port();
    let p = Proxyd::start(
        "pfix_retries_redisp",
        &cfg(&format!(
            "listen l\n    bind 127.0.0.1:{fe}\n    balance first\n    retries 3\n    option redispatch\n    server s1 127.0.0.1:{}\n    server s2 127.0.0.1:{}\n",
            bh.port,
            b.port()
        )),
    );
    let t = Instant::now();
    let s = open_session(fe).expect("session");
    let took = t.elapsed();
    assert_eq!(s.name, "s2");
    // HAProxy: 1.0 s, one timeout on s1 then s2
    assert!(
        took < Duration::from_millis(1800),
        "reached s2 after {took:?}"
    );
    drop(s);
    assert!(p.wait_log("l/s2 ", Duration::from_secs(5)), "{}", p.log());
    assert!(p.log().contains("/+1 0/0"), "{}", p.log());
}

/// HAProxy 2.6 does not abort a connecting session when `timeout client`
/// expires: the retries run to their end (3.0 s here, not 1.5 s) and the
/// log says `cC`.
#[test]
fn the_client_timeout_does_not_cut_the_retries_short() {
    let bh = blackhole();
    let fe = free_port();
    let p = Proxyd::start(
        "pfix_retries_cto",
        &cfg(&format!(
            "listen l\n    bind 127.0.0.1:{fe}\n    retries 2\n    timeout client 1500ms\n    server s1 127.0.0.1:{}\n",
            bh.port
        )),
    );
    let took = time_until_closed(fe);
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_millis(4200),
        "gave up after {took:?}"
    );
    assert!(p.wait_log(" cC ", Duration::from_secs(5)), "{}", p.log());
    assert!(p.log().contains("/2 0/0"), "{}", p.log());
}
