//! Log targets (`log /dev/log local0`, `log 127.0.0.1:514 local1 notice`,
//! `log stdout format raw local0`...). Sending never blocks and never
//! fails the caller: a full or absent syslog drops the line, as HAProxy.

use std::io::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::config::model::{LogDest, LogFormatKind, LogTarget, DEFAULT_LOG_LEN};
use crate::tcplog::{pri, syslog_frame, Tm};

#[derive(Debug)]
enum Dest {
    Unix {
        sock: Option<UnixDatagram>,
        path: PathBuf,
    },
    Udp {
        sock: Option<UdpSocket>,
        to: SocketAddr,
    },
    Stdout,
    Stderr,
}

#[derive(Debug)]
struct Target {
    dest: Dest,
    facility: u8,
    max_level: u8,
    min_level: Option<u8>,
    format: LogFormatKind,
    len: usize,
}

/// The log targets of one proxy (or of `global`).
#[derive(Debug, Default)]
pub struct LogSink {
    targets: Vec<Target>,
    tag: String,
}

impl LogSink {
    /// Open the targets (sockets are created now, before any chroot).
    pub fn new(targets: &[LogTarget], tag: &str) -> LogSink {
        let targets = targets
            .iter()
            .map(|t| {
                let dest = match &t.dest {
                    LogDest::Unix(path) => {
                        let sock = UnixDatagram::unbound().ok().and_then(|s| {
                            s.set_nonblocking(true).ok()?;
                            // connected now so that it keeps working after
                            // a chroot; send_to(path) is the fallback
                            let _ = s.connect(path);
                            Some(s)
                        });
                        Dest::Unix {
                            sock,
                            path: path.clone(),
                        }
                    }
                    LogDest::Udp(to) => {
                        let bind: SocketAddr = if to.is_ipv4() {
                            SocketAddr::from(([0, 0, 0, 0], 0))
                        } else {
                            SocketAddr::from(([0u16; 8], 0))
                        };
                        let sock = UdpSocket::bind(bind).ok().and_then(|s| {
                            s.set_nonblocking(true).ok()?;
                            Some(s)
                        });
                        Dest::Udp { sock, to: *to }
                    }
                    LogDest::Stdout => Dest::Stdout,
                    LogDest::Stderr => Dest::Stderr,
                };
                Target {
                    dest,
                    facility: t.facility.0,
                    max_level: t.max_level.unwrap_or(7),
                    min_level: t.min_level,
                    format: t.format,
                    len: t.len.unwrap_or(DEFAULT_LOG_LEN) as usize,
                }
            })
            .collect();
        LogSink {
            targets,
            tag: tag.to_string(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Whether a target other than stdout/stderr exists.
    pub fn has_remote(&self) -> bool {
        self.targets
            .iter()
            .any(|t| matches!(t.dest, Dest::Unix { .. } | Dest::Udp { .. }))
    }

    /// Send `msg` at syslog severity `level` to every target that accepts
    /// it. `stdio` = also to stdout/stderr targets.
    pub fn send(&self, level: u8, msg: &str, stdio: bool) {
        if self.targets.is_empty() {
            return;
        }
        let now = Tm::local(SystemTime::now());
        let pid = std::process::id();
        for t in &self.targets {
            if level > t.max_level {
                continue;
            }
            let level = match t.min_level {
                Some(min) if level > min => min,
                _ => level,
            };
            let stream = matches!(t.dest, Dest::Stdout | Dest::Stderr);
            if stream && !stdio {
                continue;
            }
            let line = match t.format {
                LogFormatKind::Raw => {
                    let mut s = String::with_capacity(msg.len() + 1);
                    s.push_str(msg);
                    if stream {
                        s.push('\n');
                    }
                    s
                }
                _ => syslog_frame(
                    pri(t.facility, level),
                    &now,
                    &self.tag,
                    pid,
                    msg,
                    t.len,
                    stream,
                ),
            };
            match &t.dest {
                Dest::Unix { sock, path } => {
                    if let Some(s) = sock {
                        if s.send(line.as_bytes()).is_err() {
                            let _ = s.send_to(line.as_bytes(), path);
                        }
                    }
                }
                Dest::Udp { sock, to } => {
                    if let Some(s) = sock {
                        let _ = s.send_to(line.as_bytes(), to);
                    }
                }
                Dest::Stdout => {
                    let _ = std::io::stdout().lock().write_all(line.as_bytes());
                }
                Dest::Stderr => {
                    let _ = std::io::stderr().lock().write_all(line.as_bytes());
                }
            }
        }
    }
}

/// Log an event line (server DOWN, proxy stopped...) through tracing (so
/// stderr/journald shows it with the right severity) and to the syslog
/// targets of `sink` (stdout/stderr targets are skipped: tracing already
/// wrote to stderr).
pub fn event(sink: &LogSink, prio: u8, msg: &str) {
    match prio {
        0..=3 => tracing::error!(prio = u64::from(prio), "{msg}"),
        4 => tracing::warn!(prio = u64::from(prio), "{msg}"),
        5 | 6 => tracing::info!(prio = u64::from(prio), "{msg}"),
        _ => tracing::debug!("{msg}"),
    }
    sink.send(prio, msg, false);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Facility;
    use common::lexer::Pos;

    fn target(dest: LogDest, max_level: Option<u8>) -> LogTarget {
        LogTarget {
            pos: Pos {
                file: "t".into(),
                line: 1,
            },
            dest,
            facility: Facility(16),
            max_level,
            min_level: None,
            format: LogFormatKind::Rfc3164,
            len: None,
        }
    }

    #[test]
    fn udp_and_unix_targets_receive_rfc3164() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let dir = std::env::temp_dir().join(format!("proxyd-logsink-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let urx = UnixDatagram::bind(&path).unwrap();
        urx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let sink = LogSink::new(
            &[
                target(LogDest::Udp(rx.local_addr().unwrap()), Some(6)),
                target(LogDest::Unix(path.clone()), None),
            ],
            "proxyd",
        );
        sink.send(7, "debug line", true);
        sink.send(6, "hello", true);
        let mut buf = [0u8; 256];
        let n = rx.recv(&mut buf).unwrap();
        let got = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(got.starts_with("<134>"), "{got}");
        assert!(got.ends_with(&format!(" proxyd[{}]: hello", std::process::id())));
        let n = urx.recv(&mut buf).unwrap();
        assert!(std::str::from_utf8(&buf[..n])
            .unwrap()
            .ends_with("debug line"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
