//! Golden scenarios with several machines in one `vrrp_sync_group`: each
//! `golden/sync/NAME.scn` drives the machines and the [`Group`] reducer
//! the way the shell does (report after every event, deliver the forced
//! events and the group fault until nothing changes) and prints every
//! input, action, forced event and group state change; the transcript must
//! equal `golden/sync/NAME.out` (`VRRPD_UPDATE_GOLDEN=1` rewrites).
//!
//! Syntax, one command a line (`#` starts a comment):
//! ```text
//! machine NAME CONFIG-WORDS...      (as in golden.rs; sync_group=yes implied)
//! group NAME MEMBER...              (once, after the machines)
//! at MS MEMBER startup | shutdown | rx ADDR PRIO | priority N
//! at MS MEMBER link up|down         (interface: the member's own fault)
//! at MS MEMBER fault on|off         (a weight-0 tracker of the member)
//! until MS
//! ```
//! Timers of every machine due before an input fire first, earliest
//! first.

use std::fmt::Write as _;

use super::golden::{golden_dir, parse_config, parse_event, render, secs};
use super::sync::Group;
use super::{Event, Machine, Time};

struct Node {
    name: String,
    m: Machine,
    tracker_fault: bool,
    link_down: bool,
    /// The `Fault(_)` flag last delivered.
    applied_fault: bool,
}

struct World {
    nodes: Vec<Node>,
    group: Option<(String, Group)>,
    out: String,
}

/// Rounds of settling before a scenario is declared divergent.
const MAX_ROUNDS: usize = 16;

impl World {
    fn idx(&self, name: &str) -> Result<usize, String> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or(format!("no machine {name}"))
    }

    /// Deliver one event to node `i` (gated and reported as the shell does).
    fn deliver(&mut self, i: usize, ev: Event, t: Time) {
        let name = self.nodes[i].name.clone();
        let before = self.nodes[i].m.state();
        if let Some((_, g)) = &self.group {
            let may = g.may_master(&name);
            self.nodes[i].m.set_sync_may_master(may);
        }
        let acts = self.nodes[i].m.handle(ev, t);
        for a in acts {
            let _ = writeln!(self.out, "{:>10}   {}", "", render(&a));
        }
        let m = &self.nodes[i].m;
        let _ = writeln!(
            self.out,
            "{:>10}   = {name} {} prio {}{}",
            "",
            m.state(),
            m.priority(),
            if m.wants_master() {
                " (wants MASTER)"
            } else {
                ""
            }
        );
        let (after, want) = (m.state(), m.wants_master());
        if let Some((gname, g)) = &mut self.group {
            if let Some(st) = g.report(&name, before, after, want).entered {
                let _ = writeln!(self.out, "{:>10}   group {gname} -> {st}", "");
            }
        }
    }

    /// Bring every member in line with the group.
    fn settle(&mut self, t: Time) -> Result<(), String> {
        for _ in 0..MAX_ROUNDS {
            let mut changed = false;
            let Some((_, g)) = &mut self.group else {
                return Ok(());
            };
            for n in &self.nodes {
                g.set_fault(&n.name, n.tracker_fault || n.link_down);
            }
            for i in 0..self.nodes.len() {
                let Some((_, g)) = &self.group else {
                    return Ok(());
                };
                let n = &self.nodes[i];
                let fault = n.tracker_fault || g.other_fault(&n.name);
                if fault != n.applied_fault {
                    let name = n.name.clone();
                    self.nodes[i].applied_fault = fault;
                    let on = if fault { "on" } else { "off" };
                    let _ = writeln!(self.out, "{:>10} {name} <- fault {on}", secs(t));
                    self.deliver(i, Event::Fault(fault), t);
                    changed = true;
                }
            }
            for i in 0..self.nodes.len() {
                let Some((_, g)) = &self.group else {
                    return Ok(());
                };
                let name = self.nodes[i].name.clone();
                if let Some(e) = g.follow(&name) {
                    let what = match e {
                        Event::ForceMaster => "sync master",
                        _ => "sync backup",
                    };
                    let _ = writeln!(self.out, "{:>10} {name} <- {what}", secs(t));
                    self.deliver(i, e, t);
                    changed = true;
                }
            }
            if !changed {
                return Ok(());
            }
        }
        Err("the group does not settle".into())
    }

    /// Fire every timer due at or before `t`, earliest first.
    fn fire_until(&mut self, now: &mut Time, t: Time) -> Result<(), String> {
        loop {
            let next = self
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(i, n)| n.m.next_deadline().map(|d| (d, i)))
                .filter(|(d, _)| *d <= t)
                .min();
            let Some((d, i)) = next else {
                return Ok(());
            };
            *now = d;
            let _ = writeln!(self.out, "{:>10} {} timer", secs(d), self.nodes[i].name);
            self.deliver(i, Event::Timer, d);
            self.settle(d)?;
        }
    }
}

fn time(w: Option<&&str>) -> Result<Time, String> {
    let ms: u64 = w
        .ok_or("no time")?
        .parse()
        .map_err(|e| format!("time: {e}"))?;
    Ok(Time::from_millis(ms))
}

/// Run a scenario; the transcript.
pub(crate) fn run(scn: &str) -> Result<String, String> {
    let mut w = World {
        nodes: Vec::new(),
        group: None,
        out: String::new(),
    };
    let mut now = Time::ZERO;
    for (n, line) in scn.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        let err = |e: String| format!("line {}: {e}", n + 1);
        match words.first().copied() {
            None => continue,
            Some("machine") => {
                let name = words.get(1).ok_or_else(|| err("no name".into()))?;
                let mut c = parse_config(&words[2..]).map_err(err)?;
                c.name = name.to_string();
                c.sync_group = true;
                let _ = writeln!(w.out, "# {line}");
                w.nodes.push(Node {
                    name: name.to_string(),
                    m: Machine::new(c),
                    tracker_fault: false,
                    link_down: false,
                    applied_fault: false,
                });
            }
            Some("group") => {
                let name = words.get(1).ok_or_else(|| err("no name".into()))?;
                for m in &words[2..] {
                    w.idx(m).map_err(err)?;
                }
                let _ = writeln!(w.out, "# {line}");
                w.group = Some((
                    name.to_string(),
                    Group::new(words[2..].iter().map(|s| s.to_string())),
                ));
            }
            Some("at") => {
                let t = time(words.get(1)).map_err(err)?;
                if t < now {
                    return Err(err("time goes backwards".into()));
                }
                let i = w
                    .idx(words.get(2).ok_or_else(|| err("no machine".into()))?)
                    .map_err(err)?;
                w.fire_until(&mut now, t).map_err(err)?;
                now = t;
                let _ = writeln!(w.out, "{:>10} {}", secs(t), words[2..].join(" "));
                let ev = &words[3..];
                match ev {
                    ["fault", v] => w.nodes[i].tracker_fault = *v == "on",
                    _ => {
                        let e = parse_event(ev, w.nodes[i].m.config()).map_err(err)?;
                        match e {
                            Event::InterfaceDown => w.nodes[i].link_down = true,
                            Event::InterfaceUp => w.nodes[i].link_down = false,
                            Event::ForceMaster | Event::ForceBackup | Event::Fault(_) => {
                                return Err(err("the group decides that".into()));
                            }
                            _ => {}
                        }
                        let stop = matches!(e, Event::Shutdown);
                        w.deliver(i, e, t);
                        if stop {
                            let name = w.nodes[i].name.clone();
                            if let Some((_, g)) = &mut w.group {
                                g.leave(&name);
                            }
                        }
                    }
                }
                w.settle(t).map_err(err)?;
            }
            Some("until") => {
                let t = time(words.get(1)).map_err(err)?;
                w.fire_until(&mut now, t).map_err(err)?;
                now = now.max(t);
            }
            Some(x) => return Err(err(format!("unknown command {x}"))),
        }
    }
    Ok(w.out)
}

#[test]
fn golden_sync_scenarios() {
    let dir = golden_dir().join("sync");
    let update = std::env::var_os("VRRPD_UPDATE_GOLDEN").is_some();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    names.sort();
    assert!(!names.is_empty());
    let mut failed = Vec::new();
    for scn in &names {
        let text = std::fs::read_to_string(scn).unwrap();
        let got = run(&text).unwrap_or_else(|e| panic!("{}: {e}", scn.display()));
        let out = scn.with_extension("out");
        if update {
            std::fs::write(&out, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&out) {
            Ok(want) if want == got => {}
            Ok(_) => {
                eprintln!("--- {} differs; got:\n{got}", out.display());
                failed.push(out.display().to_string());
            }
            Err(_) => failed.push(format!("{} missing", out.display())),
        }
    }
    assert!(
        failed.is_empty(),
        "golden mismatch (VRRPD_UPDATE_GOLDEN=1 rewrites): {failed:?}"
    );
}

#[test]
fn sync_scenario_errors() {
    assert!(run("at 0 a startup").unwrap_err().contains("no machine"));
    assert!(run("machine a\ngroup g a b")
        .unwrap_err()
        .contains("no machine b"));
    assert!(run("machine a\ngroup g a\nat 0 a sync master")
        .unwrap_err()
        .contains("the group decides"));
}
