//! Value parsers shared by the haproxy.cfg sections: times, integers,
//! addresses, hex strings, and the "did you mean" hint.
//!
//! Everything here is pure; hostname resolution goes through [`Host`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// The few things the parser needs from the system, injected so that the
/// parser stays pure and testable.
pub trait Host {
    /// Resolve a hostname (first address, IPv4 preferred unless `v6`).
    fn resolve(&self, host: &str, v6: Option<bool>) -> Option<IpAddr>;
    fn user_id(&self, name: &str) -> Option<u32>;
    fn group_id(&self, name: &str) -> Option<u32>;
    fn file_readable(&self, path: &Path) -> bool;
    /// The content of a small file (`errorfile`), for validation; `None`
    /// skips the validation (the file is then only checked for access).
    fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        std::fs::read(path).ok()
    }
}

/// The real system: DNS/`/etc/hosts` via libc, passwd/group databases.
pub struct SystemHost;

impl Host for SystemHost {
    fn resolve(&self, host: &str, v6: Option<bool>) -> Option<IpAddr> {
        use std::net::ToSocketAddrs;
        let addrs: Vec<IpAddr> = (host, 0u16)
            .to_socket_addrs()
            .ok()?
            .map(|a| a.ip())
            .collect();
        match v6 {
            Some(true) => addrs.into_iter().find(|a| a.is_ipv6()),
            Some(false) => addrs.into_iter().find(|a| a.is_ipv4()),
            None => addrs
                .iter()
                .find(|a| a.is_ipv4())
                .or(addrs.first())
                .copied(),
        }
    }

    fn user_id(&self, name: &str) -> Option<u32> {
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    }

    fn group_id(&self, name: &str) -> Option<u32> {
        nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    }

    fn file_readable(&self, path: &Path) -> bool {
        std::fs::File::open(path).is_ok()
    }
}

/// Check that an `errorfile` holds an HTTP response head (status line and
/// headers up to an empty line), as HAProxy does. An empty file is fine.
/// The error is HAProxy's "error offset" (0: bad start, -2: unfinished).
pub fn check_http_response(content: &[u8]) -> Result<(), i32> {
    if content.is_empty() {
        return Ok(());
    }
    if !content.starts_with(b"HTTP/") {
        return Err(0);
    }
    let ends = content.windows(2).any(|w| w == b"\n\n")
        || content.windows(4).any(|w| w == b"\r\n\r\n")
        || content.windows(3).any(|w| w == b"\n\r\n");
    if ends {
        Ok(())
    } else {
        Err(-2)
    }
}

/// Why a time value was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeError {
    Empty,
    BadChar(char),
    Overflow,
}

/// Parse an HAProxy time: digits then an optional unit among `us`, `ms`,
/// `s`, `m`, `h`, `d`; a bare number is milliseconds. Like HAProxy, values
/// above 2147483647 ms are rejected.
pub fn parse_time(s: &str) -> Result<Duration, TimeError> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits_end == 0 {
        return match s.chars().next() {
            None => Err(TimeError::Empty),
            Some(c) => Err(TimeError::BadChar(c)),
        };
    }
    let value: u64 = s[..digits_end].parse().map_err(|_| TimeError::Overflow)?;
    let unit = &s[digits_end..];
    let micros_per: u64 = match unit {
        "" | "ms" => 1_000,
        "us" => 1,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => {
            // HAProxy names the first character it could not use.
            let bad = if let Some(rest) = unit.strip_prefix("ms") {
                rest.chars().next()
            } else if let Some(rest) = unit.strip_prefix("us") {
                rest.chars().next()
            } else if unit.starts_with(['s', 'm', 'h', 'd']) {
                unit.chars().nth(1)
            } else {
                unit.chars().next()
            };
            return Err(TimeError::BadChar(bad.unwrap_or('?')));
        }
    };
    let micros = value.checked_mul(micros_per).ok_or(TimeError::Overflow)?;
    if micros / 1000 > i32::MAX as u64 {
        return Err(TimeError::Overflow);
    }
    Ok(Duration::from_micros(micros))
}

/// C `atol`-like reading used by HAProxy for most integer keywords: leading
/// digits (after an optional `+`), anything else ignored. Returns the value
/// and whether the whole word was a clean number.
pub fn atoi(s: &str) -> (u64, bool) {
    let t = s.strip_prefix('+').unwrap_or(s);
    let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let v = t[..end]
        .parse::<u64>()
        .unwrap_or(if end == 0 { 0 } else { u64::MAX });
    (v, end > 0 && end == t.len())
}

/// Decode a hex string (`tcp-check send-binary`, `expect binary`).
/// Errors carry HAProxy's explanation.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err("an even number of hex digit is expected".to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(s.len() / 2);
    for pair in bytes.chunks(2) {
        let mut v = 0u8;
        for &c in pair {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| format!("an hex digit is expected (found '{}')", c as char))?;
            v = v * 16 + d as u8;
        }
        out.push(v);
    }
    Ok(out)
}

/// An address as written in `bind`, `server`, `log`, `stats socket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAddr {
    /// `ipv4@`/`ipv6@` forced family.
    pub family: Option<bool>,
    /// Host part as written (may be empty or `*`).
    pub host: String,
    /// Port range (`lo..=hi`), `None` when no port was given.
    pub ports: Option<(u16, u16)>,
}

/// Parse `[family@]host[:port[-end]]`. `what` is the full word (for messages).
/// Errors use HAProxy's wording (without the `'bind' : ` prefix).
pub fn parse_addr(word: &str, allow_range: bool) -> Result<RawAddr, String> {
    let (family, rest) = if let Some(r) = word.strip_prefix("ipv4@") {
        (Some(false), r)
    } else if let Some(r) = word.strip_prefix("ipv6@") {
        (Some(true), r)
    } else if let Some(r) = word.strip_prefix("tcp4@") {
        (Some(false), r)
    } else if let Some(r) = word.strip_prefix("tcp6@") {
        (Some(true), r)
    } else if let Some(r) = word.strip_prefix("tcp@") {
        (None, r)
    } else {
        (None, word)
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(format!("invalid address: '{rest}' in '{word}'"));
        };
        let host = &inner[..close];
        let after = &inner[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("invalid address: '{rest}' in '{word}'")),
        };
        (host.to_string(), port)
    } else {
        match rest.rfind(':') {
            Some(i) => (rest[..i].to_string(), Some(&rest[i + 1..])),
            None => (rest.to_string(), None),
        }
    };
    let ports = match port {
        None => None,
        Some(p) => Some(parse_port_range(p, word, allow_range)?),
    };
    Ok(RawAddr {
        family,
        host,
        ports,
    })
}

fn parse_port_range(p: &str, word: &str, allow_range: bool) -> Result<(u16, u16), String> {
    let (lo, hi) = match p.split_once('-') {
        Some((a, b)) if allow_range => (a, Some(b)),
        _ => (p, None),
    };
    let one = |s: &str| -> Result<u16, String> {
        if s.is_empty() {
            return Err(format!("missing port specification in '{word}'"));
        }
        if let Some(c) = s.chars().find(|c| !c.is_ascii_digit()) {
            return Err(format!(
                "invalid character '{c}' in port number '{s}' in '{word}'"
            ));
        }
        match s.parse::<u32>() {
            Ok(v) if (1..=65535).contains(&v) => Ok(v as u16),
            _ => Err(format!("invalid port '{s}'")),
        }
    };
    let a = one(lo)?;
    match hi {
        None => Ok((a, a)),
        Some(h) => {
            let b = one(h)?;
            if b < a {
                return Err(format!("invalid port range '{p}'"));
            }
            Ok((a, b))
        }
    }
}

/// Resolve the host part of an address: empty or `*` is the wildcard of the
/// family (IPv4 unless `ipv6@`), an IP literal is itself, anything else goes
/// through the resolver.
pub fn resolve_host(raw: &RawAddr, host: &dyn Host) -> Option<IpAddr> {
    let h = raw.host.as_str();
    if h.is_empty() || h == "*" {
        return Some(if raw.family == Some(true) {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        });
    }
    if let Ok(ip) = h.parse::<IpAddr>() {
        return match (raw.family, ip) {
            (Some(true), IpAddr::V4(_)) | (Some(false), IpAddr::V6(_)) => None,
            _ => Some(ip),
        };
    }
    host.resolve(h, raw.family)
}

/// Expand a resolved address and a port range into socket addresses.
pub fn expand(ip: IpAddr, ports: (u16, u16)) -> Vec<SocketAddr> {
    (ports.0..=ports.1)
        .map(|p| SocketAddr::new(ip, p))
        .collect()
}

/// Optimal string alignment distance (Levenshtein plus transpositions).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// The closest candidate to `word`, if it is close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `; did you mean 'X' maybe ?` or nothing.
pub fn hint(word: &str, candidates: &[&str]) -> String {
    match suggest(word, candidates) {
        Some(s) => format!("; did you mean '{s}' maybe ?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_units() {
        assert_eq!(parse_time("5000"), Ok(Duration::from_millis(5000)));
        assert_eq!(parse_time("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(parse_time("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_time("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_time("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_time("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_time("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_time("0"), Ok(Duration::ZERO));
        assert_eq!(parse_time(""), Err(TimeError::Empty));
        assert_eq!(parse_time("10x"), Err(TimeError::BadChar('x')));
        assert_eq!(parse_time("1.5s"), Err(TimeError::BadChar('.')));
        assert_eq!(parse_time("5sec"), Err(TimeError::BadChar('e')));
        assert_eq!(parse_time("5msx"), Err(TimeError::BadChar('x')));
        assert_eq!(parse_time("s"), Err(TimeError::BadChar('s')));
        assert_eq!(parse_time("25d"), Err(TimeError::Overflow));
        assert_eq!(
            parse_time("2147483647"),
            Ok(Duration::from_millis(2147483647))
        );
        assert_eq!(parse_time("2147483648"), Err(TimeError::Overflow));
        assert_eq!(
            parse_time("99999999999999999999999"),
            Err(TimeError::Overflow)
        );
    }

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi("42"), (42, true));
        assert_eq!(atoi("+7"), (7, true));
        assert_eq!(atoi("abc"), (0, false));
        assert_eq!(atoi("12abc"), (12, false));
        assert_eq!(atoi(""), (0, false));
    }

    #[test]
    fn errorfile_content() {
        assert_eq!(check_http_response(b""), Ok(()));
        assert_eq!(
            check_http_response(b"HTTP/1.0 503 x\r\nA: b\r\n\r\n<html>"),
            Ok(())
        );
        assert_eq!(check_http_response(b"HTTP/1.0 503 x\nA: b\n\nbody"), Ok(()));
        assert_eq!(check_http_response(b"garbage\r\n\r\n"), Err(0));
        assert_eq!(check_http_response(b"HTTP/1.0 503 x\r\nA: b\r\n"), Err(-2));
    }

    #[test]
    fn hex() {
        assert_eq!(parse_hex("50494e47"), Ok(b"PING".to_vec()));
        assert_eq!(parse_hex("2B2b"), Ok(vec![0x2b, 0x2b]));
        assert!(parse_hex("zz").unwrap_err().contains("found 'z'"));
        assert!(parse_hex("abc").is_err());
    }

    #[test]
    fn addresses() {
        let a = parse_addr("*:80", true).unwrap();
        assert_eq!((a.host.as_str(), a.ports), ("*", Some((80, 80))));
        let a = parse_addr(":80", true).unwrap();
        assert_eq!((a.host.as_str(), a.ports), ("", Some((80, 80))));
        let a = parse_addr("10.0.0.1:8000-8002", true).unwrap();
        assert_eq!(a.ports, Some((8000, 8002)));
        let a = parse_addr("[::1]:80", true).unwrap();
        assert_eq!((a.host.as_str(), a.ports), ("::1", Some((80, 80))));
        let a = parse_addr(":::80", true).unwrap();
        assert_eq!((a.host.as_str(), a.ports), ("::", Some((80, 80))));
        let a = parse_addr("ipv6@:80", true).unwrap();
        assert_eq!(a.family, Some(true));
        let a = parse_addr("10.0.2.6", false).unwrap();
        assert_eq!(a.ports, None);
        assert_eq!(
            parse_addr("127.0.0.1:abc", true).unwrap_err(),
            "invalid character 'a' in port number 'abc' in '127.0.0.1:abc'"
        );
        assert_eq!(parse_addr(":0", true).unwrap_err(), "invalid port '0'");
        assert_eq!(
            parse_addr(":99999", true).unwrap_err(),
            "invalid port '99999'"
        );
        assert_eq!(
            parse_addr(":2-1", true).unwrap_err(),
            "invalid port range '2-1'"
        );
        // ranges are only for bind
        assert!(parse_addr("1.2.3.4:80-81", false).is_err());
        assert_eq!(
            parse_addr("1.2.3.4:", true).unwrap_err(),
            "missing port specification in '1.2.3.4:'"
        );
    }

    struct NoHost;
    impl Host for NoHost {
        fn resolve(&self, h: &str, _v6: Option<bool>) -> Option<IpAddr> {
            (h == "localhost").then_some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        }
        fn user_id(&self, _: &str) -> Option<u32> {
            None
        }
        fn group_id(&self, _: &str) -> Option<u32> {
            None
        }
        fn file_readable(&self, _: &Path) -> bool {
            false
        }
    }

    #[test]
    fn resolution_and_expansion() {
        let r = |w: &str| resolve_host(&parse_addr(w, true).unwrap(), &NoHost);
        assert_eq!(r("*:80"), Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert_eq!(r(":80"), Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert_eq!(r("ipv6@:80"), Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        assert_eq!(r(":::80"), Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        assert_eq!(r("localhost:80"), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(r("nosuch.invalid:80"), None);
        assert_eq!(r("ipv6@127.0.0.1:80"), None);
        let v = expand(IpAddr::V4(Ipv4Addr::LOCALHOST), (8000, 8002));
        assert_eq!(v.len(), 3);
        assert_eq!(v[2].port(), 8002);
    }

    #[test]
    fn hints() {
        assert_eq!(distance("mdoe", "mode"), 1);
        assert_eq!(suggest("mdoe", &["bind", "mode"]), Some("mode"));
        assert_eq!(suggest("tcpchk", &["httpchk", "tcplog"]), Some("httpchk"));
        assert_eq!(suggest("bogus", &["mode", "bind"]), None);
        assert_eq!(hint("chek", &["check"]), "; did you mean 'check' maybe ?");
        assert_eq!(hint("zzz", &["check"]), "");
    }
}
