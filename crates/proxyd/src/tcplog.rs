//! Session log lines and syslog framing, as HAProxy writes them. Pure:
//! the caller passes the time and the time zone ([`Tm::at`]).
//!
//! `option tcplog` is `%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts
//! %ac/%fc/%bc/%sc/%rc %sq/%bq`, e.g.
//! `127.0.0.1:41600 [26/Nov/2026:00:44:17.225] mysite web-servers/web2 0/0/4 4 -- 2/2/1/0/0 0/0`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::SystemTime;

use jiff::tz::TimeZone;
use jiff::Timestamp;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tm {
    pub year: i32,
    /// 1..=12
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub millis: u32,
}

/// The process's time zone (`TZ`, else `/etc/localtime`; UTC when neither
/// can be read), read on the first call and kept: call it once before a
/// chroot so that the zone survives it.
pub fn local_zone() -> &'static TimeZone {
    static ZONE: OnceLock<TimeZone> = OnceLock::new();
    ZONE.get_or_init(|| TimeZone::try_system().unwrap_or(TimeZone::UTC))
}

impl Tm {
    /// The calendar time of `t` in `tz`. Pure: the caller passes the time
    /// and the zone.
    pub fn at(t: SystemTime, tz: &TimeZone) -> Tm {
        let ts = Timestamp::try_from(t).unwrap_or(Timestamp::UNIX_EPOCH);
        let dt = tz.to_datetime(ts);
        let num = |v: i8| u32::from(v.unsigned_abs());
        Tm {
            year: i32::from(dt.year()),
            month: num(dt.month()),
            day: num(dt.day()),
            hour: num(dt.hour()),
            min: num(dt.minute()),
            sec: num(dt.second()),
            millis: u32::from(dt.millisecond().unsigned_abs()),
        }
    }

    /// [`Tm::at`] in the process's [`local_zone`].
    pub fn local(t: SystemTime) -> Tm {
        Tm::at(t, local_zone())
    }

    fn month_name(&self) -> &'static str {
        MONTHS
            .get(self.month.saturating_sub(1) as usize)
            .copied()
            .unwrap_or("Jan")
    }

    /// HAProxy's `%t`: `26/Nov/2026:00:36:13.123`.
    pub fn write_log_date(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}",
            self.day,
            self.month_name(),
            self.year,
            self.hour,
            self.min,
            self.sec,
            self.millis
        );
    }

    /// RFC 3164 timestamp: `Nov 26 00:36:13` (day padded with a space).
    pub fn write_syslog_date(&self, out: &mut String) {
        let _ = write!(
            out,
            "{} {:>2} {:02}:{:02}:{:02}",
            self.month_name(),
            self.day,
            self.hour,
            self.min,
            self.sec
        );
    }
}

/// Termination state: who ended the session and in which phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// `-` normal, `C` client abort, `S` server abort/refusal, `c` client
    /// timeout, `s` server timeout, `P` proxy, `K` killed (stop), `D`
    /// server marked down, `U` backup session shut when an active came up.
    pub cause: u8,
    /// `-` normal end, `Q` queue, `C` connect, `D` data.
    pub phase: u8,
}

impl Term {
    pub const NORMAL: Term = Term {
        cause: b'-',
        phase: b'-',
    };
    pub fn new(cause: u8, phase: u8) -> Term {
        Term { cause, phase }
    }
    pub fn as_str(&self) -> String {
        let mut s = String::with_capacity(2);
        s.push(char::from(self.cause));
        s.push(char::from(self.phase));
        s
    }
}

/// Everything a tcplog line shows.
#[derive(Debug, Clone)]
pub struct SessionLog<'a> {
    pub client: SocketAddr,
    pub accept: Tm,
    pub frontend: &'a str,
    pub backend: &'a str,
    /// `None` prints `<NOSRV>`.
    pub server: Option<&'a str>,
    /// Queue time (ms), `None` = -1.
    pub tw: Option<u64>,
    /// Connect time (ms), `None` = -1.
    pub tc: Option<u64>,
    /// Total time (ms).
    pub tt: u64,
    /// `option logasap`: `%Tt` and `%B` are so far, shown with a `+`.
    pub partial: bool,
    /// Bytes sent to the client.
    pub bytes: u64,
    pub term: Term,
    pub actconn: u64,
    pub feconn: u64,
    pub beconn: u64,
    pub srvconn: u64,
    pub retries: u32,
    pub redispatched: bool,
    pub srv_queue: u64,
    pub be_queue: u64,
}

fn opt(out: &mut String, v: Option<u64>) {
    match v {
        Some(v) => {
            let _ = write!(out, "{v}");
        }
        None => out.push_str("-1"),
    }
}

/// `%ci:%cp`: IPv4-mapped IPv6 clients show as IPv4, as HAProxy does.
fn write_client(out: &mut String, c: SocketAddr) {
    let ip = match c.ip() {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => c.ip(),
        },
        ip => ip,
    };
    let _ = write!(out, "{}:{}", ip, c.port());
}

/// Format a tcplog line (without syslog header).
pub fn format_tcplog(l: &SessionLog<'_>) -> String {
    let mut out = String::with_capacity(160);
    write_client(&mut out, l.client);
    out.push_str(" [");
    l.accept.write_log_date(&mut out);
    let _ = write!(
        out,
        "] {} {}/{} ",
        l.frontend,
        l.backend,
        l.server.unwrap_or("<NOSRV>")
    );
    opt(&mut out, l.tw);
    out.push('/');
    opt(&mut out, l.tc);
    let plus = if l.partial { "+" } else { "" };
    let _ = write!(
        out,
        "/{plus}{} {plus}{} {}{} {}/{}/{}/{}/{}{} {}/{}",
        l.tt,
        l.bytes,
        char::from(l.term.cause),
        char::from(l.term.phase),
        l.actconn,
        l.feconn,
        l.beconn,
        l.srvconn,
        if l.redispatched { "+" } else { "" },
        l.retries,
        l.srv_queue,
        l.be_queue
    );
    out
}

/// HAProxy's default tcp log when `option tcplog` is absent, sent at accept:
/// `Connect from 127.0.0.1:41600 to 127.0.0.1:8080 (mysite/TCP)`.
pub fn format_connect(client: SocketAddr, local: SocketAddr, frontend: &str) -> String {
    let mut out = String::with_capacity(80);
    out.push_str("Connect from ");
    write_client(&mut out, client);
    out.push_str(" to ");
    write_client(&mut out, local);
    let _ = write!(out, " ({frontend}/TCP)");
    out
}

/// The syslog PRI of a facility and severity.
pub fn pri(facility: u8, level: u8) -> u32 {
    u32::from(facility) * 8 + u32::from(level.min(7))
}

/// RFC 3164 framing: `<PRI>Nov 26 00:36:13 tag[pid]: message`, truncated
/// to `max_len` bytes (on a character boundary), newline-terminated when
/// `newline` (stream targets).
pub fn syslog_frame(
    pri: u32,
    now: &Tm,
    tag: &str,
    pid: u32,
    msg: &str,
    max_len: usize,
    newline: bool,
) -> String {
    let mut out = String::with_capacity(msg.len() + 48);
    let _ = write!(out, "<{pri}>");
    now.write_syslog_date(&mut out);
    let _ = write!(out, " {tag}[{pid}]: ");
    out.push_str(msg);
    truncate(&mut out, max_len);
    if newline {
        out.push('\n');
    }
    out
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while cut > 0 && !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tm() -> Tm {
        Tm {
            year: 2026,
            month: 11,
            day: 6,
            hour: 0,
            min: 36,
            sec: 13,
            millis: 5,
        }
    }

    fn base() -> SessionLog<'static> {
        SessionLog {
            client: "127.0.0.1:41600".parse().unwrap(),
            accept: tm(),
            frontend: "mysite",
            backend: "web-servers",
            server: Some("web2"),
            tw: Some(0),
            tc: Some(0),
            tt: 4,
            partial: false,
            bytes: 4,
            term: Term::NORMAL,
            actconn: 2,
            feconn: 2,
            beconn: 1,
            srvconn: 0,
            retries: 0,
            redispatched: false,
            srv_queue: 0,
            be_queue: 0,
        }
    }

    #[test]
    fn tcplog_normal() {
        assert_eq!(
            format_tcplog(&base()),
            "127.0.0.1:41600 [06/Nov/2026:00:36:13.005] mysite web-servers/web2 0/0/4 4 -- 2/2/1/0/0 0/0"
        );
    }

    #[test]
    fn tcplog_nosrv_and_failures() {
        let l = SessionLog {
            server: None,
            tw: None,
            tc: None,
            tt: 0,
            bytes: 0,
            term: Term::new(b'S', b'C'),
            ..base()
        };
        assert_eq!(
            format_tcplog(&l),
            "127.0.0.1:41600 [06/Nov/2026:00:36:13.005] mysite web-servers/<NOSRV> -1/-1/0 0 SC 2/2/1/0/0 0/0"
        );
        let l = SessionLog {
            tc: None,
            tt: 1001,
            term: Term::new(b's', b'C'),
            retries: 3,
            redispatched: true,
            ..base()
        };
        assert!(format_tcplog(&l).ends_with(" 0/-1/1001 4 sC 2/2/1/0/+3 0/0"));
        let l = SessionLog {
            tw: Some(5000),
            tc: None,
            term: Term::new(b's', b'Q'),
            be_queue: 3,
            ..base()
        };
        assert!(format_tcplog(&l).ends_with(" 5000/-1/4 4 sQ 2/2/1/0/0 0/3"));
    }

    #[test]
    fn tcplog_logasap() {
        let l = SessionLog {
            partial: true,
            bytes: 0,
            ..base()
        };
        assert!(format_tcplog(&l).ends_with(" 0/0/+4 +0 -- 2/2/1/0/0 0/0"));
    }

    #[test]
    fn tcplog_v6_and_mapped() {
        let l = SessionLog {
            client: "[::1]:5000".parse().unwrap(),
            ..base()
        };
        assert!(format_tcplog(&l).starts_with("::1:5000 ["));
        let l = SessionLog {
            client: "[::ffff:10.0.0.1]:5000".parse().unwrap(),
            ..base()
        };
        assert!(format_tcplog(&l).starts_with("10.0.0.1:5000 ["));
    }

    #[test]
    fn connect_line() {
        assert_eq!(
            format_connect(
                "127.0.0.1:41600".parse().unwrap(),
                "127.0.0.1:8080".parse().unwrap(),
                "mysite"
            ),
            "Connect from 127.0.0.1:41600 to 127.0.0.1:8080 (mysite/TCP)"
        );
    }

    #[test]
    fn syslog_framing() {
        // local0.info = 16*8+6 = 134, day padded with a space
        assert_eq!(
            syslog_frame(pri(16, 6), &tm(), "proxyd", 42, "hello", 1024, false),
            "<134>Nov  6 00:36:13 proxyd[42]: hello"
        );
        assert_eq!(
            syslog_frame(pri(16, 4), &tm(), "proxyd", 42, "hello", 1024, true),
            "<132>Nov  6 00:36:13 proxyd[42]: hello\n"
        );
        let long = "é".repeat(100);
        let f = syslog_frame(pri(0, 0), &tm(), "p", 1, &long, 40, false);
        assert!(f.len() <= 40);
    }

    #[test]
    fn term_codes() {
        assert_eq!(Term::NORMAL.as_str(), "--");
        assert_eq!(Term::new(b'K', b'D').as_str(), "KD");
    }

    #[test]
    fn time_in_a_given_zone() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_795_653_601_123);
        let utc = Tm::at(t, &TimeZone::UTC);
        let mut s = String::new();
        utc.write_log_date(&mut s);
        assert_eq!(s, "26/Nov/2026:00:40:01.123");
        // a day back across midnight, a month and a year boundary
        let west = TimeZone::fixed(jiff::tz::Offset::constant(-5));
        let mut s = String::new();
        Tm::at(t, &west).write_log_date(&mut s);
        assert_eq!(s, "25/Nov/2026:19:40:01.123");
        let new_year = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_798_761_600);
        let mut s = String::new();
        Tm::at(new_year, &west).write_syslog_date(&mut s);
        assert_eq!(s, "Dec 31 19:00:00");
        // summer time from a POSIX rule: Paris is UTC+2 in July
        let paris = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let july = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_783_080_000);
        let tm = Tm::at(july, &paris);
        assert_eq!((tm.month, tm.day, tm.hour), (7, 3, 14));
    }

    #[test]
    fn local_time_is_sane() {
        let t =
            Tm::local(SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_795_653_000_123));
        assert_eq!(t.millis, 123);
        // cached within the same second, millis refreshed
        let t2 =
            Tm::local(SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_795_653_000_456));
        assert_eq!(Tm { millis: 123, ..t2 }, t);
        assert!((1..=12).contains(&t.month));
        assert!(t.year >= 2026);
    }
}
