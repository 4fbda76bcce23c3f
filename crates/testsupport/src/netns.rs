//! Network-namespace helpers for the lab and the tests.
//!
//! Everything here shells out to `ip` (iproute2) and uses only std and libc,
//! so any crate's tests can use it. Rules it enforces (see DEVELOPERS.md,
//! "Network safety"):
//!
//! - Namespace names are unique per run: `PREFIX` + pid + `-` + counter
//!   (see [`unique_name`]), so parallel test binaries never clash.
//! - A [`Netns`] guard deletes its namespace on drop, also when the test
//!   panics (drop runs during unwinding).
//! - A leftover from a crashed run (its pid is gone) is removed by
//!   [`cleanup_stale`], which the next run calls first.
//! - Links are created *inside* namespaces (`ip -n NS link add ... peer ...
//!   netns OTHER`): nothing ever appears in the root namespace, not even for
//!   an instant.
//!
//! ```no_run
//! use testsupport::netns::{Netns, veth_pair, addr_add, link_up};
//! let a = Netns::new("vrrpt").unwrap();
//! let b = Netns::new("vrrpt").unwrap();
//! veth_pair(&a, "eth0", &b, "eth0").unwrap();
//! addr_add(&a, "eth0", "10.9.0.1/24").unwrap();
//! addr_add(&b, "eth0", "10.9.0.2/24").unwrap();
//! link_up(&a, "eth0").unwrap();
//! link_up(&b, "eth0").unwrap();
//! let out = a.exec(&["ip", "route"]).output().unwrap();
//! assert!(out.status.success());
//! // sockets made on this thread live in `b`:
//! let l = b.run_in(|| std::net::TcpListener::bind("10.9.0.2:80")).unwrap();
//! // both namespaces are deleted here
//! ```
//!
//! [`Child`] is a process guard: it kills its process (by pid) and waits for
//! it on drop, so no zombie is left for `killall -0` to count as alive.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where iproute2 keeps named network namespaces.
pub const NETNS_DIR: &str = "/run/netns";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh name `PREFIX<pid>-<n>`, unique within this process and, through
/// the pid, among live processes. [`cleanup_stale`] understands this form.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}-{n}", std::process::id())
}

fn io_err(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// Run a command, fail with its stderr when it exits non-zero; returns
/// stdout.
pub fn run_checked(cmd: &mut Command) -> io::Result<String> {
    let out: Output = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        return Err(io_err(format!(
            "{:?} failed ({}): {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip ARGS...` in the root namespace (only use it with `-n NS` or
/// `netns NS` arguments: never configure the root namespace).
pub fn ip(args: &[&str]) -> io::Result<String> {
    run_checked(Command::new("ip").args(args))
}

/// `ip -n NS ARGS...`.
pub fn ip_in(ns: &str, args: &[&str]) -> io::Result<String> {
    run_checked(Command::new("ip").arg("-n").arg(ns).args(args))
}

/// A named network namespace (`ip netns add`), deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    keep: bool,
}

impl Netns {
    /// Create a namespace named [`unique_name`]`(prefix)` with `lo` up.
    /// Call [`cleanup_stale`]`(prefix)` once before, to remove leftovers of
    /// crashed runs.
    pub fn new(prefix: &str) -> io::Result<Netns> {
        Netns::with_name(&unique_name(prefix))
    }

    /// Create a namespace with exactly this name (the caller guarantees it
    /// is unique) with `lo` up.
    pub fn with_name(name: &str) -> io::Result<Netns> {
        ip(&["netns", "add", name])?;
        let ns = Netns {
            name: name.to_string(),
            keep: false,
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Adopt an existing namespace (for example one recorded by a previous
    /// invocation); it is deleted on drop unless [`Netns::keep`] is called.
    pub fn adopt(name: &str) -> Netns {
        Netns {
            name: name.to_string(),
            keep: false,
        }
    }

    /// Do not delete the namespace on drop (it outlives this process; a
    /// later `down` or [`cleanup_stale`] removes it).
    pub fn keep(mut self) -> String {
        self.keep = true;
        self.name.clone()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`, for `setns(2)` or `nsenter --net=`.
    pub fn path(&self) -> PathBuf {
        Path::new(NETNS_DIR).join(&self.name)
    }

    /// A command `ip netns exec NAME ARGV...` (not started). `argv` must not
    /// be empty.
    pub fn exec(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    /// Run `ARGV` inside the namespace; stdout on success, an error with
    /// stderr otherwise.
    pub fn run(&self, argv: &[&str]) -> io::Result<String> {
        run_checked(&mut self.exec(argv))
    }

    /// `ip -n NAME ARGS...`.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        ip_in(&self.name, args)
    }

    /// Run `f` on a new thread whose network namespace is this one
    /// (`setns(2)` affects only the calling thread): sockets it creates
    /// live in the namespace. Returns what `f` returns.
    pub fn run_in<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<T> {
        run_in_netns(&self.path(), f)
    }

    /// Whether `addr` (no prefix length, e.g. `10.0.2.100`) is configured
    /// on any interface of this namespace.
    pub fn has_addr(&self, addr: &str) -> io::Result<bool> {
        let out = self.ip(&["-o", "addr", "show"])?;
        Ok(addr_in_listing(&out, addr))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.keep {
            let _ = delete(&self.name);
        }
    }
}

/// Enter the network namespace at `path` (e.g. `/run/netns/NAME`) on the
/// calling thread only. Use it on a thread of your own (see
/// [`run_in_netns`]): the thread stays in that namespace.
pub fn enter_netns_thread(path: &Path) -> io::Result<()> {
    let f = std::fs::File::open(path)?;
    // CLONE_NEWNET changes only this thread's network namespace
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)?;
    Ok(())
}

/// Run `f` on a new thread inside the network namespace at `path`, join it
/// and return its result.
pub fn run_in_netns<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let path = path.to_path_buf();
    std::thread::spawn(move || -> io::Result<T> {
        enter_netns_thread(&path)?;
        Ok(f())
    })
    .join()
    .map_err(|_| io_err("thread in netns panicked".into()))?
}

/// Whether the output of `ip -o addr show` lists `addr`.
pub fn addr_in_listing(listing: &str, addr: &str) -> bool {
    listing.lines().any(|l| {
        let mut words = l.split_whitespace();
        while let Some(w) = words.next() {
            if w == "inet" || w == "inet6" {
                if let Some(a) = words.next() {
                    if a.split('/').next() == Some(addr) {
                        return true;
                    }
                }
            }
        }
        false
    })
}

/// Delete a namespace by name (no error if it is already gone).
pub fn delete(name: &str) -> io::Result<()> {
    if !Path::new(NETNS_DIR).join(name).exists() {
        return Ok(());
    }
    ip(&["netns", "del", name]).map(|_| ())
}

/// Names of all named namespaces.
pub fn list() -> io::Result<Vec<String>> {
    let mut v = Vec::new();
    let rd = match std::fs::read_dir(NETNS_DIR) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(v),
        Err(e) => return Err(e),
    };
    for e in rd {
        v.push(e?.file_name().to_string_lossy().into_owned());
    }
    v.sort();
    Ok(v)
}

/// The pid embedded in a name made by [`unique_name`]`(prefix)` (possibly
/// with more text after the counter), or None when the name is not of that
/// form.
pub fn owner_pid(prefix: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let (pid, tail) = rest.split_once('-')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let counter: String = tail.chars().take_while(|c| c.is_ascii_digit()).collect();
    if counter.is_empty() {
        return None;
    }
    pid.parse().ok()
}

/// Whether a process with this pid exists (a zombie counts).
pub fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Remove the namespaces named `PREFIX<pid>-...` whose pid is no longer
/// alive (leftovers of crashed runs). Returns the names removed.
pub fn cleanup_stale(prefix: &str) -> io::Result<Vec<String>> {
    let mut removed = Vec::new();
    for name in list()? {
        if let Some(pid) = owner_pid(prefix, &name) {
            if !pid_alive(pid) {
                delete(&name)?;
                removed.push(name);
            }
        }
    }
    Ok(removed)
}

/// A veth pair: `a_if` inside `a`, `b_if` inside `b`, both down. Interface
/// names are at most 15 bytes.
pub fn veth_pair(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> io::Result<()> {
    veth_pair_by_name(a.name(), a_if, b.name(), b_if)
}

/// [`veth_pair`] with namespace names.
pub fn veth_pair_by_name(a: &str, a_if: &str, b: &str, b_if: &str) -> io::Result<()> {
    ip_in(
        a,
        &[
            "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b,
        ],
    )
    .map(|_| ())
}

/// A bridge `name` inside `ns`, up.
pub fn bridge(ns: &Netns, name: &str) -> io::Result<()> {
    ns.ip(&["link", "add", name, "type", "bridge"])?;
    link_up(ns, name)
}

/// Attach `port` (an interface of `ns`) to the bridge `bridge` of `ns` and
/// set it up.
pub fn bridge_attach(ns: &Netns, bridge: &str, port: &str) -> io::Result<()> {
    ns.ip(&["link", "set", port, "master", bridge])?;
    link_up(ns, port)
}

pub fn link_up(ns: &Netns, dev: &str) -> io::Result<()> {
    ns.ip(&["link", "set", dev, "up"]).map(|_| ())
}

pub fn link_down(ns: &Netns, dev: &str) -> io::Result<()> {
    ns.ip(&["link", "set", dev, "down"]).map(|_| ())
}

/// `ip -n NS addr add CIDR dev DEV` (CIDR like `10.0.2.4/24`).
pub fn addr_add(ns: &Netns, dev: &str, cidr: &str) -> io::Result<()> {
    ns.ip(&["addr", "add", cidr, "dev", dev]).map(|_| ())
}

/// Poll `cond` every 20 ms until it returns true or `timeout` elapses;
/// returns whether it became true.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process that is killed (SIGKILL, by pid) and waited for on drop.
#[derive(Debug)]
pub struct Child {
    inner: Option<std::process::Child>,
}

impl Child {
    /// Start `cmd` and guard it.
    pub fn spawn(cmd: &mut Command) -> io::Result<Child> {
        Ok(Child {
            inner: Some(cmd.spawn()?),
        })
    }

    /// Guard an already started child.
    pub fn from_std(child: std::process::Child) -> Child {
        Child { inner: Some(child) }
    }

    pub fn id(&self) -> Option<u32> {
        self.inner.as_ref().map(|c| c.id())
    }

    /// Access the std child (e.g. to take its stdout).
    pub fn inner_mut(&mut self) -> Option<&mut std::process::Child> {
        self.inner.as_mut()
    }

    /// Send a signal (e.g. `libc::SIGTERM`) if the child was not reaped
    /// yet.
    pub fn signal(&mut self, sig: i32) -> io::Result<()> {
        let Some(c) = self.inner.as_mut() else {
            return Ok(());
        };
        if c.try_wait()?.is_some() {
            return Ok(());
        }
        let sig = nix::sys::signal::Signal::try_from(sig)?;
        // the pid of our own un-reaped child: it cannot be reused yet
        let pid = nix::unistd::Pid::from_raw(c.id() as libc::pid_t);
        nix::sys::signal::kill(pid, sig)?;
        Ok(())
    }

    /// Non-blocking: the exit status if the child has exited (it is reaped).
    pub fn try_wait(&mut self) -> io::Result<Option<std::process::ExitStatus>> {
        match self.inner.as_mut() {
            Some(c) => c.try_wait(),
            None => Ok(None),
        }
    }

    /// Send `sig`, wait up to `grace` for the exit, then SIGKILL and wait.
    /// Returns the exit status.
    pub fn stop(
        &mut self,
        sig: i32,
        grace: Duration,
    ) -> io::Result<Option<std::process::ExitStatus>> {
        self.signal(sig)?;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(st) = self.try_wait()? {
                self.inner = None;
                return Ok(Some(st));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill_wait()
    }

    /// SIGKILL and wait.
    pub fn kill_wait(&mut self) -> io::Result<Option<std::process::ExitStatus>> {
        match self.inner.take() {
            Some(mut c) => {
                let _ = c.kill();
                c.wait().map(Some)
            }
            None => Ok(None),
        }
    }

    /// Stop guarding: return the std child (the caller must wait on it).
    pub fn into_inner(mut self) -> Option<std::process::Child> {
        self.inner.take()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.kill_wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_unique_names() {
        assert_eq!(owner_pid("lab", "lab123-0"), Some(123));
        assert_eq!(owner_pid("lab", "lab123-7-lb1"), Some(123));
        assert_eq!(owner_pid("lab", "labx123-0"), None);
        assert_eq!(owner_pid("lab", "lab-0"), None);
        assert_eq!(owner_pid("lab", "lab123"), None);
        assert_eq!(owner_pid("lab", "lab123-x"), None);
        assert_eq!(owner_pid("lab", "other123-0"), None);
        let n = unique_name("pfx");
        assert_eq!(owner_pid("pfx", &n), Some(std::process::id()));
        assert_ne!(unique_name("pfx"), n);
    }

    #[test]
    fn addr_listing() {
        let l = "2: eth0    inet 10.0.2.4/24 scope global eth0\\       valid_lft forever\n\
                 2: eth0    inet 10.0.2.100/32 scope global eth0\n";
        assert!(addr_in_listing(l, "10.0.2.100"));
        assert!(addr_in_listing(l, "10.0.2.4"));
        assert!(!addr_in_listing(l, "10.0.2.10"));
        assert!(!addr_in_listing(l, "10.0.2"));
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn namespaces_veth_and_cleanup() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        cleanup_stale("cmnt").unwrap();
        let a = Netns::new("cmnt").unwrap();
        let b = Netns::new("cmnt").unwrap();
        veth_pair(&a, "v0", &b, "v1").unwrap();
        addr_add(&a, "v0", "10.77.0.1/24").unwrap();
        addr_add(&b, "v1", "10.77.0.2/24").unwrap();
        link_up(&a, "v0").unwrap();
        link_up(&b, "v1").unwrap();
        assert!(a.has_addr("10.77.0.1").unwrap());
        assert!(!b.has_addr("10.77.0.1").unwrap());
        let listener = b
            .run_in(|| std::net::TcpListener::bind("10.77.0.2:7777"))
            .unwrap()
            .unwrap();
        let ok = a
            .run_in(|| {
                wait_until(Duration::from_secs(5), || {
                    std::net::TcpStream::connect_timeout(
                        &"10.77.0.2:7777".parse().unwrap(),
                        Duration::from_millis(500),
                    )
                    .is_ok()
                })
            })
            .unwrap();
        assert!(ok, "TCP across the veth pair");
        drop(listener);
        // Not reachable from the root namespace's point of view: the
        // address exists only inside b.
        assert!(!b.exec(&["true"]).status().map(|s| !s.success()).unwrap());
        // A leftover of a "crashed" run: a name with a dead pid.
        let stale = "cmnt999999999-0";
        let _ = ip(&["netns", "add", stale]);
        let removed = cleanup_stale("cmnt").unwrap();
        assert!(removed.iter().any(|n| n == stale), "{removed:?}");
        assert!(list().unwrap().iter().any(|n| n == a.name()));
        let name = a.name().to_string();
        drop(a);
        assert!(!list().unwrap().contains(&name));
    }

    #[test]
    fn child_guard_reaps() {
        let mut c = Child::spawn(Command::new("sleep").arg("30")).unwrap();
        let pid = c.id().unwrap();
        assert!(pid_alive(pid));
        let st = c.stop(libc::SIGTERM, Duration::from_secs(5)).unwrap();
        assert!(st.is_some());
        assert!(!pid_alive(pid), "reaped, no zombie");
    }
}
