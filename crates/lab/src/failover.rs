//! Failover measurements on the lab (`lab failover`): for each scenario and
//! implementation, a fresh lab, a client requesting the VIP every 50 ms,
//! the failure, then: time until the VIP is on the backup, the client's
//! outage window and failed requests. Runs alternate between the
//! implementations; min/median/max are reported.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use crate::http::{outage, Outage};
use crate::runtime::{wait_samples, Impl, Lab, LabOptions, Service};
use crate::topology::{Role, Topology};

const SETTLE: Duration = Duration::from_secs(40);

/// What fails on the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// The tracked process (the proxy) is killed (SIGKILL).
    ProxyKill,
    /// The VRRP daemon is stopped (SIGTERM).
    VrrpStop,
    /// The master's link goes down (its switch port).
    LinkDown,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [Scenario::ProxyKill, Scenario::VrrpStop, Scenario::LinkDown];

    pub fn label(self) -> &'static str {
        match self {
            Scenario::ProxyKill => "tracked process killed on the master",
            Scenario::VrrpStop => "master VRRP daemon stopped (SIGTERM)",
            Scenario::LinkDown => "master link down",
        }
    }
}

/// One run's result.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub implementation: Impl,
    pub scenario: Scenario,
    /// From the failure to the VIP on the backup.
    pub vip_moved: Duration,
    pub outage: Outage,
}

/// Build a lab from `topology_path`, fail its first VIP's master as
/// `scenario` says, measure, tear down.
pub fn measure(topology_path: &Path, opts: &LabOptions, scenario: Scenario) -> Result<Measurement> {
    let topo = Topology::load(topology_path)?;
    let client = topo
        .client()
        .map(|c| c.name.clone())
        .ok_or_else(|| anyhow!("no client host"))?;
    let lab = Lab::up(topo, topology_path, opts.clone())?;
    lab.wait_ready(&client, SETTLE)?;
    let vip = lab.topology.vips[0];
    let master = lab
        .vip_holders(vip)?
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("nobody holds {vip}"))?;
    let backup = lab
        .topology
        .nodes_with(Role::Lb)
        .map(|n| n.name.clone())
        .find(|n| *n != master)
        .ok_or_else(|| anyhow!("need two load balancers"))?;
    let prober = lab.prober(&client, vip, Duration::from_millis(50))?;
    wait_samples(&prober, 5, SETTLE);
    let t0 = Instant::now();
    match scenario {
        Scenario::ProxyKill => lab.stop(&master, Service::Proxy, libc::SIGKILL)?,
        Scenario::VrrpStop => lab.stop(&master, Service::Vrrp, libc::SIGTERM)?,
        Scenario::LinkDown => lab.set_link(&master, false)?,
    }
    let moved = testsupport::netns::wait_until(SETTLE, || {
        lab.vip_holders(vip)
            .map(|h| h.contains(&backup))
            .unwrap_or(false)
    });
    let vip_moved = t0.elapsed();
    if !moved {
        bail!("{vip} did not reach {backup} within {} s", SETTLE.as_secs());
    }
    let before = prober.successes();
    // The client should follow within a few adverts of the move (the new
    // master's gratuitous ARPs); when it does not, say what the network
    // looks like then, while it is still wrong.
    if !testsupport::netns::wait_until(STUCK, || prober.successes() > before) {
        eprintln!(
            "warning: {scenario:?}: the client has not reached {vip} {} ms after it moved to {backup}\n{}",
            STUCK.as_millis(),
            lab.diagnostics(&client)
        );
    }
    testsupport::netns::wait_until(SETTLE, || prober.successes() >= before + 10);
    let samples = prober.stop();
    Ok(Measurement {
        implementation: opts.implementation,
        scenario,
        vip_moved,
        outage: outage(&samples),
    })
}

/// How long after the VIP moved the client may still fail before
/// `measure` prints diagnostics.
const STUCK: Duration = Duration::from_secs(3);

/// (min, median, max) of some values.
pub fn min_med_max<T: Ord + Copy>(mut v: Vec<T>) -> Option<(T, T, T)> {
    if v.is_empty() {
        return None;
    }
    v.sort();
    Some((v[0], v[v.len() / 2], v[v.len() - 1]))
}

fn impl_label(i: Impl) -> &'static str {
    match i {
        Impl::Ours => "proxyd+vrrpd",
        Impl::Haproxy => "HAProxy+keepalived",
    }
}

/// A markdown table of measurements grouped by scenario and
/// implementation: VIP moved, outage window (ms) and failed requests as
/// min/median/max.
pub fn table(ms: &[Measurement]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | implementation | runs | VIP on backup (ms) min/med/max | client outage (ms) min/med/max | failed requests min/med/max |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for s in Scenario::ALL {
        for i in [Impl::Ours, Impl::Haproxy] {
            let runs: Vec<&Measurement> = ms
                .iter()
                .filter(|m| m.scenario == s && m.implementation == i)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let f = |v: Vec<u128>| match min_med_max(v) {
                Some((a, b, c)) => format!("{a} / {b} / {c}"),
                None => "-".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                s.label(),
                impl_label(i),
                runs.len(),
                f(runs.iter().map(|m| m.vip_moved.as_millis()).collect()),
                f(runs.iter().map(|m| m.outage.window.as_millis()).collect()),
                f(runs.iter().map(|m| m.outage.failed as u128).collect()),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(min_med_max(vec![3, 1, 2]), Some((1, 2, 3)));
        assert_eq!(min_med_max(vec![5]), Some((5, 5, 5)));
        assert_eq!(min_med_max::<u32>(vec![]), None);
    }

    #[test]
    fn table_rows() {
        let m = |i, ms| Measurement {
            implementation: i,
            scenario: Scenario::ProxyKill,
            vip_moved: Duration::from_millis(ms),
            outage: Outage {
                requests: 10,
                failed: 2,
                window: Duration::from_millis(ms),
                first_error: None,
            },
        };
        let t = table(&[
            m(Impl::Ours, 100),
            m(Impl::Ours, 300),
            m(Impl::Haproxy, 4000),
        ]);
        assert!(
            t.contains(
                "| tracked process killed on the master | proxyd+vrrpd | 2 | 100 / 300 / 300 |"
            ),
            "{t}"
        );
        assert!(
            t.contains("HAProxy+keepalived | 1 | 4000 / 4000 / 4000"),
            "{t}"
        );
        assert!(!t.contains("link down"));
    }
}
