//! Ratchet: `proxyd -c` against `haproxy -c` on the real-world corpus in
//! `tests/fixtures/haproxy/realworld/` (sources in its `SOURCES.md`).
//!
//! For every file both tools run from the corpus directory; they agree when
//! their exit-code class (0 accepted / 2 accepted with warnings, e.g. no
//! listener / anything else refused) is the same and, when both refuse,
//! the first `[FILE:LINE]` they report is the same line.
//!
//! Files that disagree today are listed in `KNOWN-DISAGREEMENTS` (one file
//! name per line, then `# reason: ...`). The test fails when an unlisted
//! file disagrees and when a listed file now agrees, printing the exact
//! lines to add or remove. It prints the acceptance rate and a count of
//! the keywords proxyd refuses.
//!
//! Skipped (with a message) when `/usr/sbin/haproxy` is not installed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const HAPROXY: &str = "/usr/sbin/haproxy";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/haproxy/realworld")
}

fn corpus() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no files in {}", dir.display());
    v
}

/// File names listed in KNOWN-DISAGREEMENTS.
fn known_disagreements() -> Vec<String> {
    let path = corpus_dir().join("KNOWN-DISAGREEMENTS");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// (exit code, stderr) of `PROGRAM -c -f NAME` run from the corpus dir.
fn check(program: &str, path: &Path) -> (i32, String) {
    let out = Command::new(program)
        .arg("-c")
        .arg("-f")
        .arg(path.file_name().expect("file name"))
        .current_dir(path.parent().expect("corpus dir"))
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    (out.status.code().unwrap_or(-1), text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Accepted,
    Warnings,
    Refused,
}

fn class(rc: i32) -> Class {
    match rc {
        0 => Class::Accepted,
        2 => Class::Warnings,
        _ => Class::Refused,
    }
}

/// Line of the first `[ALERT]` naming `[NAME:LINE]`.
fn first_error_line(name: &str, text: &str) -> Option<u32> {
    let tag = format!("[{name}:");
    text.lines()
        .filter(|l| l.contains("[ALERT]"))
        .find_map(|l| {
            let rest = &l[l.find(&tag)? + tag.len()..];
            rest[..rest.find(']')?].parse().ok()
        })
}

/// The keyword proxyd names in its first positioned `[ALERT]`:
/// `'KW' (in 'S' section) is not supported by proxyd`,
/// `'server B/S' : 'KW' is not supported by proxyd`, or `mode http`.
fn refused_keyword(text: &str) -> Option<String> {
    let line = first_alert(text)?;
    if line.contains("'mode http', which proxyd does not support") {
        return Some("mode http".to_string());
    }
    if !line.contains("not supported by proxyd") {
        return None;
    }
    if let Some(head) = line.split("' is not supported by proxyd").next() {
        if head.len() < line.len() {
            return Some(head[head.rfind('\'')? + 1..].to_string());
        }
    }
    let rest = line.strip_prefix('\'')?;
    Some(rest[..rest.find('\'')?].to_string())
}

/// Text of the first `[ALERT]` naming a line, after the position.
fn first_alert(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = &l[l.find("[ALERT]")?..];
        let rest = &rest[rest.find(" : config : ")? + 12..];
        let rest = rest.strip_prefix("parsing ").unwrap_or(rest);
        let rest = rest.strip_prefix('[')?;
        Some(
            rest[rest.find(']')? + 1..]
                .trim_start_matches([' ', ':'])
                .to_string(),
        )
    })
}

/// Why a file disagrees, for the count and the suggested list line.
fn reason(pk: Class, herr: &str, perr: &str) -> String {
    if let Some(kw) = refused_keyword(perr) {
        return kw;
    }
    match pk {
        Class::Refused => format!(
            "proxyd: {}",
            first_alert(perr).map_or("refused".to_string(), |m| m.chars().take(60).collect())
        ),
        _ => format!(
            "proxyd accepts; haproxy: {}",
            first_alert(herr).map_or("refused".to_string(), |m| m.chars().take(23).collect())
        ),
    }
}

#[test]
fn realworld_haproxy_corpus_agrees_or_is_listed() {
    if !Path::new(HAPROXY).exists() {
        eprintln!("SKIP: {HAPROXY} is not installed (apt-get install haproxy); corpus not tested");
        return;
    }
    let known = known_disagreements();
    let proxyd = env!("CARGO_BIN_EXE_proxyd");
    let files = corpus();
    let (mut haproxy_ok, mut both_ok) = (0usize, 0usize);
    let mut keywords: BTreeMap<String, usize> = BTreeMap::new();
    let mut to_add = Vec::new();
    let mut to_remove = Vec::new();
    let mut details = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let (hc, herr) = check(HAPROXY, f);
        let (pc, perr) = check(proxyd, f);
        let (hk, pk) = (class(hc), class(pc));
        if hk != Class::Refused {
            haproxy_ok += 1;
            if pk != Class::Refused {
                both_ok += 1;
            }
        }
        let agree = hk == pk
            && (hk != Class::Refused
                || first_error_line(&name, &herr) == first_error_line(&name, &perr));
        let listed = known.contains(&name);
        if !agree {
            let kw = reason(pk, &herr, &perr);
            *keywords.entry(kw.clone()).or_default() += 1;
            if !listed {
                to_add.push(format!("{name}  # reason: {kw}"));
                details.push(format!(
                    "{name}: haproxy exit {hc} (first error line {:?}), proxyd exit {pc} (first error line {:?})\nhaproxy:\n{herr}\nproxyd:\n{perr}",
                    first_error_line(&name, &herr),
                    first_error_line(&name, &perr)
                ));
            }
        } else if listed {
            to_remove.push(name.clone());
        }
    }
    for k in &known {
        if !files
            .iter()
            .any(|f| f.file_name().is_some_and(|n| n == k.as_str()))
        {
            to_remove.push(format!("{k} (no such file)"));
        }
    }
    eprintln!(
        "real-world haproxy corpus: {} files, haproxy accepts {haproxy_ok}, proxyd accepts {both_ok} of those ({}%)",
        files.len(),
        (both_ok * 100).checked_div(haproxy_ok).unwrap_or(100)
    );
    for (k, n) in &keywords {
        eprintln!("  disagreement: {n:3}  {k}");
    }
    let mut msg = String::new();
    if !to_add.is_empty() {
        msg.push_str(&format!(
            "These files disagree and are not in tests/fixtures/haproxy/realworld/KNOWN-DISAGREEMENTS; add these lines (or fix proxyd):\n{}\n\n{}\n\n",
            to_add.join("\n"),
            details.join("\n\n")
        ));
    }
    if !to_remove.is_empty() {
        msg.push_str(&format!(
            "These files now agree: remove their lines from tests/fixtures/haproxy/realworld/KNOWN-DISAGREEMENTS:\n{}\n",
            to_remove.join("\n")
        ));
    }
    assert!(msg.is_empty(), "{msg}");
}
