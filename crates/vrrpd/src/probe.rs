//! Process probes: find processes by name as `killall -0` does, zombies, pidfd.
//!
//! `killall -0 NAME` counts a zombie as alive; on machines whose PID 1 reaps
//! orphans late that delays a failover by seconds. Everything here treats a
//! zombie (or a vanished pid) as dead.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use tokio::io::unix::AsyncFd;

/// Length of the kernel's `comm` (TASK_COMM_LEN - 1).
pub const COMM_LEN: usize = 15;

/// State letter of a process from `/proc/PID/stat` (`R`, `S`, `Z`, ...),
/// `None` if the process does not exist.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ..." — comm may contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.trim_start().chars().next()
}

/// True when the process is a zombie, dead, or gone.
pub fn is_zombie(pid: i32) -> bool {
    matches!(proc_state(pid), None | Some('Z') | Some('X') | Some('x'))
}

/// True when the process exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    !is_zombie(pid)
}

/// `comm` of a process (without the trailing newline).
pub fn comm(pid: i32) -> Option<String> {
    let c = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(c.trim_end_matches('\n').to_string())
}

/// argv[0] of a process, `None` for kernel threads or a vanished process.
pub fn argv0(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let first = raw.split(|b| *b == 0).next()?;
    if first.is_empty() {
        return None;
    }
    Some(String::from_utf8_lossy(first).into_owned())
}

fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// Does a process with this `comm` and `argv0` match `name` as `killall`
/// matches it? Names longer than the kernel's comm are compared with argv[0]'s
/// basename (comm being a truncated prefix); shorter ones with comm, or with
/// argv[0]'s basename (a process renamed through prctl keeps its argv).
pub fn name_matches(name: &str, comm: &str, argv0: Option<&str>) -> bool {
    if name.is_empty() {
        return false;
    }
    let base = argv0.map(basename);
    if name.len() > COMM_LEN {
        // comm holds the first 15 bytes only.
        return name.as_bytes().starts_with(comm.as_bytes())
            && comm.len() == COMM_LEN
            && base == Some(name);
    }
    comm == name || base == Some(name)
}

/// All pids (excluding our own) whose process matches `name` as `killall`
/// does. Zombies are included; filter with [`is_alive`].
pub fn pids_by_name(name: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Some(c) = comm(pid) else { continue };
        let a = argv0(pid);
        if name_matches(name, &c, a.as_deref()) {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

/// Live (non-zombie) pids matching `name`.
pub fn live_pids_by_name(name: &str) -> Vec<i32> {
    pids_by_name(name)
        .into_iter()
        .filter(|p| is_alive(*p))
        .collect()
}

/// True when the pid's /proc entry exists (used by tests and scans).
pub fn exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A pidfd (`pidfd_open(2)`): becomes readable when the process exits (turns
/// into a zombie), so waiting on it needs no polling and sees zombies as dead.
#[derive(Debug)]
pub struct PidFd {
    pid: i32,
    fd: OwnedFd,
}

impl PidFd {
    /// Open a pidfd for `pid`. Fails with ESRCH if the process is gone.
    pub fn open(pid: i32) -> io::Result<PidFd> {
        // SAFETY: plain syscall with integer arguments; the return value is
        // checked before being wrapped. nix has no pidfd_open(2) wrapper.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let raw = RawFd::try_from(r).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        // SAFETY: `raw` is a freshly opened descriptor that nothing else
        // owns (same reason as above: no safe pidfd_open to return it).
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(PidFd { pid, fd })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Has the process exited (readable pidfd)? Non-blocking.
    pub fn has_exited(&self) -> bool {
        readable_now(self.fd.as_fd())
    }

    /// Wait until the process exits (becomes a zombie or is reaped). Needs a
    /// tokio runtime.
    pub async fn exited(self) -> io::Result<()> {
        let pid = self.pid;
        // SAFETY: we own the descriptor and nothing else registers it; it
        // stays open as long as the AsyncFd (tokio made the registration
        // unsafe for I/O safety; nix has no reactor).
        let afd =
            unsafe { AsyncFd::register_with_interest(self.fd, tokio::io::Interest::READABLE) }
                .map_err(io::Error::from)?;
        loop {
            let mut guard = afd.readable().await?;
            // A pidfd stays readable once the process has exited.
            if readable_now(guard.get_inner().as_fd()) || is_zombie(pid) {
                return Ok(());
            }
            guard.clear_ready();
        }
    }
}

/// Is `fd` readable (or hung up, or in error) right now? Non-blocking.
fn readable_now(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
        && fds[0].revents().is_some_and(|r| {
            r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
        })
}

/// Wait until `pid` exits (zombie counts as exited). Returns at once if the
/// process is already gone.
pub async fn wait_exit(pid: i32) -> io::Result<()> {
    match PidFd::open(pid) {
        Ok(fd) => fd.exited().await,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    #[test]
    fn matching_rules() {
        assert!(name_matches("proxyd", "proxyd", Some("/usr/sbin/proxyd")));
        assert!(name_matches("proxyd", "proxyd", None));
        assert!(name_matches("proxyd", "other", Some("/usr/sbin/proxyd")));
        assert!(!name_matches("proxy", "proxyd", Some("proxyd")));
        assert!(!name_matches("", "", None));
        let long = "a-very-long-process-name";
        assert!(name_matches(long, &long[..15], Some(long)));
        assert!(!name_matches(long, &long[..15], Some("other")));
        assert!(!name_matches(long, "short", Some(long)));
    }

    #[test]
    fn self_state() {
        let me = std::process::id() as i32;
        assert!(is_alive(me));
        assert!(!is_zombie(me));
        assert!(is_zombie(i32::MAX));
        assert!(comm(me).is_some());
    }

    #[test]
    fn find_wait_and_zombie() {
        // A sleep under a unique argv[0] (exec -a) so that nothing else on
        // the machine matches.
        let name = format!("probe-t{}", std::process::id());
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(format!("exec -a {name} sleep 30"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !pids_by_name(&name).contains(&pid) {
            assert!(std::time::Instant::now() < deadline, "not found");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(live_pids_by_name(&name), vec![pid]);
        let pfd = PidFd::open(pid).unwrap();
        assert!(!pfd.has_exited());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Kill without reaping: the process becomes a zombie, which must count
        // as dead both for the pidfd and for the name probe.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), pfd.exited())
                .await
                .unwrap()
                .unwrap()
        });
        assert!(is_zombie(pid));
        assert!(live_pids_by_name(&name).is_empty());
        child.wait().unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), wait_exit(pid))
                .await
                .unwrap()
                .unwrap()
        });
    }
}
