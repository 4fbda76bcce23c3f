//! Golden tests of [`diff`]: each case is a pair of small haproxy.cfg
//! texts parsed with the real parser; the rendered changes are compared
//! with `src/golden/reload/NAME.txt` (`UPDATE_GOLDEN=1` rewrites them).

use std::path::PathBuf;

use super::*;
use crate::config::values::SystemHost;

const BASE: &str = "\
global
    maxconn 100
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:18001
    default_backend be
backend be
    server s1 127.0.0.1:19001
    server s2 127.0.0.1:19002
";

fn parse(text: &str) -> Config {
    match crate::config::parse_sources(
        &[("t.cfg".to_string(), text.to_string())],
        &SystemHost,
        &common::lexer::NoEnv,
    ) {
        Ok(l) => l.config,
        Err(e) => panic!(
            "{}",
            e.diags
                .iter()
                .map(|d| d.text.clone())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// `BASE` with `from` replaced by `to` (which must occur).
fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} not in BASE");
    BASE.replacen(from, to, 1)
}

fn golden(name: &str, old: &str, new: &str) {
    let got = render(&diff(&parse(old), &parse(new)));
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/golden/reload")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(got, want, "{name}: diff differs from {}", path.display());
}

#[test]
fn same_file_no_change() {
    golden("same", BASE, BASE);
}

#[test]
fn moved_lines_no_change() {
    // positions differ, nothing else
    golden("moved_lines", BASE, &format!("\n\n# comment\n{BASE}"));
}

#[test]
fn global_maxconn_lowered() {
    golden(
        "global_maxconn_lowered",
        BASE,
        &edit("maxconn 100", "maxconn 2"),
    );
}

#[test]
fn global_maxconn_removed() {
    golden(
        "global_maxconn_removed",
        BASE,
        &edit("    maxconn 100\n", ""),
    );
}

#[test]
fn frontend_maxconn_added() {
    golden(
        "frontend_maxconn_added",
        BASE,
        &edit(
            "    default_backend be\n",
            "    default_backend be\n    maxconn 5\n",
        ),
    );
}

#[test]
fn bind_maxconn_changed() {
    golden(
        "bind_maxconn",
        &edit("127.0.0.1:18001", "127.0.0.1:18001 maxconn 10"),
        &edit("127.0.0.1:18001", "127.0.0.1:18001 maxconn 3"),
    );
}

#[test]
fn server_maxconn_and_maxqueue() {
    golden(
        "server_maxconn",
        BASE,
        &edit("19001\n", "19001 maxconn 4 maxqueue 8\n"),
    );
}

#[test]
fn bind_added_and_removed() {
    golden(
        "bind_added_removed",
        BASE,
        &edit(
            "bind 127.0.0.1:18001",
            "bind 127.0.0.1:18002,127.0.0.1:18003",
        ),
    );
}

#[test]
fn bind_moves_to_another_frontend() {
    // the two frontends swap their addresses
    let old = format!("{BASE}frontend fe2\n    bind 127.0.0.1:18009\n    default_backend be\n");
    let new = edit("bind 127.0.0.1:18001", "bind 127.0.0.1:18009")
        + "frontend fe2\n    bind 127.0.0.1:18001\n    default_backend be\n";
    golden("bind_moved", &old, &new);
}

#[test]
fn frontend_added_and_removed() {
    let old = format!("{BASE}frontend old\n    bind 127.0.0.1:18010\n    default_backend be\n");
    let new = format!("{BASE}frontend new\n    bind 127.0.0.1:18011\n    default_backend be\n");
    golden("frontend_added_removed", &old, &new);
}

#[test]
fn frontend_disabled() {
    golden(
        "frontend_disabled",
        BASE,
        &edit(
            "    default_backend be\n",
            "    default_backend be\n    disabled\n",
        ),
    );
}

#[test]
fn backend_added_and_default_backend_switched() {
    let old = BASE.to_string();
    let new = format!(
        "{}backend be2\n    server t1 127.0.0.1:19101\n",
        edit("default_backend be", "default_backend be2")
    );
    golden("backend_added_switched", &old, &new);
}

#[test]
fn backend_removed() {
    let old = format!("{BASE}backend gone\n    server g1 127.0.0.1:19201\n");
    golden("backend_removed", &old, BASE);
}

#[test]
fn servers_added_removed_addr_weight() {
    golden(
        "servers",
        BASE,
        &edit(
            "    server s1 127.0.0.1:19001\n    server s2 127.0.0.1:19002\n",
            "    server s1 127.0.0.1:19011 weight 5\n    server s3 127.0.0.1:19003\n",
        ),
    );
}

#[test]
fn server_backup_disabled() {
    golden(
        "server_backup_disabled",
        BASE,
        &edit("19002\n", "19002 backup disabled\n"),
    );
}

#[test]
fn check_parameters() {
    golden(
        "check_params",
        &edit("19001\n", "19001 check\n"),
        &edit(
            "    server s1 127.0.0.1:19001\n",
            "    option tcp-check\n    timeout check 2s\n    server s1 127.0.0.1:19001 check inter 500ms rise 3 fall 4\n",
        ),
    );
}

#[test]
fn log_targets() {
    golden(
        "log_targets",
        BASE,
        &edit(
            "    maxconn 100\n",
            "    maxconn 100\n    log 127.0.0.1:5514 local0\n",
        )
        .replacen(
            "    default_backend be\n",
            "    default_backend be\n    log global\n    option tcplog\n",
            1,
        ),
    );
}

#[test]
fn timeouts() {
    golden(
        "timeouts",
        BASE,
        &edit(
            "    timeout client 5s\n    timeout server 5s\n",
            "    timeout client 6s\n    timeout server 7s\n",
        ),
    );
}

#[test]
fn balance_and_settings() {
    golden(
        "balance",
        BASE,
        &edit(
            "\nbackend be\n",
            "\nbackend be\n    balance leastconn\n    retries 5\n    option redispatch\n",
        ),
    );
}

#[test]
fn bind_socket_options() {
    golden(
        "bind_socket",
        BASE,
        &edit("127.0.0.1:18001", "127.0.0.1:18001 backlog 64"),
    );
}
