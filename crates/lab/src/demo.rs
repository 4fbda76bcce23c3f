//! `lab demo`: the seed's test, run and narrated.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::http::{outage, Outage};
use crate::runtime::{Lab, Service};
use crate::topology::Role;

const SETTLE: Duration = Duration::from_secs(30);

fn say(s: &str) {
    println!("{s}");
}

fn heading(s: &str) {
    println!();
    println!("== {s} ==");
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Byte length of a host's log (to show only what is new later).
pub fn log_mark(lab: &Lab, host: &str) -> usize {
    lab.log(host).map(|l| l.len()).unwrap_or(0)
}

/// The lines a daemon wrote to a host's log since `mark`, as
/// `journalctl -fu` shows them.
pub fn log_since(lab: &Lab, host: &str, mark: usize, daemon: &str) -> Vec<String> {
    let log = lab.log(host).unwrap_or_default();
    let tail = log.get(mark..).unwrap_or("");
    let tag = format!(" {host} {daemon}[");
    tail.lines()
        .filter(|l| l.contains(&tag))
        .map(str::to_string)
        .collect()
}

/// Who holds each VIP, as text.
pub fn vip_map(lab: &Lab) -> String {
    lab.topology
        .vips
        .iter()
        .map(|v| match lab.vip_holders(*v) {
            Ok(h) if h.is_empty() => format!("{v} on nobody"),
            Ok(h) => format!("{v} on {}", h.join("+")),
            Err(e) => format!("{v}: {e}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_topology(lab: &Lab) {
    let t = &lab.topology;
    say(&format!(
        "Topology '{}'{}",
        t.name,
        t.description
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    ));
    for n in &t.nodes {
        let what = match n.role {
            Role::Web => format!(
                "web server, says {:?}",
                n.text.as_deref().unwrap_or_default()
            ),
            Role::Lb => format!(
                "load balancer: {} + {}",
                lab.implementation().name(Service::Proxy),
                lab.implementation().name(Service::Vrrp)
            ),
            Role::Client => "client (curl)".to_string(),
        };
        say(&format!("  {:<7} {:<10} {what}", n.name, n.address));
    }
    say(&format!(
        "  each host: its own network, PID and mount namespaces (its own /proc), interface {}; one bridge in its own namespace",
        t.interface
    ));
}

fn curl_a_few(lab: &Lab, client: &str, vip: Ipv4Addr, n: usize) -> Result<()> {
    for _ in 0..n {
        match lab.http_get(client, vip) {
            Ok(r) => say(&format!(
                "  client$ curl http://{vip}   ->  {}",
                r.body.trim_end()
            )),
            Err(e) => say(&format!("  client$ curl http://{vip}   ->  error: {e}")),
        }
    }
    Ok(())
}

/// Result of one failover step.
#[derive(Debug)]
pub struct Step {
    /// From the action to the VIP being on the expected host.
    pub vip_moved: Option<Duration>,
    pub outage: Outage,
}

/// Run `action` while the client requests `vip` every 50 ms; wait until
/// `vip` is on `expect` and served again; report.
pub fn failover_step(
    lab: &Lab,
    client: &str,
    vip: Ipv4Addr,
    expect: &str,
    action: impl FnOnce() -> Result<()>,
) -> Result<Step> {
    let prober = lab.prober(client, vip, Duration::from_millis(50))?;
    // a few good requests first
    crate::runtime::wait_samples(&prober, 3, Duration::from_secs(5));
    let t0 = Instant::now();
    action()?;
    let moved = if lab.wait_vip(vip, expect, SETTLE) {
        Some(t0.elapsed())
    } else {
        None
    };
    // the page must come back; then a little more sampling
    let before = prober.successes();
    testsupport::netns::wait_until(SETTLE, || prober.successes() >= before + 10);
    let samples = prober.stop();
    Ok(Step {
        vip_moved: moved,
        outage: outage(&samples),
    })
}

fn report(step: &Step, vip: Ipv4Addr, expect: &str) {
    match step.vip_moved {
        Some(d) => say(&format!("  {vip} is on {expect} after {} ms", ms(d))),
        None => say(&format!(
            "  !! {vip} did not reach {expect} within {} s",
            SETTLE.as_secs()
        )),
    }
    let o = &step.outage;
    say(&format!(
        "  client: outage window {} ms, {} of {} requests failed{}",
        ms(o.window),
        o.failed,
        o.requests,
        o.first_error
            .as_deref()
            .map(|e| format!(" (first error: {e})"))
            .unwrap_or_default()
    ));
}

/// `killall -0 PROXY` on a host: each host has its own /proc, so the
/// check sees only that host's proxy (the seed's separate machines).
fn show_killall(lab: &Lab, host: &str, proxy: &str) {
    let prog = if crate::killall::on_path("killall") {
        "killall".to_string()
    } else {
        // the lab's own, see crate::killall
        lab.state.run_dir.join("bin/killall").display().to_string()
    };
    let argv = [prog, "-0".to_string(), proxy.to_string()];
    let out = lab.exec(host, &argv).and_then(|mut c| {
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(Into::into)
    });
    match out {
        Ok(st) => say(&format!(
            "  {host}$ killall -0 {proxy}; echo $?   ->  {}  ({})",
            st.code().unwrap_or(-1),
            if st.success() {
                "running on this host"
            } else {
                "no such process on this host"
            }
        )),
        Err(e) => say(&format!("  {host}$ killall -0 {proxy}   ->  error: {e}")),
    }
}

fn show_journal(lab: &Lab, host: &str, mark: usize) {
    let d = lab.implementation().name(Service::Vrrp);
    say(&format!("  {host}$ journalctl -fu {d}"));
    let lines = log_since(lab, host, mark, d);
    if lines.is_empty() {
        say("  (no new lines)");
    }
    for l in lines.iter().take(25) {
        say(&format!("  {l}"));
    }
}

fn wait_initial(lab: &Lab, client: &str) -> Result<()> {
    let t0 = Instant::now();
    lab.wait_ready(client, SETTLE)?;
    say(&format!(
        "  ready after {} ms: {}",
        ms(t0.elapsed()),
        vip_map(lab)
    ));
    Ok(())
}

/// The seed's test: proxy stopped on the master, VIP moves, page comes
/// back; then failback.
pub fn run(lab: &Lab) -> Result<()> {
    let client = lab
        .topology
        .client()
        .map(|c| c.name.clone())
        .ok_or_else(|| anyhow::anyhow!("the topology has no client host"))?;
    describe_topology(lab);
    heading("Waiting for the VRRP election and the health checks");
    wait_initial(lab, &client)?;
    let vip = lab.topology.vips[0];
    let holders = lab.vip_holders(vip)?;
    let master = holders.first().cloned().unwrap_or_default();
    let Some(backup) = lab
        .topology
        .nodes_with(Role::Lb)
        .map(|n| n.name.clone())
        .find(|n| *n != master)
    else {
        bail!("need two load balancers");
    };
    let proxy = lab.implementation().name(Service::Proxy);

    heading(&format!(
        "1. curl the VIP from the client: roundrobin over the web servers (through {master})"
    ));
    curl_a_few(lab, &client, vip, 4)?;

    heading(&format!(
        "2. Stop {proxy} on the master {master} (systemctl stop = SIGTERM) while the client requests every 50 ms"
    ));
    let mark = log_mark(lab, &backup);
    let step = failover_step(lab, &client, vip, &backup, || {
        say(&format!("  {master}$ systemctl stop {proxy}"));
        lab.stop(&master, Service::Proxy, libc::SIGTERM)
    })?;
    report(&step, vip, &backup);
    curl_a_few(lab, &client, vip, 2)?;
    show_killall(lab, &master, proxy);
    show_killall(lab, &backup, proxy);
    show_journal(lab, &backup, mark);

    heading(&format!(
        "3. Start {proxy} on {master} again: failback (it has the higher priority)"
    ));
    let mark = log_mark(lab, &master);
    let step = failover_step(lab, &client, vip, &master, || {
        say(&format!("  {master}$ systemctl start {proxy}"));
        lab.start(&master, Service::Proxy)
    })?;
    report(&step, vip, &master);
    curl_a_few(lab, &client, vip, 2)?;
    show_journal(lab, &master, mark);
    heading("Done");
    say(&format!("  {}", vip_map(lab)));
    Ok(())
}

/// Active-active: both serving, then each LB in turn takes both VIPs.
pub fn run_active_active(lab: &Lab) -> Result<()> {
    let client = lab
        .topology
        .client()
        .map(|c| c.name.clone())
        .ok_or_else(|| anyhow::anyhow!("the topology has no client host"))?;
    describe_topology(lab);
    heading("Waiting for the VRRP elections and the health checks");
    wait_initial(lab, &client)?;
    let proxy = lab.implementation().name(Service::Proxy);
    let lbs: Vec<String> = lab
        .topology
        .nodes_with(Role::Lb)
        .map(|n| n.name.clone())
        .collect();
    if lbs.len() != 2 || lab.topology.vips.len() < 2 {
        bail!("active-active needs two load balancers and two VIPs");
    }
    let vips = lab.topology.vips.clone();
    heading("1. Both load balancers serve: one VIP each");
    for v in &vips {
        let h = lab.vip_holders(*v)?.join("+");
        say(&format!("  {v} is on {h}"));
        curl_a_few(lab, &client, *v, 2)?;
    }
    for (i, victim) in lbs.iter().enumerate() {
        let other = &lbs[1 - i];
        heading(&format!(
            "{}. Stop {proxy} on {victim}: {other} takes both VIPs",
            2 + 2 * i
        ));
        // the VIP the victim holds
        let moving = vips
            .iter()
            .copied()
            .find(|v| {
                lab.vip_holders(*v)
                    .map(|h| h.contains(victim))
                    .unwrap_or(false)
            })
            .unwrap_or(vips[i]);
        let mark = log_mark(lab, other);
        let step = failover_step(lab, &client, moving, other, || {
            say(&format!("  {victim}$ systemctl stop {proxy}"));
            lab.stop(victim, Service::Proxy, libc::SIGTERM)
        })?;
        report(&step, moving, other);
        say(&format!("  now: {}", vip_map(lab)));
        for v in &vips {
            curl_a_few(lab, &client, *v, 1)?;
        }
        show_journal(lab, other, mark);
        heading(&format!(
            "{}. Start {proxy} on {victim} again: failback",
            3 + 2 * i
        ));
        let step = failover_step(lab, &client, moving, victim, || {
            say(&format!("  {victim}$ systemctl start {proxy}"));
            lab.start(victim, Service::Proxy)
        })?;
        report(&step, moving, victim);
        say(&format!("  now: {}", vip_map(lab)));
    }
    heading("Done");
    Ok(())
}
