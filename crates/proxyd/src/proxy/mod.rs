//! The data path: listeners, accept loops and TCP sessions, in three
//! parts: `listener` (sockets, the accept loop with its limits, pause and
//! backoff), `session` (queue, connect, retries, the log line) and `relay`
//! (the `Relay` future).
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

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::config::model::LogFormat;
use crate::limit::Limit;
use crate::logsink::LogSink;
use crate::state::{BackendState, FrontendState, KillToken, Runtime};

mod listener;
mod relay;
mod session;

pub use listener::{accept_loop, bind_socket, listen_backlog};

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
