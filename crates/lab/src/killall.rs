//! A minimal `killall` for machines without psmisc: the seed's
//! `vrrp_script` is `killall -0 proxyd`, and the lab must work on a fresh
//! machine. When no `killall` is on the PATH, the lab puts a link named
//! `killall` to its own binary on the load balancers' PATH; `main`
//! dispatches on that name. It matches process names like psmisc does
//! (the 15-byte `comm`), in the caller's /proc (the host's own).

use std::path::Path;

/// Parse `killall [-SIGNAL] NAME...` -> (signal, names).
pub fn parse_args(args: &[String]) -> Result<(i32, Vec<String>), String> {
    let mut sig = libc::SIGTERM;
    let mut names = vec![];
    for a in args {
        if let Some(s) = a.strip_prefix('-') {
            if names.is_empty() && !s.is_empty() {
                sig = parse_signal(s).ok_or_else(|| format!("{s}: unknown signal"))?;
                continue;
            }
        }
        names.push(a.clone());
    }
    if names.is_empty() {
        return Err("usage: killall [-SIGNAL] NAME...".into());
    }
    Ok((sig, names))
}

fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (0..=64).contains(&n).then_some(n);
    }
    let s = s.strip_prefix("SIG").unwrap_or(s);
    Some(match s {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "KILL" => libc::SIGKILL,
        "TERM" => libc::SIGTERM,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        _ => return None,
    })
}

/// Whether a process name matches `name` as psmisc compares them (the
/// kernel truncates names to 15 bytes).
pub fn name_matches(comm: &str, name: &str) -> bool {
    let n = name.rsplit('/').next().unwrap_or(name);
    if n.len() >= 15 {
        comm.len() == 15 && n.starts_with(comm)
    } else {
        comm == n
    }
}

/// Run: exit status 0 when at least one process of every name was found
/// (and signalled), 1 otherwise.
pub fn main(args: &[String]) -> i32 {
    let (sig, names) = match parse_args(args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("killall: {e}");
            return 1;
        }
    };
    let me = std::process::id();
    let mut pids: Vec<(u32, String)> = vec![];
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if pid == me {
                continue;
            }
            if let Ok(c) =
                std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("comm"))
            {
                pids.push((pid, c.trim_end_matches('\n').to_string()));
            }
        }
    }
    let mut status = 0;
    for n in &names {
        let mut found = false;
        for (pid, comm) in &pids {
            if name_matches(comm, n) {
                // signal 0 only checks existence
                if send(*pid as i32, sig).is_ok() {
                    found = true;
                }
            }
        }
        if !found {
            eprintln!("{n}: no process found");
            status = 1;
        }
    }
    status
}

/// Whether `prog` is an executable on `$PATH`.
pub fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

/// kill(2) with a raw signal number; 0 only checks that `pid` exists.
pub fn send(pid: i32, sig: i32) -> nix::Result<()> {
    let sig = match sig {
        0 => None,
        n => Some(nix::sys::signal::Signal::try_from(n)?),
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn args() {
        assert_eq!(parse_args(&v(&["-0", "proxyd"])), Ok((0, v(&["proxyd"]))));
        assert_eq!(
            parse_args(&v(&["proxyd"])),
            Ok((libc::SIGTERM, v(&["proxyd"])))
        );
        assert_eq!(
            parse_args(&v(&["-KILL", "a", "b"])),
            Ok((libc::SIGKILL, v(&["a", "b"])))
        );
        assert!(parse_args(&v(&["-0"])).is_err());
        assert!(parse_args(&v(&["-BOGUS", "x"])).is_err());
    }

    #[test]
    fn names() {
        assert!(name_matches("proxyd", "proxyd"));
        assert!(name_matches("proxyd", "/usr/sbin/proxyd"));
        assert!(!name_matches("proxyd2", "proxyd"));
        assert!(name_matches("a-very-long-nam", "a-very-long-name-indeed"));
    }

    #[test]
    fn finds_itself_not() {
        // signal 0 to a name that cannot exist
        assert_eq!(main(&v(&["-0", "no-such-proc-x"])), 1);
    }
}
