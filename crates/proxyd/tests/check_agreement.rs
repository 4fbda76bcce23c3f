//! `proxyd -c` must accept and reject the same configurations as
//! `haproxy -c` (HAProxy 2.6, Debian package), on the fixture set in
//! `tests/fixtures/haproxy/`:
//!
//! * `good/`: both accept (same exit code: 0, or 2 for "no listener");
//! * `bad/`: both reject; a `# proxyd-expect: TEXT` first line must appear in
//!   proxyd's diagnostics;
//! * `unsupported/`: HAProxy accepts, proxyd deliberately rejects with a
//!   message naming `file:line` and the keyword given by the first line
//!   `# proxyd-unsupported: KEYWORD @LINE`.
//!
//! Everything is skipped (with a message) when `/usr/sbin/haproxy` is not
//! installed (the parser's own behaviour is covered by its unit tests).

use std::path::{Path, PathBuf};
use std::process::Command;

const HAPROXY: &str = "/usr/sbin/haproxy";

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/haproxy")
        .join(kind);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fixtures in {}", dir.display());
    v
}

/// Exit code of `haproxy -c -f NAME` run from the fixture's directory (so
/// relative certificate paths resolve), or None when HAProxy is missing.
fn haproxy_check(path: &Path) -> Option<(i32, String)> {
    if !Path::new(HAPROXY).exists() {
        return None;
    }
    let dir = path.parent()?;
    let name = path.file_name()?;
    let out = Command::new(HAPROXY)
        .arg("-c")
        .arg("-f")
        .arg(name)
        .current_dir(dir)
        .output()
        .expect("run haproxy");
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Exit code and stderr of `proxyd -c -f NAME`, run like HAProxy from the
/// fixture's directory.
fn proxyd_check(path: &Path) -> (i32, String) {
    let dir = path.parent().expect("fixture dir");
    let name = path.file_name().expect("fixture name");
    let out = Command::new(env!("CARGO_BIN_EXE_proxyd"))
        .arg("-c")
        .arg("-f")
        .arg(name)
        .current_dir(dir)
        .output()
        .expect("run proxyd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn first_line_tag(path: &Path, tag: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let first = text.lines().next()?;
    first.strip_prefix(tag).map(|rest| rest.trim().to_string())
}

/// True (after a message) when HAProxy is not installed: the fixtures
/// reference what the Debian package installs (user `haproxy`,
/// `/etc/haproxy/errors`), so without it there is nothing to agree with.
fn skip() -> bool {
    if Path::new(HAPROXY).exists() {
        return false;
    }
    eprintln!(
        "SKIP: {HAPROXY} is not installed (apt-get install haproxy); check agreement not tested"
    );
    true
}

#[test]
fn good_fixtures_agree() {
    if skip() {
        return;
    }
    let mut failures = Vec::new();
    for f in fixtures("good") {
        let (pc, perr) = proxyd_check(&f);
        if pc != 0 && pc != 2 {
            failures.push(format!(
                "{}: proxyd rejected (exit {pc}):\n{perr}",
                f.display()
            ));
            continue;
        }
        if let Some((hc, herr)) = haproxy_check(&f) {
            if hc != pc {
                failures.push(format!(
                    "{}: haproxy exit {hc}, proxyd exit {pc}\nhaproxy:\n{herr}\nproxyd:\n{perr}",
                    f.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn bad_fixtures_agree() {
    if skip() {
        return;
    }
    let mut failures = Vec::new();
    for f in fixtures("bad") {
        let (pc, perr) = proxyd_check(&f);
        if pc != 1 {
            failures.push(format!(
                "{}: proxyd accepted (exit {pc}):\n{perr}",
                f.display()
            ));
            continue;
        }
        if let Some(want) = first_line_tag(&f, "# proxyd-expect:") {
            if !perr.contains(&want) {
                failures.push(format!(
                    "{}: proxyd's message lacks {want:?}:\n{perr}",
                    f.display()
                ));
            }
        }
        if !perr.contains("Fatal errors found in configuration.") {
            failures.push(format!("{}: no final fatal line:\n{perr}", f.display()));
        }
        if let Some((hc, herr)) = haproxy_check(&f) {
            if hc == 0 || hc == 2 {
                failures.push(format!(
                    "{}: haproxy accepted (exit {hc}) what proxyd rejects\n{herr}",
                    f.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn unsupported_fixtures_are_rejected_by_proxyd_only() {
    if skip() {
        return;
    }
    let mut failures = Vec::new();
    for f in fixtures("unsupported") {
        let Some(tag) = first_line_tag(&f, "# proxyd-unsupported:") else {
            failures.push(format!(
                "{}: missing '# proxyd-unsupported:' line",
                f.display()
            ));
            continue;
        };
        let (keyword, line) = match tag.rsplit_once(" @") {
            Some((k, l)) => (k.to_string(), l.to_string()),
            None => {
                failures.push(format!("{}: bad tag {tag:?}", f.display()));
                continue;
            }
        };
        let (pc, perr) = proxyd_check(&f);
        let at = format!(
            "{}:{line}",
            f.file_name().unwrap_or_default().to_string_lossy()
        );
        if pc != 1 {
            failures.push(format!("{}: proxyd accepted (exit {pc})", f.display()));
        } else if !perr.contains(&at) || !perr.contains(&keyword) {
            failures.push(format!(
                "{}: expected a message naming {at} and {keyword:?}:\n{perr}",
                f.display()
            ));
        } else if !perr.contains("not supported by proxyd")
            && !perr.contains("proxyd does not support")
        {
            failures.push(format!(
                "{}: the message does not say proxyd does not support it:\n{perr}",
                f.display()
            ));
        }
        if let Some((hc, herr)) = haproxy_check(&f) {
            if hc != 0 {
                failures.push(format!(
                    "{}: haproxy rejects it too (exit {hc}); move it to bad/\n{herr}",
                    f.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn stdout_of(bin: &str, path: &Path, quiet: bool) -> (i32, String) {
    let mut cmd = Command::new(bin);
    cmd.arg("-c");
    if quiet {
        cmd.arg("-q");
    }
    let out = cmd
        .arg("-f")
        .arg(path.file_name().expect("name"))
        .current_dir(path.parent().expect("dir"))
        .output()
        .expect("run checker");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The verdict line on stdout, and `-q`, as HAProxy prints them.
#[test]
fn stdout_verdict_and_quiet_mode() {
    let good = fixtures("good");
    let pick = |n: &str| {
        good.iter()
            .find(|p| p.file_name().is_some_and(|f| f == n))
            .cloned()
            .unwrap_or_else(|| panic!("fixture {n}"))
    };
    if skip() {
        return;
    }
    let proxyd = env!("CARGO_BIN_EXE_proxyd");
    let cases = [
        (
            pick("debian-stock-seed.cfg"),
            0,
            "Configuration file is valid",
        ),
        (
            pick("no-listener.cfg"),
            2,
            "Configuration file has no error but will not start (no listener) => exit(2).",
        ),
        (
            pick("missing-timeouts-warning.cfg"),
            0,
            "Configuration file is valid",
        ),
    ];
    for (f, code, last) in &cases {
        let (c, out) = stdout_of(proxyd, f, false);
        assert_eq!(
            (c, out.lines().last()),
            (*code, Some(*last)),
            "{}",
            f.display()
        );
        let (c, out) = stdout_of(proxyd, f, true);
        assert_eq!((c, out.as_str()), (*code, ""), "{} with -q", f.display());
        if Path::new(HAPROXY).exists() {
            assert_eq!(stdout_of(HAPROXY, f, false).1.lines().last(), Some(*last));
            assert_eq!(stdout_of(HAPROXY, f, true), (*code, String::new()));
        }
    }
    // `-q` with errors: nothing at all on either stream, exit 1.
    for f in fixtures("bad").iter().take(3) {
        for bin in [proxyd, HAPROXY] {
            let (c, err) = check_in(
                bin,
                f.parent().expect("dir"),
                &["-q", "-f", &f.file_name().expect("name").to_string_lossy()],
            );
            assert_eq!((c, err.as_str()), (1, ""), "{bin} -c -q {}", f.display());
        }
    }
    let warned = pick("missing-timeouts-warning.cfg");
    assert_eq!(
        stdout_of(proxyd, &warned, false).1,
        "Warnings were found.\nConfiguration file is valid\n"
    );
}

/// Exit code and stderr of `BIN -c ARGS...` run from `dir`.
fn check_in(bin: &str, dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin)
        .arg("-c")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run checker");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Several `-f` files and a directory (its `*.cfg` in lexical order) form
/// one configuration, for both: Debian's stock file plus the seed in a
/// second file, read one way or the other.
#[test]
fn several_files_and_directories_agree() {
    if skip() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/haproxy/split");
    let proxyd = env!("CARGO_BIN_EXE_proxyd");
    let cases: [&[&str]; 4] = [
        &["-f", "haproxy.cfg", "-f", "seed.cfg"],
        &["-f", "."],
        &["-f", "seed.cfg"],
        &["-f", "seed.cfg", "-f", "haproxy.cfg"],
    ];
    for args in cases {
        let (hc, herr) = check_in(HAPROXY, &dir, args);
        let (pc, perr) = check_in(proxyd, &dir, args);
        assert_eq!(
            hc, pc,
            "{args:?}: haproxy exit {hc}, proxyd exit {pc}\nhaproxy:\n{herr}\nproxyd:\n{perr}"
        );
    }
    // The seed alone lacks the stock defaults: the same warnings as HAProxy.
    let (_, perr) = check_in(proxyd, &dir, &["-f", "seed.cfg"]);
    assert!(
        perr.contains("missing timeouts for frontend 'mysite'."),
        "{perr}"
    );
    assert!(
        perr.contains("log format ignored for frontend 'mysite' since it has no log address."),
        "{perr}"
    );
}
