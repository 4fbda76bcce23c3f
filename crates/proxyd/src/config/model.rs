//! The typed, validated configuration model of `proxyd`.
//!
//! This is what the parser produces and what the runtime consumes. Every
//! value here has already been validated and every default applied, so the
//! runtime never needs to look at the raw text again:
//!
//! * `defaults` sections are resolved into each proxy (they do not appear);
//! * a `listen X` section becomes a [`Frontend`] `X` plus a [`Backend`] `X`,
//!   the frontend having `default_backend = Some("X")` and both
//!   `from_listen = true`;
//! * `log global` is replaced by copies of the global log targets;
//! * `default-server` is applied to every [`Server`];
//! * bind port ranges and comma lists are expanded, hostnames resolved.
//!
//! Everything derives `Clone + Debug + PartialEq` so that a reload can diff
//! the old and new configurations. Changes to this file are additive only.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use common::lexer::Pos;

/// HAProxy's default `inter` (and so `fastinter`/`downinter`) for checks.
pub const DEFAULT_INTER: Duration = Duration::from_secs(2);
/// HAProxy's default `stats timeout`.
pub const DEFAULT_STATS_TIMEOUT: Duration = Duration::from_secs(10);
/// HAProxy's default `retries`.
pub const DEFAULT_RETRIES: u32 = 3;
/// HAProxy's default server `rise`.
pub const DEFAULT_RISE: u32 = 2;
/// HAProxy's default server `fall`.
pub const DEFAULT_FALL: u32 = 3;
/// HAProxy's default server `weight`.
pub const DEFAULT_WEIGHT: u32 = 1;
/// Largest server `weight` HAProxy accepts.
pub const MAX_WEIGHT: u32 = 256;
/// HAProxy's default maximum syslog line length (`log ... len N`).
pub const DEFAULT_LOG_LEN: u32 = 1024;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub global: Global,
    /// In declaration order (a `listen` counts where it was declared).
    pub frontends: Vec<Frontend>,
    /// In declaration order.
    pub backends: Vec<Backend>,
}

impl Config {
    pub fn frontend(&self, name: &str) -> Option<&Frontend> {
        self.frontends.iter().find(|f| f.name == name)
    }

    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// A frontend's maxconn as HAProxy applies it: its own `maxconn`, else
    /// the global one (`global_maxconn` is the effective global value,
    /// derived from `ulimit -n` by the runtime when not configured).
    pub fn frontend_maxconn(&self, fe: &Frontend, global_maxconn: u32) -> u32 {
        fe.maxconn.unwrap_or(global_maxconn)
    }

    /// A backend's `fullconn` as HAProxy computes it when not set: 10% of
    /// the sum of the maxconn of the frontends that route to it, rounded up
    /// (HAProxy 2.6 `show stat` reports it as the backend's `slim`), at
    /// least 1.
    pub fn backend_fullconn(&self, be: &Backend, global_maxconn: u32) -> u32 {
        if let Some(f) = be.fullconn {
            return f;
        }
        let total: u64 = self
            .frontends
            .iter()
            .filter(|f| f.default_backend.as_deref() == Some(be.name.as_str()))
            .map(|f| u64::from(self.frontend_maxconn(f, global_maxconn)))
            .sum();
        u32::try_from(total.div_ceil(10)).unwrap_or(u32::MAX).max(1)
    }

    /// True when at least one enabled frontend has at least one bind
    /// address, or there is a stats socket (HAProxy counts it as a
    /// listener). `haproxy -c` exits 2 when there is no listener.
    pub fn has_listeners(&self) -> bool {
        !self.global.stats_sockets.is_empty()
            || self
                .frontends
                .iter()
                .any(|f| !f.disabled && f.binds.iter().any(|b| !b.addrs.is_empty()))
    }
}

/// The `global` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Global {
    /// Position of the (first) `global` keyword, if there was one.
    pub pos: Option<Pos>,
    /// Global `maxconn`. When `None`, HAProxy derives it from `ulimit -n`.
    pub maxconn: Option<u32>,
    /// `daemon` was given (proxyd stays in the foreground and logs it).
    pub daemon: bool,
    /// `master-worker` was given (accepted, meaningless for proxyd).
    pub master_worker: bool,
    pub user: Option<String>,
    pub group: Option<String>,
    /// `uid` keyword, or the uid of `user` resolved at parse time.
    pub uid: Option<u32>,
    /// `gid` keyword, or the gid of `group` resolved at parse time.
    pub gid: Option<u32>,
    pub chroot: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    /// Global log targets (in order).
    pub log: Vec<LogTarget>,
    /// `log-tag` (HAProxy's default is the program name).
    pub log_tag: Option<String>,
    /// `log-send-hostname [name]`: `Some("")` means "use the system hostname".
    pub log_send_hostname: Option<String>,
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout` (default 10s).
    pub stats_timeout: Duration,
    /// `stats maxconn` (default 10 in HAProxy).
    pub stats_maxconn: Option<u32>,
    pub hard_stop_after: Option<Duration>,
    pub nbthread: Option<usize>,
    /// `spread-checks` percentage (0..=50), 0 when absent.
    pub spread_checks: u32,
    /// `node` (shown by `show info`; HAProxy defaults to the hostname).
    pub node: Option<String>,
    /// `description` (shown by `show info`).
    pub description: Option<String>,
    /// `ca-base` (only matters to ssl, accepted).
    pub ca_base: Option<PathBuf>,
    /// `crt-base` (only matters to ssl, accepted).
    pub crt_base: Option<PathBuf>,
}

/// One `log` line, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct LogTarget {
    pub pos: Pos,
    pub dest: LogDest,
    pub facility: Facility,
    /// Only messages at this severity or more urgent are sent (`<level>`);
    /// `None` = everything (debug).
    pub max_level: Option<u8>,
    /// Messages more urgent than this are raised to it (`<minlevel>`).
    pub min_level: Option<u8>,
    pub format: LogFormatKind,
    /// `len N` (default [`DEFAULT_LOG_LEN`]).
    pub len: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDest {
    /// A unix datagram socket such as `/dev/log`.
    Unix(PathBuf),
    /// A syslog server over UDP (`ip[:port]`, default port 514).
    Udp(SocketAddr),
    /// `stdout` or `fd@1`.
    Stdout,
    /// `stderr` or `fd@2`.
    Stderr,
}

/// Syslog facility number (0 = kern ... 16..=23 = local0..local7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Facility(pub u8);

/// Facility names in syslog order, as HAProxy spells them.
pub const FACILITY_NAMES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Severity names in syslog order (0 = emerg ... 7 = debug).
pub const LEVEL_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

impl Facility {
    pub fn from_name(name: &str) -> Option<Facility> {
        FACILITY_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Facility(i as u8))
    }

    pub fn name(self) -> &'static str {
        FACILITY_NAMES
            .get(self.0 as usize)
            .copied()
            .unwrap_or("unknown")
    }
}

/// Parse a syslog severity name (`emerg`..`debug`) into 0..=7.
pub fn level_from_name(name: &str) -> Option<u8> {
    LEVEL_NAMES.iter().position(|n| *n == name).map(|i| i as u8)
}

/// The `format` of a log target (HAProxy's `log ... format F`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormatKind {
    #[default]
    Rfc3164,
    Rfc5424,
    Short,
    Raw,
    Timed,
    Iso,
    Local,
    Priority,
}

/// Stats socket level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatsLevel {
    User,
    Operator,
    Admin,
}

/// Where a stats socket listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAddr {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// `stats socket ADDR [mode M] [level L] [user U] [group G] [uid N] [gid N]
/// [expose-fd listeners]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsSocket {
    pub pos: Pos,
    pub addr: StatsAddr,
    /// Octal permission bits for a unix socket (`mode 660` = 0o660).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub level: StatsLevel,
    /// `expose-fd listeners` (accepted; only matters to HAProxy's seamless
    /// reload, which proxyd does in-process).
    pub expose_fd_listeners: bool,
}

/// How a frontend logs its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// No `option tcplog`: HAProxy's default minimal connection log.
    #[default]
    Default,
    /// `option tcplog` (or `option httplog` fallen back to tcplog in tcp mode).
    TcpLog,
}

/// A `frontend` (or the frontend half of a `listen`).
#[derive(Debug, Clone, PartialEq)]
pub struct Frontend {
    pub name: String,
    pub pos: Pos,
    /// Proxy id (`id` keyword, or HAProxy-style automatic numbering: the
    /// lowest free ids in declaration order, 1 being taken by HAProxy's
    /// internal CLI proxy when there is a stats socket). `show stat` iid.
    pub id: u32,
    /// Declared as a `listen` section.
    pub from_listen: bool,
    pub binds: Vec<Bind>,
    /// `maxconn` of the frontend; `None` = not set (HAProxy then uses the
    /// global maxconn, itself derived from `ulimit -n` when not set).
    pub maxconn: Option<u32>,
    /// `backlog` of the frontend (default for its binds).
    pub backlog: Option<u32>,
    pub default_backend: Option<String>,
    /// Log targets with `log global` resolved; empty = no logging.
    pub log: Vec<LogTarget>,
    pub log_format: LogFormat,
    /// `option dontlognull`.
    pub dontlognull: bool,
    /// `option logasap`.
    pub logasap: bool,
    pub timeout_client: Option<Duration>,
    /// `timeout client-fin` (`None` = same as `timeout client`).
    pub timeout_client_fin: Option<Duration>,
    /// `disabled` keyword.
    pub disabled: bool,
}

/// One `bind` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Bind {
    pub pos: Pos,
    /// Every address to listen on: ranges and lists expanded,
    /// `*`/empty host = 0.0.0.0, `:::80`/`[::]:80` = IPv6 any.
    pub addrs: Vec<SocketAddr>,
    /// The address words as written (for logs and stats).
    pub text: String,
    pub name: Option<String>,
    pub maxconn: Option<u32>,
    pub backlog: Option<u32>,
    /// `v4v6`: an IPv6 wildcard also accepts IPv4.
    pub v4v6: bool,
    /// `v6only`.
    pub v6only: bool,
}

/// Load-balancing algorithm: the balancer's own [`crate::lb::Algo`]
/// (`Balance` is kept as its name in the config model).
pub use crate::lb::Algo as Balance;

/// A `backend` (or the backend half of a `listen`).
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub name: String,
    pub pos: Pos,
    pub id: u32,
    pub from_listen: bool,
    pub balance: crate::lb::Algo,
    pub servers: Vec<Server>,
    pub timeout_connect: Option<Duration>,
    pub timeout_server: Option<Duration>,
    pub timeout_tunnel: Option<Duration>,
    /// `None` = same as `timeout server`.
    pub timeout_server_fin: Option<Duration>,
    /// `None` = same as `timeout connect` (HAProxy's rule).
    pub timeout_queue: Option<Duration>,
    /// `timeout check`. HAProxy: when set, a check connects within
    /// min(`timeout connect`, `inter`) and then gets this much more to
    /// read; when `None`, `inter` bounds the whole check.
    pub timeout_check: Option<Duration>,
    pub retries: u32,
    /// `option redispatch`.
    pub redispatch: bool,
    /// `option allbackups`.
    pub allbackups: bool,
    pub check: CheckSpec,
    /// `fullconn`.
    pub fullconn: Option<u32>,
    /// Log targets (health transitions go there), `log global` resolved.
    pub log: Vec<LogTarget>,
    /// `option log-health-checks`.
    pub log_health_checks: bool,
    pub disabled: bool,
}

impl Backend {
    pub fn server(&self, name: &str) -> Option<&Server> {
        self.servers.iter().find(|s| s.name == name)
    }
}

/// What a health check does (for servers with `check`).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum CheckSpec {
    /// A plain TCP connect.
    #[default]
    Connect,
    /// `option tcp-check` with its rules (empty = connect only).
    TcpCheck(Vec<TcpCheckRule>),
    /// `option httpchk` (+ `http-check send/expect`).
    HttpChk(HttpCheck),
}

/// A `tcp-check` rule.
#[derive(Debug, Clone, PartialEq)]
pub enum TcpCheckRule {
    /// `tcp-check connect [port N] [addr IP]`.
    Connect {
        port: Option<u16>,
        addr: Option<IpAddr>,
    },
    /// `tcp-check send STRING` (escapes already decoded).
    Send(Vec<u8>),
    /// `tcp-check send-binary HEX` (hex already decoded).
    SendBinary(Vec<u8>),
    /// `tcp-check expect [!] string|rstring|binary PATTERN`.
    Expect { negate: bool, kind: ExpectKind },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExpectKind {
    /// Substring match on the bytes received so far.
    String(Vec<u8>),
    /// Regular expression matched on the bytes received so far.
    Rstring(Pattern),
    /// Regular expression matched on the bytes received so far written in
    /// upper-case hex (`rbinary`, as HAProxy: `^2B4F4B` for `+OK`).
    Rbinary(Pattern),
    /// Substring match, pattern given in hex.
    Binary(Vec<u8>),
}

/// A compiled regular expression of a check (`rstring`, `rstatus`),
/// compared by its source text.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: regex::bytes::Regex,
}

impl Pattern {
    /// Compile `source` (Rust `regex` syntax, which covers the POSIX/PCRE
    /// patterns health checks use; look-around and back-references are
    /// refused with the compiler's message).
    pub fn new(source: &str) -> Result<Pattern, regex::Error> {
        Ok(Pattern {
            source: source.to_string(),
            regex: regex::bytes::Regex::new(source)?,
        })
    }

    /// The message of a compile error of `source`, on one line, for
    /// `'KEYWORD' : MESSAGE.`: an invalid pattern, or one using what PCRE
    /// has and this engine has not (look-around, back-references).
    pub fn error_message(source: &str, e: &regex::Error) -> String {
        let text = e.to_string();
        let line = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().trim_start_matches("error: ").to_string())
            .unwrap_or(text);
        if line.contains("not supported") {
            format!("regex '{source}' uses a feature not supported by proxyd ({line})")
        } else {
            format!("regex '{source}' is invalid ({line})")
        }
    }

    pub fn is_match(&self, hay: &[u8]) -> bool {
        self.regex.is_match(hay)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

/// `option httpchk [METH] [URI] [VER]` with `http-check send/expect`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheck {
    /// Default `OPTIONS`.
    pub method: String,
    /// Default `/`.
    pub uri: String,
    /// Default `HTTP/1.0`.
    pub version: String,
    /// `http-check send hdr NAME VALUE` (and a legacy version string's
    /// embedded `\r\nHeader: value` lines, split out).
    pub headers: Vec<(String, String)>,
    /// `http-check send body STRING`.
    pub body: Vec<u8>,
    /// `None` = any 2xx or 3xx status passes.
    pub expect: Option<HttpExpect>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpExpect {
    pub negate: bool,
    pub kind: HttpExpectKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HttpExpectKind {
    /// `status 200` / `status 200-399,404`: inclusive ranges.
    Status(Vec<(u16, u16)>),
    /// `string TEXT`: substring of the body.
    String(Vec<u8>),
    /// `rstatus REGEX`: regular expression on the status code.
    Rstatus(Pattern),
    /// `rstring REGEX`: regular expression on the body.
    Rstring(Pattern),
}

/// One `server` line with `default-server` applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub name: String,
    pub pos: Pos,
    /// Server id (`id` keyword or automatic, 1-based within the backend).
    pub id: u32,
    /// Resolved address and port.
    pub addr: SocketAddr,
    /// The address as written (hostname or IP), for stats/state output.
    pub addr_text: String,
    /// `check`.
    pub check: bool,
    pub inter: Duration,
    /// Defaults to `inter`.
    pub fastinter: Duration,
    /// Defaults to `inter`.
    pub downinter: Duration,
    pub rise: u32,
    pub fall: u32,
    /// 0..=256, default 1.
    pub weight: u32,
    pub backup: bool,
    /// `disabled`: starts in maintenance.
    pub disabled: bool,
    pub maxconn: Option<u32>,
    pub maxqueue: Option<u32>,
    /// `port` for checks.
    pub check_port: Option<u16>,
    /// `addr` for checks.
    pub check_addr: Option<IpAddr>,
    /// `on-marked-down shutdown-sessions`.
    pub on_marked_down_shutdown_sessions: bool,
    /// `on-marked-up shutdown-backup-sessions`.
    pub on_marked_up_shutdown_backup_sessions: bool,
}

#[cfg(test)]
impl Server {
    /// A server as `server NAME ADDR` alone would configure it (id 1,
    /// weight 1, no checks, no limits), for tests of the runtime.
    pub fn for_test(name: &str, addr: SocketAddr) -> Server {
        let inter = DEFAULT_INTER;
        Server {
            name: name.into(),
            pos: Pos::new("test", 1),
            id: 1,
            addr,
            addr_text: addr.ip().to_string(),
            check: false,
            inter,
            fastinter: inter,
            downinter: inter,
            rise: DEFAULT_RISE,
            fall: DEFAULT_FALL,
            weight: 1,
            backup: false,
            disabled: false,
            maxconn: None,
            maxqueue: None,
            check_port: None,
            check_addr: None,
            on_marked_down_shutdown_sessions: false,
            on_marked_up_shutdown_backup_sessions: false,
        }
    }
}

impl Server {
    /// Where health checks connect to (`addr`/`port` overrides applied).
    pub fn check_target(&self) -> SocketAddr {
        SocketAddr::new(
            self.check_addr.unwrap_or(self.addr.ip()),
            self.check_port.unwrap_or(self.addr.port()),
        )
    }
}
