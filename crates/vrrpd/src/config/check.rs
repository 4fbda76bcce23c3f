//! `vrrpd -t [-f FILE]`: keepalived's configuration test.

use std::io::Write;
use std::path::Path;

use super::diag::exit_code;
use super::parse::{parse_file, HostSystem, System};

/// Check `path`, print every diagnostic to stderr in keepalived's style and
/// return keepalived's `-t` exit status (0 ok, 4 fatal, 5 errors or
/// warnings, 6 script security).
pub fn run_check(path: &Path) -> i32 {
    let mut err = std::io::stderr().lock();
    run_check_with(path, &HostSystem, &mut err)
}

/// [`run_check`] with an injected machine view and output.
pub fn run_check_with(path: &Path, sys: &dyn System, out: &mut dyn Write) -> i32 {
    let (_config, diags) = parse_file(path, sys);
    for d in &diags {
        // Nothing sensible to do if stderr is gone.
        let _ = writeln!(out, "{d}");
    }
    exit_code(&diags)
}
