//! From lexed lines to the typed [`Config`]: sections, keywords, defaults
//! inheritance, then the post-parse checks HAProxy does.
//!
//! Pure apart from the [`Host`] passed in (hostnames, users, groups and
//! `errorfile` existence).

mod bind;
mod checks;
mod finish;
mod global;
mod proxies;
mod server;

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

    /// The table's arity check, run before a keyword's arm: `true` (after
    /// the row's alert) when `kw` there has fewer arguments than its row
    /// needs. Rows without a `too_few` message are left to their arm.
    fn too_few_args(&mut self, place: Where, pos: &Pos, kw: &str, given: usize) -> bool {
        let Some(k) = lookup(place, kw) else {
            return false;
        };
        match (k.too_few, k.arity.min()) {
            (Some(msg), Some(min)) if given < min => {
                self.alert(pos, msg);
                true
            }
            _ => false,
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
                _ if refused(Where::Section, kw) => {
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
}
