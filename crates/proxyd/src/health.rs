//! Health-check state: HAProxy's rise/fall arithmetic as a pure state machine.
//!
//! The arithmetic follows HAProxy 2.6:
//!
//! * the health counter lives in `0..=rise+fall-1`; the server is UP while
//!   `health >= rise`;
//! * it starts at `rise`: the server starts UP but one failure at boot marks
//!   it DOWN;
//! * a failure decrements the counter, and as soon as it drops below `rise`
//!   it falls straight to 0 (DOWN). From fully up (`rise+fall-1`) that takes
//!   exactly `fall` consecutive failures;
//! * a success increments it, and as soon as it reaches `rise` it jumps to
//!   fully up (`rise+fall-1`). From 0 that takes exactly `rise` consecutive
//!   successes;
//! * the next check comes after `inter` while fully up, `downinter` while
//!   DOWN with health 0, and `fastinter` in between (in transition).
//!
//! [`HealthFsm`] is pure (events in, transitions out). It is one part of a
//! server's record ([`crate::server::ServerRecord`]), which owns the
//! server's whole state (health, admin state, weight, times).

use std::fmt::Write as _;
use std::time::Duration;

/// HAProxy's default check interval.
pub const DEFAULT_INTER: Duration = Duration::from_secs(2);
/// Intervals at or above this are used to spread the first checks
/// (HAProxy's `SRV_CHK_INTER_THRES`).
pub const SPREAD_THRESHOLD: Duration = Duration::from_secs(1);

/// A check status, with HAProxy's short code and description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckStatus {
    /// No check done yet.
    Init,
    /// A local error before or outside the connection (socket creation...).
    SockErr,
    L4Ok,
    L4Tout,
    L4Con,
    L6Ok,
    L6Tout,
    L6Rsp,
    L7Tout,
    L7Rsp,
    L7Ok,
    L7Sts,
}

impl CheckStatus {
    /// The short code shown in `show stat` (`check_status`).
    pub fn code(self) -> &'static str {
        match self {
            CheckStatus::Init => "INI",
            CheckStatus::SockErr => "SOCKERR",
            CheckStatus::L4Ok => "L4OK",
            CheckStatus::L4Tout => "L4TOUT",
            CheckStatus::L4Con => "L4CON",
            CheckStatus::L6Ok => "L6OK",
            CheckStatus::L6Tout => "L6TOUT",
            CheckStatus::L6Rsp => "L6RSP",
            CheckStatus::L7Tout => "L7TOUT",
            CheckStatus::L7Rsp => "L7RSP",
            CheckStatus::L7Ok => "L7OK",
            CheckStatus::L7Sts => "L7STS",
        }
    }

    /// The description used in logs (`reason: ...`) and `check_desc`.
    pub fn description(self) -> &'static str {
        match self {
            CheckStatus::Init => "Initializing",
            CheckStatus::SockErr => "Socket error",
            CheckStatus::L4Ok => "Layer4 check passed",
            CheckStatus::L4Tout => "Layer4 timeout",
            CheckStatus::L4Con => "Layer4 connection problem",
            CheckStatus::L6Ok => "Layer6 check passed",
            CheckStatus::L6Tout => "Layer6 timeout",
            CheckStatus::L6Rsp => "Layer6 invalid response",
            CheckStatus::L7Tout => "Layer7 timeout",
            CheckStatus::L7Rsp => "Layer7 invalid response",
            CheckStatus::L7Ok => "Layer7 check passed",
            CheckStatus::L7Sts => "Layer7 wrong status",
        }
    }

    /// Whether this status counts as a passed check.
    pub fn passed(self) -> bool {
        matches!(
            self,
            CheckStatus::L4Ok | CheckStatus::L6Ok | CheckStatus::L7Ok
        )
    }

    /// Whether this is a finished check (not [`CheckStatus::Init`]).
    pub fn is_result(self) -> bool {
        self != CheckStatus::Init
    }

    /// Layer-7 data statuses carry a response code (`code: N` in logs).
    pub fn has_code(self) -> bool {
        matches!(self, CheckStatus::L7Ok | CheckStatus::L7Sts)
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub status: CheckStatus,
    /// Layer-7 response code (HTTP status), when there was one.
    pub code: Option<u16>,
    /// Free text (`info: "..."` in logs, `last_chk` in stats), may be empty.
    pub info: String,
    pub duration: Duration,
}

impl CheckResult {
    pub fn new(status: CheckStatus, info: impl Into<String>, duration: Duration) -> Self {
        CheckResult {
            status,
            code: None,
            info: info.into(),
            duration,
        }
    }

    pub fn with_code(mut self, code: u16) -> Self {
        self.code = Some(code);
        self
    }

    /// `, reason: R[, code: N][, info: "I"], check duration: Dms`, as HAProxy
    /// appends it to state-change lines.
    pub fn reason_suffix(&self) -> String {
        let mut s = format!(", reason: {}", self.status.description());
        if self.status.has_code() {
            if let Some(code) = self.code {
                let _ = write!(s, ", code: {code}");
            }
        }
        if !self.info.is_empty() {
            s.push_str(", info: \"");
            s.push_str(&ascii_escape(&self.info));
            s.push('"');
        }
        let _ = write!(s, ", check duration: {}ms", self.duration.as_millis());
        s
    }
}

/// Escape non-printable bytes, `<`, `>` and `"` as `<XX>`, as HAProxy does
/// for `info`.
fn ascii_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '<' | '>') || !(' '..='~').contains(&c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "<{b:02X}>");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Rise/fall thresholds and check intervals of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthParams {
    pub rise: u32,
    pub fall: u32,
    pub inter: Duration,
    pub fastinter: Duration,
    pub downinter: Duration,
}

impl Default for HealthParams {
    fn default() -> Self {
        HealthParams {
            rise: 2,
            fall: 3,
            inter: DEFAULT_INTER,
            fastinter: DEFAULT_INTER,
            downinter: DEFAULT_INTER,
        }
    }
}

impl HealthParams {
    fn sanitized(mut self) -> Self {
        self.rise = self.rise.max(1);
        self.fall = self.fall.max(1);
        self
    }

    /// The highest health value (`rise + fall - 1`): fully up.
    pub fn max_health(&self) -> u32 {
        self.rise + self.fall - 1
    }
}

/// An operational state change caused by a check result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The server was UP and is now DOWN.
    Down,
    /// The server was DOWN and is now UP.
    Up,
}

/// The pure health state machine of one checked server.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthFsm {
    params: HealthParams,
    health: u32,
    up: bool,
    last: Option<CheckResult>,
    failed_checks: u64,
    down_transitions: u64,
}

impl HealthFsm {
    /// A new server: health = rise, UP (so one failure marks it DOWN).
    pub fn new(params: HealthParams) -> Self {
        let params = params.sanitized();
        HealthFsm {
            health: params.rise,
            params,
            up: true,
            last: None,
            failed_checks: 0,
            down_transitions: 0,
        }
    }

    pub fn params(&self) -> &HealthParams {
        &self.params
    }

    /// Change thresholds and intervals, keeping the state (reload). The
    /// counter is clamped into the new range, preserving UP/DOWN.
    pub fn set_params(&mut self, params: HealthParams) {
        let params = params.sanitized();
        self.params = params;
        if self.up {
            self.health = self.health.clamp(params.rise, params.max_health());
        } else {
            self.health = self.health.min(params.rise - 1);
        }
    }

    pub fn health(&self) -> u32 {
        self.health
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    pub fn last(&self) -> Option<&CheckResult> {
        self.last.as_ref()
    }

    /// Number of failed checks counted (HAProxy's `chkfail`).
    pub fn failed_checks(&self) -> u64 {
        self.failed_checks
    }

    /// Number of UP -> DOWN transitions (HAProxy's `chkdown`).
    pub fn down_transitions(&self) -> u64 {
        self.down_transitions
    }

    /// `clear counters all`.
    pub fn clear_counters(&mut self) {
        self.failed_checks = 0;
        self.down_transitions = 0;
    }

    /// Record a check result. Returns the operational transition it caused.
    /// (In maintenance no check runs: the server record does not call it.)
    pub fn record(&mut self, result: CheckResult) -> Option<Transition> {
        let passed = result.status.passed();
        self.last = Some(result);
        if passed {
            if self.health < self.params.max_health() {
                self.health += 1;
                if self.health >= self.params.rise {
                    self.health = self.params.max_health();
                }
            }
            if !self.up && self.health >= self.params.rise {
                self.up = true;
                return Some(Transition::Up);
            }
        } else {
            if self.health > 0 {
                self.failed_checks += 1;
                self.health -= 1;
                if self.health < self.params.rise {
                    self.health = 0;
                }
            }
            if self.up && self.health == 0 {
                self.up = false;
                self.down_transitions += 1;
                return Some(Transition::Down);
            }
        }
        None
    }

    /// `set server BE/SRV health up|down`: the counter goes to fully up
    /// (`rise + fall - 1`) or to 0 at once, as HAProxy does; the last check
    /// result and `chkfail` are left alone.
    pub fn force(&mut self, up: bool) -> Option<Transition> {
        if up {
            self.health = self.params.max_health();
            if !self.up {
                self.up = true;
                return Some(Transition::Up);
            }
        } else {
            self.health = 0;
            if self.up {
                self.up = false;
                self.down_transitions += 1;
                return Some(Transition::Down);
            }
        }
        None
    }

    /// Delay until the next check (HAProxy's `srv_getinter`).
    pub fn next_check_in(&self) -> Duration {
        if self.health == self.params.max_health() {
            self.params.inter
        } else if !self.up && self.health == 0 {
            self.params.downinter
        } else {
            self.params.fastinter
        }
    }

    /// Entering maintenance: the counter drops to 0 and the server counts
    /// as DOWN (the server record then stops feeding results until
    /// [`Self::resume`]). Returns true if the server was UP.
    pub fn pause(&mut self) -> bool {
        let was_up = self.up;
        self.health = 0;
        if self.up {
            self.up = false;
            self.down_transitions += 1;
        }
        was_up
    }

    /// Leaving maintenance: "start OK but check immediately" (health = rise,
    /// UP). Returns true if the server was DOWN.
    pub fn resume(&mut self) -> bool {
        let was_down = !self.up;
        self.health = self.params.rise;
        self.up = true;
        was_down
    }
}

/// A copy of a server's health for display (stats socket).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSnapshot {
    /// `None` when the server is not checked.
    pub params: Option<HealthParams>,
    pub health: u32,
    pub up: bool,
    pub paused: bool,
    pub last: Option<CheckResult>,
    pub failed_checks: u64,
    pub down_transitions: u64,
    /// Seconds since the last UP/DOWN change.
    pub since_change: Duration,
    /// Total time spent DOWN.
    pub down_time: Duration,
}

/// Per-server options that matter when the server changes state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransitionOpts {
    /// `on-marked-down shutdown-sessions`.
    pub shutdown_sessions: bool,
    /// `on-marked-up shutdown-backup-sessions`.
    pub shutdown_backup_sessions: bool,
    /// `option log-health-checks`: every check that moves the health
    /// counter is logged, and transition lines then carry no reason.
    pub log_health_checks: bool,
}

/// Delay of the first check of the `pos`-th of `count` checked servers, as
/// HAProxy spreads them: `min_inter * pos / count`.
pub fn first_check_delay(min_inter: Duration, pos: usize, count: usize) -> Duration {
    if count == 0 {
        return Duration::ZERO;
    }
    let ms = min_inter.as_millis() * pos as u128 / count as u128;
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// HAProxy's `spread-checks`: `interval` +/- up to `pct`% (`r` uniform in
/// `0.0..=1.0`).
pub fn spread(interval: Duration, pct: u32, r: f64) -> Duration {
    if pct == 0 {
        return interval;
    }
    let base = interval.as_secs_f64() * f64::from(pct.min(50)) / 100.0;
    let delta = base - 2.0 * base * r.clamp(0.0, 1.0);
    Duration::from_secs_f64((interval.as_secs_f64() + delta).max(0.0))
}

/// Numbers quoted in HAProxy's state-change lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackendCounts {
    /// Usable active servers after the change.
    pub active: usize,
    /// Usable backup servers after the change.
    pub backup: usize,
    /// Sessions still open on the server.
    pub sessions: u64,
    /// Sessions moved to other servers.
    pub requeued: u64,
    /// Sessions waiting in the server's queue.
    pub queued: u64,
}

fn server_prefix(backend: &str, server: &str, backup: bool) -> String {
    format!(
        "{}Server {backend}/{server}",
        if backup { "Backup " } else { "" }
    )
}

fn left_suffix(c: &BackendCounts) -> String {
    format!(
        ". {} active and {} backup servers left.{} {} sessions active, {} requeued, {} remaining in queue.",
        c.active,
        c.backup,
        if c.backup > 0 && c.active == 0 { " Running on backup." } else { "" },
        c.sessions,
        c.requeued,
        c.queued
    )
}

fn online_suffix(c: &BackendCounts) -> String {
    format!(
        ". {} active and {} backup servers online.{} {} sessions requeued, {} total in queue.",
        c.active,
        c.backup,
        if c.backup > 0 && c.active == 0 {
            " Running on backup."
        } else {
            ""
        },
        c.requeued,
        c.queued
    )
}

/// Why a server changed state, as appended to HAProxy's lines.
#[derive(Debug, Clone, Copy)]
pub enum Reason<'a> {
    /// Nothing (e.g. with `option log-health-checks`).
    None,
    /// A check result: `, reason: ..., check duration: Nms`.
    Check(&'a CheckResult),
    /// Free text: `, changed from CLI`.
    Text(&'a str),
}

impl Reason<'_> {
    fn suffix(&self) -> String {
        match self {
            Reason::None => String::new(),
            Reason::Check(r) => r.reason_suffix(),
            Reason::Text(t) => format!(", {t}"),
        }
    }
}

/// `Server B/S is DOWN, reason: ..., check duration: Nms. A active and B
/// backup servers left. ...` (logged at alert by HAProxy, notice if the
/// server was draining).
pub fn down_message(
    backend: &str,
    server: &str,
    backup: bool,
    reason: Reason<'_>,
    counts: &BackendCounts,
) -> String {
    let mut s = server_prefix(backend, server, backup);
    s.push_str(" is DOWN");
    s.push_str(&reason.suffix());
    s.push_str(&left_suffix(counts));
    s
}

/// `Server B/S is UP, reason: ..., check duration: Nms. A active and B backup
/// servers online. ...` (logged at notice).
pub fn up_message(
    backend: &str,
    server: &str,
    backup: bool,
    reason: Reason<'_>,
    counts: &BackendCounts,
) -> String {
    let mut s = server_prefix(backend, server, backup);
    s.push_str(" is UP");
    s.push_str(&reason.suffix());
    s.push_str(&online_suffix(counts));
    s
}

/// `Server B/S is going DOWN for maintenance. ...` (alert, notice if the
/// server was draining) or, when it was already DOWN, `Server B/S was DOWN
/// and now enters maintenance.` (notice).
pub fn maint_message(
    backend: &str,
    server: &str,
    backup: bool,
    was_up: bool,
    counts: &BackendCounts,
) -> String {
    let mut s = server_prefix(backend, server, backup);
    if was_up {
        s.push_str(" is going DOWN for maintenance");
        s.push_str(&left_suffix(counts));
    } else {
        s.push_str(" was DOWN and now enters maintenance.");
    }
    s
}

/// `Server B/S is UP/READY (leaving forced maintenance).` (notice).
pub fn leave_maint_message(
    backend: &str,
    server: &str,
    backup: bool,
    up: bool,
    drain: bool,
) -> String {
    format!(
        "{} is {}/{} (leaving forced maintenance).",
        server_prefix(backend, server, backup),
        if up { "UP" } else { "DOWN" },
        if drain { "DRAIN" } else { "READY" }
    )
}

/// `Server B/S enters drain state. ...` (notice).
pub fn drain_message(backend: &str, server: &str, backup: bool, counts: &BackendCounts) -> String {
    let mut s = server_prefix(backend, server, backup);
    s.push_str(" enters drain state");
    s.push_str(&online_suffix(counts));
    s
}

/// `Server B/S is UP (leaving forced drain).` (notice).
pub fn leave_drain_message(backend: &str, server: &str, backup: bool, up: bool) -> String {
    format!(
        "{} is {} (leaving forced drain).",
        server_prefix(backend, server, backup),
        if up { "UP" } else { "DOWN" }
    )
}

/// `backend B has no server available!` (emerg).
pub fn no_server_message(backend: &str) -> String {
    format!("backend {backend} has no server available!")
}

/// Check parameters and results for the unit tests of the health and
/// server-record cores.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub(crate) fn params(rise: u32, fall: u32) -> HealthParams {
        HealthParams {
            rise,
            fall,
            inter: Duration::from_millis(2000),
            fastinter: Duration::from_millis(500),
            downinter: Duration::from_millis(5000),
        }
    }

    pub(crate) fn ok() -> CheckResult {
        CheckResult::new(CheckStatus::L4Ok, "", Duration::ZERO)
    }

    pub(crate) fn ko() -> CheckResult {
        CheckResult::new(CheckStatus::L4Con, "Connection refused", Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{ko, ok, params};
    use super::*;

    /// Feed `n` failures, return the index (1-based) of the Down transition.
    fn fails_until_down(f: &mut HealthFsm, max: u32) -> Option<u32> {
        (1..=max).find(|_| f.record(ko()) == Some(Transition::Down))
    }

    fn oks_until_up(f: &mut HealthFsm, max: u32) -> Option<u32> {
        (1..=max).find(|_| f.record(ok()) == Some(Transition::Up))
    }

    #[test]
    fn starts_up_at_rise_and_one_failure_at_boot_marks_down() {
        for rise in 1..=5 {
            for fall in 1..=5 {
                let mut f = HealthFsm::new(params(rise, fall));
                assert!(f.is_up());
                assert_eq!(f.health(), rise);
                assert_eq!(
                    f.record(ko()),
                    Some(Transition::Down),
                    "rise {rise} fall {fall}"
                );
                assert_eq!(f.health(), 0);
                assert!(!f.is_up());
                assert_eq!(f.down_transitions(), 1);
            }
        }
    }

    #[test]
    fn successes_at_boot_reach_fully_up_without_transition() {
        for rise in 1..=5 {
            for fall in 1..=5 {
                let mut f = HealthFsm::new(params(rise, fall));
                let t = f.record(ok());
                assert_eq!(t, None);
                assert_eq!(f.health(), rise + fall - 1);
                assert!(f.is_up());
            }
        }
    }

    #[test]
    fn fall_consecutive_failures_from_fully_up() {
        for rise in 1..=5 {
            for fall in 1..=5 {
                let mut f = HealthFsm::new(params(rise, fall));
                f.record(ok());
                assert_eq!(f.health(), rise + fall - 1);
                assert_eq!(
                    fails_until_down(&mut f, 20),
                    Some(fall),
                    "rise {rise} fall {fall}"
                );
                assert_eq!(f.failed_checks(), u64::from(fall));
            }
        }
    }

    #[test]
    fn rise_consecutive_successes_from_down() {
        for rise in 1..=5 {
            for fall in 1..=5 {
                let mut f = HealthFsm::new(params(rise, fall));
                f.record(ko());
                assert!(!f.is_up());
                assert_eq!(
                    oks_until_up(&mut f, 20),
                    Some(rise),
                    "rise {rise} fall {fall}"
                );
                assert_eq!(f.health(), rise + fall - 1);
            }
        }
    }

    #[test]
    fn failure_while_down_does_not_count_or_go_negative() {
        let mut f = HealthFsm::new(params(2, 3));
        f.record(ko());
        let failed = f.failed_checks();
        for _ in 0..10 {
            assert_eq!(f.record(ko()), None);
        }
        assert_eq!(f.health(), 0);
        assert_eq!(f.failed_checks(), failed);
    }

    #[test]
    fn interrupted_rise_restarts_from_zero() {
        // rise 3: two successes then a failure drops back to 0.
        let mut f = HealthFsm::new(params(3, 2));
        f.record(ko());
        assert_eq!(f.record(ok()), None);
        assert_eq!(f.record(ok()), None);
        assert_eq!(f.health(), 2);
        assert_eq!(f.record(ko()), None);
        assert_eq!(f.health(), 0);
        assert_eq!(oks_until_up(&mut f, 10), Some(3));
    }

    #[test]
    fn interrupted_fall_recovers_to_fully_up() {
        // fall 3 from fully up: two failures, one success -> fully up again.
        let mut f = HealthFsm::new(params(2, 3));
        f.record(ok());
        assert_eq!(f.record(ko()), None);
        assert_eq!(f.record(ko()), None);
        assert_eq!(f.health(), 2);
        assert_eq!(f.record(ok()), None);
        assert_eq!(f.health(), 4);
        assert_eq!(fails_until_down(&mut f, 10), Some(3));
    }

    /// Reference model: HAProxy's arithmetic written the obvious way.
    fn reference(rise: u32, fall: u32, seq: &[bool]) -> Vec<(u32, bool)> {
        let mut h = rise;
        let mut up = true;
        let mut out = Vec::new();
        for &pass in seq {
            if pass {
                if h < rise + fall - 1 {
                    h += 1;
                    if h >= rise {
                        h = rise + fall - 1;
                    }
                }
                if h >= rise {
                    up = true;
                }
            } else {
                if h > 0 {
                    h -= 1;
                    if h < rise {
                        h = 0;
                    }
                }
                if h == 0 {
                    up = false;
                }
            }
            out.push((h, up));
        }
        out
    }

    #[test]
    fn all_interleavings_up_to_length_8_match_reference() {
        for rise in 1..=5 {
            for fall in 1..=5 {
                for len in 0..=8u32 {
                    for bits in 0..(1u32 << len) {
                        let seq: Vec<bool> = (0..len).map(|i| bits & (1 << i) != 0).collect();
                        let expect = reference(rise, fall, &seq);
                        let mut f = HealthFsm::new(params(rise, fall));
                        let mut prev_up = true;
                        for (i, &pass) in seq.iter().enumerate() {
                            let t = f.record(if pass { ok() } else { ko() });
                            let (h, up) = expect[i];
                            assert_eq!((f.health(), f.is_up()), (h, up), "r{rise} f{fall} {seq:?}");
                            let want = match (prev_up, up) {
                                (true, false) => Some(Transition::Down),
                                (false, true) => Some(Transition::Up),
                                _ => None,
                            };
                            assert_eq!(t, want);
                            assert!(f.health() < rise + fall);
                            assert_eq!(f.is_up(), f.health() >= rise);
                            prev_up = up;
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn intervals_follow_srv_getinter() {
        let p = params(2, 3);
        let mut f = HealthFsm::new(p);
        // Boot: health = rise, not fully up -> fastinter.
        assert_eq!(f.next_check_in(), p.fastinter);
        f.record(ok());
        assert_eq!(f.next_check_in(), p.inter);
        f.record(ko());
        assert_eq!(f.next_check_in(), p.fastinter);
        f.record(ko());
        f.record(ko());
        assert!(!f.is_up());
        assert_eq!(f.next_check_in(), p.downinter);
        f.record(ok());
        assert_eq!(f.next_check_in(), p.fastinter);
        f.record(ok());
        assert!(f.is_up());
        assert_eq!(f.next_check_in(), p.inter);
    }

    #[test]
    fn fall_one_rise_one_is_always_inter_or_downinter() {
        let p = params(1, 1);
        let mut f = HealthFsm::new(p);
        assert_eq!(f.next_check_in(), p.inter);
        f.record(ko());
        assert_eq!(f.next_check_in(), p.downinter);
        assert_eq!(f.record(ok()), Some(Transition::Up));
        assert_eq!(f.next_check_in(), p.inter);
    }

    #[test]
    fn set_params_keeps_state() {
        let mut f = HealthFsm::new(params(2, 3));
        f.record(ok());
        f.set_params(params(3, 2));
        assert!(f.is_up());
        assert_eq!(f.health(), 4);
        f.record(ko());
        f.record(ko());
        assert!(!f.is_up());
        f.set_params(params(1, 1));
        assert!(!f.is_up());
        assert_eq!(f.health(), 0);
    }

    #[test]
    fn zero_rise_fall_are_sanitized() {
        let f = HealthFsm::new(params(0, 0));
        assert_eq!(f.params().rise, 1);
        assert_eq!(f.params().fall, 1);
    }

    #[test]
    fn status_codes_and_descriptions() {
        assert_eq!(CheckStatus::L4Con.code(), "L4CON");
        assert_eq!(
            CheckStatus::L4Con.description(),
            "Layer4 connection problem"
        );
        assert_eq!(CheckStatus::L4Ok.description(), "Layer4 check passed");
        assert_eq!(CheckStatus::L7Sts.description(), "Layer7 wrong status");
        assert_eq!(CheckStatus::L4Tout.description(), "Layer4 timeout");
        assert!(CheckStatus::L7Ok.passed());
        assert!(!CheckStatus::L7Sts.passed());
        assert!(!CheckStatus::SockErr.passed());
    }

    #[test]
    fn log_lines_match_haproxy() {
        let c = BackendCounts {
            active: 1,
            ..Default::default()
        };
        assert_eq!(
            down_message("web-servers", "web1", false, Reason::Check(&ko()), &c),
            "Server web-servers/web1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        let c2 = BackendCounts {
            active: 2,
            ..Default::default()
        };
        assert_eq!(
            up_message("web-servers", "web1", false, Reason::Check(&ok()), &c2),
            "Server web-servers/web1 is UP, reason: Layer4 check passed, check duration: 0ms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        );
        let l7 = CheckResult::new(
            CheckStatus::L7Sts,
            "HTTP status check returned code <503>",
            Duration::from_millis(3),
        )
        .with_code(503);
        assert_eq!(
            down_message("b", "s", true, Reason::Check(&l7), &BackendCounts { backup: 1, ..Default::default() }),
            "Backup Server b/s is DOWN, reason: Layer7 wrong status, code: 503, info: \"HTTP status check returned code <3C>503<3E>\", check duration: 3ms. 0 active and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            maint_message("web-servers", "web2", false, true, &BackendCounts::default()),
            "Server web-servers/web2 is going DOWN for maintenance. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            maint_message(
                "web-servers",
                "web1",
                false,
                false,
                &BackendCounts::default()
            ),
            "Server web-servers/web1 was DOWN and now enters maintenance."
        );
        assert_eq!(
            leave_maint_message("web-servers", "web2", false, true, false),
            "Server web-servers/web2 is UP/READY (leaving forced maintenance)."
        );
        assert_eq!(
            drain_message("web-servers", "web1", false, &c),
            "Server web-servers/web1 enters drain state. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        );
        assert_eq!(
            leave_drain_message("web-servers", "web2", false, true),
            "Server web-servers/web2 is UP (leaving forced drain)."
        );
        assert_eq!(
            down_message("web-servers", "web2", false, Reason::Text("changed from CLI"), &BackendCounts::default()),
            "Server web-servers/web2 is DOWN, changed from CLI. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            up_message("web-servers", "web2", false, Reason::Text("changed from CLI"), &c),
            "Server web-servers/web2 is UP, changed from CLI. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        );
        assert_eq!(
            down_message("web-servers", "web9", false, Reason::None, &c),
            "Server web-servers/web9 is DOWN. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            no_server_message("web-servers"),
            "backend web-servers has no server available!"
        );
    }

    #[test]
    fn info_is_escaped() {
        let r = CheckResult::new(CheckStatus::L7Rsp, "a\"b\r\n", Duration::ZERO);
        assert!(r.reason_suffix().contains("info: \"a<22>b<0D><0A>\""));
    }

    #[test]
    fn spreading() {
        let i = Duration::from_millis(2000);
        assert_eq!(first_check_delay(i, 0, 4), Duration::ZERO);
        assert_eq!(first_check_delay(i, 1, 4), Duration::from_millis(500));
        assert_eq!(first_check_delay(i, 3, 4), Duration::from_millis(1500));
        assert_eq!(first_check_delay(i, 0, 0), Duration::ZERO);
        assert_eq!(spread(i, 0, 0.3), i);
        assert_eq!(spread(i, 10, 0.0), Duration::from_millis(2200));
        assert_eq!(spread(i, 10, 1.0), Duration::from_millis(1800));
        assert_eq!(spread(i, 10, 0.5), i);
    }
}
