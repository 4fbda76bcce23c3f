//! The signals both daemons react to, as one async source.

use tokio::signal::unix::{signal, Signal as TokioSignal, SignalKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Hup,
    Term,
    Int,
    Usr1,
    Usr2,
    Ttou,
    Ttin,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Hup => "SIGHUP",
            Signal::Term => "SIGTERM",
            Signal::Int => "SIGINT",
            Signal::Usr1 => "SIGUSR1",
            Signal::Usr2 => "SIGUSR2",
            Signal::Ttou => "SIGTTOU",
            Signal::Ttin => "SIGTTIN",
        }
    }
}

/// Registers handlers for all of [`Signal`] at creation (so none is lost
/// between startup and the first `recv`). Must be created inside a tokio
/// runtime.
pub struct Signals {
    hup: TokioSignal,
    term: TokioSignal,
    int: TokioSignal,
    usr1: TokioSignal,
    usr2: TokioSignal,
    ttou: TokioSignal,
    ttin: TokioSignal,
}

impl Signals {
    pub fn new() -> std::io::Result<Self> {
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
            ttou: signal(SignalKind::from_raw(libc::SIGTTOU))?,
            ttin: signal(SignalKind::from_raw(libc::SIGTTIN))?,
        })
    }

    /// Wait for the next signal.
    pub async fn recv(&mut self) -> Signal {
        loop {
            let got = tokio::select! {
                r = self.hup.recv() => r.map(|_| Signal::Hup),
                r = self.term.recv() => r.map(|_| Signal::Term),
                r = self.int.recv() => r.map(|_| Signal::Int),
                r = self.usr1.recv() => r.map(|_| Signal::Usr1),
                r = self.usr2.recv() => r.map(|_| Signal::Usr2),
                r = self.ttou.recv() => r.map(|_| Signal::Ttou),
                r = self.ttin.recv() => r.map(|_| Signal::Ttin),
            };
            if let Some(s) = got {
                return s;
            }
        }
    }
}
