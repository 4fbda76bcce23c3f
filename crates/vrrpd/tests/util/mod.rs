//! Shared helpers of the namespace tests: a switch namespace with a bridge,
//! node namespaces plugged into it, vrrpd / keepalived processes guarded by
//! pid, log files, waits with deadlines.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use testsupport::netns::{self, Child, Netns};

pub const PREFIX: &str = "vt-";
static N: AtomicU32 = AtomicU32::new(0);

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("vrrpd-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `sw` holds bridge `br0`; every node namespace has `eth0` plugged into it
/// with address `10.77.0.<10+i>/24`.
pub struct Lab {
    pub nodes: Vec<Netns>,
    pub sw: Netns,
    pub dir: TempDir,
}

pub fn node_ip(i: usize) -> String {
    format!("10.77.0.{}", 10 + i)
}

pub const VIP: &str = "10.77.0.100";
pub const SW_IP: &str = "10.77.0.9";

impl Lab {
    pub fn new(tag: &str, n: usize) -> Lab {
        static CLEAN: std::sync::Once = std::sync::Once::new();
        CLEAN.call_once(|| {
            let _ = netns::cleanup_stale(PREFIX);
        });
        let sw = Netns::new(PREFIX).expect("netns");
        netns::bridge(&sw, "br0").expect("bridge");
        netns::link_up(&sw, "br0").expect("br0 up");
        netns::addr_add(&sw, "br0", &format!("{SW_IP}/24")).expect("br0 addr");
        let mut nodes = Vec::new();
        for i in 0..n {
            let ns = Netns::new(PREFIX).expect("netns");
            let port = format!("p{i}");
            // No DAD delay for IPv6 addresses (set before the link exists).
            for k in ["all", "default"] {
                let _ = ns.run(&["sysctl", "-qw", &format!("net.ipv6.conf.{k}.accept_dad=0")]);
            }
            netns::veth_pair(&ns, "eth0", &sw, &port).expect("veth");
            netns::bridge_attach(&sw, "br0", &port).expect("attach");
            netns::link_up(&sw, &port).expect("port up");
            netns::addr_add(&ns, "eth0", &format!("{}/24", node_ip(i))).expect("addr");
            netns::link_up(&ns, "eth0").expect("up");
            nodes.push(ns);
        }
        Lab {
            nodes,
            sw,
            dir: TempDir::new(tag),
        }
    }

    pub fn has(&self, i: usize, addr: &str) -> bool {
        self.nodes[i].has_addr(addr).unwrap_or(false)
    }

    /// Nodes holding `addr`.
    pub fn holders(&self, addr: &str) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.has(*i, addr))
            .collect()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::write(&p, text).expect("write");
        p
    }

    /// Start vrrpd on node `i` with this configuration text.
    pub fn vrrpd(&self, i: usize, conf: &str) -> Daemon {
        let tag = format!("vrrpd{i}-{}", N.fetch_add(1, Ordering::Relaxed));
        let conf_path = self.write(&format!("{tag}.conf"), conf);
        let log = self.dir.path().join(format!("{tag}.log"));
        let dump = self.dir.path().join(&tag);
        fs::create_dir_all(&dump).expect("dump dir");
        let f = fs::File::create(&log).expect("log");
        let f2 = f.try_clone().expect("log");
        let mut cmd = self.nodes[i].exec(&[
            env!("CARGO_BIN_EXE_vrrpd"),
            "-n",
            "-l",
            "-D",
            "-f",
            conf_path.to_str().unwrap_or_default(),
            "--dump-dir",
            dump.to_str().unwrap_or_default(),
        ]);
        cmd.stdin(Stdio::null()).stdout(f).stderr(f2);
        cmd.env_remove("JOURNAL_STREAM").env_remove("NOTIFY_SOCKET");
        Daemon {
            child: Child::spawn(&mut cmd).expect("spawn vrrpd"),
            log,
            dump,
            dir: self.dir.path().to_path_buf(),
        }
    }

    /// Start keepalived 2.2.7 on node `i` (None if not installed).
    pub fn keepalived(&self, i: usize, conf: &str) -> Option<Daemon> {
        let bin = Path::new("/usr/sbin/keepalived");
        if !bin.exists() {
            return None;
        }
        let tag = format!("ka{i}-{}", N.fetch_add(1, Ordering::Relaxed));
        let d = self.dir.path();
        let conf_path = self.write(&format!("{tag}.conf"), conf);
        let log = d.join(format!("{tag}.log"));
        let f = fs::File::create(&log).expect("log");
        let f2 = f.try_clone().expect("log");
        let p = |s: &str| d.join(format!("{tag}.{s}")).to_string_lossy().into_owned();
        let mut cmd = self.nodes[i].exec(&[
            "/usr/sbin/keepalived",
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
            conf_path.to_str().unwrap_or_default(),
            "-p",
            &p("pid"),
            "-r",
            &p("vrrp.pid"),
            "-c",
            &p("check.pid"),
            "-i",
            &tag,
        ]);
        cmd.stdin(Stdio::null()).stdout(f).stderr(f2);
        cmd.env_remove("JOURNAL_STREAM").env_remove("NOTIFY_SOCKET");
        Some(Daemon {
            child: Child::spawn(&mut cmd).expect("spawn keepalived"),
            log,
            dump: d.to_path_buf(),
            dir: d.to_path_buf(),
        })
    }
}

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
    pub dump: PathBuf,
    pub dir: PathBuf,
}

impl Daemon {
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
    pub fn count(&self, needle: &str) -> usize {
        self.log_text().matches(needle).count()
    }
    /// Wait until the log contains `needle` `n` times.
    pub fn wait_log(&self, needle: &str, n: usize, timeout: Duration) -> bool {
        wait(timeout, || self.count(needle) >= n)
    }
    pub fn signal(&mut self, sig: i32) {
        self.child.signal(sig).expect("signal");
    }
    /// SIGTERM and wait (SIGKILL after the grace period); exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .stop(libc::SIGTERM, Duration::from_secs(10))
            .ok()
            .flatten()
    }
    pub fn kill(&mut self) {
        let _ = self.child.kill_wait();
    }
    /// SIGUSR1/2 dump file contents, after signalling and waiting for it.
    pub fn dump_file(&mut self, sig: i32, name: &str) -> String {
        let p = self.dump.join(name);
        let _ = fs::remove_file(&p);
        self.signal(sig);
        assert!(wait(Duration::from_secs(5), || p.exists()), "no {name}");
        fs::read_to_string(&p).unwrap_or_default()
    }
}

pub fn wait(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Assert that for `dur` the condition holds all the time.
pub fn holds_for(dur: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + dur;
    while Instant::now() < deadline {
        if !cond() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// A `vrrp_instance` block (and optional extra top-level text).
pub struct Inst<'a> {
    pub name: &'a str,
    pub state: &'a str,
    pub prio: u8,
    pub vrid: u8,
    pub extra: String,
}

impl Inst<'_> {
    pub fn render(&self) -> String {
        format!(
            "vrrp_instance {} {{\n    interface eth0\n    state {}\n    priority {}\n    virtual_router_id {}\n{}\n    virtual_ipaddress {{\n        {VIP}\n    }}\n}}\n",
            self.name, self.state, self.prio, self.vrid, self.extra
        )
    }
}

/// A default v2 instance with PASS auth and advert_int 1.
pub fn v2(name: &str, state: &str, prio: u8, extra: &str) -> String {
    Inst {
        name,
        state,
        prio,
        vrid: 51,
        extra: format!(
            "    advert_int 1\n    authentication {{\n        auth_type PASS\n        auth_pass s3cret\n    }}\n{extra}"
        ),
    }
    .render()
}

pub const GLOBAL: &str =
    "global_defs {\n    router_id test\n    script_user root\n    enable_script_security\n}\n";

/// Print the logs of every daemon on failure (for diagnosis).
pub fn dump_logs(ds: &[&Daemon]) -> String {
    let mut s = String::new();
    for d in ds {
        s.push_str(&format!("==== {}\n{}\n", d.log.display(), d.log_text()));
    }
    s
}

pub fn command_ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
