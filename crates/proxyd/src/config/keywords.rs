//! The haproxy.cfg keyword table: every keyword proxyd knows, where it is
//! allowed, and whether proxyd implements it, accepts it without effect or
//! refuses it (and why). It drives the refusals, the "did you mean" hints
//! (candidates in table order, as HAProxy's lists) and the generated
//! keyword lists in `docs/migration.md` ([`migration_doc`]).
//!
//! Adding a keyword: add a row to [`KEYWORDS`] (`Supported` rows also need
//! their [`Arity`] and their arm in the section's parser under `build/`),
//! then run
//! `UPDATE_DOCS=1 cargo test -p proxyd --lib keywords` to regenerate the doc.

use Support::*;
use Where::*;

/// Where a keyword is allowed: a section's body, or one of the option
/// sub-tables (`option X`, `bind` options, `server`/`default-server`
/// options, `stats socket` options), or a section header itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Where {
    /// A section header (`global`, `peers`...).
    Section,
    /// A line in `global`.
    Global,
    /// A line in `defaults`, `frontend`, `backend` or `listen` (which of
    /// them accepts it is checked by the proxy parser, with HAProxy's
    /// capability warnings).
    Proxy,
    /// `option NAME` (and `no option NAME`) in a proxy.
    Opt,
    /// A `bind` option.
    Bind,
    /// A `stats socket` option in `global` (others are the bind ones,
    /// refused).
    StatsSocket,
    /// A `server` / `default-server` option.
    Server,
}

impl Where {
    /// How the generated doc names the table.
    pub fn title(self) -> &'static str {
        match self {
            Section => "Sections",
            Global => "`global` keywords",
            Proxy => "Proxy keywords (`defaults`, `frontend`, `backend`, `listen`)",
            Opt => "`option` names",
            Bind => "`bind` options",
            StatsSocket => "`stats socket` options",
            Server => "`server` / `default-server` options",
        }
    }

    /// Every table, in the doc's order.
    pub const ALL: [Where; 7] = [Section, Global, Proxy, Opt, Bind, StatsSocket, Server];
}

/// What proxyd does with a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented (its parser arm is in `build/`).
    Supported,
    /// Accepted without effect: it only matters to features proxyd refuses
    /// where they would act (SSL, compression, Lua).
    NoEffect,
    /// Accepted with a warning that it has no effect (performance knobs).
    Warn,
    /// Accepted: only acts in `mode http`, which proxyd refuses anyway.
    HttpOnly,
    /// Refused with `file:line`; the reason is for the doc.
    Refused(&'static str),
}

/// Which proxies a proxy keyword or option acts in (HAProxy's
/// capabilities): elsewhere it is ignored with HAProxy's warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// Every proxy (and everything outside proxies).
    Any,
    /// Proxies with the frontend capability (`frontend`, `listen`,
    /// `defaults`).
    Frontend,
    /// Proxies with the backend capability (`backend`, `listen`,
    /// `defaults`).
    Backend,
}

/// How many argument words a keyword takes (for `option X`, the words
/// after `X`; for `bind`/`server`/`stats socket` options, the words after
/// the option's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// No argument.
    Flag,
    /// Exactly one argument.
    One,
    /// At least `n` arguments.
    AtLeast(u8),
    /// Between `min` and `max` arguments.
    Range(u8, u8),
    /// An irregular grammar (sub-keywords, optional parts): the parser
    /// checks it.
    Custom,
}

impl Arity {
    /// The fewest arguments, `None` for [`Arity::Custom`].
    pub fn min(self) -> Option<usize> {
        match self {
            Arity::Flag => Some(0),
            Arity::One => Some(1),
            Arity::AtLeast(n) | Arity::Range(n, _) => Some(n as usize),
            Arity::Custom => None,
        }
    }

    /// The most arguments, `None` when unbounded or custom.
    pub fn max(self) -> Option<usize> {
        match self {
            Arity::Flag => Some(0),
            Arity::One => Some(1),
            Arity::Range(_, n) => Some(n as usize),
            Arity::AtLeast(_) | Arity::Custom => None,
        }
    }

    /// How the doc shows it after the keyword's name (empty for flags and
    /// custom grammars).
    pub fn doc(self) -> String {
        // One argument is `ARG`; several are numbered.
        let (min, max) = match self {
            Arity::Flag | Arity::Custom => return String::new(),
            Arity::AtLeast(0) => return " [ARG...]".to_string(),
            Arity::One => (1, 1),
            Arity::AtLeast(n) => (n, n),
            Arity::Range(a, b) => (a, b),
        };
        let arg = |i: u8| {
            if max == 1 {
                "ARG".to_string()
            } else {
                format!("ARG{i}")
            }
        };
        let mut words: Vec<String> = (1..=min).map(arg).collect();
        words.extend((min + 1..=max).map(|i| format!("[{}]", arg(i))));
        let more = if matches!(self, Arity::AtLeast(_)) {
            "..."
        } else {
            ""
        };
        format!(" {}{more}", words.join(" "))
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyword {
    pub name: &'static str,
    pub place: Where,
    pub support: Support,
    pub cap: Cap,
    /// How many arguments it takes (`Custom` for rows that are not
    /// `Supported`: the parser does not read them).
    pub arity: Arity,
    /// The alert the parser gives, before the keyword's own arm runs,
    /// when fewer than `arity.min()` arguments are given (`None`: the arm
    /// checks the count itself, its message depends on more than the row).
    pub too_few: Option<&'static str>,
}

const fn kw(place: Where, name: &'static str, support: Support) -> Keyword {
    Keyword {
        name,
        place,
        support,
        cap: Cap::Any,
        arity: Arity::Custom,
        too_few: None,
    }
}

impl Keyword {
    /// Takes `arity` arguments.
    const fn args(self, arity: Arity) -> Keyword {
        Keyword { arity, ..self }
    }

    /// Takes `arity` arguments; fewer are refused, before the keyword's
    /// arm runs, with `msg`.
    const fn need(self, arity: Arity, msg: &'static str) -> Keyword {
        Keyword {
            arity,
            too_few: Some(msg),
            ..self
        }
    }

    /// Only in proxies with the frontend capability.
    const fn fe(self) -> Keyword {
        Keyword {
            cap: Cap::Frontend,
            ..self
        }
    }

    /// Only in proxies with the backend capability.
    const fn be(self) -> Keyword {
        Keyword {
            cap: Cap::Backend,
            ..self
        }
    }
}

const R_SECTION: &str = "a section proxyd does not implement";
const R_GLOBAL: &str = "process or feature settings proxyd does not implement";
const R_PROXY: &str = "HTTP, ACL, stickiness and other features proxyd does not implement";
const R_OPTION: &str = "an option proxyd does not implement";
const R_BIND: &str = "TLS and listener options proxyd does not implement";
const R_SERVER: &str =
    "TLS, agent, PROXY protocol and other server options proxyd does not implement";

/// The table. Within one [`Where`], rows are in the order hints search
/// them.
pub static KEYWORDS: &[Keyword] = &[
    kw(Section, "global", Supported),
    kw(Section, "defaults", Supported),
    kw(Section, "frontend", Supported),
    kw(Section, "backend", Supported),
    kw(Section, "listen", Supported),
    kw(Section, "peers", Refused(R_SECTION)),
    kw(Section, "resolvers", Refused(R_SECTION)),
    kw(Section, "userlist", Refused(R_SECTION)),
    kw(Section, "mailers", Refused(R_SECTION)),
    kw(Section, "program", Refused(R_SECTION)),
    kw(Section, "cache", Refused(R_SECTION)),
    kw(Section, "ring", Refused(R_SECTION)),
    kw(Section, "http-errors", Refused(R_SECTION)),
    kw(Section, "fcgi-app", Refused(R_SECTION)),
    kw(Section, "crt-store", Refused(R_SECTION)),
    kw(Section, "traces", Refused(R_SECTION)),
    kw(Global, "daemon", Supported).args(Arity::Flag),
    kw(Global, "master-worker", Supported).args(Arity::Range(0, 1)),
    kw(Global, "maxconn", Supported).need(Arity::One, "'maxconn' expects an integer argument."),
    kw(Global, "user", Supported).need(Arity::One, "'user' expects a user name."),
    kw(Global, "group", Supported).need(Arity::One, "'group' expects a group name."),
    kw(Global, "uid", Supported).need(Arity::One, "'uid' expects an integer argument."),
    kw(Global, "gid", Supported).need(Arity::One, "'gid' expects an integer argument."),
    kw(Global, "chroot", Supported)
        .need(Arity::One, "'chroot' expects a directory as an argument."),
    kw(Global, "pidfile", Supported)
        .need(Arity::One, "'pidfile' expects a file name as an argument."),
    kw(Global, "ca-base", Supported).need(
        Arity::One,
        "'ca-base' expects a directory path as an argument.",
    ),
    kw(Global, "crt-base", Supported).need(
        Arity::One,
        "'crt-base' expects a directory path as an argument.",
    ),
    kw(Global, "nbthread", Supported).need(Arity::One, "'nbthread' expects an integer argument."),
    kw(Global, "hard-stop-after", Supported)
        .need(Arity::One, "'hard-stop-after' expects <time> as argument."),
    kw(Global, "spread-checks", Supported)
        .need(Arity::One, "'spread-checks' expects an integer argument."),
    kw(Global, "log-tag", Supported).need(Arity::One, "'log-tag' expects a tag for use in syslog."),
    kw(Global, "log-send-hostname", Supported).args(Arity::Range(0, 1)),
    kw(Global, "log", Supported).args(Arity::Custom),
    kw(Global, "stats", Supported).args(Arity::Custom),
    kw(Global, "node", Supported).args(Arity::Range(0, 1)),
    kw(Global, "description", Supported).need(
        Arity::AtLeast(1),
        "'description' expects a string argument.",
    ),
    kw(Global, "setenv", Supported).args(Arity::Range(2, 2)),
    kw(Global, "presetenv", Supported).args(Arity::Range(2, 2)),
    kw(Global, "resetenv", Supported).args(Arity::AtLeast(0)),
    kw(Global, "unsetenv", Supported).args(Arity::AtLeast(0)),
    kw(Global, "ssl-default-bind-ciphers", NoEffect),
    kw(Global, "ssl-default-bind-ciphersuites", NoEffect),
    kw(Global, "ssl-default-bind-options", NoEffect),
    kw(Global, "ssl-default-bind-curves", NoEffect),
    kw(Global, "ssl-default-bind-sigalgs", NoEffect),
    kw(Global, "ssl-default-bind-client-sigalgs", NoEffect),
    kw(Global, "ssl-default-server-ciphers", NoEffect),
    kw(Global, "ssl-default-server-ciphersuites", NoEffect),
    kw(Global, "ssl-default-server-options", NoEffect),
    kw(Global, "ssl-default-server-curves", NoEffect),
    kw(Global, "ssl-default-server-sigalgs", NoEffect),
    kw(Global, "ssl-dh-param-file", NoEffect),
    kw(Global, "ssl-server-verify", NoEffect),
    kw(Global, "ssl-engine", NoEffect),
    kw(Global, "ssl-mode-async", NoEffect),
    kw(Global, "ssl-load-extra-files", NoEffect),
    kw(Global, "ssl-load-extra-del-ext", NoEffect),
    kw(Global, "ssl-skip-self-issued-ca", NoEffect),
    kw(Global, "ssl-provider", NoEffect),
    kw(Global, "ssl-provider-path", NoEffect),
    kw(Global, "ssl-propquery", NoEffect),
    kw(Global, "ssl-security-level", NoEffect),
    kw(Global, "tune.ssl.default-dh-param", NoEffect),
    kw(Global, "tune.ssl.cachesize", NoEffect),
    kw(Global, "tune.ssl.lifetime", NoEffect),
    kw(Global, "tune.ssl.maxrecord", NoEffect),
    kw(Global, "tune.ssl.force-private-cache", NoEffect),
    kw(Global, "tune.ssl.capture-buffer-size", NoEffect),
    kw(Global, "tune.ssl.capture-cipherlist-size", NoEffect),
    kw(Global, "tune.ssl.keylog", NoEffect),
    kw(Global, "tune.ssl.ssl-ctx-cache-size", NoEffect),
    kw(Global, "tune.ssl.ocsp-update.maxdelay", NoEffect),
    kw(Global, "tune.ssl.ocsp-update.mindelay", NoEffect),
    kw(Global, "maxsslconn", NoEffect),
    kw(Global, "maxsslrate", NoEffect),
    kw(Global, "maxzlibmem", NoEffect),
    kw(Global, "maxcomprate", NoEffect),
    kw(Global, "maxcompcpuusage", NoEffect),
    kw(Global, "h1-case-adjust", NoEffect),
    kw(Global, "h1-case-adjust-file", NoEffect),
    kw(Global, "insecure-fork-wanted", NoEffect),
    kw(Global, "issuers-chain-path", NoEffect),
    kw(Global, "expose-experimental-directives", NoEffect),
    kw(Global, "nbproc", Refused(R_GLOBAL)),
    kw(Global, "ulimit-n", Refused(R_GLOBAL)),
    kw(Global, "maxconnrate", Refused(R_GLOBAL)),
    kw(Global, "maxsessrate", Refused(R_GLOBAL)),
    kw(Global, "quiet", Refused(R_GLOBAL)),
    kw(Global, "zero-warning", Refused(R_GLOBAL)),
    kw(Global, "debug", Refused(R_GLOBAL)),
    kw(Global, "localpeer", Refused(R_GLOBAL)),
    kw(Global, "lua-load", Refused(R_GLOBAL)),
    kw(Global, "lua-prepend-path", Refused(R_GLOBAL)),
    kw(Global, "external-check", Refused(R_GLOBAL)),
    kw(Global, "insecure-setuid-wanted", Refused(R_GLOBAL)),
    kw(Global, "server-state-base", Refused(R_GLOBAL)),
    kw(Global, "server-state-file", Refused(R_GLOBAL)),
    kw(Global, "unix-bind", Refused(R_GLOBAL)),
    kw(Global, "strict-limits", Refused(R_GLOBAL)),
    kw(Global, "grace", Refused(R_GLOBAL)),
    kw(Global, "mworker-max-reloads", Refused(R_GLOBAL)),
    kw(Global, "thread-group", Refused(R_GLOBAL)),
    kw(Global, "thread-groups", Refused(R_GLOBAL)),
    kw(Global, "stats-file", Refused(R_GLOBAL)),
    kw(Global, "wurfl-data-file", Refused(R_GLOBAL)),
    kw(Global, "51degrees-data-file", Refused(R_GLOBAL)),
    kw(Global, "deviceatlas-json-file", Refused(R_GLOBAL)),
    kw(Global, "cpu-map", Warn),
    kw(Global, "busy-polling", Warn),
    kw(Global, "noepoll", Warn),
    kw(Global, "nopoll", Warn),
    kw(Global, "nosplice", Warn),
    kw(Global, "noreuseport", Warn),
    kw(Global, "nogetaddrinfo", Warn),
    kw(Global, "numa-cpu-mapping", Warn),
    kw(Global, "maxpipes", Warn),
    kw(Global, "set-dumpable", Warn),
    kw(Global, "profiling.tasks", Warn),
    kw(Global, "profiling.memory", Warn),
    kw(Global, "pp2-never-send-local", Warn),
    kw(Global, "tune.bufsize", Warn),
    kw(Global, "tune.maxrewrite", Warn),
    kw(Global, "tune.maxaccept", Warn),
    kw(Global, "tune.maxpollevents", Warn),
    kw(Global, "tune.rcvbuf.client", Warn),
    kw(Global, "tune.rcvbuf.server", Warn),
    kw(Global, "tune.sndbuf.client", Warn),
    kw(Global, "tune.sndbuf.server", Warn),
    kw(Global, "tune.pipesize", Warn),
    kw(Global, "tune.recv_enough", Warn),
    kw(Global, "tune.runqueue-depth", Warn),
    kw(Global, "tune.idletimer", Warn),
    kw(Global, "tune.idle-pool.shared", Warn),
    kw(Global, "tune.fd.edge-triggered", Warn),
    kw(Global, "tune.listener.multi-queue", Warn),
    kw(Global, "tune.sched.low-latency", Warn),
    kw(Global, "tune.pool-high-fd-ratio", Warn),
    kw(Global, "tune.pool-low-fd-ratio", Warn),
    kw(Global, "tune.buffers.limit", Warn),
    kw(Global, "tune.buffers.reserve", Warn),
    kw(Global, "tune.max-checks-per-thread", Warn),
    kw(Global, "tune.pattern.cache-size", Warn),
    kw(Global, "tune.http.maxhdr", Warn),
    kw(Global, "tune.http.cookielen", Warn),
    kw(Global, "tune.http.logurilen", Warn),
    kw(Global, "tune.comp.maxlevel", Warn),
    kw(Global, "tune.h2.header-table-size", Warn),
    kw(Global, "tune.h2.initial-window-size", Warn),
    kw(Global, "tune.h2.max-concurrent-streams", Warn),
    kw(Global, "tune.h2.max-frame-size", Warn),
    kw(Global, "tune.lua.forced-yield", Warn),
    kw(Global, "tune.lua.maxmem", Warn),
    kw(Global, "tune.lua.session-timeout", Warn),
    kw(Global, "tune.lua.task-timeout", Warn),
    kw(Global, "tune.lua.service-timeout", Warn),
    kw(Global, "tune.vars.global-max-size", Warn),
    kw(Global, "tune.vars.proc-max-size", Warn),
    kw(Global, "tune.vars.reqres-max-size", Warn),
    kw(Global, "tune.vars.sess-max-size", Warn),
    kw(Global, "tune.vars.txn-max-size", Warn),
    kw(Global, "tune.zlib.memlevel", Warn),
    kw(Global, "tune.zlib.windowsize", Warn),
    kw(Proxy, "mode", Supported).need(
        Arity::One,
        "'mode' expects one of 'tcp', 'http' or 'health'.",
    ),
    kw(Proxy, "bind", Supported).fe().args(Arity::Custom),
    kw(Proxy, "server", Supported).be().args(Arity::Custom),
    kw(Proxy, "default-server", Supported)
        .be()
        .args(Arity::Custom),
    kw(Proxy, "maxconn", Supported)
        .fe()
        .need(Arity::One, "'maxconn' expects an integer argument."),
    kw(Proxy, "backlog", Supported)
        .fe()
        .need(Arity::One, "'backlog' expects an integer argument."),
    kw(Proxy, "fullconn", Supported)
        .be()
        .need(Arity::One, "'fullconn' expects an integer argument."),
    kw(Proxy, "retries", Supported)
        .be()
        .need(Arity::One, "'retries' expects an integer argument."),
    kw(Proxy, "default_backend", Supported)
        .fe()
        .need(Arity::One, "'default_backend' expects a backend name."),
    kw(Proxy, "balance", Supported).be().args(Arity::Custom),
    kw(Proxy, "timeout", Supported).args(Arity::Custom),
    kw(Proxy, "log", Supported).args(Arity::Custom),
    kw(Proxy, "no", Supported).args(Arity::Custom),
    kw(Proxy, "option", Supported).args(Arity::Custom),
    kw(Proxy, "tcp-check", Supported).be().args(Arity::Custom),
    kw(Proxy, "http-check", Supported).be().args(Arity::Custom),
    kw(Proxy, "disabled", Supported).args(Arity::Flag),
    kw(Proxy, "enabled", Supported).args(Arity::Flag),
    kw(Proxy, "id", Supported).args(Arity::One),
    kw(Proxy, "description", Supported).args(Arity::AtLeast(0)),
    kw(Proxy, "errorfile", Supported).need(
        Arity::Range(2, 2),
        "'errorfile' expects <status_code> and <file> as arguments.",
    ),
    kw(Proxy, "acl", Refused(R_PROXY)),
    kw(Proxy, "use_backend", Refused(R_PROXY)),
    kw(Proxy, "use-server", Refused(R_PROXY)),
    kw(Proxy, "http-request", Refused(R_PROXY)),
    kw(Proxy, "http-response", Refused(R_PROXY)),
    kw(Proxy, "http-after-response", Refused(R_PROXY)),
    kw(Proxy, "http-error", Refused(R_PROXY)),
    kw(Proxy, "http-reuse", Refused(R_PROXY)),
    kw(Proxy, "http-send-name-header", Refused(R_PROXY)),
    kw(Proxy, "tcp-request", Refused(R_PROXY)),
    kw(Proxy, "tcp-response", Refused(R_PROXY)),
    kw(Proxy, "stick", Refused(R_PROXY)),
    kw(Proxy, "stick-table", Refused(R_PROXY)),
    kw(Proxy, "cookie", Refused(R_PROXY)),
    kw(Proxy, "capture", Refused(R_PROXY)),
    kw(Proxy, "compression", Refused(R_PROXY)),
    kw(Proxy, "redirect", Refused(R_PROXY)),
    kw(Proxy, "rate-limit", Refused(R_PROXY)),
    kw(Proxy, "monitor", Refused(R_PROXY)),
    kw(Proxy, "monitor-uri", Refused(R_PROXY)),
    kw(Proxy, "monitor-net", Refused(R_PROXY)),
    kw(Proxy, "server-template", Refused(R_PROXY)),
    kw(Proxy, "hash-type", Refused(R_PROXY)),
    kw(Proxy, "hash-balance-factor", Refused(R_PROXY)),
    kw(Proxy, "dynamic-cookie-key", Refused(R_PROXY)),
    kw(Proxy, "filter", Refused(R_PROXY)),
    kw(Proxy, "email-alert", Refused(R_PROXY)),
    kw(Proxy, "external-check", Refused(R_PROXY)),
    kw(Proxy, "force-persist", Refused(R_PROXY)),
    kw(Proxy, "ignore-persist", Refused(R_PROXY)),
    kw(Proxy, "persist", Refused(R_PROXY)),
    kw(Proxy, "source", Refused(R_PROXY)),
    kw(Proxy, "stats", Refused(R_PROXY)),
    kw(Proxy, "unique-id-format", Refused(R_PROXY)),
    kw(Proxy, "unique-id-header", Refused(R_PROXY)),
    kw(Proxy, "log-format", Refused(R_PROXY)),
    kw(Proxy, "log-format-sd", Refused(R_PROXY)),
    kw(Proxy, "error-log-format", Refused(R_PROXY)),
    kw(Proxy, "log-tag", Refused(R_PROXY)),
    kw(Proxy, "errorfiles", Refused(R_PROXY)),
    kw(Proxy, "errorloc", Refused(R_PROXY)),
    kw(Proxy, "errorloc302", Refused(R_PROXY)),
    kw(Proxy, "errorloc303", Refused(R_PROXY)),
    kw(Proxy, "declare", Refused(R_PROXY)),
    kw(Proxy, "retry-on", Refused(R_PROXY)),
    kw(Proxy, "max-keep-alive-queue", Refused(R_PROXY)),
    kw(Proxy, "load-server-state-from-file", Refused(R_PROXY)),
    kw(Proxy, "server-state-file-name", Refused(R_PROXY)),
    kw(Proxy, "use-fcgi-app", Refused(R_PROXY)),
    kw(Proxy, "clitcpka-cnt", Refused(R_PROXY)),
    kw(Proxy, "clitcpka-idle", Refused(R_PROXY)),
    kw(Proxy, "clitcpka-intvl", Refused(R_PROXY)),
    kw(Proxy, "srvtcpka-cnt", Refused(R_PROXY)),
    kw(Proxy, "srvtcpka-idle", Refused(R_PROXY)),
    kw(Proxy, "srvtcpka-intvl", Refused(R_PROXY)),
    kw(Proxy, "reqadd", Refused(R_PROXY)),
    kw(Proxy, "rspadd", Refused(R_PROXY)),
    kw(Proxy, "block", Refused(R_PROXY)),
    kw(Opt, "tcplog", Supported).args(Arity::Flag),
    kw(Opt, "httplog", Supported).args(Arity::Range(0, 1)),
    kw(Opt, "dontlognull", Supported).fe().args(Arity::Flag),
    kw(Opt, "logasap", Supported).fe().args(Arity::Flag),
    kw(Opt, "redispatch", Supported)
        .be()
        .args(Arity::Range(0, 1)),
    kw(Opt, "allbackups", Supported).be().args(Arity::Flag),
    kw(Opt, "log-health-checks", Supported)
        .be()
        .args(Arity::Flag),
    kw(Opt, "tcp-check", Supported).be().args(Arity::Flag),
    kw(Opt, "httpchk", Supported).be().args(Arity::Custom),
    kw(Opt, "forwardfor", HttpOnly),
    kw(Opt, "http-server-close", HttpOnly),
    kw(Opt, "httpclose", HttpOnly),
    kw(Opt, "http-keep-alive", HttpOnly),
    kw(Opt, "http-buffer-request", HttpOnly),
    kw(Opt, "http-ignore-probes", HttpOnly),
    kw(Opt, "http-no-delay", HttpOnly),
    kw(Opt, "http-pretend-keepalive", HttpOnly),
    kw(Opt, "http-use-proxy-header", HttpOnly),
    kw(Opt, "originalto", HttpOnly),
    kw(Opt, "accept-invalid-http-request", HttpOnly),
    kw(Opt, "accept-invalid-http-response", HttpOnly),
    kw(Opt, "checkcache", HttpOnly),
    kw(Opt, "h1-case-adjust-bogus-client", HttpOnly),
    kw(Opt, "h1-case-adjust-bogus-server", HttpOnly),
    kw(Opt, "disable-h2-upgrade", HttpOnly),
    kw(Opt, "http-restrict-req-hdr-names", HttpOnly),
    kw(Opt, "idle-close-on-response", HttpOnly),
    kw(Opt, "http_proxy", HttpOnly),
    kw(Opt, "splice-auto", Warn),
    kw(Opt, "splice-request", Warn),
    kw(Opt, "splice-response", Warn),
    kw(Opt, "tcp-smart-accept", Warn),
    kw(Opt, "tcp-smart-connect", Warn),
    kw(Opt, "contstats", Warn),
    kw(Opt, "abortonclose", Refused(R_OPTION)),
    kw(Opt, "clitcpka", Refused(R_OPTION)),
    kw(Opt, "srvtcpka", Refused(R_OPTION)),
    kw(Opt, "tcpka", Refused(R_OPTION)),
    kw(Opt, "dontlog-normal", Refused(R_OPTION)),
    kw(Opt, "log-separate-errors", Refused(R_OPTION)),
    kw(Opt, "httpslog", Refused(R_OPTION)),
    kw(Opt, "independent-streams", Refused(R_OPTION)),
    kw(Opt, "nolinger", Refused(R_OPTION)),
    kw(Opt, "persist", Refused(R_OPTION)),
    kw(Opt, "prefer-last-server", Refused(R_OPTION)),
    kw(Opt, "socket-stats", Refused(R_OPTION)),
    kw(Opt, "transparent", Refused(R_OPTION)),
    kw(Opt, "ssl-hello-chk", Refused(R_OPTION)),
    kw(Opt, "smtpchk", Refused(R_OPTION)),
    kw(Opt, "mysql-check", Refused(R_OPTION)),
    kw(Opt, "pgsql-check", Refused(R_OPTION)),
    kw(Opt, "redis-check", Refused(R_OPTION)),
    kw(Opt, "ldap-check", Refused(R_OPTION)),
    kw(Opt, "spop-check", Refused(R_OPTION)),
    kw(Opt, "external-check", Refused(R_OPTION)),
    kw(Bind, "name", Supported).args(Arity::One),
    kw(Bind, "maxconn", Supported).args(Arity::One),
    kw(Bind, "backlog", Supported).args(Arity::One),
    kw(Bind, "v4v6", Supported).args(Arity::Flag),
    kw(Bind, "v6only", Supported).args(Arity::Flag),
    kw(Bind, "ssl", Refused(R_BIND)),
    kw(Bind, "crt", Refused(R_BIND)),
    kw(Bind, "crt-list", Refused(R_BIND)),
    kw(Bind, "ca-file", Refused(R_BIND)),
    kw(Bind, "ciphers", Refused(R_BIND)),
    kw(Bind, "ciphersuites", Refused(R_BIND)),
    kw(Bind, "alpn", Refused(R_BIND)),
    kw(Bind, "npn", Refused(R_BIND)),
    kw(Bind, "verify", Refused(R_BIND)),
    kw(Bind, "strict-sni", Refused(R_BIND)),
    kw(Bind, "accept-proxy", Refused(R_BIND)),
    kw(Bind, "accept-netscaler-cip", Refused(R_BIND)),
    kw(Bind, "transparent", Refused(R_BIND)),
    kw(Bind, "interface", Refused(R_BIND)),
    kw(Bind, "defer-accept", Refused(R_BIND)),
    kw(Bind, "tfo", Refused(R_BIND)),
    kw(Bind, "mss", Refused(R_BIND)),
    kw(Bind, "namespace", Refused(R_BIND)),
    kw(Bind, "process", Refused(R_BIND)),
    kw(Bind, "thread", Refused(R_BIND)),
    kw(Bind, "nice", Refused(R_BIND)),
    kw(Bind, "id", Refused(R_BIND)),
    kw(Bind, "mode", Refused(R_BIND)),
    kw(Bind, "user", Refused(R_BIND)),
    kw(Bind, "group", Refused(R_BIND)),
    kw(Bind, "uid", Refused(R_BIND)),
    kw(Bind, "gid", Refused(R_BIND)),
    kw(Bind, "level", Refused(R_BIND)),
    kw(Bind, "severity-output", Refused(R_BIND)),
    kw(Bind, "expose-fd", Refused(R_BIND)),
    kw(Bind, "proto", Refused(R_BIND)),
    kw(Bind, "ssl-min-ver", Refused(R_BIND)),
    kw(Bind, "ssl-max-ver", Refused(R_BIND)),
    kw(Bind, "no-sslv3", Refused(R_BIND)),
    kw(Bind, "no-tlsv10", Refused(R_BIND)),
    kw(Bind, "no-tlsv11", Refused(R_BIND)),
    kw(Bind, "no-tlsv12", Refused(R_BIND)),
    kw(Bind, "no-tlsv13", Refused(R_BIND)),
    kw(Bind, "no-tls-tickets", Refused(R_BIND)),
    kw(Bind, "allow-0rtt", Refused(R_BIND)),
    kw(Bind, "curves", Refused(R_BIND)),
    kw(Bind, "ecdhe", Refused(R_BIND)),
    kw(Bind, "generate-certificates", Refused(R_BIND)),
    kw(Bind, "quic-cc-algo", Refused(R_BIND)),
    kw(Bind, "tcp-ut", Refused(R_BIND)),
    kw(StatsSocket, "mode", Supported).args(Arity::One),
    kw(StatsSocket, "level", Supported).args(Arity::One),
    kw(StatsSocket, "user", Supported).args(Arity::One),
    kw(StatsSocket, "group", Supported).args(Arity::One),
    kw(StatsSocket, "uid", Supported).args(Arity::One),
    kw(StatsSocket, "gid", Supported).args(Arity::One),
    kw(StatsSocket, "expose-fd", Supported).args(Arity::One),
    kw(Server, "check", Supported).args(Arity::Flag),
    kw(Server, "no-check", Supported).args(Arity::Flag),
    kw(Server, "backup", Supported).args(Arity::Flag),
    kw(Server, "no-backup", Supported).args(Arity::Flag),
    kw(Server, "disabled", Supported).args(Arity::Flag),
    kw(Server, "enabled", Supported).args(Arity::Flag),
    kw(Server, "inter", Supported).args(Arity::One),
    kw(Server, "fastinter", Supported).args(Arity::One),
    kw(Server, "downinter", Supported).args(Arity::One),
    kw(Server, "rise", Supported).args(Arity::One),
    kw(Server, "fall", Supported).args(Arity::One),
    kw(Server, "weight", Supported).args(Arity::One),
    kw(Server, "maxconn", Supported).args(Arity::One),
    kw(Server, "maxqueue", Supported).args(Arity::One),
    kw(Server, "port", Supported).args(Arity::One),
    kw(Server, "addr", Supported).args(Arity::One),
    kw(Server, "id", Supported).args(Arity::One),
    kw(Server, "on-marked-down", Supported).args(Arity::One),
    kw(Server, "on-marked-up", Supported).args(Arity::One),
    kw(Server, "agent-check", Refused(R_SERVER)),
    kw(Server, "agent-port", Refused(R_SERVER)),
    kw(Server, "agent-inter", Refused(R_SERVER)),
    kw(Server, "agent-addr", Refused(R_SERVER)),
    kw(Server, "agent-send", Refused(R_SERVER)),
    kw(Server, "no-agent-check", Refused(R_SERVER)),
    kw(Server, "cookie", Refused(R_SERVER)),
    kw(Server, "send-proxy", Refused(R_SERVER)),
    kw(Server, "send-proxy-v2", Refused(R_SERVER)),
    kw(Server, "send-proxy-v2-ssl", Refused(R_SERVER)),
    kw(Server, "send-proxy-v2-ssl-cn", Refused(R_SERVER)),
    kw(Server, "no-send-proxy", Refused(R_SERVER)),
    kw(Server, "check-send-proxy", Refused(R_SERVER)),
    kw(Server, "check-ssl", Refused(R_SERVER)),
    kw(Server, "check-sni", Refused(R_SERVER)),
    kw(Server, "check-alpn", Refused(R_SERVER)),
    kw(Server, "check-proto", Refused(R_SERVER)),
    kw(Server, "check-via-socks4", Refused(R_SERVER)),
    kw(Server, "ssl", Refused(R_SERVER)),
    kw(Server, "no-ssl", Refused(R_SERVER)),
    kw(Server, "verify", Refused(R_SERVER)),
    kw(Server, "verifyhost", Refused(R_SERVER)),
    kw(Server, "sni", Refused(R_SERVER)),
    kw(Server, "alpn", Refused(R_SERVER)),
    kw(Server, "npn", Refused(R_SERVER)),
    kw(Server, "ca-file", Refused(R_SERVER)),
    kw(Server, "crt", Refused(R_SERVER)),
    kw(Server, "ciphers", Refused(R_SERVER)),
    kw(Server, "ciphersuites", Refused(R_SERVER)),
    kw(Server, "resolvers", Refused(R_SERVER)),
    kw(Server, "resolve-prefer", Refused(R_SERVER)),
    kw(Server, "resolve-net", Refused(R_SERVER)),
    kw(Server, "resolve-opts", Refused(R_SERVER)),
    kw(Server, "init-addr", Refused(R_SERVER)),
    kw(Server, "slowstart", Refused(R_SERVER)),
    kw(Server, "track", Refused(R_SERVER)),
    kw(Server, "redir", Refused(R_SERVER)),
    kw(Server, "source", Refused(R_SERVER)),
    kw(Server, "usesrc", Refused(R_SERVER)),
    kw(Server, "observe", Refused(R_SERVER)),
    kw(Server, "error-limit", Refused(R_SERVER)),
    kw(Server, "on-error", Refused(R_SERVER)),
    kw(Server, "minconn", Refused(R_SERVER)),
    kw(Server, "namespace", Refused(R_SERVER)),
    kw(Server, "proto", Refused(R_SERVER)),
    kw(Server, "tfo", Refused(R_SERVER)),
    kw(Server, "pool-max-conn", Refused(R_SERVER)),
    kw(Server, "pool-purge-delay", Refused(R_SERVER)),
    kw(Server, "pool-low-conn", Refused(R_SERVER)),
    kw(Server, "max-reuse", Refused(R_SERVER)),
    kw(Server, "tcp-ut", Refused(R_SERVER)),
    kw(Server, "socks4", Refused(R_SERVER)),
    kw(Server, "ws", Refused(R_SERVER)),
    kw(Server, "set-proxy-v2-tlv-fmt", Refused(R_SERVER)),
    kw(Server, "non-stick", Refused(R_SERVER)),
    kw(Server, "stick", Refused(R_SERVER)),
    kw(Server, "log-proto", Refused(R_SERVER)),
    kw(Server, "shard", Refused(R_SERVER)),
];

/// The row for `name` where it was met.
pub fn lookup(place: Where, name: &str) -> Option<&'static Keyword> {
    KEYWORDS.iter().find(|k| k.place == place && k.name == name)
}

/// What proxyd does with `name` there; `None` for a keyword it does not
/// know (a typo, or something HAProxy does not know either).
pub fn support(place: Where, name: &str) -> Option<Support> {
    lookup(place, name).map(|k| k.support)
}

/// Which proxies `name` acts in (`Any` for a keyword not in the table).
pub fn cap(place: Where, name: &str) -> Cap {
    lookup(place, name).map_or(Cap::Any, |k| k.cap)
}

/// `name` is known there and refused.
pub fn refused(place: Where, name: &str) -> bool {
    matches!(support(place, name), Some(Refused(_)))
}

/// The candidates for "did you mean" hints there, in table order.
pub fn names(place: Where) -> Vec<&'static str> {
    KEYWORDS
        .iter()
        .filter(|k| k.place == place)
        .map(|k| k.name)
        .collect()
}

/// The generated part of `docs/migration.md` (between its markers).
pub fn migration_doc() -> String {
    let mut out = String::from(
        "### Keyword tables\n\nGenerated from `crates/proxyd/src/config/keywords.rs` \
         (`UPDATE_DOCS=1 cargo test -p proxyd --lib keywords` rewrites it). \
         Supported keywords show their arguments: `ARG` one, `[ARG]` optional, \
         `ARG...` one or more; a bare name takes none or has its own grammar \
         (`timeout`, `option`, `balance`, `bind`, `server`, `log`, `stats`...).\n",
    );
    type Pick = fn(Support) -> bool;
    let groups: [(Pick, &str); 5] = [
        (|s| s == Supported, "supported"),
        (
            |s| s == NoEffect,
            "accepted without effect (they only matter to SSL, compression or Lua)",
        ),
        (
            |s| s == Warn,
            "accepted with a warning that they have no effect",
        ),
        (
            |s| s == HttpOnly,
            "accepted, they only act in `mode http` (refused anyway)",
        ),
        (|s| matches!(s, Refused(_)), "refused"),
    ];
    for place in Where::ALL {
        out.push_str(&format!("\n#### {}\n\n", place.title()));
        for (pick, label) in groups {
            let rows: Vec<&Keyword> = KEYWORDS
                .iter()
                .filter(|k| k.place == place && pick(k.support))
                .collect();
            if rows.is_empty() {
                continue;
            }
            let mut rows = rows;
            rows.sort_unstable_by_key(|k| k.name);
            let list = rows
                .iter()
                .map(|k| {
                    let shown = format!("`{}{}`", k.name, k.arity.doc());
                    match k.cap {
                        Cap::Any => shown,
                        Cap::Frontend => format!("{shown} (frontends)"),
                        Cap::Backend => format!("{shown} (backends)"),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            let mut reasons: Vec<&str> = rows
                .iter()
                .filter_map(|k| match k.support {
                    Refused(r) => Some(r),
                    _ => None,
                })
                .collect();
            reasons.dedup();
            let why = if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join("; "))
            };
            out.push_str(&format!("- {label}{why}: {list}.\n"));
        }
    }
    out
}

/// Status codes HAProxy 2.6 accepts in `errorfile`.
pub const ERRORFILE_CODES: &[&str] = &[
    "200", "400", "401", "403", "404", "405", "407", "408", "410", "413", "421", "422", "425",
    "429", "500", "501", "502", "503", "504",
];

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- BEGIN generated: proxyd keywords -->";
    const END: &str = "<!-- END generated: proxyd keywords -->";

    #[test]
    fn no_keyword_twice_in_one_table() {
        for (i, a) in KEYWORDS.iter().enumerate() {
            assert!(
                !KEYWORDS[..i]
                    .iter()
                    .any(|b| b.place == a.place && b.name == a.name),
                "{:?} {} listed twice",
                a.place,
                a.name
            );
        }
    }

    /// The doc's generated part agrees with the table; `UPDATE_DOCS=1`
    /// rewrites it.
    #[test]
    fn migration_doc_matches_keyword_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/migration.md");
        let doc = std::fs::read_to_string(&path).expect("docs/migration.md");
        let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
            panic!("docs/migration.md lacks the {BEGIN} / {END} markers");
        };
        let inner = &doc[b + BEGIN.len()..e];
        let want = format!("\n{}", migration_doc());
        if inner == want {
            return;
        }
        if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1") {
            let new = format!("{}{BEGIN}{want}{}", &doc[..b], &doc[e..]);
            std::fs::write(&path, new).expect("write docs/migration.md");
            return;
        }
        panic!(
            "docs/migration.md's proxyd keyword lists differ from config/keywords.rs; \
             run `UPDATE_DOCS=1 cargo test -p proxyd --lib keywords` to regenerate them"
        );
    }
}
