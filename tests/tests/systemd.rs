//! The systemd units, tested in a real systemd.
//!
//! Boots a minimal Debian bookworm with systemd as PID 1 in a
//! `systemd-nspawn` container (its own private network namespace: nothing
//! here touches the host's network), installs proxyd and vrrpd with
//! `deploy/install.sh` inside it, and drives the units with `systemctl` as
//! an operator would: start (Type=notify must reach READY), reload with a
//! good and a bad config, kill -9 and restart, stop and VIP removal, journal
//! priorities, uninstall.
//!
//! The root file system is built once with debootstrap and cached as a
//! tarball in /var/cache/proxyd-tests (rebuilt when missing, under a lock,
//! renamed into place atomically), then extracted fresh for every run.
//! Needs root and the Debian packages `systemd-container` and `debootstrap`
//! (installed by `.ci/run`).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const CACHE_DIR: &str = "/var/cache/proxyd-tests";
/// Bump the version when the package list changes.
const IMAGE: &str = "bookworm-systemd-v2.tar";
const PACKAGES: &str = "systemd,systemd-sysv,dbus,procps,iproute2,psmisc";
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// Line of `BROKEN_CFG` that holds the unknown keyword.
const BROKEN_LINE: usize = 19;

fn proxyd_cfg(extra_frontend: bool, broken: bool) -> String {
    // Debian's stock global section (chroot, user/group, stats socket):
    // exercises the unit's capabilities and runtime directories.
    let mut s = String::from(
        "global
    chroot /var/lib/haproxy
    stats socket /run/haproxy/admin.sock mode 660 level admin
    stats timeout 30s
    user haproxy
    group haproxy
    daemon

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

backend be
    balance roundrobin
    server b1 127.0.0.1:9001 check inter 500
    server b2 127.0.0.1:9002 check inter 500
",
    );
    // Nothing listens on 9002: b2 goes DOWN, a warning.
    if broken {
        s.push_str("    bogus_keyword_for_test on\n");
    }
    s.push_str(
        "
frontend fe
    bind 127.0.0.1:8080
    default_backend be
",
    );
    if extra_frontend {
        s.push_str(
            "
frontend fe2
    bind 127.0.0.1:8081
    default_backend be
",
        );
    }
    s
}

const VRRPD_CONF: &str = "global_defs {
    router_id systemd_test
    enable_script_security
    script_user root
}

vrrp_script chk_proxyd {
    script \"killall -0 proxyd\"
    interval 1
    weight 2
}

vrrp_instance VI_1 {
    state MASTER
    interface eth-vrrp
    virtual_router_id 51
    priority 101
    advert_int 1
    virtual_ipaddress {
        10.9.0.100/24
    }
    track_script {
        chk_proxyd
    }
}
";

/// A tiny TCP server for proxyd's backend: greets and closes.
const BACKEND: &str = r#"use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0],
    Listen => 128, ReuseAddr => 1) or die "listen: $!";
while (1) { my $c = $s->accept or next; print $c "$ARGV[1]\n"; close $c; }
"#;

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    Ok(out)
}

fn run_ok(cmd: &mut Command) -> Result<Output> {
    let out = run(cmd)?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}

/// The cached root file system tarball; built when missing.
fn image() -> Result<PathBuf> {
    fs::create_dir_all(CACHE_DIR).with_context(|| format!("creating {CACHE_DIR}"))?;
    let lock_path = Path::new(CACHE_DIR).join(".lock");
    let lock_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    // Concurrent runs: one builds, the others wait here, then find it.
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow!("locking {}: {e}", lock_path.display()))?;
    let image = Path::new(CACHE_DIR).join(IMAGE);
    if image.is_file() {
        return Ok(image);
    }
    // Leftovers of builds that crashed (we hold the lock: none is running).
    for entry in fs::read_dir(CACHE_DIR)?.flatten() {
        if entry.file_name().to_string_lossy().starts_with("build.") {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    let build = Path::new(CACHE_DIR).join(format!("build.{}", std::process::id()));
    fs::create_dir_all(&build)?;
    let rootfs = build.join("root");
    let mirror =
        std::env::var("PROXYD_TEST_DEBIAN_MIRROR").unwrap_or_else(|_| DEFAULT_MIRROR.into());
    eprintln!(
        "building {} with debootstrap (a few minutes, once)",
        image.display()
    );
    let out = run(Command::new("debootstrap")
        .arg("--variant=minbase")
        .arg(format!("--include={PACKAGES}"))
        .arg("bookworm")
        .arg(&rootfs)
        .arg(&mirror))
    .context("debootstrap (Debian package `debootstrap`)")?;
    if !out.status.success() {
        let log =
            fs::read_to_string(rootfs.join("debootstrap/debootstrap.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let _ = fs::remove_dir_all(&build);
        bail!(
            "debootstrap failed ({}):\n{}\n{}\n--- debootstrap.log (end) ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    // Not needed to boot and run the units; halves the image, and with it
    // the extraction and removal time of every run.
    for d in [
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
        "var/cache/apt",
        "var/lib/apt/lists",
    ] {
        let p = rootfs.join(d);
        if p.is_dir() {
            fs::remove_dir_all(&p).with_context(|| format!("slimming {}", p.display()))?;
            fs::create_dir_all(&p)?;
        }
    }
    let tmp_tar = build.join("image.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tmp_tar)
            .arg("."),
    )?;
    fs::rename(&tmp_tar, &image).context("moving the image into the cache")?;
    let _ = fs::remove_dir_all(&build);
    Ok(image)
}

/// Remove root directories of earlier runs whose process is gone.
fn remove_stale_roots(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("proxyd-systemd-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Where container roots go: /dev/shm when it is a roomy tmpfs (extracting
/// and removing a root there takes no disk I/O), else the temp dir.
fn work_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if let Ok(st) = nix::sys::statvfs::statvfs(shm) {
        let free = st.blocks_available().saturating_mul(st.fragment_size());
        if free >= 2 << 30 {
            return shm.to_path_buf();
        }
    }
    std::env::temp_dir()
}

/// Parent pid from /proc/PID/stat (the field after the parenthesised name).
fn ppid_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(1)?.parse().ok()
}

fn comm_of(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// A booted container. Dropping it kills it (by pid) and removes its root.
struct Container {
    nspawn: Child,
    leader: Option<u32>,
    dir: PathBuf,
    machine: String,
    console: PathBuf,
}

impl Container {
    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Extract the image into a fresh directory (not booted yet).
    fn prepare(image: &Path) -> Result<(PathBuf, String)> {
        let tmp = work_dir();
        remove_stale_roots(&tmp);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let machine = format!("proxyd-systemd-{}-{n}", std::process::id());
        let dir = tmp.join(&machine);
        let root = dir.join("root");
        fs::create_dir_all(&root)?;
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(&root)
                .arg("-xf")
                .arg(image),
        )?;
        Ok((dir, machine))
    }

    fn boot(dir: PathBuf, machine: String) -> Result<Container> {
        let console = dir.join("console.log");
        let log = fs::File::create(&console)?;
        let mut cmd = Command::new("systemd-nspawn");
        cmd.arg("-D")
            .arg(dir.join("root"))
            .arg("-M")
            .arg(&machine)
            .args([
                "-b",
                "--register=no",
                "--keep-unit",
                "--private-network",
                "--console=read-only",
            ])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("SYSTEMD_COLORS", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SAFETY: prctl is async-signal-safe; nothing else runs between
        // fork and exec. std's pre_exec is unsafe by nature; nix has no safe
        // equivalent. If this test process dies, nspawn gets SIGTERM and
        // powers the container off.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)?;
                Ok(())
            });
        }
        let nspawn = cmd
            .spawn()
            .context("starting systemd-nspawn (Debian package `systemd-container`)")?;
        let mut c = Container {
            nspawn,
            leader: None,
            dir,
            machine,
            console,
        };
        c.find_leader()?;
        c.wait_booted()?;
        Ok(c)
    }

    /// The container's PID 1: the child of nspawn that runs systemd.
    fn find_leader(&mut self) -> Result<()> {
        let nspawn = self.nspawn.id();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.nspawn.try_wait()? {
                bail!(
                    "systemd-nspawn exited early ({status}):\n{}",
                    self.console_tail()
                );
            }
            if let Ok(entries) = fs::read_dir("/proc") {
                for e in entries.flatten() {
                    let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                        continue;
                    };
                    if ppid_of(pid) == Some(nspawn) && comm_of(pid).as_deref() == Some("systemd") {
                        self.leader = Some(pid);
                        return Ok(());
                    }
                }
            }
            ensure!(
                Instant::now() < deadline,
                "no systemd under nspawn after 30 s:\n{}",
                self.console_tail()
            );
            sleep(Duration::from_millis(50));
        }
    }

    fn wait_booted(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let out = self.sh("systemctl is-system-running")?;
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if state == "running" || state == "degraded" {
                return Ok(());
            }
            if let Some(status) = self.nspawn.try_wait()? {
                bail!(
                    "container exited while booting ({status}):\n{}",
                    self.console_tail()
                );
            }
            ensure!(
                Instant::now() < deadline,
                "container not booted after 90 s (state {state:?}):\n{}",
                self.console_tail()
            );
            sleep(Duration::from_millis(200));
        }
    }

    fn console_tail(&self) -> String {
        let log = fs::read_to_string(&self.console).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Run a shell script inside the container (all its namespaces), with a
    /// clean environment and a time limit.
    fn sh(&self, script: &str) -> Result<Output> {
        let leader = self.leader.context("container has no leader")?;
        run(Command::new("nsenter")
            .arg("-t")
            .arg(leader.to_string())
            .arg("-a")
            .args([
                "/usr/bin/env",
                "-i",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8",
                "SYSTEMD_COLORS=0",
                "SYSTEMD_PAGER=",
                "timeout",
                "-k",
                "5",
                "120",
                "/bin/sh",
                "-c",
                script,
            ])
            .current_dir("/"))
    }

    /// Run a script that must succeed; returns its stdout.
    fn ok(&self, script: &str) -> Result<String> {
        let out = self.sh(script)?;
        ensure!(
            out.status.success(),
            "`{script}` failed in the container ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stdout of a script, trimmed, whatever its exit status.
    fn text(&self, script: &str) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.sh(script)?.stdout)
            .trim()
            .to_string())
    }

    /// Wait until `f` returns Some, polling every 100 ms.
    fn wait_for<T>(
        &self,
        what: &str,
        secs: u64,
        mut f: impl FnMut(&Self) -> Result<Option<T>>,
    ) -> Result<T> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f(self)? {
                return Ok(v);
            }
            ensure!(
                Instant::now() < deadline,
                "timed out after {secs} s waiting for {what}"
            );
            sleep(Duration::from_millis(100));
        }
    }

    fn write(&self, path: &str, content: &str) -> Result<()> {
        let p = self.root().join(path.trim_start_matches('/'));
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut f = fs::File::create(&p).with_context(|| format!("writing {}", p.display()))?;
        f.write_all(content.as_bytes())?;
        Ok(())
    }

    fn main_pid(&self, unit: &str) -> Result<u32> {
        let s = self.text(&format!("systemctl show -p MainPID --value {unit}"))?;
        s.parse()
            .with_context(|| format!("MainPID of {unit}: {s:?}"))
    }

    fn is_active(&self, unit: &str) -> Result<String> {
        self.text(&format!("systemctl is-active {unit}"))
    }

    /// Connect to 127.0.0.1:PORT inside the container, return what it says.
    fn fetch(&self, port: u16) -> Result<String> {
        self.text(&format!(
            "timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port} && cat <&3' 2>/dev/null"
        ))
    }

    fn journal(&self, args: &str) -> Result<String> {
        self.text(&format!("journalctl --no-pager -o cat {args}"))
    }

    /// Power off and wait for nspawn to exit.
    fn poweroff(&mut self) -> Result<ExitStatus> {
        let _ = self.sh("systemctl poweroff --no-block");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.nspawn.try_wait()? {
                self.leader = None;
                return Ok(status);
            }
            ensure!(
                Instant::now() < deadline,
                "container did not power off in 60 s"
            );
            sleep(Duration::from_millis(100));
        }
    }

    fn diagnostics(&self) -> String {
        let journal = match self.sh("journalctl --no-pager -b -n 120 -o short-monotonic -u proxyd -u vrrpd -u backend1 2>&1") {
            Ok(out) => format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => format!("{e:#}"),
        };
        format!(
            "--- container journal (proxyd, vrrpd, backend1) ---\n{journal}\n--- console (end) ---\n{}",
            self.console_tail()
        )
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.nspawn.try_wait().ok().flatten().is_none() {
            // Killing the container's PID 1 ends its whole PID namespace;
            // nspawn then exits by itself.
            if let Some(leader) = self.leader {
                if let Ok(pid) = i32::try_from(leader) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.nspawn.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                sleep(Duration::from_millis(50));
            }
            let _ = self.nspawn.kill();
            let _ = self.nspawn.wait();
        }
        for d in [
            "/run/systemd/nspawn/propagate",
            "/run/systemd/nspawn/unix-export",
        ] {
            let _ = fs::remove_dir_all(Path::new(d).join(&self.machine));
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// proxyd and vrrpd built next to this test: target/<profile>/.
fn bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable has no grandparent directory")?
        .to_path_buf();
    for b in ["proxyd", "vrrpd"] {
        ensure!(
            dir.join(b).is_file(),
            "{} missing: run `cargo build --workspace --bins` first",
            dir.join(b).display()
        );
    }
    Ok(dir)
}

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Copy the installer, units, docs and binaries to /root/src in the root.
fn stage_sources(root: &Path, bins: &Path) -> Result<()> {
    let repo = repo_dir();
    let src = root.join("root/src");
    fs::create_dir_all(src.join("target/debug"))?;
    for d in ["deploy", "systemd", "docs"] {
        if repo.join(d).is_dir() {
            run_ok(Command::new("cp").arg("-a").arg(repo.join(d)).arg(&src))?;
        }
    }
    for b in ["proxyd", "vrrpd"] {
        let to = src.join("target/debug").join(b);
        // Debug binaries are large: a hard link costs no I/O (same file
        // system as the temp dir here); copy otherwise.
        if fs::hard_link(bins.join(b), &to).is_err() {
            fs::copy(bins.join(b), &to).with_context(|| format!("copying {b}"))?;
            fs::set_permissions(&to, fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(())
}

#[test]
fn units_in_a_real_systemd() {
    let t0 = Instant::now();
    let phase = |what: &str| eprintln!("[{:6.1} s] {what}", t0.elapsed().as_secs_f64());
    let image = image().expect("building the cached Debian image");
    let bins = bin_dir().expect("finding proxyd and vrrpd");
    phase("image ready; extracting");
    let (dir, machine) = Container::prepare(&image).expect("extracting the image");
    let root = dir.join("root");
    if let Err(e) = stage_sources(&root, &bins) {
        let _ = fs::remove_dir_all(&dir);
        panic!("staging sources: {e:#}");
    }
    phase("booting");
    let mut c = match Container::boot(dir.clone(), machine) {
        Ok(c) => c,
        Err(e) => {
            let _ = fs::remove_dir_all(&dir);
            panic!("booting the container: {e:#}");
        }
    };
    phase("booted; scenario");
    if let Err(e) = scenario(&c) {
        let diag = c.diagnostics();
        panic!("{e:#}\n{diag}");
    }
    let status = c.poweroff().expect("powering the container off");
    phase(&format!("powered off ({status}); removing the root"));
    drop(c);
    phase("done");
}

fn scenario(c: &Container) -> Result<()> {
    let t0 = Instant::now();
    let step = |what: &str| eprintln!("[{:6.1} s] {what}", t0.elapsed().as_secs_f64());
    // --- install (twice: idempotent) ------------------------------------
    step("install (twice: idempotent)");
    let out = c.ok("/root/src/deploy/install.sh 2>&1")?;
    eprintln!("{out}");
    c.ok("/root/src/deploy/install.sh >/dev/null 2>&1")
        .context("second install.sh run")?;
    for f in [
        "/usr/local/sbin/proxyd",
        "/usr/local/sbin/vrrpd",
        "/etc/systemd/system/proxyd.service",
        "/etc/systemd/system/vrrpd.service",
        "/etc/haproxy/haproxy.cfg",
        "/etc/keepalived/keepalived.conf",
    ] {
        c.ok(&format!("test -e {f}"))
            .with_context(|| format!("{f} not installed"))?;
    }
    // The example configs it installed load (vrrpd: exit 6 is keepalived's
    // "valid, but scripts without enable_script_security").
    c.ok("proxyd -c -f /etc/haproxy/haproxy.cfg 2>&1")
        .context("the installed example haproxy.cfg")?;
    c.ok("vrrpd -t -f /etc/keepalived/keepalived.conf 2>&1 || [ $? -eq 6 ]")
        .context("the installed example keepalived.conf")?;
    // The Debian packages are not installed here: the aliases stay.
    c.ok("grep -qx 'Alias=haproxy.service' /etc/systemd/system/proxyd.service")?;

    // --root/--prefix, and the alias conflict with a Debian package's unit.
    c.ok("set -e; r=$(mktemp -d); mkdir -p $r/lib/systemd/system $r/etc; \
          cp /etc/passwd /etc/group /etc/shadow /etc/gshadow $r/etc/; \
          printf '[Service]\\nExecStart=/usr/sbin/haproxy\\n' > $r/lib/systemd/system/haproxy.service; \
          mkdir $r/bin; cp /bin/true $r/bin/proxyd; cp /bin/true $r/bin/vrrpd; \
          /root/src/deploy/install.sh --root $r --prefix /usr --bin-dir $r/bin >/dev/null; \
          u=$r/lib/systemd/system; test -x $r/usr/sbin/proxyd; \
          grep -q '^ExecStart=/usr/sbin/proxyd ' $u/proxyd.service; \
          ! grep -q '^Alias=haproxy.service' $u/proxyd.service; \
          grep -q '^Alias=keepalived.service' $u/vrrpd.service; \
          /root/src/deploy/uninstall.sh --root $r --prefix /usr >/dev/null; \
          test ! -e $u/proxyd.service; test ! -e $r/usr/sbin/vrrpd; test -f $u/haproxy.service; \
          rm -rf $r")
        .context("install.sh --root --prefix /usr with a foreign haproxy.service")?;

    // --- systemd-analyze verify prints nothing ----------------------------
    step("systemd-analyze verify prints nothing");
    let out = c.sh(
        "systemd-analyze verify /etc/systemd/system/proxyd.service /etc/systemd/system/vrrpd.service 2>&1",
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify ({}):\n{text}",
        out.status
    );

    // --- the test"s own configs, network and backend ----------------------
    step("the test's own configs, network and backend");
    c.write("/etc/haproxy/haproxy.cfg", &proxyd_cfg(false, false))?;
    c.write("/etc/keepalived/keepalived.conf", VRRPD_CONF)?;
    c.write("/root/backend.pl", BACKEND)?;
    // A dummy interface (a veth pair where the kernel has no dummy driver),
    // inside the container's private network namespace only.
    c.ok("(ip link add eth-vrrp type dummy 2>/dev/null || \
          (ip link add eth-vrrp type veth peer name eth-vrrp-peer && ip link set eth-vrrp-peer up)) && \
          ip link set eth-vrrp up && ip addr add 10.9.0.1/24 dev eth-vrrp")?;
    c.ok("systemd-run --unit=backend1 perl /root/backend.pl 9001 hello-from-b1")?;
    c.wait_for("the test backend", 20, |c| {
        Ok((c.fetch(9001)? == "hello-from-b1").then_some(()))
    })?;

    // --- start: Type=notify reaches READY ---------------------------------
    step("start: Type=notify reaches READY");
    c.ok("systemctl enable proxyd vrrpd 2>&1")?;
    ensure!(
        c.text("systemctl show -p Id --value haproxy.service")? == "proxyd.service",
        "Alias=haproxy.service does not resolve to proxyd.service"
    );
    ensure!(
        c.text("systemctl show -p Id --value keepalived.service")? == "vrrpd.service",
        "Alias=keepalived.service does not resolve to vrrpd.service"
    );
    c.ok("systemctl start proxyd 2>&1")
        .context("systemctl start proxyd")?;
    c.ok("systemctl start vrrpd 2>&1")
        .context("systemctl start vrrpd")?;
    for unit in ["proxyd", "vrrpd"] {
        let state = c.is_active(unit)?;
        ensure!(state == "active", "{unit} is {state}, not active");
    }
    c.wait_for("proxyd forwarding 8080 -> backend", 20, |c| {
        Ok((c.fetch(8080)? == "hello-from-b1").then_some(()))
    })?;

    // --- reload with a changed config: applied, same process --------------
    step("reload with a changed config: applied, same process");
    let pid = c.main_pid("proxyd")?;
    ensure!(pid != 0, "proxyd has no MainPID");
    c.write("/etc/haproxy/haproxy.cfg", &proxyd_cfg(true, false))?;
    c.ok("systemctl reload proxyd 2>&1")
        .context("systemctl reload proxyd (good config)")?;
    c.wait_for("the new frontend on 8081 after reload", 20, |c| {
        Ok((c.fetch(8081)? == "hello-from-b1").then_some(()))
    })?;
    ensure!(
        c.main_pid("proxyd")? == pid,
        "reload replaced proxyd's process"
    );
    c.wait_for("proxyd active after reload", 20, |c| {
        Ok((c.is_active("proxyd")? == "active").then_some(()))
    })?;

    // --- reload with a broken config: refused, old config keeps serving ---
    step("reload with a broken config: refused, old config keeps serving");
    let broken = proxyd_cfg(true, true);
    ensure!(
        broken.lines().nth(BROKEN_LINE - 1) == Some("    bogus_keyword_for_test on"),
        "BROKEN_LINE is out of date"
    );
    c.write("/etc/haproxy/haproxy.cfg", &broken)?;
    let out = c.sh("systemctl reload proxyd 2>&1")?;
    ensure!(
        !out.status.success(),
        "systemctl reload accepted a broken config"
    );
    let needle = format!("haproxy.cfg:{BROKEN_LINE}");
    let count = |c: &Container| -> Result<usize> {
        Ok(c.journal("-u proxyd")?
            .lines()
            .filter(|l| l.contains(&needle) && l.contains("bogus_keyword_for_test"))
            .count())
    };
    let seen = c.wait_for(
        "the config error (file:line) in journalctl -u proxyd",
        20,
        |c| {
            let n = count(c)?;
            Ok((n > 0).then_some(n))
        },
    )?;
    ensure!(
        c.is_active("proxyd")? == "active",
        "proxyd not active after a refused reload"
    );
    ensure!(
        c.main_pid("proxyd")? == pid,
        "a refused reload replaced proxyd's process"
    );
    ensure!(
        c.fetch(8081)? == "hello-from-b1",
        "old config not serving after a refused reload"
    );
    // The same through proxyd's own in-process check (SIGHUP directly).
    c.ok(&format!("kill -HUP {pid}"))?;
    c.wait_for("proxyd's own reload error in the journal", 20, |c| {
        Ok((count(c)? > seen).then_some(()))
    })?;
    ensure!(
        c.main_pid("proxyd")? == pid,
        "SIGHUP with a bad config replaced proxyd"
    );
    ensure!(
        c.fetch(8081)? == "hello-from-b1",
        "old config not serving after a bad SIGHUP"
    );
    ensure!(
        c.fetch(8080)? == "hello-from-b1",
        "old config not serving after a bad SIGHUP"
    );
    c.write("/etc/haproxy/haproxy.cfg", &proxyd_cfg(true, false))?;

    // --- journal priorities -------------------------------------------------
    step("journal priorities");
    // b2 (nothing on 9002) goes DOWN: a warning. The config check's
    // "Configuration file is valid" (stdout, info) must not pass -p warning.
    let warnings = c.wait_for("b2 DOWN in journalctl -p warning -u proxyd", 20, |c| {
        let w = c.journal("-p warning -u proxyd")?;
        Ok(w.contains("be/b2 is DOWN").then_some(w))
    })?;
    let all = c.journal("-u proxyd")?;
    ensure!(
        all.contains("Configuration file is valid"),
        "the config check's output is missing from the journal:\n{all}"
    );
    ensure!(
        all.contains("Proxy fe started."),
        "proxyd's notice line is missing from the journal:\n{all}"
    );
    for info in ["Configuration file is valid", "Proxy fe started."] {
        ensure!(
            !warnings.contains(info),
            "`{info}` (info/notice) passes `journalctl -p warning`:\n{warnings}"
        );
    }

    // --- kill -9: restarted with a new MainPID ------------------------------
    step("kill -9: restarted with a new MainPID");
    let pid = c.main_pid("proxyd")?;
    c.ok(&format!("kill -9 {pid}"))?;
    let new = c.wait_for("proxyd restarted after kill -9", 30, |c| {
        let p = c.main_pid("proxyd")?;
        Ok((p != 0 && p != pid && c.is_active("proxyd")? == "active").then_some(p))
    })?;
    ensure!(new != pid);
    c.wait_for("proxyd serving after its restart", 20, |c| {
        Ok((c.fetch(8081)? == "hello-from-b1").then_some(()))
    })?;

    // --- vrrpd: MASTER, VIP, reload, stop removes the VIP -------------------
    step("vrrpd: MASTER, VIP, reload, stop removes the VIP");
    c.wait_for("`Entering MASTER STATE` in journalctl -u vrrpd", 30, |c| {
        Ok(c.journal("-u vrrpd")?
            .contains("(VI_1) Entering MASTER STATE")
            .then_some(()))
    })?;
    let has_vip = |c: &Container| -> Result<bool> {
        Ok(c.text("ip -o addr show dev eth-vrrp")?
            .contains("10.9.0.100/"))
    };
    c.wait_for("the VIP on eth-vrrp", 20, |c| Ok(has_vip(c)?.then_some(())))?;
    let vpid = c.main_pid("vrrpd")?;
    c.ok("systemctl reload vrrpd 2>&1")
        .context("systemctl reload vrrpd")?;
    ensure!(
        c.main_pid("vrrpd")? == vpid,
        "reload replaced vrrpd's process"
    );
    ensure!(
        has_vip(c)?,
        "the VIP left after a reload with the same config"
    );
    // SIGUSR1's dump lands in the unit's private /tmp, readable through
    // /proc/MAINPID/root (docs/systemd.md).
    c.ok("systemctl kill -s USR1 --kill-who=main vrrpd")?;
    c.wait_for("vrrpd.data in vrrpd's private /tmp", 20, |c| {
        let dump = c.text(&format!("cat /proc/{vpid}/root/tmp/vrrpd.data 2>/dev/null"))?;
        Ok(dump.contains("VI_1").then_some(()))
    })?;
    ensure!(
        c.sh("test -e /tmp/vrrpd.data")?.status.code() == Some(1),
        "vrrpd.data is in the shared /tmp, not the unit's private one"
    );
    // A broken file: the reload is refused, the error (file, line) shows.
    c.write(
        "/etc/keepalived/keepalived.conf",
        &VRRPD_CONF.replace(
            "    advert_int 1\n",
            "    advert_int 1\n    bogus_vrrp_keyword 1\n",
        ),
    )?;
    let out = c.sh("systemctl reload vrrpd 2>&1")?;
    ensure!(
        !out.status.success(),
        "systemctl reload vrrpd accepted a broken config"
    );
    c.wait_for("the vrrpd config error in journalctl -u vrrpd", 20, |c| {
        Ok(c.journal("-u vrrpd")?
            .lines()
            .any(|l| l.contains("keepalived.conf: Line 19") && l.contains("bogus_vrrp_keyword"))
            .then_some(()))
    })?;
    ensure!(
        c.is_active("vrrpd")? == "active",
        "vrrpd not active after a refused reload"
    );
    ensure!(
        c.main_pid("vrrpd")? == vpid,
        "a refused reload replaced vrrpd's process"
    );
    ensure!(has_vip(c)?, "the VIP left after a refused reload");
    c.write("/etc/keepalived/keepalived.conf", VRRPD_CONF)?;
    c.ok("systemctl stop vrrpd 2>&1")?;
    let state = c.is_active("vrrpd")?;
    ensure!(
        state == "inactive",
        "vrrpd is {state} after stop, not inactive"
    );
    ensure!(
        !has_vip(c)?,
        "the VIP is still on eth-vrrp after systemctl stop vrrpd"
    );

    // --- proxyd stops cleanly ------------------------------------------------
    step("proxyd stops cleanly");
    c.ok("systemctl stop proxyd 2>&1")?;
    let state = c.is_active("proxyd")?;
    ensure!(
        state == "inactive",
        "proxyd is {state} after stop, not inactive"
    );

    // --- a broken config fails the start, with file:line -----------------
    step("a broken config fails the start");
    c.write("/etc/haproxy/haproxy.cfg", &proxyd_cfg(true, true))?;
    let before = count(c)?;
    let out = c.sh("systemctl start proxyd 2>&1")?;
    ensure!(
        !out.status.success(),
        "systemctl start accepted a broken config"
    );
    c.wait_for(
        "the start's config error in journalctl -u proxyd",
        20,
        |c| Ok((count(c)? > before).then_some(())),
    )?;
    // Stop the restart attempts (Restart=on-failure), then clean up.
    c.ok("systemctl stop proxyd; systemctl reset-failed proxyd")?;
    c.write("/etc/haproxy/haproxy.cfg", &proxyd_cfg(true, false))?;

    // --- uninstall (twice: idempotent) ---------------------------------------
    step("uninstall (twice: idempotent)");
    c.ok("/root/src/deploy/uninstall.sh 2>&1")?;
    c.ok("/root/src/deploy/uninstall.sh >/dev/null 2>&1")
        .context("second uninstall.sh run")?;
    for f in [
        "/usr/local/sbin/proxyd",
        "/usr/local/sbin/vrrpd",
        "/etc/systemd/system/proxyd.service",
        "/etc/systemd/system/vrrpd.service",
        "/etc/systemd/system/haproxy.service",
        "/etc/systemd/system/multi-user.target.wants/proxyd.service",
    ] {
        c.ok(&format!("! test -e {f} && ! test -L {f}"))
            .with_context(|| format!("{f} left by uninstall.sh"))?;
    }
    c.ok("test -f /etc/haproxy/haproxy.cfg")
        .context("uninstall.sh removed a config")?;
    ensure!(
        c.text("systemctl show -p LoadState --value proxyd")? == "not-found",
        "proxyd.service still known to systemd after uninstall"
    );
    step("scenario done");
    Ok(())
}
