//! Running external programs: `vrrp_script` checks (timeout, process group,
//! user), their rise/fall health (keepalived semantics, pure), and notify
//! scripts. No shell is involved: argv comes split from the configuration.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Command;

/// How to run one program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub argv: Vec<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// What running a check script gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    SpawnFailed(String),
}

impl Outcome {
    pub fn success(&self) -> bool {
        matches!(self, Outcome::Exited(0))
    }

    /// The parenthesised reason keepalived prints after "failed".
    pub fn reason(&self) -> String {
        match self {
            Outcome::Exited(c) => format!("exited with status {c}"),
            Outcome::Signaled(s) => format!("due to signal {s}"),
            Outcome::TimedOut => "timed out".to_string(),
            Outcome::SpawnFailed(e) => format!("could not be run: {e}"),
        }
    }

    fn from_status(s: ExitStatus) -> Outcome {
        match (s.code(), s.signal()) {
            (Some(c), _) => Outcome::Exited(c),
            (None, Some(sig)) => Outcome::Signaled(sig),
            (None, None) => Outcome::Exited(-1),
        }
    }
}

/// Resolve a program name through PATH like execvp; `None` if not found.
pub fn resolve(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Look a user up: (uid, primary gid).
pub fn user_ids(name: &str) -> Option<(u32, u32)> {
    let u = nix::unistd::User::from_name(name).ok()??;
    Some((u.uid.as_raw(), u.gid.as_raw()))
}

/// Look a group up.
pub fn group_id(name: &str) -> Option<u32> {
    Some(nix::unistd::Group::from_name(name).ok()??.gid.as_raw())
}

/// Resolve a `user [group]` to (uid, gid): the group if given, else the
/// user's primary group. `None` when the user does not exist.
pub fn resolve_user(u: &crate::config::ScriptUser) -> Option<(u32, u32)> {
    let (uid, gid) = user_ids(&u.user)?;
    let gid = u.group.as_deref().and_then(group_id).unwrap_or(gid);
    Some((uid, gid))
}

fn command(p: &Program) -> Option<Command> {
    let (first, rest) = p.argv.split_first()?;
    let mut c = Command::new(first);
    c.args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(false);
    if let Some(g) = p.gid {
        c.gid(g);
    }
    if let Some(u) = p.uid {
        c.uid(u);
    }
    Some(c)
}

/// Run a check program with a timeout. On timeout the whole process group
/// gets SIGTERM, then SIGKILL after a grace period; the child is always
/// waited for.
pub async fn run_check(p: &Program, timeout: Duration) -> Outcome {
    run_check_until(p, timeout, std::future::pending()).await
}

/// [`run_check`] that also stops (SIGKILL to the group, then wait) when
/// `stop` completes; the outcome is then [`Outcome::TimedOut`].
pub async fn run_check_until(
    p: &Program,
    timeout: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Outcome {
    let Some(mut cmd) = command(p) else {
        return Outcome::SpawnFailed("empty command".into());
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::SpawnFailed(e.to_string()),
    };
    let pgid = child.id().map(|id| Pid::from_raw(id as i32));
    let r = tokio::select! {
        r = tokio::time::timeout(timeout, child.wait()) => r,
        _ = stop => {
            if let Some(g) = pgid {
                let _ = killpg(g, Signal::SIGKILL);
            }
            let _ = child.wait().await;
            return Outcome::TimedOut;
        }
    };
    match r {
        Ok(Ok(s)) => Outcome::from_status(s),
        Ok(Err(e)) => Outcome::SpawnFailed(e.to_string()),
        Err(_) => {
            if let Some(g) = pgid {
                let _ = killpg(g, Signal::SIGTERM);
            }
            if tokio::time::timeout(Duration::from_secs(2), child.wait())
                .await
                .is_err()
            {
                if let Some(g) = pgid {
                    let _ = killpg(g, Signal::SIGKILL);
                }
                let _ = child.wait().await;
            }
            // Leftovers of the group (grandchildren) get the same fate.
            if let Some(g) = pgid {
                let _ = killpg(g, Signal::SIGKILL);
            }
            Outcome::TimedOut
        }
    }
}

/// Start a notify program; the returned future waits for it (callers spawn
/// it on the task tracker). Errors are logged.
pub fn spawn_notify(p: &Program) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
    let mut cmd = command(p)?;
    let name = p.argv.first().cloned().unwrap_or_default();
    match cmd.spawn() {
        Ok(mut child) => Some(async move {
            match child.wait().await {
                Ok(s) if s.success() => {}
                Ok(s) => tracing::debug!("notify script {name} ended with {s}"),
                Err(e) => tracing::warn!("notify script {name}: {e}"),
            }
        }),
        Err(e) => {
            tracing::warn!("Failed to run notify script {name}: {e}");
            None
        }
    }
}

/// Health of a tracked script as keepalived counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Health {
    /// No result yet.
    Init,
    Good,
    Bad,
}

/// keepalived's rise/fall counter: the first result decides at once (unless
/// `init_fail`, which starts failed and needs `rise` successes); afterwards
/// `rise` consecutive successes flip to good and `fall` consecutive failures
/// to bad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    result: u32,
    health: Health,
}

impl RiseFall {
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> RiseFall {
        let rise = rise.max(1);
        let fall = fall.max(1);
        RiseFall {
            rise,
            fall,
            result: 0,
            health: if init_fail { Health::Bad } else { Health::Init },
        }
    }

    pub fn health(&self) -> Health {
        self.health
    }

    fn top(&self) -> u32 {
        self.rise + self.fall - 1
    }

    /// Record one result; returns the new health when it changed.
    pub fn record(&mut self, ok: bool) -> Option<Health> {
        let before = self.health;
        match (self.health, ok) {
            (Health::Init, true) => {
                self.result = self.top();
                self.health = Health::Good;
            }
            (Health::Init, false) => {
                self.result = 0;
                self.health = Health::Bad;
            }
            (_, true) => {
                if self.result + 1 < self.rise {
                    self.result += 1;
                } else {
                    self.result = self.top();
                    self.health = Health::Good;
                }
            }
            (_, false) => {
                if self.result > self.rise {
                    self.result -= 1;
                } else {
                    self.result = 0;
                    self.health = Health::Bad;
                }
            }
        }
        (self.health != before).then_some(self.health)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_result_decides() {
        let mut r = RiseFall::new(3, 3, false);
        assert_eq!(r.health(), Health::Init);
        assert_eq!(r.record(false), Some(Health::Bad));
        let mut r = RiseFall::new(3, 3, false);
        assert_eq!(r.record(true), Some(Health::Good));
    }

    #[test]
    fn rise_and_fall() {
        let mut r = RiseFall::new(2, 3, false);
        assert_eq!(r.record(true), Some(Health::Good));
        assert_eq!(r.record(false), None);
        assert_eq!(r.record(false), None);
        assert_eq!(r.record(true), None); // back to full credit
        assert_eq!(r.record(false), None);
        assert_eq!(r.record(false), None);
        assert_eq!(r.record(false), Some(Health::Bad));
        assert_eq!(r.record(true), None);
        assert_eq!(r.record(false), None); // reset
        assert_eq!(r.record(true), None);
        assert_eq!(r.record(true), Some(Health::Good));
    }

    #[test]
    fn init_fail_needs_rise() {
        let mut r = RiseFall::new(2, 2, true);
        assert_eq!(r.health(), Health::Bad);
        assert_eq!(r.record(true), None);
        assert_eq!(r.record(true), Some(Health::Good));
        let mut r = RiseFall::new(1, 1, true);
        assert_eq!(r.record(true), Some(Health::Good));
        assert_eq!(r.record(false), Some(Health::Bad));
    }

    fn prog(args: &[&str]) -> Program {
        Program {
            argv: args.iter().map(|s| s.to_string()).collect(),
            uid: None,
            gid: None,
        }
    }

    #[tokio::test]
    async fn runs_without_shell() {
        assert_eq!(
            run_check(&prog(&["true"]), Duration::from_secs(5)).await,
            Outcome::Exited(0)
        );
        assert_eq!(
            run_check(&prog(&["false"]), Duration::from_secs(5)).await,
            Outcome::Exited(1)
        );
        // No shell: the pipe is an argument to echo.
        assert!(
            run_check(&prog(&["echo", "a", "|", "false"]), Duration::from_secs(5))
                .await
                .success()
        );
        assert!(matches!(
            run_check(&prog(&["/nonexistent/x"]), Duration::from_secs(5)).await,
            Outcome::SpawnFailed(_)
        ));
        let o = run_check(&prog(&["sleep", "30"]), Duration::from_millis(100)).await;
        assert_eq!(o, Outcome::TimedOut);
        assert_eq!(o.reason(), "timed out");
        assert_eq!(Outcome::Exited(1).reason(), "exited with status 1");
    }

    #[test]
    fn path_lookup() {
        assert!(resolve("sh").is_some());
        assert_eq!(resolve("/bin/x"), Some(PathBuf::from("/bin/x")));
        assert!(resolve("no-such-program-xyz").is_none());
        assert!(user_ids("root").is_some());
    }
}
