//! Command line (keepalived-compatible flags) and process lifecycle.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::daemon::{self, RunOptions};

/// A keepalived-compatible VRRP daemon.
#[derive(Debug, Parser)]
#[command(name = "vrrpd", disable_version_flag = true)]
pub struct Cli {
    /// Configuration file.
    #[arg(short = 'f', long = "use-file", default_value = crate::config::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Check the configuration and exit (keepalived's exit codes).
    #[arg(short = 't', long = "config-test")]
    pub config_test: bool,
    /// Stay in the foreground (vrrpd never forks; accepted).
    #[arg(short = 'n', long = "dont-fork")]
    pub dont_fork: bool,
    /// Log to the console (vrrpd always logs to stderr; accepted).
    #[arg(short = 'l', long = "log-console")]
    pub log_console: bool,
    /// Detailed logging (debug lines).
    #[arg(short = 'D', long = "log-detail")]
    pub log_detail: bool,
    /// Only run the VRRP subsystem (the only one vrrpd has; accepted).
    #[arg(short = 'P', long = "vrrp")]
    pub vrrp: bool,
    /// Dump the parsed configuration at start.
    #[arg(short = 'd', long = "dump-conf")]
    pub dump_conf: bool,
    /// Main pid file.
    #[arg(short = 'p', long = "pid")]
    pub pid: Option<PathBuf>,
    /// VRRP child pid file.
    #[arg(short = 'r', long = "vrrp_pid")]
    pub vrrp_pid: Option<PathBuf>,
    /// Checkers child pid file (no checker subsystem; accepted, not written).
    #[arg(short = 'c', long = "checkers_pid")]
    pub checkers_pid: Option<PathBuf>,
    /// Syslog facility (journald/stderr logging; accepted).
    #[arg(short = 'S', long = "log-facility")]
    pub log_facility: Option<String>,
    /// Do not respawn children (vrrpd has none; accepted).
    #[arg(short = 'R', long = "dont-respawn")]
    pub dont_respawn: bool,
    /// Directory for the SIGUSR1/SIGUSR2 dumps (vrrpd extension).
    #[arg(long = "dump-dir", default_value = "/tmp")]
    pub dump_dir: PathBuf,
    /// Print the version and exit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("vrrpd v{}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    set_process_name();
    if cli.config_test {
        let code = crate::config::check::run_check(&cli.config);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    common::log::init(
        "vrrpd",
        if cli.log_detail {
            "info,vrrpd=debug"
        } else {
            "info"
        },
    );
    if cli.dump_conf {
        match crate::config::load(&cli.config) {
            Ok(l) => tracing::info!("{:#?}", l.config),
            Err(e) => tracing::error!("{e}"),
        }
    }
    let opts = RunOptions {
        config: cli.config.clone(),
        pid_files: [cli.pid.clone(), cli.vrrp_pid.clone()]
            .into_iter()
            .flatten()
            .collect(),
        dump_dir: cli.dump_dir.clone(),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vrrpd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(daemon::run(opts)) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The process name is `vrrpd` whatever the binary is called (for
/// `killall -0 vrrpd`, `pidof`).
fn set_process_name() {
    let _ = nix::sys::prctl::set_name(c"vrrpd");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_flags() {
        let c = Cli::try_parse_from([
            "vrrpd", "-n", "-l", "-D", "-f", "/x.conf", "-p", "/p", "-r", "/r", "-c", "/c", "-P",
        ])
        .unwrap();
        assert_eq!(c.config, PathBuf::from("/x.conf"));
        assert!(c.dont_fork && c.log_console && c.log_detail && c.vrrp);
        assert_eq!(c.pid, Some(PathBuf::from("/p")));
        let c = Cli::try_parse_from(["vrrpd", "-t", "-f", "/y"]).unwrap();
        assert!(c.config_test);
        let c = Cli::try_parse_from(["vrrpd"]).unwrap();
        assert_eq!(c.config, PathBuf::from("/etc/keepalived/keepalived.conf"));
        assert!(Cli::try_parse_from(["vrrpd", "--bogus"]).is_err());
    }
}
