//! Native process tracking (`vrrp_track_process`): new processes are found
//! by a short periodic /proc scan; the death of a known one is seen at once
//! through its pidfd (no polling). A zombie counts as dead.

use std::collections::HashMap;
use std::time::Duration;

use crate::probe;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// How often /proc is scanned for new matching processes.
pub const SCAN_INTERVAL: Duration = Duration::from_millis(150);

/// What to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// Process name as `killall` matches it, or the full command line (args
    /// joined by spaces) when `full_command`.
    pub name: String,
    /// Arguments that must follow argv[0] (see `param_match`).
    pub params: Option<Vec<String>>,
    pub param_match: crate::config::ParamMatch,
    pub full_command: bool,
    pub quorum: usize,
    pub quorum_max: usize,
    /// A new process counts only after this delay (`fork_delay`).
    pub fork_delay: Duration,
    /// A process' end counts only after this delay (`terminate_delay`).
    pub terminate_delay: Duration,
}

impl ProcessSpec {
    pub fn simple(name: &str) -> ProcessSpec {
        ProcessSpec {
            name: name.to_string(),
            params: None,
            param_match: crate::config::ParamMatch::Exact,
            full_command: false,
            quorum: 1,
            quorum_max: usize::MAX,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
        }
    }

    /// Is the tracked process "up" with this many live matches?
    pub fn is_up(&self, count: usize) -> bool {
        count >= self.quorum && count <= self.quorum_max
    }

    /// Whether a process with this `comm` and command line matches.
    fn matches_argv(&self, comm: &str, argv: &[String]) -> bool {
        let name_ok = if self.full_command {
            argv.first().is_some_and(|a| *a == self.name)
        } else {
            probe::name_matches(&self.name, comm, argv.first().map(String::as_str))
        };
        if !name_ok {
            return false;
        }
        let rest = argv.get(1..).unwrap_or(&[]);
        match &self.params {
            None => true,
            Some(p) => match self.param_match {
                crate::config::ParamMatch::Exact => rest == p.as_slice(),
                crate::config::ParamMatch::Initial => rest.starts_with(p),
                crate::config::ParamMatch::Partial => {
                    p.is_empty() || rest.windows(p.len()).any(|w| w == p.as_slice())
                }
            },
        }
    }
}

fn cmdline(pid: i32) -> Vec<String> {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return Vec::new();
    };
    raw.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Scans /proc for matching processes. Processes that did not match are
/// remembered with their `comm`, and only looked at again when it changes
/// (an exec), so a scan costs one small read per process.
///
/// A process seen with an empty command line is cached only when it is
/// still empty at the next scan (kernel threads): during an exec the new
/// `comm` shows a moment before the new command line does, and caching
/// that moment would hide the process for as long as it lives.
#[derive(Default)]
struct Scanner {
    not_matching: HashMap<i32, String>,
    empty_once: std::collections::HashSet<i32>,
}

impl Scanner {
    fn scan(&mut self, spec: &ProcessSpec) -> Vec<i32> {
        let me = std::process::id() as i32;
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut seen = HashMap::with_capacity(self.not_matching.len());
        let mut empty_now = std::collections::HashSet::new();
        for pid in dir
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        {
            if pid == me {
                continue;
            }
            let Some(comm) = probe::comm(pid) else {
                continue;
            };
            if self.not_matching.get(&pid) == Some(&comm) {
                seen.insert(pid, comm);
                continue;
            }
            let argv = cmdline(pid);
            if spec.matches_argv(&comm, &argv) && probe::is_alive(pid) {
                out.push(pid);
            } else if !argv.is_empty() || self.empty_once.contains(&pid) {
                seen.insert(pid, comm);
            } else {
                empty_now.insert(pid);
            }
        }
        self.not_matching = seen;
        self.empty_once = empty_now;
        out.sort_unstable();
        out
    }
}

/// Track processes matching `spec`; publishes the live count on the returned
/// watch channel until `cancel` fires.
pub fn spawn_tracker(
    spec: ProcessSpec,
    cancel: CancellationToken,
    tracker: &common::TaskTracker,
) -> watch::Receiver<usize> {
    let mut scanner = Scanner::default();
    let initial = scanner.scan(&spec);
    let (tx, rx) = watch::channel(initial.len());
    tracker.spawn(run(spec, scanner, initial, tx, cancel));
    rx
}

async fn run(
    spec: ProcessSpec,
    mut scanner: Scanner,
    initial: Vec<i32>,
    tx: watch::Sender<usize>,
    cancel: CancellationToken,
) {
    let (dead_tx, mut dead_rx) = mpsc::unbounded_channel::<i32>();
    let mut live: HashMap<i32, tokio::task::JoinHandle<()>> = HashMap::new();
    let watch_pid = |pid: i32, dead_tx: mpsc::UnboundedSender<i32>| {
        tokio::spawn(async move {
            let _ = probe::wait_exit(pid).await;
            let _ = dead_tx.send(pid);
        })
    };
    let mut shown = initial.len() as i64;
    for pid in initial {
        live.insert(pid, watch_pid(pid, dead_tx.clone()));
    }
    // Count changes waiting for fork_delay / terminate_delay.
    let mut pending: Vec<(tokio::time::Instant, i64)> = Vec::new();
    let change = |pending: &mut Vec<(tokio::time::Instant, i64)>, shown: &mut i64, d: i64| {
        let delay = if d > 0 {
            spec.fork_delay
        } else {
            spec.terminate_delay
        };
        if delay.is_zero() {
            *shown += d;
        } else {
            pending.push((tokio::time::Instant::now() + delay, d));
        }
    };
    let mut tick = tokio::time::interval(SCAN_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next = pending.iter().map(|p| p.0).min();
        let due = async {
            match next {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(pid) = dead_rx.recv() => {
                if live.remove(&pid).is_some() {
                    change(&mut pending, &mut shown, -1);
                }
            }
            _ = due => {
                let now = tokio::time::Instant::now();
                pending.retain(|(t, d)| {
                    if *t <= now {
                        shown += d;
                        false
                    } else {
                        true
                    }
                });
            }
            _ = tick.tick() => {
                for pid in scanner.scan(&spec) {
                    if let std::collections::hash_map::Entry::Vacant(e) = live.entry(pid) {
                        e.insert(watch_pid(pid, dead_tx.clone()));
                        change(&mut pending, &mut shown, 1);
                    }
                }
                // Drop pids that died between scans without our seeing it
                // (pidfd open raced with exit).
                let before = live.len();
                live.retain(|p, _| probe::is_alive(*p));
                for _ in live.len()..before {
                    change(&mut pending, &mut shown, -1);
                }
            }
        }
        let count = usize::try_from(shown.max(0)).unwrap_or(0);
        tx.send_if_modified(|c| {
            let changed = *c != count;
            *c = count;
            changed
        });
    }
    for (_, h) in live {
        h.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[tokio::test]
    async fn sees_start_and_death() {
        let name = format!("trk-t{}", std::process::id());
        let spec = ProcessSpec::simple(&name);
        let cancel = CancellationToken::new();
        let tt = common::TaskTracker::new();
        let mut rx = spawn_tracker(spec.clone(), cancel.clone(), &tt);
        assert_eq!(*rx.borrow(), 0);
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(format!("exec -a {name} sleep 30"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|c| *c == 1))
            .await
            .unwrap()
            .unwrap();
        assert!(spec.is_up(1));
        // Kill without reaping yet: a zombie must count as dead.
        child.kill().unwrap();
        tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|c| *c == 0))
            .await
            .unwrap()
            .unwrap();
        child.wait().unwrap();
        cancel.cancel();
        tt.close();
        tt.wait().await;
    }

    #[test]
    fn a_process_seen_mid_exec_is_looked_at_again() {
        // what a scan sees in the middle of `exec -a NAME sleep`: the new
        // comm, no command line yet
        let spec = ProcessSpec::simple("trk-mid");
        assert!(!spec.matches_argv("sleep", &[]));
        assert!(spec.matches_argv("sleep", &["trk-mid".into(), "30".into()]));
        // so a scan that saw it then must not cache it as not matching:
        // the next scan sees it (sees_start_and_death races with it)
    }

    #[test]
    fn quorum() {
        let mut s = ProcessSpec::simple("x");
        assert!(!s.is_up(0));
        assert!(s.is_up(3));
        s.quorum = 2;
        s.quorum_max = 3;
        assert!(!s.is_up(1));
        assert!(s.is_up(2));
        assert!(!s.is_up(4));
    }
}
