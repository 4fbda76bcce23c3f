//! A client giving up before its session reaches a server is logged with
//! HAProxy 2.6's termination states (checked against `haproxy -db` on
//! loopback): closed without data while queued `CQ`, while connecting
//! `CC`; reset in either phase `CD`; closed after sending data: the
//! session is kept and served.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, SockRef, Socket, Type};
use support::*;

const T: Duration = Duration::from_secs(15);

fn reset(s: TcpStream) {
    let _ = SockRef::from(&s).set_linger(Some(Duration::ZERO));
    drop(s);
}

fn port_of(s: &TcpStream) -> u16 {
    s.local_addr().map(|a| a.port()).unwrap_or(0)
}

/// The log line of the session from client port `port`.
fn line_of(p: &Proxyd, port: u16) -> String {
    let pat = format!("127.0.0.1:{port} [");
    assert!(p.wait_log(&pat, T), "no line for {port}:\n{}", p.log());
    let log = p.log();
    log.lines()
        .find(|l| l.contains(&pat))
        .unwrap_or_default()
        .to_string()
}

/// A listener whose accept queue is full: connections to it hang in
/// SYN_SENT (the kernel drops the SYNs) until `timeout connect`.
fn black_hole() -> (Socket, Vec<Socket>, SocketAddr) {
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let mut fill = Vec::new();
    for _ in 0..3 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fill.push(s);
    }
    (l, fill, addr)
}

#[test]
fn client_abort_while_queued_or_connecting() {
    let a = Backend::start("a");
    let (_hole, _fill, hole) = black_hole();
    let fq = free_port();
    let fc = free_port();
    let cfg = format!(
        "{}listen q\n    bind 127.0.0.1:{fq}\n    timeout queue 20s\n    server a 127.0.0.1:{} maxconn 1\n\nlisten c\n    bind 127.0.0.1:{fc}\n    timeout connect 20s\n    server b {hole}\n",
        head(""),
        a.port()
    );
    let p = Proxyd::start("pfix_abort", &cfg);
    assert!(p.wait_log("Proxy c started.", T), "{}", p.log());

    // queued behind a session holding the only slot
    let hold = open_session(fq).unwrap();
    let q_rst = TcpStream::connect(("127.0.0.1", fq)).unwrap();
    let q_rst_port = port_of(&q_rst);
    reset(q_rst);
    let line = line_of(&p, q_rst_port);
    assert!(
        line.contains(" q q/<NOSRV> ") && line.contains(" 0 CD "),
        "{line}"
    );

    let mut q_fin = TcpStream::connect(("127.0.0.1", fq)).unwrap();
    q_fin.set_read_timeout(Some(T)).unwrap();
    let q_fin_port = port_of(&q_fin);
    q_fin.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    let _ = q_fin.read_to_end(&mut rest);
    assert!(rest.is_empty());
    let line = line_of(&p, q_fin_port);
    assert!(
        line.contains(" q q/<NOSRV> ") && line.contains(" 0 CQ "),
        "{line}"
    );
    assert!(line.ends_with(" 0/1"), "{line}");

    // data then close while queued: kept, served when the slot frees
    let mut q_data = TcpStream::connect(("127.0.0.1", fq)).unwrap();
    q_data.set_read_timeout(Some(T)).unwrap();
    q_data.write_all(b"x").unwrap();
    q_data.shutdown(Shutdown::Write).unwrap();
    drop(hold);
    let mut got = String::new();
    q_data.read_to_string(&mut got).unwrap();
    assert_eq!(got, "a\nx");
    let line = line_of(&p, port_of(&q_data));
    assert!(line.contains(" q q/a ") && line.contains(" -- "), "{line}");

    // while connecting to a server that does not answer
    let c_fin = TcpStream::connect(("127.0.0.1", fc)).unwrap();
    let c_fin_port = port_of(&c_fin);
    c_fin.shutdown(Shutdown::Write).unwrap();
    let line = line_of(&p, c_fin_port);
    assert!(line.contains(" c c/b ") && line.contains("/-1/"), "{line}");
    assert!(line.contains(" 0 CC "), "{line}");
    drop(c_fin);

    let c_rst = TcpStream::connect(("127.0.0.1", fc)).unwrap();
    let c_rst_port = port_of(&c_rst);
    reset(c_rst);
    let line = line_of(&p, c_rst_port);
    assert!(
        line.contains(" c c/b ") && line.contains(" 0 CD "),
        "{line}"
    );
}
