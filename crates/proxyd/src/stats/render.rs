//! Rendering the runtime state: `show stat` (HAProxy's CSV), `show info`,
//! `show backend` and `show servers state`.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::health::{CheckStatus, HealthSnapshot};
use crate::state::{unix_now, AdminState, BackendState, Runtime, ServerState};

use super::parse::StatFilter;

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
    if s.maxconn() > 0 {
        r.set("slim", s.maxconn());
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
    if s.maxqueue() > 0 {
        r.set("qlimit", s.maxqueue());
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
    use nix::sys::resource::{getrlimit, Resource};
    getrlimit(Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(0)
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
