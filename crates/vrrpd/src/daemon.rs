//! The daemon: loads the configuration, starts trackers (scripts, processes,
//! link events) and one task per instance, and reacts to signals (reload,
//! stop, state and statistics dumps).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use common::signals::{Signal, Signals};
use common::{CancellationToken, TaskTracker};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::config::{self, Config, Instance, TrackProcess, VrrpScript};
use crate::fsm;
use crate::instance::{self, InstanceCtx, Status, TrackSource, Tracked};
use crate::netlink::{self, LinkEvent, Netlink};
use crate::script::{self, Health, Program, RiseFall};
use crate::track::{self, ProcessSpec};

/// Options of a daemon run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: PathBuf,
    /// Pid files to write our pid to (and remove at exit).
    pub pid_files: Vec<PathBuf>,
    /// Directory of the SIGUSR1/SIGUSR2 dumps (`vrrpd.data`, `vrrpd.stats`,
    /// `vrrpd.json`).
    pub dump_dir: PathBuf,
}

/// How long a stopping instance may take (priority 0, VIP removal).
const STOP_DEADLINE: Duration = Duration::from_secs(5);

struct ScriptEntry {
    def: VrrpScript,
    user: Option<(u32, u32)>,
    rx: watch::Receiver<Health>,
    cancel: CancellationToken,
}

struct ProcEntry {
    def: TrackProcess,
    rx: watch::Receiver<usize>,
    cancel: CancellationToken,
}

/// What an instance depends on besides its own block, compared on reload
/// (typed: source positions compare equal, so moving a block restarts
/// nothing).
#[derive(Debug, Clone, PartialEq)]
struct Deps {
    global: config::GlobalDefs,
    group: Option<config::SyncGroup>,
    scripts: Vec<Option<VrrpScript>>,
    processes: Vec<Option<TrackProcess>>,
}

struct InstEntry {
    cfg: Instance,
    /// What else the instance depends on (scripts, processes, globals), to
    /// decide on reload whether it must restart.
    deps: Deps,
    cancel: CancellationToken,
    status: watch::Receiver<Status>,
    handle: JoinHandle<()>,
    commands: tokio::sync::mpsc::UnboundedSender<instance::Command>,
}

struct Daemon {
    opts: RunOptions,
    netlink: Netlink,
    links: broadcast::Sender<LinkEvent>,
    root: CancellationToken,
    tasks: TaskTracker,
    scripts: HashMap<String, ScriptEntry>,
    procs: HashMap<String, ProcEntry>,
    instances: BTreeMap<String, InstEntry>,
    groups: HashMap<String, instance::GroupFaults>,
    config: Config,
    fifos: std::sync::Arc<crate::fifo::Fifos>,
}

fn load(path: &Path) -> Result<Config, String> {
    match config::load(path) {
        Ok(l) => {
            for d in &l.diagnostics {
                tracing::warn!("{d}");
            }
            Ok(l.config)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The default script user: `script_user`, else `keepalived_script` if it
/// exists, else root (None).
fn default_user(cfg: &Config) -> Option<(u32, u32)> {
    match &cfg.global.script_user {
        Some(u) => {
            let r = script::resolve_user(u);
            if r.is_none() {
                tracing::error!("script_user {} not found, scripts run as root", u.user);
            }
            r
        }
        None => script::user_ids("keepalived_script"),
    }
}

/// Run the daemon until SIGTERM/SIGINT. Returns the process exit code.
pub async fn run(opts: RunOptions) -> anyhow::Result<i32> {
    let mut signals = Signals::new().context("installing signal handlers")?;
    let config = match load(&opts.config) {
        Ok(c) => c,
        Err(e) => {
            for line in e.lines() {
                tracing::error!("{line}");
            }
            tracing::error!("Stopping: configuration {} rejected", opts.config.display());
            return Ok(1);
        }
    };
    for p in &opts.pid_files {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            tracing::warn!("cannot write pid file {}: {e}", p.display());
        }
    }
    let netlink = Netlink::new().context("opening rtnetlink")?;
    let root = CancellationToken::new();
    let tasks = TaskTracker::new();
    let (links, _) = broadcast::channel(256);
    spawn_link_monitor(&netlink, links.clone(), root.child_token(), &tasks).await?;

    let mut d = Daemon {
        opts,
        netlink,
        links,
        root,
        tasks,
        scripts: HashMap::new(),
        procs: HashMap::new(),
        instances: BTreeMap::new(),
        groups: HashMap::new(),
        config: Config::default(),
        fifos: Default::default(),
    };
    tracing::info!(
        "Starting vrrpd v{}, pid={}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    d.apply(config).await;
    common::notify::ready();
    common::notify::status("instances started");

    loop {
        match signals.recv().await {
            Signal::Hup => {
                tracing::info!("Reloading");
                common::notify::reloading();
                match load(&d.opts.config) {
                    Ok(c) => {
                        d.apply(c).await;
                        tracing::info!("Reload finished");
                    }
                    Err(e) => {
                        for line in e.lines() {
                            tracing::error!("{line}");
                        }
                        tracing::error!("Reload failed: configuration rejected, nothing changed");
                    }
                }
                common::notify::ready();
            }
            Signal::Term | Signal::Int => break,
            Signal::Usr1 => d.dump_data(),
            Signal::Usr2 => d.dump_stats(),
            Signal::Ttou | Signal::Ttin => {}
        }
    }
    tracing::info!("Stopping");
    common::notify::stopping();
    d.shutdown().await;
    for p in &d.opts.pid_files {
        let _ = std::fs::remove_file(p);
    }
    tracing::info!("Stopped vrrpd v{}", env!("CARGO_PKG_VERSION"));
    Ok(0)
}

async fn spawn_link_monitor(
    nl: &Netlink,
    tx: broadcast::Sender<LinkEvent>,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<()> {
    let mut rx = netlink::link_events().context("subscribing to link events")?;
    let mut last: HashMap<u32, bool> = HashMap::new();
    for l in nl.links().await.context("listing interfaces")? {
        last.insert(l.index, l.is_up());
    }
    tasks.spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => break,
                ev = rx.recv() => match ev { Some(ev) => ev, None => break },
            };
            if ev.address {
                let _ = tx.send(ev);
                continue;
            }
            let up = !ev.deleted && ev.link.is_up();
            let prev = last.insert(ev.link.index, up);
            if prev.is_none() && !ev.deleted {
                tracing::info!("Interface {} added", ev.link.name);
            }
            if prev != Some(up) && (prev.is_some() || !up) {
                tracing::info!(
                    "Netlink reports {} {}",
                    ev.link.name,
                    if up { "up" } else { "down" }
                );
            }
            if ev.deleted {
                last.remove(&ev.link.index);
                tracing::info!("Interface {} deleted", ev.link.name);
            }
            let _ = tx.send(ev);
        }
    });
    Ok(())
}

impl Daemon {
    fn script_program(&self, def: &VrrpScript, default: Option<(u32, u32)>) -> Program {
        let ids = def
            .script
            .user
            .as_ref()
            .and_then(script::resolve_user)
            .or(default);
        Program {
            argv: def.script.argv.clone(),
            uid: ids.map(|i| i.0),
            gid: ids.map(|i| i.1),
        }
    }

    fn start_script(&self, def: &VrrpScript, default: Option<(u32, u32)>) -> ScriptEntry {
        let prog = self.script_program(def, default);
        let user = prog.uid.zip(prog.gid);
        let cancel = self.root.child_token();
        let rf = RiseFall::new(def.rise, def.fall, def.init_fail);
        let (tx, rx) = watch::channel(rf.health());
        if let Some(first) = prog.argv.first() {
            if !first.starts_with('/') {
                match script::resolve(first) {
                    Some(p) => tracing::warn!(
                        "WARNING - script `{first}` resolved by path search to `{}`. Please specify full path.",
                        p.display()
                    ),
                    None => tracing::warn!("WARNING - script `{first}` not found in PATH"),
                }
            }
        }
        self.tasks.spawn(script_task(
            def.name.clone(),
            prog,
            def.interval,
            def.timeout.unwrap_or(def.interval),
            rf,
            tx,
            cancel.clone(),
        ));
        ScriptEntry {
            def: def.clone(),
            user,
            rx,
            cancel,
        }
    }

    fn start_proc(&self, def: &TrackProcess) -> ProcEntry {
        let cancel = self.root.child_token();
        let spec = ProcessSpec {
            name: def.process.clone(),
            params: def.params.clone(),
            param_match: def.param_match,
            full_command: def.full_command,
            quorum: def.quorum as usize,
            quorum_max: def.quorum_max.map_or(usize::MAX, |q| q as usize),
            fork_delay: def.fork_delay.unwrap_or(Duration::ZERO),
            terminate_delay: def.terminate_delay.unwrap_or(Duration::ZERO),
        };
        let rx = track::spawn_tracker(spec, cancel.clone(), &self.tasks);
        ProcEntry {
            def: def.clone(),
            rx,
            cancel,
        }
    }

    fn deps_of(&self, cfg: &Config, inst: &Instance) -> Deps {
        Deps {
            global: cfg.global.clone(),
            group: cfg.sync_group_of(&inst.name).cloned(),
            scripts: inst
                .track_scripts
                .iter()
                .map(|t| cfg.script(&t.name).cloned())
                .collect(),
            processes: inst
                .track_processes
                .iter()
                .map(|t| cfg.track_process(&t.name).cloned())
                .collect(),
        }
    }

    /// Start/keep/stop instances and trackers to match `new`.
    async fn apply(&mut self, new: Config) {
        // before the instances, so that their first state is written
        self.fifos.configure(&new.global.notify_fifos);
        let default = default_user(&new);
        // Stop instances that are gone or changed (before trackers change).
        let mut keep = Vec::new();
        let names: Vec<String> = self.instances.keys().cloned().collect();
        for name in names {
            let deps = new.instance(&name).map(|n| self.deps_of(&new, n));
            let keep_it = match (self.instances.get_mut(&name), new.instance(&name)) {
                (Some(e), Some(n)) if Some(&e.deps) == deps.as_ref() => {
                    if e.cfg == *n {
                        true
                    } else if instance::can_reconfigure(&e.cfg, n) {
                        // Changed in place: the state and VIPs stay.
                        let _ = e
                            .commands
                            .send(instance::Command::Reconfigure(Box::new(n.clone())));
                        e.cfg = n.clone();
                        true
                    } else {
                        false
                    }
                }
                _ => false,
            };
            if keep_it {
                keep.push(name);
            } else if let Some(e) = self.instances.remove(&name) {
                tracing::info!("({name}) stopping (removed or changed by reload)");
                stop_instance(e).await;
            }
        }
        // Scripts: keep identical definitions (so kept instances keep their
        // receivers), restart changed ones, stop removed ones.
        let mut scripts = HashMap::new();
        // Only tracked objects run (keepalived skips unused scripts too).
        let used_script = |n: &str| {
            new.instances
                .iter()
                .any(|i| i.track_scripts.iter().any(|t| t.name == n))
        };
        let used_proc = |n: &str| {
            new.instances
                .iter()
                .any(|i| i.track_processes.iter().any(|t| t.name == n))
        };
        for def in new.scripts.iter().filter(|d| used_script(&d.name)) {
            let p = self.script_program(def, default);
            let prog_user = p.uid.zip(p.gid);
            match self.scripts.remove(&def.name) {
                Some(e) if e.def == *def && e.user == prog_user => {
                    scripts.insert(def.name.clone(), e);
                }
                old => {
                    if let Some(o) = old {
                        o.cancel.cancel();
                    }
                    scripts.insert(def.name.clone(), self.start_script(def, default));
                }
            }
        }
        for (_, e) in self.scripts.drain() {
            e.cancel.cancel();
        }
        self.scripts = scripts;
        let mut procs = HashMap::new();
        for def in new.track_processes.iter().filter(|d| used_proc(&d.name)) {
            match self.procs.remove(&def.name) {
                Some(e) if e.def == *def => {
                    procs.insert(def.name.clone(), e);
                }
                old => {
                    if let Some(o) = old {
                        o.cancel.cancel();
                    }
                    procs.insert(def.name.clone(), self.start_proc(def));
                }
            }
        }
        for (_, e) in self.procs.drain() {
            e.cancel.cancel();
        }
        self.procs = procs;

        for g in &new.sync_groups {
            let shared = self.groups.entry(g.name.clone()).or_insert_with(|| {
                std::sync::Arc::new(watch::channel(fsm::sync::Group::new(g.members.clone())).0)
            });
            shared.send_if_modified(|s| {
                let before = s.clone();
                s.set_members(g.members.clone());
                *s != before
            });
        }
        self.groups
            .retain(|n, _| new.sync_groups.iter().any(|g| &g.name == n));
        for inst in &new.instances {
            if keep.contains(&inst.name) {
                continue;
            }
            let e = self.start_instance(&new, inst, default);
            self.instances.insert(inst.name.clone(), e);
        }
        self.config = new;
    }

    fn start_instance(
        &self,
        cfg: &Config,
        inst: &Instance,
        default: Option<(u32, u32)>,
    ) -> InstEntry {
        let mut trackers = Vec::new();
        for t in &inst.track_scripts {
            if let (Some(e), Some(def)) = (self.scripts.get(&t.name), cfg.script(&t.name)) {
                trackers.push(Tracked {
                    label: format!("script {}", t.name),
                    weight: t.weight.unwrap_or(def.weight),
                    reverse: t.reverse || (t.weight.is_none() && def.weight_reverse),
                    source: TrackSource::Script(e.rx.clone()),
                });
            }
        }
        for t in &inst.track_processes {
            if let (Some(e), Some(def)) = (self.procs.get(&t.name), cfg.track_process(&t.name)) {
                trackers.push(Tracked {
                    label: format!("process {}", t.name),
                    weight: t.weight.unwrap_or(def.weight),
                    reverse: t.reverse || (t.weight.is_none() && def.weight_reverse),
                    source: TrackSource::Process {
                        rx: e.rx.clone(),
                        quorum: def.quorum as usize,
                        quorum_max: def.quorum_max.map_or(usize::MAX, |q| q as usize),
                    },
                });
            }
        }
        let cancel = self.root.child_token();
        let (status_tx, status_rx) = watch::channel(instance::initial_status(inst));
        let group = cfg.sync_group_of(&inst.name).and_then(|g| {
            self.groups.get(&g.name).map(|f| instance::GroupLink {
                name: g.name.clone(),
                faults: f.clone(),
                cfg: std::sync::Arc::new(g.clone()),
            })
        });
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        let ctx = InstanceCtx {
            commands: cmd_rx,
            group,
            cfg: inst.clone(),
            global: cfg.global.clone(),
            script_user: default,
            trackers,
            links: self.links.subscribe(),
            netlink: self.netlink.clone(),
            cancel: cancel.clone(),
            status: status_tx,
            tasks: self.tasks.clone(),
            fifos: self.fifos.clone(),
        };
        let handle = self.tasks.spawn(instance::run(ctx));
        InstEntry {
            cfg: inst.clone(),
            deps: self.deps_of(cfg, inst),
            cancel,
            status: status_rx,
            handle,
            commands: cmd_tx,
        }
    }

    async fn shutdown(&mut self) {
        let all: Vec<InstEntry> = std::mem::take(&mut self.instances).into_values().collect();
        for e in &all {
            e.cancel.cancel();
        }
        for e in all {
            wait_instance(e).await;
        }
        // after the instances' STOP lines
        self.fifos.close_all();
        self.root.cancel();
        self.tasks.close();
        if tokio::time::timeout(STOP_DEADLINE, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not end in time");
        }
    }

    fn statuses(&self) -> Vec<Status> {
        self.instances
            .values()
            .map(|e| e.status.borrow().clone())
            .collect()
    }

    fn dump_data(&self) {
        let st = self.statuses();
        let text = render_data(&self.config, &st);
        write_dump(&self.opts.dump_dir.join("vrrpd.data"), &text);
        match serde_json::to_string_pretty(&st) {
            Ok(j) => write_dump(&self.opts.dump_dir.join("vrrpd.json"), &(j + "\n")),
            Err(e) => tracing::warn!("JSON dump failed: {e}"),
        }
    }

    fn dump_stats(&self) {
        let text = render_stats(&self.statuses());
        write_dump(&self.opts.dump_dir.join("vrrpd.stats"), &text);
    }
}

async fn stop_instance(e: InstEntry) {
    e.cancel.cancel();
    wait_instance(e).await;
}

async fn wait_instance(e: InstEntry) {
    let name = e.cfg.name.clone();
    let mut h = e.handle;
    if tokio::time::timeout(STOP_DEADLINE, &mut h).await.is_err() {
        tracing::warn!("({name}) did not stop in time");
        h.abort();
    }
}

async fn script_task(
    name: String,
    prog: Program,
    interval: Duration,
    timeout: Duration,
    mut rf: RiseFall,
    tx: watch::Sender<Health>,
    cancel: CancellationToken,
) {
    loop {
        let out = script::run_check_until(&prog, timeout, cancel.cancelled()).await;
        if cancel.is_cancelled() {
            break;
        }
        tracing::debug!("Script `{name}` now returning {:?}", out);
        if let Some(h) = rf.record(out.success()) {
            match h {
                Health::Good => tracing::info!("VRRP_Script({name}) succeeded"),
                Health::Bad => tracing::info!("VRRP_Script({name}) failed ({})", out.reason()),
                Health::Init => {}
            }
            tx.send_replace(h);
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

fn write_dump(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    let r = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path));
    match r {
        Ok(()) => tracing::info!("Dumped to {}", path.display()),
        Err(e) => tracing::warn!("cannot write {}: {e}", path.display()),
    }
}

/// The SIGUSR1 dump, in the spirit of keepalived's `/tmp/keepalived.data`.
pub fn render_data(cfg: &Config, st: &[Status]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "------< Global definitions >------");
    let _ = writeln!(
        s,
        " Router ID = {}",
        cfg.global.router_id.as_deref().unwrap_or("(none)")
    );
    let _ = writeln!(s, " Default VRRP version = {}", cfg.global.vrrp_version);
    let _ = writeln!(s, "------< VRRP Topology >------");
    for i in st {
        let _ = writeln!(s, " VRRP Instance = {}", i.name);
        let _ = writeln!(s, "   State = {}", i.state);
        let _ = writeln!(s, "   Interface = {}", i.interface);
        let _ = writeln!(s, "   Virtual Router ID = {}", i.vrid);
        let _ = writeln!(s, "   VRRP Version = {}", i.version);
        let _ = writeln!(
            s,
            "   Source address = {}",
            i.source.as_deref().unwrap_or("?")
        );
        let _ = writeln!(s, "   Base priority = {}", i.base_priority);
        let _ = writeln!(s, "   Effective priority = {}", i.effective_priority);
        let _ = writeln!(s, "   Advert interval = {}ms", i.advert_int_ms);
        let _ = writeln!(
            s,
            "   Master down interval = {}ms",
            i.master_down_interval_ms
        );
        match (&i.master, i.master_priority) {
            (Some(m), Some(p)) => {
                let _ = writeln!(s, "   Last master = {m} (priority {p})");
            }
            _ => {
                let _ = writeln!(s, "   Last master = (none)");
            }
        }
        let _ = writeln!(
            s,
            "   Virtual IP = {} ({})",
            i.vips.len(),
            if i.vips_present { "set" } else { "not set" }
        );
        for v in &i.vips {
            let _ = writeln!(s, "     {v}");
        }
        for t in &i.trackers {
            let _ = writeln!(s, "   Tracking {t}");
        }
    }
    s
}

/// The SIGUSR2 dump, in the spirit of `/tmp/keepalived.stats`.
pub fn render_stats(st: &[Status]) -> String {
    let mut s = String::new();
    for i in st {
        let t = &i.stats;
        let _ = writeln!(s, "VRRP Instance: {}", i.name);
        let _ = writeln!(s, "  Advertisements:");
        let _ = writeln!(s, "    Received: {}", t.adverts_received);
        let _ = writeln!(s, "    Sent: {}", t.adverts_sent);
        let _ = writeln!(s, "  Became master: {}", t.became_master);
        let _ = writeln!(s, "  Released master: {}", t.released_master);
        let _ = writeln!(s, "  Priority Zero:");
        let _ = writeln!(s, "    Received: {}", t.priority_zero_received);
        let _ = writeln!(s, "    Sent: {}", t.priority_zero_sent);
        let _ = writeln!(s, "  Send errors: {}", t.send_errors);
        let _ = writeln!(s, "  Other VRIDs: {}", t.other_vrid);
        let _ = writeln!(s, "  Packet Errors:");
        let total: u64 = t.invalid.values().sum();
        let _ = writeln!(s, "    Total: {total}");
        for (k, v) in &t.invalid {
            let _ = writeln!(s, "    {k}: {v}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> Status {
        let mut s = Status {
            name: "vif1".into(),
            interface: "eth0".into(),
            vrid: 51,
            version: 2,
            state: "MASTER".into(),
            base_priority: 101,
            effective_priority: 103,
            source: Some("10.0.2.4".into()),
            master: None,
            master_priority: None,
            advert_int_ms: 1000,
            master_down_interval_ms: 3605,
            vips: vec!["10.0.2.100/32".into()],
            vips_present: true,
            trackers: vec!["script chk_proxyd GOOD weight 2".into()],
            stats: Default::default(),
        };
        s.stats.adverts_sent = 7;
        s.stats.invalid.insert("auth_failure".into(), 2);
        s
    }

    #[test]
    fn data_dump_is_readable() {
        let t = render_data(&Config::default(), &[status()]);
        for want in [
            " VRRP Instance = vif1",
            "   State = MASTER",
            "   Effective priority = 103",
            "   Virtual IP = 1 (set)",
            "     10.0.2.100/32",
            "   Tracking script chk_proxyd GOOD weight 2",
        ] {
            assert!(t.contains(want), "{want}\n{t}");
        }
    }

    #[test]
    fn stats_dump_counts() {
        let t = render_stats(&[status()]);
        assert!(t.contains("    Sent: 7"), "{t}");
        assert!(t.contains("    Total: 2"), "{t}");
        assert!(t.contains("    auth_failure: 2"), "{t}");
    }
}
