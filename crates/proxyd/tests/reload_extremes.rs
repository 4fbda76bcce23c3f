//! A reload to a configuration with every numeric proxy and server
//! keyword at the largest value the parser accepts (HAProxy 2.6 accepts
//! the same file, `haproxy -c`) and back: proxyd stays up, the session
//! opened before keeps relaying and new ones are served (no arithmetic
//! overflow on the timers, weights, limits or ids).

mod support;

use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(15);
const MAX: &str = "2147483647";

fn cfg(fe: u16, b: &Backend, extreme: bool) -> String {
    let (timeouts, proxy, server) = if extreme {
        (
            [
                "connect", "client", "server", "queue", "check", "tunnel", "client-fin",
                "server-fin",
            ]
            .iter()
            .map(|t| format!("    timeout {t} {MAX}\n"))
            .collect::<String>(),
            format!("    retries {MAX}\n    maxconn {MAX}\n    fullconn {MAX}\n    option redispatch\n"),
            format!(
                " check rise {MAX} fall {MAX} inter {MAX} fastinter {MAX} downinter {MAX} weight 256 maxconn {MAX} maxqueue {MAX} id {MAX}"
            ),
        )
    } else {
        (
            "    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n".to_string(),
            String::new(),
            String::new(),
        )
    };
    format!(
        "global\n    log stderr local0\n    maxconn 1000\n\ndefaults\n    mode tcp\n    log global\n    option tcplog\n{timeouts}\nlisten l\n    bind 127.0.0.1:{fe}\n{proxy}    server b 127.0.0.1:{}{server}\n",
        b.port()
    )
}

#[test]
fn reload_with_every_numeric_keyword_at_its_maximum_keeps_serving() {
    let b = Backend::start("b");
    let fe = free_port();
    let mut p = Proxyd::start("reload_extremes", &cfg(fe, &b, false));
    let mut before = open_session(fe).expect("served before the reload");
    p.write_cfg(&cfg(fe, &b, true));
    p.signal(libc::SIGHUP);
    assert!(p.wait_log("Configuration reloaded", T), "{}", p.log());
    for _ in 0..5 {
        let mut s = open_session(fe).expect("served after the reload");
        assert_eq!(s.name, "b");
        s.echo(b"extreme").expect("relayed");
    }
    before.echo(b"kept").expect("the old session still relays");
    // and back
    p.write_cfg(&cfg(fe, &b, false));
    p.signal(libc::SIGHUP);
    assert!(p.wait_count("Configuration reloaded", 2, T), "{}", p.log());
    assert_eq!(request(fe).as_deref(), Ok("b"));
    // still running, nothing panicked
    assert!(
        p.wait_exit(Duration::from_millis(500)).is_none(),
        "{}",
        p.log()
    );
    assert!(!p.log().contains("panicked"), "{}", p.log());
}
