//! `proxyd -c`: check a configuration like `haproxy -c`.

use std::path::PathBuf;

/// Check `files`; print diagnostics to stderr and `Configuration file is
/// valid` to stdout (unless `quiet`). Returns HAProxy's exit code: 0 valid,
/// 1 errors, 2 valid but no listener.
pub fn run_check(files: &[PathBuf], quiet: bool) -> i32 {
    match super::load(files) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            if !quiet {
                println!("Configuration file is valid");
            }
            if loaded.config.has_listeners() {
                0
            } else {
                2
            }
        }
        Err(e) => {
            for d in &e.diags {
                eprintln!("{d}");
            }
            1
        }
    }
}
