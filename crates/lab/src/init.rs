//! The per-host init (`lab node-init`, hidden): PID 1 of a host's own PID
//! namespace, with a private mount namespace and a fresh /proc, inside the
//! host's network namespace. It makes each lab host look like a separate
//! machine to its daemons: `killall -0 proxyd` on lb1 sees only lb1's
//! proxy.
//!
//! Process tree, for one host:
//!
//! ```text
//! lab (or a test)                      root PID namespace
//!  └─ lab node-init (outer)            unshare(NEWPID|NEWNS|NEWUTS) before exec
//!      └─ lab node-init (inner) PID 1  private /proc, setns(net), hostname
//!          ├─ proxyd / haproxy         started on request, logs relayed
//!          └─ vrrpd / keepalived
//! ```
//!
//! The outer process only forks the inner one and waits for it. Both die
//! with their parent (`PR_SET_PDEATHSIG`), and when PID 1 of a PID
//! namespace dies the kernel kills everything in it: a crashed lab leaves
//! no daemon behind. The inner one reaps every child at once (signalfd on
//! SIGCHLD), so no zombie fools `killall -0`. It never restarts a service
//! on its own (like `systemctl stop`): services are started, signalled and
//! stopped through a control socket (one JSON line per request).
//! Their stdout/stderr go, line by line and journal-style
//! (`Nov 26 00:40:01.123 lb2 vrrpd[7]: ...`), to the host's log file.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::prctl;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, sethostname, ForkResult, Pid};
use serde::{Deserialize, Serialize};

use crate::timefmt::now_stamp;

/// A request on the control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// Start a service (error if it is running).
    Start {
        name: String,
        argv: Vec<String>,
        #[serde(default)]
        env: Vec<(String, String)>,
    },
    /// Send a signal and return at once.
    Signal {
        name: String,
        signal: i32,
    },
    /// Send a signal, wait up to `timeout_ms` for the exit, then SIGKILL.
    Stop {
        name: String,
        signal: i32,
        timeout_ms: u64,
    },
    Status,
    /// Stop every service (SIGTERM, then SIGKILL) and exit.
    Shutdown,
}

/// A service as the control socket reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceStatus {
    pub name: String,
    /// Pid inside the host's PID namespace.
    pub pid: i32,
    pub running: bool,
    /// How it ended, when it did (`exited with status 0`, `killed by
    /// signal 9`).
    pub exit: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub services: Vec<ServiceStatus>,
}

/// Send one request to a host's init and read the reply.
pub fn request(ctl: &Path, req: &Request, timeout: Duration) -> Result<Reply> {
    let mut s = UnixStream::connect(ctl).with_context(|| format!("connect {}", ctl.display()))?;
    s.set_read_timeout(Some(timeout))?;
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    s.write_all(line.as_bytes())?;
    let mut r = BufReader::new(s);
    let mut resp = String::new();
    r.read_line(&mut resp)?;
    let reply: Reply = serde_json::from_str(&resp)
        .with_context(|| format!("bad reply from {}: {resp:?}", ctl.display()))?;
    if !reply.ok {
        bail!("{}", reply.error.unwrap_or_else(|| "failed".into()));
    }
    Ok(reply)
}

/// Arguments of `lab node-init`.
#[derive(Debug, Clone)]
pub struct InitArgs {
    pub host: String,
    pub netns: PathBuf,
    pub ctl: PathBuf,
    pub log: PathBuf,
    /// Where the outer process writes the inner one's pid (as seen from
    /// the root PID namespace), for `nsenter -t`.
    pub pid_file: PathBuf,
}

/// `pre_exec` hook for the outer node-init: new PID, mount and UTS
/// namespaces for its children, and die with the parent.
///
/// # Safety
/// Runs between fork and exec: only async-signal-safe calls.
pub fn pre_exec_unshare() -> io::Result<()> {
    // nix's wrappers are thin (no allocation): async-signal-safe
    prctl::set_pdeathsig(Signal::SIGKILL)?;
    unblock_all_signals();
    unshare(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS)?;
    Ok(())
}

/// Clear the signal mask (a child must not inherit our blocked signals).
/// Async-signal-safe: for `pre_exec` hooks.
fn unblock_all_signals() {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Entry point of `lab node-init` (the outer process, single-threaded):
/// fork the PID 1 of the new namespace and wait for it.
pub fn main(args: InitArgs) -> Result<()> {
    // SAFETY: fork in a single-threaded process (nothing spawned threads
    // yet: this is the start of `lab node-init`). nix's fork is unsafe too,
    // for the same reason.
    let pid = match unsafe { fork() }.context("fork")? {
        ForkResult::Parent { child } => child,
        ForkResult::Child => {
            let code = match inner(&args) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{} {} lab-init[1]: fatal: {e:#}", now_stamp(), args.host);
                    1
                }
            };
            std::process::exit(code);
        }
    };
    std::fs::write(&args.pid_file, format!("{pid}\n"))
        .with_context(|| format!("write {}", args.pid_file.display()))?;
    let status = loop {
        match waitpid(pid, None) {
            Ok(st) => break st,
            Err(Errno::EINTR) => continue,
            Err(e) => bail!("waitpid: {e}"),
        }
    };
    let _ = std::fs::remove_file(&args.pid_file);
    std::process::exit(match status {
        WaitStatus::Exited(_, code) => code,
        _ => 1,
    });
}

fn setup_namespaces(args: &InitArgs) -> Result<()> {
    let _ = prctl::set_pdeathsig(Signal::SIGKILL);
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("make / private")?;
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .context("mount /proc")?;
    let f = File::open(&args.netns).with_context(|| format!("open {}", args.netns.display()))?;
    setns(&f, CloneFlags::CLONE_NEWNET).context("setns net")?;
    sethostname(&args.host).context("sethostname")?;
    Ok(())
}

struct Svc {
    pid: i32,
    running: bool,
    exit: Option<String>,
}

struct Init {
    host: String,
    log: Arc<Mutex<File>>,
    services: BTreeMap<String, Svc>,
}

fn describe(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exited with status {code}"),
        WaitStatus::Signaled(_, sig, _) => format!("killed by signal {}", sig as i32),
        other => format!("ended ({other:?})"),
    }
}

impl Init {
    fn logline(&self, line: &str) {
        if let Ok(mut f) = self.log.lock() {
            let _ = writeln!(f, "{} {} lab-init[1]: {line}", now_stamp(), self.host);
        }
    }

    /// Reap every exited child (ours or orphans), at once.
    fn reap(&mut self) {
        loop {
            let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(st) => st,
            };
            let Some(pid) = status.pid().map(Pid::as_raw) else {
                return;
            };
            let mut msg = None;
            for (name, s) in self.services.iter_mut() {
                if s.pid == pid && s.running {
                    s.running = false;
                    let d = describe(status);
                    msg = Some(format!("{name}[{pid}] {d}"));
                    s.exit = Some(d);
                }
            }
            if let Some(m) = msg {
                self.logline(&m);
            }
        }
    }

    fn start(&mut self, name: &str, argv: &[String], env: &[(String, String)]) -> Result<()> {
        if self.services.get(name).is_some_and(|s| s.running) {
            bail!("{name} is already running");
        }
        let Some((prog, rest)) = argv.split_first() else {
            bail!("empty argv");
        };
        let mut cmd = Command::new(prog);
        cmd.args(rest)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: the hook only clears the signal mask (async-signal-safe):
        // the child must not inherit our blocked SIGCHLD/SIGTERM. std's
        // pre_exec is unsafe by nature; nix has no safe equivalent.
        unsafe {
            cmd.pre_exec(|| {
                unblock_all_signals();
                Ok(())
            });
        }
        let mut child = cmd.spawn().with_context(|| format!("start {prog}"))?;
        let pid = child.id() as i32;
        let tag = Path::new(prog)
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string());
        if let Some(out) = child.stdout.take() {
            relay(out, self.log.clone(), format!("{} {tag}[{pid}]", self.host));
        }
        if let Some(err) = child.stderr.take() {
            relay(err, self.log.clone(), format!("{} {tag}[{pid}]", self.host));
        }
        // We reap with waitpid(-1); the std handle is not used again.
        drop(child);
        self.logline(&format!("Started {name} (pid {pid}): {}", argv.join(" ")));
        self.services.insert(
            name.to_string(),
            Svc {
                pid,
                running: true,
                exit: None,
            },
        );
        Ok(())
    }

    fn signal(&mut self, name: &str, sig: i32) -> Result<i32> {
        self.reap();
        let Some(s) = self.services.get(name) else {
            bail!("no service {name}");
        };
        if !s.running {
            bail!("{name} is not running");
        }
        let pid = s.pid;
        self.logline(&format!("Sending signal {sig} to {name} (pid {pid})"));
        // our own un-reaped child: its pid cannot be reused yet
        crate::killall::send(pid, sig).context("kill")?;
        Ok(pid)
    }

    fn stop(&mut self, name: &str, sig: i32, timeout: Duration) -> Result<()> {
        let pid = self.signal(name, sig)?;
        let deadline = Instant::now() + timeout;
        while self.services.get(name).is_some_and(|s| s.running) {
            if Instant::now() >= deadline {
                self.logline(&format!("{name} (pid {pid}) still running, SIGKILL"));
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                let d2 = Instant::now() + Duration::from_secs(5);
                while self.services.get(name).is_some_and(|s| s.running) && Instant::now() < d2 {
                    std::thread::sleep(Duration::from_millis(2));
                    self.reap();
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
            self.reap();
        }
        Ok(())
    }

    fn status(&mut self) -> Vec<ServiceStatus> {
        self.reap();
        self.services
            .iter()
            .map(|(n, s)| ServiceStatus {
                name: n.clone(),
                pid: s.pid,
                running: s.running,
                exit: s.exit.clone(),
            })
            .collect()
    }

    fn shutdown(&mut self) {
        let names: Vec<String> = self
            .services
            .iter()
            .filter(|(_, s)| s.running)
            .map(|(n, _)| n.clone())
            .collect();
        for n in &names {
            let _ = self.signal(n, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.services.values().any(|s| s.running) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            self.reap();
        }
        self.logline("Shutting down");
    }

    fn handle(&mut self, req: Request) -> (Reply, bool) {
        let ok = |services| Reply {
            ok: true,
            error: None,
            services,
        };
        let err = |e: anyhow::Error| Reply {
            ok: false,
            error: Some(format!("{e:#}")),
            services: vec![],
        };
        match req {
            Request::Start { name, argv, env } => match self.start(&name, &argv, &env) {
                Ok(()) => (ok(self.status()), false),
                Err(e) => (err(e), false),
            },
            Request::Signal { name, signal } => match self.signal(&name, signal) {
                Ok(_) => (ok(self.status()), false),
                Err(e) => (err(e), false),
            },
            Request::Stop {
                name,
                signal,
                timeout_ms,
            } => match self.stop(&name, signal, Duration::from_millis(timeout_ms)) {
                Ok(()) => (ok(self.status()), false),
                Err(e) => (err(e), false),
            },
            Request::Status => (ok(self.status()), false),
            Request::Shutdown => {
                self.shutdown();
                (ok(self.status()), true)
            }
        }
    }
}

/// Copy lines from a service's pipe to the host log, journal-style. A
/// leading `<N>` (journald priority, our daemons print it when
/// JOURNAL_STREAM is set) is stripped.
fn relay(pipe: impl io::Read + Send + 'static, log: Arc<Mutex<File>>, tag: String) {
    std::thread::spawn(move || {
        let r = BufReader::new(pipe);
        for line in r.split(b'\n') {
            let Ok(line) = line else { return };
            let line = String::from_utf8_lossy(&line);
            let line = strip_prio(line.trim_end());
            if let Ok(mut f) = log.lock() {
                let _ = writeln!(f, "{} {tag}: {line}", now_stamp());
            }
        }
    });
}

/// Clean a daemon's output line for the host log (the log adds its own
/// stamp and tag, as journald does):
/// - `<6>text` -> `text` (journald priority prefix, our daemons print it
///   when JOURNAL_STREAM is set);
/// - `<134>Nov 26 00:52:14 haproxy[2]: text` -> `text` (HAProxy's
///   `log stderr` syslog header);
/// - `Thu Nov 26 00:47:06 2026: text` -> `text` (keepalived's `-l` stamp).
pub fn strip_prio(line: &str) -> &str {
    let mut line = line;
    if let Some(rest) = line.strip_prefix('<') {
        if let Some(close) = rest.find('>') {
            if (1..=3).contains(&close) && rest[..close].bytes().all(|c| c.is_ascii_digit()) {
                line = &rest[close + 1..];
                // "Mmm dd hh:mm:ss tag[pid]: "
                let b = line.as_bytes();
                if b.len() > 16 && b[3] == b' ' && b[6] == b' ' && b[9] == b':' && b[12] == b':' {
                    if let Some(i) = line[16..].find("]: ") {
                        line = &line[16 + i + 3..];
                    }
                }
            }
        }
    }
    // "Www Mmm dd hh:mm:ss yyyy: " is 26 bytes
    let b = line.as_bytes();
    if b.len() >= 26
        && b[3] == b' '
        && b[7] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && b[24] == b':'
        && b[25] == b' '
        && b[20..24].iter().all(u8::is_ascii_digit)
    {
        &line[26..]
    } else {
        line
    }
}

fn inner(args: &InitArgs) -> Result<()> {
    setup_namespaces(args)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.log)
        .with_context(|| format!("open {}", args.log.display()))?;
    // Block the signals we handle through a signalfd (before any thread).
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        set.add(s);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).context("sigprocmask")?;
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .context("signalfd")?;
    let _ = std::fs::remove_file(&args.ctl);
    let listener =
        UnixListener::bind(&args.ctl).with_context(|| format!("bind {}", args.ctl.display()))?;
    listener.set_nonblocking(true)?;
    let mut init = Init {
        host: args.host.clone(),
        log: Arc::new(Mutex::new(log)),
        services: BTreeMap::new(),
    };
    init.logline(&format!(
        "Host {} up (PID 1 of its own PID namespace)",
        args.host
    ));
    loop {
        let mut fds = [
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
        ];
        if poll(&mut fds, PollTimeout::from(1000u16)).is_err() {
            continue;
        }
        let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
        let (signalled, connecting) = (ready(&fds[0]), ready(&fds[1]));
        if signalled {
            let mut term = false;
            while let Ok(Some(info)) = sfd.read_signal() {
                if info.ssi_signo == libc::SIGTERM as u32 || info.ssi_signo == libc::SIGINT as u32 {
                    term = true;
                }
            }
            init.reap();
            if term {
                init.shutdown();
                return Ok(());
            }
        }
        init.reap();
        if connecting {
            while let Ok((conn, _)) = listener.accept() {
                if serve_one(&mut init, conn) {
                    return Ok(());
                }
            }
        }
    }
}

/// Handle one control connection; true when asked to shut down.
fn serve_one(init: &mut Init, conn: UnixStream) -> bool {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let Ok(mut w) = conn.try_clone() else {
        return false;
    };
    let mut line = String::new();
    if BufReader::new(conn).read_line(&mut line).is_err() {
        return false;
    }
    let (reply, exit) = match serde_json::from_str::<Request>(&line) {
        Ok(req) => init.handle(req),
        Err(e) => (
            Reply {
                ok: false,
                error: Some(format!("bad request: {e}")),
                services: vec![],
            },
            false,
        ),
    };
    if let Ok(mut s) = serde_json::to_string(&reply) {
        s.push('\n');
        let _ = w.write_all(s.as_bytes());
    }
    exit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_journal_priority() {
        assert_eq!(
            strip_prio("<6>(vif1) Entering MASTER STATE"),
            "(vif1) Entering MASTER STATE"
        );
        assert_eq!(strip_prio("plain"), "plain");
        assert_eq!(strip_prio("<x>y"), "<x>y");
        assert_eq!(
            strip_prio("<129>Nov 26 00:52:20 haproxy[2]: Server web-servers/web1 is DOWN"),
            "Server web-servers/web1 is DOWN"
        );
        assert_eq!(
            strip_prio("Thu Nov 26 00:47:06 2026: (vif1) Entering MASTER STATE"),
            "(vif1) Entering MASTER STATE"
        );
    }

    #[test]
    fn requests_round_trip() {
        let r = Request::Stop {
            name: "proxyd".into(),
            signal: 15,
            timeout_ms: 100,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.contains("\"cmd\":\"stop\""));
        let back: Request = serde_json::from_str(&s).unwrap();
        assert!(matches!(
            back,
            Request::Stop {
                timeout_ms: 100,
                ..
            }
        ));
    }

    #[test]
    fn describes_exit_status() {
        let describe = |raw| describe(WaitStatus::from_raw(Pid::from_raw(1), raw).unwrap());
        assert_eq!(describe(0), "exited with status 0");
        assert_eq!(describe(9), "killed by signal 9");
    }
}
