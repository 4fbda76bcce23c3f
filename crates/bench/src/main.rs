//! `bench`: proxyd and HAProxy measured side by side, in one run.
//!
//! Everything runs inside a private network namespace created for the run
//! (loopback only, with a widened local port range and `tcp_tw_reuse` so
//! short connections do not exhaust ports): nginx as the backend, the two
//! proxies with the same haproxy.cfg, and wrk/curl as clients. Each
//! repetition runs both proxies one after the other (the order alternates
//! between repetitions) and the report gives medians and proxyd/HAProxy
//! ratios. The machine's cores are shared by client, proxy and backend:
//! the report says so, and CPU time per request is the steadier figure.

mod measure;
mod ns;
mod report;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "bench", about = "proxyd vs HAProxy, side by side in one run")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Throughput, latency, CPU per request and memory of proxyd vs HAProxy.
    Proxy(ProxyOpts),
    /// (internal) open N connections to ADDR, print "ready", hold them until stdin closes.
    #[command(hide = true)]
    Hold {
        #[arg(long)]
        addr: String,
        #[arg(long)]
        n: usize,
    },
}

#[derive(Parser, Debug, Clone)]
pub struct ProxyOpts {
    /// Repetitions of each measurement for each implementation (median reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Seconds per wrk run.
    #[arg(long, default_value_t = 10)]
    pub duration: u32,
    /// wrk concurrent connections.
    #[arg(long, default_value_t = 50)]
    pub conns: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    pub threads: u32,
    /// Size of the bulk object in MiB.
    #[arg(long, default_value_t = 1000)]
    pub bulk_mib: u64,
    /// Idle proxied connections held open for the memory figure.
    #[arg(long, default_value_t = 10_000)]
    pub idle: usize,
    /// proxyd binary (default: next to this binary).
    #[arg(long)]
    pub proxyd: Option<PathBuf>,
    /// HAProxy binary.
    #[arg(long, default_value = "/usr/sbin/haproxy")]
    pub haproxy: PathBuf,
    /// A second proxyd binary measured in the same run (before/after
    /// comparisons of a change); adds "proxyd (alt)" columns.
    #[arg(long)]
    pub alt: Option<PathBuf>,
    /// Also write the markdown report, with the date, the command and the
    /// machine, to this file (e.g. docs/performance-run.md).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only these measurements (comma list of keepalive,close,bulk,idle).
    #[arg(long, default_value = "keepalive,close,bulk,idle")]
    pub only: String,
}

fn main() {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Proxy(opts) => measure::run_proxy_bench(opts),
        Cmd::Hold { addr, n } => measure::hold(&addr, n),
    };
    if let Err(e) = r {
        eprintln!("bench: {e:#}");
        std::process::exit(1);
    }
}

/// Find a sibling binary of this executable (same target directory).
pub fn sibling_binary(name: &str) -> Result<PathBuf> {
    let me = std::env::current_exe().context("current_exe")?;
    let dir = me.parent().context("no parent directory")?;
    let p = dir.join(name);
    if !p.exists() {
        bail!(
            "{} not found (build the workspace first: cargo build --release --workspace)",
            p.display()
        );
    }
    Ok(p)
}
