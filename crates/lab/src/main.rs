//! `lab`: the seed's network on one machine, in network namespaces.

use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::Pid;

use lab::runtime::{self, pid_running, Impl, Lab, LabOptions, RunState};
use lab::topology::{Role, Topology};

#[derive(Parser)]
#[command(
    name = "lab",
    about = "The seed's load-balancer network (two web servers, two load balancers, a client) in network namespaces on this machine",
    after_help = "Needs root. Nothing is configured in the root network namespace."
)]
struct Cli {
    /// Where run directories live.
    #[arg(long, global = true, default_value = runtime::RUN_ROOT)]
    run_root: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct UpArgs {
    /// Topology file (default: deploy/lab/seed.yaml).
    topology: Option<PathBuf>,
    /// Which proxy/VRRP pair runs on the load balancers.
    #[arg(long = "impl", value_enum, default_value = "ours")]
    implementation: Impl,
    /// Directory of proxyd and vrrpd (default: the lab binary's directory).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the network and start the daemons (in the background; `down`
    /// stops them).
    Up(UpArgs),
    /// Stop the daemons and remove the namespaces (also of crashed runs).
    Down,
    /// Who holds the VIPs, each daemon's state and pid.
    Status,
    /// Run a command on a host (its network, PID and mount namespaces).
    Exec {
        node: String,
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// A host's log: its init's events and its daemons' output.
    Logs {
        node: String,
        /// Keep printing new lines.
        #[arg(short, long)]
        follow: bool,
    },
    /// Run the seed's failover test on a fresh lab and narrate it.
    Demo {
        /// The active-active topology (two VIPs, crossed priorities).
        #[arg(long)]
        active_active: bool,
        #[command(flatten)]
        up: UpArgs,
    },
    /// Measure failovers: each scenario on a fresh lab, alternating
    /// implementations; prints a min/median/max table (markdown).
    Failover {
        /// Topology file (default: deploy/lab/seed.yaml).
        topology: Option<PathBuf>,
        /// Runs per scenario and implementation.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Implementations to compare (default: both).
        #[arg(long = "impl", value_enum, value_delimiter = ',', default_values = ["ours", "haproxy"])]
        implementations: Vec<Impl>,
        /// Scenarios (default: all).
        #[arg(long, value_enum, value_delimiter = ',', default_values = ["proxy-kill", "vrrp-stop", "link-down"])]
        scenarios: Vec<lab::failover::Scenario>,
        /// Directory of proxyd and vrrpd (default: the lab binary's directory).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
    },
    /// Soak and chaos: a fresh lab under a steady client load (probe,
    /// curl loop, wrk stream) with a fault every 10 s; prints a markdown
    /// report (faults, daemons' fds/RSS/threads, split brain, panics).
    Soak {
        /// How long the faults keep coming, in minutes.
        #[arg(long, default_value_t = 30.0)]
        minutes: f64,
        /// Seconds between faults.
        #[arg(long, default_value_t = 10)]
        period: u64,
        #[command(flatten)]
        up: UpArgs,
    },
    #[command(hide = true)]
    NodeInit {
        #[arg(long)]
        host: String,
        #[arg(long)]
        netns: PathBuf,
        #[arg(long)]
        ctl: PathBuf,
        #[arg(long)]
        log: PathBuf,
        #[arg(long)]
        pid_file: PathBuf,
    },
    #[command(hide = true)]
    Httpd {
        #[arg(long)]
        text: String,
        #[arg(long, default_value = "0.0.0.0:80")]
        listen: std::net::SocketAddr,
    },
    #[command(hide = true)]
    Supervise {
        #[command(flatten)]
        up: UpArgs,
    },
}

fn exe() -> Result<PathBuf> {
    std::env::current_exe().context("current_exe")
}

/// deploy/lab/NAME: from the current directory, else from the binary's
/// place in a checkout (target/{release,debug}/lab).
fn find_topology(name: &str) -> Result<PathBuf> {
    let mut candidates = vec![PathBuf::from("deploy/lab").join(name)];
    if let Ok(e) = exe() {
        for up in e.ancestors().skip(1).take(4) {
            candidates.push(up.join("deploy/lab").join(name));
        }
    }
    candidates.push(PathBuf::from("/usr/share/proxyd/lab").join(name));
    for c in &candidates {
        if c.is_file() {
            return Ok(std::fs::canonicalize(c)?);
        }
    }
    bail!("deploy/lab/{name} not found (run from the repository, or pass a topology file)")
}

fn options(args: &UpArgs, run_root: &Path) -> Result<LabOptions> {
    let mut o = LabOptions::new(exe()?);
    o.implementation = args.implementation;
    if let Some(d) = &args.bin_dir {
        o.bin_dir = d.clone();
    }
    o.run_root = run_root.to_path_buf();
    Ok(o)
}

fn topology_path(args: &UpArgs, default: &str) -> Result<PathBuf> {
    match &args.topology {
        Some(p) => Ok(std::fs::canonicalize(p).with_context(|| format!("{}", p.display()))?),
        None => find_topology(default),
    }
}

fn current_file(run_root: &Path) -> PathBuf {
    run_root.join("current")
}

/// The lab started by `lab up`, if it is running.
fn current(run_root: &Path) -> Result<Option<RunState>> {
    let Ok(prefix) = std::fs::read_to_string(current_file(run_root)) else {
        return Ok(None);
    };
    let dir = run_root.join(prefix.trim());
    match RunState::load(&dir) {
        Ok(s) if pid_running(s.owner_pid) => Ok(Some(s)),
        _ => Ok(None),
    }
}

fn attach(run_root: &Path) -> Result<Lab> {
    let Some(state) = current(run_root)? else {
        bail!("no lab is up (lab up)");
    };
    Lab::attach(&state.run_dir, LabOptions::new(exe()?))
}

fn require_root() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the lab needs root (network and PID namespaces)");
    }
    Ok(())
}

fn up(args: UpArgs, run_root: &Path) -> Result<()> {
    require_root()?;
    if let Some(s) = current(run_root)? {
        bail!("a lab is already up ({}); lab down first", s.prefix);
    }
    std::fs::create_dir_all(run_root)?;
    let log_path = run_root.join("supervisor.log");
    let log = std::fs::File::create(&log_path)?;
    let mut cmd = Command::new(exe()?);
    cmd.arg("--run-root").arg(run_root).arg("supervise");
    if let Some(t) = &args.topology {
        cmd.arg(std::fs::canonicalize(t).with_context(|| format!("{}", t.display()))?);
    }
    cmd.arg("--impl")
        .arg(match args.implementation {
            Impl::Ours => "ours",
            Impl::Haproxy => "haproxy",
        })
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if let Some(d) = &args.bin_dir {
        cmd.arg("--bin-dir").arg(std::fs::canonicalize(d)?);
    }
    cmd.process_group(0);
    let mut child = cmd.spawn().context("start the lab supervisor")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = current(run_root)? {
            if s.owner_pid == child.id() {
                println!("lab up: {} (run dir {})", s.prefix, s.run_dir.display());
                let lab = Lab::attach(&s.run_dir, LabOptions::new(exe()?))?;
                if let Some(c) = lab.topology.client().map(|c| c.name.clone()) {
                    let t0 = Instant::now();
                    match lab.wait_ready(&c, Duration::from_secs(40)) {
                        Ok(()) => println!(
                            "ready after {} ms: the VIPs answer from {c}",
                            t0.elapsed().as_millis()
                        ),
                        Err(e) => eprintln!("warning: {e:#}"),
                    }
                }
                print_status(&lab)?;
                return Ok(());
            }
        }
        if let Some(st) = child.try_wait()? {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!("the lab supervisor failed ({st}):\n{log}");
        }
        if Instant::now() > deadline {
            bail!(
                "the lab did not come up within 60 s; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn supervise(args: UpArgs, run_root: &Path) -> Result<()> {
    let path = topology_path(&args, "seed.yaml")?;
    let topo = Topology::load(&path)?;
    let opts = options(&args, run_root)?;
    let mut lab = Lab::up(topo, &path, opts)?;
    std::fs::write(current_file(run_root), &lab.state.prefix)?;
    // Wait for SIGTERM/SIGINT (from `lab down`), then tear down.
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(s);
    }
    let _ = set.thread_block();
    let _ = set.wait();
    eprintln!("lab supervisor: stopping");
    lab.shutdown();
    let _ = std::fs::remove_file(current_file(run_root));
    Ok(())
}

fn down(run_root: &Path) -> Result<()> {
    require_root()?;
    if let Some(s) = current(run_root)? {
        // the supervisor `lab up` started
        let owner = Pid::from_raw(s.owner_pid as i32);
        let _ = kill(owner, Signal::SIGTERM);
        let ok =
            testsupport::netns::wait_until(Duration::from_secs(30), || !pid_running(s.owner_pid));
        if !ok {
            eprintln!("supervisor {} did not stop; killing it", s.owner_pid);
            let _ = kill(owner, Signal::SIGKILL);
            testsupport::netns::wait_until(Duration::from_secs(5), || !pid_running(s.owner_pid));
        }
        println!("lab down: {}", s.prefix);
    }
    let _ = std::fs::remove_file(current_file(run_root));
    let removed = runtime::cleanup_stale(run_root, runtime::PREFIX_BASE)?;
    for r in removed {
        println!("removed leftover {r}");
    }
    Ok(())
}

/// The last `Entering X STATE` of each VRRP instance in a host's log.
fn vrrp_states(log: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for l in log.lines() {
        let Some(i) = l.find("Entering ") else {
            continue;
        };
        let Some(open) = l[..i].rfind('(') else {
            continue;
        };
        let inst = l[open + 1..i].trim_end().trim_end_matches(')').to_string();
        let state = l[i + "Entering ".len()..]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        match out.iter_mut().find(|(n, _)| *n == inst) {
            Some(e) => e.1 = state,
            None => out.push((inst, state)),
        }
    }
    out
}

fn print_status(lab: &Lab) -> Result<()> {
    println!(
        "topology {} ({}), implementation {:?}, owner pid {}",
        lab.topology.name,
        lab.state.topology.display(),
        lab.state.implementation,
        lab.state.owner_pid
    );
    for v in &lab.topology.vips {
        let h = lab.vip_holders(*v)?;
        println!(
            "VIP {v}: {}",
            if h.is_empty() {
                "on nobody".to_string()
            } else {
                format!("on {}", h.join(" and "))
            }
        );
    }
    for h in &lab.state.hosts {
        let role = match h.role {
            Role::Web => "web",
            Role::Lb => "lb",
            Role::Client => "client",
        };
        println!(
            "{:<7} {:<6} {:<10} netns {}",
            h.name, role, h.address, h.netns
        );
        for s in lab.services(&h.name).unwrap_or_default() {
            let st = if s.running {
                "running".to_string()
            } else {
                s.exit.clone().unwrap_or_else(|| "stopped".into())
            };
            println!("        {:<10} pid {:<5} {st}", s.name, s.pid);
        }
        if h.role == Role::Lb {
            let log = lab.log(&h.name).unwrap_or_default();
            for (inst, state) in vrrp_states(&log) {
                println!("        VRRP ({inst}) {state}");
            }
        }
    }
    Ok(())
}

fn logs(lab: &Lab, node: &str, follow: bool) -> Result<()> {
    let h = lab.host(node)?;
    let mut pos = 0usize;
    loop {
        let s = std::fs::read_to_string(&h.log).unwrap_or_default();
        if s.len() > pos {
            print!("{}", &s[pos..]);
            std::io::stdout().flush()?;
            pos = s.len();
        }
        if !follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn demo(active_active: bool, args: UpArgs, run_root: &Path) -> Result<()> {
    require_root()?;
    let default = if active_active {
        "active-active.yaml"
    } else {
        "seed.yaml"
    };
    let path = topology_path(&args, default)?;
    let topo = Topology::load(&path)?;
    let opts = options(&args, run_root)?;
    println!("Building the lab from {} ...", path.display());
    let run_dir_slot = on_interrupt_teardown();
    let lab = Lab::up(topo, &path, opts)?;
    if let Ok(mut slot) = run_dir_slot.lock() {
        *slot = Some(lab.state.clone());
    }
    let r = if active_active {
        lab::demo::run_active_active(&lab)
    } else {
        lab::demo::run(&lab)
    };
    if r.is_err() {
        for h in &lab.state.hosts {
            if h.role == Role::Lb {
                eprintln!("--- {} log ---", h.name);
                eprintln!("{}", lab.log(&h.name).unwrap_or_default());
            }
        }
    }
    drop(lab);
    println!("(lab removed)");
    r
}

/// Ctrl-C during the demo: tear the lab down (from its state) and exit
/// 130. Returns the slot to put the lab's state in once it is up.
fn on_interrupt_teardown() -> std::sync::Arc<std::sync::Mutex<Option<RunState>>> {
    let slot = std::sync::Arc::new(std::sync::Mutex::new(None::<RunState>));
    let s2 = slot.clone();
    // the mask is inherited by the threads started later (the lab's inits
    // reset it)
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    let _ = set.thread_block();
    std::thread::spawn(move || {
        // blocked in every thread: only this one takes them
        let _ = set.wait();
        eprintln!("\ninterrupted: removing the lab");
        if let Ok(slot) = s2.lock() {
            if let Some(st) = slot.as_ref() {
                runtime::teardown_state(st);
            }
        }
        std::process::exit(130);
    });
    slot
}

fn failover(
    topology: Option<PathBuf>,
    runs: usize,
    impls: Vec<Impl>,
    scenarios: Vec<lab::failover::Scenario>,
    bin_dir: Option<PathBuf>,
    run_root: &Path,
) -> Result<()> {
    require_root()?;
    let args = UpArgs {
        topology,
        implementation: Impl::Ours,
        bin_dir,
    };
    let path = topology_path(&args, "seed.yaml")?;
    let _slot = on_interrupt_teardown();
    let mut results = vec![];
    for s in &scenarios {
        for run in 1..=runs {
            for i in &impls {
                let mut a = args.clone();
                a.implementation = *i;
                let opts = options(&a, run_root)?;
                match lab::failover::measure(&path, &opts, *s) {
                    Ok(m) => {
                        println!(
                            "{:?} run {run} {:?}: VIP on backup after {} ms, outage {} ms, {} of {} requests failed",
                            s,
                            i,
                            m.vip_moved.as_millis(),
                            m.outage.window.as_millis(),
                            m.outage.failed,
                            m.outage.requests
                        );
                        results.push(m);
                    }
                    Err(e) => eprintln!("{s:?} run {run} {i:?}: failed: {e:#}"),
                }
            }
        }
    }
    println!();
    println!(
        "Failover, {} ({} runs each; client requests every 50 ms):",
        path.display(),
        runs
    );
    println!();
    print!("{}", lab::failover::table(&results));
    Ok(())
}

fn soak(minutes: f64, period: u64, args: UpArgs, run_root: &Path) -> Result<()> {
    require_root()?;
    let path = topology_path(&args, "seed.yaml")?;
    let topo = Topology::load(&path)?;
    let client = topo
        .client()
        .map(|c| c.name.clone())
        .context("the topology has no client")?;
    let opts = options(&args, run_root)?;
    println!(
        "Soak: {minutes} min on a fresh lab from {} ({:?}), a fault every {period} s",
        path.display(),
        args.implementation
    );
    let slot = on_interrupt_teardown();
    let lab = Lab::up(topo, &path, opts)?;
    if let Ok(mut s) = slot.lock() {
        *s = Some(lab.state.clone());
    }
    lab.wait_ready(&client, Duration::from_secs(40))?;
    let mut o = lab::soak::SoakOptions::minutes(minutes);
    o.period = Duration::from_secs(period.max(1));
    let report = lab::soak::run(&lab, &o, &mut |l| println!("{l}"))?;
    drop(lab);
    let md = report.markdown();
    println!();
    print!("{md}");
    let _ = std::fs::write(lab::soak::report_path(run_root), &md);
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("lab: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    // Called through the `killall` link the lab provides when the machine
    // has no psmisc.
    let argv: Vec<String> = std::env::args().collect();
    if argv
        .first()
        .is_some_and(|a| Path::new(a).file_name().is_some_and(|n| n == "killall"))
    {
        std::process::exit(lab::killall::main(&argv[1..]));
    }
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::NodeInit {
            host,
            netns,
            ctl,
            log,
            pid_file,
        } => lab::init::main(lab::init::InitArgs {
            host,
            netns,
            ctl,
            log,
            pid_file,
        }),
        Cmd::Httpd { text, listen } => Ok(lab::http::serve(listen, &text)?),
        Cmd::Supervise { up } => supervise(up, &cli.run_root),
        Cmd::Up(a) => up(a, &cli.run_root),
        Cmd::Down => down(&cli.run_root),
        Cmd::Status => print_status(&attach(&cli.run_root)?),
        Cmd::Exec { node, cmd } => {
            let lab = attach(&cli.run_root)?;
            let st = lab.exec(&node, &cmd)?.status()?;
            std::process::exit(st.code().unwrap_or(1));
        }
        Cmd::Logs { node, follow } => logs(&attach(&cli.run_root)?, &node, follow),
        Cmd::Demo { active_active, up } => demo(active_active, up, &cli.run_root),
        Cmd::Soak {
            minutes,
            period,
            up,
        } => soak(minutes, period, up, &cli.run_root),
        Cmd::Failover {
            topology,
            runs,
            implementations,
            scenarios,
            bin_dir,
        } => failover(
            topology,
            runs,
            implementations,
            scenarios,
            bin_dir,
            &cli.run_root,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrrp_state_lines() {
        let log = "Nov 26 00:40:01.123 lb1 vrrpd[7]: (vif1) Entering BACKUP STATE (init)\n\
                   Nov 26 00:40:04.123 lb1 vrrpd[7]: (vif1) Entering MASTER STATE\n\
                   Nov 26 00:40:04.123 lb1 Keepalived_vrrp[9]: (vif2) Entering BACKUP STATE\n";
        assert_eq!(
            vrrp_states(log),
            vec![
                ("vif1".to_string(), "MASTER".to_string()),
                ("vif2".to_string(), "BACKUP".to_string())
            ]
        );
    }

    #[test]
    fn cli_parses() {
        Cli::try_parse_from(["lab", "exec", "lb1", "--", "ip", "addr"]).unwrap();
        Cli::try_parse_from(["lab", "demo", "--active-active", "--impl", "haproxy"]).unwrap();
        Cli::try_parse_from(["lab", "up", "deploy/lab/seed.yaml"]).unwrap();
        Cli::try_parse_from(["lab", "soak", "--minutes", "3", "--impl", "haproxy"]).unwrap();
        Cli::try_parse_from([
            "lab",
            "failover",
            "--runs",
            "1",
            "--impl",
            "ours,haproxy",
            "--scenarios",
            "link-down",
        ])
        .unwrap();
    }
}
