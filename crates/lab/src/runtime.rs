//! Building, driving and tearing down a lab instance.
//!
//! Layout of one instance (prefix `plab<pid>-<n>`, unique per run):
//! - network namespace `PREFIX-sw` with bridge `br0`, one port per host
//!   (named after the host);
//! - network namespace `PREFIX-HOST` per host, interface `enp0s3` (the
//!   topology's `interface`) with the host's address, the other end of the
//!   veth in the switch;
//! - per host a [`crate::init`] process (PID 1 of its own PID namespace)
//!   which runs the host's daemons;
//! - a run directory `RUN_ROOT/PREFIX/` with `state.json`, per-host log
//!   files, control sockets and generated configs.
//!
//! Nothing is configured in the root namespace. [`Lab`] owns all of it and
//! removes it on drop; a run that crashed is cleaned by the next `up`
//! (namespaces named after a dead pid) or by `lab down`.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use testsupport::netns::{self, Netns};

use crate::http::{self, Prober, Response};
use crate::init::{self, Request, ServiceStatus};
use crate::topology::{Role, Topology};

/// Default root of the run directories.
pub const RUN_ROOT: &str = "/run/proxyd-lab";
/// Namespace name prefix of lab instances.
pub const PREFIX_BASE: &str = "plab";

/// Environment variables of a service.
pub type EnvVars = Vec<(String, String)>;

/// Which proxy/VRRP pair runs on the load balancers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Impl {
    /// proxyd + vrrpd (this project).
    Ours,
    /// HAProxy + keepalived (Debian packages), for comparison.
    Haproxy,
}

/// A daemon of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The web server of a web host.
    Httpd,
    /// proxyd or haproxy on a load balancer.
    Proxy,
    /// vrrpd or keepalived on a load balancer.
    Vrrp,
}

impl Impl {
    /// The process name of a service (what `killall` and the logs show).
    pub fn name(self, s: Service) -> &'static str {
        match (self, s) {
            (_, Service::Httpd) => "httpd",
            (Impl::Ours, Service::Proxy) => "proxyd",
            (Impl::Haproxy, Service::Proxy) => "haproxy",
            (Impl::Ours, Service::Vrrp) => "vrrpd",
            (Impl::Haproxy, Service::Vrrp) => "keepalived",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LabOptions {
    pub implementation: Impl,
    /// Directory of `proxyd` and `vrrpd`.
    pub bin_dir: PathBuf,
    /// The `lab` executable (runs the per-host init and the web servers).
    pub lab_exe: PathBuf,
    pub run_root: PathBuf,
    pub prefix_base: String,
    /// HAProxy and keepalived executables for [`Impl::Haproxy`].
    pub haproxy: PathBuf,
    pub keepalived: PathBuf,
}

impl LabOptions {
    /// Defaults for a lab run from `lab_exe`, with the daemons next to it.
    pub fn new(lab_exe: PathBuf) -> LabOptions {
        let bin_dir = lab_exe
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        LabOptions {
            implementation: Impl::Ours,
            bin_dir,
            lab_exe,
            run_root: PathBuf::from(RUN_ROOT),
            prefix_base: PREFIX_BASE.to_string(),
            haproxy: PathBuf::from("/usr/sbin/haproxy"),
            keepalived: PathBuf::from("/usr/sbin/keepalived"),
        }
    }
}

/// What another invocation needs to find a running lab (`state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub prefix: String,
    pub topology: PathBuf,
    pub implementation: Impl,
    /// The process that owns the lab (the `lab up` supervisor or a test).
    pub owner_pid: u32,
    pub run_dir: PathBuf,
    pub switch_netns: String,
    pub hosts: Vec<HostState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostState {
    pub name: String,
    pub role: Role,
    pub address: Ipv4Addr,
    pub netns: String,
    pub ctl: PathBuf,
    pub log: PathBuf,
    /// File holding the pid (root PID namespace) of the host's PID 1.
    pub init_pid_file: PathBuf,
}

impl RunState {
    pub fn load(run_dir: &Path) -> Result<RunState> {
        let p = run_dir.join("state.json");
        let s = std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?;
        serde_json::from_str(&s).with_context(|| format!("parse {}", p.display()))
    }

    fn save(&self) -> Result<()> {
        let p = self.run_dir.join("state.json");
        let tmp = self.run_dir.join("state.json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self)?)?;
        std::fs::rename(&tmp, &p)?;
        Ok(())
    }
}

struct Owned {
    switch: Netns,
    hosts: Vec<Netns>,
    inits: Vec<netns::Child>,
}

/// A lab instance: owned (built by [`Lab::up`], torn down on drop) or
/// attached (found through its `state.json`, see [`Lab::attach`]).
pub struct Lab {
    pub state: RunState,
    pub topology: Topology,
    opts: LabOptions,
    owned: Option<Owned>,
}

/// Remove run directories and namespaces of lab instances whose owner
/// died. Returns what was removed.
pub fn cleanup_stale(run_root: &Path, prefix_base: &str) -> Result<Vec<String>> {
    let mut removed = netns::cleanup_stale(prefix_base)?;
    if let Ok(rd) = std::fs::read_dir(run_root) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = netns::owner_pid(prefix_base, &name) {
                if !pid_running(pid) {
                    let _ = std::fs::remove_dir_all(e.path());
                    removed.push(e.path().display().to_string());
                }
            }
        }
    }
    Ok(removed)
}

/// Tear down a lab from its state alone (an interrupted `demo`): ask each
/// host's init to stop its daemons, delete the namespaces, remove the run
/// directory. The inits die with their parent anyway.
pub fn teardown_state(state: &RunState) {
    for h in &state.hosts {
        let _ = init::request(&h.ctl, &Request::Shutdown, Duration::from_secs(5));
        let _ = netns::delete(&h.netns);
    }
    let _ = netns::delete(&state.switch_netns);
    let _ = std::fs::remove_dir_all(&state.run_dir);
}

/// A process exists and is not a zombie.
pub fn pid_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => match s.rfind(')') {
            Some(i) => !s[i + 1..].trim_start().starts_with('Z'),
            None => true,
        },
        Err(_) => false,
    }
}

fn ip_of(s: &str) -> Result<Ipv4Addr> {
    s.parse().map_err(|_| anyhow!("bad address {s}"))
}

impl Lab {
    /// Build the topology and start every host's daemons. Waits until each
    /// host's init answers; the daemons themselves start asynchronously
    /// (use [`Lab::wait_vip`], [`Lab::wait_http`]).
    pub fn up(topology: Topology, topology_path: &Path, opts: LabOptions) -> Result<Lab> {
        if !opts.lab_exe.is_file() {
            bail!("lab executable {} not found", opts.lab_exe.display());
        }
        match opts.implementation {
            Impl::Ours => {
                for b in ["proxyd", "vrrpd"] {
                    let p = opts.bin_dir.join(b);
                    if !p.is_file() {
                        bail!(
                            "{} not found: build it (cargo build --release --workspace), pass --bin-dir, or use --impl haproxy",
                            p.display()
                        );
                    }
                }
            }
            Impl::Haproxy => {
                for p in [&opts.haproxy, &opts.keepalived] {
                    if !p.is_file() {
                        bail!(
                            "{} not found (apt-get install haproxy keepalived)",
                            p.display()
                        );
                    }
                }
            }
        }
        topology.check_files()?;
        cleanup_stale(&opts.run_root, &opts.prefix_base)?;
        let prefix = netns::unique_name(&opts.prefix_base);
        let run_dir = opts.run_root.join(&prefix);
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("create {}", run_dir.display()))?;
        let switch = Netns::with_name(&format!("{prefix}-sw"))?;
        netns::bridge(&switch, "br0")?;
        let mut state = RunState {
            prefix: prefix.clone(),
            topology: topology_path.to_path_buf(),
            implementation: opts.implementation,
            owner_pid: std::process::id(),
            run_dir: run_dir.clone(),
            switch_netns: switch.name().to_string(),
            hosts: vec![],
        };
        let mut owned = Owned {
            switch,
            hosts: vec![],
            inits: vec![],
        };
        let plen = topology.prefix_len();
        for n in &topology.nodes {
            let ns = Netns::with_name(&format!("{prefix}-{}", n.name))?;
            netns::veth_pair_by_name(ns.name(), &topology.interface, owned.switch.name(), &n.name)?;
            netns::bridge_attach(&owned.switch, "br0", &n.name)?;
            netns::addr_add(&ns, &topology.interface, &format!("{}/{plen}", n.address))?;
            netns::link_up(&ns, &topology.interface)?;
            state.hosts.push(HostState {
                name: n.name.clone(),
                role: n.role,
                address: n.address,
                netns: ns.name().to_string(),
                ctl: run_dir.join(format!("{}.sock", n.name)),
                log: run_dir.join(format!("{}.log", n.name)),
                init_pid_file: run_dir.join(format!("{}.init.pid", n.name)),
            });
            owned.hosts.push(ns);
        }
        let mut lab = Lab {
            state,
            topology,
            opts,
            owned: Some(owned),
        };
        lab.start_inits()?;
        lab.state.save()?;
        lab.start_daemons()?;
        Ok(lab)
    }

    fn start_inits(&mut self) -> Result<()> {
        for h in &self.state.hosts {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&h.log)
                .with_context(|| format!("open {}", h.log.display()))?;
            let mut cmd = Command::new(&self.opts.lab_exe);
            cmd.arg("node-init")
                .arg("--host")
                .arg(&h.name)
                .arg("--netns")
                .arg(Path::new(netns::NETNS_DIR).join(&h.netns))
                .arg("--ctl")
                .arg(&h.ctl)
                .arg("--log")
                .arg(&h.log)
                .arg("--pid-file")
                .arg(&h.init_pid_file)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            // SAFETY: the hook only makes async-signal-safe syscalls (through
            // nix). std's pre_exec is unsafe by nature; nix has no safe
            // equivalent.
            unsafe {
                cmd.pre_exec(init::pre_exec_unshare);
            }
            let child = netns::Child::spawn(&mut cmd).context("start node-init")?;
            if let Some(o) = self.owned.as_mut() {
                o.inits.push(child);
            }
        }
        for h in &self.state.hosts {
            let ok = netns::wait_until(Duration::from_secs(10), || {
                init::request(&h.ctl, &Request::Status, Duration::from_secs(2)).is_ok()
                    && h.init_pid_file.exists()
            });
            if !ok {
                let log = std::fs::read_to_string(&h.log).unwrap_or_default();
                bail!("host {}: init did not come up; its log:\n{log}", h.name);
            }
        }
        Ok(())
    }

    /// Write the configs of a load balancer for the chosen implementation
    /// into the run directory; returns (proxy config, vrrp config).
    fn node_configs(&self, name: &str) -> Result<(PathBuf, PathBuf)> {
        let n = self
            .topology
            .node(name)
            .ok_or_else(|| anyhow!("no host {name}"))?;
        let dir = self.state.run_dir.join(name);
        std::fs::create_dir_all(&dir)?;
        let mut out = vec![];
        for f in ["haproxy.cfg", "keepalived.conf"] {
            let src = self.topology.config_file(n, f);
            let mut text =
                std::fs::read_to_string(&src).with_context(|| format!("read {}", src.display()))?;
            if self.opts.implementation == Impl::Haproxy {
                text = adapt_for_haproxy(&text);
            }
            let dst = dir.join(f);
            std::fs::write(&dst, text)?;
            out.push(dst);
        }
        Ok((out[0].clone(), out[1].clone()))
    }

    /// The argv and environment of a service on a host.
    pub fn service_command(&self, host: &str, s: Service) -> Result<(Vec<String>, EnvVars)> {
        let n = self
            .topology
            .node(host)
            .ok_or_else(|| anyhow!("no host {host}"))?;
        let p = |p: &Path| p.display().to_string();
        let mut journal = vec![("JOURNAL_STREAM".to_string(), "0:0".to_string())];
        let mut vrrp_env = vec![];
        if let Some(path) = self.killall_path()? {
            journal.push(("PATH".to_string(), path.clone()));
            vrrp_env.push(("PATH".to_string(), path));
        }
        Ok(match (n.role, s) {
            (Role::Web, Service::Httpd) if n.command.is_some() => {
                (n.command.clone().unwrap_or_default(), vec![])
            }
            (Role::Web, Service::Httpd) => (
                vec![
                    p(&self.opts.lab_exe),
                    "httpd".into(),
                    "--text".into(),
                    n.text.clone().unwrap_or_default(),
                    "--listen".into(),
                    format!("0.0.0.0:{}", n.port()),
                ],
                vec![],
            ),
            (Role::Lb, Service::Proxy) => {
                let (cfg, _) = self.node_configs(host)?;
                match self.opts.implementation {
                    Impl::Ours => (
                        vec![p(&self.opts.bin_dir.join("proxyd")), "-f".into(), p(&cfg)],
                        journal,
                    ),
                    Impl::Haproxy => (
                        vec![p(&self.opts.haproxy), "-db".into(), "-f".into(), p(&cfg)],
                        vec![],
                    ),
                }
            }
            (Role::Lb, Service::Vrrp) => {
                let (_, conf) = self.node_configs(host)?;
                match self.opts.implementation {
                    Impl::Ours => (
                        vec![p(&self.opts.bin_dir.join("vrrpd")), "-f".into(), p(&conf)],
                        journal,
                    ),
                    Impl::Haproxy => {
                        let d = self.state.run_dir.join(host);
                        (
                            vec![
                                p(&self.opts.keepalived),
                                "-n".into(),
                                "-l".into(),
                                "-D".into(),
                                "-f".into(),
                                p(&conf),
                                "-p".into(),
                                p(&d.join("keepalived.pid")),
                                "-r".into(),
                                p(&d.join("vrrp.pid")),
                                "-c".into(),
                                p(&d.join("checkers.pid")),
                            ],
                            vrrp_env,
                        )
                    }
                }
            }
            (r, s) => bail!("host {host} ({r:?}) has no {s:?}"),
        })
    }

    /// When the machine has no `killall` (psmisc), a PATH for the VRRP
    /// daemons with a `killall` link to the lab binary in front
    /// (`LAB_KILLALL_SHIM=1` forces it, for testing).
    fn killall_path(&self) -> Result<Option<String>> {
        if std::env::var_os("LAB_KILLALL_SHIM").is_none() && crate::killall::on_path("killall") {
            return Ok(None);
        }
        let bin = self.state.run_dir.join("bin");
        let link = bin.join("killall");
        if !link.exists() {
            std::fs::create_dir_all(&bin)?;
            std::os::unix::fs::symlink(&self.opts.lab_exe, &link)?;
        }
        let sys = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
        Ok(Some(format!("{}:{sys}", bin.display())))
    }

    fn start_daemons(&self) -> Result<()> {
        // Web servers first, and listening before the proxies start: as on
        // real hosts that were up before the load balancers, the proxies'
        // first health checks find them serving (no DOWN line at boot).
        for n in self.topology.nodes.iter().filter(|n| n.role == Role::Web) {
            self.start(&n.name, Service::Httpd)?;
        }
        for n in self.topology.nodes.iter().filter(|n| n.role == Role::Web) {
            self.wait_listening(&n.name, n.address, n.port.unwrap_or(80))?;
        }
        for n in self.topology.nodes.iter().filter(|n| n.role == Role::Lb) {
            self.start(&n.name, Service::Proxy)?;
            self.start(&n.name, Service::Vrrp)?;
        }
        Ok(())
    }

    /// Wait (10 s at most) until `addr:port` accepts connections inside `host`.
    fn wait_listening(&self, host: &str, addr: Ipv4Addr, port: u16) -> Result<()> {
        let path = self.netns_path(host)?;
        let target = SocketAddr::from((addr, port));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = netns::run_in_netns(&path, move || {
                std::net::TcpStream::connect_timeout(&target, Duration::from_millis(500)).is_ok()
            })
            .unwrap_or(false);
            if ok {
                return Ok(());
            }
            self.check_running()?;
            if Instant::now() >= deadline {
                bail!("{host}: nothing listens on {target} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Find a running lab by its run directory.
    pub fn attach(run_dir: &Path, opts: LabOptions) -> Result<Lab> {
        let state = RunState::load(run_dir)?;
        let topology = Topology::load(&state.topology)?;
        let mut opts = opts;
        opts.implementation = state.implementation;
        Ok(Lab {
            state,
            topology,
            opts,
            owned: None,
        })
    }

    pub fn implementation(&self) -> Impl {
        self.opts.implementation
    }

    pub fn host(&self, name: &str) -> Result<&HostState> {
        self.state
            .hosts
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| anyhow!("no host {name} in this lab"))
    }

    /// `/run/netns/NAME` of a host.
    pub fn netns_path(&self, host: &str) -> Result<PathBuf> {
        Ok(Path::new(netns::NETNS_DIR).join(&self.host(host)?.netns))
    }

    /// Pid (root PID namespace) of a host's init, for `nsenter -t`.
    pub fn init_pid(&self, host: &str) -> Result<u32> {
        let f = &self.host(host)?.init_pid_file;
        let s = std::fs::read_to_string(f).with_context(|| format!("read {}", f.display()))?;
        s.trim().parse().context("bad init pid file")
    }

    /// A command running `argv` on a host: in its network, PID, mount and
    /// UTS namespaces (its own /proc: `ps`, `killall` see only that host).
    pub fn exec(&self, host: &str, argv: &[String]) -> Result<Command> {
        let pid = self.init_pid(host)?.to_string();
        let mut c = Command::new("nsenter");
        c.args(["-t", &pid, "-n", "-p", "-m", "-u", "--"])
            .args(argv);
        Ok(c)
    }

    fn ctl(&self, host: &str, req: &Request) -> Result<Vec<ServiceStatus>> {
        let h = self.host(host)?;
        let r = init::request(&h.ctl, req, Duration::from_secs(15))
            .with_context(|| format!("host {host}"))?;
        Ok(r.services)
    }

    /// Start a service on a host (its init is the parent).
    pub fn start(&self, host: &str, s: Service) -> Result<()> {
        let (argv, env) = self.service_command(host, s)?;
        let name = self.opts.implementation.name(s).to_string();
        self.ctl(host, &Request::Start { name, argv, env })?;
        Ok(())
    }

    /// Send `signal` to a service and wait (up to 10 s, then SIGKILL) until
    /// it has exited and been reaped.
    pub fn stop(&self, host: &str, s: Service, signal: i32) -> Result<()> {
        let name = self.opts.implementation.name(s).to_string();
        self.ctl(
            host,
            &Request::Stop {
                name,
                signal,
                timeout_ms: 10_000,
            },
        )?;
        Ok(())
    }

    /// Send a signal to a service and return at once.
    pub fn signal(&self, host: &str, s: Service, signal: i32) -> Result<()> {
        let name = self.opts.implementation.name(s).to_string();
        self.ctl(host, &Request::Signal { name, signal })?;
        Ok(())
    }

    /// The services of a host.
    pub fn services(&self, host: &str) -> Result<Vec<ServiceStatus>> {
        self.ctl(host, &Request::Status)
    }

    /// Unplug (false) or plug back (true) a host's cable: its port on the
    /// switch goes down/up, and with it the carrier of the host's
    /// interface.
    pub fn set_link(&self, host: &str, up: bool) -> Result<()> {
        self.host(host)?;
        let state = if up { "up" } else { "down" };
        netns::ip_in(&self.state.switch_netns, &["link", "set", host, state])?;
        Ok(())
    }

    /// What the network looks like from `client`: its neighbour table and
    /// link counters, each load balancer's addresses and the end of its
    /// log (printed when a client does not follow a VIP).
    pub fn diagnostics(&self, client: &str) -> String {
        let mut out = String::new();
        let mut section = |title: String, text: String| {
            out.push_str(&format!("--- {title}\n{}\n", text.trim_end()));
        };
        for args in [&["neigh", "show"][..], &["-s", "link", "show"][..]] {
            let text = self
                .host(client)
                .and_then(|h| Ok(netns::ip_in(&h.netns, args)?))
                .unwrap_or_else(|e| e.to_string());
            section(format!("{client}: ip {}", args.join(" ")), text);
        }
        for lb in self.topology.nodes_with(Role::Lb) {
            let text = self
                .host(&lb.name)
                .and_then(|h| Ok(netns::ip_in(&h.netns, &["-br", "addr", "show"])?))
                .unwrap_or_else(|e| e.to_string());
            section(format!("{}: ip -br addr show", lb.name), text);
            let log = self.log(&lb.name).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            section(
                format!("{}: end of log", lb.name),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            );
        }
        out
    }

    /// Hosts that have `vip` on an interface.
    pub fn vip_holders(&self, vip: Ipv4Addr) -> Result<Vec<String>> {
        let mut v = vec![];
        let a = vip.to_string();
        for h in &self.state.hosts {
            let out = netns::ip_in(&h.netns, &["-o", "addr", "show"])?;
            if netns::addr_in_listing(&out, &a) {
                v.push(h.name.clone());
            }
        }
        Ok(v)
    }

    /// Wait until `vip` is on `host` and on no other host.
    pub fn wait_vip(&self, vip: Ipv4Addr, host: &str, timeout: Duration) -> bool {
        netns::wait_until(timeout, || {
            self.vip_holders(vip)
                .map(|h| h.len() == 1 && h[0] == host)
                .unwrap_or(false)
        })
    }

    /// `GET /` on `target:80` from a host.
    pub fn http_get(&self, from: &str, target: Ipv4Addr) -> Result<Response> {
        let path = self.netns_path(from)?;
        let addr = SocketAddr::from((target, 80));
        let r = netns::run_in_netns(&path, move || http::get(addr, Duration::from_secs(2)))?;
        Ok(r?)
    }

    /// Wait until `GET /` on `target` from `from` answers 200 and the body
    /// satisfies `pred`; returns the last body.
    pub fn wait_http(
        &self,
        from: &str,
        target: Ipv4Addr,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(r) = self.http_get(from, target) {
                if r.status == 200 && pred(&r.body) {
                    return Some(r.body);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start requesting `target:80` from `from` every `interval`.
    pub fn prober(&self, from: &str, target: Ipv4Addr, interval: Duration) -> Result<Prober> {
        Ok(Prober::start(
            self.netns_path(from)?,
            SocketAddr::from((target, 80)),
            interval,
        ))
    }

    /// A host's log (init events and its daemons' output).
    pub fn log(&self, host: &str) -> Result<String> {
        let h = self.host(host)?;
        std::fs::read_to_string(&h.log).with_context(|| format!("read {}", h.log.display()))
    }

    /// Wait until a host's log contains `needle` more than `after` times
    /// (use [`Lab::count_in_log`] first to wait for a new occurrence).
    pub fn wait_log(&self, host: &str, needle: &str, after: usize, timeout: Duration) -> bool {
        netns::wait_until(timeout, || self.count_in_log(host, needle) > after)
    }

    pub fn count_in_log(&self, host: &str, needle: &str) -> usize {
        self.log(host)
            .map(|l| l.matches(needle).count())
            .unwrap_or(0)
    }

    /// Error when a service of the lab has exited (a daemon that died at
    /// start, e.g. on a config error), with the end of its host's log.
    pub fn check_running(&self) -> Result<()> {
        for h in &self.state.hosts {
            for s in self.services(&h.name)? {
                if !s.running {
                    let log = self.log(&h.name).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(30).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    bail!(
                        "{} on {} {}; end of its log:\n{}",
                        s.name,
                        h.name,
                        s.exit.as_deref().unwrap_or("stopped"),
                        tail.join("\n")
                    );
                }
            }
        }
        Ok(())
    }

    /// Wait until every VIP is held by exactly one host and answers a web
    /// server's page from `client`; fails early when a daemon died.
    pub fn wait_ready(&self, client: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<Ipv4Addr> = self.topology.vips.clone();
        loop {
            self.check_running()?;
            pending.retain(|v| {
                let one = self
                    .vip_holders(*v)
                    .map(|h| {
                        h.len() == 1 && self.topology.masters.get(v).is_none_or(|m| *m == h[0])
                    })
                    .unwrap_or(false);
                let served = one
                    && self
                        .http_get(client, *v)
                        .map(|r| r.status == 200 && r.body.starts_with("Hello"))
                        .unwrap_or(false);
                !served
            });
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let holders: Vec<String> = pending
                    .iter()
                    .map(|v| format!("{v} on {:?}", self.vip_holders(*v).unwrap_or_default()))
                    .collect();
                bail!(
                    "not ready within {} s: {} (VIP not held by exactly one host, not by its master, or not served)",
                    timeout.as_secs(),
                    holders.join(", ")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop everything: each host's init stops its daemons (SIGTERM, so
    /// the VRRP daemons release their VIPs), then the namespaces go.
    pub fn shutdown(&mut self) {
        let Some(mut owned) = self.owned.take() else {
            return;
        };
        for h in &self.state.hosts {
            let _ = init::request(&h.ctl, &Request::Shutdown, Duration::from_secs(8));
        }
        for c in owned.inits.iter_mut() {
            let _ = c.stop(libc::SIGTERM, Duration::from_secs(3));
        }
        owned.inits.clear();
        owned.hosts.clear();
        drop(owned.switch);
        if std::env::var_os("LAB_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.state.run_dir);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Wait until a prober has at least `n` successful samples.
pub fn wait_samples(p: &Prober, n: usize, timeout: Duration) -> bool {
    netns::wait_until(timeout, || p.successes() >= n)
}

/// The lab's configs name our proxy in the VRRP check; for the HAProxy
/// comparison the same check names haproxy.
pub fn adapt_for_haproxy(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.replace("killall -0 proxyd", "killall -0 haproxy");
            // vrrp_track_process: `process proxyd` names the proxy too.
            match l.trim_start().strip_prefix("process ") {
                Some(rest) if rest.trim() == "proxyd" => l.replace("proxyd", "haproxy"),
                _ => l,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if text.ends_with('\n') { "\n" } else { "" }
}

/// Parse `10.0.2.100`-style text (for the CLI).
pub fn parse_ip(s: &str) -> Result<Ipv4Addr> {
    ip_of(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_adaptation() {
        let t = "vrrp_script chk {\n    script \"killall -0 proxyd\"\n}\n";
        assert!(adapt_for_haproxy(t).contains("\"killall -0 haproxy\""));
        let t = "vrrp_track_process track_proxyd {\n    process proxyd\n}\n";
        assert_eq!(
            adapt_for_haproxy(t),
            "vrrp_track_process track_proxyd {\n    process haproxy\n}\n"
        );
    }

    #[test]
    fn service_names() {
        assert_eq!(Impl::Ours.name(Service::Proxy), "proxyd");
        assert_eq!(Impl::Haproxy.name(Service::Vrrp), "keepalived");
    }

    #[test]
    fn pid_running_sees_self() {
        assert!(pid_running(std::process::id()));
        assert!(!pid_running(999_999_999));
    }
}
