//! One session: queue for a server, connect with retries and
//! redispatch, then hand over to the relay; the log line.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::relay::{relay, Bytes, Timeouts};
use super::{Ctx, Frontend, BUF_SIZE};
use crate::config::model::LogFormat;
use crate::lb::Algo;
use crate::limit::Permit;
use crate::state::{AcquireError, BackendState, Counters, ServerSlot};
use crate::tcplog::{format_connect, format_tcplog, SessionLog, Term, Tm};

thread_local! {
    static POOL: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A 16 KiB buffer from a per-thread pool, returned on drop.
pub(super) struct PoolBuf(Option<Box<[u8]>>);

impl PoolBuf {
    pub(super) fn get() -> PoolBuf {
        let b = POOL
            .with(|p| p.borrow_mut().pop())
            .unwrap_or_else(|| vec![0u8; BUF_SIZE].into_boxed_slice());
        PoolBuf(Some(b))
    }
    pub(super) fn as_mut(&mut self) -> &mut [u8] {
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

pub(super) fn ms(d: Duration) -> u64 {
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
pub(super) async fn session(
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
    // from the accept: it aborts a queued session (`cQ`), but, as in
    // HAProxy 2.6, not a connecting one, which keeps its retries; when
    // they all fail the client timeout is what the log reports (`cC`)
    let phase = AtomicU8::new(b'Q');
    let client_expired = AtomicBool::new(false);
    let tq = Instant::now();
    let client_timeout = async {
        match fe.timeout_client {
            Some(t) => {
                tokio::time::sleep_until(tokio::time::Instant::from_std(meta.t0 + t)).await;
                if phase.load(Ordering::Relaxed) == b'C' {
                    client_expired.store(true, Ordering::Relaxed);
                    std::future::pending::<()>().await;
                }
            }
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
        Before::Done(None) if client_expired.load(Ordering::Relaxed) => {
            if matches!(out.term.cause, b's' | b'S') {
                out.term = Term::new(b'c', b'C');
            }
            None
        }
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
    /// `timeout client` while queued (`cQ`).
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
                let next = next_attempt(&Attempt {
                    redispatch: settings.redispatch,
                    retry: out.retries,
                    retries: settings.retries,
                    timed_out: matches!(e, ConnectError::Timeout),
                    server_up: slot.server.is_up(),
                    active: be.servers_left().0,
                    algo: settings.algo,
                    connect_timeout: settings.connect_timeout,
                });
                match next {
                    Retry::Redispatch => {
                        // let the balancer choose another server
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
                    }
                    Retry::Same { pause } => {
                        slot.server.counters.wretr.inc();
                        be.counters.wretr.inc();
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
        }
    };
    out.tc = Some(ms(tc0.elapsed()));
    Some((slot, server))
}

/// A failed connection attempt that still has a retry left.
struct Attempt {
    /// `option redispatch`.
    redispatch: bool,
    /// This retry's number, from 1.
    retry: u32,
    /// `retries`.
    retries: u32,
    /// The attempt hit `timeout connect` (rather than failing fast).
    timed_out: bool,
    /// The server is still UP.
    server_up: bool,
    /// Usable active servers of the backend.
    active: usize,
    algo: Algo,
    connect_timeout: Option<Duration>,
}

/// How the next attempt is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// On a server the balancer chooses again, at once.
    Redispatch,
    /// On the same server, after `pause`.
    Same { pause: Duration },
}

/// HAProxy 2.6's choice after a failed connection attempt
/// (`sess_update_st_cer`). With `option redispatch` the session moves to
/// another server when its server is no longer UP, on the last retry
/// (the default interval, -1), or on any retry when it has no
/// persistence, more than one active server is left and the algorithm
/// is not a hash (proxyd has no persistence in TCP mode). Otherwise it
/// retries the same server: at once after a connect timeout (the time
/// has already been waited), after a turn-around of min(`timeout
/// connect`, 1s) after a fast failure (refused, unreachable), skipped by
/// the round-robin algorithms while other servers are up.
fn next_attempt(a: &Attempt) -> Retry {
    let hash = matches!(a.algo, Algo::Source);
    if a.redispatch && (!a.server_up || a.retry >= a.retries || (a.active > 1 && !hash)) {
        return Retry::Redispatch;
    }
    let rr = matches!(a.algo, Algo::RoundRobin | Algo::StaticRr);
    let pause = if a.timed_out || (rr && a.active > 1) {
        Duration::ZERO
    } else {
        a.connect_timeout
            .map_or(Duration::from_secs(1), |t| t.min(Duration::from_secs(1)))
    };
    Retry::Same { pause }
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

#[cfg(test)]
mod retry_tests {
    use super::*;

    fn attempt() -> Attempt {
        Attempt {
            redispatch: false,
            retry: 1,
            retries: 2,
            timed_out: false,
            server_up: true,
            active: 1,
            algo: Algo::RoundRobin,
            connect_timeout: Some(Duration::from_secs(5)),
        }
    }

    #[test]
    fn a_connect_timeout_is_retried_at_once() {
        let a = Attempt {
            timed_out: true,
            ..attempt()
        };
        assert_eq!(
            next_attempt(&a),
            Retry::Same {
                pause: Duration::ZERO
            }
        );
    }

    #[test]
    fn a_fast_failure_waits_the_turn_around() {
        assert_eq!(
            next_attempt(&attempt()),
            Retry::Same {
                pause: Duration::from_secs(1)
            }
        );
        let a = Attempt {
            connect_timeout: Some(Duration::from_millis(300)),
            algo: Algo::LeastConn,
            active: 3,
            ..attempt()
        };
        assert_eq!(
            next_attempt(&a),
            Retry::Same {
                pause: Duration::from_millis(300)
            }
        );
        // round robin with other servers up: no turn-around
        let a = Attempt {
            active: 2,
            ..attempt()
        };
        assert_eq!(
            next_attempt(&a),
            Retry::Same {
                pause: Duration::ZERO
            }
        );
    }

    #[test]
    fn redispatch_on_the_first_retry_when_other_servers_are_up() {
        for algo in [
            Algo::RoundRobin,
            Algo::StaticRr,
            Algo::LeastConn,
            Algo::First,
        ] {
            let a = Attempt {
                redispatch: true,
                active: 2,
                algo,
                ..attempt()
            };
            assert_eq!(next_attempt(&a), Retry::Redispatch, "{algo:?}");
        }
    }

    #[test]
    fn redispatch_with_a_hash_or_one_server_only_on_the_last_retry() {
        for (algo, active) in [(Algo::Source, 3), (Algo::RoundRobin, 1)] {
            let a = Attempt {
                redispatch: true,
                retries: 3,
                active,
                algo,
                ..attempt()
            };
            assert!(matches!(next_attempt(&a), Retry::Same { .. }));
            let a = Attempt { retry: 2, ..a };
            assert!(matches!(next_attempt(&a), Retry::Same { .. }));
            let a = Attempt { retry: 3, ..a };
            assert_eq!(next_attempt(&a), Retry::Redispatch);
        }
    }

    #[test]
    fn redispatch_away_from_a_server_that_went_down() {
        let a = Attempt {
            redispatch: true,
            retries: 3,
            algo: Algo::Source,
            server_up: false,
            ..attempt()
        };
        assert_eq!(next_attempt(&a), Retry::Redispatch);
        let a = Attempt {
            redispatch: false,
            ..a
        };
        assert!(matches!(next_attempt(&a), Retry::Same { .. }));
    }
}
