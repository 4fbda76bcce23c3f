//! The data path: listeners, accept loops and TCP sessions.
//!
//! One task per listener accepts (after taking the global and frontend
//! `maxconn` permits, so that excess connections wait in the kernel
//! backlog as with HAProxy), one task per session picks a server, connects
//! with retries/redispatch, then relays both directions (`Relay`: one
//! hand-written future per session with a single inactivity timer; pooled
//! 16 KiB buffers held only while bytes are in flight; splice(2) pipes once
//! a direction shows bulk traffic), half-closes correctly and enforces the
//! inactivity timeouts. Counters are atomics; there is no lock or
//! allocation per read.
//!
//! Per connection the syscalls are those HAProxy makes, or fewer: the
//! listener's TCP_NODELAY is inherited by accepted sockets, a connect is
//! judged by its readiness (SO_ERROR is read only on failure), what the
//! client sends while its session is queued or connecting is read (not
//! peeked) and sent first, and an EOF is forwarded with shutdown(2) only
//! when the other side is still open after a reactor turn.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::model::LogFormat;
use crate::lb::Algo;
use crate::limit::{Limit, Permit};
use crate::logsink::LogSink;
use crate::state::{
    AcquireError, BackendState, Counters, FrontendState, KillToken, Runtime, ServerSlot,
};
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
    pub sem: Option<Arc<Limit>>,
}

/// Process-wide context of the data path.
#[derive(Debug)]
pub struct Ctx {
    pub rt: Arc<Runtime>,
    /// Cancelled to kill every session (hard stop): termination `K`.
    pub hard: KillToken,
    /// Every session task.
    pub sessions: TaskTracker,
    /// Global `maxconn`.
    pub global_sem: Option<Arc<Limit>>,
    /// `true` while listeners are paused (SIGTTOU).
    pub paused: watch::Receiver<bool>,
    /// Changed when a reload lowered a limit: an accept loop waiting in
    /// `accept` with permits taken under the old limits gives them back
    /// and takes them again.
    pub limits_lowered: watch::Receiver<u64>,
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
    // inherited by the accepted sockets (Linux): one setsockopt less per
    // connection
    s.set_tcp_nodelay(true)?;
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

async fn permit(sem: &Option<Arc<Limit>>, stop: &CancellationToken) -> Option<Option<Permit>> {
    match sem {
        None => Some(None),
        Some(s) => tokio::select! {
            p = s.acquire() => Some(Some(p)),
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
    bind_sem: Arc<Limit>,
    ctx: Arc<Ctx>,
    stop: CancellationToken,
) {
    let bind_sem = Some(bind_sem);
    let mut paused = ctx.paused.clone();
    let mut lowered = ctx.limits_lowered.clone();
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
        lowered.borrow_and_update();
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
            Ok(()) = lowered.changed() => continue,
        };
        match accepted {
            Ok((sock, peer)) => {
                // the frontend may have been swapped while we waited
                let fe = match front.read() {
                    Ok(f) => f.clone(),
                    Err(e) => e.into_inner().clone(),
                };
                let ctx2 = ctx.clone();
                ctx.sessions.spawn(session(ctx2, fe, sock, peer, [g, f, b]));
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
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )
    .map_err(ConnectError::Refused)?;
    let _ = sock.set_tcp_nodelay(true);
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(ConnectError::Refused(e)),
    }
    let stream =
        TcpStream::from_std(std::net::TcpStream::from(sock)).map_err(ConnectError::Refused)?;
    // Established when writable without a hang-up or error; only a failed
    // attempt costs a getsockopt(SO_ERROR), to tell why.
    let fut = async {
        let r = stream.ready(Interest::WRITABLE | Interest::ERROR).await?;
        if r.is_write_closed() || r.is_error() {
            return Err(stream
                .take_error()?
                .unwrap_or_else(|| io::ErrorKind::ConnectionRefused.into()));
        }
        Ok(())
    };
    let r = tokio::select! {
        r = async {
            match timeout {
                Some(t) => tokio::time::timeout(t, fut).await.map_err(|_| ConnectError::Timeout)?.map_err(ConnectError::Refused),
                None => fut.await.map_err(ConnectError::Refused),
            }
        } => r,
        _ = hard.cancelled() => Err(ConnectError::Killed),
    };
    r.map(|()| stream)
}

/// One client session, from accept to log line.
async fn session(
    ctx: Arc<Ctx>,
    fe: Arc<Frontend>,
    client: TcpStream,
    peer: SocketAddr,
    _permits: [Option<Permit>; 3],
) {
    let accept_wall = SystemTime::now();
    let t0 = Instant::now();
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
    // what the client sent while queued or connecting, sent first
    let mut early = None;
    // boxed: the queue/connect phase is done before the relay starts, so
    // the session's own state stays small while it is idle
    let first = Box::pin(async {
        let est = establish(ctx, be, &settings, peer, &mut out, &phase);
        tokio::pin!(est);
        let first = tokio::select! {
            biased;
            r = &mut est => Before::Done(r),
            _ = client_timeout => Before::Timeout,
            // the client gives up while queued or connecting
            gone = client_abort(&client, &mut early) => Before::Abort(gone),
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
    })
    .await;
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
    let end = {
        let relay = relay(
            &mut client,
            &mut server,
            &timeouts,
            &counters,
            &bytes,
            early,
        );
        let hard = ctx.hard.token().cancelled();
        let kill = kill_srv.token().cancelled();
        tokio::pin!(relay, hard, kill);
        // The kill tokens are shared by every session (of the process, of
        // the server): polling them on each wake-up would lock their
        // mutexes from every session on every core. They are polled once
        // to register the task's waker, then only after a kill has been
        // announced (`state::kill_epoch`).
        let mut seen = None;
        std::future::poll_fn(|cx| {
            let epoch = crate::state::kill_epoch();
            if seen != Some(epoch) {
                seen = Some(epoch);
                if hard.as_mut().poll(cx).is_ready() {
                    return std::task::Poll::Ready(Term::new(b'K', b'D'));
                }
                if kill.as_mut().poll(cx).is_ready() {
                    // killed by the health checks: `D` when the server
                    // went DOWN (on-marked-down shutdown-sessions), `U`
                    // when it is still UP (a backup whose sessions end
                    // because an active server came up)
                    let up = slot.server.is_up();
                    return std::task::Poll::Ready(Term::new(if up { b'U' } else { b'D' }, b'D'));
                }
            }
            relay.as_mut().poll(cx)
        })
        .await
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
/// sending any data; never once data has come (HAProxy then keeps the
/// session to deliver it, half-closed).
///
/// Data is not peeked at but read, into `early`, for the relay to send
/// first: telling data from a close costs no syscall the relay would not
/// have made anyway.
async fn client_abort(client: &TcpStream, early: &mut Option<(PoolBuf, usize)>) -> ClientAbort {
    loop {
        if std::future::poll_fn(|cx| client.poll_read_ready(cx))
            .await
            .is_err()
        {
            return ClientAbort::Reset;
        }
        let mut buf = PoolBuf::get();
        match crate::splice::try_read(client, buf.as_mut()) {
            Ok(0) => return ClientAbort::Closed,
            Ok(n) => {
                *early = Some((buf, n));
                return std::future::pending().await;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return ClientAbort::Reset,
        }
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
        .acquire_with(peer.ip(), None, ctx.hard.token(), &mut out.queue_pos)
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
        match connect(slot.server.addr, settings.connect_timeout, ctx.hard.token()).await {
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
                    match be.acquire(peer.ip(), Some(&old), ctx.hard.token()).await {
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
                        _ = ctx.hard.token().cancelled() => {
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

/// Reads that fill the whole buffer mark a direction as bulk: from then
/// on it moves through a pipe with splice(2) instead of user space.
const SPLICE_AFTER_FULL_READS: u32 = 1;

/// Bytes are published to the shared counters in batches of this size
/// (and when the session ends), so that the data path does not write
/// shared cache lines on every read.
const TALLY_FLUSH: u64 = 256 * 1024;

/// Where one direction of a session stands.
enum DirState {
    /// Waiting for the source to become readable. No buffer is held, so
    /// an idle direction costs no buffer memory.
    Read,
    /// Bytes read into a pooled buffer, `buf[off..len]` not yet written.
    Write {
        buf: PoolBuf,
        off: usize,
        len: usize,
    },
    /// Bulk mode: bytes held in a pooled pipe, not yet spliced out.
    Pipe(crate::splice::Pipe),
    /// EOF seen and forwarded.
    Done,
}

/// One direction of a session (client -> server is "up").
struct Dir {
    upstream: bool,
    state: DirState,
    full_reads: u32,
    total: u64,
    pending: u64,
}

impl Dir {
    fn new(upstream: bool) -> Dir {
        Dir {
            upstream,
            state: DirState::Read,
            full_reads: 0,
            total: 0,
            pending: 0,
        }
    }

    fn done(&self) -> bool {
        matches!(self.state, DirState::Done)
    }

    /// The side this direction waits on: its source while reading, its
    /// destination while holding bytes (`true` = the client side).
    fn waits_on_client(&self) -> Option<bool> {
        match self.state {
            DirState::Read => Some(self.upstream),
            DirState::Write { .. } | DirState::Pipe(_) => Some(!self.upstream),
            DirState::Done => None,
        }
    }

    fn add(&mut self, n: usize, counters: &[&Counters; 3]) {
        self.total += n as u64;
        self.pending += n as u64;
        if self.pending >= TALLY_FLUSH {
            self.flush(counters);
        }
    }

    fn flush(&mut self, counters: &[&Counters; 3]) {
        let n = std::mem::take(&mut self.pending);
        if n == 0 {
            return;
        }
        if self.upstream {
            counters.iter().for_each(|c| c.bin.add(n));
        } else {
            counters.iter().for_each(|c| c.bout.add(n));
        }
    }

    /// Terminations for a failed read and a failed write of this direction.
    fn causes(&self) -> (Term, Term) {
        if self.upstream {
            (Term::new(b'C', b'D'), Term::new(b'S', b'D'))
        } else {
            (Term::new(b'S', b'D'), Term::new(b'C', b'D'))
        }
    }

    /// Move bytes from `from` to `to` until both would block (`Pending`,
    /// wakers registered), EOF (`Ready(Ok)`), or an error. `touch` is
    /// called with `true` for activity on the client side, `false` for the
    /// server side.
    fn poll_move(
        &mut self,
        cx: &mut std::task::Context<'_>,
        from: &TcpStream,
        to: &TcpStream,
        counters: &[&Counters; 3],
        touch: &mut impl FnMut(bool),
    ) -> std::task::Poll<Result<(), Term>> {
        use std::task::Poll;
        let (rerr, werr) = self.causes();
        let src_is_client = self.upstream;
        loop {
            match &mut self.state {
                DirState::Done => return Poll::Ready(Ok(())),
                DirState::Read => {
                    match from.poll_read_ready(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(_)) => return Poll::Ready(Err(rerr)),
                        Poll::Ready(Ok(())) => {}
                    }
                    if self.full_reads >= SPLICE_AFTER_FULL_READS {
                        if let Ok(mut pipe) = crate::splice::Pipe::get() {
                            match pipe.poll_fill(cx, from) {
                                Poll::Pending => return Poll::Pending,
                                Poll::Ready(Err(_)) => return Poll::Ready(Err(rerr)),
                                Poll::Ready(Ok(0)) => {
                                    touch(src_is_client);
                                    return Poll::Ready(Ok(()));
                                }
                                Poll::Ready(Ok(_)) => {
                                    touch(src_is_client);
                                    self.state = DirState::Pipe(pipe);
                                    continue;
                                }
                            }
                        }
                    }
                    let mut buf = PoolBuf::get();
                    // a short read marks the socket drained (no EAGAIN
                    // recv next time)
                    let n = match crate::splice::try_read(from, buf.as_mut()) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => return Poll::Ready(Err(rerr)),
                    };
                    touch(src_is_client);
                    if n == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    if n == BUF_SIZE {
                        self.full_reads += 1;
                    }
                    self.state = DirState::Write {
                        buf,
                        off: 0,
                        len: n,
                    };
                }
                DirState::Write { buf, off, len } => {
                    while *off < *len {
                        match to.poll_write_ready(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Err(_)) => return Poll::Ready(Err(werr)),
                            Poll::Ready(Ok(())) => {}
                        }
                        let chunk = buf.as_mut().get(*off..*len).unwrap_or_default();
                        match to.try_write(chunk) {
                            Ok(0) => return Poll::Ready(Err(werr)),
                            Ok(n) => {
                                *off += n;
                                touch(!src_is_client);
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(_) => return Poll::Ready(Err(werr)),
                        }
                    }
                    let n = *len;
                    // the buffer goes back to the pool before waiting again
                    self.state = DirState::Read;
                    self.add(n, counters);
                }
                DirState::Pipe(pipe) => {
                    let before = pipe.pending();
                    let r = pipe.poll_drain(cx, to);
                    let moved = before - pipe.pending();
                    if moved > 0 {
                        touch(!src_is_client);
                        self.add(moved, counters);
                    }
                    match r {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(_)) => return Poll::Ready(Err(werr)),
                        // empty: the pipe goes back to the pool
                        Poll::Ready(Ok(())) => self.state = DirState::Read,
                    }
                }
            }
        }
    }
}

/// The earliest inactivity deadline of a session (ms since its start) and
/// the termination it causes, from what each direction waits on (`Some(true)`
/// the client side, `Some(false)` the server side, `None` ended) and each
/// side's last activity. Once one direction has ended, the `*-fin`
/// timeouts of both sides apply; before, the normal timeout of each side
/// some direction is waiting on.
fn inactivity_deadline(
    waits: [Option<bool>; 2],
    t: &Timeouts,
    last_client: u64,
    last_server: u64,
) -> Option<(u64, Term)> {
    let half = waits.contains(&None);
    let client = half || waits.contains(&Some(true));
    let server = half || waits.contains(&Some(false));
    let (ct, st) = if half {
        (t.client_fin, t.server_fin)
    } else {
        (t.client, t.server)
    };
    let c = ct
        .filter(|_| client)
        .map(|t| (last_client.saturating_add(ms(t)), Term::new(b'c', b'D')));
    let s = st
        .filter(|_| server)
        .map(|t| (last_server.saturating_add(ms(t)), Term::new(b's', b'D')));
    match (c, s) {
        (Some(c), Some(s)) => Some(if s.0 < c.0 { s } else { c }),
        (c, s) => c.or(s),
    }
}

/// Both directions of a session and its one inactivity timer.
///
/// A hand-written future rather than two `async` pumps: one small state
/// per session, one timer instead of one per direction, and no buffer
/// while idle.
///
/// The timer is re-armed lazily: activity only moves a deadline later,
/// so the armed timer is left alone and, when it fires early, re-armed to
/// the real deadline. That is at most one timer operation per timeout
/// period instead of one per read.
struct Relay<'a> {
    client: &'a TcpStream,
    server: &'a TcpStream,
    up: Dir,
    down: Dir,
    t: Timeouts,
    start: Instant,
    /// ms since `start` of the last activity of each side.
    last_client: u64,
    last_server: u64,
    sleep: std::pin::Pin<&'a mut tokio::time::Sleep>,
    armed: bool,
    /// An EOF to forward (`Some(true)`: client -> server), and whether
    /// the reactor has been given its turn first.
    shut: Option<bool>,
    shut_deferred: bool,
    counters: &'a [&'a Counters; 3],
    bytes: &'a Bytes,
}

impl Relay<'_> {
    /// The earliest inactivity deadline (ms since `start`) and the
    /// termination it causes (see [`inactivity_deadline`]).
    fn deadline(&self) -> Option<(u64, Term)> {
        inactivity_deadline(
            [self.up.waits_on_client(), self.down.waits_on_client()],
            &self.t,
            self.last_client,
            self.last_server,
        )
    }

    fn at(&self, ms_since_start: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.start + Duration::from_millis(ms_since_start))
    }
}

impl Future for Relay<'_> {
    type Output = Term;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Term> {
        use std::task::Poll;
        let this = &mut *self;
        // one clock read per poll, for the activity stamps and the
        // deadline check
        let mut now = Instant::now();
        let now_ms = ms(now.saturating_duration_since(this.start));
        let (mut lc, mut ls) = (this.last_client, this.last_server);
        let mut touch = |client: bool| {
            if client {
                lc = now_ms;
            } else {
                ls = now_ms;
            }
        };
        for upstream in [true, false] {
            let (dir, other, from, to) = if upstream {
                (&mut this.up, &this.down, this.client, this.server)
            } else {
                (&mut this.down, &this.up, this.server, this.client)
            };
            if dir.done() {
                continue;
            }
            match dir.poll_move(cx, from, to, this.counters, &mut touch) {
                Poll::Pending => {}
                Poll::Ready(Err(t)) => return Poll::Ready(t),
                Poll::Ready(Ok(())) => {
                    dir.state = DirState::Done;
                    if !other.done() {
                        this.shut = Some(upstream);
                    }
                }
            }
        }
        this.last_client = lc;
        this.last_server = ls;
        if this.up.done() && this.down.done() {
            // the close that follows sends the FIN
            return Poll::Ready(Term::NORMAL);
        }
        if let Some(upstream) = this.shut {
            // Forward the EOF, but first let the reactor run once: when
            // the other side is closing too (a client closing after the
            // response, a server after the request), its EOF usually
            // arrives meanwhile, the session is over, and the close sends
            // the FIN: one shutdown(2) less per connection.
            if !this.shut_deferred {
                this.shut_deferred = true;
                let mut y = std::pin::pin!(tokio::task::yield_now());
                if y.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            this.shut = None;
            let to = if upstream { this.server } else { this.client };
            let _ = crate::splice::shutdown_write(to);
        }
        loop {
            let Some((d, term)) = this.deadline() else {
                return Poll::Pending;
            };
            let deadline = this.at(d);
            if deadline <= tokio::time::Instant::from_std(now) {
                return Poll::Ready(term);
            }
            if !this.armed || this.sleep.is_elapsed() || deadline < this.sleep.deadline() {
                this.sleep.as_mut().reset(deadline);
                this.armed = true;
            }
            match this.sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                // fired: a deadline pushed back by activity is re-armed
                // on the next turn of the loop
                Poll::Ready(()) => now = Instant::now(),
            }
        }
    }
}

impl Drop for Relay<'_> {
    fn drop(&mut self) {
        for d in [&mut self.up, &mut self.down] {
            d.flush(self.counters);
        }
        self.bytes.up.fetch_add(self.up.total, Ordering::Relaxed);
        self.bytes
            .down
            .fetch_add(self.down.total, Ordering::Relaxed);
    }
}

/// Relay both directions; returns the termination state.
async fn relay(
    client: &mut TcpStream,
    server: &mut TcpStream,
    t: &Timeouts,
    counters: &[&Counters; 3],
    bytes: &Bytes,
    early: Option<(PoolBuf, usize)>,
) -> Term {
    let sleep = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(sleep);
    let mut up = Dir::new(true);
    if let Some((buf, len)) = early {
        up.state = DirState::Write { buf, off: 0, len };
    }
    Relay {
        client,
        server,
        up,
        down: Dir::new(false),
        t: *t,
        start: Instant::now(),
        last_client: 0,
        last_server: 0,
        sleep,
        armed: false,
        shut: None,
        shut_deferred: false,
        counters,
        bytes,
    }
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    async fn run_relay(s: Setup, t: Timeouts) -> (Term, u64, u64, TcpStream, TcpStream) {
        run_relay_early(s, t, None).await
    }

    /// `early`: bytes read from the client before the relay starts.
    async fn run_relay_early(
        mut s: Setup,
        t: Timeouts,
        early: Option<(PoolBuf, usize)>,
    ) -> (Term, u64, u64, TcpStream, TcpStream) {
        let c = Counters::default();
        let counters = [&c, &c, &c];
        let bytes = Bytes::default();
        let term = relay(
            &mut s.p_client,
            &mut s.p_server,
            &t,
            &counters,
            &bytes,
            early,
        )
        .await;
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
    async fn bytes_read_while_connecting_are_sent_first() {
        let mut s = setup().await;
        let mut early = PoolBuf::get();
        early.as_mut()[..5].copy_from_slice(b"early");
        s.client.write_all(b" later").await.unwrap();
        s.client.shutdown().await.unwrap();
        let t = Timeouts {
            client: ms_opt(5000),
            client_fin: ms_opt(5000),
            server: ms_opt(5000),
            server_fin: ms_opt(5000),
        };
        let mut server = std::mem::replace(&mut s.server, pair().await.0);
        let srv = tokio::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            server.shutdown().await.unwrap();
            got
        });
        let (term, up, ..) = run_relay_early(s, t, Some((early, 5))).await;
        assert_eq!(term, Term::NORMAL);
        assert_eq!(srv.await.unwrap(), b"early later");
        assert_eq!(up, 11);
    }

    #[test]
    fn inactivity_deadline_follows_what_each_direction_waits_on() {
        let t = Timeouts {
            client: ms_opt(100),
            client_fin: ms_opt(10),
            server: ms_opt(200),
            server_fin: ms_opt(20),
        };
        let c = |at| Some((at, Term::new(b'c', b'D')));
        let s = |at| Some((at, Term::new(b's', b'D')));
        // both reading: the earlier of the two sides
        assert_eq!(
            inactivity_deadline([Some(true), Some(false)], &t, 0, 0),
            c(100)
        );
        assert_eq!(
            inactivity_deadline([Some(true), Some(false)], &t, 150, 0),
            s(200)
        );
        // up blocked writing to the server, down reading it: only the
        // server side is waited on
        assert_eq!(
            inactivity_deadline([Some(false), Some(false)], &t, 0, 50),
            s(250)
        );
        // half-closed: both sides, with the fin timeouts
        assert_eq!(inactivity_deadline([None, Some(false)], &t, 0, 0), c(10));
        assert_eq!(inactivity_deadline([None, Some(false)], &t, 15, 0), s(20));
        // no timeouts: none
        let none = Timeouts::default();
        assert_eq!(
            inactivity_deadline([Some(true), Some(false)], &none, 0, 0),
            None
        );
        // only the client side has one, and nothing waits on it
        let only_client = Timeouts {
            client: ms_opt(100),
            ..Timeouts::default()
        };
        assert_eq!(
            inactivity_deadline([Some(false), Some(false)], &only_client, 0, 0),
            None
        );
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
