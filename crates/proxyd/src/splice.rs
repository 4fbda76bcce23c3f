//! Zero-copy relay of one direction of a TCP session with splice(2).
//!
//! Bytes move socket -> pipe -> socket inside the kernel: no copy through
//! user space, and on loopback/NICs with page-based skbs the pages
//! themselves are moved. Each direction owns one [`Pipe`] at a time; pipes
//! come from a small per-thread pool and go back to it when they are empty
//! (a pipe that still holds bytes, e.g. after a write error, is closed
//! instead). The pipe is grown with `F_SETPIPE_SZ` so that one call moves
//! up to [`PIPE_SIZE`] bytes.
//!
//! The I/O is driven by tokio's readiness (`poll_read_ready`/
//! `poll_write_ready`, i.e. the stream's own reader/writer waker slots, then
//! `try_io`), with `SPLICE_F_NONBLOCK | SPLICE_F_MOVE`, so it mixes with
//! ordinary reads and writes on the same socket (the other direction of
//! the session keeps using the other half of the socket).
//!
//! [`Pipe::poll_fill`] and [`Pipe::poll_drain`] are one read and one
//! complete write, polled by the session's relay (`proxy/relay.rs`), which can
//! stop at any point without losing track of the bytes (the pipe counts
//! what it holds). The tests drive them through a whole-direction `relay`.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::task::{ready, Context, Poll};

use nix::fcntl::{fcntl, FcntlArg, OFlag, SpliceFFlags};
use nix::sys::socket::{recv, MsgFlags};
use nix::unistd::pipe2;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Size asked for each pipe (`F_SETPIPE_SZ`); the kernel may give less
/// (`/proc/sys/fs/pipe-max-size`, per-user pipe page limits), which only
/// means more calls.
pub const PIPE_SIZE: usize = 1024 * 1024;

/// Empty pipes kept per thread for reuse.
const POOL_MAX: usize = 64;

thread_local! {
    static POOL: RefCell<Vec<(OwnedFd, OwnedFd, usize)>> = const { RefCell::new(Vec::new()) };
}

/// A pipe used as the in-kernel buffer of one direction.
#[derive(Debug)]
pub struct Pipe {
    /// (read end, write end); `None` only while being dropped.
    fds: Option<(OwnedFd, OwnedFd)>,
    /// Capacity in bytes as reported by `F_GETPIPE_SZ`.
    cap: usize,
    /// Bytes currently in the pipe (spliced in, not yet spliced out).
    pending: usize,
}

impl Pipe {
    /// A pipe from this thread's pool, or a new one.
    pub fn get() -> io::Result<Pipe> {
        if let Some((r, w, cap)) = POOL.with(|p| p.borrow_mut().pop()) {
            return Ok(Pipe {
                fds: Some((r, w)),
                cap,
                pending: 0,
            });
        }
        Pipe::new()
    }

    /// A new pipe (not from the pool), grown towards [`PIPE_SIZE`].
    pub fn new() -> io::Result<Pipe> {
        let (r, w) = pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        // Growing may fail (limits): keep the default size then.
        let _ = fcntl(&w, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE as libc::c_int));
        let cap = fcntl(&w, FcntlArg::F_GETPIPE_SZ)
            .ok()
            .and_then(|c| usize::try_from(c).ok())
            .unwrap_or(64 * 1024);
        Ok(Pipe {
            fds: Some((r, w)),
            cap,
            pending: 0,
        })
    }

    /// Bytes read from the source and not yet written to the destination.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// The (read, write) descriptors, for the tests' pool checks.
    #[cfg(test)]
    fn raw(&self) -> (std::os::fd::RawFd, std::os::fd::RawFd) {
        match &self.fds {
            Some((r, w)) => (r.as_raw_fd(), w.as_raw_fd()),
            None => (-1, -1),
        }
    }

    /// Wait until `from` is readable and move what it has (up to the free
    /// room of the pipe) into the pipe: `Ready(Ok(n))`, 0 at EOF (or, only
    /// if called with a full pipe, when there is no room).
    ///
    /// Cancel-safe: bytes moved are counted in the pipe before returning.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>, from: &TcpStream) -> Poll<io::Result<usize>> {
        let room = self.cap.saturating_sub(self.pending);
        if room == 0 {
            return Poll::Ready(Ok(0));
        }
        let Some((_, pw)) = &self.fds else {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        };
        loop {
            ready!(from.poll_read_ready(cx))?;
            match from.try_io(Interest::READABLE, || splice(from, pw, room)) {
                Ok(n) => {
                    self.pending += n;
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Write everything the pipe holds to `to`, waiting for writability as
    /// needed: `Ready(Ok)` once the pipe is empty; [`Pipe::pending`] tells
    /// how far a `Pending` or an error got (cancel-safe).
    pub fn poll_drain(&mut self, cx: &mut Context<'_>, to: &TcpStream) -> Poll<io::Result<()>> {
        let Some((pr, _)) = &self.fds else {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        };
        while self.pending > 0 {
            ready!(to.poll_write_ready(cx))?;
            let want = self.pending;
            match to.try_io(Interest::WRITABLE, || splice(pr, to, want)) {
                Ok(0) => {
                    // the pipe said it had bytes and gave none: broken state
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "splice moved no bytes out of a non-empty pipe",
                    )));
                }
                Ok(n) => self.pending -= n.min(self.pending),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let Some((r, w)) = self.fds.take() else {
            return;
        };
        if self.pending != 0 {
            // stale bytes would leak into the next session: close it
            return;
        }
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_MAX {
                p.push((r, w, self.cap));
            }
        });
    }
}

/// One non-blocking splice(2) of up to `len` bytes (nix's wrapper is the
/// bare syscall: no allocation, errno read as before).
#[inline]
fn splice(fd_in: impl AsFd, fd_out: impl AsFd, len: usize) -> io::Result<usize> {
    Ok(nix::fcntl::splice(
        fd_in,
        None,
        fd_out,
        None,
        len,
        SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE,
    )?)
}

/// Read once from `s` without waiting (like `TcpStream::try_read`), but
/// a short read (fewer bytes than `buf` holds) also clears the socket's
/// read readiness, as tokio's own `poll_read` does: the socket is drained,
/// so the next wait goes straight to epoll instead of first trying a recv
/// that would return EAGAIN. The readiness snapshot is taken before the
/// recv, so data arriving meanwhile is not missed.
pub fn try_read(s: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let fd = s.as_raw_fd();
    let len = buf.len();
    let mut short = None;
    let r = s.try_io(Interest::READABLE, || {
        let n = recv(fd, buf, MsgFlags::empty())?;
        if n > 0 && n < len {
            short = Some(n);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match short {
        Some(n) => Ok(n),
        None => r,
    }
}

/// Shut down the write side of `s` (sends FIN once queued data is out).
pub fn shutdown_write(s: &TcpStream) -> io::Result<()> {
    match socket2::SockRef::from(s).shutdown(std::net::Shutdown::Write) {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    // Test helpers: the async forms of fill/drain and a whole-direction
    // relay built on them.
    impl Pipe {
        fn capacity(&self) -> usize {
            self.cap
        }

        async fn fill(&mut self, from: &TcpStream) -> io::Result<usize> {
            std::future::poll_fn(|cx| self.poll_fill(cx, from)).await
        }

        async fn drain(&mut self, to: &TcpStream) -> io::Result<usize> {
            let before = self.pending;
            std::future::poll_fn(|cx| self.poll_drain(cx, to)).await?;
            Ok(before)
        }
    }

    #[derive(Debug, thiserror::Error)]
    enum RelayError {
        #[error("no pipe: {0}")]
        Pipe(io::Error),
        #[error("read: {0}")]
        Read(io::Error),
        #[error("write: {0}")]
        Write(io::Error),
    }

    /// `from` -> `to` until EOF, then a write shutdown of `to`.
    async fn relay(
        from: &TcpStream,
        to: &TcpStream,
        mut on_bytes: impl FnMut(u64),
    ) -> Result<u64, RelayError> {
        let mut pipe = Pipe::get().map_err(RelayError::Pipe)?;
        let mut total = 0u64;
        loop {
            let n = pipe.fill(from).await.map_err(RelayError::Read)?;
            if n == 0 {
                shutdown_write(to).map_err(RelayError::Write)?;
                return Ok(total);
            }
            let w = pipe.drain(to).await.map_err(RelayError::Write)?;
            total += w as u64;
            on_bytes(w as u64);
        }
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (c, a) = tokio::join!(TcpStream::connect(addr), l.accept());
        (c.unwrap(), a.unwrap().0)
    }

    fn pattern(i: u64) -> u8 {
        (i.wrapping_mul(2_654_435_761) >> 13) as u8
    }

    /// source -> [a | relay | b] -> sink, `len` bytes of a pattern, checked.
    async fn transfer(len: u64) {
        let (mut src, a) = pair().await;
        let (b, mut sink) = pair().await;
        let counted = std::cell::Cell::new(0u64);
        let writer = async move {
            let mut off = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            while off < len {
                let n = (len - off).min(buf.len() as u64) as usize;
                for (i, x) in buf[..n].iter_mut().enumerate() {
                    *x = pattern(off + i as u64);
                }
                src.write_all(&buf[..n]).await.unwrap();
                off += n as u64;
            }
            src.shutdown().await.unwrap();
            src
        };
        let reader = async move {
            let mut got = 0u64;
            let mut buf = vec![0u8; 100_000];
            loop {
                let n = sink.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                for (i, x) in buf[..n].iter().enumerate() {
                    assert_eq!(*x, pattern(got + i as u64), "byte {}", got + i as u64);
                }
                got += n as u64;
            }
            (got, sink)
        };
        let relayed = relay(&a, &b, |n| counted.set(counted.get() + n));
        let (_src, (got, _sink), total) = tokio::join!(writer, reader, relayed);
        let total = total.unwrap();
        assert_eq!(got, len);
        assert_eq!(total, len);
        assert_eq!(counted.get(), len);
    }

    #[tokio::test]
    async fn large_transfer_is_exact() {
        transfer(64 * 1024 * 1024 + 12_345).await;
    }

    #[tokio::test]
    async fn empty_transfer_half_closes() {
        transfer(0).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_directions_concurrently_with_half_close() {
        // client <-> [c_side | two relays | s_side] <-> server
        let (mut client, c_side) = pair().await;
        let (s_side, mut server) = pair().await;
        let c_side = std::sync::Arc::new(c_side);
        let s_side = std::sync::Arc::new(s_side);
        let (c1, s1) = (c_side.clone(), s_side.clone());
        let up = tokio::spawn(async move { relay(&c1, &s1, |_| {}).await.unwrap() });
        let (c2, s2) = (c_side.clone(), s_side.clone());
        let down = tokio::spawn(async move { relay(&s2, &c2, |_| {}).await.unwrap() });
        const UP: usize = 3 * 1024 * 1024 + 7;
        const DOWN: usize = 20 * 1024 * 1024 + 1;
        // the client sends its request and half-closes; the server reads it
        // all (EOF), then answers a large body on the half-closed session.
        client.write_all(&vec![7u8; UP]).await.unwrap();
        client.shutdown().await.unwrap();
        let mut req = Vec::new();
        server.read_to_end(&mut req).await.unwrap();
        assert_eq!(req.len(), UP);
        assert!(req.iter().all(|&x| x == 7));
        let srv = tokio::spawn(async move {
            server.write_all(&vec![9u8; DOWN]).await.unwrap();
            server.shutdown().await.unwrap();
            server
        });
        let mut resp = Vec::new();
        client.read_to_end(&mut resp).await.unwrap();
        assert_eq!(resp.len(), DOWN);
        assert!(resp.iter().all(|&x| x == 9));
        assert_eq!(up.await.unwrap(), UP as u64);
        assert_eq!(down.await.unwrap(), DOWN as u64);
        drop(srv.await.unwrap());
    }

    #[tokio::test]
    async fn write_error_is_reported_and_pipe_not_pooled() {
        let (mut src, a) = pair().await;
        let (b, sink) = pair().await;
        // the destination's peer is gone: writes fail with EPIPE/ECONNRESET
        drop(sink);
        let feeder = tokio::spawn(async move {
            let buf = vec![1u8; 256 * 1024];
            for _ in 0..64 {
                if src.write_all(&buf).await.is_err() {
                    break;
                }
            }
            src
        });
        let r = relay(&a, &b, |_| {}).await;
        assert!(matches!(r, Err(RelayError::Write(_))), "{r:?}");
        // close the relay's ends: the feeder, blocked once the buffers are
        // full, then gets an error instead of waiting forever
        drop((a, b));
        drop(feeder.await.unwrap());
        // pooled pipes are always empty
        POOL.with(|p| {
            for (r, _, _) in p.borrow().iter() {
                let mut n: libc::c_int = 0;
                // SAFETY: FIONREAD on a pipe we own, into a local int. nix
                // has no FIONREAD call (its ioctl macros make unsafe fns).
                unsafe { libc::ioctl(r.as_raw_fd(), libc::FIONREAD, &mut n) };
                assert_eq!(n, 0);
            }
        });
    }

    #[tokio::test]
    async fn short_reads_then_wait_then_eof() {
        let (mut src, a) = pair().await;
        let mut buf = [0u8; 16];
        assert_eq!(
            try_read(&a, &mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        src.write_all(b"abc").await.unwrap();
        a.readable().await.unwrap();
        assert_eq!(try_read(&a, &mut buf).unwrap(), 3);
        // drained: the next wait must still wake up for new data
        let (r, _) = tokio::join!(a.readable(), src.write_all(b"defgh"));
        r.unwrap();
        assert_eq!(try_read(&a, &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"defgh");
        drop(src);
        a.readable().await.unwrap();
        assert_eq!(try_read(&a, &mut buf).unwrap(), 0);
    }

    #[tokio::test]
    async fn pipes_are_reused() {
        let p = Pipe::get().unwrap();
        let (r, _) = p.raw();
        assert!(p.capacity() >= 4096);
        drop(p);
        let q = Pipe::get().unwrap();
        assert_eq!(q.raw().0, r, "an empty pipe goes back to the pool");
    }

    #[tokio::test]
    async fn fill_and_drain_step_by_step() {
        let (mut src, a) = pair().await;
        let (b, mut sink) = pair().await;
        let mut pipe = Pipe::new().unwrap();
        src.write_all(b"hello").await.unwrap();
        let n = pipe.fill(&a).await.unwrap();
        assert_eq!(n, 5);
        assert_eq!(pipe.pending(), 5);
        assert_eq!(pipe.drain(&b).await.unwrap(), 5);
        assert_eq!(pipe.pending(), 0);
        let mut got = [0u8; 5];
        sink.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        drop(src);
        assert_eq!(pipe.fill(&a).await.unwrap(), 0, "EOF");
    }
}
