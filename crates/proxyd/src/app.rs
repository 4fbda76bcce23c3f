//! Process lifecycle: build the runtime from a configuration, bind, drop
//! privileges, run health checks and the stats socket, react to signals,
//! reload in place.
//!
//! Reload (SIGHUP/SIGUSR2) = parse, validate, diff, apply: the whole new
//! configuration is loaded and validated; if it fails, every error is
//! logged and nothing changes. Otherwise:
//! 1. the new bind addresses are opened first (a failure aborts the reload
//!    before anything changed);
//! 2. [`crate::reload::diff`] lists the changes from the running
//!    configuration, and they are applied one at a time: limits are
//!    resized in place ([`crate::limit::Limit`]: a lowering is enforced
//!    for new connections while the open ones drain), backends and servers
//!    that stay keep their runtime objects (counters, health state,
//!    established sessions), removed addresses stop accepting;
//! 3. the data path's frontends are rebuilt and every listener that stays
//!    (never closed) is pointed at its new frontend; new listeners start;
//! 4. health checks restart with the kept health state.
//!
//! `chroot`/`user`/`group`: proxyd binds, writes the pid file, then
//! chroots and drops privileges, as HAProxy. A later reload then reads the
//! configuration paths *inside* the chroot and can only bind ports the
//! unprivileged user may bind: when either fails the reload is refused
//! with an error and the running configuration stays (HAProxy avoids this
//! with a master process that stays root outside the chroot; proxyd has a
//! single process, so a full reconfiguration under chroot needs a restart).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::model::{self, Config};
use crate::config::{Diag, Level};
use crate::limit::{self, Limit};
use crate::logsink::{event, LogSink};
use crate::proxy::{accept_loop, bind_socket, Ctx, Frontend, FrontendSlot};
use crate::reload::Change;
use crate::state::{
    AdminState, BackendSettings, BackendState, FrontendState, Runtime, ServerState,
};

/// What the command line asks for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub files: Vec<PathBuf>,
    pub pidfile: Option<PathBuf>,
}

/// Log configuration diagnostics through tracing (reload, where stderr
/// may be the journal).
fn log_diags(diags: &[Diag]) {
    for d in diags {
        match d.level {
            Level::Alert => {
                tracing::error!(prio = u64::from(common::log::ALERT), "config : {}", d.text)
            }
            Level::Warning => tracing::warn!("config : {}", d.text),
            Level::Notice => {
                tracing::info!(prio = u64::from(common::log::NOTICE), "config : {}", d.text)
            }
        }
    }
}

fn backend_settings(b: &model::Backend) -> BackendSettings {
    BackendSettings {
        algo: b.balance,
        allbackups: b.allbackups,
        retries: b.retries,
        redispatch: b.redispatch,
        connect_timeout: b.timeout_connect,
        server_timeout: b.timeout_server,
        server_fin_timeout: b.timeout_server_fin,
        tunnel_timeout: b.timeout_tunnel,
        queue_timeout: b.timeout_queue,
    }
}

/// A server runtime object may be kept across a reload when what it is
/// built from (identity, address, backup, checks) did not change; its
/// limits and weight are changed in place.
fn same_server(old: &ServerState, new: &model::Server) -> bool {
    old.name == new.name
        && old.addr == new.addr
        && old.backup == new.backup
        && old.check == new.check
}

// ---------------------------------------------------------------------
// Server and backend changes: the only functions of this file that call
// the server-state APIs (ServerState, BackendState::update/set_server_*),
// kept together so that they can be re-pointed at another server model.
// ---------------------------------------------------------------------

/// The servers of the backends a reload touches, by backend then server
/// name, while the changes are applied.
type PendingServers = HashMap<String, HashMap<String, Arc<ServerState>>>;

/// A new backend runtime object for `b`, with fresh servers.
fn new_backend(b: &model::Backend) -> Arc<BackendState> {
    let servers = b
        .servers
        .iter()
        .map(|s| Arc::new(ServerState::new(s)))
        .collect();
    BackendState::new(&b.name, b.id, backend_settings(b), servers)
}

/// Start `pending` for a kept backend from its running servers.
fn pending_servers<'a>(
    pending: &'a mut PendingServers,
    be: &BackendState,
) -> &'a mut HashMap<String, Arc<ServerState>> {
    pending.entry(be.name.clone()).or_insert_with(|| {
        be.servers()
            .iter()
            .map(|s| (s.name.clone(), s.clone()))
            .collect()
    })
}

/// Apply one server change of a kept backend `be` (configured as `b`).
fn apply_server_change(
    be: &BackendState,
    b: &model::Backend,
    change: &Change,
    pending: &mut PendingServers,
) {
    let servers = pending_servers(pending, be);
    let (name, conf) = match change {
        Change::ServerRemoved { server, .. } => {
            servers.remove(server);
            return;
        }
        Change::ServerAdded { server, .. }
        | Change::ServerAddr { server, .. }
        | Change::ServerMaxconn { server, .. }
        | Change::ServerMaxqueue { server, .. }
        | Change::ServerWeight { server, .. }
        | Change::ServerBackup { server, .. }
        | Change::ServerDisabled { server, .. }
        | Change::ServerCheck { server, .. } => match b.server(server) {
            Some(s) => (server, s),
            None => return,
        },
        _ => return,
    };
    match servers.get(name) {
        Some(old) if same_server(old, conf) => match change {
            Change::ServerWeight { .. } if old.initial_weight() != conf.weight => {
                be.update_server(old, |r| {
                    r.reload_weight(conf.weight, crate::state::unix_now())
                });
            }
            Change::ServerMaxconn { .. } | Change::ServerMaxqueue { .. } => {
                old.set_limits(conf.maxconn.unwrap_or(0), conf.maxqueue.unwrap_or(0));
            }
            Change::ServerDisabled { disabled, .. } => {
                let target = if *disabled {
                    AdminState::Maint
                } else {
                    AdminState::Ready
                };
                be.update_server(old, |r| r.set_admin(target, crate::state::unix_now()));
            }
            _ => {}
        },
        // new, or rebuilt from the new configuration (counters and
        // health start over, as before)
        _ => {
            servers.insert(name.clone(), Arc::new(ServerState::new(conf)));
        }
    }
}

/// Install the servers and settings of the kept backends a reload touched.
fn finish_backends(
    new: &Config,
    rt: &Runtime,
    pending: &mut PendingServers,
    touched: &HashSet<String>,
) {
    for b in &new.backends {
        let Some(be) = rt.backend(&b.name) else {
            continue;
        };
        if !touched.contains(&b.name) {
            continue;
        }
        let mut by_name = pending.remove(&b.name).unwrap_or_else(|| {
            be.servers()
                .iter()
                .map(|s| (s.name.clone(), s.clone()))
                .collect()
        });
        let servers = b
            .servers
            .iter()
            .filter_map(|s| by_name.remove(&s.name))
            .collect();
        be.update(backend_settings(b), servers);
    }
}

/// Restart the health checks (with the kept health state).
fn restart_checks(
    config: &Config,
    rt: &Arc<Runtime>,
    tracker: &TaskTracker,
    token: &CancellationToken,
) {
    crate::checks::spawn_checkers(config, rt, tracker, token);
}

// ---------------------------------------------------------------------

struct Listening {
    slot: FrontendSlot,
    stop: CancellationToken,
    /// `bind ... maxconn` (unlimited when not set).
    limit: Arc<Limit>,
}

/// Resize `limit` to `max`; on a lowering, the accept loops waiting in
/// `accept` with permits of the old limit give them back at once.
fn resize(limit: &Limit, max: u32, lowered: &watch::Sender<u64>) {
    let lower = max < limit.acct().max;
    limit.resize(max);
    if lower {
        lowered.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// What applying the changes of one reload gathers for [`App::publish`].
#[derive(Default)]
struct Step {
    /// Kept backends whose settings or servers changed.
    touched: HashSet<String>,
    servers: PendingServers,
}

/// The running daemon.
pub struct App {
    opts: Options,
    tag: String,
    rt: Arc<Runtime>,
    ctx: Arc<Ctx>,
    pause_tx: watch::Sender<bool>,
    config: Config,
    global_maxconn: u32,
    global_log: Arc<LogSink>,
    global_limit: Arc<Limit>,
    limits_lowered: watch::Sender<u64>,
    listeners: HashMap<SocketAddr, Listening>,
    /// Frontend `maxconn` (unlimited when not set), kept across reloads.
    fe_limits: HashMap<String, Arc<Limit>>,
    fe_states: HashMap<String, Arc<FrontendState>>,
    /// Backends added by the reload being applied, until published.
    new_backends: HashMap<String, Arc<BackendState>>,
    tasks: TaskTracker,
    checks: CancellationToken,
    checks_tracker: TaskTracker,
    /// Running inside `chroot`.
    chrooted: bool,
    /// The real root, kept open to read the configuration after chroot.
    rootfs: Option<Arc<crate::rootfs::RootFs>>,
    /// `-f` arguments as absolute paths, with the name as given.
    abs_files: Vec<(PathBuf, String)>,
    stats_bound: Vec<crate::stats::Bound>,
    stats_cancel: CancellationToken,
}

/// Global `maxconn` when the configuration does not set one: derived from
/// the file-descriptor limit (raised to its hard limit first), as HAProxy.
fn default_maxconn() -> u32 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let mut soft = 1024u64;
    if let Ok((s, h)) = getrlimit(Resource::RLIMIT_NOFILE) {
        soft = s;
        if h > s && setrlimit(Resource::RLIMIT_NOFILE, h, h).is_ok() {
            soft = h;
        }
    }
    let n = soft.saturating_sub(100) / 2;
    u32::try_from(n.clamp(100, 1_000_000)).unwrap_or(1_000_000)
}

/// File descriptors a configured global `maxconn` needs, by HAProxy
/// 2.6's count (measured: 2 x maxconn, one per listener and per checked
/// server, three per thread, ten more).
fn fds_needed(maxconn: u32, listeners: usize, checks: usize, nbthread: usize) -> u64 {
    let per = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    u64::from(maxconn)
        .saturating_mul(2)
        .saturating_add(per(listeners))
        .saturating_add(per(checks))
        .saturating_add(per(nbthread).saturating_mul(3))
        .saturating_add(10)
}

/// As HAProxy 2.6 at start-up: with a global `maxconn` set, raise the
/// file-descriptor limit to what it needs, and refuse to start when that
/// is not allowed ("Cannot raise FD limit to N, limit is L.", exit 1).
fn fd_limit_for(config: &Config) -> Result<(), String> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Some(maxconn) = config.global.maxconn else {
        return Ok(());
    };
    let listeners = config
        .frontends
        .iter()
        .flat_map(|f| f.binds.iter())
        .map(|b| b.addrs.len())
        .sum();
    let checks = config
        .backends
        .iter()
        .flat_map(|b| b.servers.iter())
        .filter(|s| s.check)
        .count();
    let nbthread = config
        .global
        .nbthread
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let needed = fds_needed(maxconn, listeners, checks, nbthread);
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(());
    };
    if soft >= needed {
        return Ok(());
    }
    if setrlimit(Resource::RLIMIT_NOFILE, needed, hard.max(needed)).is_ok()
        || (needed <= hard && setrlimit(Resource::RLIMIT_NOFILE, needed, hard).is_ok())
    {
        return Ok(());
    }
    Err(format!(
        "Cannot raise FD limit to {needed}, limit is {soft}."
    ))
}

impl App {
    /// Build everything and bind the listeners (no privileges dropped yet).
    /// Errors are HAProxy-style alert lines, the caller exits 1.
    pub async fn start(opts: Options, config: Config) -> Result<App, String> {
        let tag = syslog_tag(&config.global);
        let global_maxconn = config.global.maxconn.unwrap_or_else(default_maxconn);
        let nbthread = config
            .global
            .nbthread
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let rt = Runtime::new(global_maxconn, u32::try_from(nbthread).unwrap_or(1));
        let (pause_tx, pause_rx) = watch::channel(false);
        let (limits_lowered, lowered_rx) = watch::channel(0u64);
        let global_limit = Limit::new(global_maxconn);
        let ctx = Arc::new(Ctx {
            rt: rt.clone(),
            hard: Default::default(),
            sessions: TaskTracker::new(),
            global_sem: Some(global_limit.clone()),
            paused: pause_rx,
            limits_lowered: lowered_rx,
        });
        if config.global.daemon {
            tracing::info!("'daemon' ignored: proxyd always runs in the foreground (use systemd to supervise it)");
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let abs_files = opts
            .files
            .iter()
            .map(|f| (cwd.join(f), f.display().to_string()))
            .collect();
        let mut app = App {
            opts,
            global_log: Arc::new(LogSink::new(&config.global.log, &tag)),
            tag,
            rt,
            ctx,
            pause_tx,
            // everything is a change from nothing
            config: Config {
                global: config.global.clone(),
                frontends: Vec::new(),
                backends: Vec::new(),
            },
            global_maxconn,
            global_limit,
            limits_lowered,
            listeners: HashMap::new(),
            fe_limits: HashMap::new(),
            fe_states: HashMap::new(),
            new_backends: HashMap::new(),
            tasks: TaskTracker::new(),
            checks: CancellationToken::new(),
            checks_tracker: TaskTracker::new(),
            chrooted: false,
            rootfs: None,
            abs_files,
            stats_bound: Vec::new(),
            stats_cancel: CancellationToken::new(),
        };
        let bound = bind_new(&config, &app.listeners)?;
        let changes = crate::reload::diff(&app.config, &config);
        app.apply(config, bound, &changes);
        for f in &app.config.frontends {
            event(
                &app.global_log,
                common::log::NOTICE,
                &format!("Proxy {} started.", f.name),
            );
        }
        for b in app.config.backends.iter().filter(|b| !b.from_listen) {
            event(
                &app.global_log,
                common::log::NOTICE,
                &format!("Proxy {} started.", b.name),
            );
        }
        Ok(app)
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.rt
    }

    /// Install `config` by applying `changes` (its diff from the running
    /// configuration) one at a time, with `bound` the newly opened
    /// listeners.
    fn apply(
        &mut self,
        config: Config,
        bound: Vec<(SocketAddr, std::net::TcpListener, u32)>,
        changes: &[Change],
    ) {
        let mut step = Step::default();
        for c in changes {
            tracing::debug!("reload: {c}");
            self.apply_change(c, &config, &mut step);
        }
        self.publish(config, bound, step);
    }

    /// Apply one change to the runtime objects that outlive a reload
    /// (limits, frontend and backend states, listeners).
    fn apply_change(&mut self, change: &Change, new: &Config, step: &mut Step) {
        match change {
            Change::GlobalMaxconn { new: m, .. } => {
                // removing the line keeps the running value
                let gmax = m.unwrap_or(self.global_maxconn);
                resize(&self.global_limit, gmax, &self.limits_lowered);
                self.global_maxconn = gmax;
                self.rt
                    .maxconn
                    .store(gmax, std::sync::atomic::Ordering::Relaxed);
            }
            Change::GlobalLog => {
                self.tag = syslog_tag(&new.global);
                self.global_log = Arc::new(LogSink::new(&new.global.log, &self.tag));
            }
            Change::BackendAdded { backend } => {
                if let Some(b) = new.backend(backend) {
                    self.new_backends.insert(backend.clone(), new_backend(b));
                }
            }
            Change::BackendRemoved { backend } => {
                self.new_backends.remove(backend);
            }
            Change::BackendBalance { backend, .. }
            | Change::BackendTimeouts { backend }
            | Change::BackendSettings { backend }
            | Change::BackendCheck { backend }
            | Change::BackendLog { backend }
            | Change::BackendDisabled { backend, .. } => {
                step.touched.insert(backend.clone());
            }
            Change::ServerAdded { backend, .. }
            | Change::ServerRemoved { backend, .. }
            | Change::ServerAddr { backend, .. }
            | Change::ServerMaxconn { backend, .. }
            | Change::ServerMaxqueue { backend, .. }
            | Change::ServerWeight { backend, .. }
            | Change::ServerBackup { backend, .. }
            | Change::ServerDisabled { backend, .. }
            | Change::ServerCheck { backend, .. } => {
                // servers of a backend added by this reload are built with it
                if let (Some(be), Some(b)) = (self.rt.backend(backend), new.backend(backend)) {
                    step.touched.insert(backend.clone());
                    apply_server_change(&be, b, change, &mut step.servers);
                }
            }
            Change::FrontendAdded { frontend } => {
                if let Some(f) = new.frontend(frontend) {
                    let m = f.maxconn.unwrap_or(0);
                    self.fe_states
                        .insert(frontend.clone(), FrontendState::new(&f.name, f.id, m));
                    self.fe_limits.insert(
                        frontend.clone(),
                        Limit::new(f.maxconn.unwrap_or(limit::UNLIMITED)),
                    );
                }
            }
            Change::FrontendRemoved { frontend } => {
                self.fe_states.remove(frontend);
                self.fe_limits.remove(frontend);
            }
            Change::FrontendMaxconn {
                frontend, new: m, ..
            } => {
                if let Some(s) = self.fe_states.get(frontend) {
                    s.maxconn
                        .store(m.unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
                }
                if let Some(l) = self.fe_limits.get(frontend) {
                    resize(l, m.unwrap_or(limit::UNLIMITED), &self.limits_lowered);
                }
            }
            Change::BindRemoved { addr, .. } => {
                if let Some(l) = self.listeners.remove(addr) {
                    l.stop.cancel();
                }
            }
            Change::BindMaxconn { addr, new: m, .. } => {
                if let Some(l) = self.listeners.get(addr) {
                    resize(
                        &l.limit,
                        m.unwrap_or(limit::UNLIMITED),
                        &self.limits_lowered,
                    );
                }
            }
            Change::BindSocket { frontend, addr } => {
                tracing::warn!(
                    "frontend {frontend}: the new socket options of {addr} (backlog, v6only) take effect at the next restart"
                );
            }
            // rebuilt when publishing: the frontends the data path reads,
            // the listeners' targets, the new listeners
            Change::BindAdded { .. }
            | Change::BindMoved { .. }
            | Change::FrontendBackend { .. }
            | Change::FrontendTimeouts { .. }
            | Change::FrontendLog { .. }
            | Change::FrontendDisabled { .. } => {}
        }
    }

    /// After the changes: give the data path its new frontends, point
    /// the listeners at them, start the new listeners, restart the checks.
    fn publish(
        &mut self,
        config: Config,
        bound: Vec<(SocketAddr, std::net::TcpListener, u32)>,
        mut step: Step,
    ) {
        finish_backends(&config, &self.rt, &mut step.servers, &step.touched);
        let mut backends = Vec::with_capacity(config.backends.len());
        for b in &config.backends {
            let be = self
                .rt
                .backend(&b.name)
                .or_else(|| self.new_backends.remove(&b.name));
            if let Some(be) = be {
                be.set_log(Arc::new(LogSink::new(&b.log, &self.tag)));
                backends.push(be);
            }
        }
        self.new_backends.clear();
        let be_by_name: HashMap<&str, Arc<BackendState>> = backends
            .iter()
            .map(|b| (b.name.as_str(), b.clone()))
            .collect();
        let mut fronts: HashMap<String, Arc<Frontend>> = HashMap::new();
        let mut fe_states = Vec::new();
        for f in &config.frontends {
            let (Some(state), Some(sem)) =
                (self.fe_states.get(&f.name), self.fe_limits.get(&f.name))
            else {
                continue;
            };
            let fe = Arc::new(Frontend {
                state: state.clone(),
                backend: f
                    .default_backend
                    .as_deref()
                    .and_then(|n| be_by_name.get(n).cloned()),
                timeout_client: f.timeout_client,
                timeout_client_fin: f.timeout_client_fin,
                log_format: f.log_format,
                dontlognull: f.dontlognull,
                logasap: f.logasap,
                log: Arc::new(LogSink::new(&f.log, &self.tag)),
                sem: Some(sem.clone()),
            });
            fe_states.push(state.clone());
            fronts.insert(f.name.clone(), fe);
        }
        self.rt.set_proxies(fe_states, backends);
        // every address that stays: point it at its (new) frontend
        let mut wanted: HashMap<SocketAddr, (String, u32)> = HashMap::new();
        for f in config.frontends.iter().filter(|f| !f.disabled) {
            for b in &f.binds {
                for a in &b.addrs {
                    wanted.insert(*a, (f.name.clone(), b.maxconn.unwrap_or(limit::UNLIMITED)));
                }
            }
        }
        for (addr, l) in &self.listeners {
            if let Some(fe) = wanted.get(addr).and_then(|(n, _)| fronts.get(n)) {
                if let Ok(mut s) = l.slot.write() {
                    *s = fe.clone();
                }
            }
        }
        for (addr, std_listener, backlog) in bound {
            let Some((fe, max)) = wanted
                .get(&addr)
                .and_then(|(n, m)| fronts.get(n).map(|f| (f, *m)))
            else {
                continue;
            };
            let listener = match TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!("cannot register listener {addr}: {e}");
                    continue;
                }
            };
            let slot: FrontendSlot = Arc::new(RwLock::new(fe.clone()));
            let stop = CancellationToken::new();
            let limit = Limit::new(max);
            self.tasks.spawn(accept_loop(
                listener,
                backlog,
                slot.clone(),
                limit.clone(),
                self.ctx.clone(),
                stop.clone(),
            ));
            self.listeners.insert(addr, Listening { slot, stop, limit });
        }
        // health checks: restart with the kept state
        self.checks.cancel();
        self.checks = CancellationToken::new();
        restart_checks(&config, &self.rt, &self.checks_tracker, &self.checks);
        self.config = config;
    }

    /// Write the pid file, chroot and drop privileges (after binding).
    pub fn drop_privileges(&mut self) -> Result<(), String> {
        let pidfile = self
            .opts
            .pidfile
            .clone()
            .or_else(|| self.config.global.pidfile.clone());
        if let Some(p) = pidfile {
            std::fs::write(&p, format!("{}\n", std::process::id()))
                .map_err(|e| format!("Cannot create pidfile {} : {e}", p.display()))?;
        }
        let g = &self.config.global;
        if let Some(dir) = &g.chroot {
            // keep a way to the real root for reloads (see rootfs.rs)
            let users: Vec<&str> = g.user.as_deref().into_iter().collect();
            let groups: Vec<&str> = g.group.as_deref().into_iter().collect();
            match crate::rootfs::RootFs::open(&users, &groups) {
                Ok(r) => self.rootfs = Some(Arc::new(r)),
                Err(e) => tracing::warn!("cannot keep the root directory open for reloads: {e}"),
            }
            nix::unistd::chroot(dir)
                .and_then(|_| nix::unistd::chdir("/"))
                .map_err(|e| format!("Cannot chroot({}) : {e}", dir.display()))?;
            self.chrooted = true;
        }
        if let Some(gid) = g.gid {
            let gid = nix::unistd::Gid::from_raw(gid);
            nix::unistd::setgroups(&[gid])
                .and_then(|_| nix::unistd::setgid(gid))
                .map_err(|e| format!("Cannot set gid {gid} : {e}"))?;
        }
        if let Some(uid) = g.uid {
            let keep = nix::unistd::geteuid().is_root() && uid != 0;
            if keep {
                // keep CAP_NET_BIND_SERVICE across setuid so that a reload
                // can still bind ports < 1024 (HAProxy's master stays root
                // for that; proxyd is a single process)
                if let Err(e) = nix::sys::prctl::set_keepcaps(true) {
                    tracing::debug!("cannot set PR_SET_KEEPCAPS: {e}");
                }
            }
            nix::unistd::setuid(nix::unistd::Uid::from_raw(uid))
                .map_err(|e| format!("Cannot set uid {uid} : {e}"))?;
            if keep {
                if let Err(e) = keep_net_bind_service() {
                    tracing::debug!("cannot keep CAP_NET_BIND_SERVICE: {e}");
                }
            }
        }
        Ok(())
    }

    /// SIGHUP/SIGUSR2.
    pub async fn reload(&mut self) {
        common::notify::reloading();
        tracing::info!(
            "Reloading configuration from {}",
            display_files(&self.opts.files)
        );
        let files = self.opts.files.clone();
        let abs = self.abs_files.clone();
        let root = self.rootfs.clone();
        let loaded = tokio::task::spawn_blocking(move || match root {
            Some(r) => r.load(&abs),
            None => crate::config::load(&files),
        })
        .await;
        let loaded = match loaded {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                log_diags(&e.diags);
                tracing::error!(
                    prio = u64::from(common::log::ALERT),
                    "Reload failed: {} fatal error(s) in the new configuration; keeping the current one.",
                    e.alerts().count()
                );
                common::notify::ready();
                return;
            }
            Err(e) => {
                tracing::error!("Reload failed: {e}; keeping the current configuration.");
                common::notify::ready();
                return;
            }
        };
        log_diags(&loaded.warnings);
        let new = loaded.config;
        let bound = match bind_new(&new, &self.listeners) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(prio = u64::from(common::log::ALERT), "{e}");
                tracing::error!(
                    prio = u64::from(common::log::ALERT),
                    "Reload failed; keeping the current configuration."
                );
                common::notify::ready();
                return;
            }
        };
        let changes = crate::reload::diff(&self.config, &new);
        let removed_fe: Vec<&str> = changes
            .iter()
            .filter_map(|c| match c {
                Change::FrontendRemoved { frontend } => Some(frontend.as_str()),
                _ => None,
            })
            .collect();
        let removed_be = changes.iter().filter_map(|c| match c {
            Change::BackendRemoved { backend } => Some(backend.as_str()),
            _ => None,
        });
        for n in &removed_fe {
            self.proxy_stopped_line(n);
        }
        for n in removed_be.filter(|n| !removed_fe.contains(n)) {
            self.proxy_stopped_line(n);
        }
        let added_fe = changes.iter().filter_map(|c| match c {
            Change::FrontendAdded { frontend } => Some(frontend.clone()),
            _ => None,
        });
        let added_be = changes.iter().filter_map(|c| match c {
            Change::BackendAdded { backend } => new
                .backend(backend)
                .filter(|b| !b.from_listen)
                .map(|b| b.name.clone()),
            _ => None,
        });
        let added: Vec<String> = added_fe.chain(added_be).collect();
        self.apply(new, bound, &changes);
        for n in added {
            event(
                &self.global_log,
                common::log::NOTICE,
                &format!("Proxy {n} started."),
            );
        }
        tracing::info!(
            prio = u64::from(common::log::NOTICE),
            "Configuration reloaded: {} frontend(s), {} backend(s), {} listener(s).",
            self.config.frontends.len(),
            self.config.backends.len(),
            self.listeners.len()
        );
        common::notify::ready();
    }

    fn proxy_stopped_line(&self, name: &str) {
        let fe = self.rt.frontend(name).map_or(0, |f| f.counters.stot.get());
        let be = self.rt.backend(name).map_or(0, |b| b.counters.stot.get());
        event(
            &self.global_log,
            common::log::WARNING,
            &format!("Proxy {name} stopped (cumulated conns: FE: {fe}, BE: {be})."),
        );
    }

    /// Close every listener and log HAProxy's "Proxy X stopped" lines.
    pub fn stop_listeners(&mut self) {
        for (_, l) in self.listeners.drain() {
            l.stop.cancel();
        }
        let mut seen = HashSet::new();
        let names: Vec<String> = self
            .config
            .frontends
            .iter()
            .map(|f| f.name.clone())
            .chain(self.config.backends.iter().map(|b| b.name.clone()))
            .collect();
        for n in names {
            if seen.insert(n.clone()) {
                self.proxy_stopped_line(&n);
            }
        }
    }

    /// SIGTTOU / SIGTTIN.
    pub fn pause(&self, pause: bool) {
        let _ = self.pause_tx.send(pause);
        self.rt
            .paused
            .store(pause, std::sync::atomic::Ordering::Relaxed);
        for f in &self.config.frontends {
            let msg = if pause {
                format!("Paused frontend {}.", f.name)
            } else {
                format!("Resumed frontend {}.", f.name)
            };
            event(&self.global_log, common::log::WARNING, &msg);
        }
    }

    /// Wait for the accept loops to end (after [`App::stop_listeners`]).
    async fn listeners_closed(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Run until stopped; returns the exit code.
    /// `signals` must be created before the listeners are bound, so that
    /// no signal hits its default action in between.
    pub async fn run(mut self, mut signals: common::signals::Signals) -> i32 {
        common::notify::ready();
        let mut soft_deadline: Option<tokio::time::Instant> = None;
        let sessions = self.ctx.sessions.clone();
        loop {
            let drained = async {
                if soft_deadline.is_some() {
                    sessions.wait().await
                } else {
                    std::future::pending().await
                }
            };
            let hard_at = async {
                match soft_deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let sig = tokio::select! {
                s = signals.recv() => s,
                _ = drained => break,
                _ = hard_at => {
                    tracing::warn!("hard-stop-after expired: killing the remaining sessions");
                    self.ctx.hard.kill();
                    soft_deadline = Some(tokio::time::Instant::now() + Duration::from_secs(3600));
                    continue;
                }
            };
            use common::signals::Signal;
            match sig {
                Signal::Usr1 => {
                    if soft_deadline.is_none() {
                        common::notify::stopping();
                        tracing::info!(
                            prio = u64::from(common::log::NOTICE),
                            "SIGUSR1 received: soft stop, waiting for {} session(s) to end.",
                            self.rt.actconn.get()
                        );
                        self.rt
                            .stopping
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                        self.stop_listeners();
                        self.listeners_closed().await;
                        sessions.close();
                        let wait = self
                            .config
                            .global
                            .hard_stop_after
                            .unwrap_or(Duration::from_secs(365 * 86_400));
                        soft_deadline = Some(tokio::time::Instant::now() + wait);
                    }
                }
                Signal::Term | Signal::Int => {
                    common::notify::stopping();
                    tracing::info!(
                        prio = u64::from(common::log::NOTICE),
                        "{} received: stopping.",
                        sig.name()
                    );
                    if soft_deadline.is_none() {
                        self.stop_listeners();
                    }
                    self.ctx.hard.kill();
                    self.listeners_closed().await;
                    sessions.close();
                    let _ = tokio::time::timeout(Duration::from_secs(5), sessions.wait()).await;
                    break;
                }
                Signal::Ttou => self.pause(true),
                Signal::Ttin => self.pause(false),
                Signal::Hup | Signal::Usr2 => {
                    if soft_deadline.is_none() {
                        self.reload().await;
                    }
                }
            }
        }
        self.checks.cancel();
        self.stats_cancel.cancel();
        self.checks_tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.checks_tracker.wait()).await;
        0
    }
}

/// What follows the date in syslog headers: `[HOSTNAME ]TAG` (`log-tag`,
/// default `proxyd`; `log-send-hostname [NAME]`).
fn syslog_tag(g: &model::Global) -> String {
    let tag = g.log_tag.clone().unwrap_or_else(|| "proxyd".to_string());
    match &g.log_send_hostname {
        None => tag,
        Some(h) if !h.is_empty() => format!("{h} {tag}"),
        Some(_) => {
            let host = nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".to_string());
            format!("{host} {tag}")
        }
    }
}

/// After `setuid` with `PR_SET_KEEPCAPS`: keep only CAP_NET_BIND_SERVICE
/// (permitted and effective).
fn keep_net_bind_service() -> std::io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    const CAP_NET_BIND_SERVICE: u32 = 10;
    let hdr = Header {
        version: VERSION_3,
        pid: 0,
    };
    let bit = 1u32 << CAP_NET_BIND_SERVICE;
    let data = [
        Data {
            effective: bit,
            permitted: bit,
            inheritable: 0,
        },
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
    ];
    // SAFETY: capset(2) (which nix does not wrap) only reads one header
    // and two data structs, laid out as the kernel's
    // _LINUX_CAPABILITY_VERSION_3 ABI, that live on this stack frame for
    // the duration of the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &hdr as *const Header, data.as_ptr()) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn display_files(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Open the listeners of `cfg` that are not open yet. On failure, close
/// what was opened and return HAProxy's alert text.
fn bind_new(
    cfg: &Config,
    existing: &HashMap<SocketAddr, Listening>,
) -> Result<Vec<(SocketAddr, std::net::TcpListener, u32)>, String> {
    let mut out: Vec<(SocketAddr, std::net::TcpListener, u32)> = Vec::new();
    for f in cfg.frontends.iter().filter(|f| !f.disabled) {
        for b in &f.binds {
            for addr in &b.addrs {
                if existing.contains_key(addr) || out.iter().any(|(a, ..)| a == addr) {
                    continue;
                }
                let backlog = b.backlog.or(f.backlog).or(f.maxconn).unwrap_or(1024);
                let v6only = if b.v6only {
                    Some(true)
                } else if b.v4v6 {
                    Some(false)
                } else {
                    None
                };
                match bind_socket(*addr, backlog, v6only) {
                    Ok(l) => out.push((*addr, l, backlog)),
                    Err(e) => {
                        return Err(format!(
                            "Binding [{}] for frontend {}: cannot bind socket ({}) for [{}]",
                            b.pos,
                            f.name,
                            e.raw_os_error().map_or_else(
                                || e.to_string(),
                                |n| nix::errno::Errno::from_raw(n).desc().to_string()
                            ),
                            addr
                        ))
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Load the configuration, start the runtime, run until stopped.
pub fn main(opts: Options) -> anyhow::Result<i32> {
    let pid = std::process::id();
    let loaded = match crate::config::load(&opts.files) {
        Ok(l) => l,
        Err(e) => {
            for d in &e.diags {
                eprintln!("{}", d.render(pid));
            }
            eprintln!(
                "{}",
                Diag::raw(Level::Alert, None, "Fatal errors found in configuration.").render(pid)
            );
            return Ok(1);
        }
    };
    for d in &loaded.warnings {
        eprintln!("{}", d.render(pid));
    }
    let config = loaded.config;
    let threads = config
        .global
        .nbthread
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("proxyd")
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let signals = match common::signals::Signals::new() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("[ALERT]    ({pid}) : cannot install signal handlers: {e}");
                return Ok(1);
            }
        };
        if let Err(e) = fd_limit_for(&config) {
            eprintln!("[ALERT]    ({pid}) : [proxyd.main()] {e}");
            return Ok(1);
        }
        let mut app = match App::start(opts, config).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("[ALERT]    ({pid}) : {e}");
                eprintln!("[ALERT]    ({pid}) : [proxyd.main()] Some protocols failed to start their listeners! Exiting.");
                return Ok(1);
            }
        };
        if let Err(e) = app.bind_stats() {
            eprintln!("[ALERT]    ({pid}) : {e}");
            return Ok(1);
        }
        if let Err(e) = app.drop_privileges() {
            eprintln!("[ALERT]    ({pid}) : {e}");
            return Ok(1);
        }
        app.start_stats();
        Ok(app.run(signals).await)
    })
}

impl App {
    /// Bind the `stats socket`s (before chroot and privilege drop).
    pub fn bind_stats(&mut self) -> Result<(), String> {
        for sock in &self.config.global.stats_sockets {
            match crate::stats::bind(sock) {
                Ok(b) => self.stats_bound.push(b),
                Err(e) => {
                    return Err(format!(
                        "Starting proxy GLOBAL: cannot bind UNIX socket ({e}) [{}]",
                        match &sock.addr {
                            model::StatsAddr::Unix(p) => p.display().to_string(),
                            model::StatsAddr::Tcp(a) => a.to_string(),
                        }
                    ))
                }
            }
        }
        Ok(())
    }

    /// Serve the bound `stats socket`s. They are not changed by a reload
    /// (as with HAProxy's master, changing them needs a restart).
    pub fn start_stats(&mut self) {
        let g = &self.config.global;
        let limits = crate::stats::Limits::new(g.stats_timeout, g.stats_maxconn);
        for b in self.stats_bound.drain(..) {
            if let Err(e) = crate::stats::serve(
                b,
                self.rt.clone(),
                &limits,
                &self.checks_tracker,
                self.stats_cancel.clone(),
            ) {
                tracing::error!("stats socket: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        match crate::config::parse_sources(
            &[("t.cfg".to_string(), text.to_string())],
            &crate::config::values::SystemHost,
            &common::lexer::NoEnv,
        ) {
            Ok(l) => l.config,
            Err(e) => panic!("{:?}", e.diags),
        }
    }

    fn cfg(port: u16, gmax: u32, fmax: u32, bmax: u32, servers: &str) -> Config {
        parse(&format!(
            "global\n    maxconn {gmax}\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{port} maxconn {bmax}\n    maxconn {fmax}\n    default_backend be\nbackend be\n{servers}"
        ))
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    /// One reload applied in process: the limits are resized in place,
    /// the frontend state and the unchanged servers are kept, a server
    /// whose address changed is rebuilt, the new one is added, in order.
    #[tokio::test]
    async fn apply_resizes_limits_in_place_and_keeps_what_stays() {
        let port = free_port();
        let old = cfg(
            port,
            100,
            50,
            20,
            "    server s1 127.0.0.1:19001\n    server s2 127.0.0.1:19002\n",
        );
        let mut app = App::start(Options::default(), old).await.expect("start");
        let global = app.global_limit.clone();
        let front = app.fe_limits["fe"].clone();
        let bind = app
            .listeners
            .values()
            .next()
            .expect("listener")
            .limit
            .clone();
        let fe_state = app.rt.frontend("fe").expect("fe");
        let be = app.rt.backend("be").expect("be");
        let s1 = be.server("s1").expect("s1");
        let s2 = be.server("s2").expect("s2");

        let new = cfg(
            port,
            2,
            3,
            4,
            "    server s1 127.0.0.1:19001 weight 5\n    server s2 127.0.0.1:19012\n    server s3 127.0.0.1:19003\n",
        );
        let changes = crate::reload::diff(&app.config, &new);
        let bound = bind_new(&new, &app.listeners).expect("nothing new to bind");
        app.apply(new, bound, &changes);

        assert_eq!(global.acct().max, 2);
        assert_eq!(front.acct().max, 3);
        assert_eq!(bind.acct().max, 4);
        assert!(Arc::ptr_eq(&app.global_limit, &global));
        assert!(Arc::ptr_eq(&app.fe_limits["fe"], &front));
        assert!(Arc::ptr_eq(
            &app.listeners.values().next().expect("listener").limit,
            &bind
        ));
        assert_eq!(app.rt.maxconn.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert!(Arc::ptr_eq(&app.rt.frontend("fe").expect("fe"), &fe_state));
        let be2 = app.rt.backend("be").expect("be");
        assert!(Arc::ptr_eq(&be2, &be));
        let k1 = be2.server("s1").expect("s1");
        assert!(Arc::ptr_eq(&k1, &s1), "weight only: kept");
        assert_eq!(k1.weight(), 5);
        assert!(
            !Arc::ptr_eq(&be2.server("s2").expect("s2"), &s2),
            "new address: rebuilt"
        );
        let names: Vec<String> = be2.servers().iter().map(|s| s.name.clone()).collect();
        assert_eq!(names, ["s1", "s2", "s3"]);
        // nothing left over
        assert!(crate::reload::diff(&app.config, &app.config).is_empty());
        app.stop_listeners();
        app.checks.cancel();
    }
}

#[cfg(test)]
mod fd_limit_tests {
    use super::fds_needed;

    #[test]
    fn fds_needed_counts_as_haproxy() {
        // values haproxy 2.6 printed for these set-ups
        assert_eq!(fds_needed(100_000, 1, 0, 2), 200_017);
        assert_eq!(fds_needed(100_000, 1, 0, 1), 200_014);
        assert_eq!(fds_needed(100_000, 2, 2, 2), 200_020);
        assert_eq!(
            fds_needed(u32::MAX, usize::MAX, usize::MAX, usize::MAX),
            u64::MAX
        );
    }
}
