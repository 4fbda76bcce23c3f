//! Test harness shared by the integration tests.
//!
//! End-to-end tests (`tests/e2e*.rs`) run the lab ([`lab::Lab`]): each
//! test builds its own instance (unique namespace prefix, own run
//! directory), drives it like a user (stop a daemon, unplug a cable) and
//! asserts on what a user sees: HTTP answers through the VIP, which host
//! holds the VIP, log lines. Outage figures are printed, never asserted.
//!
//! The binaries come from the same target directory as the test binary
//! (`cargo build --workspace --bins` first, as `tests/run` does).
//! `E2E_IMPL=haproxy` runs the same scenarios on HAProxy + keepalived
//! (the reference); the default is proxyd + vrrpd.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
pub use lab::http::{outage, Outage, Prober, Sample};
pub use lab::{Impl, Lab, LabOptions, Service, Topology};

/// How long a failover or a recovery may take before a test gives up
/// (generous: this is a deadline, not a timing assert).
pub const SETTLE: Duration = Duration::from_secs(40);

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// target/<profile>/ of the running test binary (it lives in
/// target/<profile>/deps/).
pub fn bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let deps = exe.parent().context("test binary has no directory")?;
    let dir = if deps.ends_with("deps") {
        deps.parent().context("no profile dir")?
    } else {
        deps
    };
    Ok(dir.to_path_buf())
}

/// The implementation under test: `E2E_IMPL=haproxy|ours` (default ours).
pub fn implementation() -> Impl {
    match std::env::var("E2E_IMPL").as_deref() {
        Ok("haproxy") => Impl::Haproxy,
        _ => Impl::Ours,
    }
}

/// Lab options for tests: the binaries of this target directory, a run
/// root of our own (`/run/proxyd-lab-tests`).
pub fn options() -> Result<LabOptions> {
    let dir = bin_dir()?;
    let lab_exe = dir.join("lab");
    if !lab_exe.is_file() {
        bail!(
            "{} not found: build the binaries first (cargo build --workspace --bins)",
            lab_exe.display()
        );
    }
    let mut o = LabOptions::new(lab_exe);
    o.implementation = implementation();
    o.run_root = PathBuf::from("/run/proxyd-lab-tests");
    o.prefix_base = "plabt".to_string();
    Ok(o)
}

/// `deploy/lab/NAME`, loaded.
pub fn topology(name: &str) -> Result<(Topology, PathBuf)> {
    let p = workspace_root().join("deploy/lab").join(name);
    Ok((Topology::load(&p)?, p))
}

/// A lab instance for one test. On a failing test (drop while panicking)
/// it prints every load balancer's and web server's log.
pub struct E2e {
    pub lab: Lab,
    pub client: String,
    pub started: Instant,
}

impl E2e {
    /// Build the topology `deploy/lab/NAME` and wait until every VIP is
    /// held by exactly one host and answers through the client.
    pub fn up(name: &str) -> Result<E2e> {
        E2e::up_with(name, implementation())
    }

    /// [`E2e::up`] with a given implementation.
    pub fn up_with(name: &str, implementation: Impl) -> Result<E2e> {
        let (t, p) = topology(name)?;
        let client = t.client().map(|c| c.name.clone()).context("no client")?;
        let mut opts = options()?;
        opts.implementation = implementation;
        let lab = Lab::up(t, &p, opts)?;
        let e = E2e {
            lab,
            client,
            started: Instant::now(),
        };
        e.lab.wait_ready(&e.client, SETTLE)?;
        e.note(&format!(
            "lab {} up ({:?})",
            e.lab.state.prefix,
            e.lab.implementation()
        ));
        Ok(e)
    }

    /// Print a progress line with the time since the lab came up.
    pub fn note(&self, s: &str) {
        eprintln!("[{:>6} ms] {s}", self.started.elapsed().as_millis());
    }

    /// The hosts holding `vip`.
    pub fn holders(&self, vip: Ipv4Addr) -> Vec<String> {
        self.lab.vip_holders(vip).unwrap_or_default()
    }

    /// Wait until `vip` is on `host` only; returns how long it took.
    pub fn expect_vip_on(&self, vip: Ipv4Addr, host: &str) -> Duration {
        let t0 = Instant::now();
        assert!(
            self.lab.wait_vip(vip, host, SETTLE),
            "{vip} should be on {host} only, is on {:?}",
            self.holders(vip)
        );
        let d = t0.elapsed();
        self.note(&format!("{vip} on {host} (waited {} ms)", d.as_millis()));
        d
    }

    /// Wait until `GET http://VIP/` from the client answers a web server's
    /// page; returns the body.
    pub fn wait_served(&self, vip: Ipv4Addr) -> Result<String> {
        self.lab
            .wait_http(&self.client, vip, SETTLE, |b| {
                b.starts_with("Hello from web server")
            })
            .with_context(|| {
                format!(
                    "http://{vip}/ not served from {}\n{}",
                    self.client,
                    self.lab.diagnostics(&self.client)
                )
            })
    }

    /// `n` requests through `vip`: the first line of each answer.
    pub fn bodies(&self, vip: Ipv4Addr, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| match self.lab.http_get(&self.client, vip) {
                Ok(r) => r.body.lines().next().unwrap_or("").to_string(),
                Err(e) => format!("error: {e}"),
            })
            .collect()
    }

    /// Start a 50 ms client on `vip`, wait for 3 answers.
    pub fn probe(&self, vip: Ipv4Addr) -> Prober {
        let p = self
            .lab
            .prober(&self.client, vip, Duration::from_millis(50))
            .expect("prober");
        lab::runtime::wait_samples(&p, 3, SETTLE);
        p
    }

    /// Wait for `n` more successes, stop the prober, print and return the
    /// outage.
    pub fn finish_probe(&self, p: Prober, what: &str) -> Outage {
        let before = p.successes();
        testsupport::netns::wait_until(SETTLE, || p.successes() >= before + 10);
        let o = outage(&p.stop());
        self.note(&format!(
            "{what}: outage window {} ms, {} of {} requests failed{}",
            o.window.as_millis(),
            o.failed,
            o.requests,
            o.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        ));
        o
    }

    /// The VRRP daemon's name in logs (`vrrpd` or `keepalived`).
    pub fn vrrp_name(&self) -> &'static str {
        self.lab.implementation().name(Service::Vrrp)
    }

    /// Wait until a host's log has one more line containing `needle` than
    /// `before` (from [`Lab::count_in_log`]).
    pub fn expect_log(&self, host: &str, needle: &str, before: usize) {
        assert!(
            self.lab.wait_log(host, needle, before, SETTLE),
            "{host}'s log should show {needle:?}; it is:\n{}",
            self.lab.log(host).unwrap_or_default()
        );
        self.note(&format!("{host} logged {needle:?}"));
    }
}

impl Drop for E2e {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for h in &self.lab.state.hosts {
                if h.role != lab::Role::Client {
                    eprintln!("----- {} log -----", h.name);
                    eprintln!("{}", self.lab.log(&h.name).unwrap_or_default());
                }
            }
        }
    }
}

/// Skip (return true) when not root: the lab needs namespaces.
pub fn skip_unless_root() -> bool {
    if !is_root() {
        eprintln!("skipped: the lab needs root");
        return true;
    }
    false
}
