//! Command line (HAProxy-compatible flags) and process entry.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};

/// proxyd: a HAProxy-compatible TCP load balancer.
#[derive(Debug, Parser)]
#[command(name = "proxyd", disable_version_flag = true)]
pub struct Cli {
    /// Configuration file or directory (repeatable, loaded in order).
    #[arg(short = 'f', value_name = "FILE|DIR", action = ArgAction::Append)]
    pub files: Vec<PathBuf>,
    /// Check the configuration and exit (0 valid, 1 errors, 2 no listener).
    #[arg(short = 'c')]
    pub check: bool,
    /// Quiet: only errors.
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Write the process id to this file.
    #[arg(short = 'p', value_name = "PIDFILE")]
    pub pidfile: Option<PathBuf>,
    /// Daemon mode (accepted; proxyd stays in the foreground).
    #[arg(short = 'D')]
    pub daemon: bool,
    /// Master-worker mode (accepted; proxyd is a single process).
    #[arg(short = 'W')]
    pub master_worker: bool,
    /// Master-worker with systemd notify (accepted; sd_notify is always on
    /// when NOTIFY_SOCKET is set).
    #[arg(long = "Ws")]
    pub master_worker_systemd: bool,
    /// Disable background mode (proxyd never forks anyway).
    #[arg(long = "db")]
    pub no_background: bool,
    /// Debug logging.
    #[arg(short = 'd')]
    pub debug: bool,
    /// Verbose (accepted).
    #[arg(short = 'V')]
    pub verbose: bool,
    /// Show the version (-vv: with build details).
    #[arg(short = 'v', action = ArgAction::Count)]
    pub version: u8,
    /// Old-style reload PIDs (accepted and ignored: reload in place with
    /// SIGUSR2/SIGHUP).
    #[arg(long = "sf", num_args = 0.., value_name = "PID")]
    pub soft_finish: Vec<String>,
    /// Old-style reload PIDs (accepted and ignored).
    #[arg(long = "st", num_args = 0.., value_name = "PID")]
    pub terminate: Vec<String>,
}

/// HAProxy's multi-letter single-dash flags become long options for clap.
fn normalize(args: impl Iterator<Item = String>) -> Vec<String> {
    args.map(|a| match a.as_str() {
        "-Ws" | "-db" | "-sf" | "-st" => format!("-{a}"),
        _ => a,
    })
    .collect()
}

fn print_version(level: u8) {
    println!(
        "proxyd version {} - HAProxy-compatible TCP load balancer",
        env!("CARGO_PKG_VERSION")
    );
    if level > 1 {
        println!("Supported modes: tcp");
        println!("Balance algorithms: roundrobin static-rr leastconn first source");
        println!("Health checks: connect, tcp-check, httpchk");
        println!("Built with Rust, tokio multi-threaded runtime");
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(normalize(std::env::args())) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(1),
            };
        }
    };
    if cli.version > 0 {
        print_version(cli.version);
        return ExitCode::SUCCESS;
    }
    if cli.check {
        let code = crate::config::check::run_check(&cli.files, cli.quiet);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let filter = if cli.debug {
        "debug"
    } else if cli.quiet {
        "warn"
    } else {
        "info"
    };
    common::log::init("proxyd", filter);
    if cli.daemon || cli.master_worker || cli.master_worker_systemd || cli.no_background {
        tracing::info!(
            "proxyd runs in the foreground as a single process (-D/-W/-Ws/-db accepted)"
        );
    }
    if cli.files.is_empty() {
        eprintln!(
            "{}",
            crate::config::Diag::raw(
                crate::config::Level::Alert,
                None,
                "No configuration file specified (use -f)."
            )
            .render(std::process::id())
        );
        return ExitCode::from(1);
    }
    match crate::app::main(crate::app::Options {
        files: cli.files,
        pidfile: cli.pidfile,
    }) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("[ALERT]    ({}) : {e:#}", std::process::id());
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(normalize(args.iter().map(|s| s.to_string()))).unwrap()
    }

    #[test]
    fn haproxy_flags() {
        let c = parse(&[
            "proxyd",
            "-Ws",
            "-f",
            "a.cfg",
            "-f",
            "dir",
            "-p",
            "/run/p.pid",
        ]);
        assert!(c.master_worker_systemd && !c.debug);
        assert_eq!(c.files, [PathBuf::from("a.cfg"), PathBuf::from("dir")]);
        assert_eq!(c.pidfile, Some(PathBuf::from("/run/p.pid")));
        let c = parse(&["proxyd", "-db", "-f", "x"]);
        assert!(c.no_background && !c.debug);
        let c = parse(&["proxyd", "-c", "-q", "-f", "x"]);
        assert!(c.check && c.quiet);
        assert_eq!(parse(&["proxyd", "-vv"]).version, 2);
        assert!(parse(&["proxyd", "-d", "-f", "x"]).debug);
        let c = parse(&["proxyd", "-f", "x", "-sf", "12", "13"]);
        assert_eq!(c.soft_finish, ["12", "13"]);
    }
}
