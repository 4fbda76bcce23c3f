//! `proxyd -c`: check a configuration like `haproxy -c`.

use std::path::PathBuf;

use super::diag::Level;

/// Check `files`; print diagnostics to stderr and the verdict to stdout,
/// as `haproxy -c` does. Returns HAProxy's exit code: 0 valid, 1 errors,
/// 2 valid but no listener. `quiet` (`-q`) prints only alerts.
pub fn run_check(files: &[PathBuf], quiet: bool) -> i32 {
    let (code, stderr, stdout) = check_output(files, quiet, std::process::id());
    for l in &stderr {
        eprintln!("{l}");
    }
    for l in &stdout {
        println!("{l}");
    }
    code
}

/// What `run_check` prints, without printing: (exit code, stderr lines,
/// stdout lines).
pub fn check_output(files: &[PathBuf], quiet: bool, pid: u32) -> (i32, Vec<String>, Vec<String>) {
    let mut err = Vec::new();
    let mut out = Vec::new();
    if files.is_empty() {
        err.push(
            super::Diag::raw(
                Level::Alert,
                None,
                "No configuration file specified (use -f).",
            )
            .render(pid),
        );
        return (1, err, out);
    }
    match super::load(files) {
        Ok(loaded) => {
            let has_warnings = loaded.warnings.iter().any(|w| w.level == Level::Warning);
            if !quiet {
                for w in &loaded.warnings {
                    err.push(w.render(pid));
                }
            }
            if !loaded.config.has_listeners() {
                if !quiet {
                    if has_warnings {
                        out.push("Warnings were found.".to_string());
                    }
                    out.push(
                        "Configuration file has no error but will not start (no listener) => exit(2)."
                            .to_string(),
                    );
                }
                return (2, err, out);
            }
            if !quiet {
                if has_warnings {
                    out.push("Warnings were found.".to_string());
                }
                out.push("Configuration file is valid".to_string());
            }
            (0, err, out)
        }
        Err(e) => {
            for d in &e.diags {
                if !quiet || d.level == Level::Alert {
                    err.push(d.render(pid));
                }
            }
            (1, err, out)
        }
    }
}
