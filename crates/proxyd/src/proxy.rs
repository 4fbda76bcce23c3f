//! The data path: listeners, accept loops and TCP sessions.
//!
//! One task per listener accepts (after taking the global and frontend
//! `maxconn` permits, so that excess connections wait in the kernel
//! backlog as with HAProxy), one task per session picks a server, connects
//! with retries/redispatch, then relays both directions with two reused
//! 16 KiB buffers, half-closes correctly and enforces the inactivity
//! timeouts. Counters are atomics; there is no lock or allocation per read.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::model::LogFormat;
use crate::lb::Algo;
use crate::logsink::LogSink;
use crate::state::{AcquireError, BackendState, Counters, FrontendState, Runtime, ServerSlot};
use crate::tcplog::{format_connect, format_tcplog, SessionLog, Term, Tm};

/// Size of each relay buffer.
pub const BUF_SIZE: usize = 16 * 1024;

/// A frontend as the data path needs it (rebuilt on reload; `state` and
/// `sem` are kept across reloads).
#[derive(Debug)]
pub struct Frontend {
    pub state: Arc<FrontendState>,
    pub backend: Option<Arc<BackendState>>,
    pub timeout_client: Option<Duration>,
    pub timeout_client_fin: Option<Duration>,
    pub log_format: LogFormat,
    pub dontlognull: bool,
    /// `option logasap`: log when the server connection is established.
    pub logasap: bool,
    pub log: Arc<LogSink>,
    /// Frontend `maxconn`.
    pub sem: Option<Arc<Semaphore>>,
}

/// Process-wide context of the data path.
#[derive(Debug)]
pub struct Ctx {
    pub rt: Arc<Runtime>,
    /// Cancelled to kill every session (hard stop): termination `K`.
    pub hard: CancellationToken,
    /// Every session task.
    pub sessions: TaskTracker,
    /// Global `maxconn`.
    pub global_sem: Option<Arc<Semaphore>>,
    /// `true` while listeners are paused (SIGTTOU).
    pub paused: watch::Receiver<bool>,
}

/// The frontend a listener currently feeds (swapped on reload).
pub type FrontendSlot = Arc<RwLock<Arc<Frontend>>>;

/// Create a listening socket as HAProxy does: SO_REUSEADDR, non-blocking,
/// `IPV6_V6ONLY` only when asked (`v6only`) or cleared (`v4v6`).
pub fn bind_socket(
    addr: SocketAddr,
    backlog: u32,
    v6only: Option<bool>,
) -> io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        if let Some(v) = v6only {
            s.set_only_v6(v)?;
        }
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(listen_backlog(backlog))?;
    Ok(s.into())
}

/// The backlog as `listen(2)` takes it.
pub fn listen_backlog(backlog: u32) -> i32 {
    i32::try_from(backlog).unwrap_or(i32::MAX)
}

/// Pause a listener as HAProxy does (SIGTTOU): disconnect the listening
/// socket (`connect(AF_UNSPEC)`), so that new connections are refused
/// and the ones waiting in the backlog are reset, while the port stays
/// bound so that no other process can take it.
fn suspend_listener(listener: &TcpListener) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `sa` is a valid, initialised sockaddr of the given length
    // and the fd is owned by `listener` for the duration of the call.
    let r = unsafe {
        let mut sa: libc::sockaddr = std::mem::zeroed();
        sa.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        libc::connect(
            listener.as_raw_fd(),
            &sa,
            std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// End a pause: listen again with the original backlog (SIGTTIN). The
/// socket is registered anew with the reactor, which keeps the hang-up
/// seen while disconnected as a sticky readiness.
fn resume_listener(listener: TcpListener, backlog: u32) -> io::Result<TcpListener> {
    let std_listener = listener.into_std()?;
    socket2::SockRef::from(&std_listener).listen(listen_backlog(backlog))?;
    TcpListener::from_std(std_listener)
}

async fn permit(
    sem: &Option<Arc<Semaphore>>,
    stop: &CancellationToken,
) -> Option<Option<OwnedSemaphorePermit>> {
    match sem {
        None => Some(None),
        Some(s) => tokio::select! {
            p = s.clone().acquire_owned() => p.ok().map(Some),
            _ = stop.cancelled() => None,
        },
    }
}

/// Accept connections on `listener` (listening with `backlog`) until
/// `stop` is cancelled.
pub async fn accept_loop(
    mut listener: TcpListener,
    backlog: u32,
    front: FrontendSlot,
    bind_sem: Arc<Semaphore>,
    ctx: Arc<Ctx>,
    stop: CancellationToken,
) {
    let bind_sem = Some(bind_sem);
    let mut paused = ctx.paused.clone();
    let mut suspended = false;
    loop {
        while *paused.borrow_and_update() {
            if !suspended {
                suspended = true;
                if let Err(e) = suspend_listener(&listener) {
                    tracing::warn!(
                        "cannot pause listener {:?}: {e}",
                        listener.local_addr().ok()
                    );
                }
            }
            tokio::select! {
                r = paused.changed() => if r.is_err() { return },
                _ = stop.cancelled() => return,
            }
        }
        if suspended {
            suspended = false;
            let local = listener.local_addr().ok();
            match resume_listener(listener, backlog) {
                Ok(l) => listener = l,
                Err(e) => {
                    tracing::error!("cannot resume listener {local:?}: {e}");
                    return;
                }
            }
        }
        let fe = match front.read() {
            Ok(f) => f.clone(),
            Err(e) => e.into_inner().clone(),
        };
        let Some(g) = permit(&ctx.global_sem, &stop).await else {
            return;
        };
        let Some(f) = permit(&fe.sem, &stop).await else {
            return;
        };
        let Some(b) = permit(&bind_sem, &stop).await else {
            return;
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.cancelled() => return,
            _ = paused.changed() => continue,
        };
        match accepted {
            Ok((sock, peer)) => {
                // the frontend may have been swapped while we waited
                let fe = match front.read() {
                    Ok(f) => f.clone(),
                    Err(e) => e.into_inner().clone(),
                };
                let ctx2 = ctx.clone();
                ctx.sessions.spawn(async move {
                    session(ctx2, fe, sock, peer, [g, f, b]).await;
                });
            }
            Err(e) => {
                // EMFILE/ENFILE/ENOBUFS: back off a little, as HAProxy
                // does, instead of spinning.
                tracing::debug!("accept error on {:?}: {e}", listener.local_addr().ok());
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                    _ = stop.cancelled() => return,
                }
            }
        }
    }
}

thread_local! {
    static POOL: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A 16 KiB buffer from a per-thread pool, returned on drop.
struct PoolBuf(Option<Box<[u8]>>);

impl PoolBuf {
    fn get() -> PoolBuf {
        let b = POOL
            .with(|p| p.borrow_mut().pop())
            .unwrap_or_else(|| vec![0u8; BUF_SIZE].into_boxed_slice());
        PoolBuf(Some(b))
    }
    fn as_mut(&mut self) -> &mut [u8] {
        self.0.as_deref_mut().unwrap_or(&mut [])
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            POOL.with(|p| {
                let mut p = p.borrow_mut();
                if p.len() < 256 {
                    p.push(b);
                }
            });
        }
    }
}

/// Decrements the connection counts of a session when it ends.
struct Conn<'a>(&'a Counters);
impl Drop for Conn<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

struct Dec<'a>(&'a crate::state::Counter);
impl Drop for Dec<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What the log line needs from a finished session.
struct Outcome {
    tw: Option<u64>,
    tc: Option<u64>,
    term: Term,
    bin: u64,
    bout: u64,
    retries: u32,
    redispatched: bool,
    server: Option<Arc<crate::state::ServerState>>,
    /// Already logged (`option logasap`).
    logged: bool,
    queue_pos: crate::state::QueuePos,
}

/// When and from where a session came.
struct Meta {
    peer: SocketAddr,
    accept: SystemTime,
    t0: Instant,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

enum ConnectError {
    Refused(io::Error),
    Timeout,
    Killed,
}

async fn connect(
    addr: SocketAddr,
    timeout: Option<Duration>,
    hard: &CancellationToken,
) -> Result<TcpStream, ConnectError> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(ConnectError::Refused)?;
    let _ = sock.set_nodelay(true);
    let fut = sock.connect(addr);
    tokio::select! {
        r = async {
            match timeout {
                Some(t) => tokio::time::timeout(t, fut).await.map_err(|_| ConnectError::Timeout)?.map_err(ConnectError::Refused),
                None => fut.await.map_err(ConnectError::Refused),
            }
        } => r,
        _ = hard.cancelled() => Err(ConnectError::Killed),
    }
}

/// One client session, from accept to log line.
async fn session(
    ctx: Arc<Ctx>,
    fe: Arc<Frontend>,
    client: TcpStream,
    peer: SocketAddr,
    _permits: [Option<OwnedSemaphorePermit>; 3],
) {
    let accept_wall = SystemTime::now();
    let t0 = Instant::now();
    let _ = client.set_nodelay(true);
    ctx.rt.actconn.inc();
    ctx.rt.cumconns.inc();
    let _ac = Dec(&ctx.rt.actconn);
    fe.state.counters.open();
    let fe_conn = Conn(&fe.state.counters);
    if fe.log_format == LogFormat::Default && !fe.log.is_empty() {
        if let Ok(local) = client.local_addr() {
            fe.log
                .send(6, &format_connect(peer, local, &fe.state.name), true);
        }
    }
    let Some(be) = fe.backend.clone() else {
        // no backend: nothing to do but close
        let out = Outcome {
            tw: None,
            tc: None,
            term: Term::new(b'P', b'R'),
            bin: 0,
            bout: 0,
            retries: 0,
            redispatched: false,
            server: None,
            logged: false,
            queue_pos: Default::default(),
        };
        let meta = Meta {
            peer,
            accept: accept_wall,
            t0,
        };
        log_session(&ctx, &fe, None, &meta, &out, false);
        drop(fe_conn);
        return;
    };
    be.counters.open();
    let be_conn = Conn(&be.counters);
    let meta = Meta {
        peer,
        accept: accept_wall,
        t0,
    };
    let out = run(&ctx, &fe, &be, client, &meta).await;
    drop(be_conn);
    if !out.logged {
        log_session(&ctx, &fe, Some(&be), &meta, &out, false);
    }
    drop(fe_conn);
}

async fn run(
    ctx: &Ctx,
    fe: &Frontend,
    be: &Arc<BackendState>,
    mut client: TcpStream,
    meta: &Meta,
) -> Outcome {
    let peer = meta.peer;
    let settings = be.settings();
    let mut out = Outcome {
        tw: None,
        tc: None,
        term: Term::NORMAL,
        bin: 0,
        bout: 0,
        retries: 0,
        redispatched: false,
        server: None,
        logged: false,
        queue_pos: Default::default(),
    };
    // the client-side timeout also runs while queued and connecting,
    // from the accept (termination cQ / cC)
    let phase = AtomicU8::new(b'Q');
    let tq = Instant::now();
    let client_timeout = async {
        match fe.timeout_client {
            Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(meta.t0 + t)).await,
            None => std::future::pending().await,
        }
    };
    let first = {
        let est = establish(ctx, be, &settings, peer, &mut out, &phase);
        tokio::pin!(est);
        let first = tokio::select! {
            biased;
            r = &mut est => Before::Done(r),
            _ = client_timeout => Before::Timeout,
            // the client gives up while queued or connecting
            gone = client_abort(&client) => Before::Abort(gone),
        };
        match first {
            Before::Abort(ClientAbort::Closed) if phase.load(Ordering::Relaxed) == b'C' => {
                // a connection completing in the same instant wins over
                // a client close, as in HAProxy's event loop, where a
                // loopback connect usually completes before the client's
                // FIN is processed: give the attempt in flight a short
                // grace (a reactor turn even on a loaded machine) before
                // aborting with `CC`
                tokio::select! {
                    biased;
                    r = &mut est => Before::Done(r),
                    _ = async {
                        tokio::task::yield_now().await;
                        tokio::time::sleep(CONNECT_GRACE).await;
                    } => first,
                }
            }
            f => f,
        }
    };
    let ph = phase.load(Ordering::Relaxed);
    let established = match first {
        Before::Done(r) => r,
        Before::Timeout => {
            if ph == b'Q' {
                out.tw = Some(ms(tq.elapsed()));
            }
            out.term = Term::new(b'c', ph);
            None
        }
        Before::Abort(gone) => {
            if ph == b'Q' {
                out.tw = Some(ms(tq.elapsed()));
            }
            out.term = match gone {
                ClientAbort::Closed => Term::new(b'C', ph),
                ClientAbort::Reset => Term::new(b'C', b'D'),
            };
            None
        }
    };
    let Some((slot, server)) = established else {
        return out;
    };
    if fe.logasap {
        log_session(ctx, fe, Some(be), meta, &out, true);
        out.logged = true;
    }
    let mut server = server;
    let kill_srv = slot.server.kill_token();
    let timeouts = Timeouts {
        client: settings.tunnel_timeout.or(fe.timeout_client),
        client_fin: fe
            .timeout_client_fin
            .or(settings.tunnel_timeout)
            .or(fe.timeout_client),
        server: settings.tunnel_timeout.or(settings.server_timeout),
        server_fin: settings
            .server_fin_timeout
            .or(settings.tunnel_timeout)
            .or(settings.server_timeout),
    };
    let counters = [&fe.state.counters, &be.counters, &slot.server.counters];
    let bytes = Bytes::default();
    let end = tokio::select! {
        e = relay(&mut client, &mut server, &timeouts, &counters, &bytes) => e,
        _ = ctx.hard.cancelled() => Term::new(b'K', b'D'),
        // killed by the health checks: `D` when the server went DOWN
        // (on-marked-down shutdown-sessions), `U` when it is still UP (a
        // backup whose sessions end because an active server came up)
        _ = kill_srv.cancelled() => Term::new(if slot.server.is_up() { b'U' } else { b'D' }, b'D'),
    };
    out.term = end;
    out.bin = bytes.up.load(Ordering::Relaxed);
    out.bout = bytes.down.load(Ordering::Relaxed);
    if end.cause == b'S' {
        slot.server.counters.eresp.inc();
        be.counters.eresp.inc();
    }
    drop(slot);
    out
}

/// How long a connection attempt in flight may still complete after the
/// client closed without sending anything (see [`run`]).
const CONNECT_GRACE: Duration = Duration::from_millis(100);

/// How the wait for a server ended.
enum Before {
    Done(Option<(ServerSlot, TcpStream)>),
    /// `timeout client` while queued or connecting (`cQ`/`cC`).
    Timeout,
    Abort(ClientAbort),
}

/// How a client gave up before its session reached a server.
enum ClientAbort {
    /// Closed (FIN) without sending anything: HAProxy aborts the queued
    /// or connecting session (`CQ`/`CC`), as it has nothing to forward.
    Closed,
    /// Reset: HAProxy logs a client error, `CD`.
    Reset,
}

/// Resolves when the client closes or resets its connection before
/// sending any data; never once data is pending (HAProxy then keeps the
/// session to deliver it, half-closed).
async fn client_abort(client: &TcpStream) -> ClientAbort {
    let mut b = [0u8; 1];
    match client.peek(&mut b).await {
        Ok(0) => ClientAbort::Closed,
        Ok(_) => std::future::pending().await,
        Err(_) => ClientAbort::Reset,
    }
}

/// Queue for a server and connect to it, with retries and redispatch.
/// On failure `out.term` says why.
async fn establish(
    ctx: &Ctx,
    be: &Arc<BackendState>,
    settings: &crate::state::BackendSettings,
    peer: SocketAddr,
    out: &mut Outcome,
    phase: &AtomicU8,
) -> Option<(ServerSlot, TcpStream)> {
    let tq = Instant::now();
    phase.store(b'Q', Ordering::Relaxed);
    let acquired = be
        .acquire_with(peer.ip(), None, &ctx.hard, &mut out.queue_pos)
        .await;
    let mut slot: ServerSlot = match acquired {
        Ok((slot, _)) => slot,
        Err(AcquireError::NoServer) => {
            out.term = Term::new(b'S', b'C');
            return None;
        }
        Err(AcquireError::QueueTimeout) => {
            out.tw = Some(ms(tq.elapsed()));
            out.term = Term::new(b's', b'Q');
            return None;
        }
        Err(AcquireError::Cancelled) => {
            out.tw = Some(ms(tq.elapsed()));
            out.term = Term::new(b'K', b'Q');
            return None;
        }
    };
    out.tw = Some(ms(tq.elapsed()));
    phase.store(b'C', Ordering::Relaxed);
    let tc0 = Instant::now();
    let server = loop {
        out.server = Some(slot.server.clone());
        match connect(slot.server.addr, settings.connect_timeout, &ctx.hard).await {
            Ok(s) => break s,
            Err(ConnectError::Killed) => {
                out.term = Term::new(b'K', b'C');
                return None;
            }
            Err(e) => {
                tracing::debug!(
                    client = %peer,
                    backend = %be.name,
                    server = %slot.server.name,
                    "connection to {} failed: {}",
                    slot.server.addr,
                    match &e {
                        ConnectError::Refused(err) => err.to_string(),
                        _ => "timeout".to_string(),
                    }
                );
                if out.retries >= settings.retries {
                    // one connection error per session (retries count in
                    // wretr), as HAProxy counts them
                    slot.server.counters.econ.inc();
                    be.counters.econ.inc();
                    out.term = match e {
                        ConnectError::Timeout => Term::new(b's', b'C'),
                        _ => Term::new(b'S', b'C'),
                    };
                    return None;
                }
                out.retries += 1;
                if settings.redispatch && out.retries == settings.retries {
                    // last retry: let the balancer choose another server
                    let old = slot.server.clone();
                    drop(slot);
                    match be.acquire(peer.ip(), Some(&old), &ctx.hard).await {
                        Ok((s, _)) => slot = s,
                        Err(_) => {
                            out.term = Term::new(b'S', b'C');
                            return None;
                        }
                    }
                    if !Arc::ptr_eq(&slot.server, &old) {
                        old.counters.wredis.inc();
                        be.counters.wredis.inc();
                        out.redispatched = true;
                    }
                } else {
                    slot.server.counters.wretr.inc();
                    be.counters.wretr.inc();
                    // HAProxy's turn-around before retrying the same
                    // server: min(timeout connect, 1s), skipped by the
                    // round-robin algorithms while other servers are up
                    let rr = matches!(settings.algo, Algo::RoundRobin | Algo::StaticRr);
                    let pause = if rr && be.servers_left().0 > 1 {
                        Duration::ZERO
                    } else {
                        settings
                            .connect_timeout
                            .map_or(Duration::from_secs(1), |t| t.min(Duration::from_secs(1)))
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = ctx.hard.cancelled() => {
                            out.term = Term::new(b'K', b'C');
                            return None;
                        }
                    }
                }
            }
        }
    };
    out.tc = Some(ms(tc0.elapsed()));
    Some((slot, server))
}

fn log_session(
    ctx: &Ctx,
    fe: &Frontend,
    be: Option<&Arc<BackendState>>,
    meta: &Meta,
    out: &Outcome,
    asap: bool,
) {
    if fe.log_format != LogFormat::TcpLog {
        return;
    }
    if fe.dontlognull && out.bin == 0 && !asap {
        return;
    }
    let line = format_tcplog(&SessionLog {
        client: meta.peer,
        accept: Tm::local(meta.accept),
        frontend: &fe.state.name,
        backend: be.map_or(fe.state.name.as_str(), |b| b.name.as_str()),
        server: out.server.as_ref().map(|s| s.name.as_str()),
        tw: out.tw,
        tc: out.tc,
        tt: ms(meta.t0.elapsed()),
        partial: asap,
        bytes: out.bout,
        term: out.term,
        actconn: ctx.rt.actconn.get(),
        feconn: fe.state.counters.scur.get(),
        beconn: be.map_or(0, |b| b.counters.scur.get()),
        srvconn: out.server.as_ref().map_or(0, |s| s.counters.scur.get()),
        retries: out.retries,
        redispatched: out.redispatched,
        srv_queue: out.queue_pos.server,
        be_queue: out.queue_pos.backend,
    });
    if fe.log.is_empty() {
        tracing::info!("{line}");
    } else {
        fe.log.send(6, &line, true);
    }
}

/// Inactivity timeouts of a session (`None` = infinite).
#[derive(Debug, Clone, Copy, Default)]
struct Timeouts {
    client: Option<Duration>,
    client_fin: Option<Duration>,
    server: Option<Duration>,
    server_fin: Option<Duration>,
}

#[derive(Default)]
struct Bytes {
    up: AtomicU64,
    down: AtomicU64,
}

/// Activity clock of one side (client or server) of a session.
struct Side {
    start: Instant,
    /// ms since `start` of the last read from or write to this side.
    last: AtomicU64,
    normal: Option<Duration>,
    fin: Option<Duration>,
}

impl Side {
    fn touch(&self) {
        self.last.store(ms(self.start.elapsed()), Ordering::Relaxed);
    }
    fn timeout(&self, half: bool) -> Option<Duration> {
        if half {
            self.fin
        } else {
            self.normal
        }
    }
    fn deadline(&self, t: Duration) -> tokio::time::Instant {
        tokio::time::Instant::from_std(
            self.start + Duration::from_millis(self.last.load(Ordering::Relaxed)) + t,
        )
    }
}

struct Shared<'a> {
    client: Side,
    server: Side,
    half: AtomicBool,
    counters: &'a [&'a Counters; 3],
    bytes: &'a Bytes,
}

/// Await `fut` unless `side` stays inactive for its timeout. The other
/// direction's activity on the same side pushes the deadline back.
///
/// The timer is re-armed lazily: activity only moves the deadline later,
/// so the armed timer is left alone and, when it fires early, re-armed
/// once to the real deadline. That is at most one timer operation per
/// timeout period instead of one per read.
async fn guarded<T>(
    fut: impl Future<Output = io::Result<T>>,
    side: &Side,
    half: &AtomicBool,
    sleep: &mut std::pin::Pin<&mut tokio::time::Sleep>,
    on_err: Term,
    on_timeout: Term,
) -> Result<T, Term> {
    tokio::pin!(fut);
    loop {
        let Some(t) = side.timeout(half.load(Ordering::Relaxed)) else {
            return fut.await.map_err(|_| on_err);
        };
        let deadline = side.deadline(t);
        if sleep.is_elapsed() || deadline < sleep.deadline() {
            if deadline <= tokio::time::Instant::now() {
                return Err(on_timeout);
            }
            sleep.as_mut().reset(deadline);
        }
        tokio::select! {
            biased;
            r = &mut fut => return r.map_err(|_| on_err),
            _ = sleep.as_mut() => {}
        }
    }
}

/// Bytes relayed by one direction, published to the shared counters in
/// batches (and when dropped), so that the data path does not write
/// shared cache lines on every read.
struct Tally<'a> {
    sh: &'a Shared<'a>,
    upstream: bool,
    total: u64,
    pending: u64,
}

const TALLY_FLUSH: u64 = 256 * 1024;

impl Tally<'_> {
    fn add(&mut self, n: u64) {
        self.total += n;
        self.pending += n;
        if self.pending >= TALLY_FLUSH {
            self.flush();
        }
    }
    fn flush(&mut self) {
        let n = std::mem::take(&mut self.pending);
        if n == 0 {
            return;
        }
        if self.upstream {
            self.sh.counters.iter().for_each(|c| c.bin.add(n));
        } else {
            self.sh.counters.iter().for_each(|c| c.bout.add(n));
        }
    }
}

impl Drop for Tally<'_> {
    fn drop(&mut self) {
        self.flush();
        let b = if self.upstream {
            &self.sh.bytes.up
        } else {
            &self.sh.bytes.down
        };
        b.fetch_add(self.total, Ordering::Relaxed);
    }
}

/// Reads that fill the whole buffer mark a direction as bulk: from then
/// on it moves through a pipe with splice(2) instead of user space.
const SPLICE_AFTER_FULL_READS: u32 = 1;

/// Forward an EOF: shut down the write side of `to`, unless the other
/// direction has already ended, in which case the session is over and the
/// close that follows sends the FIN (one syscall less per connection).
async fn half_close(to: &mut tokio::net::tcp::WriteHalf<'_>, sh: &Shared<'_>) {
    if !sh.half.load(Ordering::Relaxed) {
        let _ = to.shutdown().await;
    }
}

/// Copy one direction until EOF (then half-close the other side).
///
/// No buffer is held while the direction is idle: it first waits for the
/// source to become readable, then borrows a pooled buffer (or, once the
/// direction has shown bulk traffic, a pooled pipe) for one read/write
/// round and gives it back. Idle sessions thus cost no buffer memory.
async fn pump(
    from: &mut tokio::net::tcp::ReadHalf<'_>,
    to: &mut tokio::net::tcp::WriteHalf<'_>,
    upstream: bool,
    sh: &Shared<'_>,
) -> Result<(), Term> {
    let sleep = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(sleep);
    let (rside, wside, rcause, wcause) = if upstream {
        (&sh.client, &sh.server, (b'C', b'c'), (b'S', b's'))
    } else {
        (&sh.server, &sh.client, (b'S', b's'), (b'C', b'c'))
    };
    let mut tally = Tally {
        sh,
        upstream,
        total: 0,
        pending: 0,
    };
    let mut full_reads = 0u32;
    loop {
        // poll_read_ready uses the stream's own reader waker slot (as
        // poll_read does), cheaper than readable()'s waiter list
        guarded(
            std::future::poll_fn(|cx| from.as_ref().poll_read_ready(cx)),
            rside,
            &sh.half,
            &mut sleep,
            Term::new(rcause.0, b'D'),
            Term::new(rcause.1, b'D'),
        )
        .await?;
        if full_reads >= SPLICE_AFTER_FULL_READS {
            if let Ok(mut pipe) = crate::splice::Pipe::get() {
                let n = guarded(
                    pipe.fill(from.as_ref()),
                    rside,
                    &sh.half,
                    &mut sleep,
                    Term::new(rcause.0, b'D'),
                    Term::new(rcause.1, b'D'),
                )
                .await?;
                rside.touch();
                if n == 0 {
                    half_close(to, sh).await;
                    return Ok(());
                }
                guarded(
                    pipe.drain(to.as_ref()),
                    wside,
                    &sh.half,
                    &mut sleep,
                    Term::new(wcause.0, b'D'),
                    Term::new(wcause.1, b'D'),
                )
                .await?;
                wside.touch();
                tally.add(n as u64);
                continue;
            }
        }
        let mut buf = PoolBuf::get();
        let buf = buf.as_mut();
        // a short read marks the socket drained (no EAGAIN recv next time)
        let n = match crate::splice::try_read(from.as_ref(), buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(Term::new(rcause.0, b'D')),
        };
        rside.touch();
        if n == 0 {
            half_close(to, sh).await;
            return Ok(());
        }
        let chunk = buf.get(..n).unwrap_or_default();
        guarded(
            to.write_all(chunk),
            wside,
            &sh.half,
            &mut sleep,
            Term::new(wcause.0, b'D'),
            Term::new(wcause.1, b'D'),
        )
        .await?;
        wside.touch();
        tally.add(n as u64);
        if n == buf.len() {
            full_reads += 1;
        }
    }
}

/// Relay both directions; returns the termination state.
async fn relay(
    client: &mut TcpStream,
    server: &mut TcpStream,
    t: &Timeouts,
    counters: &[&Counters; 3],
    bytes: &Bytes,
) -> Term {
    let start = Instant::now();
    let sh = Shared {
        client: Side {
            start,
            last: AtomicU64::new(0),
            normal: t.client,
            fin: t.client_fin,
        },
        server: Side {
            start,
            last: AtomicU64::new(0),
            normal: t.server,
            fin: t.server_fin,
        },
        half: AtomicBool::new(false),
        counters,
        bytes,
    };
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let up = pump(&mut cr, &mut sw, true, &sh);
    let down = pump(&mut sr, &mut cw, false, &sh);
    tokio::pin!(up, down);
    let mut up_done = false;
    let mut down_done = false;
    // Once one direction is shut, the `*-fin` timeouts apply. The pump
    // still running may be parked on a timer armed with the longer normal
    // timeout, so the relay watches the fin deadlines itself (one timer
    // per half-closed session).
    let fin_sleep = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(fin_sleep);
    let mut fin_armed = false;
    while !(up_done && down_done) {
        let was_half = up_done || down_done;
        tokio::select! {
            r = &mut up, if !up_done => match r {
                Ok(()) => { up_done = true; sh.half.store(true, Ordering::Relaxed); }
                Err(t) => return t,
            },
            r = &mut down, if !down_done => match r {
                Ok(()) => { down_done = true; sh.half.store(true, Ordering::Relaxed); }
                Err(t) => return t,
            },
            _ = fin_sleep.as_mut(), if fin_armed => {
                let now = tokio::time::Instant::now();
                for (side, cause) in [(&sh.client, b'c'), (&sh.server, b's')] {
                    if let Some(t) = side.fin {
                        if side.deadline(t) <= now {
                            return Term::new(cause, b'D');
                        }
                    }
                }
                fin_armed = false;
            }
        }
        if (up_done || down_done) && !(up_done && down_done) && (!was_half || !fin_armed) {
            let next = [&sh.client, &sh.server]
                .iter()
                .filter_map(|side| side.fin.map(|t| side.deadline(t)))
                .min();
            if let Some(d) = next {
                fin_sleep.as_mut().reset(d);
                fin_armed = true;
            }
        }
    }
    Term::NORMAL
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A connected pair of loopback TCP streams.
    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    struct Setup {
        /// the client's end
        client: TcpStream,
        /// the server's end
        server: TcpStream,
        /// proxyd's ends
        p_client: TcpStream,
        p_server: TcpStream,
    }

    async fn setup() -> Setup {
        let (client, p_client) = pair().await;
        let (p_server, server) = pair().await;
        Setup {
            client,
            server,
            p_client,
            p_server,
        }
    }

    fn ms_opt(v: u64) -> Option<Duration> {
        Some(Duration::from_millis(v))
    }

    async fn run_relay(mut s: Setup, t: Timeouts) -> (Term, u64, u64, TcpStream, TcpStream) {
        let c = Counters::default();
        let counters = [&c, &c, &c];
        let bytes = Bytes::default();
        let term = relay(&mut s.p_client, &mut s.p_server, &t, &counters, &bytes).await;
        assert_eq!(c.bin.get(), 3 * bytes.up.load(Ordering::Relaxed));
        (
            term,
            bytes.up.load(Ordering::Relaxed),
            bytes.down.load(Ordering::Relaxed),
            s.client,
            s.server,
        )
    }

    #[tokio::test]
    async fn half_close_then_normal_end() {
        let mut s = setup().await;
        s.client.write_all(b"request").await.unwrap();
        s.client.shutdown().await.unwrap();
        let mut server = s.server;
        let mut client = s.client;
        s.server = pair().await.0; // placeholder, the real ends are moved
        s.client = pair().await.0;
        let srv = tokio::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            // answers after the client's FIN arrived
            server.write_all(b"response").await.unwrap();
            server.shutdown().await.unwrap();
            got
        });
        let cli = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        let (term, up, down, _, _) = run_relay(
            s,
            Timeouts {
                client: ms_opt(5000),
                client_fin: ms_opt(5000),
                server: ms_opt(5000),
                server_fin: ms_opt(5000),
            },
        )
        .await;
        assert_eq!(term, Term::NORMAL);
        assert_eq!((up, down), (7, 8));
        assert_eq!(srv.await.unwrap(), b"request");
        assert_eq!(cli.await.unwrap(), b"response");
    }

    #[tokio::test]
    async fn client_idle_timeout() {
        let s = setup().await;
        let t = Timeouts {
            client: ms_opt(150),
            client_fin: ms_opt(150),
            server: ms_opt(60_000),
            server_fin: ms_opt(60_000),
        };
        let (term, ..) = run_relay(s, t).await;
        assert_eq!(term, Term::new(b'c', b'D'));
    }

    #[tokio::test]
    async fn server_fin_timeout_after_client_fin() {
        let mut s = setup().await;
        s.client.shutdown().await.unwrap();
        let t = Timeouts {
            client: ms_opt(60_000),
            client_fin: ms_opt(60_000),
            server: ms_opt(60_000),
            server_fin: ms_opt(150),
        };
        let (term, ..) = run_relay(s, t).await;
        assert_eq!(term, Term::new(b's', b'D'));
    }

    #[tokio::test]
    async fn activity_in_the_other_direction_keeps_the_client_side_alive() {
        let mut s = setup().await;
        // the server streams for a while; the client sends nothing but
        // receives: client side stays active, no cD
        let mut server = std::mem::replace(&mut s.server, pair().await.0);
        let feeder = tokio::spawn(async move {
            for _ in 0..8 {
                server.write_all(&[b'x'; 1000]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            server.shutdown().await.unwrap();
            server
        });
        let mut client = std::mem::replace(&mut s.client, pair().await.0);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let _ = client.read_to_end(&mut got).await;
            client.shutdown().await.unwrap();
            got.len()
        });
        let t = Timeouts {
            client: ms_opt(150),
            client_fin: ms_opt(150),
            server: ms_opt(60_000),
            server_fin: ms_opt(60_000),
        };
        let (term, _, down, _, _) = run_relay(s, t).await;
        let _server = feeder.await.unwrap();
        assert_eq!(reader.await.unwrap(), 8000);
        assert_eq!(down, 8000);
        assert_eq!(term, Term::NORMAL);
    }
}
