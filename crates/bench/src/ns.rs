//! The benchmark's private network namespace and the processes in it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use testsupport::netns::{self, Netns};

/// A network namespace that exists for one benchmark run (a
/// [`testsupport::netns::Netns`], so deleted on drop), tuned for short
/// connections.
pub struct BenchNs {
    ns: Netns,
}

const PREFIX: &str = "pxbench-";

impl BenchNs {
    pub fn create() -> Result<Self> {
        // Leftovers of crashed runs (their pid is gone).
        let _ = netns::cleanup_stale(PREFIX);
        let ns = BenchNs {
            ns: Netns::new(PREFIX).context("creating the benchmark namespace")?,
        };
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
        self.ns.exec(argv)
    }

    pub fn run(&self, argv: &[&str]) -> Result<String> {
        self.ns
            .run(argv)
            .with_context(|| format!("running {argv:?} in {}", self.ns.name()))
    }
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
            // our own un-reaped child: its pid cannot be reused yet
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid()),
                nix::sys::signal::Signal::SIGTERM,
            );
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
