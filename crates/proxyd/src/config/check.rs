//! `proxyd -c`: check a configuration like `haproxy -c`.

use std::path::PathBuf;

use super::diag::Level;

/// Check `files`; print diagnostics to stderr and the verdict to stdout,
/// as `haproxy -c` does. Returns HAProxy's exit code: 0 valid, 1 errors,
/// 2 valid but no listener. `quiet` (`-q`) prints nothing, as HAProxy.
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
            // Like `haproxy -c -q`, quiet mode prints nothing at all: the
            // exit code is the answer.
            if !quiet {
                for d in &e.diags {
                    err.push(d.render(pid));
                }
            }
            (1, err, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("proxyd-check-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    const D: &str =
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n";

    #[test]
    fn exit_codes_and_output() {
        let good = write(
            "good.cfg",
            &format!("{D}listen l\n bind 127.0.0.1:1\n server s 127.0.0.1:2\n"),
        );
        let warn = write(
            "warn.cfg",
            "listen l\n mode tcp\n bind 127.0.0.1:1\n server s 127.0.0.1:2\n",
        );
        let nolisten = write("nol.cfg", &format!("{D}backend b\n"));
        let bad = write("bad.cfg", &format!("{D}backend b\n bogus\n"));

        let (c, e, o) = check_output(std::slice::from_ref(&good), false, 7);
        assert_eq!((c, e.len()), (0, 0));
        assert_eq!(o, vec!["Configuration file is valid"]);

        let (c, e, o) = check_output(std::slice::from_ref(&warn), false, 7);
        assert_eq!(c, 0);
        assert!(e[0].starts_with("[WARNING]  (7) : config : missing timeouts for proxy 'l'."));
        assert_eq!(
            o,
            vec!["Warnings were found.", "Configuration file is valid"]
        );
        let (c, e, o) = check_output(std::slice::from_ref(&warn), true, 7);
        assert_eq!((c, e.len(), o.len()), (0, 0, 0));

        let (c, _, o) = check_output(std::slice::from_ref(&nolisten), false, 7);
        assert_eq!(c, 2);
        assert_eq!(
            o,
            vec!["Configuration file has no error but will not start (no listener) => exit(2)."]
        );
        assert_eq!(
            check_output(std::slice::from_ref(&nolisten), true, 7)
                .2
                .len(),
            0
        );

        let (c, e, o) = check_output(std::slice::from_ref(&bad), true, 7);
        assert_eq!((c, e.len(), o.len()), (1, 0, 0));
        let (c, e, o) = check_output(std::slice::from_ref(&bad), false, 7);
        assert_eq!(c, 1);
        assert!(o.is_empty());
        assert!(e[0].contains("unknown keyword 'bogus' in 'backend' section"));
        assert_eq!(
            e.last().map(String::as_str),
            Some("[ALERT]    (7) : config : Fatal errors found in configuration.")
        );

        // Several files are one configuration: the listen uses the defaults
        // of the first file.
        let (c, e, _) = check_output(&[good.clone(), warn.clone()], false, 7);
        assert_eq!(c, 1, "{e:?}");
        assert!(e[0].contains("has the same name as proxy 'l'"));

        let (c, e, _) = check_output(&[], false, 7);
        assert_eq!(c, 1);
        assert!(e[0].contains("No configuration file specified"));

        for p in [good, warn, nolisten, bad] {
            let _ = std::fs::remove_file(p);
        }
    }
}
