//! Reload, the pure part: what changed between two validated
//! configurations, as a list of [`Change`]s that `app::App` applies one at
//! a time.
//!
//! Positions (`pos`) are not compared: moving a section in the file
//! changes nothing.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::model::{Backend, Balance, Config, Frontend, LogTarget, Server};

/// One difference between the running and the new configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Global `maxconn` (`None` = derived from the file-descriptor limit).
    GlobalMaxconn {
        old: Option<u32>,
        new: Option<u32>,
    },
    /// Global `log` lines, `log-tag` or `log-send-hostname`.
    GlobalLog,
    FrontendAdded {
        frontend: String,
    },
    FrontendRemoved {
        frontend: String,
    },
    FrontendMaxconn {
        frontend: String,
        old: Option<u32>,
        new: Option<u32>,
    },
    FrontendBackend {
        frontend: String,
        old: Option<String>,
        new: Option<String>,
    },
    /// `timeout client` / `timeout client-fin`.
    FrontendTimeouts {
        frontend: String,
    },
    /// `log` lines, log format, `dontlognull`, `logasap`.
    FrontendLog {
        frontend: String,
    },
    /// `disabled` added or removed.
    FrontendDisabled {
        frontend: String,
        disabled: bool,
    },
    /// A listening address that is new in the configuration (or whose
    /// frontend became enabled).
    BindAdded {
        frontend: String,
        addr: SocketAddr,
    },
    BindRemoved {
        frontend: String,
        addr: SocketAddr,
    },
    /// The address stays open and feeds another frontend.
    BindMoved {
        addr: SocketAddr,
        from: String,
        to: String,
    },
    BindMaxconn {
        frontend: String,
        addr: SocketAddr,
        old: Option<u32>,
        new: Option<u32>,
    },
    /// `backlog`, `v6only`/`v4v6` of an address that stays open: they
    /// need a new socket, so they take effect at the next restart.
    BindSocket {
        frontend: String,
        addr: SocketAddr,
    },
    BackendAdded {
        backend: String,
    },
    BackendRemoved {
        backend: String,
    },
    BackendBalance {
        backend: String,
        old: Balance,
        new: Balance,
    },
    /// `timeout connect/server/server-fin/tunnel/queue`.
    BackendTimeouts {
        backend: String,
    },
    /// `retries`, `option redispatch`, `option allbackups`, `fullconn`.
    BackendSettings {
        backend: String,
    },
    /// The check (`option tcp-check`/`httpchk` rules, `timeout check`,
    /// `option log-health-checks`).
    BackendCheck {
        backend: String,
    },
    BackendLog {
        backend: String,
    },
    BackendDisabled {
        backend: String,
        disabled: bool,
    },
    ServerAdded {
        backend: String,
        server: String,
    },
    ServerRemoved {
        backend: String,
        server: String,
    },
    ServerAddr {
        backend: String,
        server: String,
        old: SocketAddr,
        new: SocketAddr,
    },
    ServerMaxconn {
        backend: String,
        server: String,
        old: Option<u32>,
        new: Option<u32>,
    },
    ServerMaxqueue {
        backend: String,
        server: String,
        old: Option<u32>,
        new: Option<u32>,
    },
    ServerWeight {
        backend: String,
        server: String,
        old: u32,
        new: u32,
    },
    ServerBackup {
        backend: String,
        server: String,
        backup: bool,
    },
    ServerDisabled {
        backend: String,
        server: String,
        disabled: bool,
    },
    /// `check` added or removed, `inter/fastinter/downinter/rise/fall`,
    /// `port`, `addr`, `on-marked-*`.
    ServerCheck {
        backend: String,
        server: String,
    },
}

fn opt(v: Option<u32>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn opt_s(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Change::*;
        match self {
            GlobalMaxconn { old, new } => {
                write!(f, "global maxconn {} -> {}", opt(*old), opt(*new))
            }
            GlobalLog => write!(f, "global log"),
            FrontendAdded { frontend } => write!(f, "frontend {frontend} added"),
            FrontendRemoved { frontend } => write!(f, "frontend {frontend} removed"),
            FrontendMaxconn { frontend, old, new } => {
                write!(
                    f,
                    "frontend {frontend} maxconn {} -> {}",
                    opt(*old),
                    opt(*new)
                )
            }
            FrontendBackend { frontend, old, new } => write!(
                f,
                "frontend {frontend} default_backend {} -> {}",
                opt_s(old),
                opt_s(new)
            ),
            FrontendTimeouts { frontend } => write!(f, "frontend {frontend} timeouts"),
            FrontendLog { frontend } => write!(f, "frontend {frontend} log"),
            FrontendDisabled { frontend, disabled } => {
                write!(f, "frontend {frontend} disabled {disabled}")
            }
            BindAdded { frontend, addr } => write!(f, "frontend {frontend} bind {addr} added"),
            BindRemoved { frontend, addr } => write!(f, "frontend {frontend} bind {addr} removed"),
            BindMoved { addr, from, to } => write!(f, "bind {addr} moved {from} -> {to}"),
            BindMaxconn {
                frontend,
                addr,
                old,
                new,
            } => write!(
                f,
                "frontend {frontend} bind {addr} maxconn {} -> {}",
                opt(*old),
                opt(*new)
            ),
            BindSocket { frontend, addr } => {
                write!(
                    f,
                    "frontend {frontend} bind {addr} socket options (restart needed)"
                )
            }
            BackendAdded { backend } => write!(f, "backend {backend} added"),
            BackendRemoved { backend } => write!(f, "backend {backend} removed"),
            BackendBalance { backend, old, new } => {
                write!(f, "backend {backend} balance {old:?} -> {new:?}")
            }
            BackendTimeouts { backend } => write!(f, "backend {backend} timeouts"),
            BackendSettings { backend } => write!(f, "backend {backend} settings"),
            BackendCheck { backend } => write!(f, "backend {backend} check"),
            BackendLog { backend } => write!(f, "backend {backend} log"),
            BackendDisabled { backend, disabled } => {
                write!(f, "backend {backend} disabled {disabled}")
            }
            ServerAdded { backend, server } => write!(f, "server {backend}/{server} added"),
            ServerRemoved { backend, server } => write!(f, "server {backend}/{server} removed"),
            ServerAddr {
                backend,
                server,
                old,
                new,
            } => write!(f, "server {backend}/{server} addr {old} -> {new}"),
            ServerMaxconn {
                backend,
                server,
                old,
                new,
            } => write!(
                f,
                "server {backend}/{server} maxconn {} -> {}",
                opt(*old),
                opt(*new)
            ),
            ServerMaxqueue {
                backend,
                server,
                old,
                new,
            } => write!(
                f,
                "server {backend}/{server} maxqueue {} -> {}",
                opt(*old),
                opt(*new)
            ),
            ServerWeight {
                backend,
                server,
                old,
                new,
            } => write!(f, "server {backend}/{server} weight {old} -> {new}"),
            ServerBackup {
                backend,
                server,
                backup,
            } => write!(f, "server {backend}/{server} backup {backup}"),
            ServerDisabled {
                backend,
                server,
                disabled,
            } => write!(f, "server {backend}/{server} disabled {disabled}"),
            ServerCheck { backend, server } => write!(f, "server {backend}/{server} check"),
        }
    }
}

/// A log line's settings, without its position.
fn same_logs(a: &[LogTarget], b: &[LogTarget]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.dest == y.dest
                && x.facility == y.facility
                && x.max_level == y.max_level
                && x.min_level == y.min_level
                && x.format == y.format
                && x.len == y.len
        })
}

/// The listening addresses of an enabled frontend, with their bind.
fn addrs(f: &Frontend) -> Vec<(SocketAddr, &crate::config::model::Bind)> {
    if f.disabled {
        return Vec::new();
    }
    f.binds
        .iter()
        .flat_map(|b| b.addrs.iter().map(move |a| (*a, b)))
        .collect()
}

type Timeouts = [Option<Duration>; 5];

fn backend_timeouts(b: &Backend) -> Timeouts {
    [
        b.timeout_connect,
        b.timeout_server,
        b.timeout_server_fin,
        b.timeout_tunnel,
        b.timeout_queue,
    ]
}

/// The differences from `old` to `new`, in a fixed order: global, then
/// backends and their servers (so that frontends can point at them), then
/// frontends, then listeners.
pub fn diff(old: &Config, new: &Config) -> Vec<Change> {
    let mut out = Vec::new();
    let (og, ng) = (&old.global, &new.global);
    if og.maxconn != ng.maxconn {
        out.push(Change::GlobalMaxconn {
            old: og.maxconn,
            new: ng.maxconn,
        });
    }
    if !same_logs(&og.log, &ng.log)
        || og.log_tag != ng.log_tag
        || og.log_send_hostname != ng.log_send_hostname
    {
        out.push(Change::GlobalLog);
    }
    for ob in &old.backends {
        if new.backend(&ob.name).is_none() {
            out.push(Change::BackendRemoved {
                backend: ob.name.clone(),
            });
        }
    }
    for nb in &new.backends {
        match old.backend(&nb.name) {
            None => out.push(Change::BackendAdded {
                backend: nb.name.clone(),
            }),
            Some(ob) => diff_backend(ob, nb, &mut out),
        }
    }
    for of in &old.frontends {
        if new.frontend(&of.name).is_none() {
            out.push(Change::FrontendRemoved {
                frontend: of.name.clone(),
            });
        }
    }
    for nf in &new.frontends {
        match old.frontend(&nf.name) {
            None => out.push(Change::FrontendAdded {
                frontend: nf.name.clone(),
            }),
            Some(of) => diff_frontend(of, nf, &mut out),
        }
    }
    diff_binds(old, new, &mut out);
    out
}

fn diff_backend(o: &Backend, n: &Backend, out: &mut Vec<Change>) {
    let backend = || n.name.clone();
    if o.disabled != n.disabled {
        out.push(Change::BackendDisabled {
            backend: backend(),
            disabled: n.disabled,
        });
    }
    if o.balance != n.balance {
        out.push(Change::BackendBalance {
            backend: backend(),
            old: o.balance,
            new: n.balance,
        });
    }
    if backend_timeouts(o) != backend_timeouts(n) {
        out.push(Change::BackendTimeouts { backend: backend() });
    }
    if (o.retries, o.redispatch, o.allbackups, o.fullconn)
        != (n.retries, n.redispatch, n.allbackups, n.fullconn)
    {
        out.push(Change::BackendSettings { backend: backend() });
    }
    if o.check != n.check
        || o.timeout_check != n.timeout_check
        || o.log_health_checks != n.log_health_checks
    {
        out.push(Change::BackendCheck { backend: backend() });
    }
    if !same_logs(&o.log, &n.log) {
        out.push(Change::BackendLog { backend: backend() });
    }
    for os in &o.servers {
        if n.server(&os.name).is_none() {
            out.push(Change::ServerRemoved {
                backend: backend(),
                server: os.name.clone(),
            });
        }
    }
    for ns in &n.servers {
        match o.server(&ns.name) {
            None => out.push(Change::ServerAdded {
                backend: backend(),
                server: ns.name.clone(),
            }),
            Some(os) => diff_server(&n.name, os, ns, out),
        }
    }
}

fn server_check(s: &Server) -> impl PartialEq + '_ {
    (
        s.check,
        s.inter,
        s.fastinter,
        s.downinter,
        s.rise,
        s.fall,
        s.check_port,
        s.check_addr,
        s.on_marked_down_shutdown_sessions,
        s.on_marked_up_shutdown_backup_sessions,
    )
}

fn diff_server(backend: &str, o: &Server, n: &Server, out: &mut Vec<Change>) {
    let b = || backend.to_string();
    let s = || n.name.clone();
    if o.addr != n.addr {
        out.push(Change::ServerAddr {
            backend: b(),
            server: s(),
            old: o.addr,
            new: n.addr,
        });
    }
    if o.maxconn != n.maxconn {
        out.push(Change::ServerMaxconn {
            backend: b(),
            server: s(),
            old: o.maxconn,
            new: n.maxconn,
        });
    }
    if o.maxqueue != n.maxqueue {
        out.push(Change::ServerMaxqueue {
            backend: b(),
            server: s(),
            old: o.maxqueue,
            new: n.maxqueue,
        });
    }
    if o.weight != n.weight {
        out.push(Change::ServerWeight {
            backend: b(),
            server: s(),
            old: o.weight,
            new: n.weight,
        });
    }
    if o.backup != n.backup {
        out.push(Change::ServerBackup {
            backend: b(),
            server: s(),
            backup: n.backup,
        });
    }
    if o.disabled != n.disabled {
        out.push(Change::ServerDisabled {
            backend: b(),
            server: s(),
            disabled: n.disabled,
        });
    }
    if server_check(o) != server_check(n) {
        out.push(Change::ServerCheck {
            backend: b(),
            server: s(),
        });
    }
}

fn diff_frontend(o: &Frontend, n: &Frontend, out: &mut Vec<Change>) {
    let frontend = || n.name.clone();
    if o.disabled != n.disabled {
        out.push(Change::FrontendDisabled {
            frontend: frontend(),
            disabled: n.disabled,
        });
    }
    if o.maxconn != n.maxconn {
        out.push(Change::FrontendMaxconn {
            frontend: frontend(),
            old: o.maxconn,
            new: n.maxconn,
        });
    }
    if o.default_backend != n.default_backend {
        out.push(Change::FrontendBackend {
            frontend: frontend(),
            old: o.default_backend.clone(),
            new: n.default_backend.clone(),
        });
    }
    if (o.timeout_client, o.timeout_client_fin) != (n.timeout_client, n.timeout_client_fin) {
        out.push(Change::FrontendTimeouts {
            frontend: frontend(),
        });
    }
    if !same_logs(&o.log, &n.log)
        || o.log_format != n.log_format
        || o.dontlognull != n.dontlognull
        || o.logasap != n.logasap
    {
        out.push(Change::FrontendLog {
            frontend: frontend(),
        });
    }
}

fn diff_binds(old: &Config, new: &Config, out: &mut Vec<Change>) {
    let olds: Vec<(SocketAddr, &Frontend, &crate::config::model::Bind)> = old
        .frontends
        .iter()
        .flat_map(|f| addrs(f).into_iter().map(move |(a, b)| (a, f, b)))
        .collect();
    let news: Vec<(SocketAddr, &Frontend, &crate::config::model::Bind)> = new
        .frontends
        .iter()
        .flat_map(|f| addrs(f).into_iter().map(move |(a, b)| (a, f, b)))
        .collect();
    for (addr, of, _) in &olds {
        if !news.iter().any(|(a, ..)| a == addr) {
            out.push(Change::BindRemoved {
                frontend: of.name.clone(),
                addr: *addr,
            });
        }
    }
    for (addr, nf, nb) in &news {
        let Some((_, of, ob)) = olds.iter().find(|(a, ..)| a == addr) else {
            out.push(Change::BindAdded {
                frontend: nf.name.clone(),
                addr: *addr,
            });
            continue;
        };
        if of.name != nf.name {
            out.push(Change::BindMoved {
                addr: *addr,
                from: of.name.clone(),
                to: nf.name.clone(),
            });
        }
        if ob.maxconn != nb.maxconn {
            out.push(Change::BindMaxconn {
                frontend: nf.name.clone(),
                addr: *addr,
                old: ob.maxconn,
                new: nb.maxconn,
            });
        }
        if (ob.backlog, of.backlog, ob.v6only, ob.v4v6)
            != (nb.backlog, nf.backlog, nb.v6only, nb.v4v6)
        {
            out.push(Change::BindSocket {
                frontend: nf.name.clone(),
                addr: *addr,
            });
        }
    }
}

/// Render changes one a line (golden files, logs).
pub fn render(changes: &[Change]) -> String {
    let mut s = String::new();
    for c in changes {
        s.push_str(&c.to_string());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests;
