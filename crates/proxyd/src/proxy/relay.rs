//! The relay: one hand-written future per session moving both
//! directions, with a single inactivity timer.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::session::{ms, PoolBuf};
use super::BUF_SIZE;
use crate::state::Counters;
use crate::tcplog::Term;

/// Inactivity timeouts of a session (`None` = infinite).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Timeouts {
    pub(super) client: Option<Duration>,
    pub(super) client_fin: Option<Duration>,
    pub(super) server: Option<Duration>,
    pub(super) server_fin: Option<Duration>,
}

#[derive(Default)]
pub(super) struct Bytes {
    pub(super) up: AtomicU64,
    pub(super) down: AtomicU64,
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
pub(super) async fn relay(
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
    use tokio::net::TcpListener;

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
