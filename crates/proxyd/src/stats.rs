//! The runtime API: HAProxy's `stats socket` (unix or TCP), speaking the
//! same line protocol (`;`-separated commands, interactive `prompt` mode,
//! one response per command followed by an empty line) and answering the
//! commands operators drive with `socat`: `show info`, `show stat`,
//! `show servers state`, `show backend`, `set server BE/SRV state|weight`,
//! `disable|enable server`, `get weight`, `set weight`, `help`.
//!
//! Administrative state changes log HAProxy's lines (`... is going DOWN for
//! maintenance ...`, `... enters drain state ...`, `... (leaving forced
//! maintenance).`).

use std::fmt::Write as _;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{CancellationToken, TaskTracker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::checks::{counts, note_availability};
use crate::config::{StatsAddr, StatsLevel, StatsSocket};
use crate::health::{
    drain_message, leave_drain_message, leave_maint_message, maint_message, CheckStatus,
    HealthSnapshot,
};
use crate::lb::Algo;
use crate::state::{unix_now, AdminState, BackendState, Runtime, ServerState};

/// Release date shown by `show info`.
pub const RELEASE_DATE: &str = "2026/11/26";

/// HAProxy 2.6's `show stat` columns, in order.
pub const STAT_FIELDS: &[&str] = &[
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    "-",
];

fn col(name: &str) -> usize {
    STAT_FIELDS.iter().position(|f| *f == name).unwrap_or(0)
}

/// One CSV row being filled.
struct Row(Vec<String>);

impl Row {
    fn new(pxname: &str, svname: &str) -> Row {
        let mut r = Row(vec![String::new(); STAT_FIELDS.len()]);
        r.set("pxname", pxname);
        r.set("svname", svname);
        r.set("pid", 1);
        r.set("-", "-");
        r
    }

    fn set(&mut self, name: &str, v: impl std::fmt::Display) {
        let i = col(name);
        if let Some(c) = self.0.get_mut(i) {
            *c = csv_escape(&v.to_string());
        }
    }

    fn zeros(&mut self, names: &[&str]) {
        for n in names {
            self.set(n, 0);
        }
    }

    fn finish(self, out: &mut String) {
        out.push_str(&self.0.join(","));
        out.push_str(",\n");
    }
}

/// HAProxy's CSV output quotes nothing; commas would break the format, so
/// they are replaced the way its `csv_enc` would protect them.
fn csv_escape(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"").replace(['\n', '\r'], " "))
    } else {
        s.to_string()
    }
}

/// The server's `status` column.
pub fn server_status(server: &ServerState, h: &HealthSnapshot) -> String {
    if server.admin() == AdminState::Maint {
        return "MAINT".to_string();
    }
    let up = server.is_up();
    let drain = server.admin() == AdminState::Drain;
    match h.params {
        None => {
            if !up {
                "DOWN".into()
            } else if drain {
                "DRAIN".into()
            } else {
                "no check".into()
            }
        }
        Some(p) => {
            if up {
                let going_down = h.health < p.max_health();
                let base = if drain { "DRAIN" } else { "UP" };
                if going_down {
                    format!("{base} {}/{}", h.health.saturating_sub(p.rise) + 1, p.fall)
                } else {
                    base.to_string()
                }
            } else if h.health == 0 {
                "DOWN".into()
            } else {
                format!("DOWN {}/{}", h.health, p.rise)
            }
        }
    }
}

fn server_row(be: &BackendState, s: &ServerState, now: u64) -> Row {
    let h = s.with_record(|r| r.snapshot(now));
    let c = &s.counters;
    let mut r = Row::new(&be.name, &s.name);
    r.set("qcur", c.qcur.get());
    r.set("qmax", c.qmax.get());
    r.set("scur", c.scur.get());
    r.set("smax", c.smax.get());
    if s.maxconn > 0 {
        r.set("slim", s.maxconn);
    }
    r.set("stot", c.stot.get());
    r.set("bin", c.bin.get());
    r.set("bout", c.bout.get());
    r.set("dresp", 0);
    r.set("econ", c.econ.get());
    r.set("eresp", c.eresp.get());
    r.set("wretr", c.wretr.get());
    r.set("wredis", c.wredis.get());
    r.set("status", server_status(s, &h));
    r.set("weight", s.weight());
    r.set("act", u8::from(!s.backup));
    r.set("bck", u8::from(s.backup));
    let checked = h.params.is_some();
    if checked {
        r.set("chkfail", h.failed_checks);
        r.set("chkdown", h.down_transitions);
    }
    r.set("lastchg", h.since_change.as_secs());
    if checked {
        r.set("downtime", h.down_time.as_secs());
    }
    if s.maxqueue > 0 {
        r.set("qlimit", s.maxqueue);
    }
    r.set("iid", be.id);
    r.set("sid", s.id);
    r.set("lbtot", c.lbtot.get());
    r.set("type", 2);
    r.zeros(&["rate", "rate_max", "cli_abrt", "srv_abrt"]);
    if let (Some(p), false) = (h.params, h.paused) {
        let last = h.last.as_ref();
        let status = last.map(|l| l.status).unwrap_or(CheckStatus::Init);
        if s.check_io.in_progress() {
            r.set("check_status", format!("* {}", status.code()));
        } else {
            r.set("check_status", status.code());
        }
        if let Some(l) = last {
            // while a check runs HAProxy has already reset its code and
            // description (the status stays until the new result)
            let running = s.check_io.in_progress();
            if l.status.has_code() {
                r.set("check_code", if running { 0 } else { l.code.unwrap_or(0) });
            }
            r.set("check_duration", l.duration.as_millis());
            if !running {
                r.set("last_chk", &l.info);
            }
        }
        r.set("check_desc", status.description());
        r.set("check_rise", p.rise);
        r.set("check_fall", p.fall);
        r.set("check_health", h.health);
    }
    r.set("lastsess", -1);
    r.zeros(&["qtime", "ctime", "rtime", "ttime"]);
    r.set("addr", s.addr);
    r.set("mode", "tcp");
    r.zeros(&[
        "wrew",
        "connect",
        "reuse",
        "srv_icur",
        "qtime_max",
        "ctime_max",
        "rtime_max",
        "ttime_max",
        "eint",
        "idle_conn_cur",
        "safe_conn_cur",
        "used_conn_cur",
        "need_conn_est",
    ]);
    r.set("uweight", s.weight());
    r
}

fn backend_row(be: &BackendState, show_counts: bool) -> Row {
    let settings = be.settings();
    let c = &be.counters;
    let servers = be.servers();
    let (act, bck) = be.servers_left();
    // The group the balancer uses: active servers, else the backups (only
    // the first one without `option allbackups`), as HAProxy.
    let in_group: Vec<&Arc<ServerState>> = if act > 0 {
        servers
            .iter()
            .filter(|s| !s.backup && s.usable() && s.effective_weight() > 0)
            .collect()
    } else {
        let b = servers
            .iter()
            .filter(|s| s.backup && s.usable() && s.effective_weight() > 0);
        if settings.allbackups {
            b.collect()
        } else {
            b.take(1).collect()
        }
    };
    let weight: u64 = in_group
        .iter()
        .map(|s| u64::from(s.effective_weight()))
        .sum();
    let uweight: u64 = in_group.iter().map(|s| u64::from(s.weight())).sum();
    let nbup = servers
        .iter()
        .filter(|s| s.is_up() && s.admin() != AdminState::Maint)
        .count();
    let mut r = Row::new(&be.name, "BACKEND");
    r.set("qcur", c.qcur.get());
    r.set("qmax", c.qmax.get());
    r.set("scur", c.scur.get());
    r.set("smax", c.smax.get());
    r.set("stot", c.stot.get());
    r.set("bin", c.bin.get());
    r.set("bout", c.bout.get());
    r.set("dreq", c.dreq.get());
    r.set("dresp", 0);
    r.set("econ", c.econ.get());
    r.set("eresp", c.eresp.get());
    r.set("wretr", c.wretr.get());
    r.set("wredis", c.wredis.get());
    let status = if weight > 0 || servers.is_empty() {
        "UP"
    } else {
        "DOWN"
    };
    if show_counts {
        r.set("status", format!("{status} ({nbup}/{})", servers.len()));
    } else {
        r.set("status", status);
    }
    r.set("weight", weight);
    r.set("act", act);
    r.set("bck", bck);
    r.set("chkdown", be.chkdown.get());
    r.set("lastchg", unix_now().saturating_sub(be.last_change.get()));
    r.set("iid", be.id);
    r.set("sid", 0);
    r.set("lbtot", c.lbtot.get());
    r.set("type", 1);
    r.zeros(&[
        "rate", "rate_max", "cli_abrt", "srv_abrt", "comp_in", "comp_out", "comp_byp", "comp_rsp",
    ]);
    r.set("lastsess", -1);
    r.zeros(&["qtime", "ctime", "rtime", "ttime"]);
    r.set("mode", "tcp");
    r.set("algo", settings.algo.name());
    r.zeros(&[
        "wrew",
        "connect",
        "reuse",
        "qtime_max",
        "ctime_max",
        "rtime_max",
        "ttime_max",
        "eint",
        "agg_server_status",
        "agg_server_check_status",
        "agg_check_status",
    ]);
    r.set("uweight", uweight);
    r
}

/// What `show stat [{<iid>|<proxy>} <type> <sid>] [no-maint] [up]` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatFilter {
    /// Proxy id, -1 = all.
    pub iid: i64,
    /// Bit mask: 1 frontends, 2 backends, 4 servers.
    pub types: i64,
    /// Server id, -1 = all.
    pub sid: i64,
    pub no_maint: bool,
    pub up: bool,
}

impl Default for StatFilter {
    fn default() -> Self {
        StatFilter {
            iid: -1,
            types: 7,
            sid: -1,
            no_maint: false,
            up: false,
        }
    }
}

/// C `atoi`: leading digits (with an optional sign), 0 otherwise.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let n: i64 = digits
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .take(18)
        .fold(0, |acc, c| {
            acc * 10 + i64::from(c.to_digit(10).unwrap_or(0))
        });
    if neg {
        -n
    } else {
        n
    }
}

/// Parse the arguments of `show stat`.
pub fn parse_stat_args(rt: &Runtime, args: &[&str]) -> Result<StatFilter, String> {
    let mut f = StatFilter::default();
    let mut rest = args;
    if args.len() >= 3 {
        let name = args[0];
        let by_name = rt
            .frontend(name)
            .map(|fe| i64::from(fe.id))
            .or_else(|| rt.backend(name).map(|be| i64::from(be.id)));
        f.iid = by_name.unwrap_or_else(|| atoi(name));
        if f.iid == 0 {
            return Err("No such proxy.\n".into());
        }
        f.types = atoi(args[1]);
        f.sid = atoi(args[2]);
        rest = &args[3..];
    }
    for a in rest {
        match *a {
            "no-maint" => f.no_maint = true,
            "up" => f.up = true,
            "typed" | "json" | "desc" => {
                return Err(format!(
                    "proxyd does not support 'show stat {a}'; use plain 'show stat'.\n"
                ))
            }
            _ => {}
        }
    }
    Ok(f)
}

fn frontend_row(fe: &crate::state::FrontendState, global_maxconn: u32, status: &str) -> Row {
    let c = &fe.counters;
    let mut r = Row::new(&fe.name, "FRONTEND");
    r.set("scur", c.scur.get());
    r.set("smax", c.smax.get());
    let maxconn = fe.maxconn.load(std::sync::atomic::Ordering::Relaxed);
    r.set("slim", if maxconn > 0 { maxconn } else { global_maxconn });
    r.set("stot", c.stot.get());
    r.set("bin", c.bin.get());
    r.set("bout", c.bout.get());
    r.set("dreq", c.dreq.get());
    r.zeros(&["dresp", "ereq"]);
    r.set("status", status);
    r.set("iid", fe.id);
    r.set("sid", 0);
    r.set("type", 0);
    r.zeros(&[
        "rate",
        "rate_lim",
        "rate_max",
        "req_rate",
        "req_rate_max",
        "req_tot",
        "comp_in",
        "comp_out",
        "comp_byp",
        "comp_rsp",
        "conn_rate",
        "conn_rate_max",
        "dcon",
        "dses",
        "wrew",
        "eint",
    ]);
    r.set("conn_tot", c.stot.get());
    r.set("mode", "tcp");
    r
}

/// `show stat`: HAProxy's CSV, proxies in declaration (id) order, each
/// with its FRONTEND row, its server rows and its BACKEND row.
pub fn show_stat(rt: &Runtime, now: u64) -> String {
    show_stat_filtered(rt, now, &StatFilter::default())
}

pub fn show_stat_filtered(rt: &Runtime, now: u64, f: &StatFilter) -> String {
    let mut out = String::from("# ");
    out.push_str(&STAT_FIELDS.join(","));
    out.push_str(",\n");
    let global_maxconn = rt.maxconn.load(std::sync::atomic::Ordering::Relaxed);
    let status = if rt.stopping.load(std::sync::atomic::Ordering::Relaxed) {
        "STOP"
    } else if rt.paused.load(std::sync::atomic::Ordering::Relaxed) {
        "PAUSED"
    } else {
        "OPEN"
    };
    let frontends = rt.frontends();
    let backends = rt.backends();
    let mut ids: Vec<u32> = frontends
        .iter()
        .map(|fe| fe.id)
        .chain(backends.iter().map(|be| be.id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        if f.iid != -1 && f.iid != i64::from(id) {
            continue;
        }
        if f.types & 1 != 0 {
            for fe in frontends.iter().filter(|fe| fe.id == id) {
                frontend_row(fe, global_maxconn, status).finish(&mut out);
            }
        }
        for be in backends.iter().filter(|be| be.id == id) {
            if f.types & 4 != 0 {
                for s in be.servers().iter() {
                    if f.sid != -1 && f.sid != i64::from(s.id) {
                        continue;
                    }
                    let maint = s.admin() == AdminState::Maint;
                    if f.no_maint && maint {
                        continue;
                    }
                    if f.up && (maint || (!s.is_up() && s.with_record(|r| r.health()) == 0)) {
                        continue;
                    }
                    server_row(be, s, now).finish(&mut out);
                }
            }
            if f.types & 2 != 0 {
                backend_row(be, f.up || f.no_maint).finish(&mut out);
            }
        }
    }
    out
}

/// `0d 0h00m01s`.
pub fn format_uptime(secs: u64) -> String {
    format!(
        "{}d {}h{:02}m{:02}s",
        secs / 86400,
        (secs % 86400) / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

fn nofile_limit() -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we pass.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    if rc == 0 {
        rl.rlim_cur
    } else {
        0
    }
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

/// `show info`.
pub fn show_info(rt: &Runtime) -> String {
    let up = rt.uptime().as_secs();
    let start = rt
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let maxconn = rt.maxconn.load(std::sync::atomic::Ordering::Relaxed);
    let stopping = rt.stopping.load(std::sync::atomic::Ordering::Relaxed);
    let listeners: usize = rt.frontends().len();
    let version = env!("CARGO_PKG_VERSION");
    let mut s = String::new();
    let mut kv = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(s, "{k}: {v}");
    };
    kv("Name", &"proxyd");
    kv("Version", &version);
    kv("Release_date", &RELEASE_DATE);
    kv("Nbthread", &rt.nbthread);
    kv("Nbproc", &1);
    kv("Process_num", &1);
    kv("Pid", &std::process::id());
    kv("Uptime", &format_uptime(up));
    kv("Uptime_sec", &up);
    kv("Memmax_MB", &0);
    kv("Ulimit-n", &nofile_limit());
    kv("Maxconn", &maxconn);
    kv("Hard_maxconn", &maxconn);
    kv("CurrConns", &rt.actconn.get());
    kv("CumConns", &rt.cumconns.get());
    kv("node", &hostname());
    kv("Stopping", &u8::from(stopping));
    kv("Listeners", &listeners);
    kv("Build info", &version);
    kv("Start_time_sec", &start);
    s
}

/// `show backend`.
pub fn show_backend(rt: &Runtime) -> String {
    let mut s = String::from("# name\n");
    for be in rt.backends().iter() {
        s.push_str(&be.name);
        s.push('\n');
    }
    s
}

fn op_state(s: &ServerState) -> u8 {
    if s.is_up() && s.admin() != AdminState::Maint {
        2
    } else {
        0
    }
}

fn admin_flags(s: &ServerState) -> u8 {
    match s.admin() {
        AdminState::Ready => 0,
        AdminState::Maint => 0x01,
        AdminState::Drain => 0x08,
    }
}

/// HAProxy's numeric `HCHK_STATUS_*` and `CHK_RES_*` values.
fn check_status_num(st: CheckStatus) -> (u8, u8) {
    match st {
        CheckStatus::Init => (1, 0),
        CheckStatus::SockErr => (5, 2),
        CheckStatus::L4Ok => (6, 3),
        CheckStatus::L4Tout => (7, 2),
        CheckStatus::L4Con => (8, 2),
        CheckStatus::L6Ok => (9, 3),
        CheckStatus::L6Tout => (10, 2),
        CheckStatus::L6Rsp => (11, 2),
        CheckStatus::L7Tout => (12, 2),
        CheckStatus::L7Rsp => (13, 2),
        CheckStatus::L7Ok => (15, 3),
        CheckStatus::L7Sts => (17, 2),
    }
}

/// `show servers state [BACKEND]` (format version 1).
pub fn show_servers_state(rt: &Runtime, backend: Option<&str>, now: u64) -> Result<String, String> {
    let backends: Vec<Arc<BackendState>> = match backend {
        Some(name) => match rt.backend(name) {
            Some(b) => vec![b],
            None => return Err("Can't find backend.\n".into()),
        },
        None => rt.backends().to_vec(),
    };
    let mut out = String::from(
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n",
    );
    for be in &backends {
        for s in be.servers().iter() {
            let h = s.with_record(|r| r.snapshot(now));
            let status = h
                .last
                .as_ref()
                .map(|l| l.status)
                .unwrap_or(CheckStatus::Init);
            // an unchecked server shows INI, no result, and health = rise
            // (HAProxy's default 2) unless it is in maintenance
            let (st, res, health) = if h.params.is_some() {
                let (st, res) = check_status_num(status);
                (st, res, h.health)
            } else {
                (1, 0, if h.paused { 0 } else { 2 })
            };
            let check_port = s.check_io.check_port();
            let mut chk_state = match (h.params.is_some(), h.paused) {
                (false, _) => 0,
                (true, false) => 0x6,
                (true, true) => 0xe,
            };
            // a running check has no result yet (CHK_ST_INPROGRESS)
            let res = if h.params.is_some() && s.check_io.in_progress() {
                chk_state |= 0x1;
                0
            } else {
                res
            };
            let _ = writeln!(
                out,
                "{} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 0 0 - {} - 0 {} - - {}",
                be.id,
                be.name,
                s.id,
                s.name,
                s.addr.ip(),
                op_state(s),
                admin_flags(s),
                s.weight(),
                s.initial_weight(),
                h.since_change.as_secs(),
                st,
                res,
                health,
                chk_state,
                s.addr.port(),
                check_port,
                check_port,
            );
        }
    }
    Ok(out)
}

fn log_notice(be: &BackendState, msg: &str) {
    be.log_event(common::log::NOTICE, msg);
}

/// Change a server's administrative state the way the stats socket does,
/// with HAProxy's log lines.
pub fn set_admin_state(be: &BackendState, s: &ServerState, target: AdminState) {
    let c = be.update_server(s, |r| r.set_admin(target, unix_now()));
    let prev = c.before.admin;
    if prev == target {
        return;
    }
    let opts = s.check_io.opts();
    match (prev, target) {
        (_, AdminState::Maint) => {
            let was_up = c.before.up;
            let was_draining = prev == AdminState::Drain;
            if opts.shutdown_sessions {
                s.shutdown_sessions();
            }
            let msg = maint_message(&be.name, &s.name, s.backup, was_up, &counts(be, s));
            if was_up && !was_draining {
                be.log_event(common::log::ALERT, &msg);
            } else {
                log_notice(be, &msg);
            }
        }
        (AdminState::Maint, _) => {
            // "start OK but check immediately" (the record did both)
            if opts.shutdown_backup_sessions {
                crate::checks::shutdown_backup_sessions(be, s);
            }
            log_notice(
                be,
                &leave_maint_message(
                    &be.name,
                    &s.name,
                    s.backup,
                    c.after.up,
                    target == AdminState::Drain,
                ),
            );
        }
        (AdminState::Ready, AdminState::Drain) => {
            log_notice(
                be,
                &drain_message(&be.name, &s.name, s.backup, &counts(be, s)),
            );
        }
        (AdminState::Drain, AdminState::Ready) => {
            log_notice(
                be,
                &leave_drain_message(&be.name, &s.name, s.backup, c.after.up),
            );
        }
        _ => {}
    }
    note_availability(be);
}

/// Parse a weight as `set server ... weight` does: absolute `0..=256` or
/// `N%` of the initial weight.
pub fn parse_weight(s: &ServerState, algo: Algo, text: &str) -> Result<u32, String> {
    if text.is_empty() {
        return Err("Require <weight> or <weight%>.\n".into());
    }
    let digits_end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let num = &text[..digits_end];
    let rest = &text[digits_end..];
    let Ok(w) = num.parse::<i64>() else {
        return Err("Empty weight string empty or preceded by garbage".into());
    };
    let w = if rest == "%" {
        if w < 0 {
            return Err("Relative weight must be positive.\n".into());
        }
        (i64::from(s.initial_weight()) * w.min(25600) / 100).min(256)
    } else if !(0..=256).contains(&w) {
        return Err("Absolute weight can only be between 0 and 256 inclusive.\n".into());
    } else if !rest.is_empty() {
        return Err("Trailing garbage in weight string".into());
    } else {
        w
    };
    let w = u32::try_from(w).unwrap_or(0);
    let static_algo = matches!(algo, Algo::StaticRr | Algo::Source);
    if w != 0 && w != s.initial_weight() && static_algo {
        return Err(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n"
                .into(),
        );
    }
    Ok(w)
}

struct HelpEntry {
    usage: &'static str,
    desc: &'static str,
    admin: bool,
}

const HELP: &[HelpEntry] = &[
    HelpEntry {
        usage: "disable server <bk>/<srv>",
        desc: "put a server in maintenance (same as 'set server ... state maint')",
        admin: true,
    },
    HelpEntry {
        usage: "enable server <bk>/<srv>",
        desc: "take a server out of maintenance",
        admin: true,
    },
    HelpEntry {
        usage: "get weight <bk>/<srv>",
        desc: "report a server's current and initial weight",
        admin: false,
    },
    HelpEntry {
        usage: "set server <bk>/<srv> [opts]",
        desc: "change a server's state (ready|drain|maint), health (up|down) or weight",
        admin: true,
    },
    HelpEntry {
        usage: "set weight <bk>/<srv> <weight>",
        desc: "change a server's weight (same as 'set server ... weight')",
        admin: true,
    },
    HelpEntry {
        usage: "show backend",
        desc: "list the backends",
        admin: false,
    },
    HelpEntry {
        usage: "show info",
        desc: "report information about the running process",
        admin: false,
    },
    HelpEntry {
        usage: "show servers state [<backend>]",
        desc: "dump the servers' volatile state (all or one backend)",
        admin: false,
    },
    HelpEntry {
        usage: "show stat [<iid> <type> <sid>] [up|no-maint]",
        desc: "report counters for each proxy and server (CSV)",
        admin: false,
    },
    HelpEntry {
        usage: "show version",
        desc: "show the version of the running process",
        admin: false,
    },
    HelpEntry {
        usage: "clear counters [all]",
        desc: "reset the maximum counters (or all of them)",
        admin: true,
    },
    HelpEntry {
        usage: "shutdown sessions server <bk>/<srv>",
        desc: "close every session established on a server",
        admin: true,
    },
    HelpEntry {
        usage: "help [<command>]",
        desc: "list matching or all commands",
        admin: false,
    },
    HelpEntry {
        usage: "prompt",
        desc: "toggle interactive mode with prompt",
        admin: false,
    },
    HelpEntry {
        usage: "quit",
        desc: "disconnect",
        admin: false,
    },
];

fn help_lines(level: StatsLevel, filter: &[String]) -> String {
    let mut s = String::new();
    for e in HELP {
        if e.admin && level < StatsLevel::Admin {
            continue;
        }
        let words: Vec<&str> = e.usage.split_whitespace().collect();
        let matches = filter
            .iter()
            .zip(words.iter())
            .all(|(f, w)| w.starts_with(f.as_str()));
        if !matches {
            continue;
        }
        let _ = writeln!(s, "  {:<40}: {}", e.usage, e.desc);
    }
    s
}

/// The state of one CLI connection.
#[derive(Debug)]
pub struct Session {
    pub level: StatsLevel,
    pub interactive: bool,
    pub quit: bool,
}

impl Session {
    pub fn new(level: StatsLevel) -> Self {
        Session {
            level,
            interactive: false,
            quit: false,
        }
    }
}

/// Split a command into words: blanks separate, `\` escapes the next
/// character.
pub fn split_args(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            ' ' | '\t' => {
                if in_word {
                    args.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            _ => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        args.push(cur);
    }
    args
}

fn find_server(
    rt: &Runtime,
    spec: Option<&String>,
) -> Result<(Arc<BackendState>, Arc<ServerState>), String> {
    let Some((bk, sv)) = spec.and_then(|s| s.split_once('/')) else {
        return Err("Require 'backend/server'.\n".into());
    };
    let Some(be) = rt.backend(bk) else {
        return Err("No such backend.\n".into());
    };
    let Some(s) = be.server(sv) else {
        return Err("No such server.\n".into());
    };
    Ok((be, s))
}

fn unknown(level: StatsLevel, args: &[String]) -> String {
    let first: Vec<String> = args.iter().take(1).cloned().collect();
    let matching = if first.is_empty() {
        String::new()
    } else {
        help_lines(level, &first)
    };
    if matching.is_empty() {
        format!(
            "Unknown command. Please enter one of the following commands only:\n{}",
            help_lines(level, &[])
        )
    } else {
        format!(
            "Unknown command, but maybe one of the following ones is a better match:\n{matching}"
        )
    }
}

const PERMISSION_DENIED: &str = "Permission denied\n";

/// Execute one command; returns its output (without the trailing prompt).
pub fn execute(rt: &Runtime, session: &mut Session, cmd: &str) -> String {
    let args = split_args(cmd);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let admin = session.level >= StatsLevel::Admin;
    let now = unix_now();
    match a.as_slice() {
        ["help", rest @ ..] => {
            let filter: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            format!(
                "The following commands are valid at this level:\n{}",
                help_lines(session.level, &filter)
            )
        }
        ["prompt", ..] => {
            session.interactive = !session.interactive;
            String::new()
        }
        ["quit", ..] => {
            session.quit = true;
            String::new()
        }
        ["show", "info", ..] => show_info(rt),
        ["show", "stat", rest @ ..] => match parse_stat_args(rt, rest) {
            Ok(f) => show_stat_filtered(rt, now, &f),
            Err(e) => e,
        },
        ["show", "backend", ..] => show_backend(rt),
        ["show", "servers", "state", rest @ ..] => {
            match show_servers_state(rt, rest.first().copied(), now) {
                Ok(s) | Err(s) => s,
            }
        }
        ["get", "weight", ..] => match find_server(rt, args.get(2)) {
            Err(e) => e,
            Ok((_, s)) => format!("{} (initial {})\n", s.weight(), s.initial_weight()),
        },
        ["set", "weight", ..] => {
            if !admin {
                return PERMISSION_DENIED.into();
            }
            match find_server(rt, args.get(2)) {
                Err(e) => e,
                Ok((be, s)) => set_weight(&be, &s, args.get(3).map(String::as_str).unwrap_or("")),
            }
        }
        ["set", "server", ..] => {
            if !admin {
                return PERMISSION_DENIED.into();
            }
            let (be, s) = match find_server(rt, args.get(2)) {
                Err(e) => return e,
                Ok(x) => x,
            };
            let value = args.get(4).map(String::as_str).unwrap_or("");
            match args.get(3).map(String::as_str) {
                Some("state") => match value {
                    "ready" => {
                        set_admin_state(&be, &s, AdminState::Ready);
                        String::new()
                    }
                    "drain" => {
                        set_admin_state(&be, &s, AdminState::Drain);
                        String::new()
                    }
                    "maint" => {
                        set_admin_state(&be, &s, AdminState::Maint);
                        String::new()
                    }
                    _ => "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".into(),
                },
                Some("weight") => set_weight(&be, &s, value),
                Some("health") => match value {
                    "up" => {
                        force_health(&be, &s, true);
                        String::new()
                    }
                    "down" => {
                        force_health(&be, &s, false);
                        String::new()
                    }
                    _ => "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n".into(),
                },
                _ => "usage: set server <backend>/<server> health | state | weight\n".into(),
            }
        }
        ["show", "version", ..] => format!("{}\n", env!("CARGO_PKG_VERSION")),
        ["clear", "counters", rest @ ..] => {
            if !admin {
                return PERMISSION_DENIED.into();
            }
            clear_counters(rt, rest.first() == Some(&"all"));
            String::new()
        }
        ["shutdown", "sessions", "server", ..] => {
            if !admin {
                return PERMISSION_DENIED.into();
            }
            match find_server(rt, args.get(3)) {
                Err(e) => e,
                Ok((_, s)) => {
                    s.shutdown_sessions();
                    String::new()
                }
            }
        }
        ["disable", "server", ..] => {
            if !admin {
                return PERMISSION_DENIED.into();
            }
            match find_server(rt, args.get(2)) {
                Err(e) => e,
                Ok((be, s)) => {
                    set_admin_state(&be, &s, AdminState::Maint);
                    String::new()
                }
            }
        }
        ["enable", "server", ..] => {
            if !admin {
                return PERMISSION_DENIED.into();
            }
            match find_server(rt, args.get(2)) {
                Err(e) => e,
                Ok((be, s)) => {
                    if s.admin() == AdminState::Maint {
                        set_admin_state(&be, &s, AdminState::Ready);
                    }
                    String::new()
                }
            }
        }
        _ => unknown(session.level, &args),
    }
}

fn clear(c: &crate::state::Counters, all: bool) {
    c.smax.set(c.scur.get());
    c.qmax.set(c.qcur.get());
    if all {
        for k in [
            &c.stot, &c.bin, &c.bout, &c.econ, &c.eresp, &c.wretr, &c.wredis, &c.lbtot, &c.dreq,
        ] {
            k.set(0);
        }
    }
}

/// `clear counters [all]`: the maximum values, or every cumulated counter.
fn clear_counters(rt: &Runtime, all: bool) {
    for fe in rt.frontends().iter() {
        clear(&fe.counters, all);
    }
    for be in rt.backends().iter() {
        clear(&be.counters, all);
        for s in be.servers().iter() {
            clear(&s.counters, all);
            if all {
                s.update(|r| r.clear_counters());
            }
        }
    }
}

fn set_weight(be: &BackendState, s: &ServerState, text: &str) -> String {
    match parse_weight(s, be.settings().algo, text) {
        Err(e) => e,
        Ok(w) => {
            be.update_server(s, |r| r.set_weight(w, unix_now()));
            note_availability(be);
            String::new()
        }
    }
}

/// `set server BE/SRV health up|down`: the health counter goes to fully
/// up or to 0 at once, as HAProxy does (ignored in maintenance or without
/// checks).
fn force_health(be: &BackendState, s: &ServerState, up: bool) {
    let c = be.update_server(s, |r| r.force(up, unix_now()));
    if c.transition.is_some() {
        let reason = crate::health::Reason::Text("changed from CLI");
        crate::checks::apply_transition(be, s, &c, reason, s.check_io.opts());
    }
}

/// Process a buffer of request bytes for a connection: every command
/// terminated by an unescaped `;` or a newline is executed (an unterminated
/// one waits for more input, and is dropped at close, as HAProxy does).
/// Returns the bytes to send back and how many input bytes were consumed.
pub fn process_input(rt: &Runtime, session: &mut Session, input: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut consumed = 0;
    loop {
        let rest = &input[consumed..];
        let mut i = 0;
        let mut end = None;
        while i < rest.len() {
            match rest[i] {
                b'\\' => i += 2,
                b';' | b'\n' => {
                    end = Some(i);
                    break;
                }
                _ => i += 1,
            }
        }
        let Some(end) = end else {
            break;
        };
        let raw = String::from_utf8_lossy(&rest[..end]).into_owned();
        consumed += end + 1;
        let cmd = raw.strip_suffix('\r').unwrap_or(&raw);
        let resp = execute(rt, session, cmd);
        out.extend_from_slice(resp.as_bytes());
        if session.quit {
            break;
        }
        out.extend_from_slice(if session.interactive { b"\n> " } else { b"\n" });
    }
    (out, consumed)
}

/// A bound stats socket, ready to serve (bound before chroot and privilege
/// drop, as HAProxy does).
#[derive(Debug)]
pub enum Bound {
    Unix {
        listener: std::os::unix::net::UnixListener,
        path: PathBuf,
        level: StatsLevel,
    },
    Tcp {
        listener: std::net::TcpListener,
        level: StatsLevel,
    },
}

/// Bind a `stats socket`. A unix socket is bound under a temporary name,
/// given its mode and owner, then renamed over `PATH` (replacing a stale
/// socket left by a previous process).
pub fn bind(sock: &StatsSocket) -> io::Result<Bound> {
    match &sock.addr {
        StatsAddr::Unix(path) => {
            let tmp = tmp_path(path);
            let _ = std::fs::remove_file(&tmp);
            let listener = std::os::unix::net::UnixListener::bind(&tmp)?;
            let setup = || -> io::Result<()> {
                if let Some(mode) = sock.mode {
                    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
                }
                if sock.uid.is_some() || sock.gid.is_some() {
                    std::os::unix::fs::chown(&tmp, sock.uid, sock.gid)?;
                }
                std::fs::rename(&tmp, path)
            };
            if let Err(e) = setup() {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            Ok(Bound::Unix {
                listener,
                path: path.clone(),
                level: sock.level,
            })
        }
        StatsAddr::Tcp(addr) => Ok(Bound::Tcp {
            listener: std::net::TcpListener::bind(addr)?,
            level: sock.level,
        }),
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{}.tmp", std::process::id()));
    PathBuf::from(s)
}

/// Serve a bound stats socket until `cancel`. Each connection is one task
/// on `tracker`; an idle connection is closed after `idle` (`stats
/// timeout`).
pub fn serve(
    bound: Bound,
    rt: Arc<Runtime>,
    idle: Duration,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) -> io::Result<()> {
    let t2 = tracker.clone();
    match bound {
        Bound::Unix {
            listener,
            path,
            level,
        } => {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::UnixListener::from_std(listener)?;
            tracker.spawn(async move {
                loop {
                    let conn = tokio::select! {
                        _ = cancel.cancelled() => break,
                        c = listener.accept() => c,
                    };
                    match conn {
                        Ok((stream, _)) => {
                            t2.spawn(handle_conn(stream, rt.clone(), level, idle, cancel.clone()));
                        }
                        Err(e) => {
                            tracing::warn!("stats socket {}: accept: {e}", path.display());
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            });
        }
        Bound::Tcp { listener, level } => {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            tracker.spawn(async move {
                loop {
                    let conn = tokio::select! {
                        _ = cancel.cancelled() => break,
                        c = listener.accept() => c,
                    };
                    match conn {
                        Ok((stream, _)) => {
                            t2.spawn(handle_conn(stream, rt.clone(), level, idle, cancel.clone()));
                        }
                        Err(e) => {
                            tracing::warn!("stats socket: accept: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            });
        }
    }
    Ok(())
}

/// Longest request line accepted (HAProxy's buffer size).
const MAX_LINE: usize = 16384;

async fn handle_conn<S>(
    mut stream: S,
    rt: Arc<Runtime>,
    level: StatsLevel,
    idle: Duration,
    cancel: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut session = Session::new(level);
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = vec![0u8; 4096];
    loop {
        let n = tokio::select! {
            _ = cancel.cancelled() => return,
            r = tokio::time::timeout(idle, stream.read(&mut chunk)) => match r {
                Ok(Ok(n)) => n,
                _ => return,
            },
        };
        if n == 0 {
            // An unterminated last command is not executed (as HAProxy).
            let _ = stream.shutdown().await;
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let (out, consumed) = process_input(&rt, &mut session, &buf);
        buf.drain(..consumed);
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
        if session.quit || (consumed > 0 && !session.interactive && buf.is_empty()) {
            let _ = stream.shutdown().await;
            return;
        }
        if buf.len() > MAX_LINE {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{CheckResult, HealthParams};
    use crate::state::{BackendSettings, FrontendState, ServerConf};
    use std::net::SocketAddr;

    fn conf(name: &str, id: u32, port: u16, check: bool) -> ServerConf {
        ServerConf {
            name: name.into(),
            id,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            backup: false,
            maxconn: 0,
            maxqueue: 0,
            weight: 1,
            check,
            disabled: false,
        }
    }

    fn runtime() -> Arc<Runtime> {
        let rt = Runtime::new(100, 2);
        let s1 = Arc::new(ServerState::new(&conf("web1", 1, 8081, true)));
        let s2 = Arc::new(ServerState::new(&conf("web2", 2, 8082, true)));
        let p = HealthParams {
            rise: 2,
            fall: 3,
            ..Default::default()
        };
        s1.update(|r| r.configure_checks(Some(p), unix_now()));
        s2.update(|r| r.configure_checks(Some(p), unix_now()));
        let be = BackendState::new("web-servers", 3, BackendSettings::default(), vec![s1, s2]);
        let fe = FrontendState::new("mysite", 2, 0);
        rt.set_proxies(vec![fe], vec![be]);
        rt
    }

    fn run(rt: &Runtime, input: &str) -> String {
        let mut s = Session::new(StatsLevel::Admin);
        let (out, _) = process_input(rt, &mut s, input.as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn uptime_format() {
        assert_eq!(format_uptime(1), "0d 0h00m01s");
        assert_eq!(format_uptime(90061), "1d 1h01m01s");
    }

    #[test]
    fn show_stat_header_and_rows() {
        let rt = runtime();
        let be = rt.backend("web-servers").unwrap();
        let web1 = be.server("web1").unwrap();
        let r = CheckResult::new(CheckStatus::L4Con, "Connection refused", Duration::ZERO);
        be.update_server(&web1, |rec| rec.check_result(r, unix_now()));
        let out = run(&rt, "show stat\n");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,"));
        let hdr: Vec<&str> = lines[0][2..].split(',').collect();
        let get = |line: &str, name: &str| -> String {
            let v: Vec<&str> = line.split(',').collect();
            let i = hdr.iter().position(|h| *h == name).unwrap();
            v[i].to_string()
        };
        assert_eq!(lines.len(), 5 + 1); // header, FE, 2 servers, BE, empty line
        assert_eq!(get(lines[1], "svname"), "FRONTEND");
        assert_eq!(get(lines[1], "status"), "OPEN");
        assert_eq!(get(lines[1], "slim"), "100");
        assert_eq!(get(lines[2], "svname"), "web1");
        assert_eq!(get(lines[2], "status"), "DOWN");
        assert_eq!(get(lines[2], "check_status"), "L4CON");
        assert_eq!(get(lines[2], "check_desc"), "Layer4 connection problem");
        assert_eq!(get(lines[2], "last_chk"), "Connection refused");
        assert_eq!(get(lines[2], "chkfail"), "1");
        assert_eq!(get(lines[2], "chkdown"), "1");
        assert_eq!(get(lines[2], "check_health"), "0");
        assert_eq!(get(lines[2], "addr"), "127.0.0.1:8081");
        assert_eq!(get(lines[2], "iid"), "3");
        assert_eq!(get(lines[2], "sid"), "1");
        assert_eq!(get(lines[2], "type"), "2");
        // web2 never checked yet: health = rise, "UP 1/3" (transition)
        assert_eq!(get(lines[3], "status"), "UP 1/3");
        assert_eq!(get(lines[3], "check_status"), "INI");
        assert_eq!(get(lines[4], "svname"), "BACKEND");
        assert_eq!(get(lines[4], "status"), "UP");
        assert_eq!(get(lines[4], "act"), "1");
        assert_eq!(get(lines[4], "algo"), "roundrobin");
        for l in &lines[1..5] {
            assert_eq!(l.split(',').count(), hdr.len(), "{l}");
        }
    }

    #[test]
    fn show_stat_filters() {
        let rt = runtime();
        let be = rt.backend("web-servers").unwrap();
        let web2 = be.server("web2").unwrap();
        let rows = |cmd: &str| -> Vec<String> {
            run(&rt, cmd)
                .lines()
                .skip(1)
                .filter(|l| !l.is_empty())
                .map(|l| l.split(',').take(2).collect::<Vec<_>>().join("/"))
                .collect()
        };
        assert_eq!(
            rows("show stat\n"),
            [
                "mysite/FRONTEND",
                "web-servers/web1",
                "web-servers/web2",
                "web-servers/BACKEND"
            ]
        );
        assert_eq!(
            rows("show stat -1 4 -1\n"),
            ["web-servers/web1", "web-servers/web2"]
        );
        assert_eq!(rows("show stat web-servers 4 2\n"), ["web-servers/web2"]);
        assert_eq!(rows("show stat 3 2 -1\n"), ["web-servers/BACKEND"]);
        assert_eq!(rows("show stat mysite 1 -1\n"), ["mysite/FRONTEND"]);
        set_admin_state(&be, &web2, AdminState::Maint);
        assert_eq!(rows("show stat -1 4 -1 no-maint\n"), ["web-servers/web1"]);
        assert_eq!(rows("show stat -1 4 -1 up\n"), ["web-servers/web1"]);
        assert_eq!(run(&rt, "show stat nope 1 1\n"), "No such proxy.\n\n");
    }

    #[test]
    fn admin_commands() {
        let rt = runtime();
        let be = rt.backend("web-servers").unwrap();
        let web2 = be.server("web2").unwrap();
        assert_eq!(run(&rt, "set server web-servers/web2 state drain\n"), "\n");
        assert_eq!(web2.admin(), AdminState::Drain);
        assert!(run(&rt, "show stat\n").contains(",DRAIN 1/3,"));
        assert_eq!(run(&rt, "set server web-servers/web2 state maint\n"), "\n");
        assert_eq!(web2.admin(), AdminState::Maint);
        assert!(web2.with_record(|r| r.checks_paused()));
        assert!(run(&rt, "show stat\n").contains(",MAINT,"));
        assert_eq!(run(&rt, "enable server web-servers/web2\n"), "\n");
        assert_eq!(web2.admin(), AdminState::Ready);
        assert!(web2.is_up());
        assert_eq!(run(&rt, "disable server web-servers/web2\n"), "\n");
        assert_eq!(web2.admin(), AdminState::Maint);
        assert_eq!(run(&rt, "set server web-servers/web2 state ready\n"), "\n");
        assert_eq!(
            run(&rt, "set server web-servers/web2 state bogus\n"),
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
        );
        assert_eq!(
            run(&rt, "set server web-servers/nope state drain\n"),
            "No such server.\n\n"
        );
        assert_eq!(
            run(&rt, "set server nope/web2 state drain\n"),
            "No such backend.\n\n"
        );
        assert_eq!(
            run(&rt, "set server web-servers\n"),
            "Require 'backend/server'.\n\n"
        );
        assert_eq!(
            run(&rt, "get weight web-servers/web2\n"),
            "1 (initial 1)\n\n"
        );
        assert_eq!(run(&rt, "set server web-servers/web2 weight 50\n"), "\n");
        assert_eq!(
            run(&rt, "get weight web-servers/web2\n"),
            "50 (initial 1)\n\n"
        );
        assert_eq!(
            run(&rt, "set server web-servers/web2 weight 300\n"),
            "Absolute weight can only be between 0 and 256 inclusive.\n\n"
        );
        assert_eq!(
            run(&rt, "set server web-servers/web2 weight abc\n"),
            "Empty weight string empty or preceded by garbage\n"
        );
        assert_eq!(run(&rt, "set weight web-servers/web2 200%\n"), "\n");
        assert_eq!(web2.weight(), 2);
        let mut user = Session::new(StatsLevel::User);
        let (out, _) = process_input(&rt, &mut user, b"set server web-servers/web2 state maint\n");
        assert_eq!(out, b"Permission denied\n\n");
    }

    #[test]
    fn clear_and_shutdown() {
        let rt = runtime();
        let be = rt.backend("web-servers").unwrap();
        let web1 = be.server("web1").unwrap();
        web1.counters.open();
        web1.counters.open();
        web1.counters.close();
        assert_eq!(run(&rt, "clear counters\n"), "\n");
        assert_eq!((web1.counters.smax.get(), web1.counters.stot.get()), (1, 2));
        assert_eq!(run(&rt, "clear counters all\n"), "\n");
        assert_eq!(web1.counters.stot.get(), 0);
        let t = web1.kill_token();
        assert_eq!(
            run(&rt, "shutdown sessions server web-servers/web1\n"),
            "\n"
        );
        assert!(t.is_cancelled());
        assert_eq!(
            run(&rt, "shutdown sessions server web-servers/nope\n"),
            "No such server.\n\n"
        );
        assert!(run(&rt, "show version\n").ends_with("\n\n"));
    }

    #[test]
    fn health_force() {
        let rt = runtime();
        let be = rt.backend("web-servers").unwrap();
        let web1 = be.server("web1").unwrap();
        assert_eq!(run(&rt, "set server web-servers/web1 health down\n"), "\n");
        assert!(!web1.is_up());
        assert_eq!(run(&rt, "set server web-servers/web1 health up\n"), "\n");
        assert!(web1.is_up());
        assert_eq!(web1.with_record(|r| r.health()), 4);
    }

    #[test]
    fn protocol() {
        let rt = runtime();
        // several commands per line, prompt mode, quit
        let out = run(&rt, "show backend;get weight web-servers/web1\n");
        assert_eq!(out, "# name\nweb-servers\n\n1 (initial 1)\n\n");
        let out = run(&rt, "prompt\nshow backend\nquit\nshow backend\n");
        assert_eq!(out, "\n> # name\nweb-servers\n\n> ");
        let out = run(&rt, "bogus\n");
        assert!(
            out.starts_with("Unknown command. Please enter one of the following commands only:\n")
        );
        assert!(out.contains("  show stat [<iid> <type> <sid>] [up|no-maint]: "));
        let out = run(&rt, "show\n");
        assert!(out.starts_with("Unknown command, but maybe one of the following ones is a better match:\n  show backend"));
        let out = run(&rt, "help\n");
        assert!(out.starts_with("The following commands are valid at this level:\n"));
        let out = run(&rt, "show servers state nope\n");
        assert_eq!(out, "Can't find backend.\n\n");
        let out = run(&rt, "show servers state web-servers\n");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "1");
        assert!(lines[1].starts_with("# be_id be_name srv_id srv_name srv_addr srv_op_state"));
        assert_eq!(
            lines[2],
            "3 web-servers 1 web1 127.0.0.1 2 0 1 1 0 1 0 2 6 0 0 0 - 8081 - 0 0 - - 0"
        );
        let info = run(&rt, "show info\n");
        assert!(info.starts_with("Name: proxyd\nVersion: "));
        assert!(info.contains("\nUptime: 0d 0h00m0"));
        assert!(info.contains("\nMaxconn: 100\n"));
    }

    #[test]
    fn args_and_commands_split() {
        assert_eq!(
            split_args("  set  server a/b\\ c state "),
            vec!["set", "server", "a/b c", "state"]
        );
    }

    #[test]
    fn partial_lines_wait() {
        let rt = runtime();
        let mut s = Session::new(StatsLevel::Admin);
        let (out, consumed) = process_input(&rt, &mut s, b"show back");
        assert!(out.is_empty());
        assert_eq!(consumed, 0);
        // `;` terminates a command too; the rest waits
        let (out, consumed) = process_input(&rt, &mut s, b"show backend;show back");
        assert_eq!(out, b"# name\nweb-servers\n\n");
        assert_eq!(consumed, 13);
        // an escaped `;` does not
        let (out, _) = process_input(&rt, &mut s, b"get weight web-servers/web1\\;x\n");
        assert_eq!(out, b"No such server.\n\n");
        // "cmd;" then newline: an empty command follows
        let (out, _) = process_input(&rt, &mut s, b"show backend;\n");
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with("# name\nweb-servers\n\nUnknown command."),
            "{out}"
        );
    }

    #[tokio::test]
    async fn unix_socket_end_to_end() {
        let rt = runtime();
        let dir = std::env::temp_dir().join(format!("proxyd-stats-unit-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("admin.sock");
        // a stale file is replaced
        std::fs::write(&path, b"stale").unwrap();
        let sock = StatsSocket {
            pos: common::lexer::Pos {
                file: "t".into(),
                line: 1,
            },
            addr: StatsAddr::Unix(path.clone()),
            mode: Some(0o660),
            uid: None,
            gid: None,
            level: StatsLevel::Admin,
            expose_fd_listeners: false,
        };
        let bound = bind(&sock).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        let tracker = TaskTracker::new();
        let cancel = CancellationToken::new();
        serve(
            bound,
            rt.clone(),
            Duration::from_secs(5),
            &tracker,
            cancel.clone(),
        )
        .unwrap();
        let mut c = tokio::net::UnixStream::connect(&path).await.unwrap();
        c.write_all(b"show backend\n").await.unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "# name\nweb-servers\n\n");
        cancel.cancel();
        tracker.close();
        tracker.wait().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
