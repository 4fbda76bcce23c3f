//! The stats socket server: binding (unix or TCP) and one task per
//! connection.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{CancellationToken, TaskTracker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{StatsAddr, StatsLevel, StatsSocket};
use crate::state::Runtime;

use super::command::{process_input, Session};

/// A bound stats socket, ready to serve (bound before chroot and privilege
/// drop, as HAProxy does).
#[derive(Debug)]
pub enum Bound {
    Unix {
        listener: std::os::unix::net::UnixListener,
        path: PathBuf,
        level: StatsLevel,
    },
    Tcp {
        listener: std::net::TcpListener,
        level: StatsLevel,
    },
}

/// Bind a `stats socket`. A unix socket is bound under a temporary name,
/// given its mode and owner, then renamed over `PATH` (replacing a stale
/// socket left by a previous process).
pub fn bind(sock: &StatsSocket) -> io::Result<Bound> {
    match &sock.addr {
        StatsAddr::Unix(path) => {
            let tmp = tmp_path(path);
            let _ = std::fs::remove_file(&tmp);
            let listener = std::os::unix::net::UnixListener::bind(&tmp)?;
            let setup = || -> io::Result<()> {
                if let Some(mode) = sock.mode {
                    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
                }
                if sock.uid.is_some() || sock.gid.is_some() {
                    std::os::unix::fs::chown(&tmp, sock.uid, sock.gid)?;
                }
                std::fs::rename(&tmp, path)
            };
            if let Err(e) = setup() {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            Ok(Bound::Unix {
                listener,
                path: path.clone(),
                level: sock.level,
            })
        }
        StatsAddr::Tcp(addr) => Ok(Bound::Tcp {
            listener: std::net::TcpListener::bind(addr)?,
            level: sock.level,
        }),
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{}.tmp", std::process::id()));
    PathBuf::from(s)
}

/// HAProxy's default `stats maxconn`.
pub const DEFAULT_MAXCONN: u32 = 10;

/// `stats maxconn` and `stats timeout`, shared by all the stats sockets
/// (they are one proxy in HAProxy).
#[derive(Debug, Clone)]
pub struct Limits {
    /// An idle connection is closed after this (`stats timeout`).
    pub idle: Duration,
    /// One permit per connection being served (`stats maxconn`).
    slots: Arc<Semaphore>,
}

impl Limits {
    /// `maxconn` `None` is HAProxy's default of 10.
    pub fn new(idle: Duration, maxconn: Option<u32>) -> Self {
        let n = maxconn.unwrap_or(DEFAULT_MAXCONN).max(1);
        Limits {
            idle,
            slots: Arc::new(Semaphore::new(usize::try_from(n).unwrap_or(usize::MAX))),
        }
    }

    /// Wait for a free connection slot; `None` at `cancel`.
    async fn slot(&self, cancel: &CancellationToken) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            _ = cancel.cancelled() => None,
            p = self.slots.clone().acquire_owned() => p.ok(),
        }
    }
}

/// Serve a bound stats socket until `cancel`. Each connection is one task
/// on `tracker`; an idle connection is closed after `limits.idle` (`stats
/// timeout`). At `stats maxconn` connections the socket stops accepting:
/// the next ones wait in the listen backlog, as in HAProxy.
pub fn serve(
    bound: Bound,
    rt: Arc<Runtime>,
    limits: &Limits,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) -> io::Result<()> {
    let ctx = AcceptCtx {
        rt,
        limits: limits.clone(),
        tracker: tracker.clone(),
        cancel,
    };
    match bound {
        Bound::Unix {
            listener,
            path,
            level,
        } => {
            listener.set_nonblocking(true)?;
            let listener = Arc::new(tokio::net::UnixListener::from_std(listener)?);
            let what = format!("stats socket {}", path.display());
            tracker.spawn(ctx.run(what, level, move || {
                let l = listener.clone();
                async move { l.accept().await.map(|(s, _)| s) }
            }));
        }
        Bound::Tcp { listener, level } => {
            listener.set_nonblocking(true)?;
            let listener = Arc::new(tokio::net::TcpListener::from_std(listener)?);
            tracker.spawn(ctx.run("stats socket".to_string(), level, move || {
                let l = listener.clone();
                async move { l.accept().await.map(|(s, _)| s) }
            }));
        }
    }
    Ok(())
}

/// What an accept loop of a stats socket shares with its connections.
struct AcceptCtx {
    rt: Arc<Runtime>,
    limits: Limits,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl AcceptCtx {
    /// Accept while a connection slot is free (`stats maxconn`); each
    /// connection is a task holding its slot until it ends.
    async fn run<S, F, Fut>(self, what: String, level: StatsLevel, mut accept: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = io::Result<S>>,
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        while let Some(permit) = self.limits.slot(&self.cancel).await {
            let conn = tokio::select! {
                _ = self.cancel.cancelled() => break,
                c = accept() => c,
            };
            match conn {
                Ok(stream) => {
                    let conn = handle_conn(
                        stream,
                        self.rt.clone(),
                        level,
                        self.limits.idle,
                        self.cancel.clone(),
                    );
                    self.tracker.spawn(async move {
                        conn.await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!("{what}: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Longest request line accepted (HAProxy's buffer size).
const MAX_LINE: usize = 16384;

async fn handle_conn<S>(
    mut stream: S,
    rt: Arc<Runtime>,
    level: StatsLevel,
    idle: Duration,
    cancel: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut session = Session::new(level);
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = vec![0u8; 4096];
    loop {
        let n = tokio::select! {
            _ = cancel.cancelled() => return,
            r = tokio::time::timeout(idle, stream.read(&mut chunk)) => match r {
                Ok(Ok(n)) => n,
                _ => return,
            },
        };
        if n == 0 {
            // An unterminated last command is not executed (as HAProxy).
            let _ = stream.shutdown().await;
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let (out, consumed) = process_input(&rt, &mut session, &buf);
        buf.drain(..consumed);
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
        if session.quit || (consumed > 0 && !session.interactive && buf.is_empty()) {
            let _ = stream.shutdown().await;
            return;
        }
        if buf.len() > MAX_LINE {
            return;
        }
    }
}
