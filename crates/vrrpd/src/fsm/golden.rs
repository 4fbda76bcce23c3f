//! Golden scenario replay (holo-vrrp style): each `golden/NAME.scn` is a
//! list of timed inputs for one machine; running it prints every input and
//! every action, with the virtual time, and the result must equal
//! `golden/NAME.out`. `VRRPD_UPDATE_GOLDEN=1 cargo test -p vrrpd golden`
//! rewrites the `.out` files (review the diff).
//!
//! Scenario syntax, one command a line (`#` starts a comment):
//! ```text
//! config version=2 priority=102 adver_int=1000 addr=10.0.2.11 vips=10.0.2.100,fd00::1
//!        preempt=yes preempt_delay=0 garp_delay=5000 garp_repeat=5 garp_refresh=0
//!        sync_group=no
//! at MS startup | shutdown | timer
//! at MS rx ADDR PRIORITY [INTERVAL_CS]
//! at MS priority N
//! at MS link up|down
//! at MS fault on|off
//! at MS sync master|backup          (ForceMaster / ForceBackup)
//! at MS may_master yes|no           (sync group gate, not an event)
//! until MS
//! ```
//! Timers due before an input fire first (shown as `timer`).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Action, Config, Event, Level, Machine, Time, Vip};
use crate::packet::{Advert, Auth, Version};

pub(super) fn secs(t: Time) -> String {
    format!("{}.{:06}", t.as_secs(), t.subsec_micros())
}

pub(super) fn render(a: &Action) -> String {
    match a {
        Action::SendAdvert { priority } => format!("send advert priority {priority}"),
        Action::AddVips => "add VIPs".into(),
        Action::RemoveVips => "remove VIPs".into(),
        Action::SendGarp { repeat } => format!("send GARP x{repeat}"),
        Action::Notify { state, priority } => format!("notify {state} {priority}"),
        Action::Log { level, msg } => {
            let l = match level {
                Level::Warn => "warn",
                Level::Info => "info",
                Level::Debug => "debug",
            };
            format!("log {l}: {msg}")
        }
    }
}

pub(super) fn parse_config(words: &[&str]) -> Result<Config, String> {
    let mut c = Config {
        name: "vif1".into(),
        interface: "eth0".into(),
        vrid: 51,
        priority: 100,
        primary_addr: "10.0.2.11".parse().map_err(|e| format!("{e}"))?,
        vips: vec![Vip {
            addr: "10.0.2.100".parse().map_err(|e| format!("{e}"))?,
            dev: "eth0".into(),
        }],
        ..Config::default()
    };
    for w in words {
        let (k, v) = w.split_once('=').ok_or(format!("bad config word {w}"))?;
        let num = || v.parse::<u64>().map_err(|e| format!("{k}: {e}"));
        match k {
            "version" => {
                c.version = match v {
                    "2" => Version::V2,
                    "3" => Version::V3,
                    _ => return Err(format!("bad version {v}")),
                }
            }
            "priority" => c.priority = num()? as u8,
            "adver_int" => c.adver_int = Duration::from_millis(num()?),
            "addr" => c.primary_addr = v.parse().map_err(|e| format!("{k}: {e}"))?,
            "vips" => {
                c.vips = v
                    .split(',')
                    .map(|a| {
                        a.parse().map(|addr| Vip {
                            addr,
                            dev: "eth0".into(),
                        })
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("{k}: {e}"))?
            }
            "preempt" => c.preempt = v == "yes",
            "sync_group" => c.sync_group = v == "yes",
            "preempt_delay" => c.preempt_delay = Duration::from_millis(num()?),
            "garp_delay" => c.garp_master_delay = Duration::from_millis(num()?),
            "garp_repeat" => c.garp_master_repeat = num()? as u32,
            "garp_refresh" => {
                let r = num()?;
                c.garp_master_refresh = (r > 0).then(|| Duration::from_millis(r));
            }
            _ => return Err(format!("unknown config key {k}")),
        }
    }
    Ok(c)
}

pub(super) fn parse_event(words: &[&str], cfg: &Config) -> Result<Event, String> {
    let arg = |i: usize| {
        words
            .get(i)
            .copied()
            .ok_or(format!("missing argument in {words:?}"))
    };
    Ok(match words.first().copied() {
        Some("startup") => Event::Startup,
        Some("shutdown") => Event::Shutdown,
        Some("timer") => Event::Timer,
        Some("rx") => {
            let from: IpAddr = arg(1)?.parse().map_err(|e| format!("{e}"))?;
            let priority: u8 = arg(2)?.parse().map_err(|e| format!("{e}"))?;
            let interval_cs = match words.get(3) {
                Some(s) => s.parse().map_err(|e| format!("{e}"))?,
                None => (cfg.adver_int.as_millis() / 10) as u16,
            };
            Event::Advert {
                from,
                advert: Advert {
                    version: cfg.version,
                    vrid: cfg.vrid,
                    priority,
                    interval_cs,
                    auth: Auth::None,
                    addrs: cfg.vips.iter().map(|v| v.addr).collect(),
                },
            }
        }
        Some("priority") => Event::PriorityChanged(arg(1)?.parse().map_err(|e| format!("{e}"))?),
        Some("link") => match arg(1)? {
            "up" => Event::InterfaceUp,
            "down" => Event::InterfaceDown,
            x => return Err(format!("link {x}?")),
        },
        Some("fault") => Event::Fault(arg(1)? == "on"),
        Some("sync") => match arg(1)? {
            "master" => Event::ForceMaster,
            "backup" => Event::ForceBackup,
            x => return Err(format!("sync {x}?")),
        },
        _ => return Err(format!("unknown event {words:?}")),
    })
}

/// Run a scenario; the transcript.
pub(crate) fn run(scn: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut m: Option<Machine> = None;
    let mut now = Duration::ZERO;
    let fire_until = |m: &mut Machine, now: &mut Time, t: Time, out: &mut String| {
        while let Some(d) = m.next_deadline().filter(|d| *d <= t) {
            *now = d;
            let _ = writeln!(out, "{:>10} timer", secs(d));
            for a in m.handle(Event::Timer, d) {
                let _ = writeln!(out, "{:>10}   {}", "", render(&a));
            }
        }
    };
    for (n, line) in scn.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        let err = |e: String| format!("line {}: {e}", n + 1);
        match words.first().copied() {
            None => continue,
            Some("config") => {
                let c = parse_config(&words[1..]).map_err(err)?;
                let _ = writeln!(out, "# {line}");
                m = Some(Machine::new(c));
            }
            Some("at") => {
                let machine = m.as_mut().ok_or_else(|| err("no config".into()))?;
                let t: u64 = words
                    .get(1)
                    .ok_or_else(|| err("no time".into()))?
                    .parse()
                    .map_err(|e| err(format!("{e}")))?;
                let t = Duration::from_millis(t);
                if t < now {
                    return Err(err("time goes backwards".into()));
                }
                fire_until(machine, &mut now, t, &mut out);
                now = t;
                if words.get(2) == Some(&"may_master") {
                    machine.set_sync_may_master(words.get(3) == Some(&"yes"));
                    let _ = writeln!(out, "{:>10} {}", secs(t), words[2..].join(" "));
                    continue;
                }
                let ev = parse_event(&words[2..], machine.config()).map_err(err)?;
                let _ = writeln!(out, "{:>10} {}", secs(t), words[2..].join(" "));
                for a in machine.handle(ev, t) {
                    let _ = writeln!(out, "{:>10}   {}", "", render(&a));
                }
                let _ = writeln!(
                    out,
                    "{:>10}   = {} prio {} next {}{}",
                    "",
                    machine.state(),
                    machine.priority(),
                    machine.next_deadline().map(secs).unwrap_or("-".into()),
                    if machine.wants_master() {
                        " (wants MASTER)"
                    } else {
                        ""
                    }
                );
            }
            Some("until") => {
                let machine = m.as_mut().ok_or_else(|| err("no config".into()))?;
                let t: u64 = words
                    .get(1)
                    .ok_or_else(|| err("no time".into()))?
                    .parse()
                    .map_err(|e| err(format!("{e}")))?;
                fire_until(machine, &mut now, Duration::from_millis(t), &mut out);
                now = now.max(Duration::from_millis(t));
            }
            Some(w) => return Err(err(format!("unknown command {w}"))),
        }
    }
    Ok(out)
}

pub(super) fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/fsm/golden")
}

#[test]
fn golden_scenarios() {
    let update = std::env::var_os("VRRPD_UPDATE_GOLDEN").is_some();
    let mut names: Vec<PathBuf> = std::fs::read_dir(golden_dir())
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
            Ok(want) => {
                eprintln!("--- {} differs; got:\n{got}", out.display());
                let first = want
                    .lines()
                    .zip(got.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(want.lines().count().min(got.lines().count()));
                eprintln!("first difference at line {}", first + 1);
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
fn scenario_errors() {
    assert!(run("at 0 startup").unwrap_err().contains("no config"));
    assert!(run("config bogus=1")
        .unwrap_err()
        .contains("unknown config key"));
    assert!(run("config\nat 5 startup\nat 4 startup")
        .unwrap_err()
        .contains("backwards"));
    assert!(run("config\nat 0 jump")
        .unwrap_err()
        .contains("unknown event"));
}
