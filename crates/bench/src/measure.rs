//! The measurements: wrk keep-alive and close runs, a bulk transfer, and the
//! memory held by idle proxied connections.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::ns::{wait_port, BenchNs, Daemon};
use crate::report::{median, Report, Row};
use crate::ProxyOpts;

const BACKEND_PORT: u16 = 8080;
const PROXY_PORT: u16 = 8000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Direct,
    Haproxy,
    Proxyd,
    /// A second proxyd build (`--alt`), for before/after comparisons.
    Alt,
}

impl Impl {
    pub fn label(self) -> &'static str {
        match self {
            Impl::Direct => "direct (nginx)",
            Impl::Haproxy => "HAProxy",
            Impl::Proxyd => "proxyd",
            Impl::Alt => "proxyd (alt)",
        }
    }
}

/// One implementation's figures for one repetition.
#[derive(Debug, Default, Clone)]
pub struct Sample {
    pub ka_rps: Option<f64>,
    pub ka_p50_ms: Option<f64>,
    pub ka_p99_ms: Option<f64>,
    pub cpu_s_per_100k: Option<f64>,
    pub close_rps: Option<f64>,
    pub close_p99_ms: Option<f64>,
    pub close_cpu_s_per_100k: Option<f64>,
    pub bulk_mbps: Option<f64>,
    pub bulk_cpu_s_per_gib: Option<f64>,
    /// wrk socket errors and non-2xx/3xx responses, both runs together.
    pub errors: Option<f64>,
    /// Backend (nginx) CPU share of one core during the keep-alive run.
    pub backend_cpu: Option<f64>,
    pub idle_rss_mib: Option<f64>,
}

/// Raise the soft open-file limit to the hard one; children (nginx,
/// proxies, wrk) inherit it. Returns the limit in force.
pub fn raise_nofile() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    hard
}

pub fn run_proxy_bench(opts: ProxyOpts) -> Result<()> {
    if !nix_is_root() {
        bail!("run as root (network namespaces)");
    }
    for tool in ["wrk", "curl", "nginx"] {
        if which(tool).is_none() {
            bail!("{tool} not found: apt-get install wrk curl nginx-light");
        }
    }
    if !opts.haproxy.exists() {
        bail!(
            "{} not found: apt-get install haproxy",
            opts.haproxy.display()
        );
    }
    let proxyd = match &opts.proxyd {
        Some(p) => p.clone(),
        None => crate::sibling_binary("proxyd")?,
    };
    let nofile = raise_nofile();
    // Each idle proxied connection costs the proxy two descriptors.
    let max_idle = (nofile.saturating_sub(300) / 2) as usize;
    let mut opts = opts;
    if opts.idle > max_idle {
        eprintln!(
            "bench: open-file limit is {nofile} (hard); holding {max_idle} idle connections instead of {}",
            opts.idle
        );
        opts.idle = max_idle;
    }
    let only: Vec<&str> = opts.only.split(',').map(str::trim).collect();
    let want = |m: &str| only.contains(&m);

    let dir = PathBuf::from(format!("/tmp/pxbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = DirGuard(dir.clone());
    let ns = BenchNs::create()?;
    write_backend_files(&dir, opts.bulk_mib)?;
    let mut nginx = start_nginx(&ns, &dir)?;
    wait_port(&ns, BACKEND_PORT, "nginx", &mut nginx)?;
    // maxconn leaves HAProxy room under the limit (it wants 2 x maxconn + ~20).
    let cfg = write_proxy_cfg(&dir, opts.idle + 50)?;

    let mut samples: Vec<(Impl, Sample)> = Vec::new();
    let nginx_pid = nginx.pid();
    for rep in 0..opts.reps {
        // direct-to-nginx is measured every repetition too, in the rotation
        let mut order = vec![Impl::Direct, Impl::Haproxy, Impl::Proxyd];
        if opts.alt.is_some() {
            order.push(Impl::Alt);
        }
        // rotate so that every implementation takes every position in turn
        let k = rep % order.len();
        order.rotate_left(k);
        for imp in order {
            eprintln!(
                "bench: repetition {}/{}: {}",
                rep + 1,
                opts.reps,
                imp.label()
            );
            if imp == Impl::Direct {
                let s = measure_one(&ns, &opts, imp, None, nginx_pid, &want)?;
                eprintln!("bench:   {s:?}");
                samples.push((imp, s));
                continue;
            }
            let mut d = match (imp, &opts.alt) {
                (Impl::Haproxy, _) => start_proxy(&ns, &opts.haproxy, &cfg, "haproxy")?,
                (Impl::Alt, Some(alt)) => start_proxy(&ns, alt, &cfg, "proxyd-alt")?,
                _ => start_proxy(&ns, &proxyd, &cfg, "proxyd")?,
            };
            if let Err(e) = wait_port(&ns, PROXY_PORT, imp.label(), &mut d) {
                let log = std::fs::read_to_string(dir.join(format!("proxy.{}.log", d.name)))
                    .unwrap_or_default();
                bail!("{e:#}\n{log}");
            }
            let s = measure_one(&ns, &opts, imp, Some(&d), nginx_pid, &want)?;
            eprintln!("bench:   {s:?}");
            d.stop();
            samples.push((imp, s));
        }
    }
    drop(nginx);

    let report = build_report(&opts, &samples);
    let text = report.markdown();
    println!("{text}");
    if let Some(out) = &opts.out {
        let doc = format!(
            "{}\n{text}",
            crate::report::provenance(&machine_description(), &command_line())
        );
        std::fs::write(out, doc).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("bench: report written to {}", out.display());
    }
    Ok(())
}

struct DirGuard(PathBuf);
impl Drop for DirGuard {
    fn drop(&mut self) {
        if std::env::var_os("BENCH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn nix_is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.exists())
    })
}

fn write_backend_files(dir: &Path, bulk_mib: u64) -> Result<()> {
    let www = dir.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("index.html"), "Hello from web server 1\n")?;
    let f = std::fs::File::create(www.join("bulk.bin"))?;
    f.set_len(bulk_mib * 1024 * 1024)?;
    let conf = format!(
        "worker_processes 1;\n\
         worker_rlimit_nofile 20000;\n\
         pid {dir}/nginx.pid;\n\
         error_log {dir}/nginx-error.log;\n\
         events {{ worker_connections 19000; multi_accept on; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n  keepalive_timeout 300s;\n\
           client_body_temp_path {dir}/tmp;\n  proxy_temp_path {dir}/tmp;\n  fastcgi_temp_path {dir}/tmp;\n  uwsgi_temp_path {dir}/tmp;\n  scgi_temp_path {dir}/tmp;\n\
           server {{ listen 127.0.0.1:{BACKEND_PORT} backlog=8192; root {www}; }}\n}}\n",
        dir = dir.display(),
        www = www.display()
    );
    std::fs::create_dir_all(dir.join("tmp"))?;
    std::fs::write(dir.join("nginx.conf"), conf)?;
    Ok(())
}

fn start_nginx(ns: &BenchNs, dir: &Path) -> Result<Daemon> {
    let conf = dir.join("nginx.conf");
    let child = ns
        .cmd(&[
            "nginx",
            "-c",
            &conf.to_string_lossy(),
            "-p",
            &dir.to_string_lossy(),
            "-g",
            "daemon off; master_process off;",
        ])
        .stdin(Stdio::null())
        .spawn()
        .context("starting nginx")?;
    Ok(Daemon {
        name: "nginx",
        child,
    })
}

/// The same haproxy.cfg for both proxies: tcp mode, one backend server.
fn write_proxy_cfg(dir: &Path, maxconn: usize) -> Result<PathBuf> {
    let cfg = format!(
        "global\n    maxconn {maxconn}\n\n\
         defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 300s\n    timeout server 300s\n\n\
         frontend bench\n    bind 127.0.0.1:{PROXY_PORT} backlog 8192\n    default_backend nginx\n\n\
         backend nginx\n    balance roundrobin\n    server n1 127.0.0.1:{BACKEND_PORT}\n"
    );
    let p = dir.join("proxy.cfg");
    std::fs::write(&p, cfg)?;
    Ok(p)
}

fn start_proxy(ns: &BenchNs, bin: &Path, cfg: &Path, name: &'static str) -> Result<Daemon> {
    let child = ns
        .cmd(&[&bin.to_string_lossy(), "-f", &cfg.to_string_lossy()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(
            cfg.with_extension(format!("{name}.log")),
        )?)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(Daemon { name, child })
}

fn measure_one(
    ns: &BenchNs,
    opts: &ProxyOpts,
    imp: Impl,
    d: Option<&Daemon>,
    backend_pid: i32,
    want: &dyn Fn(&str) -> bool,
) -> Result<Sample> {
    let port = if imp == Impl::Direct {
        BACKEND_PORT
    } else {
        PROXY_PORT
    };
    let url = format!("http://127.0.0.1:{port}/index.html");
    let mut s = Sample::default();
    let pid = d.map(Daemon::pid);
    let mut errors = None;
    if want("keepalive") {
        let cpu0 = pid.map(cpu_seconds).transpose()?;
        let b0 = cpu_seconds(backend_pid)?;
        let t0 = Instant::now();
        let w = wrk(ns, opts, &url, false)?;
        let b1 = cpu_seconds(backend_pid)?;
        let cpu1 = pid.map(cpu_seconds).transpose()?;
        s.backend_cpu = Some((b1 - b0) / t0.elapsed().as_secs_f64());
        s.ka_rps = Some(w.rps);
        s.ka_p50_ms = w.p50_ms;
        s.ka_p99_ms = w.p99_ms;
        s.cpu_s_per_100k = per_100k(cpu0, cpu1, w.requests);
        errors = Some(w.errors as f64);
    }
    if want("close") {
        let cpu0 = pid.map(cpu_seconds).transpose()?;
        let w = wrk(ns, opts, &url, true)?;
        let cpu1 = pid.map(cpu_seconds).transpose()?;
        s.close_rps = Some(w.rps);
        s.close_p99_ms = w.p99_ms;
        s.close_cpu_s_per_100k = per_100k(cpu0, cpu1, w.requests);
        errors = Some(errors.unwrap_or(0.0) + w.errors as f64);
    }
    s.errors = errors;
    if want("bulk") {
        let cpu0 = pid.map(cpu_seconds).transpose()?;
        let (mbps, bytes) = bulk(ns, port)?;
        let cpu1 = pid.map(cpu_seconds).transpose()?;
        s.bulk_mbps = Some(mbps);
        if let (Some(a), Some(b)) = (cpu0, cpu1) {
            s.bulk_cpu_s_per_gib = Some((b - a) / (bytes / (1024.0 * 1024.0 * 1024.0)));
        }
    }
    if want("idle") {
        if let Some(pid) = pid {
            s.idle_rss_mib = Some(idle_rss(ns, port, opts.idle, pid)?);
        }
    }
    Ok(s)
}

fn per_100k(cpu0: Option<f64>, cpu1: Option<f64>, requests: u64) -> Option<f64> {
    match (cpu0, cpu1) {
        (Some(a), Some(b)) if requests > 0 => Some((b - a) / requests as f64 * 100_000.0),
        _ => None,
    }
}

struct WrkResult {
    rps: f64,
    requests: u64,
    /// Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses.
    errors: u64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

fn wrk(ns: &BenchNs, opts: &ProxyOpts, url: &str, close: bool) -> Result<WrkResult> {
    let t = format!("-t{}", opts.threads);
    let c = format!("-c{}", opts.conns);
    let dur = format!("-d{}s", opts.duration);
    let mut argv = vec!["wrk", &t, &c, &dur, "--latency"];
    if close {
        argv.extend(["-H", "Connection: close"]);
    }
    argv.push(url);
    let out = ns.run(&argv)?;
    parse_wrk(&out).with_context(|| format!("parsing wrk output:\n{out}"))
}

fn parse_wrk(out: &str) -> Result<WrkResult> {
    let mut rps = None;
    let mut requests = 0;
    let mut p50 = None;
    let mut p99 = None;
    for line in out.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if l.contains("requests in") {
            requests = l
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        } else if let Some(v) = l.strip_prefix("50%") {
            p50 = parse_duration_ms(v.trim());
        } else if let Some(v) = l.strip_prefix("99%") {
            p99 = parse_duration_ms(v.trim());
        }
    }
    let Some(rps) = rps else {
        bail!("no Requests/sec line")
    };
    let errors = wrk_errors(out);
    if errors > 0 {
        eprintln!("bench: wrk reported {errors} errors:\n{out}");
    }
    Ok(WrkResult {
        rps,
        requests,
        errors,
        p50_ms: p50,
        p99_ms: p99,
    })
}

/// `Socket errors: connect 0, read 3, write 0, timeout 1` and
/// `Non-2xx or 3xx responses: 5`, summed.
fn wrk_errors(out: &str) -> u64 {
    let mut total = 0;
    for line in out.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("Socket errors:") {
            for part in v.split(',') {
                total += part
                    .split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        } else if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
            total += v.trim().parse::<u64>().unwrap_or(0);
        }
    }
    total
}

/// wrk prints `635.91us`, `1.23ms`, `2.00s`.
pub fn parse_duration_ms(v: &str) -> Option<f64> {
    let (num, mul) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|x| x * mul)
}

/// Download the bulk object once; (MB/s, bytes).
fn bulk(ns: &BenchNs, port: u16) -> Result<(f64, f64)> {
    let url = format!("http://127.0.0.1:{port}/bulk.bin");
    let out = ns.run(&[
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{speed_download} %{size_download}",
        &url,
    ])?;
    let mut it = out.split_whitespace();
    let speed: f64 = it
        .next()
        .and_then(|v| v.parse().ok())
        .context("curl speed")?;
    let size: f64 = it
        .next()
        .and_then(|v| v.parse().ok())
        .context("curl size")?;
    if size < 1.0 {
        bail!("bulk transfer moved nothing");
    }
    Ok((speed / 1_000_000.0, size))
}

/// utime + stime of a process (all threads), in seconds.
fn cpu_seconds(pid: i32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("stat format")?;
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields after the comm: state is index 0, utime 11, stime 12.
    let ut: f64 = f.get(11).and_then(|v| v.parse().ok()).context("utime")?;
    let st: f64 = f.get(12).and_then(|v| v.parse().ok()).context("stime")?;
    use nix::unistd::{sysconf, SysconfVar};
    let hz = match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(hz)) if hz > 0 => hz as f64,
        _ => 100.0,
    };
    Ok((ut + st) / hz)
}

fn rss_mib(pid: i32) -> Result<f64> {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for l in st.lines() {
        if let Some(v) = l.strip_prefix("VmRSS:") {
            let kb: f64 = v
                .split_whitespace()
                .next()
                .and_then(|x| x.parse().ok())
                .context("VmRSS")?;
            return Ok(kb / 1024.0);
        }
    }
    bail!("no VmRSS")
}

fn idle_rss(ns: &BenchNs, port: u16, n: usize, pid: i32) -> Result<f64> {
    let me = std::env::current_exe()?;
    let mut child = ns
        .cmd(&[
            &me.to_string_lossy(),
            "hold",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--n",
            &n.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("hold stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    if line.trim() != "ready" {
        let _ = child.kill();
        let _ = child.wait();
        bail!("hold helper failed: {line}");
    }
    // Let the proxy finish connecting every session to the backend.
    std::thread::sleep(Duration::from_millis(500));
    let rss = rss_mib(pid);
    drop(child.stdin.take());
    let _ = child.wait();
    rss
}

/// Internal: open `n` connections, then wait for stdin to close.
pub fn hold(addr: &str, n: usize) -> Result<()> {
    raise_nofile();
    let mut conns = Vec::with_capacity(n);
    let deadline = Instant::now() + Duration::from_secs(60);
    while conns.len() < n {
        match std::net::TcpStream::connect(addr) {
            Ok(c) => conns.push(c),
            Err(e) if Instant::now() < deadline => {
                eprintln!("hold: connect: {e}; retrying");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e).context("hold: connect"),
        }
    }
    println!("ready");
    std::io::stdout().flush()?;
    let mut buf = String::new();
    let _ = std::io::stdin().read_line(&mut buf);
    drop(conns);
    Ok(())
}

fn build_report(opts: &ProxyOpts, samples: &[(Impl, Sample)]) -> Report {
    let pick = |imp: Impl, f: &dyn Fn(&Sample) -> Option<f64>| -> Option<f64> {
        let v: Vec<f64> = samples
            .iter()
            .filter(|(i, _)| *i == imp)
            .filter_map(|(_, s)| f(s))
            .collect();
        median(&v)
    };
    type Getter = fn(&Sample) -> Option<f64>;
    let metrics: [(&str, &str, bool, Getter); 12] = [
        ("keep-alive requests/s", "req/s", true, |s| s.ka_rps),
        ("keep-alive p50 latency", "ms", false, |s| s.ka_p50_ms),
        ("keep-alive p99 latency", "ms", false, |s| s.ka_p99_ms),
        (
            "new connections/s (Connection: close)",
            "conn/s",
            true,
            |s| s.close_rps,
        ),
        ("new connections p99 latency", "ms", false, |s| {
            s.close_p99_ms
        }),
        ("bulk transfer", "MB/s", true, |s| s.bulk_mbps),
        ("proxy CPU per GiB of bulk", "s", false, |s| {
            s.bulk_cpu_s_per_gib
        }),
        ("proxy CPU per 100k keep-alive requests", "s", false, |s| {
            s.cpu_s_per_100k
        }),
        ("proxy CPU per 100k new connections", "s", false, |s| {
            s.close_cpu_s_per_100k
        }),
        (
            "proxy RSS with idle proxied connections",
            "MiB",
            false,
            |s| s.idle_rss_mib,
        ),
        (
            "wrk socket errors + non-2xx (both runs)",
            "count",
            false,
            |s| s.errors,
        ),
        (
            "backend (nginx) CPU during keep-alive run",
            "cores",
            false,
            |s| s.backend_cpu,
        ),
    ];
    let rows = metrics
        .iter()
        .map(|(name, unit, higher_better, g)| Row {
            name: name.to_string(),
            unit: unit.to_string(),
            higher_better: *higher_better,
            direct: pick(Impl::Direct, g),
            haproxy: pick(Impl::Haproxy, g),
            proxyd: pick(Impl::Proxyd, g),
            alt: opts.alt.as_ref().and_then(|_| pick(Impl::Alt, g)),
        })
        .collect();
    Report {
        rows,
        reps: opts.reps,
        duration: opts.duration,
        conns: opts.conns,
        threads: opts.threads,
        bulk_mib: opts.bulk_mib,
        idle: opts.idle,
        has_alt: opts.alt.is_some(),
        haproxy_version: Command::new(&opts.haproxy)
            .arg("-v")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(str::to_string)
            })
            .unwrap_or_default(),
    }
}

/// `nproc`, CPU model and kernel of this machine, for the report.
pub fn machine_description() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_default();
    format!("{cores} cores ({model}), Linux {kernel}, load average {load} at the end of the run")
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut v = vec!["bench".to_string()];
    v.extend(args.into_iter().skip(1));
    v.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_parses() {
        let out = "Running 10s test @ http://127.0.0.1:8000/\n  2 threads and 50 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   1.10ms  300.00us   5.00ms   90.00%\n  Latency Distribution\n     50%  635.91us\n     75%    1.20ms\n     90%    2.00ms\n     99%    3.50ms\n  123456 requests in 10.00s, 20.00MB read\nRequests/sec:  12345.60\nTransfer/sec:      2.00MB\n";
        let w = parse_wrk(out).unwrap();
        assert_eq!(w.requests, 123_456);
        assert!((w.rps - 12345.6).abs() < 1e-9);
        assert!((w.p50_ms.unwrap() - 0.63591).abs() < 1e-9);
        assert!((w.p99_ms.unwrap() - 3.5).abs() < 1e-9);
        assert_eq!(w.errors, 0);
    }

    #[test]
    fn wrk_errors_are_summed() {
        let out = "  1000 requests in 1.00s, 1.00MB read\n  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx or 3xx responses: 5\nRequests/sec:  1000.00\n";
        assert_eq!(parse_wrk(out).unwrap().errors, 15);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("2.00s"), Some(2000.0));
        assert_eq!(parse_duration_ms("1.5ms"), Some(1.5));
        assert_eq!(parse_duration_ms("x"), None);
    }
}
