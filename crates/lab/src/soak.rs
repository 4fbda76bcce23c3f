//! `lab soak`: the seed's lab under a steady client load with a fault
//! every 10 s, then a markdown report.
//!
//! The load: the lab's prober (a request every 50 ms, per-request
//! timestamps: the outage figures), a curl loop and a rate-limited wrk
//! stream, all from the client host, all bounded in count and time. The
//! faults cycle through [`FaultKind::ALL`]. Meanwhile one thread per load
//! balancer, inside its network namespace, polls its addresses every
//! 25 ms: the VIP timeline, from which the move times and the intervals
//! with two holders are computed.
//!
//! The I/O (driving the lab, reading `/proc`) is in [`run`]; everything
//! from the recorded [`SoakRecord`] on (statistics, goals, the table) is
//! pure and unit-tested with fake timestamps.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Context, Result};

use crate::failover::min_med_max;
use crate::http::{outage, Sample, REQUEST_TIMEOUT};
use crate::runtime::{Impl, Lab, Service};
use crate::topology::Role;

/// How often the VIP watchers poll each load balancer's addresses.
pub const POLL: Duration = Duration::from_millis(25);
/// After a disruptive fault recovered, failures may still show for this
/// long (a request in flight, its 1 s timeout) and count to its window.
pub const GRACE: Duration = Duration::from_secs(2);
/// The goal on RSS: growth under 5 %.
pub const RSS_GROWTH_PERCENT: u64 = 5;

/// One kind of fault, in the order they cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// The proxy on the master is killed (SIGKILL), started again once the
    /// VIP moved.
    ProxyKill,
    /// The VRRP daemon on the master is stopped (SIGTERM) and started
    /// again once the VIP moved.
    VrrpRestart,
    /// The master's link goes down, and up again once the VIP moved.
    LinkFlap,
    /// A web server is stopped, started again once the proxy marked it
    /// DOWN.
    WebRestart,
    /// Five rounds of SIGHUP to the proxy and the VRRP daemon of both load
    /// balancers, 100 ms apart.
    SighupStorm,
    /// The two load balancers cannot see each other (bridge port
    /// isolation; both still reach the client and the web servers), then
    /// the partition heals.
    Partition,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        FaultKind::ProxyKill,
        FaultKind::VrrpRestart,
        FaultKind::LinkFlap,
        FaultKind::WebRestart,
        FaultKind::SighupStorm,
        FaultKind::Partition,
    ];

    pub fn label(self) -> &'static str {
        match self {
            FaultKind::ProxyKill => "proxy killed + restarted (master)",
            FaultKind::VrrpRestart => "VRRP daemon SIGTERM + restart (master)",
            FaultKind::LinkFlap => "master link down + up",
            FaultKind::WebRestart => "web server stopped + started",
            FaultKind::SighupStorm => "SIGHUP storm (both daemons, both LBs)",
            FaultKind::Partition => "partition between the LBs + heal",
        }
    }

    /// Whether client failures are expected while it lasts (a failover
    /// window). A SIGHUP storm must be hitless: its failures count as lost
    /// outside the failover windows.
    pub fn disruptive(self) -> bool {
        !matches!(self, FaultKind::SighupStorm)
    }
}

/// One fault as it happened; times are since the soak's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRecord {
    pub kind: FaultKind,
    pub at: Duration,
    /// Link up / partition healed.
    pub heal: Option<Duration>,
    /// The VIP back on the master alone and served.
    pub recovered: Option<Duration>,
    pub master: String,
    pub backup: String,
}

/// When a host gained (true) or lost (false) the VIP; the first entry is
/// its state at the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipTimeline {
    pub host: String,
    pub changes: Vec<(Duration, bool)>,
}

impl VipTimeline {
    /// Whether the host held the VIP at `t`.
    pub fn at(&self, t: Duration) -> bool {
        self.changes
            .iter()
            .take_while(|(c, _)| *c <= t)
            .last()
            .is_some_and(|(_, h)| *h)
    }

    /// The first time in `[from, until)` the host holds the VIP.
    pub fn first_held(&self, from: Duration, until: Duration) -> Option<Duration> {
        if self.at(from) {
            return Some(from);
        }
        self.changes
            .iter()
            .find(|(c, h)| *h && *c >= from && *c < until)
            .map(|(c, _)| *c)
    }
}

/// A daemon's resources: summed over its process and its children of the
/// same name (keepalived's VRRP child).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    pub fds: u64,
    pub rss_kb: u64,
    pub threads: u64,
    pub procs: u64,
}

impl Resources {
    /// The per-metric minimum (over quick successive samples: a transient
    /// fork before an exec, a health-check socket, should not count).
    pub fn min(self, o: Resources) -> Resources {
        Resources {
            fds: self.fds.min(o.fds),
            rss_kb: self.rss_kb.min(o.rss_kb),
            threads: self.threads.min(o.threads),
            procs: self.procs.min(o.procs),
        }
    }
}

/// A daemon at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSnapshot {
    pub host: String,
    pub name: String,
    /// Pid in the host's PID namespace (0: not running).
    pub pid: i32,
    pub res: Option<Resources>,
}

/// What wrk reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WrkSummary {
    pub requests: u64,
    pub socket_errors: u64,
    pub non_2xx: u64,
}

/// Everything a soak recorded.
#[derive(Debug, Clone)]
pub struct SoakRecord {
    pub implementation: Impl,
    /// From the first fault's slot to the end of the load.
    pub duration: Duration,
    pub period: Duration,
    pub advert: Duration,
    pub faults: Vec<FaultRecord>,
    pub vip: Vec<VipTimeline>,
    /// The prober's requests (`at` since the soak's start).
    pub probe: Vec<Sample>,
    /// The curl loop: (start, success).
    pub curl: Vec<(Duration, bool)>,
    pub wrk: Option<WrkSummary>,
    pub start: Vec<DaemonSnapshot>,
    pub end: Vec<DaemonSnapshot>,
    /// How long the end sample waited for connections to drain.
    pub settle: Duration,
    /// Stops the soak caused, per (host, daemon).
    pub deliberate: BTreeMap<(String, String), usize>,
    /// Exits the hosts' inits logged, per (host, daemon).
    pub exits: BTreeMap<(String, String), usize>,
    /// Panic and respawn lines of the logs, daemons found dead.
    pub incidents: Vec<String>,
    /// What else went wrong: no recovery within the deadline, a fault
    /// that could not be applied.
    pub notes: Vec<String>,
}

/// Intervals where at least two hosts held the VIP, until `end`.
pub fn dual_intervals(vip: &[VipTimeline], end: Duration) -> Vec<(Duration, Duration)> {
    let mut times: Vec<Duration> = vip
        .iter()
        .flat_map(|t| t.changes.iter().map(|(c, _)| *c))
        .collect();
    times.push(Duration::ZERO);
    times.sort();
    times.dedup();
    let mut out: Vec<(Duration, Duration)> = vec![];
    let mut open: Option<Duration> = None;
    for t in times.into_iter().filter(|t| *t <= end) {
        let n = vip.iter().filter(|v| v.at(t)).count();
        match (n >= 2, open) {
            (true, None) => open = Some(t),
            (false, Some(s)) => {
                out.push((s, t));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(s) = open {
        out.push((s, end));
    }
    out
}

/// `iv` minus every interval of `cuts`.
pub fn subtract(
    iv: (Duration, Duration),
    cuts: &[(Duration, Duration)],
) -> Vec<(Duration, Duration)> {
    let mut pieces = vec![iv];
    for &(cs, ce) in cuts {
        let mut next = vec![];
        for (s, e) in pieces {
            if ce <= s || cs >= e {
                next.push((s, e));
                continue;
            }
            if s < cs {
                next.push((s, cs));
            }
            if ce < e {
                next.push((ce, e));
            }
        }
        pieces = next;
    }
    pieces
}

/// Two holders of the VIP for longer than `threshold` while the network
/// was whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitBrain {
    pub start: Duration,
    pub end: Duration,
    /// It started at this heal (link up, partition healed).
    pub after_heal: Option<FaultKind>,
}

/// `advert_int` of a keepalived.conf (the first one; 1 s by default).
pub fn advert_interval(conf: &str) -> Duration {
    for l in conf.lines() {
        let l = l.split('#').next().unwrap_or("");
        let mut w = l.split_whitespace();
        if w.next() == Some("advert_int") {
            if let Some(v) = w.next().and_then(|v| v.parse::<f64>().ok()) {
                if v > 0.0 && v < 256.0 {
                    return Duration::from_secs_f64(v);
                }
            }
        }
    }
    Duration::from_secs(1)
}

/// The first line of each log that names a panic or a respawn.
pub fn log_incidents(host: &str, log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("panicked at") || (l.contains("died") && l.contains("espawn")))
        .map(|l| format!("{host}: {}", l.trim()))
        .collect()
}

/// How many exits of `name` a host's init logged.
pub fn exits_in_log(log: &str, name: &str) -> usize {
    let tag = format!("lab-init[1]: {name}[");
    log.lines()
        .filter(|l| {
            l.contains(&tag)
                && (l.contains("] exited with status")
                    || l.contains("] killed by signal")
                    || l.contains("] ended ("))
        })
        .count()
}

/// One row of the fault table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRow {
    pub kind: FaultKind,
    pub count: usize,
    pub vip_move_ms: Vec<u128>,
    pub outage_ms: Vec<u128>,
    pub failed: Vec<u128>,
}

/// One row of the daemon table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonRow {
    pub host: String,
    pub name: String,
    pub start: DaemonSnapshot,
    pub end: Option<DaemonSnapshot>,
    pub deliberate: usize,
}

impl DaemonRow {
    /// Same process at the start and the end.
    pub fn lived_through(&self) -> bool {
        self.end
            .as_ref()
            .is_some_and(|e| e.pid == self.start.pid && e.pid != 0)
    }

    fn pair(&self) -> Option<(Resources, Resources)> {
        Some((self.start.res?, self.end.as_ref()?.res?))
    }

    /// fd or thread growth of a daemon that lived through the soak.
    pub fn growth(&self) -> Option<String> {
        if !self.lived_through() {
            return None;
        }
        let (a, b) = self.pair()?;
        let mut g = vec![];
        if b.fds > a.fds {
            g.push(format!("fds {} -> {}", a.fds, b.fds));
        }
        if b.threads > a.threads {
            g.push(format!("threads {} -> {}", a.threads, b.threads));
        }
        (!g.is_empty()).then(|| format!("{} {}: {}", self.host, self.name, g.join(", ")))
    }

    /// RSS growth in percent (lived-through daemons).
    pub fn rss_growth_percent(&self) -> Option<f64> {
        if !self.lived_through() {
            return None;
        }
        let (a, b) = self.pair()?;
        if a.rss_kb == 0 {
            return None;
        }
        Some((b.rss_kb as f64 - a.rss_kb as f64) * 100.0 / a.rss_kb as f64)
    }
}

/// The report computed from a record.
#[derive(Debug, Clone)]
pub struct SoakReport {
    pub record: SoakRecord,
    pub faults: Vec<FaultRow>,
    pub daemons: Vec<DaemonRow>,
    pub split_brain: Vec<SplitBrain>,
    /// Failed requests (probe and curl) outside every failover window.
    pub lost_outside: Vec<Duration>,
    /// Panics, unexpected exits and restarts, other incidents.
    pub panics_and_restarts: Vec<String>,
}

fn slot_end(faults: &[FaultRecord], i: usize, end: Duration) -> Duration {
    faults.get(i + 1).map(|f| f.at).unwrap_or(end)
}

/// The requests a fault is charged with: those started from one request
/// timeout before it (a request in flight when it struck) to one request
/// timeout before the next fault.
fn request_slot(faults: &[FaultRecord], i: usize, end: Duration) -> (Duration, Duration) {
    let back = |t: Duration| t.saturating_sub(REQUEST_TIMEOUT);
    let from = faults.get(i).map(|f| back(f.at)).unwrap_or_default();
    let until = faults.get(i + 1).map(|f| back(f.at)).unwrap_or(end);
    (from, until)
}

impl SoakReport {
    pub fn new(record: SoakRecord) -> SoakReport {
        let end = record.duration;
        let faults = &record.faults;
        // per fault kind
        let mut rows: Vec<FaultRow> = vec![];
        for kind in FaultKind::ALL {
            let mut row = FaultRow {
                kind,
                count: 0,
                vip_move_ms: vec![],
                outage_ms: vec![],
                failed: vec![],
            };
            for (i, f) in faults.iter().enumerate().filter(|(_, f)| f.kind == kind) {
                let until = slot_end(faults, i, end);
                row.count += 1;
                if let Some(t) = record
                    .vip
                    .iter()
                    .find(|v| v.host == f.backup)
                    .and_then(|v| v.first_held(f.at, until))
                {
                    row.vip_move_ms.push((t - f.at).as_millis());
                }
                let (from, to) = request_slot(faults, i, end);
                let samples: Vec<Sample> = record
                    .probe
                    .iter()
                    .filter(|s| s.at >= from && s.at < to)
                    .cloned()
                    .collect();
                let o = outage(&samples);
                row.outage_ms.push(o.window.as_millis());
                let curl_failed = record
                    .curl
                    .iter()
                    .filter(|(t, ok)| !ok && *t >= from && *t < to)
                    .count();
                row.failed.push((o.failed + curl_failed) as u128);
            }
            rows.push(row);
        }
        // failover windows and what failed outside them
        let windows: Vec<(Duration, Duration)> = faults
            .iter()
            .enumerate()
            .filter(|(_, f)| f.kind.disruptive())
            .map(|(i, f)| {
                let e = f.recovered.unwrap_or_else(|| slot_end(faults, i, end));
                (request_slot(faults, i, end).0, e + GRACE)
            })
            .collect();
        let inside = |t: Duration| windows.iter().any(|(s, e)| t >= *s && t < *e);
        let mut lost_outside: Vec<Duration> = record
            .probe
            .iter()
            .filter(|s| s.result.is_err())
            .map(|s| s.at)
            .chain(record.curl.iter().filter(|(_, ok)| !ok).map(|(t, _)| *t))
            .filter(|t| !inside(*t))
            .collect();
        lost_outside.sort();
        // split brain: two holders while the network was whole
        let cuts: Vec<(Duration, Duration)> = faults
            .iter()
            .filter_map(|f| f.heal.map(|h| (f.at, h)))
            .collect();
        let threshold = record.advert + 2 * POLL;
        let mut split_brain = vec![];
        for iv in dual_intervals(&record.vip, end) {
            for (s, e) in subtract(iv, &cuts) {
                if e - s > threshold {
                    let after_heal = faults.iter().find(|f| f.heal == Some(s)).map(|f| f.kind);
                    split_brain.push(SplitBrain {
                        start: s,
                        end: e,
                        after_heal,
                    });
                }
            }
        }
        // daemons
        let daemons: Vec<DaemonRow> = record
            .start
            .iter()
            .map(|s| {
                let key = (s.host.clone(), s.name.clone());
                DaemonRow {
                    host: s.host.clone(),
                    name: s.name.clone(),
                    start: s.clone(),
                    end: record
                        .end
                        .iter()
                        .find(|e| e.host == s.host && e.name == s.name)
                        .cloned(),
                    deliberate: record.deliberate.get(&key).copied().unwrap_or(0),
                }
            })
            .collect();
        let mut panics_and_restarts = record.incidents.clone();
        for ((host, name), n) in &record.exits {
            let d = record
                .deliberate
                .get(&(host.clone(), name.clone()))
                .copied()
                .unwrap_or(0);
            if *n > d {
                panics_and_restarts.push(format!(
                    "{host}: {name} exited {n} times, {d} of them stopped by the soak"
                ));
            }
        }
        for r in &daemons {
            if r.end.as_ref().is_none_or(|e| e.pid == 0) {
                panics_and_restarts.push(format!("{} {}: not running at the end", r.host, r.name));
            } else if !r.lived_through() && r.deliberate == 0 {
                panics_and_restarts.push(format!(
                    "{} {}: restarted (pid {} -> {}) without the soak stopping it",
                    r.host,
                    r.name,
                    r.start.pid,
                    r.end.as_ref().map(|e| e.pid).unwrap_or(0)
                ));
            }
        }
        SoakReport {
            record,
            faults: rows,
            daemons,
            split_brain,
            lost_outside,
            panics_and_restarts,
        }
    }

    /// fd/thread growth of the load balancers' daemons that lived through
    /// the soak (the web servers are the lab's, shown but not judged).
    pub fn fd_thread_growth(&self) -> Vec<String> {
        self.daemons
            .iter()
            .filter(|d| d.name != "httpd")
            .filter_map(DaemonRow::growth)
            .collect()
    }

    /// RSS growth of 5 % or more (load balancers' daemons, lived through).
    pub fn rss_growth(&self) -> Vec<String> {
        self.daemons
            .iter()
            .filter(|d| d.name != "httpd")
            .filter_map(|d| {
                let p = d.rss_growth_percent()?;
                (p >= RSS_GROWTH_PERCENT as f64)
                    .then(|| format!("{} {}: RSS +{p:.1} %", d.host, d.name))
            })
            .collect()
    }

    /// Split-brain intervals that began at a heal.
    pub fn split_brain_after_heal(&self) -> Vec<&SplitBrain> {
        self.split_brain
            .iter()
            .filter(|s| s.after_heal.is_some())
            .collect()
    }

    /// The report as markdown.
    pub fn markdown(&self) -> String {
        let r = &self.record;
        let mut out = String::new();
        let f3 = |v: &[u128]| match min_med_max(v.to_vec()) {
            Some((a, b, c)) => format!("{a} / {b} / {c}"),
            None => "-".into(),
        };
        let _ = writeln!(
            out,
            "Soak, {}: {} s under load, a fault every {} s ({} faults), advert interval {} ms\n",
            impl_label(r.implementation),
            r.duration.as_secs(),
            r.period.as_secs(),
            r.faults.len(),
            r.advert.as_millis()
        );
        let _ = writeln!(
            out,
            "| fault | count | VIP move (ms) min/med/max | client outage (ms) min/med/max | failed requests min/med/max |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        for row in self.faults.iter().filter(|r| r.count > 0) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                row.kind.label(),
                row.count,
                f3(&row.vip_move_ms),
                f3(&row.outage_ms),
                f3(&row.failed)
            );
        }
        let _ = writeln!(
            out,
            "\n| host | daemon | pid start → end | fds | RSS (KiB) | threads | |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for d in &self.daemons {
            let e = d.end.as_ref();
            let pair = |f: fn(&Resources) -> u64| {
                let a = d.start.res.as_ref().map(f);
                let b = e.and_then(|e| e.res.as_ref()).map(f);
                let s = |x: Option<u64>| x.map_or("?".to_string(), |x| x.to_string());
                format!("{} → {}", s(a), s(b))
            };
            let note = if d.lived_through() {
                let mut n = vec![];
                if let Some(g) = d.growth() {
                    n.push(format!("GROWTH ({g})"));
                }
                if let Some(p) = d.rss_growth_percent() {
                    n.push(format!("RSS {p:+.1} %"));
                }
                n.join("; ")
            } else {
                format!(
                    "replaced by the faults ({} stops): start and end are different processes",
                    d.deliberate
                )
            };
            let procs = d.start.res.map(|r| r.procs).unwrap_or(1);
            let _ = writeln!(
                out,
                "| {} | {}{} | {} → {} | {} | {} | {} | {} |",
                d.host,
                d.name,
                if procs > 1 {
                    format!(" ({procs} processes)")
                } else {
                    String::new()
                },
                d.start.pid,
                e.map_or(0, |e| e.pid),
                pair(|r| r.fds),
                pair(|r| r.rss_kb),
                pair(|r| r.threads),
                note
            );
        }
        let _ = writeln!(
            out,
            "\n(start: after the lab came up, before the load; end: after the load stopped and connections drained, {} ms)",
            r.settle.as_millis()
        );
        let _ = writeln!(
            out,
            "\nTwo VIP holders longer than one advert ({} ms + {} ms polling) while the network was whole:",
            r.advert.as_millis(),
            (2 * POLL).as_millis()
        );
        if self.split_brain.is_empty() {
            let _ = writeln!(out, "- none");
        }
        for s in &self.split_brain {
            let _ = writeln!(
                out,
                "- {} ms at {:.1} s{}",
                (s.end - s.start).as_millis(),
                s.start.as_secs_f64(),
                s.after_heal
                    .map(|k| format!(", after the heal of: {}", k.label()))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(out, "\nPanics and restarts not caused by the soak:");
        if self.panics_and_restarts.is_empty() {
            let _ = writeln!(out, "- none");
        }
        for p in &self.panics_and_restarts {
            let _ = writeln!(out, "- {p}");
        }
        if !r.notes.is_empty() {
            let _ = writeln!(out, "\nNotes:");
            for n in &r.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        let pf = r.probe.iter().filter(|s| s.result.is_err()).count();
        let cf = r.curl.iter().filter(|(_, ok)| !ok).count();
        let _ = writeln!(
            out,
            "\nLoad: probe (every 50 ms) {} requests, {pf} failed; curl loop {} requests, {cf} failed; {}",
            r.probe.len(),
            r.curl.len(),
            match &r.wrk {
                Some(w) => format!(
                    "wrk stream {} requests, {} socket errors, {} non-2xx",
                    w.requests, w.socket_errors, w.non_2xx
                ),
                None => "no wrk".to_string(),
            }
        );
        let ok = |v: bool| if v { "met" } else { "NOT met" };
        let growth = self.fd_thread_growth();
        let rss = self.rss_growth();
        let sb = self.split_brain_after_heal().len();
        let _ = writeln!(out, "\n| goal | result |\n|---|---|");
        let _ = writeln!(
            out,
            "| no growth in fds or threads | {}{} |",
            ok(growth.is_empty()),
            if growth.is_empty() {
                String::new()
            } else {
                format!(": {}", growth.join("; "))
            }
        );
        let _ = writeln!(
            out,
            "| RSS growth under {RSS_GROWTH_PERCENT} % | {}{} |",
            ok(rss.is_empty()),
            if rss.is_empty() {
                String::new()
            } else {
                format!(": {}", rss.join("; "))
            }
        );
        let _ = writeln!(
            out,
            "| 0 requests lost outside the failover windows | {} ({}{}) |",
            ok(self.lost_outside.is_empty()),
            self.lost_outside.len(),
            if self.lost_outside.is_empty() {
                String::new()
            } else {
                let at: Vec<String> = self
                    .lost_outside
                    .iter()
                    .take(10)
                    .map(|t| format!("{:.1} s", t.as_secs_f64()))
                    .collect();
                format!(": at {}", at.join(", "))
            }
        );
        let _ = writeln!(
            out,
            "| 0 split-brain intervals after a heal | {} ({sb}) |",
            ok(sb == 0)
        );
        let _ = writeln!(
            out,
            "| no panic or restart | {} ({}) |",
            ok(self.panics_and_restarts.is_empty()),
            self.panics_and_restarts.len()
        );
        out
    }
}

fn impl_label(i: Impl) -> &'static str {
    match i {
        Impl::Ours => "proxyd + vrrpd",
        Impl::Haproxy => "HAProxy + keepalived",
    }
}

/// Parse wrk's summary.
pub fn parse_wrk(out: &str) -> Option<WrkSummary> {
    let mut w = WrkSummary::default();
    let mut seen = false;
    let num = |s: &str| s.trim().trim_end_matches(',').parse::<u64>().ok();
    for l in out.lines() {
        let l = l.trim();
        if let Some(i) = l.find(" requests in ") {
            w.requests = num(&l[..i])?;
            seen = true;
        } else if let Some(rest) = l.strip_prefix("Socket errors:") {
            // connect 0, read 1, write 0, timeout 3
            w.socket_errors = rest
                .split(',')
                .filter_map(|p| p.split_whitespace().nth(1).and_then(num))
                .sum();
        } else if let Some(rest) = l.strip_prefix("Non-2xx or 3xx responses:") {
            w.non_2xx = num(rest)?;
        }
    }
    seen.then_some(w)
}

/// Parse the curl loop's lines (`EPOCH_SECONDS.MICROS HTTP_CODE`) into
/// (since `t0`, success).
pub fn parse_curl(out: &str, t0: SystemTime) -> Vec<(Duration, bool)> {
    let t0 = t0
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let t: f64 = w.next()?.parse().ok()?;
            let code = w.next().unwrap_or("000");
            Some((Duration::from_secs_f64((t - t0).max(0.0)), code == "200"))
        })
        .collect()
}

/// One `/proc/PID/status` (root PID namespace view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStatus {
    pub name: String,
    pub ppid: u32,
    /// The pid in the innermost PID namespace (the host's).
    pub nspid: i32,
    pub threads: u64,
    pub rss_kb: u64,
}

pub fn parse_status(text: &str) -> Option<ProcStatus> {
    let mut s = ProcStatus {
        name: String::new(),
        ppid: 0,
        nspid: 0,
        threads: 0,
        rss_kb: 0,
    };
    for l in text.lines() {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k {
            "Name" => s.name = v.to_string(),
            "PPid" => s.ppid = v.parse().ok()?,
            "NSpid" => s.nspid = v.split_whitespace().last()?.parse().ok()?,
            "Threads" => s.threads = v.parse().ok()?,
            "VmRSS" => s.rss_kb = v.split_whitespace().next()?.parse().ok()?,
            _ => {}
        }
    }
    (!s.name.is_empty()).then_some(s)
}

/// A process seen in /proc.
#[derive(Debug, Clone)]
struct Proc {
    pid: u32,
    pidns: String,
    st: ProcStatus,
}

fn scan_proc() -> Vec<Proc> {
    let mut v = vec![];
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return v;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let Some(st) = parse_status(&text) else {
            continue;
        };
        let pidns = std::fs::read_link(format!("/proc/{pid}/ns/pid"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        v.push(Proc { pid, pidns, st });
    }
    v
}

fn count_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

/// The resources of the process with `nspid` in `pidns` plus its
/// descendants of the same name.
fn resources(procs: &[Proc], pidns: &str, nspid: i32) -> Option<Resources> {
    let root = procs
        .iter()
        .find(|p| p.pidns == pidns && p.st.nspid == nspid)?;
    let mut set = vec![root.pid];
    let mut i = 0;
    while i < set.len() {
        let parent = set[i];
        for p in procs {
            if p.st.ppid == parent && p.st.name == root.st.name && !set.contains(&p.pid) {
                set.push(p.pid);
            }
        }
        i += 1;
    }
    let mut r = Resources::default();
    for pid in set {
        if let Some(p) = procs.iter().find(|p| p.pid == pid) {
            r.fds += count_fds(pid);
            r.rss_kb += p.st.rss_kb;
            r.threads += p.st.threads;
            r.procs += 1;
        }
    }
    Some(r)
}

/// The daemons of the lab: (host, service).
fn daemons(lab: &Lab) -> Vec<(String, Service)> {
    let mut v = vec![];
    for n in &lab.topology.nodes {
        match n.role {
            Role::Lb => {
                v.push((n.name.clone(), Service::Proxy));
                v.push((n.name.clone(), Service::Vrrp));
            }
            Role::Web => v.push((n.name.clone(), Service::Httpd)),
            Role::Client => {}
        }
    }
    v
}

/// Every daemon's resources: the per-metric minimum of `n` samples
/// 150 ms apart.
pub fn snapshot(lab: &Lab, n: usize) -> Vec<DaemonSnapshot> {
    let list = daemons(lab);
    let mut out: Vec<DaemonSnapshot> = vec![];
    for round in 0..n.max(1) {
        if round > 0 {
            std::thread::sleep(Duration::from_millis(150));
        }
        let procs = scan_proc();
        for (host, s) in &list {
            let name = lab.implementation().name(*s).to_string();
            let pid = lab
                .services(host)
                .unwrap_or_default()
                .into_iter()
                .find(|x| x.name == name && x.running)
                .map(|x| x.pid)
                .unwrap_or(0);
            let pidns = lab
                .init_pid(host)
                .ok()
                .and_then(|p| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let res = if pid == 0 {
                None
            } else {
                resources(&procs, &pidns, pid)
            };
            match out.iter_mut().find(|d| d.host == *host && d.name == name) {
                Some(d) if d.pid == pid => {
                    d.res = match (d.res, res) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    }
                }
                Some(d) => {
                    d.pid = pid;
                    d.res = res;
                }
                None => out.push(DaemonSnapshot {
                    host: host.clone(),
                    name,
                    pid,
                    res,
                }),
            }
        }
    }
    out
}

/// A thread in a load balancer's network namespace polling whether it
/// holds the VIP.
struct VipWatch {
    host: String,
    changes: Arc<Mutex<Vec<(Duration, bool)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn has_addr(vip: Ipv4Addr) -> bool {
    nix::ifaddrs::getifaddrs()
        .map(|mut it| {
            it.any(|a| {
                a.address
                    .as_ref()
                    .and_then(|s| s.as_sockaddr_in())
                    .is_some_and(|s| s.ip() == vip)
            })
        })
        .unwrap_or(false)
}

impl VipWatch {
    fn start(host: &str, netns: PathBuf, vip: Ipv4Addr, t0: Instant) -> VipWatch {
        let changes = Arc::new(Mutex::new(vec![]));
        let stop = Arc::new(AtomicBool::new(false));
        let (c2, s2) = (changes.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            if testsupport::netns::enter_netns_thread(&netns).is_err() {
                return;
            }
            let mut last: Option<bool> = None;
            while !s2.load(Ordering::Relaxed) {
                let now = has_addr(vip);
                if last != Some(now) {
                    if let Ok(mut v) = c2.lock() {
                        v.push((t0.elapsed(), now));
                    }
                    last = Some(now);
                }
                std::thread::sleep(POLL);
            }
        });
        VipWatch {
            host: host.to_string(),
            changes,
            stop,
            thread: Some(thread),
        }
    }

    fn holds(&self) -> bool {
        self.changes
            .lock()
            .ok()
            .and_then(|v| v.last().map(|(_, h)| *h))
            .unwrap_or(false)
    }

    fn finish(mut self) -> VipTimeline {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        VipTimeline {
            host: self.host.clone(),
            changes: self.changes.lock().map(|v| v.clone()).unwrap_or_default(),
        }
    }
}

impl Drop for VipWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How a soak runs.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// How long faults keep coming (the load runs as long).
    pub duration: Duration,
    /// One fault every `period` (later when the previous one has not
    /// recovered yet).
    pub period: Duration,
    /// At least this many faults, even past `duration`.
    pub min_faults: usize,
}

impl SoakOptions {
    pub fn minutes(m: f64) -> SoakOptions {
        SoakOptions {
            duration: Duration::from_secs_f64((m * 60.0).max(1.0)),
            period: Duration::from_secs(10),
            min_faults: 0,
        }
    }
}

/// Deadline of a single wait inside a fault (the VIP moving, a log line).
const STEP: Duration = Duration::from_secs(15);
/// Deadline of a recovery after a fault.
const RECOVERY: Duration = Duration::from_secs(40);
/// Deadline for connections to drain before the end sample.
const DRAIN: Duration = Duration::from_secs(45);

struct Ctx<'a> {
    lab: &'a Lab,
    client: String,
    vip: Ipv4Addr,
    master: String,
    backup: String,
    web: String,
    t0: Instant,
    watch: Vec<VipWatch>,
    deliberate: BTreeMap<(String, String), usize>,
    incidents: Vec<String>,
    notes: Vec<String>,
}

impl Ctx<'_> {
    fn holds(&self, host: &str) -> bool {
        self.watch.iter().any(|w| w.host == host && w.holds())
    }

    fn wait(&self, timeout: Duration, f: impl Fn(&Self) -> bool) -> bool {
        testsupport::netns::wait_until(timeout, || f(self))
    }

    fn stop(&mut self, host: &str, s: Service, sig: i32) -> Result<()> {
        let name = self.lab.implementation().name(s).to_string();
        *self.deliberate.entry((host.to_string(), name)).or_default() += 1;
        self.lab.stop(host, s, sig)
    }

    fn isolate(&self, on: bool) -> Result<()> {
        for port in [&self.master, &self.backup] {
            let mut c = std::process::Command::new("bridge");
            c.args([
                "-n",
                &self.lab.state.switch_netns,
                "link",
                "set",
                "dev",
                port,
                "isolated",
                if on { "on" } else { "off" },
            ]);
            testsupport::netns::run_checked(&mut c).context("bridge link set isolated")?;
        }
        Ok(())
    }

    fn fault(&mut self, kind: FaultKind) -> Result<FaultRecord> {
        let (m, b) = (self.master.clone(), self.backup.clone());
        let at = self.t0.elapsed();
        let mut heal = None;
        match kind {
            FaultKind::ProxyKill => {
                self.stop(&m, Service::Proxy, libc::SIGKILL)?;
                self.wait(STEP, |c| c.holds(&b));
                self.lab.start(&m, Service::Proxy)?;
            }
            FaultKind::VrrpRestart => {
                self.stop(&m, Service::Vrrp, libc::SIGTERM)?;
                self.wait(STEP, |c| c.holds(&b));
                self.lab.start(&m, Service::Vrrp)?;
            }
            FaultKind::LinkFlap => {
                self.lab.set_link(&m, false)?;
                self.wait(STEP, |c| c.holds(&b));
                self.lab.set_link(&m, true)?;
                heal = Some(self.t0.elapsed());
            }
            FaultKind::WebRestart => {
                let web = self.web.clone();
                let needle = format!("{web} is DOWN");
                let before = self.lab.count_in_log(&m, &needle);
                self.stop(&web, Service::Httpd, libc::SIGTERM)?;
                self.lab.wait_log(&m, &needle, before, STEP);
                self.lab.start(&web, Service::Httpd)?;
            }
            FaultKind::SighupStorm => {
                for _ in 0..5 {
                    for h in [&m, &b] {
                        for s in [Service::Proxy, Service::Vrrp] {
                            self.lab.signal(h, s, libc::SIGHUP)?;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            FaultKind::Partition => {
                self.isolate(true)?;
                self.wait(STEP, |c| c.holds(&b));
                let r = self.isolate(false);
                heal = Some(self.t0.elapsed());
                r?;
            }
        }
        Ok(FaultRecord {
            kind,
            at,
            heal,
            recovered: None,
            master: m,
            backup: b,
        })
    }

    /// Wait until the VIP is on the master alone and served; restart any
    /// daemon found dead (an incident).
    fn recover(&mut self) -> Option<Duration> {
        let ok = self.wait(RECOVERY, |c| {
            c.holds(&c.master)
                && !c.holds(&c.backup)
                && c.lab
                    .http_get(&c.client, c.vip)
                    .is_ok_and(|r| r.status == 200)
        });
        let at = self.t0.elapsed();
        if !ok {
            self.notes.push(format!(
                "at {:.1} s: {} not back on {} alone and served within {} s",
                at.as_secs_f64(),
                self.vip,
                self.master,
                RECOVERY.as_secs()
            ));
        }
        for (host, s) in daemons(self.lab) {
            let name = self.lab.implementation().name(s);
            let st = self.lab.services(&host).unwrap_or_default();
            if let Some(x) = st.iter().find(|x| x.name == name && !x.running) {
                self.incidents.push(format!(
                    "at {:.1} s: {name} on {host} found dead ({}); started again",
                    at.as_secs_f64(),
                    x.exit.as_deref().unwrap_or("stopped")
                ));
                let _ = self.lab.start(&host, s);
            }
        }
        ok.then_some(at)
    }
}

fn spawn_client(lab: &Lab, client: &str, script: &str) -> Result<Child> {
    let argv = ["bash".to_string(), "-c".to_string(), script.to_string()];
    let child = lab
        .exec(client, &argv)?
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("start a client load")?;
    Ok(child)
}

/// Wait (bounded) for a load process and return its output; killed (by
/// its pid) when it overstays.
fn collect(mut child: Child, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut out = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
        }
    }
    reader.join().unwrap_or_default()
}

/// Run a soak on a lab that is up and ready; `progress` gets a line per
/// fault.
pub fn run(lab: &Lab, opts: &SoakOptions, progress: &mut dyn FnMut(&str)) -> Result<SoakReport> {
    let client = lab
        .topology
        .client()
        .map(|c| c.name.clone())
        .ok_or_else(|| anyhow!("the topology has no client"))?;
    let vip = *lab.topology.vips.first().ok_or_else(|| anyhow!("no VIP"))?;
    let lbs: Vec<String> = lab
        .topology
        .nodes_with(Role::Lb)
        .map(|n| n.name.clone())
        .collect();
    let master = match lab.topology.masters.get(&vip) {
        Some(m) => m.clone(),
        None => lab
            .vip_holders(vip)?
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("nobody holds {vip}"))?,
    };
    let backup = lbs
        .iter()
        .find(|n| **n != master)
        .cloned()
        .ok_or_else(|| anyhow!("the soak needs two load balancers"))?;
    let web = lab
        .topology
        .nodes_with(Role::Web)
        .next()
        .map(|n| n.name.clone())
        .ok_or_else(|| anyhow!("no web server"))?;
    let advert = lab
        .topology
        .node(&master)
        .map(|n| lab.topology.config_file(n, "keepalived.conf"))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|c| advert_interval(&c))
        .unwrap_or(Duration::from_secs(1));
    // warm up the path, then the start sample
    for _ in 0..20 {
        let _ = lab.http_get(&client, vip);
    }
    let start = snapshot(lab, 7);
    // the load
    let t0 = Instant::now();
    let t0_wall = SystemTime::now();
    let secs = opts.duration.as_secs().max(1);
    let mut watch = vec![];
    for h in &lbs {
        watch.push(VipWatch::start(h, lab.netns_path(h)?, vip, t0));
    }
    let probe_offset = t0.elapsed();
    let prober = lab.prober(&client, vip, Duration::from_millis(50))?;
    let stop_file = lab.state.run_dir.join("soak.stop");
    let _ = std::fs::remove_file(&stop_file);
    // curl loop: 5 requests a second at most, stops by itself after the
    // soak's duration (+ 60 s) or 100 000 requests, or at the stop file
    let curl = if crate::killall::on_path("curl") {
        Some(spawn_client(
            lab,
            &client,
            &format!(
                "end=$(( $(date +%s) + {} )); n=0; \
                 while [ ! -e {stop} ] && [ $(date +%s) -lt $end ] && [ $n -lt 100000 ]; do \
                 t=$EPOCHREALTIME; c=$(curl -s -o /dev/null -m 2 -w '%{{http_code}}' http://{vip}/); \
                 echo \"$t $c\"; n=$((n+1)); sleep 0.2; done",
                secs + 60,
                stop = stop_file.display()
            ),
        )?)
    } else {
        progress("curl not found: no curl loop");
        None
    };
    // wrk stream: 2 keep-alive connections, 20 ms between requests on
    // each (about 100 requests a second), for the soak's duration
    let wrk = if crate::killall::on_path("wrk") {
        let lua = lab.state.run_dir.join("soak-wrk.lua");
        std::fs::write(&lua, "function delay()\n  return 20\nend\n")?;
        Some(spawn_client(
            lab,
            &client,
            &format!(
                "exec wrk -t1 -c2 -d{secs}s --timeout 2s -s {} http://{vip}/",
                lua.display()
            ),
        )?)
    } else {
        progress("wrk not found: no wrk stream");
        None
    };
    let mut ctx = Ctx {
        lab,
        client: client.clone(),
        vip,
        master,
        backup,
        web,
        t0,
        watch,
        deliberate: BTreeMap::new(),
        incidents: vec![],
        notes: vec![],
    };
    let mut faults: Vec<FaultRecord> = vec![];
    let mut next = t0 + Duration::from_secs(2);
    let mut k = 0usize;
    while t0.elapsed() < opts.duration || k < opts.min_faults {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let kind = FaultKind::ALL[k % FaultKind::ALL.len()];
        let started = Instant::now();
        let mut f = match ctx.fault(kind) {
            Ok(f) => f,
            Err(e) => {
                ctx.notes
                    .push(format!("fault {} failed: {e:#}", kind.label()));
                FaultRecord {
                    kind,
                    at: started - t0,
                    heal: None,
                    recovered: None,
                    master: ctx.master.clone(),
                    backup: ctx.backup.clone(),
                }
            }
        };
        f.recovered = ctx.recover();
        progress(&format!(
            "[{:>5.1} s] {}: {}",
            f.at.as_secs_f64(),
            kind.label(),
            match f.recovered {
                Some(r) => format!("recovered after {} ms", (r - f.at).as_millis()),
                None => "NOT recovered".to_string(),
            }
        ));
        faults.push(f);
        k += 1;
        next = (started + opts.period).max(Instant::now());
    }
    // stop the load
    let _ = std::fs::write(&stop_file, "");
    let probe: Vec<Sample> = prober
        .stop()
        .into_iter()
        .map(|mut s| {
            s.at += probe_offset;
            s
        })
        .collect();
    let curl = curl
        .map(|c| parse_curl(&collect(c, Duration::from_secs(10)), t0_wall))
        .unwrap_or_default();
    let wrk = wrk.and_then(|c| parse_wrk(&collect(c, opts.duration + Duration::from_secs(20))));
    let duration = t0.elapsed();
    let vip_timelines: Vec<VipTimeline> = std::mem::take(&mut ctx.watch)
        .into_iter()
        .map(VipWatch::finish)
        .collect();
    // the end sample, once connections drained
    let settle_t0 = Instant::now();
    let mut end;
    loop {
        end = snapshot(lab, 3);
        let grown = start.iter().any(|s| {
            s.name != "httpd"
                && end.iter().any(|e| {
                    e.host == s.host
                        && e.name == s.name
                        && e.pid == s.pid
                        && match (s.res, e.res) {
                            (Some(a), Some(b)) => b.fds > a.fds || b.threads > a.threads,
                            _ => false,
                        }
                })
        });
        if !grown || settle_t0.elapsed() >= DRAIN {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let settle = settle_t0.elapsed();
    // logs
    let mut exits = BTreeMap::new();
    let mut incidents = ctx.incidents;
    for (host, s) in daemons(lab) {
        let log = lab.log(&host).unwrap_or_default();
        let name = lab.implementation().name(s).to_string();
        exits.insert((host.clone(), name.clone()), exits_in_log(&log, &name));
    }
    for h in &lab.state.hosts {
        incidents.extend(log_incidents(
            &h.name,
            &lab.log(&h.name).unwrap_or_default(),
        ));
    }
    Ok(SoakReport::new(SoakRecord {
        implementation: lab.implementation(),
        duration,
        period: opts.period,
        advert,
        faults,
        vip: vip_timelines,
        probe,
        curl,
        wrk,
        start,
        end,
        settle,
        deliberate: ctx.deliberate,
        exits,
        incidents,
        notes: ctx.notes,
    }))
}

/// Where `lab soak` writes its report too (the run directory goes away).
pub fn report_path(run_root: &Path) -> PathBuf {
    run_root.join("soak-report.md")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn tl(host: &str, ch: &[(u64, bool)]) -> VipTimeline {
        VipTimeline {
            host: host.into(),
            changes: ch.iter().map(|(t, h)| (ms(*t), *h)).collect(),
        }
    }

    fn sample(t: u64, ok: bool) -> Sample {
        Sample {
            at: ms(t),
            result: if ok {
                Ok("x".into())
            } else {
                Err("refused".into())
            },
        }
    }

    fn snap(host: &str, name: &str, pid: i32, fds: u64, rss: u64, thr: u64) -> DaemonSnapshot {
        DaemonSnapshot {
            host: host.into(),
            name: name.into(),
            pid,
            res: Some(Resources {
                fds,
                rss_kb: rss,
                threads: thr,
                procs: 1,
            }),
        }
    }

    fn fault(kind: FaultKind, at: u64, heal: Option<u64>, rec: Option<u64>) -> FaultRecord {
        FaultRecord {
            kind,
            at: ms(at),
            heal: heal.map(ms),
            recovered: rec.map(ms),
            master: "lb1".into(),
            backup: "lb2".into(),
        }
    }

    #[test]
    fn timeline_queries() {
        let t = tl("lb2", &[(0, false), (3000, true), (6000, false)]);
        assert!(!t.at(ms(2999)));
        assert!(t.at(ms(3000)));
        assert!(!t.at(ms(6000)));
        assert_eq!(t.first_held(ms(1000), ms(10_000)), Some(ms(3000)));
        assert_eq!(t.first_held(ms(4000), ms(10_000)), Some(ms(4000)));
        assert_eq!(t.first_held(ms(6000), ms(10_000)), None);
    }

    #[test]
    fn dual_holders_and_cuts() {
        let a = tl("lb1", &[(0, true)]);
        let b = tl(
            "lb2",
            &[(0, false), (1000, true), (3000, false), (5000, true)],
        );
        assert_eq!(
            dual_intervals(&[a, b], ms(6000)),
            vec![(ms(1000), ms(3000)), (ms(5000), ms(6000))]
        );
        assert_eq!(
            subtract((ms(1000), ms(3000)), &[(ms(500), ms(2000))]),
            vec![(ms(2000), ms(3000))]
        );
        assert_eq!(
            subtract((ms(1000), ms(3000)), &[(ms(1500), ms(2000))]),
            vec![(ms(1000), ms(1500)), (ms(2000), ms(3000))]
        );
        assert!(subtract((ms(1000), ms(3000)), &[(ms(0), ms(4000))]).is_empty());
    }

    #[test]
    fn config_and_logs() {
        assert_eq!(advert_interval("vrrp_instance x {\n}\n"), ms(1000));
        assert_eq!(
            advert_interval("vrrp_instance x {\n    advert_int 0.5 # fast\n}\n"),
            ms(500)
        );
        let log = "Dec 02 12:00:00.000 lb1 lab-init[1]: proxyd[5] killed by signal 9\n\
                   Dec 02 12:00:01.000 lb1 lab-init[1]: Started proxyd (pid 9): proxyd -f x\n\
                   Dec 02 12:00:02.000 lb1 lab-init[1]: vrrpd[6] exited with status 0\n\
                   Dec 02 12:00:03.000 lb1 proxyd[9]: thread 'main' panicked at src/x.rs:1:1:\n\
                   Dec 02 12:00:04.000 lb1 Keepalived[3]: VRRP child process(4) died: Respawning\n";
        assert_eq!(exits_in_log(log, "proxyd"), 1);
        assert_eq!(exits_in_log(log, "vrrpd"), 1);
        assert_eq!(exits_in_log(log, "haproxy"), 0);
        let inc = log_incidents("lb1", log);
        assert_eq!(inc.len(), 2, "{inc:?}");
        assert!(inc[0].starts_with("lb1: ") && inc[0].contains("panicked"));
    }

    #[test]
    fn parses_proc_status_wrk_and_curl() {
        let st = "Name:\tproxyd\nState:\tS (sleeping)\nPPid:\t1234\nNSpid:\t5678\t7\nVmRSS:\t   10240 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status(st),
            Some(ProcStatus {
                name: "proxyd".into(),
                ppid: 1234,
                nspid: 7,
                threads: 3,
                rss_kb: 10240
            })
        );
        // kernel threads have no VmRSS
        assert_eq!(
            parse_status("Name:\tkthreadd\nPPid:\t0\nNSpid:\t2\nThreads:\t1\n").map(|s| s.rss_kb),
            Some(0)
        );
        let wrk = "Running 30s test @ http://10.0.2.100/\n  1 threads and 2 connections\n  \
                   2950 requests in 30.03s, 300.00KB read\n  \
                   Socket errors: connect 1, read 2, write 0, timeout 4\n  \
                   Non-2xx or 3xx responses: 5\nRequests/sec:     98.23\n";
        assert_eq!(
            parse_wrk(wrk),
            Some(WrkSummary {
                requests: 2950,
                socket_errors: 7,
                non_2xx: 5
            })
        );
        assert_eq!(parse_wrk("garbage"), None);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(
            parse_curl("1001.500000 200\n1002.000000 000\nbad\n", t0),
            vec![(ms(1500), true), (ms(2000), false)]
        );
    }

    fn record() -> SoakRecord {
        let mut deliberate = BTreeMap::new();
        deliberate.insert(("lb1".to_string(), "proxyd".to_string()), 1);
        let mut exits = BTreeMap::new();
        exits.insert(("lb1".to_string(), "proxyd".to_string()), 1);
        exits.insert(("lb2".to_string(), "vrrpd".to_string()), 0);
        SoakRecord {
            implementation: Impl::Ours,
            duration: ms(40_000),
            period: ms(10_000),
            advert: ms(1000),
            faults: vec![
                // proxy killed at 2 s: lb2 takes over at 5.5 s, back at 9 s
                fault(FaultKind::ProxyKill, 2000, None, Some(9000)),
                // SIGHUP storm at 12 s: hitless
                fault(FaultKind::SighupStorm, 12_000, None, Some(13_000)),
                // partition at 22 s, healed at 26 s; lb2 keeps the VIP
                // 1.5 s after the heal: split brain
                fault(FaultKind::Partition, 22_000, Some(26_000), Some(28_000)),
                // link flap at 32 s, healed at 35 s; lb2 drops it 0.5 s later
                fault(FaultKind::LinkFlap, 32_000, Some(35_000), Some(36_000)),
            ],
            vip: vec![
                tl("lb1", &[(0, true), (5600, false), (9000, true)]),
                tl(
                    "lb2",
                    &[
                        (0, false),
                        (5500, true),
                        (9000, false),
                        (25_600, true),
                        (27_500, false),
                        (34_000, true),
                        (35_500, false),
                    ],
                ),
            ],
            probe: vec![
                sample(2000, true),
                sample(4000, false),
                sample(5000, false),
                sample(6000, true),
                sample(12_500, false), // lost outside a window
                sample(13_000, true),
                sample(23_000, true),
                sample(33_000, false),
                sample(34_000, true),
            ],
            curl: vec![(ms(4500), false), (ms(20_000), true), (ms(39_000), false)],
            wrk: Some(WrkSummary {
                requests: 4000,
                socket_errors: 3,
                non_2xx: 0,
            }),
            start: vec![
                snap("lb1", "proxyd", 7, 12, 10_000, 3),
                snap("lb2", "proxyd", 7, 12, 10_000, 3),
                snap("lb2", "vrrpd", 8, 9, 4000, 3),
                snap("web1", "httpd", 2, 4, 2000, 1),
            ],
            end: vec![
                snap("lb1", "proxyd", 19, 12, 9000, 3),
                snap("lb2", "proxyd", 7, 12, 10_400, 3),
                snap("lb2", "vrrpd", 8, 10, 4500, 4),
                snap("web1", "httpd", 2, 9, 2000, 5),
            ],
            settle: ms(1200),
            deliberate,
            exits,
            incidents: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn a_request_in_flight_is_charged_to_the_fault_that_struck_it() {
        let f = [
            fault(FaultKind::ProxyKill, 2000, None, Some(9000)),
            fault(FaultKind::VrrpRestart, 12_000, None, Some(15_000)),
        ];
        assert_eq!(request_slot(&f, 0, ms(30_000)), (ms(1000), ms(11_000)));
        assert_eq!(request_slot(&f, 1, ms(30_000)), (ms(11_000), ms(30_000)));
    }

    #[test]
    fn report_statistics() {
        let r = SoakReport::new(record());
        let row = |k| r.faults.iter().find(|f| f.kind == k).unwrap();
        let pk = row(FaultKind::ProxyKill);
        assert_eq!(pk.count, 1);
        assert_eq!(pk.vip_move_ms, vec![3500]);
        assert_eq!(pk.outage_ms, vec![2000]);
        // 2 probe failures + 1 curl failure in its slot
        assert_eq!(pk.failed, vec![3]);
        let hup = row(FaultKind::SighupStorm);
        assert!(hup.vip_move_ms.is_empty());
        assert_eq!(hup.failed, vec![1]);
        assert_eq!(row(FaultKind::Partition).vip_move_ms, vec![3600]);
        assert_eq!(row(FaultKind::WebRestart).count, 0);
        // the SIGHUP storm's failure and the curl failure at 39 s (after
        // the link flap's window: 36 + 2 s)
        assert_eq!(r.lost_outside, vec![ms(12_500), ms(39_000)]);
        // dual holders: 5.5-5.6 s (short), 26-27.5 s after the partition
        // heal (1.5 s: split brain), 35-35.5 s after the link heal (short)
        assert_eq!(
            r.split_brain,
            vec![SplitBrain {
                start: ms(26_000),
                end: ms(27_500),
                after_heal: Some(FaultKind::Partition)
            }]
        );
        assert_eq!(r.split_brain_after_heal().len(), 1);
        // lb2 vrrpd grew by one fd and one thread; web1's httpd is not
        // judged; lb1's proxy was replaced
        assert_eq!(
            r.fd_thread_growth(),
            vec!["lb2 vrrpd: fds 9 -> 10, threads 3 -> 4".to_string()]
        );
        assert_eq!(r.rss_growth(), vec!["lb2 vrrpd: RSS +12.5 %".to_string()]);
        assert!(r.daemons[0].growth().is_none() && !r.daemons[0].lived_through());
        assert!(
            r.panics_and_restarts.is_empty(),
            "{:?}",
            r.panics_and_restarts
        );
    }

    #[test]
    fn unexpected_exits_and_restarts() {
        let mut rec = record();
        rec.exits
            .insert(("lb2".to_string(), "vrrpd".to_string()), 1);
        rec.end[2].pid = 30;
        rec.incidents.push("lb2: thread 'main' panicked".into());
        let r = SoakReport::new(rec);
        assert_eq!(
            r.panics_and_restarts.len(),
            3,
            "{:?}",
            r.panics_and_restarts
        );
        assert!(r.panics_and_restarts[1].contains("vrrpd exited 1 times, 0 of them"));
        assert!(r.panics_and_restarts[2].contains("restarted (pid 8 -> 30)"));
        assert!(
            r.fd_thread_growth().is_empty(),
            "a new process is not judged"
        );
    }

    #[test]
    fn markdown_table() {
        let md = SoakReport::new(record()).markdown();
        assert!(
            md.contains("| proxy killed + restarted (master) | 1 | 3500 / 3500 / 3500 | 2000 / 2000 / 2000 | 3 / 3 / 3 |"),
            "{md}"
        );
        assert!(
            md.contains("| SIGHUP storm (both daemons, both LBs) | 1 | - |"),
            "{md}"
        );
        assert!(!md.contains("web server stopped"), "{md}");
        assert!(
            md.contains("| lb2 | vrrpd | 8 → 8 | 9 → 10 | 4000 → 4500 | 3 → 4 |"),
            "{md}"
        );
        assert!(md.contains("replaced by the faults (1 stops)"), "{md}");
        assert!(md.contains("after the heal of: partition"), "{md}");
        assert!(
            md.contains(
                "| 0 requests lost outside the failover windows | NOT met (2: at 12.5 s, 39.0 s) |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| 0 split-brain intervals after a heal | NOT met (1) |"),
            "{md}"
        );
        assert!(md.contains("| no panic or restart | met (0) |"), "{md}");
        assert!(
            md.contains("wrk stream 4000 requests, 3 socket errors"),
            "{md}"
        );
    }
}
