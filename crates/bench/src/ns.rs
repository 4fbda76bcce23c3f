//! The benchmark's private network namespace and the processes in it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A network namespace that exists for one benchmark run; deleted on drop.
pub struct BenchNs {
    pub name: String,
}

const PREFIX: &str = "pxbench-";

impl BenchNs {
    pub fn create() -> Result<Self> {
        remove_stale();
        let name = format!("{PREFIX}{}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = BenchNs { name };
        ns.run(&["ip", "link", "set", "lo", "up"])?;
        // Short connections: many ports, reuse TIME_WAIT, deep accept queues.
        ns.run(&[
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_local_port_range=1024 65000",
        ])?;
        ns.run(&["sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1"])?;
        ns.run(&["sysctl", "-q", "-w", "net.core.somaxconn=8192"])?;
        ns.run(&["sysctl", "-q", "-w", "net.ipv4.tcp_max_syn_backlog=8192"])?;
        Ok(ns)
    }

    pub fn cmd(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    pub fn run(&self, argv: &[&str]) -> Result<String> {
        run(&mut self.cmd(argv))
    }
}

impl Drop for BenchNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Remove namespaces left by crashed runs (their pid is gone).
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if let Some(pid) = name.strip_prefix(PREFIX) {
            let alive = pid
                .parse::<i32>()
                .map(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
                .unwrap_or(false);
            if !alive {
                let _ = Command::new("ip").args(["netns", "del", name]).status();
            }
        }
    }
}

pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A daemon started by the benchmark: stopped by pid and waited on drop.
pub struct Daemon {
    pub name: &'static str,
    pub child: Child,
}

impl Daemon {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(self.pid(), libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!("bench: {} did not stop on SIGTERM; killing it", self.name);
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Wait until something accepts TCP connections on `port` inside the namespace.
pub fn wait_port(ns: &BenchNs, port: u16, what: &str, d: &mut Daemon) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = ns
            .cmd(&["bash", "-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return Ok(());
        }
        if let Ok(Some(st)) = d.child.try_wait() {
            bail!("{what} exited early: {st}");
        }
        if Instant::now() > deadline {
            bail!("{what} did not listen on port {port} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
