//! Helpers shared by the health-check and stats-socket integration tests:
//! in-process loopback backends, a `proxyd` process guard that captures its
//! log lines, and deadline-based waiting. Everything stays on 127.0.0.1.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Poll `f` until it returns `Some`, or panic with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a test backend does with each connection.
pub type Handler = Arc<dyn Fn(&mut TcpStream) + Send + Sync>;

/// Reply with `name\n` and close (tells which server answered).
pub fn name_handler(name: &str) -> Handler {
    let reply = format!("{name}\n");
    Arc::new(move |s: &mut TcpStream| {
        let _ = s.write_all(reply.as_bytes());
    })
}

/// A TCP server on 127.0.0.1 that can be stopped and restarted on the same
/// port.
pub struct TestBackend {
    pub port: u16,
    handler: Handler,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub accepted: Arc<AtomicU64>,
}

impl TestBackend {
    pub fn start(handler: Handler) -> TestBackend {
        Self::start_on(0, handler)
    }

    pub fn start_on(port: u16, handler: Handler) -> TestBackend {
        let mut b = TestBackend {
            port,
            handler,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            accepted: Arc::new(AtomicU64::new(0)),
        };
        b.run();
        b
    }

    fn run(&mut self) {
        let l = wait_for(Duration::from_secs(5), "backend bind", || {
            TcpListener::bind(("127.0.0.1", self.port)).ok()
        });
        self.port = l.local_addr().expect("local_addr").port();
        l.set_nonblocking(true).expect("nonblocking");
        self.stop = Arc::new(AtomicBool::new(false));
        let stop = self.stop.clone();
        let handler = self.handler.clone();
        let accepted = self.accepted.clone();
        self.thread = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                        let h = handler.clone();
                        std::thread::spawn(move || h(&mut s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Close the listening socket: new connections are refused.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Listen again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

impl Drop for TestBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running `proxyd` whose stderr lines are collected.
pub struct Proxyd {
    child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    pub dir: PathBuf,
}

/// A fresh per-test directory under the system temp dir.
pub fn test_dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "proxyd-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create test dir");
    d
}

impl Proxyd {
    /// Start `proxyd -f <dir>/proxyd.cfg` with journald-style output
    /// (`<prio>message`) and per-check debug lines.
    pub fn start(dir: &Path, config: &str) -> Proxyd {
        let cfg = dir.join("proxyd.cfg");
        std::fs::write(&cfg, config).expect("write config");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_proxyd"));
        cmd.arg("-f")
            .arg(&cfg)
            .env("JOURNAL_STREAM", "8:1")
            .env("RUST_LOG", "info,proxyd::checks=debug");
        Self::spawn(cmd, dir)
    }

    /// Start any daemon (e.g. the real HAProxy), collecting the lines of
    /// its stdout and stderr.
    pub fn spawn(mut cmd: Command, dir: &Path) -> Proxyd {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn daemon");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let out: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("stdout"));
        let err: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("stderr"));
        for stream in [out, err] {
            let l2 = lines.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if std::env::var_os("PROXYD_TEST_ECHO").is_some() {
                        eprintln!("daemon: {line}");
                    }
                    if let Ok(mut v) = l2.lock() {
                        v.push(line);
                    }
                }
            }));
        }
        Proxyd {
            child,
            lines,
            readers,
            dir: dir.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A copy of the lines logged so far.
    pub fn log(&self) -> Vec<String> {
        self.lines.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Wait until a line satisfying `pred` appears at index >= `from`;
    /// returns its index.
    pub fn wait_line(
        &self,
        from: usize,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> usize {
        wait_for(timeout, what, || {
            let log = self.log();
            log.iter()
                .enumerate()
                .skip(from)
                .find(|(_, l)| pred(l))
                .map(|(i, _)| i)
        })
    }

    pub fn dump(&self) -> String {
        self.log().join("\n")
    }
}

impl Drop for Proxyd {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Connect to `addr` and read everything the server sends (None on error).
pub fn fetch(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Which server answers through the proxy at `addr` (trimmed reply).
pub fn who(addr: SocketAddr) -> Option<String> {
    fetch(addr)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
