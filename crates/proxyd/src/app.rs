//! Process lifecycle: build the runtime from a configuration, bind, drop
//! privileges, run health checks and the stats socket, react to signals,
//! reload in place.
//!
//! Reload (SIGHUP/SIGUSR2) = load + validate the whole new configuration;
//! if it fails, every error is logged and nothing changes. Otherwise:
//! 1. the new bind addresses are opened first (a failure aborts the reload
//!    before anything changed);
//! 2. backends and servers are rebuilt, reusing the runtime objects of the
//!    ones that stay (same name, same address), so they keep their
//!    counters, health state and established sessions;
//! 3. listeners whose address stays are never closed: they are pointed at
//!    the new frontend; removed addresses stop accepting;
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
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::model::{self, Balance, Config};
use crate::config::{Diag, Level};
use crate::lb::Algo;
use crate::logsink::{event, LogSink};
use crate::proxy::{accept_loop, bind_socket, Ctx, Frontend, FrontendSlot};
use crate::state::{
    AdminState, BackendSettings, BackendState, FrontendState, Runtime, ServerConf, ServerState,
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

fn algo(b: Balance) -> Algo {
    match b {
        Balance::RoundRobin => Algo::RoundRobin,
        Balance::StaticRr => Algo::StaticRr,
        Balance::LeastConn => Algo::LeastConn,
        Balance::First => Algo::First,
        Balance::Source => Algo::Source,
    }
}

fn backend_settings(b: &model::Backend) -> BackendSettings {
    BackendSettings {
        algo: algo(b.balance),
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

fn server_conf(s: &model::Server) -> ServerConf {
    ServerConf {
        name: s.name.clone(),
        id: s.id,
        addr: s.addr,
        backup: s.backup,
        maxconn: s.maxconn.unwrap_or(0),
        maxqueue: s.maxqueue.unwrap_or(0),
        weight: s.weight,
        check: s.check,
        disabled: s.disabled,
    }
}

/// A server runtime object may be kept across a reload when what it is
/// built from (identity, address, limits) did not change.
fn same_server(old: &ServerState, new: &ServerConf) -> bool {
    old.name == new.name
        && old.addr == new.addr
        && old.backup == new.backup
        && old.maxconn == new.maxconn
        && old.maxqueue == new.maxqueue
        && old.check == new.check
}

/// Build (or update in place) the backends of `cfg`.
fn build_backends(
    cfg: &Config,
    old_cfg: &Config,
    rt: &Runtime,
    tag: &str,
) -> Vec<Arc<BackendState>> {
    let mut out = Vec::with_capacity(cfg.backends.len());
    for b in &cfg.backends {
        let settings = backend_settings(b);
        let log = Arc::new(LogSink::new(&b.log, tag));
        match rt.backend(&b.name) {
            Some(be) => {
                let servers = b
                    .servers
                    .iter()
                    .map(|s| {
                        let conf = server_conf(s);
                        match be.server(&s.name) {
                            Some(old) if same_server(&old, &conf) => {
                                if old.initial_weight() != conf.weight {
                                    be.update_server(&old, |r| {
                                        r.reload_weight(conf.weight, crate::state::unix_now())
                                    });
                                }
                                // `disabled` added or removed in the file
                                let was_disabled = old_cfg
                                    .backend(&b.name)
                                    .and_then(|ob| ob.server(&s.name))
                                    .is_some_and(|os| os.disabled);
                                if was_disabled != conf.disabled {
                                    let target = if conf.disabled {
                                        AdminState::Maint
                                    } else {
                                        AdminState::Ready
                                    };
                                    be.update_server(&old, |r| {
                                        r.set_admin(target, crate::state::unix_now())
                                    });
                                }
                                old
                            }
                            _ => Arc::new(ServerState::new(&conf)),
                        }
                    })
                    .collect();
                be.update(settings, servers);
                be.set_log(log);
                out.push(be);
            }
            None => {
                let servers = b
                    .servers
                    .iter()
                    .map(|s| Arc::new(ServerState::new(&server_conf(s))))
                    .collect();
                let be = BackendState::new(&b.name, b.id, settings, servers);
                be.set_log(log);
                out.push(be);
            }
        }
    }
    out
}

/// Adjust a semaphore from `old` to `new` permits.
fn resize(sem: &Semaphore, old: u32, new: u32) {
    if new > old {
        sem.add_permits((new - old) as usize);
    } else if old > new {
        sem.forget_permits((old - new) as usize);
    }
}

struct Listening {
    slot: FrontendSlot,
    stop: CancellationToken,
    /// `bind ... maxconn` (u32::MAX = unlimited).
    sem: Arc<Semaphore>,
    limit: u32,
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
    listeners: HashMap<SocketAddr, Listening>,
    fe_sems: HashMap<String, (Arc<Semaphore>, u32)>,
    fe_states: HashMap<String, Arc<FrontendState>>,
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
        let ctx = Arc::new(Ctx {
            rt: rt.clone(),
            hard: Default::default(),
            sessions: TaskTracker::new(),
            global_sem: Some(Arc::new(Semaphore::new(global_maxconn as usize))),
            paused: pause_rx,
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
            config: config.clone(),
            global_maxconn,
            listeners: HashMap::new(),
            fe_sems: HashMap::new(),
            fe_states: HashMap::new(),
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
        app.apply(config, bound);
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

    /// Install `config`, with `bound` the newly opened listeners.
    fn apply(&mut self, config: Config, bound: Vec<(SocketAddr, std::net::TcpListener, u32)>) {
        self.tag = syslog_tag(&config.global);
        let backends = build_backends(&config, &self.config, &self.rt, &self.tag);
        let be_by_name: HashMap<&str, Arc<BackendState>> = backends
            .iter()
            .map(|b| (b.name.as_str(), b.clone()))
            .collect();
        // global maxconn
        let gmax = config.global.maxconn.unwrap_or(self.global_maxconn);
        if let Some(sem) = &self.ctx.global_sem {
            resize(sem, self.global_maxconn, gmax);
        }
        self.global_maxconn = gmax;
        self.rt
            .maxconn
            .store(gmax, std::sync::atomic::Ordering::Relaxed);
        // frontends
        let mut fronts: HashMap<String, Arc<Frontend>> = HashMap::new();
        let mut fe_states = Vec::new();
        let mut sems = HashMap::new();
        for f in &config.frontends {
            let state = self
                .fe_states
                .get(&f.name)
                .cloned()
                .unwrap_or_else(|| FrontendState::new(&f.name, f.id, f.maxconn.unwrap_or(0)));
            state
                .maxconn
                .store(f.maxconn.unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
            let sem = f.maxconn.map(|m| match self.fe_sems.get(&f.name) {
                Some((sem, old)) => {
                    resize(sem, *old, m);
                    sems.insert(f.name.clone(), (sem.clone(), m));
                    sem.clone()
                }
                None => {
                    let sem = Arc::new(Semaphore::new(m as usize));
                    sems.insert(f.name.clone(), (sem.clone(), m));
                    sem
                }
            });
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
                sem,
            });
            fe_states.push(state);
            fronts.insert(f.name.clone(), fe);
        }
        self.fe_sems = sems;
        self.fe_states = fe_states
            .iter()
            .map(|s| (s.name.clone(), s.clone()))
            .collect();
        self.rt.set_proxies(fe_states, backends);
        // listeners: keep, retarget, add, remove
        let mut wanted: HashMap<SocketAddr, (String, u32)> = HashMap::new();
        for f in config.frontends.iter().filter(|f| !f.disabled) {
            for b in &f.binds {
                for a in &b.addrs {
                    wanted.insert(*a, (f.name.clone(), b.maxconn.unwrap_or(u32::MAX)));
                }
            }
        }
        let old: Vec<SocketAddr> = self.listeners.keys().copied().collect();
        for addr in old {
            match wanted
                .get(&addr)
                .and_then(|(n, m)| fronts.get(n).map(|f| (f, *m)))
            {
                Some((fe, limit)) => {
                    if let Some(l) = self.listeners.get_mut(&addr) {
                        if let Ok(mut s) = l.slot.write() {
                            *s = fe.clone();
                        }
                        resize(&l.sem, l.limit, limit);
                        l.limit = limit;
                    }
                }
                None => {
                    if let Some(l) = self.listeners.remove(&addr) {
                        l.stop.cancel();
                    }
                }
            }
        }
        for (addr, std_listener, backlog) in bound {
            let Some((fe, limit)) = wanted
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
            let sem = Arc::new(Semaphore::new(limit as usize));
            self.tasks.spawn(accept_loop(
                listener,
                backlog,
                slot.clone(),
                sem.clone(),
                self.ctx.clone(),
                stop.clone(),
            ));
            self.listeners.insert(
                addr,
                Listening {
                    slot,
                    stop,
                    sem,
                    limit,
                },
            );
        }
        self.global_log = Arc::new(LogSink::new(&config.global.log, &self.tag));
        // health checks: restart with the kept state
        self.checks.cancel();
        self.checks = CancellationToken::new();
        crate::checks::spawn_checkers(&config, &self.rt, &self.checks_tracker, &self.checks);
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
                // SAFETY: prctl with integer arguments only.
                unsafe {
                    libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0);
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
        let old_fe: HashSet<String> = self
            .config
            .frontends
            .iter()
            .map(|f| f.name.clone())
            .collect();
        let old_be: HashSet<String> = self
            .config
            .backends
            .iter()
            .map(|b| b.name.clone())
            .collect();
        let removed_fe: Vec<String> = old_fe
            .iter()
            .filter(|n| new.frontend(n).is_none())
            .cloned()
            .collect();
        let removed_be: Vec<String> = old_be
            .iter()
            .filter(|n| new.backend(n).is_none())
            .cloned()
            .collect();
        let added: Vec<String> = new
            .frontends
            .iter()
            .map(|f| f.name.clone())
            .filter(|n| !old_fe.contains(n))
            .chain(
                new.backends
                    .iter()
                    .filter(|b| !b.from_listen)
                    .map(|b| b.name.clone())
                    .filter(|n| !old_be.contains(n)),
            )
            .collect();
        for n in &removed_fe {
            self.proxy_stopped_line(n);
        }
        for n in removed_be.iter().filter(|n| !removed_fe.contains(n)) {
            self.proxy_stopped_line(n);
        }
        self.apply(new, bound);
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
    // SAFETY: capset(2) reads one header and two data structs, laid out as
    // the kernel's _LINUX_CAPABILITY_VERSION_3 ABI.
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
