//! Runtime state shared by the data path, the balancer, the health checks
//! and the stats socket.
//!
//! Everything is behind `Arc` and uses atomics for counters, so that the
//! data path never takes a lock per read or per byte. Per new session it
//! takes: the backend's balancer mutex (like HAProxy's per-backend LB
//! lock), a read lock on the backend's settings, and the chosen server's
//! kill-token mutex (to subscribe to `shutdown-sessions`). It never takes
//! a server's record lock: the balancer reads the one published status
//! word of each server ([`ServerState::status`]).
//!
//! Identity across reloads: a [`BackendState`] is kept (same `Arc`) when a
//! backend of the same name exists in the new configuration, and a
//! [`ServerState`] is kept when a server of the same name and address stays
//! in it, so counters and health survive a reload. Removed servers leave
//! the balancer's list; the sessions they still carry hold their `Arc` and
//! finish normally.
//!
//! A server's state is one pure [`ServerRecord`] (`server.rs`). Health
//! checks, the stats socket and reload change it only through
//! [`BackendState::update_server`] with one of the record's methods; the
//! returned [`Change`] drives their log lines. Read it with
//! [`ServerState::with_record`] (display) or [`ServerState::status`]
//! (lock-free). Also for the log lines: [`BackendState::servers_left`],
//! [`ServerState::sessions`], [`BackendState::queued`];
//! [`ServerState::shutdown_sessions`] (`on-marked-down shutdown-sessions`).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime};

use std::collections::VecDeque;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::config::model;
use crate::health::TransitionOpts;
use crate::lb::{Algo, Balancer, Candidate, Pick};
use crate::logsink::LogSink;
pub use crate::server::AdminState;
use crate::server::{Change, ServerRecord, Status};

const R: Ordering = Ordering::Relaxed;

/// A relaxed atomic counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn get(&self) -> u64 {
        self.0.load(R)
    }
    pub fn set(&self, v: u64) {
        self.0.store(v, R)
    }
    pub fn inc(&self) -> u64 {
        self.0.fetch_add(1, R) + 1
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, R);
    }
    /// Decrement, saturating at 0.
    pub fn dec(&self) {
        let _ = self.0.fetch_update(R, R, |v| Some(v.saturating_sub(1)));
    }
    /// Raise to `v` if lower (for the `*max` columns).
    pub fn max(&self, v: u64) {
        self.0.fetch_max(v, R);
    }
}

/// The counters of `show stat` (one set per frontend, backend, server).
#[derive(Debug, Default)]
pub struct Counters {
    /// Current sessions.
    pub scur: Counter,
    /// Maximum of `scur`.
    pub smax: Counter,
    /// Cumulated sessions.
    pub stot: Counter,
    /// Bytes in (client to server).
    pub bin: Counter,
    /// Bytes out (server to client).
    pub bout: Counter,
    /// Connection errors (servers, backends).
    pub econ: Counter,
    /// Response errors (server aborts during data).
    pub eresp: Counter,
    /// Connection retries.
    pub wretr: Counter,
    /// Redispatches.
    pub wredis: Counter,
    /// Times the server was selected by the balancer.
    pub lbtot: Counter,
    /// Sessions waiting in the queue.
    pub qcur: Counter,
    /// Maximum of `qcur`.
    pub qmax: Counter,
    /// Requests denied / connections refused by limits (frontends).
    pub dreq: Counter,
}

impl Counters {
    /// A session starts: scur+1, smax, stot+1.
    pub fn open(&self) {
        let cur = self.scur.inc();
        self.smax.max(cur);
        self.stot.inc();
    }
    pub fn close(&self) {
        self.scur.dec();
    }
}

/// One server at run time, built from its configuration
/// ([`model::Server`], which owns every configured value): the identity
/// read from it once (name, id, address, backup, checks), the limits a
/// reload changes in place, counters, and the shared side of its
/// [`ServerRecord`] (one lock around the record, one published snapshot
/// that the balancer and the data path read without locking).
#[derive(Debug)]
pub struct ServerState {
    pub name: String,
    pub id: u32,
    pub addr: SocketAddr,
    pub backup: bool,
    /// `maxconn` (0 = none); a reload changes it in place, so that the
    /// sessions already open count against the new limit.
    maxconn: AtomicU32,
    /// `maxqueue` (0 = none); changed in place by a reload.
    maxqueue: AtomicU32,
    /// Whether health checks run for this server.
    pub check: bool,
    /// The server's state; changed only through [`ServerState::update`]
    /// (or [`BackendState::update_server`]), which republishes `snap`.
    record: Mutex<ServerRecord>,
    /// [`Status`] of the record as of its last change, packed in one word
    /// (see [`pack`]): never two flags that must be kept in step.
    snap: AtomicU64,
    pub counters: Counters,
    /// The checker task's side (in progress, wake-up, options).
    pub check_io: CheckIo,
    kill: Mutex<KillToken>,
}

/// Pack a [`Status`] into one word: bit 0 up, bits 1-2 admin, bits 8-31
/// the current weight, bits 32-55 the initial weight (weights are at most
/// 256 in HAProxy; larger values saturate at 2^24 - 1).
fn pack(s: Status) -> u64 {
    let w = |v: u32| u64::from(v.min(0xFF_FFFF));
    u64::from(s.up) | (s.admin as u64) << 1 | w(s.weight) << 8 | w(s.initial_weight) << 32
}

fn unpack(v: u64) -> Status {
    Status {
        up: v & 1 != 0,
        admin: AdminState::from_u8(((v >> 1) & 3) as u8),
        weight: ((v >> 8) & 0xFF_FFFF) as u32,
        initial_weight: ((v >> 32) & 0xFF_FFFF) as u32,
    }
}

/// What a server's checker task shares with the rest: whether a check is
/// running, a wake-up for an immediate check, and the per-server options.
/// Lock-free.
#[derive(Debug, Default)]
pub struct CheckIo {
    in_progress: AtomicBool,
    wake: tokio::sync::Notify,
    opts: AtomicU8,
    check_port: AtomicU16,
}

impl CheckIo {
    /// Mark a check as running or finished.
    pub fn set_in_progress(&self, running: bool) {
        self.in_progress.store(running, R);
    }

    /// A check is running (`* ` before the status in `show stat`).
    pub fn in_progress(&self) -> bool {
        self.in_progress.load(R)
    }

    /// Ask the checker task for an immediate check.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when an immediate check is wanted (leaving maintenance).
    pub async fn wake_requested(&self) {
        self.wake.notified().await
    }

    /// Options from the configuration (set at startup and on reload).
    pub fn set_opts(&self, o: TransitionOpts) {
        let bits = u8::from(o.shutdown_sessions)
            | u8::from(o.shutdown_backup_sessions) << 1
            | u8::from(o.log_health_checks) << 2;
        self.opts.store(bits, R);
    }

    pub fn opts(&self) -> TransitionOpts {
        let bits = self.opts.load(R);
        TransitionOpts {
            shutdown_sessions: bits & 1 != 0,
            shutdown_backup_sessions: bits & 2 != 0,
            log_health_checks: bits & 4 != 0,
        }
    }

    /// The check `port` override (0 = none), as `show servers state` shows.
    pub fn set_check_port(&self, port: u16) {
        self.check_port.store(port, R);
    }

    pub fn check_port(&self) -> u16 {
        self.check_port.load(R)
    }
}

/// Bumped by [`KillToken::kill`] before the token is cancelled.
static KILL_EPOCH: AtomicU64 = AtomicU64::new(0);

/// How many kills of established sessions there have been. A session
/// waiting on [`KillToken`]s shared by many sessions registers once, then
/// only looks at them again when this moved (no shared mutex per wake-up).
pub fn kill_epoch() -> u64 {
    KILL_EPOCH.load(Ordering::Acquire)
}

/// A token that ends established sessions (hard stop, a server's
/// `shutdown-sessions`). Killing it announces the kill in [`kill_epoch`]
/// first, so that sessions which poll it lazily see it.
#[derive(Clone, Debug, Default)]
pub struct KillToken(CancellationToken);

impl KillToken {
    pub fn kill(&self) {
        KILL_EPOCH.fetch_add(1, Ordering::AcqRel);
        self.0.cancel();
    }

    /// The token to wait on (cancel it only through [`KillToken::kill`]).
    pub fn token(&self) -> &CancellationToken {
        &self.0
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl ServerState {
    /// The runtime object of the configured server `conf`; its weight and
    /// `disabled` go into the [`ServerRecord`], `maxconn`/`maxqueue` (0 =
    /// none) into the limits.
    pub fn new(conf: &model::Server) -> Self {
        // Checks are configured by `checks::collect`; a checked server
        // starts UP (health = rise), so traffic flows until the first
        // failed check.
        let record = ServerRecord::new(conf.weight, conf.disabled, None, unix_now());
        ServerState {
            name: conf.name.clone(),
            id: conf.id,
            addr: conf.addr,
            backup: conf.backup,
            maxconn: AtomicU32::new(conf.maxconn.unwrap_or(0)),
            maxqueue: AtomicU32::new(conf.maxqueue.unwrap_or(0)),
            check: conf.check,
            snap: AtomicU64::new(pack(record.status())),
            record: Mutex::new(record),
            counters: Counters::default(),
            check_io: CheckIo::default(),
            kill: Mutex::new(KillToken::default()),
        }
    }

    /// The server's `maxconn` (0 = none).
    pub fn maxconn(&self) -> u32 {
        self.maxconn.load(Ordering::Relaxed)
    }

    /// The server's `maxqueue` (0 = none).
    pub fn maxqueue(&self) -> u32 {
        self.maxqueue.load(Ordering::Relaxed)
    }

    /// Change `maxconn`/`maxqueue` in place (reload). The caller then
    /// serves the backend's queue ([`BackendState::changed`]), so that a
    /// raise admits waiters at once; a lowering is enforced on the next
    /// pick, with the open sessions counted.
    pub fn set_limits(&self, maxconn: u32, maxqueue: u32) {
        self.maxconn.store(maxconn, Ordering::Relaxed);
        self.maxqueue.store(maxqueue, Ordering::Relaxed);
    }

    fn lock_record(&self) -> std::sync::MutexGuard<'_, ServerRecord> {
        // The record is plain data changed by short pure methods: a panic
        // elsewhere cannot leave it half-updated.
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read the record (stats, log lines). Not for the data path: it uses
    /// [`ServerState::status`].
    pub fn with_record<T>(&self, f: impl FnOnce(&ServerRecord) -> T) -> T {
        f(&self.lock_record())
    }

    /// Change the record and publish its new status. Callers that change
    /// what the balancer sees use [`BackendState::update_server`].
    pub fn update<T>(&self, f: impl FnOnce(&mut ServerRecord) -> T) -> T {
        let mut g = self.lock_record();
        let out = f(&mut g);
        self.snap.store(pack(g.status()), Ordering::Release);
        out
    }

    /// The published status (lock-free).
    pub fn status(&self) -> Status {
        unpack(self.snap.load(Ordering::Acquire))
    }

    /// Operationally UP (DOWN in maintenance).
    pub fn is_up(&self) -> bool {
        self.status().up
    }
    pub fn admin(&self) -> AdminState {
        self.status().admin
    }
    /// Current (user) weight.
    pub fn weight(&self) -> u32 {
        self.status().weight
    }
    /// Configured weight.
    pub fn initial_weight(&self) -> u32 {
        self.status().initial_weight
    }
    /// Effective weight: 0 in drain or maintenance.
    pub fn effective_weight(&self) -> u32 {
        self.status().effective_weight()
    }
    /// UP, not in maintenance (drain still counts as usable).
    pub fn usable(&self) -> bool {
        self.status().usable()
    }
    /// Sessions currently on this server.
    pub fn sessions(&self) -> u64 {
        self.counters.scur.get()
    }

    /// Abort every session currently established on this server (they end
    /// with termination state `D` or `U` + phase).
    pub fn shutdown_sessions(&self) {
        if let Ok(mut k) = self.kill.lock() {
            k.kill();
            *k = KillToken::default();
        }
    }

    /// The token a new session on this server listens to.
    pub fn kill_token(&self) -> KillToken {
        match self.kill.lock() {
            Ok(k) => k.clone(),
            Err(_) => KillToken::default(),
        }
    }
}

impl Candidate for Arc<ServerState> {
    fn weight(&self) -> u32 {
        self.effective_weight()
    }
    fn initial_weight(&self) -> u32 {
        ServerState::initial_weight(self)
    }
    fn usable(&self) -> bool {
        ServerState::usable(self)
    }
    fn backup(&self) -> bool {
        self.backup
    }
    fn served(&self) -> u32 {
        u32::try_from(self.counters.scur.get()).unwrap_or(u32::MAX)
    }
    fn maxconn(&self) -> u32 {
        ServerState::maxconn(self)
    }
    fn id(&self) -> u32 {
        self.id
    }
    fn queue_room(&self) -> bool {
        let maxqueue = ServerState::maxqueue(self);
        maxqueue == 0 || self.counters.qcur.get() < u64::from(maxqueue)
    }
}

/// Backend settings that a reload may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSettings {
    pub algo: Algo,
    pub allbackups: bool,
    pub retries: u32,
    pub redispatch: bool,
    pub connect_timeout: Option<Duration>,
    pub server_timeout: Option<Duration>,
    pub server_fin_timeout: Option<Duration>,
    pub tunnel_timeout: Option<Duration>,
    /// `timeout queue`, defaulting to `timeout connect`.
    pub queue_timeout: Option<Duration>,
}

impl Default for BackendSettings {
    fn default() -> Self {
        BackendSettings {
            algo: Algo::RoundRobin,
            allbackups: false,
            retries: 3,
            redispatch: false,
            connect_timeout: None,
            server_timeout: None,
            server_fin_timeout: None,
            tunnel_timeout: None,
            queue_timeout: None,
        }
    }
}

struct LbState {
    servers: Arc<[Arc<ServerState>]>,
    balancer: Balancer,
    /// Sessions waiting for a slot, oldest first (backend and server
    /// queues together, so that a freed slot goes to the oldest session
    /// able to use it, as HAProxy's dequeuing does).
    waiters: VecDeque<Waiter>,
    next_waiter: u64,
}

/// A queued session.
struct Waiter {
    id: u64,
    key: u64,
    avoid: Option<Arc<ServerState>>,
    /// `Some` in a server's queue (counted in its `qcur`), `None` in the
    /// backend queue (counted in the backend's `qcur`).
    on: Option<Arc<ServerState>>,
    tx: oneshot::Sender<Result<ServerSlot, AcquireError>>,
}

/// Why no server could be assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireError {
    /// No usable server (`<NOSRV>`, termination `SC`).
    NoServer,
    /// Waited `timeout queue` in vain (termination `sQ`).
    QueueTimeout,
    /// The wait was cancelled (hard stop).
    Cancelled,
}

/// One backend at run time.
pub struct BackendState {
    pub name: String,
    pub id: u32,
    pub counters: Counters,
    settings: RwLock<Arc<BackendSettings>>,
    lb: Mutex<LbState>,
    servers: RwLock<Arc<[Arc<ServerState>]>>,
    /// This backend, for the slots handed out under the balancer lock.
    me: Weak<BackendState>,
    /// Bumped on every change of the eligible server set.
    pub generation: Counter,
    /// Wall-clock second of the last time the backend went up/down.
    pub last_change: Counter,
    /// Number of times the backend lost all its servers.
    pub chkdown: Counter,
    /// Whether the "no server available" state is current.
    no_server: AtomicBool,
    log: RwLock<Arc<LogSink>>,
}

impl std::fmt::Debug for BackendState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendState")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A server slot held by a session: releases the server's session count
/// and hands the slot to the oldest queued session when dropped.
#[derive(Debug)]
pub struct ServerSlot {
    pub backend: Arc<BackendState>,
    pub server: Arc<ServerState>,
}

impl Drop for ServerSlot {
    fn drop(&mut self) {
        let backend = self.backend.clone();
        backend.release(&self.server);
    }
}

impl BackendState {
    pub fn new(
        name: &str,
        id: u32,
        settings: BackendSettings,
        servers: Vec<Arc<ServerState>>,
    ) -> Arc<Self> {
        let servers: Arc<[Arc<ServerState>]> = servers.into();
        Arc::new_cyclic(|me| BackendState {
            me: me.clone(),
            name: name.to_string(),
            id,
            counters: Counters::default(),
            lb: Mutex::new(LbState {
                servers: servers.clone(),
                balancer: Balancer::new(settings.algo, settings.allbackups),
                waiters: VecDeque::new(),
                next_waiter: 0,
            }),
            settings: RwLock::new(Arc::new(settings)),
            servers: RwLock::new(servers),
            generation: Counter::default(),
            last_change: Counter(AtomicU64::new(unix_now())),
            chkdown: Counter::default(),
            no_server: AtomicBool::new(false),
            log: RwLock::new(Arc::new(LogSink::default())),
        })
    }

    /// The backend's log targets (`log global` resolved).
    pub fn log(&self) -> Arc<LogSink> {
        match self.log.read() {
            Ok(s) => s.clone(),
            Err(e) => e.into_inner().clone(),
        }
    }

    pub fn set_log(&self, sink: Arc<LogSink>) {
        if let Ok(mut l) = self.log.write() {
            *l = sink;
        }
    }

    /// Log an event of this backend (health transitions, "has no server
    /// available!") at syslog severity `prio`: to stderr/journald through
    /// tracing and to the backend's syslog targets.
    pub fn log_event(&self, prio: u8, msg: &str) {
        crate::logsink::event(&self.log(), prio, msg);
    }

    /// The current server list (declaration order).
    pub fn servers(&self) -> Arc<[Arc<ServerState>]> {
        match self.servers.read() {
            Ok(s) => s.clone(),
            Err(e) => e.into_inner().clone(),
        }
    }

    pub fn server(&self, name: &str) -> Option<Arc<ServerState>> {
        self.servers().iter().find(|s| s.name == name).cloned()
    }

    pub fn settings(&self) -> Arc<BackendSettings> {
        match self.settings.read() {
            Ok(s) => s.clone(),
            Err(e) => e.into_inner().clone(),
        }
    }

    /// Replace settings and servers (reload). Servers kept from the old
    /// list must be passed as the same `Arc`.
    pub fn update(&self, settings: BackendSettings, servers: Vec<Arc<ServerState>>) {
        let servers: Arc<[Arc<ServerState>]> = servers.into();
        if let Ok(mut lb) = self.lb.lock() {
            if lb.balancer.algo() != settings.algo
                || self.settings().allbackups != settings.allbackups
            {
                lb.balancer = Balancer::new(settings.algo, settings.allbackups);
            } else {
                lb.balancer.reset();
            }
            lb.servers = servers.clone();
        }
        if let Ok(mut s) = self.servers.write() {
            *s = servers;
        }
        if let Ok(mut s) = self.settings.write() {
            *s = Arc::new(settings);
        }
        self.changed();
    }

    /// The eligible set changed: reset the round robin, serve the queue.
    pub fn changed(&self) {
        self.generation.inc();
        let mut undelivered = Vec::new();
        {
            let mut lb = self.lock_lb();
            lb.balancer.reset();
            self.dispatch(&mut lb, &mut undelivered);
        }
        drop(undelivered);
    }

    fn lock_lb(&self) -> std::sync::MutexGuard<'_, LbState> {
        match self.lb.lock() {
            Ok(l) => l,
            Err(e) => e.into_inner(),
        }
    }

    /// A session gives its slot back: serve the queue first.
    fn release(&self, server: &ServerState) {
        let mut undelivered = Vec::new();
        {
            let mut lb = self.lock_lb();
            server.counters.close();
            self.dispatch(&mut lb, &mut undelivered);
        }
        // slots whose waiter left meanwhile: released outside the lock
        drop(undelivered);
    }

    /// Give free slots to the queued sessions, oldest first. Called under
    /// the balancer lock whenever a slot frees or the eligible set
    /// changes, so that a new arrival never finds a free slot while an
    /// older session able to use it is waiting.
    fn dispatch(&self, lb: &mut LbState, undelivered: &mut Vec<ServerSlot>) {
        let mut i = 0;
        // once a plain backend waiter finds every server full, the other
        // plain backend waiters would too
        let mut backend_full = false;
        while i < lb.waiters.len() {
            let w = &lb.waiters[i];
            if w.tx.is_closed() {
                // gone (its guard removes it too)
                let w = lb.waiters.remove(i);
                if let Some(w) = w {
                    self.unqueue(&w);
                }
                continue;
            }
            if w.on.is_none() && w.avoid.is_none() && backend_full {
                i += 1;
                continue;
            }
            if let Some(s) = &w.on {
                let maxconn = s.maxconn();
                if s.usable() && maxconn > 0 && s.sessions() >= u64::from(maxconn) {
                    i += 1;
                    continue;
                }
            }
            let (key, avoid) = (w.key, w.avoid.clone());
            let picked = self.pick_locked(lb, key, avoid.as_ref());
            let result = match picked {
                Picked::Slot(slot) => Ok(slot),
                Picked::NoServer => Err(AcquireError::NoServer),
                Picked::Full => {
                    let w = &mut lb.waiters[i];
                    if w.avoid.is_none() {
                        backend_full = true;
                    }
                    if w.on.is_some() {
                        let w = &mut lb.waiters[i];
                        if let Some(s) = w.on.take() {
                            s.counters.qcur.dec();
                        }
                        let q = self.counters.qcur.inc();
                        self.counters.qmax.max(q);
                    }
                    i += 1;
                    continue;
                }
                Picked::QueueOn(server) => {
                    let w = &mut lb.waiters[i];
                    let same = w.on.as_ref().is_some_and(|s| Arc::ptr_eq(s, &server));
                    if !same {
                        match w.on.take() {
                            Some(s) => s.counters.qcur.dec(),
                            None => self.counters.qcur.dec(),
                        }
                        let q = server.counters.qcur.inc();
                        server.counters.qmax.max(q);
                        w.on = Some(server);
                    }
                    i += 1;
                    continue;
                }
            };
            if let Some(w) = lb.waiters.remove(i) {
                self.unqueue(&w);
                if let Err(Ok(slot)) = w.tx.send(result) {
                    undelivered.push(slot);
                }
            }
        }
    }

    /// Uncount a waiter leaving the queues.
    fn unqueue(&self, w: &Waiter) {
        match &w.on {
            Some(s) => s.counters.qcur.dec(),
            None => self.counters.qcur.dec(),
        }
    }

    /// Apply an event to one of this backend's servers (see
    /// [`ServerRecord`]'s methods): the snapshot is republished, the
    /// balancer recomputes and queued sessions are served when the status
    /// changed, and the checker is woken when the server left maintenance.
    pub fn update_server(
        &self,
        server: &ServerState,
        f: impl FnOnce(&mut ServerRecord) -> Change,
    ) -> Change {
        let c = server.update(f);
        if c.changed() {
            self.changed();
        }
        if c.before.admin == AdminState::Maint && c.after.admin != AdminState::Maint {
            server.check_io.wake();
        }
        c
    }

    /// (active, backup) servers able to take traffic, as HAProxy counts
    /// them in its "N active and M backup servers left" lines.
    pub fn servers_left(&self) -> (usize, usize) {
        let mut act = 0;
        let mut bck = 0;
        for s in self.servers().iter() {
            if s.usable() && s.effective_weight() > 0 {
                if s.backup {
                    bck += 1;
                } else {
                    act += 1;
                }
            }
        }
        (act, bck)
    }

    /// Sessions waiting in the backend queue.
    pub fn queued(&self) -> u64 {
        self.counters.qcur.get()
    }

    /// Record whether the backend has no usable server; returns true when
    /// that just became true (the caller logs "has no server available!").
    pub fn note_availability(&self) -> bool {
        let none = self.servers_left() == (0, 0);
        let was = self.no_server.swap(none, R);
        if none != was {
            self.last_change.set(unix_now());
        }
        if none && !was {
            self.chkdown.inc();
            return true;
        }
        false
    }

    fn pick_locked(&self, lb: &mut LbState, key: u64, avoid: Option<&Arc<ServerState>>) -> Picked {
        let LbState {
            servers, balancer, ..
        } = lb;
        let avoid_idx = avoid.and_then(|a| servers.iter().position(|s| Arc::ptr_eq(s, a)));
        match balancer.pick(servers, key, avoid_idx) {
            Pick::Server(i) => {
                let Some(backend) = self.me.upgrade() else {
                    return Picked::NoServer;
                };
                let server = servers[i].clone();
                // counted under the lock so that maxconn is exact
                server.counters.open();
                server.counters.lbtot.inc();
                Picked::Slot(ServerSlot { backend, server })
            }
            Pick::QueueOn(i) => Picked::QueueOn(servers[i].clone()),
            Pick::Full => Picked::Full,
            Pick::NoServer => Picked::NoServer,
        }
    }

    /// Get a server for a new session, waiting in the queue (up to
    /// `timeout queue`, default `timeout connect`) when all eligible
    /// servers are full: in the backend queue, or in the server's own
    /// queue when the algorithm designates one server (`balance source`),
    /// bounded by its `maxqueue`. Returns the slot and the time spent
    /// queued, if any.
    pub async fn acquire(
        self: &Arc<Self>,
        client: IpAddr,
        avoid: Option<&Arc<ServerState>>,
        cancel: &CancellationToken,
    ) -> Result<(ServerSlot, Option<Duration>), AcquireError> {
        self.acquire_with(client, avoid, cancel, &mut QueuePos::default())
            .await
    }

    /// [`BackendState::acquire`], also telling the position the session
    /// took in the queues (`%sq`/`%bq` of the log line).
    pub async fn acquire_with(
        self: &Arc<Self>,
        client: IpAddr,
        avoid: Option<&Arc<ServerState>>,
        cancel: &CancellationToken,
        pos: &mut QueuePos,
    ) -> Result<(ServerSlot, Option<Duration>), AcquireError> {
        let key = crate::lb::source_hash(client);
        let (id, mut rx) = {
            let mut lb = self.lock_lb();
            let on = match self.pick_locked(&mut lb, key, avoid) {
                Picked::Slot(slot) => return Ok((slot, None)),
                Picked::NoServer => return Err(AcquireError::NoServer),
                Picked::Full => {
                    let q = self.counters.qcur.inc();
                    self.counters.qmax.max(q);
                    pos.backend = q;
                    None
                }
                Picked::QueueOn(server) => {
                    let q = server.counters.qcur.inc();
                    server.counters.qmax.max(q);
                    pos.server = q;
                    Some(server)
                }
            };
            let (tx, rx) = oneshot::channel();
            let id = lb.next_waiter;
            lb.next_waiter += 1;
            lb.waiters.push_back(Waiter {
                id,
                key,
                avoid: avoid.cloned(),
                on,
                tx,
            });
            (id, rx)
        };
        let _guard = WaitGuard { backend: self, id };
        let start = Instant::now();
        let settings = self.settings();
        let wait = settings
            .queue_timeout
            .or(settings.connect_timeout)
            .unwrap_or(Duration::from_secs(3600 * 24));
        tokio::select! {
            r = &mut rx => match r {
                Ok(Ok(slot)) => Ok((slot, Some(start.elapsed()))),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(AcquireError::Cancelled),
            },
            _ = tokio::time::sleep(wait) => Err(AcquireError::QueueTimeout),
            _ = cancel.cancelled() => Err(AcquireError::Cancelled),
        }
    }
}

enum Picked {
    Slot(ServerSlot),
    Full,
    QueueOn(Arc<ServerState>),
    NoServer,
}

/// Removes a waiter from the queue when its session stops waiting (served,
/// timed out, cancelled or aborted).
struct WaitGuard<'a> {
    backend: &'a BackendState,
    id: u64,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        let mut lb = self.backend.lock_lb();
        if let Some(i) = lb.waiters.iter().position(|w| w.id == self.id) {
            if let Some(w) = lb.waiters.remove(i) {
                self.backend.unqueue(&w);
            }
        }
    }
}

/// Where a session entered the queues: its 1-based position (sessions
/// waiting, itself included) in the server queue and in the backend
/// queue; 0 when it did not wait there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueuePos {
    pub server: u64,
    pub backend: u64,
}

/// One frontend (or the frontend side of a `listen`) at run time.
#[derive(Debug)]
pub struct FrontendState {
    pub name: String,
    pub id: u32,
    pub counters: Counters,
    /// Frontend `maxconn` (0 = none beyond the global one).
    pub maxconn: AtomicU32,
}

impl FrontendState {
    pub fn new(name: &str, id: u32, maxconn: u32) -> Arc<Self> {
        Arc::new(FrontendState {
            name: name.to_string(),
            id,
            counters: Counters::default(),
            maxconn: AtomicU32::new(maxconn),
        })
    }
}

/// Process-wide state.
#[derive(Debug)]
pub struct Runtime {
    /// Process start (for `show info` Uptime).
    pub started: SystemTime,
    pub started_at: Instant,
    /// Current connections, all frontends (`CurrConns`, `%ac`).
    pub actconn: Counter,
    /// Cumulated connections (`CumConns`).
    pub cumconns: Counter,
    /// Global `maxconn`.
    pub maxconn: AtomicU32,
    pub nbthread: u32,
    /// Listeners paused (SIGTTOU).
    pub paused: AtomicBool,
    /// Soft stop in progress.
    pub stopping: AtomicBool,
    frontends: RwLock<Arc<[Arc<FrontendState>]>>,
    backends: RwLock<Arc<[Arc<BackendState>]>>,
}

impl Runtime {
    pub fn new(maxconn: u32, nbthread: u32) -> Arc<Self> {
        Arc::new(Runtime {
            started: SystemTime::now(),
            started_at: Instant::now(),
            actconn: Counter::default(),
            cumconns: Counter::default(),
            maxconn: AtomicU32::new(maxconn),
            nbthread,
            paused: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            frontends: RwLock::new(Vec::new().into()),
            backends: RwLock::new(Vec::new().into()),
        })
    }

    /// Frontends in configuration order.
    pub fn frontends(&self) -> Arc<[Arc<FrontendState>]> {
        match self.frontends.read() {
            Ok(s) => s.clone(),
            Err(e) => e.into_inner().clone(),
        }
    }

    /// Backends in configuration order.
    pub fn backends(&self) -> Arc<[Arc<BackendState>]> {
        match self.backends.read() {
            Ok(s) => s.clone(),
            Err(e) => e.into_inner().clone(),
        }
    }

    pub fn backend(&self, name: &str) -> Option<Arc<BackendState>> {
        self.backends().iter().find(|b| b.name == name).cloned()
    }

    pub fn frontend(&self, name: &str) -> Option<Arc<FrontendState>> {
        self.frontends().iter().find(|f| f.name == name).cloned()
    }

    /// Install the proxy lists (startup and reload).
    pub fn set_proxies(
        &self,
        frontends: Vec<Arc<FrontendState>>,
        backends: Vec<Arc<BackendState>>,
    ) {
        if let Ok(mut f) = self.frontends.write() {
            *f = frontends.into();
        }
        if let Ok(mut b) = self.backends.write() {
            *b = backends.into();
        }
    }

    /// Seconds since start.
    pub fn uptime(&self) -> Duration {
        self.started_at.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(name: &str, port: u16) -> model::Server {
        model::Server {
            id: u32::from(port),
            ..model::Server::for_test(name, SocketAddr::from(([127, 0, 0, 1], port)))
        }
    }

    fn backend(servers: Vec<model::Server>, settings: BackendSettings) -> Arc<BackendState> {
        let s = servers
            .iter()
            .map(|c| Arc::new(ServerState::new(c)))
            .collect();
        BackendState::new("be", 1, settings, s)
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn acquire_round_robin_and_counters() {
        let be = backend(vec![conf("a", 1), conf("b", 2)], BackendSettings::default());
        let c = CancellationToken::new();
        let (s1, q) = be.acquire(IP, None, &c).await.unwrap();
        assert!(q.is_none());
        let (s2, _) = be.acquire(IP, None, &c).await.unwrap();
        assert_eq!(
            (s1.server.name.as_str(), s2.server.name.as_str()),
            ("a", "b")
        );
        assert_eq!(s1.server.sessions(), 1);
        drop(s1);
        let a = be.server("a").unwrap();
        assert_eq!(
            (a.sessions(), a.counters.stot.get(), a.counters.lbtot.get()),
            (0, 1, 1)
        );
        // avoid
        let (s3, _) = be.acquire(IP, Some(&s2.server), &c).await.unwrap();
        assert_eq!(s3.server.name, "a");
    }

    #[test]
    fn status_word_and_opts_round_trip() {
        for up in [false, true] {
            for admin in [AdminState::Ready, AdminState::Drain, AdminState::Maint] {
                for (weight, initial_weight) in [(0, 0), (1, 256), (256, 1), (0xFF_FFFF, 7)] {
                    let st = Status {
                        up,
                        admin,
                        weight,
                        initial_weight,
                    };
                    assert_eq!(unpack(pack(st)), st);
                }
            }
        }
        let io = CheckIo::default();
        for bits in 0..8u8 {
            let o = TransitionOpts {
                shutdown_sessions: bits & 1 != 0,
                shutdown_backup_sessions: bits & 2 != 0,
                log_health_checks: bits & 4 != 0,
            };
            io.set_opts(o);
            assert_eq!(io.opts(), o);
        }
    }

    #[tokio::test]
    async fn update_server_publishes_and_wakes_the_checker() {
        let be = backend(vec![conf("a", 1)], BackendSettings::default());
        let a = be.server("a").unwrap();
        let g = be.generation.get();
        // no visible change: the balancer is left alone
        be.update_server(&a, |r| r.set_weight(1, 0));
        assert_eq!(be.generation.get(), g);
        be.update_server(&a, |r| r.set_admin(AdminState::Maint, 0));
        assert!(!a.usable() && !a.is_up());
        assert_eq!(be.generation.get(), g + 1);
        let woken = a.check_io.wake_requested();
        be.update_server(&a, |r| r.set_admin(AdminState::Ready, 0));
        assert!(a.usable());
        tokio::time::timeout(Duration::from_secs(10), woken)
            .await
            .expect("checker not woken");
    }

    #[tokio::test]
    async fn up_down_and_left() {
        let be = backend(vec![conf("a", 1), conf("b", 2)], BackendSettings::default());
        let a = be.server("a").unwrap();
        let b = be.server("b").unwrap();
        assert_eq!(be.servers_left(), (2, 0));
        a.update(|r| r.configure_checks(Some(crate::health::HealthParams::default()), 0));
        assert!(be.update_server(&a, |r| r.force(false, 0)).changed());
        assert!(!be.update_server(&a, |r| r.force(false, 0)).changed());
        assert_eq!(be.servers_left(), (1, 0));
        assert!(!be.note_availability());
        be.update_server(&b, |r| r.set_admin(AdminState::Maint, 0));
        assert_eq!(be.servers_left(), (0, 0));
        assert!(be.note_availability());
        assert!(!be.note_availability());
        let c = CancellationToken::new();
        assert_eq!(
            be.acquire(IP, None, &c).await.unwrap_err(),
            AcquireError::NoServer
        );
        be.update_server(&b, |r| r.set_admin(AdminState::Drain, 0));
        assert_eq!(be.servers_left(), (0, 0));
        be.update_server(&b, |r| r.set_admin(AdminState::Ready, 0));
        assert_eq!(be.servers_left(), (1, 0));
        assert_eq!(be.generation.get(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn queue_waits_and_times_out() {
        let mut s = conf("a", 1);
        s.maxconn = Some(1);
        let settings = BackendSettings {
            queue_timeout: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        let be = backend(vec![s], settings);
        let c = CancellationToken::new();
        let (slot, _) = be.acquire(IP, None, &c).await.unwrap();
        // a queued session gets the slot when released
        let be2 = be.clone();
        let c2 = c.clone();
        let waiter = tokio::spawn(async move {
            be2.acquire(IP, None, &c2)
                .await
                .map(|(s, q)| (s.server.name.clone(), q.is_some()))
        });
        while be.queued() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(be.counters.qmax.get(), 1);
        drop(slot);
        assert_eq!(waiter.await.unwrap().unwrap(), ("a".to_string(), true));
        assert_eq!(be.queued(), 0);
        // and times out otherwise
        let (_slot, _) = be.acquire(IP, None, &c).await.unwrap();
        assert_eq!(
            be.acquire(IP, None, &c).await.unwrap_err(),
            AcquireError::QueueTimeout
        );
        assert_eq!(be.queued(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn queue_is_first_in_first_out() {
        let mut s = conf("a", 1);
        s.maxconn = Some(1);
        let settings = BackendSettings {
            queue_timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let be = backend(vec![s], settings);
        let c = CancellationToken::new();
        let (slot, _) = be.acquire(IP, None, &c).await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for k in 0..4u32 {
            let (be2, c2, tx2) = (be.clone(), c.clone(), tx.clone());
            tokio::spawn(async move {
                if let Ok((slot, _)) = be2.acquire(IP, None, &c2).await {
                    let _ = tx2.send((k, slot));
                }
            });
            while be.queued() < u64::from(k) + 1 {
                tokio::task::yield_now().await;
            }
        }
        // the freed slot goes to the oldest waiter, not to a newcomer
        drop(slot);
        let (newcomer, c3, tx3) = (be.clone(), c.clone(), tx.clone());
        tokio::spawn(async move {
            if let Ok((slot, _)) = newcomer.acquire(IP, None, &c3).await {
                let _ = tx3.send((99, slot));
            }
        });
        let mut order = Vec::new();
        for _ in 0..5 {
            let (k, slot) = rx.recv().await.unwrap();
            assert_eq!(be.servers()[0].sessions(), 1, "maxconn 1 respected");
            order.push(k);
            drop(slot);
        }
        assert_eq!(order, [0, 1, 2, 3, 99]);
        assert_eq!(be.queued(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn source_server_queue_and_maxqueue() {
        let mut a = conf("a", 1);
        let mut b = conf("b", 2);
        for c in [&mut a, &mut b] {
            c.maxconn = Some(1);
            c.maxqueue = Some(1);
        }
        let settings = BackendSettings {
            algo: Algo::Source,
            queue_timeout: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        let be = backend(vec![a, b], settings);
        let c = CancellationToken::new();
        let (first, _) = be.acquire(IP, None, &c).await.unwrap();
        let target = first.server.clone();
        let be2 = be.clone();
        let c2 = c.clone();
        let waiter = tokio::spawn(async move {
            be2.acquire(IP, None, &c2)
                .await
                .map(|(s, _)| s.server.name.clone())
        });
        while target.counters.qcur.get() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(be.queued(), 0, "server queue, not backend queue");
        // the target's queue is full: the next one goes elsewhere
        let (other, q) = be.acquire(IP, None, &c).await.unwrap();
        assert!(q.is_none());
        assert!(!Arc::ptr_eq(&other.server, &target));
        drop(first);
        assert_eq!(waiter.await.unwrap().unwrap(), target.name);
        assert_eq!(target.counters.qcur.get(), 0);
        assert_eq!(target.counters.qmax.get(), 1);
    }

    #[test]
    fn update_keeps_server_identity() {
        let be = backend(vec![conf("a", 1), conf("b", 2)], BackendSettings::default());
        let a = be.server("a").unwrap();
        a.counters.stot.add(7);
        let c = Arc::new(ServerState::new(&conf("c", 3)));
        be.update(BackendSettings::default(), vec![a.clone(), c]);
        let names: Vec<_> = be.servers().iter().map(|s| s.name.clone()).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(be.server("a").unwrap().counters.stot.get(), 7);
    }

    #[test]
    fn shutdown_sessions_cancels_current_token_only() {
        let s = ServerState::new(&conf("a", 1));
        let t1 = s.kill_token();
        s.shutdown_sessions();
        assert!(t1.is_cancelled());
        assert!(!s.kill_token().is_cancelled());
    }

    #[test]
    fn counters() {
        let c = Counters::default();
        c.open();
        c.open();
        c.close();
        c.close();
        c.close();
        assert_eq!((c.scur.get(), c.smax.get(), c.stot.get()), (0, 2, 2));
    }
}
