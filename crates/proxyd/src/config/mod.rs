//! haproxy.cfg parsing into a typed, validated configuration.
//!
//! * [`model`]: the typed configuration the runtime consumes.
//! * [`load`]: read files (or directories of `*.cfg`, lexical order), parse
//!   and validate; [`parse_sources`] does the same on texts (tests, chroot).
//! * [`check::run_check`]: `proxyd -c` semantics (HAProxy's output and exit
//!   codes: 0 valid, 1 errors, 2 valid but no listener).
//!
//! What is understood (HAProxy 2.6 semantics and wording):
//! * sections `global`, `defaults [NAME] [from NAME]`, `frontend`, `backend`,
//!   `listen` (split into a frontend and a backend of the same name), each
//!   proxy taking the last defaults section or the one named by `from`;
//!   several files or directories; conditional blocks `.if/.elif/.else/.endif`
//!   and `.notice/.warning/.alert/.diag`; `setenv`-family expansion;
//! * global: `log`, `chroot`, `user`/`group`/`uid`/`gid`, `daemon`,
//!   `master-worker`, `maxconn`, `pidfile`, `nbthread`, `hard-stop-after`,
//!   `stats socket|timeout|maxconn`, `spread-checks`, `log-tag`,
//!   `log-send-hostname`, `node`, `description`; SSL/compression/Lua-only
//!   keywords accepted without effect; `tune.*`-style keywords accepted with
//!   a warning;
//! * proxies: `mode tcp`, `bind` (ranges, lists, `name`, `maxconn`,
//!   `backlog`, `v4v6`, `v6only`), `maxconn`, `backlog`, `default_backend`,
//!   `balance roundrobin|static-rr|leastconn|first|source`, `timeout
//!   client|client-fin|connect|server|server-fin|tunnel|queue|check`,
//!   `retries`, `fullconn`, `log`/`no log`/`log global`, options `tcplog`
//!   (`httplog` falls back with HAProxy's warning), `dontlognull`,
//!   `logasap`, `redispatch`, `allbackups`, `log-health-checks`,
//!   `tcp-check`, `httpchk`; `tcp-check connect|send|send-binary|expect
//!   [!] string|binary|comment`, `http-check send|expect [!] status|string`;
//!   `server`/`default-server` with `check`, `inter`, `fastinter`,
//!   `downinter`, `rise`, `fall`, `weight`, `backup`, `disabled`,
//!   `maxconn`, `maxqueue`, `port`, `addr`, `id`, `on-marked-down
//!   shutdown-sessions`, `on-marked-up shutdown-backup-sessions`;
//!   `disabled`, `id`, `description`, `errorfile` (checked like HAProxy);
//!   HTTP-only options, which HAProxy ignores in tcp mode too.
//!
//! Anything HAProxy knows that would behave differently here (`mode http`
//! proxies, `ssl` binds, ACLs, `use_backend`, `http-request`, stick tables,
//! `send-proxy`, `min-recv` expects, other sections...) is a fatal error
//! naming `file:line` and the keyword; unknown keywords get HAProxy's
//! "did you mean" hint.

mod build;
pub mod check;
mod cond;
pub mod diag;
pub mod keywords;
pub mod model;
pub mod values;

#[cfg(test)]
mod tests;

pub use diag::{Diag, Errors, Level};
pub use model::*;

use std::path::{Path, PathBuf};

/// A successfully loaded configuration and the warnings found on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    /// Warnings (and notices), in order, to be logged by the caller.
    pub warnings: Vec<Diag>,
}

/// Load the configuration from `paths`, in order. A directory means its
/// `*.cfg` files in lexical order. Hostnames are resolved here.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, Errors> {
    load_with(paths, &values::SystemHost, &common::lexer::ProcessEnv)
}

/// [`load`] with the system and environment injected (tests).
pub fn load_with(
    paths: &[PathBuf],
    host: &dyn values::Host,
    env: &dyn common::lexer::Env,
) -> Result<Loaded, Errors> {
    let mut sources = Vec::new();
    let mut diags = Vec::new();
    for p in paths {
        if p.is_dir() {
            match std::fs::read_dir(p) {
                Ok(rd) => {
                    let mut files: Vec<PathBuf> = rd
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|f| f.extension().is_some_and(|x| x == "cfg") && !f.is_dir())
                        .collect();
                    files.sort();
                    for f in files {
                        read_one(&f, &mut sources, &mut diags);
                    }
                }
                Err(e) => diags.push(Diag::raw(
                    Level::Alert,
                    None,
                    format!(
                        "Cannot open configuration file/directory {} : {}",
                        p.display(),
                        io_reason(&e)
                    ),
                )),
            }
        } else {
            read_one(p, &mut sources, &mut diags);
        }
    }
    if diags.is_empty() && sources.is_empty() {
        // HAProxy prints its usage and fails when no file is left.
        diags.push(Diag::raw(
            Level::Alert,
            None,
            "No configuration file found (the given directories hold no '*.cfg' file).",
        ));
    }
    if !diags.is_empty() {
        return Err(Errors { diags });
    }
    parse_sources(&sources, host, env)
}

fn read_one(path: &Path, out: &mut Vec<(String, String)>, diags: &mut Vec<Diag>) {
    match common::lexer::read_source(path) {
        Ok(text) => out.push((path.display().to_string(), text)),
        Err(e) => diags.push(Diag::raw(
            Level::Alert,
            None,
            format!(
                "Cannot open configuration file/directory {} : {}",
                path.display(),
                io_reason(&e)
            ),
        )),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Parse configuration texts `(file name, content)`, in order. Pure apart
/// from `host`.
pub fn parse_sources(
    sources: &[(String, String)],
    host: &dyn values::Host,
    env: &dyn common::lexer::Env,
) -> Result<Loaded, Errors> {
    build::build(sources, host, env)
}

/// A lexer error worded as HAProxy does, with the line and a caret when the
/// column is known.
fn lex_diag(e: &common::lexer::LexError, pos: &Pos, src: &str) -> Diag {
    use common::lexer::LexError;
    let col = match e {
        LexError::UnmatchedQuote { col, .. }
        | LexError::BadHexEscape { col, .. }
        | LexError::BadVariable { col, .. } => Some(*col),
        _ => None,
    };
    let msg = match col {
        Some(col) => format!(
            "parsing [{pos}]: {e}:\n  {}\n  {}^",
            src.replace('\t', " "),
            " ".repeat(col.saturating_sub(1))
        ),
        None => format!("parsing [{pos}]: {e}"),
    };
    Diag::raw(Level::Alert, Some(pos), msg)
}
