//! From lexed lines to the typed [`Config`]: sections, keywords, defaults
//! inheritance, then the post-parse checks HAProxy does.
//!
//! Pure apart from the [`Host`] passed in (hostnames, users, groups and
//! `errorfile` existence).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use common::lexer::{Env, Line, Token};

use super::cond::{self, Block, Directive};

use super::diag::{Diag, Errors, Level};
use super::keywords::*;
use super::model::*;
use super::values::{self, atoi, hint, parse_hex, parse_time, Host, TimeError};
use super::Loaded;
use crate::lb::Algo;

/// Parse and validate configuration texts `(file name, content)` into a
/// configuration. Lines are lexed one at a time so that `setenv` and
/// friends in `global` affect the expansion of the lines after them, as in
/// HAProxy.
pub fn build(
    sources: &[(String, String)],
    host: &dyn Host,
    env: &dyn Env,
) -> Result<Loaded, Errors> {
    let mut p = Parser::new(host, env);
    for (name, text) in sources {
        p.file(name, text);
    }
    p.finish()
}

/// The process environment as modified by `setenv`, `presetenv`,
/// `unsetenv` and `resetenv` so far.
struct ParseEnv<'a> {
    base: &'a dyn Env,
    /// `Some(value)` set, `None` unset.
    vars: std::collections::HashMap<String, Option<String>>,
    /// After `resetenv`: only these base variables remain.
    kept: Option<Vec<String>>,
}

impl Env for ParseEnv<'_> {
    fn get(&self, name: &str) -> Option<String> {
        if let Some(v) = self.vars.get(name) {
            return v.clone();
        }
        match &self.kept {
            Some(k) if !k.iter().any(|n| n == name) => None,
            _ => self.base.get(name),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Defaults => "defaults",
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "listen",
        }
    }
    /// How HAProxy names such a proxy in messages.
    fn label(self) -> &'static str {
        match self {
            Kind::Listen => "proxy",
            k => k.word(),
        }
    }
    fn fe(self) -> bool {
        !matches!(self, Kind::Backend)
    }
    fn be(self) -> bool {
        !matches!(self, Kind::Frontend)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogOpt {
    Tcp,
    Http,
}

#[derive(Debug, Clone)]
enum LogEntry {
    Global,
    Target(LogTarget),
}

#[derive(Debug, Clone)]
enum CheckKind {
    Connect,
    TcpCheck,
    HttpChk,
}

#[derive(Debug, Clone)]
struct SrvDefaults {
    check: bool,
    inter: Option<Duration>,
    fastinter: Option<Duration>,
    downinter: Option<Duration>,
    rise: u32,
    fall: u32,
    weight: u32,
    backup: bool,
    disabled: bool,
    maxconn: Option<u32>,
    maxqueue: Option<u32>,
    check_port: Option<u16>,
    check_addr: Option<IpAddr>,
    down_shutdown: bool,
    up_shutdown_backup: bool,
}

impl Default for SrvDefaults {
    fn default() -> Self {
        SrvDefaults {
            check: false,
            inter: None,
            fastinter: None,
            downinter: None,
            rise: DEFAULT_RISE,
            fall: DEFAULT_FALL,
            weight: DEFAULT_WEIGHT,
            backup: false,
            disabled: false,
            maxconn: None,
            maxqueue: None,
            check_port: None,
            check_addr: None,
            down_shutdown: false,
            up_shutdown_backup: false,
        }
    }
}

/// A proxy (or defaults section) being parsed.
#[derive(Debug, Clone)]
struct Draft {
    kind: Kind,
    name: String,
    pos: Pos,
    mode_http: Option<Pos>,
    id: Option<u32>,
    binds: Vec<Bind>,
    maxconn: Option<u32>,
    backlog: Option<u32>,
    default_backend: Option<(String, Pos)>,
    log: Vec<LogEntry>,
    log_opt: Option<(LogOpt, Pos)>,
    dontlognull: bool,
    logasap: bool,
    redispatch: bool,
    allbackups: bool,
    log_health_checks: bool,
    timeout_client: Option<Duration>,
    timeout_client_fin: Option<Duration>,
    timeout_connect: Option<Duration>,
    timeout_server: Option<Duration>,
    timeout_server_fin: Option<Duration>,
    timeout_tunnel: Option<Duration>,
    timeout_queue: Option<Duration>,
    timeout_check: Option<Duration>,
    retries: u32,
    balance: Algo,
    check_kind: CheckKind,
    check_kind_pos: Option<Pos>,
    tcp_rules: Vec<TcpCheckRule>,
    tcp_rules_pos: Option<Pos>,
    /// The check rules come from a defaults section: the proxy's own first
    /// rule replaces them instead of adding to them.
    rules_inherited: bool,
    http: HttpCheck,
    defsrv: SrvDefaults,
    servers: Vec<Server>,
    /// Server name -> index in `servers` (duplicate check in O(1)).
    server_names: HashMap<String, usize>,
    /// Explicit server ids already taken (`id N`).
    server_ids: HashSet<u32>,
    fullconn: Option<u32>,
    disabled: bool,
    /// HTTP-only keywords accepted because they are harmless in tcp mode.
    http_only: Vec<(String, Pos)>,
}

impl Draft {
    fn builtin(pos: Pos) -> Draft {
        Draft {
            kind: Kind::Defaults,
            name: String::new(),
            pos,
            mode_http: None,
            id: None,
            binds: Vec::new(),
            maxconn: None,
            backlog: None,
            default_backend: None,
            log: Vec::new(),
            log_opt: None,
            dontlognull: false,
            logasap: false,
            redispatch: false,
            allbackups: false,
            log_health_checks: false,
            timeout_client: None,
            timeout_client_fin: None,
            timeout_connect: None,
            timeout_server: None,
            timeout_server_fin: None,
            timeout_tunnel: None,
            timeout_queue: None,
            timeout_check: None,
            retries: DEFAULT_RETRIES,
            balance: Algo::RoundRobin,
            check_kind: CheckKind::Connect,
            check_kind_pos: None,
            tcp_rules: Vec::new(),
            tcp_rules_pos: None,
            rules_inherited: false,
            http: default_http_check(),
            defsrv: SrvDefaults::default(),
            servers: Vec::new(),
            server_names: HashMap::new(),
            server_ids: HashSet::new(),
            fullconn: None,
            disabled: false,
            http_only: Vec::new(),
        }
    }

    fn what(&self) -> String {
        format!("{} '{}'", self.kind.label(), self.name)
    }
}

fn default_http_check() -> HttpCheck {
    HttpCheck {
        method: "OPTIONS".to_string(),
        uri: "/".to_string(),
        version: "HTTP/1.0".to_string(),
        headers: Vec::new(),
        body: Vec::new(),
        expect: None,
    }
}

struct DefaultsEntry {
    name: String,
    pos: Pos,
    draft: Draft,
}

enum Cur {
    None,
    Global,
    Proxy(Box<Draft>),
    /// An unsupported section: its lines are skipped (already reported).
    Skip,
}

struct Parser<'h> {
    host: &'h dyn Host,
    env: ParseEnv<'h>,
    diags: Vec<Diag>,
    file_alert: bool,
    parse_failed: bool,
    /// A server address could not be resolved.
    addr_failed: bool,
    global: Global,
    defaults: Vec<DefaultsEntry>,
    current_defaults: Option<Draft>,
    proxies: Vec<Draft>,
    cur: Cur,
}

/// Hands out the lowest id not taken, in increasing order: the taken set
/// only grows, so the search resumes where it stopped (linear overall).
struct LowestFree {
    used: HashSet<u32>,
    next: u32,
}

impl LowestFree {
    fn new(used: HashSet<u32>) -> Self {
        LowestFree { used, next: 1 }
    }

    fn take(&mut self) -> u32 {
        while self.used.contains(&self.next) {
            self.next = self.next.saturating_add(1);
        }
        let n = self.next;
        self.used.insert(n);
        n
    }
}

fn args(line: &Line) -> &[Token] {
    &line.words[1..]
}

fn word(line: &Line, i: usize) -> Option<&str> {
    line.words.get(i).map(|t| t.text.as_str())
}

fn name_ok(name: &str) -> Option<char> {
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
}

fn time_err(e: TimeError, kw: &str) -> String {
    match e {
        TimeError::Empty => format!("'{kw}' expects an integer value (in milliseconds)"),
        TimeError::BadChar(c) => format!("unexpected character '{c}' in '{kw}'"),
        TimeError::Overflow => format!(
            "timer overflow in argument to '{kw}' (maximum value is 2147483647 ms or ~24.8 days)"
        ),
    }
}

impl<'h> Parser<'h> {
    fn new(host: &'h dyn Host, env: &'h dyn Env) -> Self {
        Parser {
            host,
            env: ParseEnv {
                base: env,
                vars: std::collections::HashMap::new(),
                kept: None,
            },
            diags: Vec::new(),
            file_alert: false,
            parse_failed: false,
            addr_failed: false,
            global: Global {
                stats_timeout: DEFAULT_STATS_TIMEOUT,
                ..Global::default()
            },
            defaults: Vec::new(),
            current_defaults: None,
            proxies: Vec::new(),
            cur: Cur::None,
        }
    }

    /// Compile a check's regular expression, or alert (`'KEYWORD' : ...`).
    fn regex(&mut self, pos: &Pos, keyword: &str, pat: &str) -> Option<Pattern> {
        match Pattern::new(pat) {
            Ok(p) => Some(p),
            Err(e) => {
                self.alert(
                    pos,
                    format!("'{keyword}' : {}.", Pattern::error_message(pat, &e)),
                );
                None
            }
        }
    }

    fn alert(&mut self, pos: &Pos, msg: impl std::fmt::Display) {
        self.diags.push(Diag::alert(pos, msg));
        self.file_alert = true;
        self.parse_failed = true;
    }

    /// An alert HAProxy reports after parsing (no "Error(s) found" line).
    fn post_alert(&mut self, pos: &Pos, msg: impl std::fmt::Display) {
        self.diags.push(Diag::alert(pos, msg));
        self.parse_failed = true;
    }

    /// HAProxy's server-line format: `[FILE:LINE] : MSG` (no "parsing").
    fn alert_srv(&mut self, pos: &Pos, msg: impl std::fmt::Display) {
        self.diags.push(Diag::raw(
            Level::Alert,
            Some(pos),
            format!("[{pos}] : {msg}"),
        ));
        self.file_alert = true;
        self.parse_failed = true;
    }

    fn warn(&mut self, pos: &Pos, msg: impl std::fmt::Display) {
        self.diags.push(Diag::warning(pos, msg));
    }

    fn unsupported(&mut self, pos: &Pos, what: &str, section: &str) {
        self.alert(
            pos,
            format!("'{what}' (in '{section}' section) is not supported by proxyd; remove it or keep HAProxy for this configuration."),
        );
    }

    /// A lenient integer as HAProxy reads it (`atol`), with a warning when
    /// the word is not a clean number.
    fn int(&mut self, pos: &Pos, kw: &str, w: &str) -> u64 {
        let (v, clean) = atoi(w);
        if !clean {
            self.warn(
                pos,
                format!("'{kw}' : '{w}' is not a valid number, read as {v} like HAProxy does."),
            );
        }
        v
    }

    fn int32(&mut self, pos: &Pos, kw: &str, w: &str) -> u32 {
        let v = self.int(pos, kw, w);
        u32::try_from(v).unwrap_or(u32::MAX)
    }

    fn file(&mut self, name: &str, text: &str) {
        self.file_alert = false;
        self.cur = Cur::None;
        let mut stack: Vec<Block> = Vec::new();
        let mut last_pos = None;
        for (idx, raw) in text.lines().enumerate() {
            let pos = Pos::new(name, (idx + 1) as u32);
            let lexed = common::lexer::lex(name, raw, common::lexer::Dialect::Haproxy, &self.env);
            match lexed {
                Ok(lines) => {
                    for mut line in lines {
                        line.pos = pos.clone();
                        for w in &mut line.words {
                            w.pos = pos.clone();
                        }
                        self.cond_line(&line, &mut stack);
                        last_pos = Some(pos.clone());
                    }
                }
                Err(e) => {
                    let d = super::lex_diag(&e, &pos, raw);
                    self.diags.push(d);
                    self.file_alert = true;
                    self.parse_failed = true;
                }
            }
        }
        if let Some(last) = text.strip_suffix('\n').map_or(Some(text), |_| None) {
            // HAProxy 2.6 refuses a last line without its LF (a truncated
            // file); the position is the column just past its last byte.
            if !last.is_empty() {
                let line_no = text.lines().count().max(1) as u32;
                let tail = last.rsplit('\n').next().unwrap_or(last);
                let pos = Pos::new(name, line_no);
                let msg = format!(
                    "parsing [{pos}]: Missing LF on last line, file might have been truncated at position {}.",
                    tail.chars().count() + 1
                );
                self.diags.push(Diag::raw(Level::Alert, Some(&pos), msg));
                self.file_alert = true;
                self.parse_failed = true;
            }
        }
        if !stack.is_empty() {
            if let Some(last) = last_pos {
                self.alert_nopars(&last, "non-terminated '.if' block.".to_string());
            }
        }
        self.end_section();
        if self.file_alert {
            self.diags.push(Diag::raw(
                Level::Alert,
                None,
                format!("Error(s) found in configuration file : {name}"),
            ));
        }
    }

    /// Conditional blocks and message directives; other lines go to
    /// [`Self::line`] when the current block is active.
    fn cond_line(&mut self, line: &Line, stack: &mut Vec<Block>) {
        let Some(first) = line.words.first() else {
            return;
        };
        let active = stack.last().is_none_or(|b| b.active);
        let dir = if first.quoted {
            None
        } else {
            Directive::from_word(&first.text)
        };
        let Some(dir) = dir else {
            if active {
                self.line(line);
            }
            return;
        };
        let text = args(line)
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let pos = line.pos.clone();
        match dir {
            Directive::If => {
                let v = active && self.eval_cond(&pos, ".if", &text);
                stack.push(Block {
                    parent_active: active,
                    taken: v,
                    active: v,
                    seen_else: false,
                });
            }
            Directive::Elif | Directive::Else => {
                let kw = if dir == Directive::Elif {
                    ".elif"
                } else {
                    ".else"
                };
                let Some(b) = stack.last() else {
                    self.alert_nopars(&pos, format!("lone '{kw}' with no matching '.if'."));
                    return;
                };
                if b.seen_else {
                    self.alert_nopars(&pos, format!("'{kw}' after '.else' is not permitted."));
                    return;
                }
                let (parent_active, taken) = (b.parent_active, b.taken);
                let v = parent_active
                    && !taken
                    && (dir == Directive::Else || self.eval_cond(&pos, kw, &text));
                if let Some(b) = stack.last_mut() {
                    b.active = v;
                    b.taken = taken || v;
                    b.seen_else = dir == Directive::Else;
                }
            }
            Directive::Endif => {
                if stack.pop().is_none() {
                    self.alert_nopars(&pos, "lone '.endif' with no matching '.if'.".to_string());
                }
            }
            // `.diag` messages are only shown by HAProxy's -dD mode.
            Directive::Diag => {}
            Directive::Notice | Directive::Warning | Directive::Alert if active => {
                let msg = format!("parsing [{pos}]: '{text}'.");
                match dir {
                    Directive::Notice => self.diags.push(Diag::raw(Level::Notice, Some(&pos), msg)),
                    Directive::Warning => {
                        self.diags.push(Diag::raw(Level::Warning, Some(&pos), msg))
                    }
                    _ => {
                        self.diags.push(Diag::raw(Level::Alert, Some(&pos), msg));
                        self.file_alert = true;
                        self.parse_failed = true;
                    }
                }
            }
            Directive::Notice | Directive::Warning | Directive::Alert => {}
        }
    }

    fn eval_cond(&mut self, pos: &Pos, kw: &str, text: &str) -> bool {
        match cond::eval(text, &self.env) {
            Ok(v) => v,
            Err(at) => {
                let caret = " ".repeat(kw.len() + at);
                self.alert_nopars(
                    pos,
                    format!("unparsable conditional expression '{text}' in '{kw}' at position {at}:\n  {kw} {text}\n  {caret}^"),
                );
                false
            }
        }
    }

    fn end_section(&mut self) {
        match std::mem::replace(&mut self.cur, Cur::None) {
            Cur::Proxy(d) => {
                let d = *d;
                if d.kind == Kind::Defaults {
                    self.current_defaults = Some(d.clone());
                    if !d.name.is_empty() {
                        self.defaults.push(DefaultsEntry {
                            name: d.name.clone(),
                            pos: d.pos.clone(),
                            draft: d,
                        });
                    }
                } else {
                    self.proxies.push(d);
                }
            }
            Cur::None | Cur::Global | Cur::Skip => {}
        }
    }

    fn line(&mut self, line: &Line) {
        let Some(first) = line.words.first() else {
            return;
        };
        let kw = first.text.as_str();
        if !first.quoted {
            match kw {
                "global" => {
                    self.end_section();
                    if self.global.pos.is_none() {
                        self.global.pos = Some(line.pos.clone());
                    }
                    self.cur = Cur::Global;
                    return;
                }
                "defaults" | "frontend" | "backend" | "listen" => {
                    self.end_section();
                    self.section_header(line);
                    return;
                }
                _ if UNSUPPORTED_SECTIONS.contains(&kw) => {
                    self.end_section();
                    self.alert(
                        &line.pos,
                        format!("'{kw}' sections are not supported by proxyd."),
                    );
                    self.cur = Cur::Skip;
                    return;
                }
                _ => {}
            }
        }
        match std::mem::replace(&mut self.cur, Cur::None) {
            Cur::None => {
                self.alert_nopars(&line.pos, format!("unknown keyword '{kw}' out of section."));
            }
            Cur::Skip => self.cur = Cur::Skip,
            Cur::Global => {
                self.cur = Cur::Global;
                self.global_line(line);
            }
            Cur::Proxy(mut d) => {
                self.proxy_line(&mut d, line);
                self.cur = Cur::Proxy(d);
            }
        }
    }

    /// `parsing [FILE:LINE]: MSG` (HAProxy's out-of-section format).
    fn alert_nopars(&mut self, pos: &Pos, msg: String) {
        self.diags.push(Diag::raw(
            Level::Alert,
            Some(pos),
            format!("parsing [{pos}]: {msg}"),
        ));
        self.file_alert = true;
        self.parse_failed = true;
    }

    fn section_header(&mut self, line: &Line) {
        let kind = match line.words[0].text.as_str() {
            "defaults" => Kind::Defaults,
            "frontend" => Kind::Frontend,
            "backend" => Kind::Backend,
            _ => Kind::Listen,
        };
        let pos = line.pos.clone();
        let a = args(line);
        // `defaults [NAME] [from PARENT]`, `frontend NAME [from DEFAULTS]`
        let (name, rest): (String, &[Token]) = match a.first() {
            Some(t) if !(kind == Kind::Defaults && t.is("from")) => (t.text.clone(), &a[1..]),
            _ => (String::new(), a),
        };
        if name.is_empty() && kind != Kind::Defaults {
            self.alert(&pos, format!("'{}' expects an <id> argument", kind.word()));
            self.cur = Cur::Skip;
            return;
        }
        if let Some(c) = name_ok(&name) {
            self.alert(
                &pos,
                format!(
                    "character '{c}' is not permitted in '{}' name '{name}'.",
                    kind.word()
                ),
            );
        }
        let mut from: Option<String> = None;
        match rest {
            [] => {}
            [f, n] if f.is("from") => from = Some(n.text.clone()),
            [f] if f.is("from") => {
                self.alert(
                    &pos,
                    format!(
                        "'{}' : missing defaults section name after 'from'.",
                        kind.word()
                    ),
                );
            }
            [other, ..] => {
                self.alert(
                    &pos,
                    format!(
                        "'{}' : unexpected argument '{}'; only 'from <defaults>' may follow the name.",
                        kind.word(),
                        other.text
                    ),
                );
            }
        }
        // Duplicate proxy names with overlapping capabilities.
        if kind != Kind::Defaults {
            let clash = self.proxies.iter().find(|p| {
                p.name == name && ((p.kind.fe() && kind.fe()) || (p.kind.be() && kind.be()))
            });
            if let Some(other) = clash {
                let msg = format!(
                    "Parsing [{pos}]: {} '{name}' has the same name as {} '{}' declared at {}.",
                    kind.label(),
                    other.kind.label(),
                    other.name,
                    other.pos
                );
                self.diags.push(Diag::raw(Level::Alert, Some(&pos), msg));
                self.file_alert = true;
                self.parse_failed = true;
            }
        }
        let base = match &from {
            Some(dname) => {
                let found: Vec<&DefaultsEntry> =
                    self.defaults.iter().filter(|d| &d.name == dname).collect();
                match found.as_slice() {
                    [] => {
                        let msg = if kind == Kind::Defaults {
                            format!("defaults section '{dname}' not found for defaults section '{name}'.")
                        } else {
                            format!(
                                "defaults section '{dname}' not found for {} '{name}'.",
                                kind.label()
                            )
                        };
                        self.alert(&pos, msg);
                        None
                    }
                    [one] => Some(one.draft.clone()),
                    [a, b, ..] => {
                        let msg = format!(
                            "ambiguous defaults section name '{dname}' referenced by {} '{name}' exists at least at {} and {}.",
                            if kind == Kind::Defaults { "defaults section" } else { "proxy" },
                            a.pos,
                            b.pos
                        );
                        self.alert(&pos, msg);
                        None
                    }
                }
            }
            None if kind == Kind::Defaults => None,
            None => self.current_defaults.clone(),
        };
        let mut d = base.unwrap_or_else(|| Draft::builtin(pos.clone()));
        d.kind = kind;
        d.name = name;
        d.pos = pos;
        d.id = None;
        d.binds.clear();
        d.servers.clear();
        d.server_names.clear();
        d.server_ids.clear();
        d.rules_inherited = true;
        self.cur = Cur::Proxy(Box::new(d));
    }

    // ----------------------------------------------------------------- global

    fn global_line(&mut self, line: &Line) {
        let pos = line.pos.clone();
        let kw = line.words[0].text.clone();
        let a = args(line);
        let a0 = a.first().map(|t| t.text.clone());
        match kw.as_str() {
            "daemon" => self.global.daemon = true,
            "master-worker" => self.global.master_worker = true,
            "maxconn" => match a0 {
                Some(w) => {
                    let v = self.int32(&pos, "maxconn", &w);
                    self.global.maxconn = Some(v);
                }
                None => self.alert(&pos, "'maxconn' expects an integer argument."),
            },
            "user" | "group" => {
                let Some(w) = a0 else {
                    self.alert(&pos, format!("'{kw}' expects a {kw} name."));
                    return;
                };
                let id = if kw == "user" {
                    self.host.user_id(&w)
                } else {
                    self.host.group_id(&w)
                };
                match id {
                    Some(id) if kw == "user" => {
                        self.global.user = Some(w);
                        self.global.uid = Some(id);
                    }
                    Some(id) => {
                        self.global.group = Some(w);
                        self.global.gid = Some(id);
                    }
                    None => {
                        let what = if kw == "user" { "user" } else { "group" };
                        self.alert(&pos, format!("cannot find {what} id for '{w}' (0:Success)"));
                    }
                }
            }
            "uid" | "gid" => match a0 {
                Some(w) => match w.parse::<u32>() {
                    Ok(v) if kw == "uid" => self.global.uid = Some(v),
                    Ok(v) => self.global.gid = Some(v),
                    Err(_) => self.alert(&pos, format!("'{kw}' expects an integer argument.")),
                },
                None => self.alert(&pos, format!("'{kw}' expects an integer argument.")),
            },
            "chroot" => match a0 {
                Some(w) => self.global.chroot = Some(PathBuf::from(w)),
                None => self.alert(&pos, "'chroot' expects a directory as an argument."),
            },
            "pidfile" => match a0 {
                Some(w) => self.global.pidfile = Some(PathBuf::from(w)),
                None => self.alert(&pos, "'pidfile' expects a file name as an argument."),
            },
            "ca-base" | "crt-base" => match a0 {
                Some(w) if kw == "ca-base" => self.global.ca_base = Some(PathBuf::from(w)),
                Some(w) => self.global.crt_base = Some(PathBuf::from(w)),
                None => self.alert(
                    &pos,
                    format!("'{kw}' expects a directory path as an argument."),
                ),
            },
            "nbthread" => match a0 {
                Some(w) => {
                    let (v, _) = atoi(&w);
                    if !(1..=64).contains(&v) {
                        self.alert(
                            &pos,
                            format!("'nbthread' value must be between 1 and 64 (was {v})"),
                        );
                    } else {
                        self.global.nbthread = Some(v as usize);
                    }
                }
                None => self.alert(&pos, "'nbthread' expects an integer argument."),
            },
            "hard-stop-after" => match a0 {
                Some(w) => match parse_time(&w) {
                    Ok(v) => self.global.hard_stop_after = Some(v),
                    Err(TimeError::BadChar(c)) => self.alert(
                        &pos,
                        format!("unexpected character '{c}' in argument to <hard-stop-after>."),
                    ),
                    Err(e) => {
                        let m = time_err(e, "hard-stop-after");
                        self.alert(&pos, m)
                    }
                },
                None => self.alert(&pos, "'hard-stop-after' expects <time> as argument."),
            },
            "spread-checks" => match a0 {
                Some(w) => {
                    let (v, _) = atoi(&w);
                    if v > 50 {
                        self.alert(
                            &pos,
                            "'spread-checks' needs a positive value in range 0..50.",
                        );
                    } else {
                        self.global.spread_checks = v as u32;
                    }
                }
                None => self.alert(&pos, "'spread-checks' expects an integer argument."),
            },
            "log-tag" => match a0 {
                Some(w) => self.global.log_tag = Some(w),
                None => self.alert(&pos, "'log-tag' expects a tag for use in syslog."),
            },
            "setenv" | "presetenv" => match a {
                [n, v] => {
                    if kw == "setenv" || self.env.get(&n.text).is_none() {
                        self.env.vars.insert(n.text.clone(), Some(v.text.clone()));
                    }
                }
                _ => self.alert_nopars(&pos, format!("'{kw}' expects a name and a value.")),
            },
            "unsetenv" => {
                for n in a {
                    self.env.vars.insert(n.text.clone(), None);
                }
            }
            "resetenv" => {
                let keep: Vec<String> = a.iter().map(|t| t.text.clone()).collect();
                self.env.vars.retain(|k, _| keep.contains(k));
                self.env.kept = Some(keep);
            }
            "node" => self.global.node = Some(a0.unwrap_or_default()),
            "description" => {
                let words: Vec<&str> = a.iter().map(|t| t.text.as_str()).collect();
                if words.is_empty() {
                    self.alert(&pos, "'description' expects a string argument.");
                } else {
                    self.global.description = Some(words.join(" "));
                }
            }
            "log-send-hostname" => {
                self.global.log_send_hostname = Some(a0.unwrap_or_default());
            }
            "log" => {
                if let Some(t) = self.log_line(line) {
                    match t {
                        LogEntry::Target(t) => self.global.log.push(t),
                        LogEntry::Global => {
                            self.alert(&pos, "'log global' makes no sense in the 'global' section.")
                        }
                    }
                }
            }
            "stats" => self.global_stats(line),
            _ if GLOBAL_SSL_ACCEPTED.contains(&kw.as_str()) => {
                // Only matters to `ssl` binds and servers, which are rejected.
            }
            _ if GLOBAL_PERF_WARN.contains(&kw.as_str()) => {
                self.warn(
                    &pos,
                    format!("'{kw}' only tunes HAProxy's internals; accepted, it has no effect in proxyd."),
                );
            }
            _ if GLOBAL_KNOWN_UNSUPPORTED.contains(&kw.as_str()) => {
                self.unsupported(&pos, &kw, "global");
            }
            _ => {
                let mut all: Vec<&str> = GLOBAL_SUPPORTED.to_vec();
                all.extend_from_slice(GLOBAL_SSL_ACCEPTED);
                all.extend_from_slice(GLOBAL_KNOWN_UNSUPPORTED);
                all.extend_from_slice(GLOBAL_PERF_WARN);
                let h = hint(&kw, &all);
                self.alert(
                    &pos,
                    format!("unknown keyword '{kw}' in 'global' section{h}"),
                );
            }
        }
    }

    fn global_stats(&mut self, line: &Line) {
        let pos = line.pos.clone();
        let a = args(line);
        let sub = a.first().map(|t| t.text.as_str()).unwrap_or("");
        match sub {
            "timeout" => match a.get(1) {
                Some(w) => match parse_time(&w.text) {
                    Ok(d) if !d.is_zero() => self.global.stats_timeout = d,
                    Ok(_) => self.alert(&pos, "'stats timeout' expects a positive value"),
                    Err(TimeError::BadChar(c)) => {
                        self.alert(&pos, format!("'stats timeout' : unexpected character '{c}'"))
                    }
                    Err(e) => {
                        let m = time_err(e, "stats timeout");
                        self.alert(&pos, m)
                    }
                },
                None => self.alert(&pos, "'stats timeout' expects a timeout in milliseconds."),
            },
            "maxconn" => match a.get(1) {
                Some(w) => {
                    let (v, _) = atoi(&w.text);
                    if v == 0 {
                        self.alert(&pos, "'stats maxconn' : bad value");
                    } else {
                        self.global.stats_maxconn = Some(u32::try_from(v).unwrap_or(u32::MAX));
                    }
                }
                None => self.alert(&pos, "'stats maxconn' expects an integer argument."),
            },
            "socket" => self.stats_socket(&pos, &a[1..]),
            _ => self.alert(
                &pos,
                format!("'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '{sub}')."),
            ),
        }
    }

    fn stats_socket(&mut self, pos: &Pos, a: &[Token]) {
        let Some(addr_w) = a.first() else {
            self.alert(pos, "'stats socket' : missing socket address");
            return;
        };
        let addr_text = addr_w.text.as_str();
        let addr = if let Some(p) = addr_text.strip_prefix("unix@") {
            StatsAddr::Unix(PathBuf::from(p))
        } else if addr_text.starts_with('/') || addr_text.starts_with('.') {
            StatsAddr::Unix(PathBuf::from(addr_text))
        } else if addr_text.contains('@')
            && !addr_text.starts_with("ipv4@")
            && !addr_text.starts_with("ipv6@")
        {
            self.alert(
                pos,
                format!("'stats socket' : address '{addr_text}' is not supported by proxyd (only unix paths and ip:port)."),
            );
            return;
        } else {
            match values::parse_addr(addr_text, false) {
                Ok(raw) => match (values::resolve_host(&raw, self.host), raw.ports) {
                    (Some(ip), Some((p, _))) => StatsAddr::Tcp(SocketAddr::new(ip, p)),
                    (_, None) => {
                        self.alert(
                            pos,
                            format!("'stats socket' : missing port specification in '{addr_text}'"),
                        );
                        return;
                    }
                    (None, _) => {
                        self.alert(
                            pos,
                            format!(
                                "'stats socket' : invalid address: '{}' in '{addr_text}'",
                                raw.host
                            ),
                        );
                        return;
                    }
                },
                Err(e) => {
                    self.alert(pos, format!("'stats socket' : {e}"));
                    return;
                }
            }
        };
        let mut s = StatsSocket {
            pos: pos.clone(),
            addr,
            mode: None,
            uid: None,
            gid: None,
            level: StatsLevel::Operator,
            expose_fd_listeners: false,
        };
        let mut i = 1;
        while i < a.len() {
            let k = a[i].text.as_str();
            let v = a.get(i + 1).map(|t| t.text.as_str());
            match (k, v) {
                ("mode", v) => {
                    match v.and_then(|v| u32::from_str_radix(v, 8).ok().filter(|m| *m <= 0o7777)) {
                        Some(m) => s.mode = Some(m),
                        None => {
                            self.alert(pos, format!("'stats socket' : ''mode' : missing or invalid mode '{}' (octal integer expected)'", v.unwrap_or("")));
                            return;
                        }
                    }
                    i += 2;
                }
                ("level", v) => {
                    s.level = match v {
                        Some("user") => StatsLevel::User,
                        Some("operator") => StatsLevel::Operator,
                        Some("admin") => StatsLevel::Admin,
                        other => {
                            self.alert(pos, format!("'stats socket' : 'level' only supports 'user', 'operator', and 'admin' (got '{}')", other.unwrap_or("")));
                            return;
                        }
                    };
                    i += 2;
                }
                ("user" | "group", Some(name)) => {
                    let id = if k == "user" {
                        self.host.user_id(name)
                    } else {
                        self.host.group_id(name)
                    };
                    match id {
                        Some(id) if k == "user" => s.uid = Some(id),
                        Some(id) => s.gid = Some(id),
                        None => {
                            self.alert(
                                pos,
                                format!("'stats socket' : '{k}' : unknown {k} name '{name}'"),
                            );
                            return;
                        }
                    }
                    i += 2;
                }
                ("uid" | "gid", Some(n)) => {
                    match n.parse::<u32>() {
                        Ok(id) if k == "uid" => s.uid = Some(id),
                        Ok(id) => s.gid = Some(id),
                        Err(_) => {
                            self.alert(
                                pos,
                                format!("'stats socket' : '{k}' : expects an integer argument"),
                            );
                            return;
                        }
                    }
                    i += 2;
                }
                ("expose-fd", Some("listeners")) => {
                    s.expose_fd_listeners = true;
                    i += 2;
                }
                ("expose-fd", other) => {
                    self.alert(pos, format!("'stats socket' : 'expose-fd' : unsupported parameter '{}', only 'listeners' is supported", other.unwrap_or("")));
                    return;
                }
                ("user" | "group" | "uid" | "gid", None) => {
                    self.alert(pos, format!("'stats socket' : '{k}' : missing value"));
                    return;
                }
                _ if BIND_KNOWN.contains(&k) => {
                    self.alert(
                        pos,
                        format!(
                            "'stats socket' : '{k}' is not supported by proxyd on stats sockets."
                        ),
                    );
                    return;
                }
                _ => {
                    let h = hint(k, STATS_SOCKET_SUPPORTED);
                    self.alert(pos, format!("'stats socket' : unknown keyword '{k}'{h}"));
                    return;
                }
            }
        }
        self.global.stats_sockets.push(s);
    }

    /// Parse a `log` line (global or proxy). `None` after an alert.
    fn log_line(&mut self, line: &Line) -> Option<LogEntry> {
        let pos = line.pos.clone();
        let a = args(line);
        let Some(target) = a.first() else {
            self.alert(
                &pos,
                "'log' expects either <address[:port]> and <facility> or 'global' as arguments.",
            );
            return None;
        };
        if target.text == "global" {
            if a.len() > 1 {
                self.alert(&pos, "'log global' does not take any argument.");
                return None;
            }
            return Some(LogEntry::Global);
        }
        let t = target.text.as_str();
        let dest = if t == "stdout" || t == "fd@1" {
            LogDest::Stdout
        } else if t == "stderr" || t == "fd@2" {
            LogDest::Stderr
        } else if let Some(p) = t.strip_prefix("unix@") {
            LogDest::Unix(PathBuf::from(p))
        } else if t.starts_with('/') {
            LogDest::Unix(PathBuf::from(t))
        } else if t.contains('@')
            && !(t.starts_with("ipv4@")
                || t.starts_with("ipv6@")
                || t.starts_with("udp@")
                || t.starts_with("udp4@")
                || t.starts_with("udp6@"))
        {
            self.alert(&pos, format!("log : target '{t}' is not supported by proxyd (only unix paths, stdout, stderr and udp ip:port)."));
            return None;
        } else {
            let t2 = t
                .strip_prefix("udp@")
                .or_else(|| t.strip_prefix("udp4@"))
                .map(|r| format!("ipv4@{r}"))
                .or_else(|| t.strip_prefix("udp6@").map(|r| format!("ipv6@{r}")))
                .unwrap_or_else(|| t.to_string());
            match values::parse_addr(&t2, false) {
                Ok(raw) => match values::resolve_host(&raw, self.host) {
                    Some(ip) if !raw.host.is_empty() => {
                        LogDest::Udp(SocketAddr::new(ip, raw.ports.map(|p| p.0).unwrap_or(514)))
                    }
                    _ => {
                        self.alert(
                            &pos,
                            format!("log : invalid address: '{}' in '{t}'", raw.host),
                        );
                        return None;
                    }
                },
                Err(e) => {
                    self.alert(&pos, format!("log : {e}"));
                    return None;
                }
            }
        };
        let mut i = 1;
        let mut len = None;
        let mut format = LogFormatKind::Rfc3164;
        loop {
            match a.get(i).map(|t| t.text.as_str()) {
                Some("len") => {
                    let Some(v) = a.get(i + 1) else {
                        self.alert(&pos, "log : 'len' expects an integer argument.");
                        return None;
                    };
                    let (n, clean) = atoi(&v.text);
                    if !clean || !(80..=65535).contains(&n) {
                        self.alert(
                            &pos,
                            format!(
                                "log : invalid max length '{}' (must be between 80 and 65535)",
                                v.text
                            ),
                        );
                        return None;
                    }
                    len = Some(n as u32);
                    i += 2;
                }
                Some("format") => {
                    let v = a.get(i + 1).map(|t| t.text.as_str()).unwrap_or("");
                    format = match v {
                        "rfc3164" => LogFormatKind::Rfc3164,
                        "rfc5424" => LogFormatKind::Rfc5424,
                        "short" => LogFormatKind::Short,
                        "raw" => LogFormatKind::Raw,
                        "timed" => LogFormatKind::Timed,
                        "iso" => LogFormatKind::Iso,
                        "local" => LogFormatKind::Local,
                        "priority" => LogFormatKind::Priority,
                        _ => {
                            self.alert(&pos, format!("log : unknown log format '{v}'"));
                            return None;
                        }
                    };
                    i += 2;
                }
                Some("sample") => {
                    self.alert(&pos, "log : 'sample' is not supported by proxyd.");
                    return None;
                }
                _ => break,
            }
        }
        let Some(fac) = a.get(i) else {
            self.alert(&pos, "'log' expects <address> and <facility> as arguments.");
            return None;
        };
        let Some(facility) = Facility::from_name(&fac.text) else {
            self.alert(&pos, format!("log : unknown log facility '{}'", fac.text));
            return None;
        };
        let mut max_level = None;
        let mut min_level = None;
        if let Some(l) = a.get(i + 1) {
            match level_from_name(&l.text) {
                Some(v) => max_level = Some(v),
                None => {
                    self.alert(
                        &pos,
                        format!("log : unknown optional log level '{}'", l.text),
                    );
                    return None;
                }
            }
        }
        if let Some(l) = a.get(i + 2) {
            match level_from_name(&l.text) {
                Some(v) => min_level = Some(v),
                None => {
                    self.alert(
                        &pos,
                        format!("log : unknown optional minimum log level '{}'", l.text),
                    );
                    return None;
                }
            }
        }
        if let Some(extra) = a.get(i + 3) {
            self.alert(
                &pos,
                format!("log : cannot handle unexpected argument '{}'.", extra.text),
            );
            return None;
        }
        Some(LogEntry::Target(LogTarget {
            pos,
            dest,
            facility,
            max_level,
            min_level,
            format,
            len,
        }))
    }

    // ------------------------------------------------------------------ proxy

    /// Capability check. Returns false (after a warning) when the keyword
    /// does not apply to this proxy.
    fn need_cap(&mut self, d: &Draft, pos: &Pos, kw: &str, fe: bool) -> bool {
        let ok = if fe { d.kind.fe() } else { d.kind.be() };
        if !ok {
            let cap = if fe { "frontend" } else { "backend" };
            self.warn(
                pos,
                format!(
                    "'{kw}' ignored because {} has no {cap} capability.",
                    d.what()
                ),
            );
        }
        ok
    }

    fn proxy_line(&mut self, d: &mut Draft, line: &Line) {
        let pos = line.pos.clone();
        let kw = line.words[0].text.clone();
        let section = d.kind.word();
        let a = args(line);
        let a0 = a.first().map(|t| t.text.clone());
        match kw.as_str() {
            "mode" => match a0.as_deref() {
                Some("tcp") => d.mode_http = None,
                Some("http") => d.mode_http = Some(pos),
                Some(m) => self.alert(&pos, format!("unknown proxy mode '{m}'.")),
                None => self.alert(&pos, "'mode' expects one of 'tcp', 'http' or 'health'."),
            },
            "bind" => {
                if d.kind == Kind::Defaults {
                    self.alert(&pos, "'bind' not allowed in 'defaults' section.");
                } else if self.need_cap(d, &pos, "bind", true) {
                    if let Some(b) = self.bind_line(line) {
                        d.binds.push(b);
                    }
                }
            }
            "server" => {
                if d.kind == Kind::Defaults {
                    self.alert_srv(&pos, "'server' not allowed in 'defaults' section.");
                } else if !d.kind.be() {
                    let msg = format!(
                        "parsing [{pos}] : 'server' not allowed because {} has no backend capability.",
                        d.what()
                    );
                    self.alert_srv(&pos, msg);
                } else {
                    self.server_line(d, line, false);
                }
            }
            "default-server" => {
                if self.need_cap(d, &pos, "default-server", false) {
                    self.server_line(d, line, true);
                }
            }
            "maxconn" => match a0 {
                Some(w) => {
                    if self.need_cap(d, &pos, "maxconn", true) {
                        let v = self.int32(&pos, "maxconn", &w);
                        d.maxconn = (v > 0).then_some(v);
                    }
                }
                None => self.alert(&pos, "'maxconn' expects an integer argument."),
            },
            "backlog" => match a0 {
                Some(w) => {
                    if self.need_cap(d, &pos, "backlog", true) {
                        let v = self.int32(&pos, "backlog", &w);
                        d.backlog = (v > 0).then_some(v);
                    }
                }
                None => self.alert(&pos, "'backlog' expects an integer argument."),
            },
            "fullconn" => match a0 {
                Some(w) => {
                    if self.need_cap(d, &pos, "fullconn", false) {
                        let v = self.int32(&pos, "fullconn", &w);
                        d.fullconn = (v > 0).then_some(v);
                    }
                }
                None => self.alert(&pos, "'fullconn' expects an integer argument."),
            },
            "retries" => match a0 {
                Some(w) => {
                    if self.need_cap(d, &pos, "retries", false) {
                        d.retries = self.int32(&pos, "retries", &w);
                    }
                }
                None => self.alert(&pos, "'retries' expects an integer argument."),
            },
            "default_backend" => match a0 {
                Some(w) => {
                    if self.need_cap(d, &pos, "default_backend", true) {
                        d.default_backend = Some((w, pos));
                    }
                }
                None => self.alert(&pos, "'default_backend' expects a backend name."),
            },
            "balance" => {
                let algo = match a0.as_deref() {
                    Some(name) if Algo::from_name(name).is_some() => Algo::from_name(name),
                    Some(other)
                        if ["uri", "url_param", "random", "hash"].contains(&other)
                            || other.starts_with("hdr(")
                            || other.starts_with("rdp-cookie")
                            || other.starts_with("random(") =>
                    {
                        self.alert(&pos, format!("'balance {other}' is not supported by proxyd (supported: roundrobin, static-rr, leastconn, first, source)."));
                        return;
                    }
                    _ => {
                        self.alert(&pos, "balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options.");
                        return;
                    }
                };
                if a.len() > 1 {
                    self.alert(
                        &pos,
                        format!(
                            "'balance {}' : unexpected argument '{}' (not supported by proxyd).",
                            a[0].text, a[1].text
                        ),
                    );
                    return;
                }
                if let Some(b) = algo {
                    if self.need_cap(d, &pos, "balance", false) {
                        d.balance = b;
                    }
                }
            }
            "timeout" => self.timeout_line(d, line),
            "log" => {
                if let Some(e) = self.log_line(line) {
                    d.log.push(e);
                }
            }
            "no" => match a0.as_deref() {
                Some("log") if a.len() == 1 => d.log.clear(),
                Some("option") => self.option_line(d, line, 2, true),
                _ => self.alert(&pos, "'no' only supports 'option' and 'log'."),
            },
            "option" => self.option_line(d, line, 1, false),
            "tcp-check" => {
                if self.need_cap(d, &pos, "tcp-check", false) {
                    self.tcp_check_line(d, line);
                }
            }
            "http-check" => {
                if self.need_cap(d, &pos, "http-check", false) {
                    self.http_check_line(d, line);
                }
            }
            "disabled" => d.disabled = true,
            "enabled" => d.disabled = false,
            "id" => {
                if d.kind == Kind::Defaults {
                    self.alert(&pos, "'id' not allowed in 'defaults' section.");
                    return;
                }
                match a0.as_deref().map(|w| w.parse::<u32>()) {
                    Some(Ok(v)) if v > 0 => {
                        if let Some(o) = self.proxies.iter().find(|p| p.id == Some(v)) {
                            let msg = format!(
                                "{} : custom id {v} already used at {} ('{}')",
                                d.what(),
                                o.pos,
                                o.name
                            );
                            self.alert(&pos, msg);
                        } else {
                            d.id = Some(v);
                        }
                    }
                    _ => self.alert(
                        &pos,
                        format!(
                            "'id' : expects a strictly positive integer argument (got '{}').",
                            a0.unwrap_or_default()
                        ),
                    ),
                }
            }
            "description" => {}
            "errorfile" => {
                if a.len() < 2 {
                    self.alert(
                        &pos,
                        "'errorfile' expects <status_code> and <file> as arguments.",
                    );
                    return;
                }
                let code = a[0].text.as_str();
                if !ERRORFILE_CODES.contains(&code) {
                    self.alert(
                        &pos,
                        format!("errorfile : status code '{code}' not handled."),
                    );
                    return;
                }
                let path = PathBuf::from(&a[1].text);
                if !self.host.file_readable(&path) {
                    self.alert(
                        &pos,
                        format!("errorfile : error opening file '{}'.", a[1].text),
                    );
                    return;
                }
                if let Some(content) = self.host.read_file(&path) {
                    if let Err(off) = values::check_http_response(&content) {
                        self.alert(
                            &pos,
                            format!(
                                "errorfile : '{}': unable to parse headers (error offset: {off})",
                                a[1].text
                            ),
                        );
                        return;
                    }
                }
                d.http_only.push(("errorfile".to_string(), pos));
            }
            _ if PROXY_KNOWN_UNSUPPORTED.contains(&kw.as_str()) => {
                self.unsupported(&pos, &kw, section);
            }
            _ => {
                let mut all: Vec<&str> = PROXY_SUPPORTED.to_vec();
                all.extend_from_slice(PROXY_KNOWN_UNSUPPORTED);
                let h = hint(&kw, &all);
                self.alert(
                    &pos,
                    format!("unknown keyword '{kw}' in '{section}' section{h}"),
                );
            }
        }
    }

    fn timeout_line(&mut self, d: &mut Draft, line: &Line) {
        let pos = line.pos.clone();
        let a = args(line);
        let Some(which) = a.first().map(|t| t.text.clone()) else {
            self.alert(&pos, "'timeout' expects 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got '')");
            return;
        };
        let known = [
            "client",
            "server",
            "connect",
            "check",
            "queue",
            "http-keep-alive",
            "http-request",
            "tunnel",
            "tarpit",
            "client-fin",
            "server-fin",
        ];
        if !known.contains(&which.as_str()) {
            self.alert(&pos, format!("'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got '{which}')"));
            return;
        }
        let kw = format!("timeout {which}");
        let v = match parse_time(a.get(1).map(|t| t.text.as_str()).unwrap_or("")) {
            Ok(v) => v,
            Err(e) => {
                self.alert(&pos, time_err(e, &kw));
                return;
            }
        };
        if let Some(extra) = a.get(2) {
            self.alert(
                &pos,
                format!("'{kw}' cannot handle unexpected argument '{}'.", extra.text),
            );
            return;
        }
        let fe = matches!(
            which.as_str(),
            "client" | "client-fin" | "http-request" | "http-keep-alive"
        );
        let ok = if fe { d.kind.fe() } else { d.kind.be() };
        if !ok {
            let cap = if fe { "frontend" } else { "backend" };
            self.warn(
                &pos,
                format!(
                    "'{kw}' will be ignored because {} has no {cap} capability",
                    d.what()
                ),
            );
            return;
        }
        // A zero timeout means "no timeout" in HAProxy.
        let v = (!v.is_zero()).then_some(v);
        match which.as_str() {
            "client" => d.timeout_client = v,
            "client-fin" => d.timeout_client_fin = v,
            "server" => d.timeout_server = v,
            "server-fin" => d.timeout_server_fin = v,
            "connect" => d.timeout_connect = v,
            "check" => d.timeout_check = v,
            "queue" => d.timeout_queue = v,
            "tunnel" => d.timeout_tunnel = v,
            // http-request, http-keep-alive, tarpit: only used in http mode.
            _ => d.http_only.push((kw, pos)),
        }
    }

    fn option_line(&mut self, d: &mut Draft, line: &Line, at: usize, negate: bool) {
        let pos = line.pos.clone();
        let Some(opt) = word(line, at).map(str::to_string) else {
            self.alert(&pos, "'option' expects an option name.");
            return;
        };
        let extra: Vec<String> = line.words[at + 1..]
            .iter()
            .map(|t| t.text.clone())
            .collect();
        let no_args = |p: &mut Self| -> bool {
            if let Some(x) = extra.first() {
                p.alert(
                    &pos,
                    format!("'option {opt}' cannot handle unexpected argument '{x}'."),
                );
                false
            } else {
                true
            }
        };
        match opt.as_str() {
            "tcplog" | "httplog" | "httpslog" => {
                if opt == "httpslog" {
                    self.unsupported(&pos, "option httpslog", d.kind.word());
                    return;
                }
                if opt == "tcplog" && !no_args(self) {
                    return;
                }
                if opt == "httplog" && extra.iter().any(|x| x != "clf") {
                    self.alert(&pos, "'option httplog' only supports the 'clf' argument.");
                    return;
                }
                if !d.kind.fe() {
                    self.warn(
                        &pos,
                        format!(
                            "{} : 'option {opt}' directive is ignored in backends.",
                            d.what()
                        ),
                    );
                    return;
                }
                d.log_opt = if negate {
                    None
                } else if opt == "tcplog" {
                    Some((LogOpt::Tcp, pos))
                } else {
                    Some((LogOpt::Http, pos))
                };
            }
            "dontlognull" | "logasap" => {
                if !no_args(self) || !self.need_cap(d, &pos, &opt, true) {
                    return;
                }
                if opt == "dontlognull" {
                    d.dontlognull = !negate;
                } else {
                    d.logasap = !negate;
                }
            }
            "redispatch" | "allbackups" | "log-health-checks" => {
                if opt == "redispatch" && extra.len() == 1 {
                    // `option redispatch <interval>` is accepted by HAProxy;
                    // only the default interval (-1: last retry) is ours.
                    if extra[0] != "-1" {
                        self.alert(&pos, "'option redispatch <interval>' is not supported by proxyd (only the default: redispatch on the last retry).");
                        return;
                    }
                } else if !no_args(self) {
                    return;
                }
                if !self.need_cap(d, &pos, &opt, false) {
                    return;
                }
                match opt.as_str() {
                    "redispatch" => d.redispatch = !negate,
                    "allbackups" => d.allbackups = !negate,
                    _ => d.log_health_checks = !negate,
                }
            }
            "tcp-check" => {
                if negate {
                    self.alert(&pos, "'no option tcp-check' is not supported.");
                    return;
                }
                if !no_args(self) || !self.need_cap(d, &pos, "tcp-check", false) {
                    return;
                }
                d.check_kind = CheckKind::TcpCheck;
                d.check_kind_pos = Some(pos);
            }
            "httpchk" => {
                if negate {
                    self.alert(&pos, "'no option httpchk' is not supported.");
                    return;
                }
                if !self.need_cap(d, &pos, "httpchk", false) {
                    return;
                }
                let mut h = default_http_check();
                match extra.as_slice() {
                    [] => {}
                    [uri] => h.uri = uri.clone(),
                    [m, uri] => {
                        h.method = m.clone();
                        h.uri = uri.clone();
                    }
                    [m, uri, ver] => {
                        h.method = m.clone();
                        h.uri = uri.clone();
                        // Legacy form: "HTTP/1.1\r\nHost:\ www" carries headers.
                        let mut parts = ver.split("\r\n");
                        h.version = parts.next().unwrap_or("HTTP/1.0").to_string();
                        for hdr in parts.filter(|p| !p.is_empty()) {
                            match hdr.split_once(':') {
                                Some((n, v)) => {
                                    h.headers.push((n.trim().to_string(), v.trim().to_string()))
                                }
                                None => {
                                    self.alert(&pos, format!("'option httpchk' : invalid header '{hdr}' in version string."));
                                    return;
                                }
                            }
                        }
                    }
                    _ => {
                        self.alert(
                            &pos,
                            format!(
                                "'option httpchk' cannot handle unexpected argument '{}'.",
                                extra[3]
                            ),
                        );
                        return;
                    }
                }
                // Keep an expect rule given before the option.
                h.expect = d.http.expect.take();
                d.http = h;
                d.check_kind = CheckKind::HttpChk;
                d.check_kind_pos = Some(pos);
            }
            _ if OPTIONS_HTTP_ONLY.contains(&opt.as_str()) => {
                let key = format!("option {opt}");
                d.http_only.retain(|(k, _)| *k != key);
                if !negate {
                    d.http_only.push((key, pos));
                }
            }
            _ if OPTIONS_PERF_ACCEPTED.contains(&opt.as_str()) => {
                if d.kind != Kind::Defaults || !negate {
                    self.warn(
                        &pos,
                        format!("'option {opt}' only tunes HAProxy's internals; accepted, it has no effect in proxyd."),
                    );
                }
            }
            _ if OPTIONS_KNOWN_UNSUPPORTED.contains(&opt.as_str()) => {
                self.unsupported(&pos, &format!("option {opt}"), d.kind.word());
            }
            _ => {
                let mut all: Vec<&str> = OPTIONS_SUPPORTED.to_vec();
                all.extend_from_slice(OPTIONS_HTTP_ONLY);
                all.extend_from_slice(OPTIONS_PERF_ACCEPTED);
                all.extend_from_slice(OPTIONS_KNOWN_UNSUPPORTED);
                let h = hint(&opt, &all);
                let end = if h.is_empty() { "." } else { "" };
                self.alert(&pos, format!("unknown option '{opt}'{h}{end}"));
            }
        }
    }

    fn tcp_check_line(&mut self, d: &mut Draft, line: &Line) {
        let pos = line.pos.clone();
        let a = args(line);
        let sub = a.first().map(|t| t.text.as_str()).unwrap_or("");
        if d.kind != Kind::Defaults && d.rules_inherited {
            d.rules_inherited = false;
            d.tcp_rules.clear();
            d.tcp_rules_pos = None;
            d.http.expect = None;
        }
        if d.tcp_rules_pos.is_none() {
            d.tcp_rules_pos = Some(pos.clone());
        }
        match sub {
            "comment" => {}
            "connect" => {
                let mut port = None;
                let mut addr = None;
                let mut i = 1;
                while i < a.len() {
                    let k = a[i].text.as_str();
                    let v = a.get(i + 1).map(|t| t.text.as_str());
                    match (k, v) {
                        ("port", Some(v)) => match v.parse::<u16>() {
                            Ok(p) if p > 0 => port = Some(p),
                            _ => {
                                self.alert(&pos, format!("'tcp-check connect' : expects a valid TCP port (from range 1 to 65535) or a sample expression, got {v}."));
                                return;
                            }
                        },
                        ("addr", Some(v)) => match v
                            .parse::<IpAddr>()
                            .ok()
                            .or_else(|| self.host.resolve(v, None))
                        {
                            Some(ip) => addr = Some(ip),
                            None => {
                                self.alert(
                                    &pos,
                                    format!("'tcp-check connect' : invalid address '{v}'."),
                                );
                                return;
                            }
                        },
                        ("comment", Some(_)) => {}
                        ("default", _) => {
                            i += 1;
                            continue;
                        }
                        _ if [
                            "send-proxy",
                            "via-socks4",
                            "ssl",
                            "sni",
                            "alpn",
                            "linger",
                            "proto",
                            "check-ssl",
                        ]
                        .contains(&k) =>
                        {
                            self.alert(
                                &pos,
                                format!("'tcp-check connect' : '{k}' is not supported by proxyd."),
                            );
                            return;
                        }
                        _ => {
                            self.alert(&pos, format!("'tcp-check connect' : unexpected argument '{k}' (supported by proxyd: 'port', 'addr', 'default', 'comment')."));
                            return;
                        }
                    }
                    i += 2;
                }
                d.tcp_rules.push(TcpCheckRule::Connect { port, addr });
            }
            "send" | "send-binary" => {
                let Some(data) = a.get(1) else {
                    self.alert(
                        &pos,
                        format!(
                            "'tcp-check {sub}' expects a {} as argument.",
                            if sub == "send" {
                                "string"
                            } else {
                                "binary string"
                            }
                        ),
                    );
                    return;
                };
                if let Some(x) = a.get(2) {
                    if !(x.text == "comment" && a.len() == 4) {
                        self.alert(&pos, format!("'tcp-check {sub}' : unexpected argument '{}' (not supported by proxyd).", x.text));
                        return;
                    }
                }
                if sub == "send" {
                    d.tcp_rules
                        .push(TcpCheckRule::Send(data.text.as_bytes().to_vec()));
                } else {
                    match parse_hex(&data.text) {
                        Ok(b) => d.tcp_rules.push(TcpCheckRule::SendBinary(b)),
                        Err(e) => {
                            self.alert(
                                &pos,
                                format!(
                                    "'tcp-check send-binary' : '{}' invalid binary string ({e}).",
                                    data.text
                                ),
                            );
                        }
                    }
                }
            }
            "expect" => {
                let mut i = 1;
                let mut negate = false;
                if a.get(i).is_some_and(|t| t.text == "!") {
                    negate = true;
                    i += 1;
                }
                let mut kind_w = a.get(i).map(|t| t.text.clone()).unwrap_or_default();
                if let Some(rest) = kind_w.strip_prefix('!') {
                    negate = true;
                    kind_w = rest.to_string();
                }
                let Some(pat) = a.get(i + 1).map(|t| t.text.clone()) else {
                    if ["string", "rstring", "binary", "rbinary"].contains(&kind_w.as_str()) {
                        self.alert(
                            &pos,
                            format!(
                                "'tcp-check expect' : '{kind_w}' expects <pattern> as an argument."
                            ),
                        );
                    } else {
                        self.alert(&pos, format!("'tcp-check expect' : 'only supports min-recv, '[!]binary', '[!]string', '[!]rstring', '[!]string-lf''[!]rbinary', '[!]binary-lf' or comment but got '{kind_w}' as argument.."));
                    }
                    return;
                };
                let kind = match kind_w.as_str() {
                    "string" => ExpectKind::String(pat.into_bytes()),
                    "binary" => match parse_hex(&pat) {
                        Ok(b) => ExpectKind::Binary(b),
                        Err(e) => {
                            self.alert(
                                &pos,
                                format!(
                                    "'tcp-check expect' : '{pat}' invalid binary string ({e})."
                                ),
                            );
                            return;
                        }
                    },
                    "rstring" => match self.regex(&pos, "tcp-check expect", &pat) {
                        Some(p) => ExpectKind::Rstring(p),
                        None => return,
                    },
                    "rbinary" => match self.regex(&pos, "tcp-check expect", &pat) {
                        Some(p) => ExpectKind::Rbinary(p),
                        None => return,
                    },
                    "string-lf" | "binary-lf" | "min-recv" => {
                        self.alert(&pos, format!("'tcp-check expect {kind_w}' is not supported by proxyd (supported: [!] string, [!] rstring, [!] binary, [!] rbinary)."));
                        return;
                    }
                    other => {
                        self.alert(&pos, format!("'tcp-check expect' : 'only supports min-recv, '[!]binary', '[!]string', '[!]rstring', '[!]string-lf''[!]rbinary', '[!]binary-lf' or comment but got '{other}' as argument.."));
                        return;
                    }
                };
                if let Some(x) = a.get(i + 2) {
                    self.alert(
                        &pos,
                        format!(
                            "'tcp-check expect' : '{}' is not supported by proxyd.",
                            x.text
                        ),
                    );
                    return;
                }
                d.tcp_rules.push(TcpCheckRule::Expect { negate, kind });
            }
            "send-lf" | "send-binary-lf" | "set-var" | "unset-var" | "set-var-fmt" => {
                self.alert(
                    &pos,
                    format!("'tcp-check {sub}' is not supported by proxyd."),
                );
            }
            _ if sub.starts_with("set-var") || sub.starts_with("unset-var") => {
                self.alert(
                    &pos,
                    format!("'tcp-check {sub}' is not supported by proxyd."),
                );
            }
            other => {
                self.alert(&pos, format!("'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', 'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got '{other}'"));
            }
        }
    }

    fn http_check_line(&mut self, d: &mut Draft, line: &Line) {
        let pos = line.pos.clone();
        let a = args(line);
        let sub = a.first().map(|t| t.text.as_str()).unwrap_or("");
        if d.kind != Kind::Defaults && d.rules_inherited {
            d.rules_inherited = false;
            d.tcp_rules.clear();
            d.tcp_rules_pos = None;
            d.http.expect = None;
        }
        match sub {
            "comment" => {}
            "expect" => {
                if d.http.expect.is_some() {
                    self.alert(
                        &pos,
                        "'http-check expect' : several expect rules are not supported by proxyd.",
                    );
                    return;
                }
                let mut i = 1;
                let mut negate = false;
                if a.get(i).is_some_and(|t| t.text == "!") {
                    negate = true;
                    i += 1;
                }
                let kind_w = a.get(i).map(|t| t.text.clone()).unwrap_or_default();
                let Some(pat) = a.get(i + 1).map(|t| t.text.clone()) else {
                    self.alert(
                        &pos,
                        format!(
                            "'http-check expect' : '{kind_w}' expects <pattern> as an argument."
                        ),
                    );
                    return;
                };
                let kind = match kind_w.as_str() {
                    "status" => {
                        let mut ranges = Vec::new();
                        for part in pat.split(',') {
                            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
                            match (lo.parse::<u16>(), hi.parse::<u16>()) {
                                (Ok(l), Ok(h)) if l <= h => ranges.push((l, h)),
                                _ => {
                                    self.alert(&pos, format!("'http-check expect' : invalid range of status codes '{part}'."));
                                    return;
                                }
                            }
                        }
                        HttpExpectKind::Status(ranges)
                    }
                    "string" => HttpExpectKind::String(pat.into_bytes()),
                    "rstatus" | "rstring" => match self.regex(&pos, "http-check expect", &pat) {
                        Some(p) if kind_w == "rstatus" => HttpExpectKind::Rstatus(p),
                        Some(p) => HttpExpectKind::Rstring(p),
                        None => return,
                    },
                    "hdr" | "fhdr" | "string-lf" | "status-lf" | "min-recv" => {
                        self.alert(&pos, format!("'http-check expect {kind_w}' is not supported by proxyd (supported: [!] status, [!] rstatus, [!] string, [!] rstring)."));
                        return;
                    }
                    other => {
                        self.alert(&pos, format!("'http-check expect' : only supports min-recv, [!]string, [!]rstring, [!]status, [!]rstatus, [!]hdr, [!]fhdr or comment but got '{other}' as argument.."));
                        return;
                    }
                };
                if let Some(x) = a.get(i + 2) {
                    self.alert(
                        &pos,
                        format!(
                            "'http-check expect' : '{}' is not supported by proxyd.",
                            x.text
                        ),
                    );
                    return;
                }
                d.http.expect = Some(HttpExpect { negate, kind });
            }
            "send" => {
                if d.http.expect.is_some() {
                    self.alert(&pos, "'http-check send' : unable to add http-check send rule at step 2 (missing connect rule)..");
                    return;
                }
                let mut i = 1;
                while i < a.len() {
                    let k = a[i].text.as_str();
                    let v = a.get(i + 1).map(|t| t.text.clone());
                    match (k, v) {
                        ("meth", Some(v)) => d.http.method = v,
                        ("uri", Some(v)) => d.http.uri = v,
                        ("ver", Some(v)) => d.http.version = v,
                        ("body", Some(v)) => d.http.body = v.into_bytes(),
                        ("comment", Some(_)) => {}
                        ("hdr", Some(n)) => {
                            let Some(val) = a.get(i + 2) else {
                                self.alert(&pos, "'http-check send' : 'hdr' expects <name> and <value> as arguments.");
                                return;
                            };
                            d.http.headers.push((n, val.text.clone()));
                            i += 1;
                        }
                        (k, None)
                            if ["meth", "uri", "ver", "body", "hdr", "comment"].contains(&k) =>
                        {
                            self.alert(&pos, format!("'http-check send' : '{k}' expects a value."));
                            return;
                        }
                        _ => {
                            self.alert(&pos, format!("'http-check send' : '{k}' is not supported by proxyd (supported: meth, uri, ver, hdr, body, comment)."));
                            return;
                        }
                    }
                    i += 2;
                }
            }
            "connect" | "disable-on-404" | "send-state" | "set-var" | "unset-var" => {
                self.alert(
                    &pos,
                    format!("'http-check {sub}' is not supported by proxyd."),
                );
            }
            other => {
                self.alert(&pos, format!("'http-check' only supports 'comment', 'connect', 'send', 'expect', 'disable-on-404' and 'send-state' but got '{other}'."));
            }
        }
    }

    fn bind_line(&mut self, line: &Line) -> Option<Bind> {
        let pos = line.pos.clone();
        let a = args(line);
        let Some(first) = a.first() else {
            self.alert(
                &pos,
                "'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments.",
            );
            return None;
        };
        let text = first.text.clone();
        let mut addrs = Vec::new();
        let mut failed = false;
        for part in text.split(',') {
            if part.starts_with('/')
                || part.contains("@")
                    && !(part.starts_with("ipv4@")
                        || part.starts_with("ipv6@")
                        || part.starts_with("tcp@")
                        || part.starts_with("tcp4@")
                        || part.starts_with("tcp6@"))
            {
                self.alert(
                    &pos,
                    format!("'bind {part}' is not supported by proxyd (only TCP addresses).",),
                );
                failed = true;
                continue;
            }
            match values::parse_addr(part, true) {
                Ok(raw) => {
                    let Some(ports) = raw.ports else {
                        self.alert(
                            &pos,
                            format!("'bind' : missing port specification in '{part}'"),
                        );
                        failed = true;
                        continue;
                    };
                    match values::resolve_host(&raw, self.host) {
                        Some(ip) => addrs.extend(values::expand(ip, ports)),
                        None => {
                            self.alert(
                                &pos,
                                format!("'bind' : invalid address: '{}' in '{part}'", raw.host),
                            );
                            failed = true;
                        }
                    }
                }
                Err(e) => {
                    self.alert(&pos, format!("'bind' : {e}"));
                    failed = true;
                }
            }
        }
        let mut b = Bind {
            pos: pos.clone(),
            addrs,
            text,
            name: None,
            maxconn: None,
            backlog: None,
            v4v6: false,
            v6only: false,
        };
        let mut i = 1;
        while i < a.len() {
            let k = a[i].text.as_str();
            let v = a.get(i + 1).map(|t| t.text.clone());
            match k {
                "v4v6" => b.v4v6 = true,
                "v6only" => b.v6only = true,
                "name" | "maxconn" | "backlog" => {
                    let Some(v) = v else {
                        self.alert(&pos, format!("'bind {}' : missing {k} value", b.text));
                        return None;
                    };
                    match k {
                        "name" => b.name = Some(v),
                        "maxconn" => {
                            let n = self.int32(&pos, "bind maxconn", &v);
                            if n == 0 {
                                self.alert(
                                    &pos,
                                    format!("'bind {}' : invalid maxconn value '{v}'", b.text),
                                );
                                return None;
                            }
                            b.maxconn = Some(n);
                        }
                        _ => {
                            let n = self.int32(&pos, "bind backlog", &v);
                            if n == 0 {
                                self.alert(
                                    &pos,
                                    format!("'bind {}' : invalid backlog value '{v}'", b.text),
                                );
                                return None;
                            }
                            b.backlog = Some(n);
                        }
                    }
                    i += 1;
                }
                _ if BIND_KNOWN.contains(&k) => {
                    self.alert(
                        &pos,
                        format!("'bind {}' : '{k}' is not supported by proxyd.", b.text),
                    );
                    return None;
                }
                _ => {
                    let mut all: Vec<&str> = BIND_SUPPORTED.to_vec();
                    all.extend_from_slice(BIND_KNOWN);
                    let h = hint(k, &all);
                    self.alert(&pos, format!("'bind {}' unknown keyword '{k}'{h}.", b.text));
                    return None;
                }
            }
            i += 1;
        }
        if failed {
            return None;
        }
        Some(b)
    }

    fn server_line(&mut self, d: &mut Draft, line: &Line, is_default: bool) {
        let pos = line.pos.clone();
        let a = args(line);
        let (name, addr_w, params) = if is_default {
            (String::new(), None, a)
        } else {
            if a.len() < 2 {
                self.alert_srv(
                    &pos,
                    "'server' expects <name> and <addr>[:<port>] as arguments.",
                );
                return;
            }
            (a[0].text.clone(), Some(a[1].text.clone()), &a[2..])
        };
        // HAProxy names no proxy in default-server messages, and calls the
        // server "default-server".
        let who = if is_default {
            String::new()
        } else {
            format!("'server {}/{name}' : ", d.name)
        };
        let name = if is_default {
            "default-server".to_string()
        } else {
            name
        };
        if !is_default {
            if let Some(c) = name_ok(&name) {
                self.alert_srv(
                    &pos,
                    format!("{who}character '{c}' is not permitted in server name '{name}'."),
                );
                return;
            }
            if let Some(prev) = d.server_names.get(&name).and_then(|&i| d.servers.get(i)) {
                let msg = format!(
                    "{} '{}', another server named '{name}' was already defined at line {}, please use distinct names.",
                    d.kind.label(),
                    d.name,
                    prev.pos.line
                );
                self.post_alert(&pos, msg);
                return;
            }
        }
        let mut s = d.defsrv.clone();
        let mut id: Option<u32> = None;
        let mut i = 0;
        let mut ok = true;
        while i < params.len() {
            let k = params[i].text.as_str();
            let v = params.get(i + 1).map(|t| t.text.clone());
            let mut takes = false;
            match k {
                "check" => s.check = true,
                "no-check" => s.check = false,
                "backup" => s.backup = true,
                "no-backup" => s.backup = false,
                "disabled" => s.disabled = true,
                "enabled" => s.disabled = false,
                "inter" | "fastinter" | "downinter" => {
                    takes = true;
                    let Some(v) = v else {
                        self.alert_srv(&pos, format!("{who}'{k}' expects a delay as argument.."));
                        ok = false;
                        break;
                    };
                    match parse_time(&v) {
                        Ok(t) if !t.is_zero() => match k {
                            "inter" => s.inter = Some(t),
                            "fastinter" => s.fastinter = Some(t),
                            _ => s.downinter = Some(t),
                        },
                        Ok(_) => {
                            self.alert_srv(
                                &pos,
                                format!(
                                    "{who}invalid value 0 for argument '{k}' of server {name}.."
                                ),
                            );
                            ok = false;
                        }
                        Err(TimeError::BadChar(c)) => {
                            self.alert_srv(&pos, format!("{who}unexpected character '{c}' in '{k}' argument of server {name}.."));
                            ok = false;
                        }
                        Err(TimeError::Overflow) => {
                            self.alert_srv(&pos, format!("{who}timer overflow in argument <{v}> to <{k}> of server {name}, maximum value is 2147483647 ms (~24.8 days).."));
                            ok = false;
                        }
                        Err(e) => {
                            self.alert_srv(&pos, format!("{who}{}.", time_err(e, k)));
                            ok = false;
                        }
                    }
                }
                "rise" | "fall" | "weight" | "maxconn" | "maxqueue" | "port" | "id" => {
                    takes = true;
                    let Some(v) = v else {
                        self.alert_srv(&pos, format!("{who}'{k}' expects an integer argument.."));
                        ok = false;
                        break;
                    };
                    // HAProxy reads these with atol(): a negative weight,
                    // rise, fall or id is an error, other negatives count as 0.
                    let negative = v
                        .strip_prefix('-')
                        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
                    let n = if !negative {
                        self.int(&pos, k, &v)
                    } else if k == "weight" {
                        u64::MAX
                    } else {
                        if !matches!(k, "rise" | "fall" | "id") {
                            self.warn(&pos, format!("'{k}' : '{v}' is negative, read as 0."));
                        }
                        0
                    };
                    match k {
                        // HAProxy stores these in an int: past 2147483647
                        // they wrap to a negative (or zero) and are refused.
                        "rise" | "fall" if n == 0 || n > i32::MAX as u64 => {
                            self.alert_srv(&pos, format!("{who}'{k}' has to be > 0.."));
                            ok = false;
                        }
                        "rise" => s.rise = n as u32,
                        "fall" => s.fall = n as u32,
                        "weight" => {
                            if n > MAX_WEIGHT as u64 {
                                self.alert_srv(&pos, format!("{who}weight of server {name} is not within 0 and {MAX_WEIGHT} ({v}).."));
                                ok = false;
                            } else {
                                s.weight = n as u32;
                            }
                        }
                        // HAProxy wraps these silently past 2147483647
                        // (an int); proxyd refuses rather than guess.
                        "maxconn" | "maxqueue" if n > i32::MAX as u64 => {
                            self.alert_srv(&pos, format!("{who}'{k}' {v} is out of range, the maximum is 2147483647 (HAProxy would wrap it around)."));
                            ok = false;
                        }
                        "maxconn" => s.maxconn = (n > 0).then_some(n as u32),
                        "maxqueue" => s.maxqueue = (n > 0).then_some(n as u32),
                        "port" => {
                            if n > 65535 {
                                self.alert_srv(&pos, format!("{who}invalid port '{v}'."));
                                ok = false;
                            } else {
                                s.check_port = (n > 0).then_some(n as u16);
                            }
                        }
                        _ => {
                            if is_default {
                                self.alert_srv(
                                    &pos,
                                    format!("{who}'id' is not allowed on default-server."),
                                );
                                ok = false;
                            } else if n == 0 || n > i32::MAX as u64 {
                                self.alert_srv(&pos, format!("{who}custom id has to be > 0.."));
                                ok = false;
                            } else if d.server_ids.contains(&(n as u32)) {
                                self.alert_srv(&pos, format!("{who}custom id {n} already used."));
                                ok = false;
                            } else {
                                id = Some(n as u32);
                            }
                        }
                    }
                }
                "addr" => {
                    takes = true;
                    let Some(v) = v else {
                        self.alert_srv(
                            &pos,
                            format!("{who}'addr' expects <ipv4|ipv6> as argument.."),
                        );
                        ok = false;
                        break;
                    };
                    match v
                        .parse::<IpAddr>()
                        .ok()
                        .or_else(|| self.host.resolve(&v, None))
                    {
                        Some(ip) => s.check_addr = Some(ip),
                        None => {
                            self.alert_srv(
                                &pos,
                                format!("{who}'addr' : invalid address: '{v}' in '{v}'."),
                            );
                            ok = false;
                        }
                    }
                }
                "on-marked-down" => {
                    takes = true;
                    if v.as_deref() == Some("shutdown-sessions") {
                        s.down_shutdown = true;
                    } else {
                        self.alert_srv(
                            &pos,
                            format!(
                                "{who}'on-marked-down' expects 'shutdown-sessions' but got '{}'.",
                                v.unwrap_or_default()
                            ),
                        );
                        ok = false;
                    }
                }
                "on-marked-up" => {
                    takes = true;
                    if v.as_deref() == Some("shutdown-backup-sessions") {
                        s.up_shutdown_backup = true;
                    } else {
                        self.alert_srv(&pos, format!("{who}'on-marked-up' expects 'shutdown-backup-sessions' but got '{}'.", v.unwrap_or_default()));
                        ok = false;
                    }
                }
                _ if SERVER_KNOWN_UNSUPPORTED.contains(&k) => {
                    self.alert_srv(&pos, format!("{who}'{k}' is not supported by proxyd."));
                    ok = false;
                    break;
                }
                _ => {
                    let mut all: Vec<&str> = SERVER_SUPPORTED.to_vec();
                    all.extend_from_slice(SERVER_KNOWN_UNSUPPORTED);
                    let h = hint(k, &all);
                    self.alert_srv(
                        &pos,
                        format!(
                            "{who}unknown keyword '{k}'{}{h}",
                            if h.is_empty() { "." } else { "" }
                        ),
                    );
                    ok = false;
                    break;
                }
            }
            i += if takes { 2 } else { 1 };
        }
        if !ok {
            return;
        }
        if is_default {
            d.defsrv = s;
            return;
        }
        let Some(addr_w) = addr_w else {
            return;
        };
        if addr_w.starts_with('/')
            || (addr_w.contains('@')
                && !(addr_w.starts_with("ipv4@") || addr_w.starts_with("ipv6@")))
        {
            self.alert_srv(
                &pos,
                format!("{who}address '{addr_w}' is not supported by proxyd (only TCP addresses)."),
            );
            return;
        }
        if let Some((_, port)) = addr_w.rsplit_once(':') {
            if port.starts_with(['+', '-']) {
                self.alert_srv(
                    &pos,
                    format!("{who}port offsets ('{port}', relative to the client's destination port) are not supported by proxyd."),
                );
                return;
            }
        }
        let raw = match values::parse_addr(&addr_w, false) {
            Ok(r) => r,
            Err(e) => {
                self.alert_srv(&pos, format!("{who}{e}"));
                return;
            }
        };
        let Some((port, _)) = raw.ports else {
            if s.check && s.check_port.is_none() {
                let msg = format!(
                    "config: {} '{}': server '{name}' has neither service port nor check port.",
                    d.kind.label(),
                    d.name
                );
                self.diags.push(Diag::raw(Level::Alert, Some(&pos), msg));
                self.parse_failed = true;
            } else {
                self.alert_srv(&pos, format!("{who}a server address without a port (the client's destination port) is not supported by proxyd; write '{addr_w}:PORT'."));
            }
            return;
        };
        if raw.host.is_empty() || raw.host == "*" {
            self.alert_srv(
                &pos,
                format!("{who}invalid address: '{}' in '{addr_w}'", raw.host),
            );
            return;
        }
        let Some(ip) = values::resolve_host(&raw, self.host) else {
            // HAProxy reports this after parsing (no "Error(s) found" line).
            let msg = format!("[{pos}] : {who}could not resolve address '{}'.", raw.host);
            self.diags.push(Diag::raw(Level::Alert, Some(&pos), msg));
            self.parse_failed = true;
            self.addr_failed = true;
            return;
        };
        let inter = s.inter.unwrap_or(DEFAULT_INTER);
        // 0 = automatic, assigned after parsing (lowest free id).
        let id = id.unwrap_or(0);
        if id != 0 {
            d.server_ids.insert(id);
        }
        d.server_names.insert(name.clone(), d.servers.len());
        d.servers.push(Server {
            name,
            pos,
            id,
            addr: SocketAddr::new(ip, port),
            addr_text: raw.host.clone(),
            check: s.check,
            inter,
            fastinter: s.fastinter.unwrap_or(inter),
            downinter: s.downinter.unwrap_or(inter),
            rise: s.rise,
            fall: s.fall,
            weight: s.weight,
            backup: s.backup,
            disabled: s.disabled,
            maxconn: s.maxconn,
            maxqueue: s.maxqueue,
            check_port: s.check_port,
            check_addr: s.check_addr,
            on_marked_down_shutdown_sessions: s.down_shutdown,
            on_marked_up_shutdown_backup_sessions: s.up_shutdown_backup,
        });
    }

    // ----------------------------------------------------------- post-parse

    fn resolve_logs(&self, entries: &[LogEntry]) -> Vec<LogTarget> {
        let mut out = Vec::new();
        for e in entries {
            match e {
                LogEntry::Global => out.extend(self.global.log.iter().cloned()),
                LogEntry::Target(t) => out.push(t.clone()),
            }
        }
        out
    }

    fn finish(mut self) -> Result<Loaded, Errors> {
        self.end_section();
        if self.parse_failed {
            if self.addr_failed {
                self.diags.push(Diag::raw(
                    Level::Alert,
                    None,
                    "Failed to initialize server(s) addr.",
                ));
            }
            self.diags.push(Diag::raw(
                Level::Alert,
                None,
                "Fatal errors found in configuration.",
            ));
            return Err(Errors { diags: self.diags });
        }
        let mut post: Vec<Diag> = Vec::new();
        let mut fatal = false;
        let proxies = std::mem::take(&mut self.proxies);

        // Automatic proxy ids: the lowest free id, in declaration order.
        // With a stats socket, HAProxy's internal CLI proxy ("GLOBAL") takes
        // id 1 first (observed with `show stat` on HAProxy 2.6).
        let mut used: HashSet<u32> = proxies.iter().filter_map(|p| p.id).collect();
        if !self.global.stats_sockets.is_empty() {
            used.insert(1);
        }
        let mut free = LowestFree::new(used);
        let ids: Vec<u32> = proxies
            .iter()
            .map(|p| p.id.unwrap_or_else(|| free.take()))
            .collect();

        let mut frontends = Vec::new();
        let mut backends = Vec::new();
        for (p, id) in proxies.iter().zip(ids) {
            let mut servers = p.servers.clone();
            let mut free = LowestFree::new(p.server_ids.clone());
            for s in servers.iter_mut().filter(|s| s.id == 0) {
                s.id = free.take();
            }
            // Mode http is what HAProxy's stock defaults say; a proxy that
            // really ends up in http mode is something we do not implement.
            if let Some(mpos) = &p.mode_http {
                let msg = format!(
                    "parsing [{mpos}] : {} (declared at {}) is in 'mode http', which proxyd does not support (only 'mode tcp' is implemented).",
                    p.what(),
                    p.pos
                );
                post.push(Diag::raw(Level::Alert, Some(mpos), msg));
                fatal = true;
                continue;
            }
            if let Some((be, bpos)) = &p.default_backend {
                if p.kind.fe() && !proxies.iter().any(|q| q.kind.be() && &q.name == be) {
                    post.push(Diag::raw(
                        Level::Alert,
                        Some(bpos),
                        format!(
                            "Proxy '{}': unable to find required default_backend: '{be}'.",
                            p.name
                        ),
                    ));
                    fatal = true;
                }
            }
            if p.kind == Kind::Frontend && p.binds.is_empty() && !p.disabled {
                post.push(Diag::raw(
                        Level::Warning,
                        Some(&p.pos),
                        format!("{} has no 'bind' directive. Please declare it as a backend if this was intended.", p.what()),
                    ));
            }
            for (kw, _) in p
                .http_only
                .iter()
                .filter(|(k, _)| k == "option forwardfor" || k == "option originalto")
            {
                post.push(Diag::raw(
                    Level::Warning,
                    Some(&p.pos),
                    format!("'{kw}' ignored for {} as it requires HTTP mode.", p.what()),
                ));
            }
            if p.kind == Kind::Listen && p.default_backend.is_some() && !p.servers.is_empty() {
                post.push(Diag::raw(
                    Level::Warning,
                    Some(&p.pos),
                    format!("In proxy '{}', the 'default_backend' rule always has precedence over the servers, which will never be used.", p.name),
                ));
            }
            // Missing timeouts, as HAProxy words it.
            let missing = (p.kind.fe() && p.timeout_client.is_none())
                || (p.kind.be() && (p.timeout_connect.is_none() || p.timeout_server.is_none()));
            if missing && !p.disabled {
                post.push(Diag::raw(
                    Level::Warning,
                    Some(&p.pos),
                    format!(
                        "missing timeouts for {}.\n   | While not properly invalid, you will certainly encounter various problems\n   | with such a configuration. To fix this, please ensure that all following\n   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
                        p.what()
                    ),
                ));
            }
            let log = self.resolve_logs(&p.log);
            if p.kind.fe() {
                let mut log_format = LogFormat::Default;
                if let Some((opt, opos)) = &p.log_opt {
                    if *opt == LogOpt::Http {
                        post.push(Diag::warning(
                            opos,
                            format!(
                                "'option httplog' not usable with {} (needs 'mode http'). Falling back to 'option tcplog'.",
                                p.what()
                            ),
                        ));
                    }
                    log_format = LogFormat::TcpLog;
                    if log.is_empty() {
                        post.push(Diag::raw(
                            Level::Warning,
                            Some(opos),
                            format!(
                                "log format ignored for {} since it has no log address.",
                                p.what()
                            ),
                        ));
                    }
                }
                frontends.push(Frontend {
                    name: p.name.clone(),
                    pos: p.pos.clone(),
                    id,
                    from_listen: p.kind == Kind::Listen,
                    binds: p.binds.clone(),
                    maxconn: p.maxconn,
                    backlog: p.backlog,
                    // A listen uses its own servers unless it names another
                    // default_backend.
                    default_backend: match (&p.default_backend, p.kind) {
                        (Some((b, _)), _) => Some(b.clone()),
                        (None, Kind::Listen) => Some(p.name.clone()),
                        (None, _) => None,
                    },
                    log: log.clone(),
                    log_format,
                    dontlognull: p.dontlognull,
                    logasap: p.logasap,
                    timeout_client: p.timeout_client,
                    timeout_client_fin: p.timeout_client_fin,
                    disabled: p.disabled,
                });
            }
            if p.kind.be() {
                if !matches!(p.check_kind, CheckKind::TcpCheck) && !p.tcp_rules.is_empty() {
                    post.push(Diag::raw(
                        Level::Warning,
                        p.tcp_rules_pos.as_ref(),
                        format!("{} uses tcp-check rules without 'option tcp-check', so the rules are ignored.", p.what()),
                    ));
                }
                let check = match p.check_kind {
                    CheckKind::Connect => CheckSpec::Connect,
                    CheckKind::TcpCheck => CheckSpec::TcpCheck(p.tcp_rules.clone()),
                    CheckKind::HttpChk => CheckSpec::HttpChk(p.http.clone()),
                };
                backends.push(Backend {
                    name: p.name.clone(),
                    pos: p.pos.clone(),
                    id,
                    from_listen: p.kind == Kind::Listen,
                    balance: p.balance,
                    servers,
                    timeout_connect: p.timeout_connect,
                    timeout_server: p.timeout_server,
                    timeout_tunnel: p.timeout_tunnel,
                    timeout_server_fin: p.timeout_server_fin,
                    timeout_queue: p.timeout_queue,
                    timeout_check: p.timeout_check,
                    retries: p.retries,
                    redispatch: p.redispatch,
                    allbackups: p.allbackups,
                    check,
                    fullconn: p.fullconn,
                    log,
                    log_health_checks: p.log_health_checks,
                    disabled: p.disabled,
                });
            }
        }
        self.diags.extend(post);
        if fatal {
            self.diags.push(Diag::raw(
                Level::Alert,
                None,
                "Fatal errors found in configuration.",
            ));
            return Err(Errors { diags: self.diags });
        }
        Ok(Loaded {
            config: Config {
                global: self.global,
                frontends,
                backends,
            },
            warnings: self.diags,
        })
    }
}
