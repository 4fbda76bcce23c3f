//! Listening sockets and the accept loop: limits, pause/resume, backoff.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::session::session;
use super::{Ctx, FrontendSlot};
use crate::limit::{Limit, Permit};

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
    // SAFETY: nix and socket2 have no AF_UNSPEC address to connect to, so
    // this calls connect(2) itself: `sa` is a valid, zero-initialised
    // sockaddr of the given length, and the fd is owned by `listener` for
    // the duration of the call.
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
    let mut errors = AcceptErrors::default();
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
                // at most one line a second per listener, with the count
                // of those left out
                if let Some(left_out) = errors.note(std::time::Instant::now()) {
                    let addr = listener.local_addr().ok();
                    if left_out == 0 {
                        tracing::warn!("accept error on {addr:?}: {e}");
                    } else {
                        tracing::warn!(
                            "accept error on {addr:?}: {e} ({left_out} more suppressed)"
                        );
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                    _ = stop.cancelled() => return,
                }
            }
        }
    }
}

/// Rate limit of a listener's accept error lines: one a second.
#[derive(Debug, Default)]
struct AcceptErrors {
    last: Option<std::time::Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    /// An error happened at `now`: `Some(n)` when it is to be logged,
    /// `n` errors having been left out since the last line.
    fn note(&mut self, now: std::time::Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < Duration::from_secs(1) => {
                self.suppressed = self.suppressed.saturating_add(1);
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod accept_error_tests {
    use super::*;

    #[test]
    fn one_line_a_second_with_the_count_left_out() {
        let t0 = std::time::Instant::now();
        let mut e = AcceptErrors::default();
        assert_eq!(e.note(t0), Some(0));
        for ms in [1, 10, 500, 999] {
            assert_eq!(e.note(t0 + Duration::from_millis(ms)), None);
        }
        assert_eq!(e.note(t0 + Duration::from_millis(1000)), Some(4));
        assert_eq!(e.note(t0 + Duration::from_millis(1500)), None);
        assert_eq!(e.note(t0 + Duration::from_millis(3000)), Some(1));
        assert_eq!(e.note(t0 + Duration::from_millis(4500)), Some(0));
    }
}
