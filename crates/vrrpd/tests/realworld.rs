//! Ratchet: `vrrpd -t` against `keepalived -t` on the real-world corpus in
//! `tests/fixtures/keepalived/realworld/` (sources in its `SOURCES.md`).
//!
//! Both run inside a private network namespace (unshare(2) on a dedicated
//! thread) holding a veth interface for every name the corpus uses
//! (`interface X`, `dev X`), so the interface checks pass the same way on
//! every machine. They agree when the verdict class (0 valid / 6 script
//! security warning / anything else refused) is the same and, when both
//! refuse, the first `(FILE: Line N)` diagnostic names the same line.
//!
//! Files that disagree today are listed in `KNOWN-DISAGREEMENTS` (one file
//! name per line, then `# reason: ...`); the test fails when an unlisted
//! file disagrees and when a listed file now agrees, printing the exact
//! lines to add or remove. Skipped (with a message) when not root or when
//! keepalived is not installed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const KEEPALIVED: &str = "/usr/sbin/keepalived";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/keepalived/realworld")
}

fn corpus() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no files in {}", dir.display());
    v
}

fn known_disagreements() -> Vec<String> {
    let text =
        std::fs::read_to_string(corpus_dir().join("KNOWN-DISAGREEMENTS")).unwrap_or_default();
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Interface names the corpus refers to (`interface X`, `... dev X`).
fn interface_names(files: &[PathBuf]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for line in text.lines() {
            let words: Vec<&str> = line
                .split('#')
                .next()
                .unwrap_or("")
                .split('!')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            for w in words.windows(2) {
                if (w[0] == "interface" || w[0] == "dev") && w[1].len() < 16 {
                    names.insert(w[1].to_string());
                }
            }
        }
    }
    names
}

/// Exit status and combined output; keepalived -t exits on its own.
fn run(cmd: &mut Command) -> (i32, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Valid,
    ScriptSecurity,
    Refused,
}

fn class(rc: i32) -> Class {
    match rc {
        0 => Class::Valid,
        6 => Class::ScriptSecurity,
        _ => Class::Refused,
    }
}

/// Line of the first `(PATH: Line N)` (or `(Line N)`) diagnostic.
fn first_line(path: &Path, text: &str) -> Option<u32> {
    let tags = [format!("({}: Line ", path.display()), "(Line ".to_string()];
    text.lines().find_map(|l| {
        tags.iter().find_map(|tag| {
            let rest = &l[l.find(tag.as_str())? + tag.len()..];
            rest[..rest.find(')')?].parse().ok()
        })
    })
}

/// The keyword vrrpd says it does not implement, if that is why.
fn refused_keyword(text: &str) -> Option<String> {
    let line = text
        .lines()
        .find(|l| l.contains("vrrpd does not implement"))?;
    let start = line.find('\'')? + 1;
    let len = line[start..].find('\'')?;
    Some(line[start..start + len].to_string())
}

struct Outcome {
    path: PathBuf,
    keepalived: (i32, String),
    vrrpd: (i32, String),
}

fn check_all(files: Vec<PathBuf>) -> Vec<Outcome> {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        for (i, name) in interface_names(&files).iter().enumerate() {
            let peer = format!("rwpeer{i}");
            let (rc, out) = run(Command::new("ip")
                .args(["link", "add", name, "type", "veth", "peer", "name", &peer]));
            assert_eq!(rc, 0, "ip link add {name}: {out}");
        }
        let pid_dir = std::env::temp_dir().join(format!("vrrpd-realworld-{}", std::process::id()));
        std::fs::create_dir_all(&pid_dir).expect("pid dir");
        let bin = env!("CARGO_BIN_EXE_vrrpd");
        let mut out = Vec::new();
        for f in files {
            let keepalived = run(Command::new(KEEPALIVED)
                .args(["-t", "-l", "-D", "-n", "-f"])
                .arg(&f)
                .arg("-p")
                .arg(pid_dir.join("keepalived.pid"))
                .arg("-r")
                .arg(pid_dir.join("vrrp.pid"))
                .arg("-c")
                .arg(pid_dir.join("checkers.pid")));
            let vrrpd = run(Command::new(bin).arg("-t").arg("-f").arg(&f));
            out.push(Outcome {
                path: f,
                keepalived,
                vrrpd,
            });
        }
        let _ = std::fs::remove_dir_all(&pid_dir);
        out
    })
    .join()
    .expect("namespace thread")
}

#[test]
fn realworld_keepalived_corpus_agrees_or_is_listed() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: needs root for a network namespace");
        return;
    }
    if !Path::new(KEEPALIVED).exists() {
        eprintln!("SKIP: {KEEPALIVED} is not installed; corpus not tested");
        return;
    }
    let known = known_disagreements();
    let files = corpus();
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let outcomes = check_all(files);
    let (mut k_ok, mut both_ok) = (0usize, 0usize);
    let mut keywords: BTreeMap<String, usize> = BTreeMap::new();
    let (mut to_add, mut to_remove, mut details) = (Vec::new(), Vec::new(), Vec::new());
    for (o, name) in outcomes.iter().zip(&names) {
        let (kc, vc) = (class(o.keepalived.0), class(o.vrrpd.0));
        if kc != Class::Refused {
            k_ok += 1;
            if vc != Class::Refused {
                both_ok += 1;
            }
        }
        let (kl, vl) = (
            first_line(&o.path, &o.keepalived.1),
            first_line(&o.path, &o.vrrpd.1),
        );
        let agree = kc == vc && (kc != Class::Refused || kl == vl);
        let listed = known.contains(name);
        if !agree {
            let kw = refused_keyword(&o.vrrpd.1).unwrap_or_else(|| {
                let why = if o.keepalived.1.contains("since not found/accessible") {
                    " (keepalived: track script file not found)"
                } else {
                    ""
                };
                format!(
                    "keepalived {kc:?} (exit {}), vrrpd {vc:?} (exit {}){why}",
                    o.keepalived.0, o.vrrpd.0
                )
            });
            *keywords.entry(kw.clone()).or_default() += 1;
            if !listed {
                to_add.push(format!("{name}  # reason: {kw}"));
                details.push(format!(
                    "{name}: keepalived exit {} (first line {kl:?}), vrrpd exit {} (first line {vl:?})\nkeepalived:\n{}\nvrrpd:\n{}",
                    o.keepalived.0, o.vrrpd.0, o.keepalived.1, o.vrrpd.1
                ));
            }
        } else if listed {
            to_remove.push(name.clone());
        }
    }
    for k in &known {
        if !names.contains(k) {
            to_remove.push(format!("{k} (no such file)"));
        }
    }
    eprintln!(
        "real-world keepalived corpus: {} files, keepalived accepts {k_ok}, vrrpd accepts {both_ok} of those ({}%)",
        names.len(),
        (both_ok * 100).checked_div(k_ok).unwrap_or(100)
    );
    for (k, n) in &keywords {
        eprintln!("  disagreement: {n:3}  {k}");
    }
    let mut msg = String::new();
    if !to_add.is_empty() {
        msg.push_str(&format!(
            "These files disagree and are not in tests/fixtures/keepalived/realworld/KNOWN-DISAGREEMENTS; add these lines (or fix vrrpd):\n{}\n\n{}\n\n",
            to_add.join("\n"),
            details.join("\n\n")
        ));
    }
    if !to_remove.is_empty() {
        msg.push_str(&format!(
            "These files now agree: remove their lines from tests/fixtures/keepalived/realworld/KNOWN-DISAGREEMENTS:\n{}\n",
            to_remove.join("\n")
        ));
    }
    assert!(msg.is_empty(), "{msg}");
}
