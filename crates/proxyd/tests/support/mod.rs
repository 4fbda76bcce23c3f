//! Test harness: tiny backend servers and a `proxyd` child process, all on
//! 127.0.0.1 with ports picked by the kernel. Children are killed by pid
//! and always waited for.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// Poll `cond` until true or `timeout`.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A backend: answers `NAME\n` on accept, then echoes what it receives
/// until the client half-closes, then closes.
pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pub accepted: Arc<AtomicUsize>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Backend {
    pub fn start(name: &str) -> Backend {
        Backend::start_on(name, free_port())
    }

    pub fn start_on(name: &str, port: u16) -> Backend {
        // a just-released port may be briefly held (e.g. by an outgoing
        // connection's ephemeral port): retry for a while
        let mut l = TcpListener::bind(("127.0.0.1", port));
        let end = Instant::now() + Duration::from_secs(10);
        while l.is_err() && Instant::now() < end {
            thread::sleep(Duration::from_millis(50));
            l = TcpListener::bind(("127.0.0.1", port));
        }
        let l = l.expect("bind backend");
        let addr = l.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (s2, a2, n2) = (stop.clone(), accepted.clone(), name.to_string());
        let thread = thread::spawn(move || {
            for c in l.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = c else { continue };
                a2.fetch_add(1, Ordering::SeqCst);
                let name = n2.clone();
                thread::spawn(move || {
                    let _ = c.write_all(format!("{name}\n").as_bytes());
                    let mut buf = [0u8; 16384];
                    loop {
                        match c.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if c.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = c.shutdown(Shutdown::Write);
                });
            }
        });
        Backend {
            name: name.to_string(),
            addr,
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Close the listening socket (new connections are refused).
    pub fn kill(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Connect to `port`, read the backend's name line, half-close, read to
/// the end. Returns the name (or an error text).
pub fn request(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let _ = s.shutdown(Shutdown::Write);
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    match out.strip_suffix('\n') {
        Some(name) if !name.is_empty() => Ok(name.to_string()),
        _ => Err(format!("bad answer {out:?}")),
    }
}

/// A session kept open: the name was read, the connection stays.
pub struct Session {
    pub stream: TcpStream,
    pub name: String,
}

pub fn open_session(port: u16) -> Result<Session, String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
    let mut name = String::new();
    r.read_line(&mut name).map_err(|e| e.to_string())?;
    if name.is_empty() {
        return Err("closed".into());
    }
    Ok(Session {
        stream: s,
        name: name.trim_end().to_string(),
    })
}

impl Session {
    /// Send `data` and read the echo.
    pub fn echo(&mut self, data: &[u8]) -> Result<(), String> {
        self.stream.write_all(data).map_err(|e| e.to_string())?;
        let mut got = vec![0u8; data.len()];
        self.stream
            .read_exact(&mut got)
            .map_err(|e| e.to_string())?;
        if got != data {
            return Err("echo mismatch".into());
        }
        Ok(())
    }
}

/// A running `proxyd` with its stderr collected.
pub struct Proxyd {
    pub child: Child,
    pub dir: PathBuf,
    pub cfg: PathBuf,
    log: Arc<Mutex<String>>,
    reader: Option<thread::JoinHandle<()>>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "proxyd-it-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

pub const BIN: &str = env!("CARGO_BIN_EXE_proxyd");

impl Proxyd {
    /// Start with `cfg` and wait until the first frontend is started.
    pub fn start(tag: &str, cfg: &str) -> Proxyd {
        Proxyd::start_args(tag, cfg, &[])
    }

    pub fn start_args(tag: &str, cfg: &str, extra: &[&str]) -> Proxyd {
        Proxyd::start_env(tag, cfg, extra, &[])
    }

    /// Start with extra arguments and environment variables.
    pub fn start_env(tag: &str, cfg: &str, extra: &[&str], env: &[(&str, &str)]) -> Proxyd {
        let dir = temp_dir(tag);
        let path = dir.join("proxyd.cfg");
        std::fs::write(&path, cfg).expect("write cfg");
        let mut child = Command::new(BIN)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .args(extra)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn proxyd");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let l2 = log.clone();
        let reader = thread::spawn(move || {
            let r = BufReader::new(stderr);
            for line in r.lines() {
                let Ok(line) = line else { break };
                if let Ok(mut l) = l2.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let p = Proxyd {
            child,
            dir,
            cfg: path,
            log,
            reader: Some(reader),
        };
        assert!(
            p.wait_log("started.", Duration::from_secs(20)),
            "proxyd did not start:\n{}",
            p.log()
        );
        p
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Number of log lines containing `pat`.
    pub fn count(&self, pat: &str) -> usize {
        self.log().lines().filter(|l| l.contains(pat)).count()
    }

    pub fn wait_log(&self, pat: &str, timeout: Duration) -> bool {
        wait_for(timeout, || self.log().contains(pat))
    }

    /// Wait until at least `n` lines contain `pat`.
    pub fn wait_count(&self, pat: &str, n: usize, timeout: Duration) -> bool {
        wait_for(timeout, || self.count(pat) >= n)
    }

    pub fn signal(&self, sig: i32) {
        // our own child's pid; a number that is no signal is ignored, as
        // kill(2) would refuse it
        if let Ok(sig) = nix::sys::signal::Signal::try_from(sig) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig);
        }
    }

    pub fn write_cfg(&self, cfg: &str) {
        std::fs::write(&self.cfg, cfg).expect("write cfg");
    }

    /// Wait for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return Some(st);
            }
            if Instant::now() > end {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn cfg_path(&self) -> &Path {
        &self.cfg
    }
}

impl Drop for Proxyd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Global + defaults used by most tests (logs to stderr, tcplog).
pub fn head(extra_defaults: &str) -> String {
    format!(
        "global\n    log stderr local0\n\ndefaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n{extra_defaults}\n"
    )
}
