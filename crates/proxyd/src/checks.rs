//! Health-check I/O: plain connect checks, `option tcp-check` rule lists and
//! `option httpchk`, one task per checked server, and what happens on a
//! transition (balancer update, HAProxy's log lines, session shutdown).
//!
//! Timeouts follow HAProxy: without `timeout check` the whole check must
//! finish within `inter`; with it, connecting may take
//! `min(inter, timeout connect)` and `timeout check` then bounds the rest.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{CancellationToken, TaskTracker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant as TInstant;

use crate::config::{
    Backend, CheckSpec, Config, ExpectKind, HttpCheck, HttpExpectKind, Server, TcpCheckRule,
};
use crate::health::{
    down_message, first_check_delay, no_server_message, spread, up_message, BackendCounts,
    CheckResult, CheckStatus, HealthParams, Reason, Transition, SPREAD_THRESHOLD,
};
use crate::server::Change;
use crate::state::{unix_now, AdminState, BackendState, Runtime, ServerState};

/// HAProxy's default buffer size: a check reads at most this much.
const BUFSIZE: usize = 16384;

/// What one server's check does, resolved from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckPlan {
    pub kind: CheckKind,
    /// Where to connect (server address with `addr`/`port` overrides).
    pub target: SocketAddr,
    pub inter: Duration,
    pub timeout_connect: Option<Duration>,
    pub timeout_check: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    Connect,
    TcpCheck(Vec<TcpCheckRule>),
    Http(HttpCheck),
}

impl CheckPlan {
    pub fn new(backend: &Backend, server: &Server) -> Self {
        CheckPlan {
            kind: match &backend.check {
                CheckSpec::Connect => CheckKind::Connect,
                CheckSpec::TcpCheck(rules) => CheckKind::TcpCheck(rules.clone()),
                CheckSpec::HttpChk(h) => CheckKind::Http(h.clone()),
            },
            target: server.check_target(),
            inter: server.inter,
            timeout_connect: backend.timeout_connect,
            timeout_check: backend.timeout_check,
        }
    }

    /// Deadline for a connection attempt starting now.
    fn connect_deadline(&self, now: TInstant) -> TInstant {
        let mut d = now + self.inter;
        if self.timeout_check.is_some() {
            if let Some(c) = self.timeout_connect {
                d = d.min(now + c);
            }
        }
        d
    }
}

/// Health parameters of a configured server.
pub fn health_params(server: &Server) -> HealthParams {
    HealthParams {
        rise: server.rise,
        fall: server.fall,
        inter: server.inter,
        fastinter: server.fastinter,
        downinter: server.downinter,
    }
}

fn strerror(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    }
}

/// A running check: the connection, the input buffer and the deadline.
struct Run<'a> {
    plan: &'a CheckPlan,
    start: Instant,
    deadline: TInstant,
    conn: Option<TcpStream>,
    buf: Vec<u8>,
    eof: bool,
    must_read: bool,
    /// Whether the tcp-check step descriptions apply (tcp-check only).
    tcp_steps: bool,
}

/// Where in a tcp-check a failure happened, for HAProxy's message suffix.
#[derive(Debug, Clone)]
enum Step {
    /// Plain check or httpchk: no suffix.
    None,
    /// tcp-check implicit first connection.
    Initial,
    /// tcp-check rule `n` (1-based) with its description.
    Rule(usize, String),
}

impl Step {
    fn suffix(&self) -> String {
        match self {
            Step::None => String::new(),
            Step::Initial => " at initial connection step of tcp-check".to_string(),
            Step::Rule(n, d) => format!(" at step {n} of tcp-check{d}"),
        }
    }
}

fn expect_desc(kind: &ExpectKind) -> String {
    match kind {
        ExpectKind::String(p) => format!(" (expect string '{}')", String::from_utf8_lossy(p)),
        ExpectKind::Binary(p) => format!(" (expect binary '{}')", String::from_utf8_lossy(p)),
        ExpectKind::Rstring(_) => " (expect regex)".to_string(),
        ExpectKind::Rbinary(_) => " (expect binary regex)".to_string(),
    }
}

/// `bytes` as upper-case hex, what `rbinary` patterns are matched on.
fn upper_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

fn memmem(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

impl<'a> Run<'a> {
    fn new(plan: &'a CheckPlan) -> Self {
        let now = TInstant::now();
        Run {
            plan,
            start: Instant::now(),
            deadline: now + plan.inter,
            conn: None,
            buf: Vec::new(),
            eof: false,
            must_read: false,
            tcp_steps: matches!(plan.kind, CheckKind::TcpCheck(_)),
        }
    }

    fn result(&self, status: CheckStatus, info: impl Into<String>) -> CheckResult {
        CheckResult::new(status, info, self.start.elapsed())
    }

    async fn connect(&mut self, target: SocketAddr, step: &Step) -> Result<(), CheckResult> {
        self.conn = None;
        self.buf.clear();
        self.eof = false;
        self.deadline = self.plan.connect_deadline(TInstant::now());
        let stream = match tokio::time::timeout_at(self.deadline, TcpStream::connect(target)).await
        {
            Err(_) => return Err(self.result(CheckStatus::L4Tout, step.suffix())),
            Ok(Err(e)) => {
                return Err(self.result(
                    CheckStatus::L4Con,
                    format!("{}{}", strerror(&e), step.suffix()),
                ))
            }
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        if let Some(t) = self.plan.timeout_check {
            self.deadline = TInstant::now() + t;
        }
        self.conn = Some(stream);
        self.must_read = true;
        Ok(())
    }

    async fn send(&mut self, data: &[u8], step: &Step) -> Result<(), CheckResult> {
        self.buf.clear();
        self.eof = false;
        let deadline = self.deadline;
        let Some(conn) = self.conn.as_mut() else {
            return Err(self.result(CheckStatus::SockErr, step.suffix()));
        };
        match tokio::time::timeout_at(deadline, conn.write_all(data)).await {
            Err(_) => Err(self.result(CheckStatus::L7Tout, step.suffix())),
            Ok(Err(e)) => Err(self.result(
                CheckStatus::SockErr,
                format!("{}{}", strerror(&e), step.suffix()),
            )),
            Ok(Ok(())) => {
                self.must_read = true;
                Ok(())
            }
        }
    }

    /// Read once more. `empty_msg` is the L7RSP info for an empty response.
    async fn read_some(
        &mut self,
        step: &Step,
        empty_msg: Option<String>,
    ) -> Result<(), CheckResult> {
        if self.eof || self.buf.len() >= BUFSIZE {
            return Ok(());
        }
        let deadline = self.deadline;
        let Some(conn) = self.conn.as_mut() else {
            return Err(self.result(CheckStatus::SockErr, step.suffix()));
        };
        let mut chunk = [0u8; 4096];
        let room = (BUFSIZE - self.buf.len()).min(chunk.len());
        match tokio::time::timeout_at(deadline, conn.read(&mut chunk[..room])).await {
            Err(_) => {
                let info = if self.tcp_steps {
                    step.suffix()
                } else {
                    String::new()
                };
                Err(self.result(CheckStatus::L7Tout, info))
            }
            Ok(Ok(0)) => {
                self.eof = true;
                if self.buf.is_empty() {
                    return Err(self.result(CheckStatus::L7Rsp, empty_msg.unwrap_or_default()));
                }
                Ok(())
            }
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Ok(Err(e)) => {
                self.eof = true;
                if self.buf.is_empty() {
                    let info = format!(
                        "{}{}",
                        strerror(&e),
                        if self.tcp_steps {
                            step.suffix()
                        } else {
                            String::new()
                        }
                    );
                    return Err(self.result(CheckStatus::SockErr, info));
                }
                Ok(())
            }
        }
    }

    fn last_read(&self) -> bool {
        self.eof || self.buf.len() >= BUFSIZE
    }

    async fn expect(
        &mut self,
        n: usize,
        negate: bool,
        kind: &ExpectKind,
    ) -> Result<(), CheckResult> {
        let step = Step::Rule(n, expect_desc(kind));
        let empty = Some(format!("TCPCHK got an empty response at step {n}"));
        loop {
            if self.must_read {
                self.read_some(&step, empty.clone()).await?;
                self.must_read = false;
            }
            let last = self.last_read();
            let matched = match kind {
                ExpectKind::String(pat) | ExpectKind::Binary(pat) => {
                    if !last && self.buf.len() < pat.len() {
                        self.must_read = true;
                        continue;
                    }
                    memmem(&self.buf, pat)
                }
                ExpectKind::Rstring(re) => re.is_match(&self.buf),
                ExpectKind::Rbinary(re) => re.is_match(upper_hex(&self.buf).as_bytes()),
            };
            if !matched && !last {
                self.must_read = true;
                continue;
            }
            if matched != negate {
                return Ok(());
            }
            let what = if matched {
                "TCPCHK matched unwanted content"
            } else {
                "TCPCHK did not match content"
            };
            let info = match kind {
                ExpectKind::String(p) => {
                    format!("{what} '{}' at step {n}", String::from_utf8_lossy(p))
                }
                ExpectKind::Rstring(_) => format!("{what} (regex) at step {n}"),
                ExpectKind::Rbinary(_) => format!("{what} (binary regex) at step {n}"),
                ExpectKind::Binary(_) => format!("{what} (binary) at step {n}"),
            };
            return Err(self.result(CheckStatus::L7Rsp, info));
        }
    }

    async fn tcp_check(&mut self, rules: &[TcpCheckRule]) -> CheckResult {
        // An implicit connection comes first unless the first rule connects.
        let explicit_first = matches!(rules.first(), Some(TcpCheckRule::Connect { .. }));
        if !explicit_first {
            if let Err(r) = self.connect(self.plan.target, &Step::Initial).await {
                return r;
            }
        }
        let mut last_rule: Option<&TcpCheckRule> = None;
        for (i, rule) in rules.iter().enumerate() {
            let n = i + 1;
            let r = match rule {
                TcpCheckRule::Connect { port, addr } => {
                    let target = SocketAddr::new(
                        addr.unwrap_or(self.plan.target.ip()),
                        port.unwrap_or(self.plan.target.port()),
                    );
                    let d = match port {
                        Some(p) => format!(" (connect port {p})"),
                        None => " (connect)".to_string(),
                    };
                    self.connect(target, &Step::Rule(n, d)).await
                }
                TcpCheckRule::Send(data) | TcpCheckRule::SendBinary(data) => {
                    self.send(data, &Step::Rule(n, " (send)".to_string())).await
                }
                TcpCheckRule::Expect { negate, kind } => self.expect(n, *negate, kind).await,
            };
            if let Err(r) = r {
                return r;
            }
            last_rule = Some(rule);
        }
        match last_rule {
            None => self.result(CheckStatus::L4Ok, ""),
            Some(TcpCheckRule::Connect { .. }) => self.result(CheckStatus::L4Ok, "(tcp-check)"),
            Some(_) => self.result(CheckStatus::L7Ok, "(tcp-check)").with_code(0),
        }
    }

    async fn http_check(&mut self, h: &HttpCheck) -> CheckResult {
        if let Err(r) = self.connect(self.plan.target, &Step::None).await {
            return r;
        }
        let req = http_request(h);
        if let Err(r) = self.send(&req, &Step::None).await {
            return r;
        }
        // Read the status line and headers.
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break Some(p + 4);
            }
            if self.last_read() {
                break None;
            }
            if let Err(r) = self.read_some(&Step::None, None).await {
                return r;
            }
        };
        let Some((code, reason)) = parse_status_line(&self.buf) else {
            return self.result(CheckStatus::L7Rsp, "");
        };
        if head_end.is_none() && !self.eof {
            return self.result(CheckStatus::L7Rsp, "");
        }
        let (negate, kind) = match &h.expect {
            Some(e) => (e.negate, e.kind.clone()),
            None => (false, HttpExpectKind::Status(vec![(200, 399)])),
        };
        match kind {
            HttpExpectKind::Status(ranges) => {
                let matched = ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&code));
                if matched != negate {
                    self.result(CheckStatus::L7Ok, "").with_code(code)
                } else {
                    self.result(CheckStatus::L7Sts, reason).with_code(code)
                }
            }
            HttpExpectKind::Rstatus(re) => {
                let matched = re.is_match(code.to_string().as_bytes());
                if matched != negate {
                    self.result(CheckStatus::L7Ok, "").with_code(code)
                } else {
                    self.result(CheckStatus::L7Sts, reason).with_code(code)
                }
            }
            HttpExpectKind::String(_) | HttpExpectKind::Rstring(_) => {
                let body_start = head_end.unwrap_or(self.buf.len());
                loop {
                    let body = self.buf.get(body_start..).unwrap_or_default();
                    let matched = match &kind {
                        HttpExpectKind::Rstring(re) => re.is_match(body),
                        HttpExpectKind::String(pat) => memmem(body, pat),
                        _ => false,
                    };
                    if matched || self.last_read() {
                        if matched != negate {
                            return self.result(CheckStatus::L7Ok, "").with_code(code);
                        }
                        let info = if matched {
                            "HTTP check matched unwanted content"
                        } else {
                            "HTTP content check did not match"
                        };
                        return self.result(CheckStatus::L7Rsp, info);
                    }
                    if let Err(r) = self.read_some(&Step::None, None).await {
                        return r;
                    }
                }
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `HTTP/1.x NNN reason` -> (NNN, reason).
fn parse_status_line(buf: &[u8]) -> Option<(u16, String)> {
    let end = find(buf, b"\r\n").or_else(|| find(buf, b"\n"))?;
    let line = std::str::from_utf8(&buf[..end]).ok()?;
    let mut it = line.splitn(3, ' ');
    let version = it.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = it.next()?;
    if code.len() != 3 {
        return None;
    }
    let code: u16 = code.parse().ok()?;
    let reason = it.next().unwrap_or("").trim().to_string();
    Some((code, reason))
}

/// The request an `option httpchk` sends.
pub fn http_request(h: &HttpCheck) -> Vec<u8> {
    let mut req = format!("{} {} {}\r\n", h.method, h.uri, h.version);
    let mut has_connection = false;
    for (name, value) in &h.headers {
        let lname = name.to_ascii_lowercase();
        has_connection |= lname == "connection";
        req.push_str(&format!("{lname}: {value}\r\n"));
    }
    if h.version.eq_ignore_ascii_case("HTTP/1.1") && !has_connection {
        req.push_str("connection: close\r\n");
    }
    if !h.body.is_empty() {
        req.push_str(&format!("content-length: {}\r\n", h.body.len()));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(&h.body);
    out
}

/// Run one check and return its result.
pub async fn run_check(plan: &CheckPlan) -> CheckResult {
    let mut run = Run::new(plan);
    let result = match &plan.kind {
        CheckKind::Connect => match run.connect(plan.target, &Step::None).await {
            Ok(()) => run.result(CheckStatus::L4Ok, ""),
            Err(r) => r,
        },
        CheckKind::TcpCheck(rules) => run.tcp_check(rules).await,
        CheckKind::Http(h) => run.http_check(h).await,
    };
    if let Some(mut c) = run.conn.take() {
        let _ = c.shutdown().await;
    }
    result
}

/// `Health check for server B/S succeeded|failed, reason: ..., status: x/y
/// UP|DRAIN|DOWN.` (`option log-health-checks`).
pub fn health_check_message(
    backend: &str,
    server: &str,
    backup: bool,
    result: &CheckResult,
    h: &crate::health::HealthSnapshot,
    drain: bool,
) -> String {
    let (rise, fall) = h.params.map(|p| (p.rise, p.fall)).unwrap_or((1, 1));
    let (x, y, state) = if h.health >= rise {
        (
            h.health - rise + 1,
            fall,
            if drain { "DRAIN" } else { "UP" },
        )
    } else {
        (h.health, rise, "DOWN")
    };
    format!(
        "Health check for {}server {backend}/{server} {}{}, status: {x}/{y} {state}.",
        if backup { "backup " } else { "" },
        if result.status.passed() {
            "succeeded"
        } else {
            "failed"
        },
        result.reason_suffix()
    )
}

pub use crate::health::TransitionOpts;

/// The numbers quoted in a state-change line, computed after the change.
pub fn counts(backend: &BackendState, server: &ServerState) -> BackendCounts {
    let (active, backup) = backend.servers_left();
    BackendCounts {
        active,
        backup,
        sessions: server.sessions(),
        requeued: 0,
        queued: 0,
    }
}

/// Log "backend X has no server available!" at emerg if the backend just
/// lost its last usable server.
pub fn note_availability(backend: &BackendState) {
    if backend.note_availability() {
        backend.log_event(common::log::EMERG, &no_server_message(&backend.name));
    }
}

/// `on-marked-up shutdown-backup-sessions`: an active server with a weight
/// came up, so the sessions on backup servers are cut.
pub fn shutdown_backup_sessions(backend: &BackendState, server: &ServerState) {
    if !server.backup && server.effective_weight() > 0 {
        for s in backend.servers().iter().filter(|s| s.backup) {
            s.shutdown_sessions();
        }
    }
}

/// Follow up a health transition already applied to `server` (through
/// [`BackendState::update_server`]): sessions, log lines. Nothing happens
/// when `change` carries no transition.
pub fn apply_transition(
    backend: &BackendState,
    server: &ServerState,
    change: &Change,
    reason: Reason<'_>,
    opts: TransitionOpts,
) {
    let Some(t) = change.transition else {
        return;
    };
    match t {
        Transition::Down => {
            let was_draining = change.before.admin == AdminState::Drain;
            if opts.shutdown_sessions {
                server.shutdown_sessions();
            }
            let msg = down_message(
                &backend.name,
                &server.name,
                server.backup,
                reason,
                &counts(backend, server),
            );
            let prio = if was_draining {
                common::log::NOTICE
            } else {
                common::log::ALERT
            };
            backend.log_event(prio, &msg);
        }
        Transition::Up => {
            if opts.shutdown_backup_sessions {
                shutdown_backup_sessions(backend, server);
            }
            let msg = up_message(
                &backend.name,
                &server.name,
                server.backup,
                reason,
                &counts(backend, server),
            );
            backend.log_event(common::log::NOTICE, &msg);
        }
    }
    note_availability(backend);
}

/// A small xorshift for check spreading (no cryptographic need).
fn random_unit() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(std::process::id());
        x |= 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// One checked server: what its task needs.
#[derive(Debug, Clone)]
pub struct Checked {
    pub backend: Arc<BackendState>,
    pub server: Arc<ServerState>,
    pub plan: CheckPlan,
    pub opts: TransitionOpts,
}

/// Resolve every checked server of `cfg` against the runtime state, and
/// (re)configure the health parameters of every server (state is kept
/// across reloads).
pub fn collect(cfg: &Config, rt: &Runtime) -> Vec<Checked> {
    let mut out = Vec::new();
    for be_cfg in &cfg.backends {
        let Some(be) = rt.backend(&be_cfg.name) else {
            continue;
        };
        for srv_cfg in &be_cfg.servers {
            let Some(srv) = be.server(&srv_cfg.name) else {
                continue;
            };
            let opts = TransitionOpts {
                shutdown_sessions: srv_cfg.on_marked_down_shutdown_sessions,
                shutdown_backup_sessions: srv_cfg.on_marked_up_shutdown_backup_sessions,
                log_health_checks: be_cfg.log_health_checks,
            };
            srv.check_io.set_opts(opts);
            srv.check_io.set_check_port(srv_cfg.check_port.unwrap_or(0));
            if !srv_cfg.check || be_cfg.disabled {
                // No check any more (reload): nothing would bring a DOWN
                // server back, and an unchecked server is UP.
                let c = be.update_server(&srv, |r| r.configure_checks(None, unix_now()));
                if c.transition.is_some() {
                    note_availability(&be);
                }
                continue;
            }
            // maintenance keeps the checks paused
            let params = health_params(srv_cfg);
            be.update_server(&srv, |r| r.configure_checks(Some(params), unix_now()));
            out.push(Checked {
                backend: be.clone(),
                server: srv,
                plan: CheckPlan::new(be_cfg, srv_cfg),
                opts,
            });
        }
    }
    out
}

/// Start one check task per checked server, their first checks spread
/// over the smallest interval as HAProxy does. Each task stops when
/// `cancel` (or the returned tasks' parent) is cancelled.
pub fn spawn_checkers(
    cfg: &Config,
    rt: &Runtime,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) -> usize {
    let checked = collect(cfg, rt);
    let n = checked.len();
    let min_inter = checked
        .iter()
        .filter_map(|c| c.server.with_record(|r| r.next_check_in()))
        .filter(|i| *i >= SPREAD_THRESHOLD)
        .min()
        .unwrap_or(Duration::ZERO);
    let spread_pct = cfg.global.spread_checks;
    for (pos, c) in checked.into_iter().enumerate() {
        let first = first_check_delay(min_inter, pos, n);
        let token = cancel.child_token();
        tracker.spawn(checker_task(c, first, spread_pct, token));
    }
    n
}

async fn checker_task(c: Checked, first: Duration, spread_pct: u32, cancel: CancellationToken) {
    let mut delay = first;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
            _ = c.server.check_io.wake_requested() => {}
        }
        if c.server.admin() == AdminState::Maint {
            delay = c.plan.inter;
            continue;
        }
        c.server.check_io.set_in_progress(true);
        let result = tokio::select! {
            _ = cancel.cancelled() => {
                c.server.check_io.set_in_progress(false);
                return;
            }
            r = run_check(&c.plan) => r,
        };
        c.server.check_io.set_in_progress(false);
        tracing::debug!(
            "health check of {}/{}: {} {:?}",
            c.backend.name,
            c.server.name,
            result.status.code(),
            result.info
        );
        let now = unix_now();
        let before = c.server.with_record(|r| r.snapshot(now));
        let change = c
            .backend
            .update_server(&c.server, |r| r.check_result(result.clone(), now));
        if c.opts.log_health_checks {
            let after = c.server.with_record(|r| r.snapshot(now));
            let prev_status = before.last.as_ref().map(|l| l.status);
            if after.health != before.health || prev_status != Some(result.status) {
                let drain = c.server.effective_weight() == 0;
                let msg = health_check_message(
                    &c.backend.name,
                    &c.server.name,
                    c.server.backup,
                    &result,
                    &after,
                    drain,
                );
                c.backend.log_event(common::log::NOTICE, &msg);
            }
        }
        if change.transition.is_some() {
            let reason = if c.opts.log_health_checks {
                Reason::None
            } else {
                Reason::Check(&result)
            };
            apply_transition(&c.backend, &c.server, &change, reason, c.opts);
        }
        let next = c
            .server
            .with_record(|r| r.next_check_in())
            .unwrap_or(c.plan.inter);
        delay = spread(next, spread_pct, random_unit());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn plan(kind: CheckKind, target: SocketAddr) -> CheckPlan {
        CheckPlan {
            kind,
            target,
            inter: Duration::from_secs(2),
            timeout_connect: Some(Duration::from_secs(1)),
            timeout_check: Some(Duration::from_millis(300)),
        }
    }

    /// A port with nothing listening.
    async fn dead_addr() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        drop(l);
        a
    }

    /// A one-behaviour server: for each connection, optionally send a
    /// banner, then read once and answer with `reply(request)`.
    async fn fake(banner: &'static [u8], reply: fn(&[u8]) -> Option<Vec<u8>>) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    if !banner.is_empty() {
                        let _ = s.write_all(banner).await;
                    }
                    let mut buf = vec![0u8; 4096];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    match reply(&buf[..n]) {
                        Some(r) => {
                            let _ = s.write_all(&r).await;
                        }
                        None => {
                            // stay silent until the peer gives up
                            let _ = s.read(&mut buf).await;
                        }
                    }
                });
            }
        });
        a
    }

    fn pong(req: &[u8]) -> Option<Vec<u8>> {
        Some(if memmem(req, b"PING") {
            b"PONG\r\n".to_vec()
        } else {
            b"ERR\r\n".to_vec()
        })
    }
    fn garbage(_: &[u8]) -> Option<Vec<u8>> {
        Some(b"garbage\r\n".to_vec())
    }
    fn silent(_: &[u8]) -> Option<Vec<u8>> {
        None
    }
    fn close(_: &[u8]) -> Option<Vec<u8>> {
        Some(Vec::new())
    }
    fn http200(_: &[u8]) -> Option<Vec<u8>> {
        Some(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall good\n".to_vec())
    }
    fn http503(_: &[u8]) -> Option<Vec<u8>> {
        Some(b"HTTP/1.0 503 Service Unavailable\r\n\r\n".to_vec())
    }

    fn send(s: &str) -> TcpCheckRule {
        TcpCheckRule::Send(s.as_bytes().to_vec())
    }
    fn expect(s: &str) -> TcpCheckRule {
        TcpCheckRule::Expect {
            negate: false,
            kind: ExpectKind::String(s.as_bytes().to_vec()),
        }
    }

    #[tokio::test]
    async fn connect_check() {
        let ok = fake(b"", silent).await;
        let r = run_check(&plan(CheckKind::Connect, ok)).await;
        assert_eq!(r.status, CheckStatus::L4Ok);
        assert_eq!(r.info, "");
        let r = run_check(&plan(CheckKind::Connect, dead_addr().await)).await;
        assert_eq!(r.status, CheckStatus::L4Con);
        assert_eq!(r.info, "Connection refused");
    }

    /// A listener whose accept queue is full: SYNs are dropped, so a
    /// connect hangs until the check's timeout.
    fn full_listener() -> (std::net::TcpListener, Vec<std::net::TcpStream>, SocketAddr) {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        sock.listen(0).unwrap();
        let l: std::net::TcpListener = sock.into();
        let addr = l.local_addr().unwrap();
        let mut fill = Vec::new();
        for _ in 0..4 {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            s.set_nonblocking(true).unwrap();
            let _ = s.connect(&addr.into());
            fill.push(s.into());
        }
        (l, fill, addr)
    }

    #[tokio::test]
    async fn connect_timeout_is_l4tout() {
        let (_l, _fill, addr) = full_listener();
        let mut p = plan(CheckKind::Connect, addr);
        p.inter = Duration::from_millis(300);
        p.timeout_check = None;
        let r = run_check(&p).await;
        assert_eq!(
            (r.status, r.info.as_str()),
            (CheckStatus::L4Tout, ""),
            "{r:?}"
        );
        assert!(r
            .reason_suffix()
            .starts_with(", reason: Layer4 timeout, check duration: "));
        // tcp-check: HAProxy's message keeps its leading space
        let mut p = plan(CheckKind::TcpCheck(vec![]), addr);
        p.inter = Duration::from_millis(300);
        p.timeout_check = None;
        let r = run_check(&p).await;
        assert_eq!(
            (r.status, r.info.as_str()),
            (
                CheckStatus::L4Tout,
                " at initial connection step of tcp-check"
            )
        );
    }

    #[tokio::test]
    async fn tcp_check_send_expect() {
        let rules = vec![send("PING\r\n"), expect("PONG")];
        let r = run_check(&plan(
            CheckKind::TcpCheck(rules.clone()),
            fake(b"", pong).await,
        ))
        .await;
        assert_eq!(
            (r.status, r.code, r.info.as_str()),
            (CheckStatus::L7Ok, Some(0), "(tcp-check)")
        );
        assert!(r
            .reason_suffix()
            .starts_with(", reason: Layer7 check passed, code: 0, info: \"(tcp-check)\""));

        let r = run_check(&plan(
            CheckKind::TcpCheck(rules.clone()),
            fake(b"", garbage).await,
        ))
        .await;
        assert_eq!(r.status, CheckStatus::L7Rsp);
        assert_eq!(r.info, "TCPCHK did not match content 'PONG' at step 2");

        let r = run_check(&plan(
            CheckKind::TcpCheck(rules.clone()),
            fake(b"", silent).await,
        ))
        .await;
        assert_eq!(r.status, CheckStatus::L7Tout);
        assert_eq!(r.info, " at step 2 of tcp-check (expect string 'PONG')");

        let r = run_check(&plan(
            CheckKind::TcpCheck(rules.clone()),
            fake(b"", close).await,
        ))
        .await;
        assert_eq!(r.status, CheckStatus::L7Rsp);
        assert_eq!(r.info, "TCPCHK got an empty response at step 2");

        let r = run_check(&plan(CheckKind::TcpCheck(rules), dead_addr().await)).await;
        assert_eq!(r.status, CheckStatus::L4Con);
        assert_eq!(
            r.info,
            "Connection refused at initial connection step of tcp-check"
        );
    }

    #[tokio::test]
    async fn tcp_check_explicit_connect_banner_negate_binary() {
        let rules = vec![
            TcpCheckRule::Connect {
                port: None,
                addr: None,
            },
            expect("+OK"),
            send("PING\r\n"),
            TcpCheckRule::Expect {
                negate: true,
                kind: ExpectKind::String(b"ERR".to_vec()),
            },
        ];
        // The server answers PONG then closes: the negated expect passes at EOF.
        let r = run_check(&plan(
            CheckKind::TcpCheck(rules.clone()),
            fake(b"+OK hello\r\n", pong).await,
        ))
        .await;
        assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
        let r = run_check(&plan(
            CheckKind::TcpCheck(rules.clone()),
            fake(b"+OK hello\r\n", |_| Some(b"ERR\r\n".to_vec())).await,
        ))
        .await;
        assert_eq!(r.status, CheckStatus::L7Rsp);
        assert_eq!(r.info, "TCPCHK matched unwanted content 'ERR' at step 4");
        let r = run_check(&plan(CheckKind::TcpCheck(rules), dead_addr().await)).await;
        assert_eq!(
            r.info,
            "Connection refused at step 1 of tcp-check (connect)"
        );

        let bin = vec![
            TcpCheckRule::SendBinary(b"PING\r\n".to_vec()),
            TcpCheckRule::Expect {
                negate: false,
                kind: ExpectKind::Binary(b"PONG".to_vec()),
            },
        ];
        let r = run_check(&plan(
            CheckKind::TcpCheck(bin.clone()),
            fake(b"", pong).await,
        ))
        .await;
        assert_eq!(r.status, CheckStatus::L7Ok);
        let r = run_check(&plan(CheckKind::TcpCheck(bin), fake(b"", garbage).await)).await;
        assert_eq!(r.info, "TCPCHK did not match content (binary) at step 2");

        // empty rule list = connect only
        let r = run_check(&plan(CheckKind::TcpCheck(vec![]), fake(b"", silent).await)).await;
        assert_eq!((r.status, r.info.as_str()), (CheckStatus::L4Ok, ""));
    }

    fn httpchk(expect: Option<crate::config::HttpExpect>) -> CheckKind {
        CheckKind::Http(HttpCheck {
            method: "GET".into(),
            uri: "/health".into(),
            version: "HTTP/1.0".into(),
            headers: vec![],
            body: vec![],
            expect,
        })
    }

    #[tokio::test]
    async fn http_check() {
        let r = run_check(&plan(httpchk(None), fake(b"", http200).await)).await;
        assert_eq!((r.status, r.code), (CheckStatus::L7Ok, Some(200)));
        assert!(r
            .reason_suffix()
            .starts_with(", reason: Layer7 check passed, code: 200, check duration: "));
        let r = run_check(&plan(httpchk(None), fake(b"", http503).await)).await;
        assert_eq!(
            (r.status, r.code, r.info.as_str()),
            (CheckStatus::L7Sts, Some(503), "Service Unavailable")
        );
        let r = run_check(&plan(httpchk(None), fake(b"", garbage).await)).await;
        assert_eq!((r.status, r.info.as_str()), (CheckStatus::L7Rsp, ""));
        let r = run_check(&plan(httpchk(None), fake(b"", silent).await)).await;
        assert_eq!((r.status, r.info.as_str()), (CheckStatus::L7Tout, ""));
        let r = run_check(&plan(httpchk(None), dead_addr().await)).await;
        assert_eq!(
            (r.status, r.info.as_str()),
            (CheckStatus::L4Con, "Connection refused")
        );

        let want503 = Some(crate::config::HttpExpect {
            negate: false,
            kind: HttpExpectKind::Status(vec![(503, 503)]),
        });
        let r = run_check(&plan(httpchk(want503.clone()), fake(b"", http503).await)).await;
        assert_eq!(r.status, CheckStatus::L7Ok);
        let r = run_check(&plan(httpchk(want503), fake(b"", http200).await)).await;
        assert_eq!((r.status, r.info.as_str()), (CheckStatus::L7Sts, "OK"));

        let body = Some(crate::config::HttpExpect {
            negate: false,
            kind: HttpExpectKind::String(b"good".to_vec()),
        });
        let r = run_check(&plan(httpchk(body.clone()), fake(b"", http200).await)).await;
        assert_eq!(r.status, CheckStatus::L7Ok);
        let r = run_check(&plan(httpchk(body), fake(b"", http503).await)).await;
        assert_eq!(
            (r.status, r.info.as_str()),
            (CheckStatus::L7Rsp, "HTTP content check did not match")
        );
    }

    fn re(p: &str) -> crate::config::Pattern {
        crate::config::Pattern::new(p).unwrap()
    }

    #[tokio::test]
    async fn http_check_regex_expects() {
        let rstatus = |negate, p: &str| {
            Some(crate::config::HttpExpect {
                negate,
                kind: HttpExpectKind::Rstatus(re(p)),
            })
        };
        let r = run_check(&plan(
            httpchk(rstatus(false, "^2")),
            fake(b"", http200).await,
        ))
        .await;
        assert_eq!((r.status, r.code), (CheckStatus::L7Ok, Some(200)));
        let r = run_check(&plan(
            httpchk(rstatus(false, "^2")),
            fake(b"", http503).await,
        ))
        .await;
        assert_eq!(
            (r.status, r.info.as_str()),
            (CheckStatus::L7Sts, "Service Unavailable")
        );
        let r = run_check(&plan(
            httpchk(rstatus(true, "^5")),
            fake(b"", http200).await,
        ))
        .await;
        assert_eq!(r.status, CheckStatus::L7Ok);

        let rstring = |negate, p: &str| {
            Some(crate::config::HttpExpect {
                negate,
                kind: HttpExpectKind::Rstring(re(p)),
            })
        };
        let r = run_check(&plan(
            httpchk(rstring(false, "go+d")),
            fake(b"", http200).await,
        ))
        .await;
        assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
        let r = run_check(&plan(
            httpchk(rstring(false, "go+d")),
            fake(b"", http503).await,
        ))
        .await;
        assert_eq!(
            (r.status, r.info.as_str()),
            (CheckStatus::L7Rsp, "HTTP content check did not match")
        );
        let r = run_check(&plan(
            httpchk(rstring(true, "go+d")),
            fake(b"", http200).await,
        ))
        .await;
        assert_eq!(
            (r.status, r.info.as_str()),
            (CheckStatus::L7Rsp, "HTTP check matched unwanted content")
        );
    }

    #[tokio::test]
    async fn tcp_check_regex_expect() {
        let rules = |negate, p: &str| {
            vec![
                send("PING\r\n"),
                TcpCheckRule::Expect {
                    negate,
                    kind: ExpectKind::Rstring(re(p)),
                },
            ]
        };
        let r = run_check(&plan(
            CheckKind::TcpCheck(rules(false, r"^\+?PO[N]G")),
            fake(b"", pong).await,
        ))
        .await;
        assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
        let r = run_check(&plan(
            CheckKind::TcpCheck(rules(false, "^PONG$")),
            fake(b"", garbage).await,
        ))
        .await;
        assert_eq!(
            (r.status, r.info.as_str()),
            (
                CheckStatus::L7Rsp,
                "TCPCHK did not match content (regex) at step 2"
            )
        );
        let r = run_check(&plan(
            CheckKind::TcpCheck(rules(true, "PO.G")),
            fake(b"", pong).await,
        ))
        .await;
        assert_eq!(r.info, "TCPCHK matched unwanted content (regex) at step 2");
        let r = run_check(&plan(
            CheckKind::TcpCheck(rules(false, "PONG")),
            fake(b"", silent).await,
        ))
        .await;
        assert_eq!(r.status, CheckStatus::L7Tout);
        assert_eq!(r.info, " at step 2 of tcp-check (expect regex)");
    }

    #[tokio::test]
    async fn tcp_check_binary_regex_expect() {
        // PONG = 504F4E47, matched on the upper-case hex of the response
        let rules = |negate, p: &str| {
            vec![
                send("PING\r\n"),
                TcpCheckRule::Expect {
                    negate,
                    kind: ExpectKind::Rbinary(re(p)),
                },
            ]
        };
        let r = run_check(&plan(
            CheckKind::TcpCheck(rules(false, "^504F4E47")),
            fake(b"", pong).await,
        ))
        .await;
        assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
        let r = run_check(&plan(
            CheckKind::TcpCheck(rules(false, "^504F4E47")),
            fake(b"", garbage).await,
        ))
        .await;
        assert_eq!(
            r.info,
            "TCPCHK did not match content (binary regex) at step 2"
        );
        assert_eq!(upper_hex(b"+OK\r\n"), "2B4F4B0D0A");
    }

    #[test]
    fn http_request_format() {
        let h = HttpCheck {
            method: "GET".into(),
            uri: "/health".into(),
            version: "HTTP/1.1".into(),
            headers: vec![("Host".into(), "example.com".into())],
            body: vec![],
            expect: None,
        };
        assert_eq!(
            http_request(&h),
            b"GET /health HTTP/1.1\r\nhost: example.com\r\nconnection: close\r\n\r\n".to_vec()
        );
        let h = HttpCheck {
            method: "OPTIONS".into(),
            uri: "/".into(),
            version: "HTTP/1.0".into(),
            headers: vec![],
            body: vec![],
            expect: None,
        };
        assert_eq!(http_request(&h), b"OPTIONS / HTTP/1.0\r\n\r\n".to_vec());
    }

    #[test]
    fn status_line() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 404 Not Found\r\n"),
            Some((404, "Not Found".into()))
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.0 200\r\n"),
            Some((200, String::new()))
        );
        assert_eq!(parse_status_line(b"garbage\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.0 20x OK\r\n"), None);
    }

    #[test]
    fn connect_deadline_rules() {
        let now = TInstant::now();
        let mut p = plan(CheckKind::Connect, "127.0.0.1:1".parse().unwrap());
        // timeout check set: min(inter, timeout connect)
        assert_eq!(p.connect_deadline(now), now + Duration::from_secs(1));
        // no timeout check: inter
        p.timeout_check = None;
        assert_eq!(p.connect_deadline(now), now + Duration::from_secs(2));
        p.timeout_check = Some(Duration::from_millis(100));
        p.timeout_connect = None;
        assert_eq!(p.connect_deadline(now), now + Duration::from_secs(2));
    }

    #[test]
    fn log_health_checks_line() {
        use crate::health::{HealthFsm, HealthSnapshot};
        let p = HealthParams::default();
        let mut f = HealthFsm::new(p);
        let ok = CheckResult::new(CheckStatus::L4Ok, "", Duration::ZERO);
        f.record(ok.clone());
        let snap = |f: &HealthFsm| HealthSnapshot {
            params: Some(p),
            health: f.health(),
            up: f.is_up(),
            paused: false,
            last: f.last().cloned(),
            failed_checks: 0,
            down_transitions: 0,
            since_change: Duration::ZERO,
            down_time: Duration::ZERO,
        };
        assert_eq!(
            health_check_message("web-servers", "web1", false, &ok, &snap(&f), false),
            "Health check for server web-servers/web1 succeeded, reason: Layer4 check passed, check duration: 0ms, status: 3/3 UP."
        );
        let ko = CheckResult::new(CheckStatus::L4Con, "Connection refused", Duration::ZERO);
        let mut g = HealthFsm::new(p);
        g.record(ko.clone());
        assert_eq!(
            health_check_message("web-servers", "web9", false, &ko, &snap(&g), false),
            "Health check for server web-servers/web9 failed, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms, status: 0/2 DOWN."
        );
    }

    fn runtime_for(cfg: &Config) -> Arc<Runtime> {
        use crate::state::BackendSettings;
        let rt = Runtime::new(100, 1);
        let backends = cfg
            .backends
            .iter()
            .map(|b| {
                let servers = b
                    .servers
                    .iter()
                    .map(|s| Arc::new(ServerState::new(s)))
                    .collect();
                BackendState::new(&b.name, b.id, BackendSettings::default(), servers)
            })
            .collect();
        rt.set_proxies(vec![], backends);
        rt
    }

    fn load(text: &str) -> Config {
        let dir = std::env::temp_dir().join(format!("proxyd-checks-unit-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{}.cfg", text.len()));
        std::fs::write(&path, text).unwrap();
        let cfg = crate::config::load(std::slice::from_ref(&path))
            .unwrap()
            .config;
        let _ = std::fs::remove_file(&path);
        cfg
    }

    #[test]
    fn collect_configures_and_keeps_state() {
        let base = "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
                    backend b\n    option tcp-check\n    tcp-check send PING\\r\\n\n    tcp-check expect string PONG\n";
        let cfg = load(&format!(
            "{base}    server s1 127.0.0.1:1 check inter 3s fastinter 1s downinter 7s rise 4 fall 2 port 9 on-marked-down shutdown-sessions\n    server s2 127.0.0.1:2 disabled check\n    server s3 127.0.0.1:3\n"
        ));
        let rt = runtime_for(&cfg);
        let checked = collect(&cfg, &rt);
        assert_eq!(checked.len(), 2);
        let c = &checked[0];
        assert_eq!(c.plan.target, "127.0.0.1:9".parse().unwrap());
        assert_eq!(c.plan.inter, Duration::from_secs(3));
        assert!(matches!(&c.plan.kind, CheckKind::TcpCheck(r) if r.len() == 2));
        assert!(c.opts.shutdown_sessions);
        let s1 = &c.server;
        let p = s1.with_record(|r| r.snapshot(unix_now())).params.unwrap();
        assert_eq!(
            (p.rise, p.fall, p.fastinter, p.downinter),
            (4, 2, Duration::from_secs(1), Duration::from_secs(7))
        );
        // the disabled server starts in maintenance, checks paused
        assert!(checked[1].server.with_record(|r| r.checks_paused()));
        // s3 is not checked
        assert!(!rt
            .backend("b")
            .unwrap()
            .server("s3")
            .unwrap()
            .with_record(|r| r.is_checked()));

        // s1 goes DOWN; a reload with the same config keeps that
        let be = rt.backend("b").unwrap();
        let r = CheckResult::new(CheckStatus::L4Con, "", Duration::ZERO);
        let t = be.update_server(s1, |rec| rec.check_result(r.clone(), unix_now()));
        assert!(t.transition.is_some());
        apply_transition(&be, s1, &t, Reason::Check(&r), c.opts);
        assert!(!s1.is_up());
        collect(&cfg, &rt);
        assert!(!s1.is_up());
        assert_eq!(s1.with_record(|r| r.snapshot(unix_now())).health, 0);

        // a reload without `check` brings it back UP
        let cfg2 = load(&format!("{base}    server s1 127.0.0.1:1\n    server s2 127.0.0.1:2 disabled check\n    server s3 127.0.0.1:3\n"));
        assert_eq!(collect(&cfg2, &rt).len(), 1);
        assert!(s1.is_up());
        assert!(!s1.with_record(|r| r.is_checked()));
    }

    #[test]
    fn random_is_in_range() {
        for _ in 0..1000 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
