//! SIGTTOU pauses the listeners as HAProxy 2.6 does: the listening socket
//! is disconnected, so new connections are refused (not left in the
//! backlog); SIGTTIN listens again and traffic flows.

mod support;

use std::net::TcpStream;
use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(15);

#[test]
fn pause_refuses_then_resume_serves() {
    let b = Backend::start("b");
    let fe = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{fe}\n    server b 127.0.0.1:{}\n",
        head(""),
        b.port()
    );
    let p = Proxyd::start("pfix_pause", &cfg);
    assert_eq!(open_session(fe).unwrap().name, "b");
    p.signal(libc::SIGTTOU);
    // refused once the pause is applied
    assert!(
        wait_for(T, || TcpStream::connect(("127.0.0.1", fe)).is_err()),
        "{}",
        p.log()
    );
    let err = TcpStream::connect(("127.0.0.1", fe)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    p.signal(libc::SIGTTIN);
    assert!(wait_for(T, || open_session(fe).is_ok()), "{}", p.log());
    assert_eq!(open_session(fe).unwrap().name, "b");
}
