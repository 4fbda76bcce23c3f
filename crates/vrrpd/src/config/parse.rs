//! From keepalived.conf text to the typed [`Config`], with diagnostics.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use common::lexer::{self, Dialect, Item, LexError, Line, NoEnv, Pos, Token};

use super::argv;
use super::diag::{ConfigError, Diagnostic, Severity};
use super::keywords as kw;
use super::model::*;

/// Default configuration file, as keepalived.
pub const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

/// Maximum nesting of `include`.
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// What the parser needs to know about the machine (injected for tests).
pub trait System {
    fn interface(&self, name: &str) -> IfKind;
    fn user_exists(&self, name: &str) -> bool;
    fn group_exists(&self, name: &str) -> bool;
}

/// What an interface name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfKind {
    Missing,
    Loopback,
    Present,
}

/// The machine we run on (interfaces of the current network namespace).
pub struct HostSystem;

impl System for HostSystem {
    fn interface(&self, name: &str) -> IfKind {
        let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
            return IfKind::Missing;
        };
        let mut kind = IfKind::Missing;
        for a in addrs {
            if a.interface_name == name {
                if a.flags
                    .contains(nix::net::if_::InterfaceFlags::IFF_LOOPBACK)
                {
                    return IfKind::Loopback;
                }
                kind = IfKind::Present;
            }
        }
        kind
    }
    fn user_exists(&self, name: &str) -> bool {
        matches!(nix::unistd::User::from_name(name), Ok(Some(_)))
    }
    fn group_exists(&self, name: &str) -> bool {
        matches!(nix::unistd::Group::from_name(name), Ok(Some(_)))
    }
}

/// A configuration vrrpd accepts, with the notes and warnings about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub config: Config,
    pub diagnostics: Vec<Diagnostic>,
}

/// Read, parse and validate `path` on this machine.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    load_with(path, &HostSystem)
}

/// [`load`] with an injected view of the machine.
pub fn load_with(path: &Path, sys: &dyn System) -> Result<Loaded, ConfigError> {
    let (config, diagnostics) = parse_file(path, sys);
    if diagnostics.iter().any(Diagnostic::rejects) {
        Err(ConfigError { diagnostics })
    } else {
        Ok(Loaded {
            config,
            diagnostics,
        })
    }
}

/// Parse a file: a best-effort configuration and every diagnostic.
pub fn parse_file(path: &Path, sys: &dyn System) -> (Config, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let name = path.display().to_string();
    let src = match lexer::read_source(path) {
        Ok(s) => s,
        Err(e) => {
            diags.push(Diagnostic {
                severity: Severity::Fatal,
                pos: None,
                message: format!("Configuration file '{name}' could not be read: {e}"),
            });
            return (Config::default(), diags);
        }
    };
    parse_source(&name, &src, sys, diags)
}

/// Parse configuration text named `file` (includes are relative to it).
pub fn parse_str(file: &str, src: &str, sys: &dyn System) -> (Config, Vec<Diagnostic>) {
    parse_source(file, src, sys, Vec::new())
}

fn parse_source(
    file: &str,
    src: &str,
    sys: &dyn System,
    mut diags: Vec<Diagnostic>,
) -> (Config, Vec<Diagnostic>) {
    let mut lines = Vec::new();
    let mut raw = HashMap::new();
    lex_with_includes(file, src, 0, &mut lines, &mut raw, &mut diags);
    let tree = match lexer::block_tree(&lines) {
        Ok(t) => t,
        Err(e) => {
            let message = match &e {
                LexError::UnbalancedClose { .. } => "Extra '}' found".to_string(),
                LexError::UnclosedBlock { .. } => {
                    "Missing '}' for the block opened here (There are 1 missing '}'s or extra '{'s)"
                        .to_string()
                }
                other => other.to_string(),
            };
            diags.push(Diagnostic {
                severity: Severity::Error,
                pos: Some(e.pos().clone()),
                message,
            });
            return (Config::default(), diags);
        }
    };
    let mut p = Parser { sys, diags, raw };
    let config = p.config(&tree);
    (config, p.diags)
}

fn lex_with_includes(
    file: &str,
    src: &str,
    depth: usize,
    out: &mut Vec<Line>,
    raw: &mut RawLines,
    diags: &mut Vec<Diagnostic>,
) {
    raw.insert(file.to_string(), src.lines().map(String::from).collect());
    // keepalived reads such a line to its end but reports it, and `-t`
    // then fails (exit 5).
    let file_lines = raw.get(file).map(Vec::as_slice).unwrap_or_default();
    for e in lexer::keepalived_unterminated_quotes(file, src) {
        let pos = e.pos().clone();
        let text = file_lines
            .get(pos.line.saturating_sub(1) as usize)
            .map_or("", |l| l.trim());
        for message in [
            format!("Unterminated quote '{text}'"),
            format!("Unmatched quote: '{text}'"),
        ] {
            diags.push(Diagnostic {
                severity: Severity::Error,
                pos: Some(pos.clone()),
                message,
            });
        }
    }
    let lines = match lexer::lex(file, src, Dialect::Keepalived, &NoEnv) {
        Ok(l) => l,
        Err(e) => {
            diags.push(Diagnostic {
                severity: Severity::Error,
                pos: Some(e.pos().clone()),
                message: e.to_string(),
            });
            return;
        }
    };
    for line in lines {
        let is_include = line.words.first().is_some_and(|w| w.is("include"));
        if !is_include {
            out.push(line);
            continue;
        }
        let Some(pattern) = line.words.get(1) else {
            diags.push(Diagnostic {
                severity: Severity::Error,
                pos: Some(line.pos.clone()),
                message: missing_param("include", "include", 2),
            });
            continue;
        };
        if depth >= MAX_INCLUDE_DEPTH {
            diags.push(Diagnostic {
                severity: Severity::Error,
                pos: Some(line.pos.clone()),
                message: format!(
                    "include '{}': nesting deeper than {MAX_INCLUDE_DEPTH} levels (include loop?)",
                    pattern.text
                ),
            });
            continue;
        }
        let files = match lexer::expand_include(&pattern.text, Path::new(file)) {
            Ok(f) => f,
            Err(e) => {
                diags.push(Diagnostic {
                    severity: Severity::Error,
                    pos: Some(line.pos.clone()),
                    message: format!("Invalid include pattern '{}': {e}", pattern.text),
                });
                continue;
            }
        };
        if files.is_empty() {
            // keepalived reports this but carries on (exit 0 with -t).
            diags.push(Diagnostic {
                severity: Severity::Note,
                pos: Some(line.pos.clone()),
                message: format!("Config files missing '{}'.", pattern.text),
            });
        }
        for f in files {
            let name = f.display().to_string();
            match lexer::read_source(&f) {
                Ok(text) => lex_with_includes(&name, &text, depth + 1, out, raw, diags),
                Err(e) => diags.push(Diagnostic {
                    severity: Severity::Error,
                    pos: Some(line.pos.clone()),
                    message: format!("Could not read included file '{name}': {e}"),
                }),
            }
        }
    }
}

fn missing_param(start: &str, after: &str, position: usize) -> String {
    format!(
        "*** Configuration line starting `{start}` is missing a parameter after keyword `{after}` at word position {position}"
    )
}

/// The text of every file read, by file name, for statements keepalived
/// re-reads with its own quoting rules (scripts).
type RawLines = HashMap<String, Vec<String>>;

struct Parser<'a> {
    sys: &'a dyn System,
    diags: Vec<Diagnostic>,
    raw: RawLines,
}

/// An instance while its block is read.
struct InstB {
    inst: Instance,
    version: Option<u8>,
    vrid: Option<u8>,
    advert: Option<(u64, Pos)>,
    interface_seen: bool,
    vip_entries: usize,
    auth_type: Option<(String, Pos)>,
    auth_pass: Option<String>,
    garp_delay: Option<Duration>,
    garp_repeat: Option<u32>,
    garp_refresh: Option<Option<Duration>>,
    garp_refresh_repeat: Option<u32>,
    script_refs: Vec<(TrackRef, Pos)>,
    process_refs: Vec<(TrackRef, Pos)>,
}

impl<'a> Parser<'a> {
    fn push(&mut self, severity: Severity, pos: Option<&Pos>, message: String) {
        self.diags.push(Diagnostic {
            severity,
            pos: pos.cloned(),
            message,
        });
    }
    fn err(&mut self, pos: &Pos, message: String) {
        self.push(Severity::Error, Some(pos), message);
    }
    fn warn(&mut self, pos: &Pos, message: String) {
        self.push(Severity::Warning, Some(pos), message);
    }
    fn note(&mut self, pos: &Pos, message: String) {
        self.push(Severity::Note, Some(pos), message);
    }

    /// The argument at `idx` (1 = first after the keyword), or a
    /// missing-parameter error.
    fn arg<'i>(&mut self, item: &'i Item, idx: usize) -> Option<&'i Token> {
        let t = item.words.get(idx);
        if t.is_none() {
            let kw = item.keyword().to_string();
            self.err(&item.pos, missing_param(&kw, &kw, idx + 1));
        }
        t
    }

    /// The keyword table's generic check of a supported keyword in
    /// `section`: a missing value (keepalived's message), block or name.
    /// `false`: reported, the statement is skipped.
    fn arity_ok(&mut self, section: kw::Section, item: &Item) -> bool {
        let k = item.keyword();
        match kw::arity(section, k) {
            Some(kw::Arity::One | kw::Arity::AtLeastOne) if item.words.len() < 2 => {
                self.err(&item.pos, missing_param(k, k, 2));
                false
            }
            Some(kw::Arity::Block) => self.block(item).is_some(),
            Some(kw::Arity::NamedBlock) => self.name(item).is_some() && self.block(item).is_some(),
            _ => true,
        }
    }

    fn no_block(&mut self, item: &Item) {
        if item.block.is_some() {
            self.err(
                &item.pos,
                format!("Unexpected '{{' - '{}' takes no block", item.keyword()),
            );
        }
    }

    fn block<'i>(&mut self, item: &'i Item) -> Option<&'i [Item]> {
        match &item.block {
            Some(b) => Some(b.as_slice()),
            None => {
                self.err(
                    &item.pos,
                    format!("Missing '{{' at start of the '{}' block", item.keyword()),
                );
                None
            }
        }
    }

    fn unknown(&mut self, item: &Item) {
        let k = item.keyword();
        if k.is_empty() {
            self.err(&item.pos, "Unexpected '{' - block without keyword".into());
        } else {
            self.err(&item.pos, format!("Unknown keyword '{k}'"));
        }
    }

    fn unsupported(&mut self, item: &Item) {
        self.err(
            &item.pos,
            format!(
                "Unsupported keyword '{}' - vrrpd does not implement it (it is a keepalived keyword)",
                item.keyword()
            ),
        );
    }

    fn ignored(&mut self, item: &Item, why: &str) {
        self.note(
            &item.pos,
            format!("Keyword '{}' ignored: {why}", item.keyword()),
        );
    }

    fn num_u(&mut self, tok: &Token, min: u64, max: u64) -> Option<u64> {
        self.num_in(tok, min, max)
    }

    /// An integer within `[min, max]`, with keepalived's messages otherwise.
    fn num_in<T>(&mut self, tok: &Token, min: T, max: T) -> Option<T>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        match tok.text.parse::<T>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            Ok(_) => {
                self.err(
                    &tok.pos,
                    format!("number '{}' outside range [{min}, {max}]", tok.text),
                );
                None
            }
            Err(_) => {
                self.err(&tok.pos, format!("invalid number '{}'", tok.text));
                None
            }
        }
    }

    fn num_i(&mut self, tok: &Token, min: i64, max: i64) -> Option<i64> {
        self.num_in(tok, min, max)
    }

    /// A decimal number of seconds with up to 6 decimals, in microseconds.
    fn num_dec(&mut self, tok: &Token, min_us: u64, max_us: u64) -> Option<u64> {
        match parse_decimal_us(&tok.text) {
            Some(v) if (min_us..=max_us).contains(&v) => Some(v),
            Some(_) => {
                self.err(
                    &tok.pos,
                    format!(
                        "number '{}' outside range [{}.{:06}, {}.{:06}]",
                        tok.text,
                        min_us / 1_000_000,
                        min_us % 1_000_000,
                        max_us / 1_000_000,
                        max_us % 1_000_000
                    ),
                );
                None
            }
            None => {
                self.err(&tok.pos, format!("invalid number '{}'", tok.text));
                None
            }
        }
    }

    fn secs(&mut self, item: &Item, min: u64, max: u64) -> Option<Duration> {
        let t = self.arg(item, 1)?;
        self.num_u(t, min, max).map(Duration::from_secs)
    }

    fn count(&mut self, item: &Item, min: u64) -> Option<u32> {
        let t = self.arg(item, 1)?;
        self.num_u(t, min, u64::from(u32::MAX)).map(|v| v as u32)
    }

    /// Optional `true/false/yes/no/on/off` argument of a flag keyword.
    fn flag(&mut self, item: &Item) -> bool {
        match item.words.get(1) {
            None => true,
            Some(t) => match t.text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => true,
                "false" | "no" | "off" => false,
                _ => {
                    self.err(
                        &t.pos,
                        format!("Invalid value '{}' for '{}'", t.text, item.keyword()),
                    );
                    true
                }
            },
        }
    }

    fn ip(&mut self, tok: &Token, what: &str) -> Option<IpAddr> {
        match tok.text.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(&tok.pos, format!("Invalid {what} '{}'", tok.text));
                None
            }
        }
    }

    fn user(&mut self, item: &Item, idx: usize) -> Option<ScriptUser> {
        let u = self.arg(item, idx)?;
        let user = u.text.clone();
        if !self.sys.user_exists(&user) {
            self.err(
                &u.pos,
                format!("Unknown user '{user}' for '{}'", item.keyword()),
            );
            return None;
        }
        let group = item.words.get(idx + 1).map(|g| g.text.clone());
        if let Some(g) = &group {
            if !self.sys.group_exists(g) {
                self.err(
                    &item.pos,
                    format!("Unknown group '{g}' for '{}'", item.keyword()),
                );
                return None;
            }
        }
        if item.words.len() > idx + 2 {
            self.err(
                &item.words[idx + 2].pos,
                format!(
                    "Unexpected '{}' after user and group",
                    item.words[idx + 2].text
                ),
            );
        }
        Some(ScriptUser { user, group })
    }

    /// `script "CMD ARGS"` / `notify_x "CMD ARGS" [user [group]]`: the
    /// first argument is split again into argv like keepalived does.
    fn command(&mut self, item: &Item, with_user: bool) -> Option<Command> {
        self.arg(item, 1)?;
        // keepalived re-reads the raw line with quotes and escapes; fall
        // back to the lexer's words when the statement is not found there.
        let args: Vec<String> = match self.raw_statement(item) {
            Some(Ok(a)) if !a.is_empty() => a,
            Some(Err(e)) => {
                self.err(&item.pos, e.to_string());
                return None;
            }
            _ => item.args().iter().map(|t| t.text.clone()).collect(),
        };
        let argv = match argv::split(&args[0]) {
            Ok(a) => a,
            Err(e) => {
                self.err(&item.pos, e.to_string());
                return None;
            }
        };
        if argv.is_empty() || argv[0].is_empty() {
            self.err(&item.pos, format!("Empty command for '{}'", item.keyword()));
            return None;
        }
        let user = if with_user && args.len() > 1 {
            // user/group: re-use the lexer's words (same text, with positions).
            let mut it = item.clone();
            it.words.truncate(1);
            it.words.extend(args.iter().map(|a| Token {
                text: a.clone(),
                pos: item.pos.clone(),
                quoted: false,
            }));
            Some(self.user(&it, 2)?)
        } else {
            None
        };
        if !with_user && args.len() > 1 {
            self.note(
                &item.pos,
                format!(
                    "Extra words after the command of '{}' are ignored (quote the whole command line), as keepalived does",
                    item.keyword()
                ),
            );
        }
        Some(Command { argv, user })
    }

    /// The arguments of `item` as keepalived's quoted/escaped reading of the
    /// raw line gives them (up to an unquoted brace); `None` if the statement
    /// cannot be found on its line.
    fn raw_statement(&self, item: &Item) -> Option<Result<Vec<String>, argv::SplitError>> {
        let idx = usize::try_from(item.pos.line).ok()?.checked_sub(1)?;
        let line = self.raw.get(&*item.pos.file)?.get(idx)?;
        let words = match argv::split_words(line) {
            Ok(w) => w,
            Err(e) => return Some(Err(e)),
        };
        let is_brace = |w: &argv::Word| !w.quoted && (w.text == "{" || w.text == "}");
        let start = (0..words.len()).find(|&i| {
            !words[i].quoted
                && words[i].text == item.keyword()
                && (i == 0 || is_brace(&words[i - 1]))
        })?;
        Some(Ok(words[start + 1..]
            .iter()
            .take_while(|w| !is_brace(w))
            .map(|w| w.text.clone())
            .collect()))
    }

    fn config(&mut self, tree: &[Item]) -> Config {
        let mut cfg = Config::default();
        // global_defs first: its defaults apply to every instance.
        for item in tree.iter().filter(|i| i.keyword() == "global_defs") {
            self.no_args(item);
            if self.arity_ok(kw::Section::Root, item) {
                if let Some(b) = &item.block {
                    self.global(b, &mut cfg.global);
                }
            }
        }
        let mut instances: Vec<InstB> = Vec::new();
        for item in tree {
            let k = item.keyword();
            if k != "global_defs" && !self.arity_ok(kw::Section::Root, item) {
                continue;
            }
            match k {
                "global_defs" => {}
                "vrrp_script" => {
                    if let Some(s) = self.script(item) {
                        if cfg.scripts.iter().any(|x| x.name == s.name) {
                            self.err(&item.pos, format!("vrrp_script {} already defined", s.name));
                        } else {
                            cfg.scripts.push(s);
                        }
                    }
                }
                "vrrp_track_process" => {
                    if let Some(t) = self.track_process(item) {
                        if cfg.track_processes.iter().any(|x| x.name == t.name) {
                            self.err(
                                &item.pos,
                                format!("vrrp_track_process {} already defined", t.name),
                            );
                        } else {
                            cfg.track_processes.push(t);
                        }
                    }
                }
                "vrrp_instance" => {
                    if let Some(b) = self.instance(item, &cfg.global) {
                        if instances.iter().any(|x| x.inst.name == b.inst.name) {
                            self.err(
                                &item.pos,
                                format!("vrrp instance {} already defined", b.inst.name),
                            );
                        } else {
                            instances.push(b);
                        }
                    }
                }
                "vrrp_sync_group" => {
                    if let Some(g) = self.sync_group(item) {
                        if cfg.sync_groups.iter().any(|x| x.name == g.name) {
                            self.err(
                                &item.pos,
                                format!("vrrp sync group {} already defined", g.name),
                            );
                        } else {
                            cfg.sync_groups.push(g);
                        }
                    }
                }
                _ if k.starts_with('$') || k.starts_with('@') || k.starts_with('~') => {
                    self.err(
                        &item.pos,
                        format!(
                            "Unsupported keepalived parameter/conditional syntax '{k}' - vrrpd does not implement it"
                        ),
                    );
                }
                _ if kw::refused(kw::Section::Root, k) => self.unsupported(item),
                _ => self.unknown(item),
            }
        }
        self.finish(&mut cfg, instances);
        cfg
    }

    fn no_args(&mut self, item: &Item) {
        if let Some(t) = item.words.get(1) {
            self.err(
                &t.pos,
                format!("Unexpected '{}' after '{}'", t.text, item.keyword()),
            );
        }
    }

    fn name(&mut self, item: &Item) -> Option<String> {
        if item.words.len() != 2 {
            self.err(&item.pos, format!("{} must have a name", item.keyword()));
            return None;
        }
        Some(item.words[1].text.clone())
    }

    fn global(&mut self, block: &[Item], g: &mut GlobalDefs) {
        for item in block {
            let k = item.keyword();
            if !kw::takes_block(kw::Section::Global, k) {
                self.no_block(item);
            }
            if !self.arity_ok(kw::Section::Global, item) {
                continue;
            }
            match k {
                "router_id" => {
                    if let Some(t) = self.arg(item, 1) {
                        g.router_id = Some(t.text.clone());
                    }
                }
                "vrrp_version" => {
                    if let Some(t) = self.arg(item, 1) {
                        if let Some(v) = self.num_u(t, 2, 3) {
                            g.vrrp_version = v as u8;
                        }
                    }
                }
                "script_user" => {
                    if let Some(u) = self.user(item, 1) {
                        g.script_user = Some(u);
                    }
                }
                "enable_script_security" => g.enable_script_security = self.flag(item),
                "vrrp_garp_master_delay" => {
                    if let Some(d) = self.secs(item, 0, u64::from(u32::MAX) / 1_000_000) {
                        g.vrrp_garp_master_delay = d;
                    }
                }
                "vrrp_garp_master_repeat" => {
                    if let Some(n) = self.count(item, 1) {
                        g.vrrp_garp_master_repeat = n;
                    }
                }
                "vrrp_garp_master_refresh" => {
                    if let Some(d) = self.secs(item, 0, u64::from(u32::MAX)) {
                        g.vrrp_garp_master_refresh = (!d.is_zero()).then_some(d);
                    }
                }
                "vrrp_garp_master_refresh_repeat" => {
                    if let Some(n) = self.count(item, 1) {
                        g.vrrp_garp_master_refresh_repeat = n;
                    }
                }
                "vrrp_garp_interval" | "vrrp_gna_interval" => {
                    if let Some(t) = self.arg(item, 1) {
                        if let Some(us) = self.num_dec(t, 0, 1_000_000) {
                            let d = Duration::from_micros(us);
                            if k == "vrrp_garp_interval" {
                                g.vrrp_garp_interval = d;
                            } else {
                                g.vrrp_gna_interval = d;
                            }
                        }
                    }
                }
                "vrrp_mcast_group4" => {
                    if let Some(t) = self.arg(item, 1) {
                        match t.text.parse::<std::net::Ipv4Addr>() {
                            Ok(a) if a.is_multicast() => g.vrrp_mcast_group4 = a,
                            _ => self.err(
                                &t.pos,
                                format!(
                                    "vrrp_mcast_group4 '{}' is not an IPv4 multicast address",
                                    t.text
                                ),
                            ),
                        }
                    }
                }
                "vrrp_mcast_group6" => {
                    if let Some(t) = self.arg(item, 1) {
                        match t.text.parse::<std::net::Ipv6Addr>() {
                            Ok(a) if a.is_multicast() => g.vrrp_mcast_group6 = a,
                            _ => self.err(
                                &t.pos,
                                format!(
                                    "vrrp_mcast_group6 '{}' is not an IPv6 multicast address",
                                    t.text
                                ),
                            ),
                        }
                    }
                }
                "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = self.flag(item),
                "vrrp_garp_lower_prio_delay" => {
                    if let Some(d) = self.secs(item, 0, u64::from(u32::MAX) / 1_000_000) {
                        g.vrrp_garp_lower_prio_delay = Some(d);
                    }
                }
                "vrrp_garp_lower_prio_repeat" => {
                    if let Some(n) = self.count(item, 0) {
                        g.vrrp_garp_lower_prio_repeat = Some(n);
                    }
                }
                "vrrp_lower_prio_no_advert" => g.vrrp_lower_prio_no_advert = self.flag(item),
                "vrrp_higher_prio_send_advert" => g.vrrp_higher_prio_send_advert = self.flag(item),
                "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = self.flag(item),
                "notify_fifo" | "vrrp_notify_fifo" => {
                    if let Some(t) = self.arg(item, 1) {
                        let path = std::path::PathBuf::from(&t.text);
                        let owner = if item.words.len() > 2 {
                            self.user(item, 2)
                        } else {
                            None
                        };
                        if !g.notify_fifos.iter().any(|f| f.path == path) {
                            g.notify_fifos.push(NotifyFifo { path, owner });
                        }
                    }
                }
                _ if kw::ignored(kw::Section::Global, k).is_some() => {
                    let note = kw::ignored(kw::Section::Global, k).unwrap_or_default();
                    self.ignored(item, note)
                }
                _ if kw::refused(kw::Section::Global, k) => self.unsupported(item),
                _ => self.unknown(item),
            }
        }
    }

    fn script(&mut self, item: &Item) -> Option<VrrpScript> {
        let name = self.name(item)?;
        let block = self.block(item)?;
        let mut s = VrrpScript {
            name,
            pos: item.pos.clone().into(),
            script: Command {
                argv: Vec::new(),
                user: None,
            },
            interval: Duration::from_secs(1),
            timeout: None,
            weight: 0,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            init_fail: false,
        };
        let mut ok = true;
        for it in block {
            self.no_block(it);
            if !self.arity_ok(kw::Section::Script, it) {
                // As when their parser fails: no "No script set" then.
                if matches!(it.keyword(), "script" | "user") {
                    ok = false;
                }
                continue;
            }
            match it.keyword() {
                "script" => match self.command(it, false) {
                    Some(c) => s.script.argv = c.argv,
                    None => ok = false,
                },
                "interval" => {
                    if let Some(d) = self.secs(it, 1, u64::from(u32::MAX) / 1_000_000) {
                        s.interval = d;
                    }
                }
                "timeout" => {
                    if let Some(d) = self.secs(it, 1, u64::from(u32::MAX) / 1_000_000) {
                        s.timeout = Some(d);
                    }
                }
                "weight" => {
                    if let Some(t) = self.arg(it, 1) {
                        if let Some(w) = self.num_i(t, -253, 253) {
                            s.weight = w as i32;
                        }
                    }
                    if let Some(r) = self.reverse_opt(it, 2) {
                        s.weight_reverse = r;
                    }
                }
                "rise" | "fall" => {
                    if let Some(t) = self.arg(it, 1) {
                        if let Some(n) = self.num_u(t, 1, i32::MAX as u64) {
                            if it.keyword() == "rise" {
                                s.rise = n as u32;
                            } else {
                                s.fall = n as u32;
                            }
                        }
                    }
                }
                "user" => match self.user(it, 1) {
                    Some(u) => s.script.user = Some(u),
                    None => ok = false,
                },
                "init_fail" => s.init_fail = true,
                _ => self.unknown(it),
            }
        }
        if s.script.argv.is_empty() {
            if ok {
                self.err(
                    &item.pos,
                    format!("No script set for vrrp_script {} - removing", s.name),
                );
            }
            return None;
        }
        Some(s)
    }

    /// Optional `reverse` at word `idx`.
    fn reverse_opt(&mut self, item: &Item, idx: usize) -> Option<bool> {
        let t = item.words.get(idx)?;
        if t.text == "reverse" {
            if let Some(extra) = item.words.get(idx + 1) {
                self.err(&extra.pos, format!("Unexpected '{}'", extra.text));
            }
            Some(true)
        } else {
            self.err(
                &t.pos,
                format!("unknown weight option {} for '{}'", t.text, item.keyword()),
            );
            None
        }
    }

    fn track_process(&mut self, item: &Item) -> Option<TrackProcess> {
        let name = self.name(item)?;
        let block = self.block(item)?;
        let mut t = TrackProcess {
            name,
            pos: item.pos.clone().into(),
            process: String::new(),
            params: None,
            param_match: ParamMatch::Exact,
            full_command: false,
            quorum: 1,
            quorum_max: None,
            terminate_delay: None,
            fork_delay: None,
            weight: 0,
            weight_reverse: false,
        };
        for it in block {
            self.no_block(it);
            if !self.arity_ok(kw::Section::TrackProcess, it) {
                continue;
            }
            match it.keyword() {
                "process" => {
                    if let Some(p) = self.arg(it, 1) {
                        if !t.process.is_empty() {
                            self.err(
                                &it.pos,
                                format!("Process already set for track process {}", t.name),
                            );
                            continue;
                        }
                        t.process = p.text.clone();
                        if it.words.len() > 2 {
                            t.params = Some(it.words[2..].iter().map(|w| w.text.clone()).collect());
                            t.full_command = true;
                        }
                    }
                }
                "param_match" => match it.words.get(1).map(|w| w.text.as_str()) {
                    None => {
                        t.param_match = ParamMatch::Exact;
                        t.full_command = true;
                    }
                    Some("initial") => {
                        t.param_match = ParamMatch::Initial;
                        t.full_command = true;
                    }
                    Some("partial") => {
                        t.param_match = ParamMatch::Partial;
                        t.full_command = true;
                    }
                    Some(other) => {
                        self.err(&it.pos, format!("Invalid param_match type {other}"));
                    }
                },
                "weight" => {
                    if let Some(w) = self.arg(it, 1) {
                        if let Some(v) = self.num_i(w, -254, 254) {
                            t.weight = v as i32;
                        }
                    }
                    if let Some(r) = self.reverse_opt(it, 2) {
                        t.weight_reverse = r;
                    }
                }
                "quorum" => {
                    if let Some(w) = self.arg(it, 1) {
                        if let Some(v) = self.num_u(w, 1, 65535) {
                            t.quorum = v as u32;
                        }
                    }
                }
                "quorum_max" => {
                    if let Some(w) = self.arg(it, 1) {
                        if let Some(v) = self.num_u(w, 0, 65535) {
                            t.quorum_max = Some(v as u32);
                        }
                    }
                }
                k @ ("delay" | "terminate_delay" | "fork_delay") => {
                    if let Some(w) = self.arg(it, 1) {
                        if let Some(us) = self.num_dec(w, 1, 3600 * 1_000_000) {
                            let d = Some(Duration::from_micros(us));
                            if k != "fork_delay" {
                                t.terminate_delay = d;
                            }
                            if k != "terminate_delay" {
                                t.fork_delay = d;
                            }
                        }
                    }
                }
                "full_command" => t.full_command = true,
                _ => self.unknown(it),
            }
        }
        if let Some(max) = t.quorum_max {
            if max == 0 {
                t.quorum = 0;
            } else if max < t.quorum {
                self.err(&item.pos, "quorum_max is less than quorum".into());
            }
        }
        if t.process.is_empty() {
            self.err(
                &item.pos,
                format!("track process '{}' process name not specified", t.name),
            );
            return None;
        }
        Some(t)
    }

    fn sync_group(&mut self, item: &Item) -> Option<SyncGroup> {
        let name = self.name(item)?;
        let block = self.block(item)?;
        let mut g = SyncGroup {
            name,
            pos: item.pos.clone().into(),
            members: Vec::new(),
            notify_master: None,
            notify_backup: None,
            notify_fault: None,
            notify_stop: None,
            notify: None,
        };
        for it in block {
            let k = it.keyword();
            if !kw::takes_block(kw::Section::SyncGroup, k) {
                self.no_block(it);
            }
            if !self.arity_ok(kw::Section::SyncGroup, it) {
                continue;
            }
            match k {
                "group" => {
                    if let Some(b) = self.block(it) {
                        for m in b {
                            self.no_block(m);
                            for w in &m.words {
                                if g.members.contains(&w.text) {
                                    self.err(
                                        &w.pos,
                                        format!(
                                            "Virtual router {} specified twice in sync group {}",
                                            w.text, g.name
                                        ),
                                    );
                                } else {
                                    g.members.push(w.text.clone());
                                }
                            }
                        }
                    }
                }
                "notify_master" => g.notify_master = self.command(it, true),
                "notify_backup" => g.notify_backup = self.command(it, true),
                "notify_fault" => g.notify_fault = self.command(it, true),
                "notify_stop" => g.notify_stop = self.command(it, true),
                "notify" => g.notify = self.command(it, true),
                _ if kw::ignored(kw::Section::SyncGroup, k).is_some() => {
                    let note = kw::ignored(kw::Section::SyncGroup, k).unwrap_or_default();
                    self.ignored(it, note)
                }
                _ if kw::refused(kw::Section::SyncGroup, k) => self.unsupported(it),
                _ => self.unknown(it),
            }
        }
        Some(g)
    }

    fn instance(&mut self, item: &Item, global: &GlobalDefs) -> Option<InstB> {
        let name = self.name(item)?;
        let block = self.block(item)?;
        let mut b = InstB {
            inst: Instance {
                name,
                pos: item.pos.clone().into(),
                initial_state: None,
                interface: String::new(),
                vrid: 0,
                priority: 100,
                advert_int: Duration::from_secs(1),
                version: global.vrrp_version,
                family: Family::V4,
                nopreempt: false,
                preempt_delay: None,
                auth: None,
                vips: Vec::new(),
                vips_excluded: Vec::new(),
                track_scripts: Vec::new(),
                track_interfaces: Vec::new(),
                track_processes: Vec::new(),
                dont_track_primary: false,
                unicast_src_ip: None,
                unicast_peers: Vec::new(),
                notify_master: None,
                notify_backup: None,
                notify_fault: None,
                notify_stop: None,
                notify: None,
                garp_master_delay: global.vrrp_garp_master_delay,
                garp_master_repeat: global.vrrp_garp_master_repeat,
                garp_master_refresh: global.vrrp_garp_master_refresh,
                garp_master_refresh_repeat: global.vrrp_garp_master_refresh_repeat,
                garp_lower_prio_delay: global.vrrp_garp_lower_prio_delay,
                garp_lower_prio_repeat: global.vrrp_garp_lower_prio_repeat,
                lower_prio_no_advert: global.vrrp_lower_prio_no_advert,
                higher_prio_send_advert: global.vrrp_higher_prio_send_advert,
                v3_checksum_as_v2: false,
            },
            version: None,
            vrid: None,
            advert: None,
            interface_seen: false,
            vip_entries: 0,
            auth_type: None,
            auth_pass: None,
            garp_delay: None,
            garp_repeat: None,
            garp_refresh: None,
            garp_refresh_repeat: None,
            script_refs: Vec::new(),
            process_refs: Vec::new(),
        };
        let iname = b.inst.name.clone();
        for it in block {
            let k = it.keyword();
            if !kw::takes_block(kw::Section::Instance, k) {
                self.no_block(it);
            }
            if !self.arity_ok(kw::Section::Instance, it) {
                continue;
            }
            match k {
                "state" => {
                    if let Some(t) = self.arg(it, 1) {
                        match t.text.as_str() {
                            "MASTER" => b.inst.initial_state = Some(InitialState::Master),
                            "BACKUP" => {
                                if b.inst.initial_state == Some(InitialState::Master) {
                                    self.err(
                                        &it.pos,
                                        format!("({iname}) state previously set as MASTER - ignoring BACKUP"),
                                    );
                                } else {
                                    b.inst.initial_state = Some(InitialState::Backup);
                                }
                            }
                            other => self.err(
                                &it.pos,
                                format!("({iname}) unknown state '{other}', defaulting to BACKUP"),
                            ),
                        }
                    }
                }
                "interface" => {
                    if let Some(t) = self.arg(it, 1) {
                        b.interface_seen = true;
                        let n = t.text.clone();
                        if n.len() >= 16 {
                            self.err(&it.pos, format!("Interface name '{n}' too long - ignoring"));
                            continue;
                        }
                        match self.sys.interface(&n) {
                            IfKind::Present => {}
                            IfKind::Missing => self.warn(
                                &it.pos,
                                format!("WARNING - interface {n} for vrrp_instance {iname} doesn't exist"),
                            ),
                            IfKind::Loopback => self.err(
                                &it.pos,
                                format!("({iname}) cannot use a loopback interface ({n}) for vrrp - ignoring"),
                            ),
                        }
                        b.inst.interface = n;
                    }
                }
                "virtual_router_id" => {
                    if let Some(t) = self.arg(it, 1) {
                        if let Some(v) = self.num_u(t, 1, 255) {
                            b.vrid = Some(v as u8);
                        }
                    }
                }
                "priority" => {
                    if let Some(t) = self.arg(it, 1) {
                        if let Some(v) = self.num_u(t, 1, 255) {
                            b.inst.priority = v as u8;
                        }
                    }
                }
                "advert_int" => {
                    if let Some(t) = self.arg(it, 1) {
                        if let Some(us) = self.num_dec(t, 10_000, 255_000_000) {
                            b.advert = Some((us, it.pos.clone()));
                        }
                    }
                }
                "version" => {
                    if let Some(t) = self.arg(it, 1) {
                        if let Some(v) = self.num_u(t, 2, 3) {
                            b.version = Some(v as u8);
                        }
                    }
                }
                "nopreempt" => b.inst.nopreempt = true,
                "preempt" => b.inst.nopreempt = false,
                "preempt_delay" => {
                    if let Some(t) = self.arg(it, 1) {
                        if let Some(us) = self.num_dec(t, 0, 1000 * 1_000_000) {
                            b.inst.preempt_delay = (us > 0).then(|| Duration::from_micros(us));
                        }
                    }
                }
                "authentication" => {
                    if let Some(blk) = self.block(it) {
                        self.auth(blk, &mut b);
                    }
                }
                "virtual_ipaddress" | "virtual_ipaddress_excluded" => {
                    if let Some(blk) = self.block(it) {
                        let excluded = k == "virtual_ipaddress_excluded";
                        if !excluded {
                            b.vip_entries += blk.len();
                        }
                        for v in blk {
                            self.no_block(v);
                            if let Some(vip) = self.vip(v) {
                                if excluded {
                                    b.inst.vips_excluded.push(vip);
                                } else if let Some(first) = b.inst.vips.first() {
                                    if first.addr.is_ipv4() != vip.addr.is_ipv4() {
                                        self.err(
                                            &v.pos,
                                            format!("({iname}): address family must match VRRP instance [{}] - ignoring", vip.addr),
                                        );
                                    } else {
                                        b.inst.vips.push(vip);
                                    }
                                } else {
                                    b.inst.vips.push(vip);
                                }
                            }
                        }
                    }
                }
                "track_script" | "track_process" => {
                    if let Some(blk) = self.block(it) {
                        for r in blk {
                            self.no_block(r);
                            if let Some((name, weight, reverse)) = self.track_entry(r, 253) {
                                let tr = TrackRef {
                                    name,
                                    weight,
                                    reverse,
                                };
                                if k == "track_script" {
                                    b.script_refs.push((tr, r.pos.clone()));
                                } else {
                                    b.process_refs.push((tr, r.pos.clone()));
                                }
                            }
                        }
                    }
                }
                "track_interface" => {
                    if let Some(blk) = self.block(it) {
                        for r in blk {
                            self.no_block(r);
                            if let Some((name, weight, reverse)) = self.track_entry(r, 254) {
                                match self.sys.interface(&name) {
                                    IfKind::Missing => self.warn(
                                        &r.pos,
                                        format!("({iname}) WARNING - interface {name} for track_interface doesn't exist"),
                                    ),
                                    IfKind::Loopback | IfKind::Present => {}
                                }
                                b.inst.track_interfaces.push(TrackIf {
                                    name,
                                    weight,
                                    reverse,
                                });
                            }
                        }
                    }
                }
                "dont_track_primary" => b.inst.dont_track_primary = true,
                "unicast_src_ip" | "mcast_src_ip" => {
                    if let Some(t) = self.arg(it, 1) {
                        if let Some(a) = self.ip(t, "source address") {
                            b.inst.unicast_src_ip = Some(a);
                        }
                    }
                }
                "unicast_peer" => {
                    if let Some(blk) = self.block(it) {
                        for r in blk {
                            self.no_block(r);
                            let Some(t) = r.words.first() else { continue };
                            match t.text.parse::<IpAddr>() {
                                Ok(a) => {
                                    if let Some(extra) = r.words.get(1) {
                                        if extra.text == "min_ttl" || extra.text == "max_ttl" {
                                            self.err(
                                                &extra.pos,
                                                format!("Unsupported unicast_peer option '{}' - vrrpd does not implement it", extra.text),
                                            );
                                        } else {
                                            self.err(
                                                &extra.pos,
                                                format!("Unknown unicast_peer option '{}'", extra.text),
                                            );
                                        }
                                    }
                                    if b.inst.unicast_peers.contains(&a) {
                                        self.err(&r.pos, format!("({iname}) duplicate unicast peer {a}"));
                                    } else {
                                        b.inst.unicast_peers.push(a);
                                    }
                                }
                                Err(_) => self.err(
                                    &r.pos,
                                    format!("Configuration error: VRRP instance[{iname}] malformed unicast peer address[{}]. Skipping...", t.text),
                                ),
                            }
                        }
                    }
                }
                "notify_master" => b.inst.notify_master = self.command(it, true),
                "notify_backup" => b.inst.notify_backup = self.command(it, true),
                "notify_fault" => b.inst.notify_fault = self.command(it, true),
                "notify_stop" => b.inst.notify_stop = self.command(it, true),
                "notify" => b.inst.notify = self.command(it, true),
                "garp_master_delay" => {
                    b.garp_delay = self.secs(it, 0, u64::from(u32::MAX) / 1_000_000);
                }
                "garp_master_repeat" => b.garp_repeat = self.count(it, 1),
                "garp_master_refresh" => {
                    b.garp_refresh = self
                        .secs(it, 0, u64::from(u32::MAX))
                        .map(|d| (!d.is_zero()).then_some(d));
                }
                "garp_master_refresh_repeat" => b.garp_refresh_repeat = self.count(it, 1),
                "v3_checksum_as_v2" => b.inst.v3_checksum_as_v2 = self.flag(it),
                "garp_lower_prio_delay" => {
                    if let Some(d) = self.secs(it, 0, u64::from(u32::MAX) / 1_000_000) {
                        b.inst.garp_lower_prio_delay = Some(d);
                    }
                }
                "garp_lower_prio_repeat" => {
                    if let Some(n) = self.count(it, 0) {
                        b.inst.garp_lower_prio_repeat = Some(n);
                    }
                }
                "lower_prio_no_advert" => b.inst.lower_prio_no_advert = self.flag(it),
                "higher_prio_send_advert" => b.inst.higher_prio_send_advert = self.flag(it),
                "accept" => {}
                _ if kw::ignored(kw::Section::Instance, k).is_some() => {
                    let note = kw::ignored(kw::Section::Instance, k).unwrap_or_default();
                    self.ignored(it, note)
                }
                _ if kw::refused(kw::Section::Instance, k) => self.unsupported(it),
                _ => self.unknown(it),
            }
        }
        Some(b)
    }

    /// `NAME [weight W [reverse]]` of track_script/track_process/track_interface.
    fn track_entry(&mut self, r: &Item, max: i64) -> Option<(String, Option<i32>, bool)> {
        let name = r.words.first()?.text.clone();
        let mut weight = None;
        let mut reverse = false;
        match r.words.get(1) {
            None => {}
            Some(t) if t.text == "weight" => {
                let w = r.words.get(2);
                match w {
                    None => self.err(&r.pos, missing_param(&name, "weight", 3)),
                    Some(w) => weight = self.num_i(w, -max, max).map(|v| v as i32),
                }
                if let Some(rv) = self.reverse_opt(r, 3) {
                    reverse = rv;
                }
            }
            Some(t) => self.err(
                &t.pos,
                format!("Unknown option '{}' for tracked object {name}", t.text),
            ),
        }
        Some((name, weight, reverse))
    }

    fn auth(&mut self, blk: &[Item], b: &mut InstB) {
        for it in blk {
            self.no_block(it);
            if !self.arity_ok(kw::Section::Auth, it) {
                continue;
            }
            match it.keyword() {
                "auth_type" => {
                    if let Some(t) = self.arg(it, 1) {
                        match t.text.as_str() {
                            "PASS" => b.auth_type = Some(("PASS".into(), it.pos.clone())),
                            "AH" => {
                                self.err(
                                    &it.pos,
                                    "Unsupported auth_type 'AH' - vrrpd does not implement it (only PASS)".into(),
                                );
                                b.auth_type = Some(("AH".into(), it.pos.clone()));
                            }
                            other => self.err(
                                &it.pos,
                                format!("({}) unknown authentication type '{other}'", b.inst.name),
                            ),
                        }
                    }
                }
                "auth_pass" => {
                    if let Some(t) = self.arg(it, 1) {
                        let mut p = t.text.clone();
                        if p.len() > 8 {
                            self.warn(&it.pos, "Truncating auth_pass to 8 characters".into());
                            let mut end = 8;
                            while !p.is_char_boundary(end) {
                                end -= 1;
                            }
                            p.truncate(end);
                        }
                        b.auth_pass = Some(p);
                    }
                }
                _ => self.unknown(it),
            }
        }
    }

    fn vip(&mut self, v: &Item) -> Option<Vip> {
        let first = v.words.first()?;
        let (addr_s, prefix_s) = match first.text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (first.text.as_str(), None),
        };
        let Ok(addr) = addr_s.parse::<IpAddr>() else {
            self.err(
                &v.pos,
                format!("VRRP parsed invalid IP {}. skipping IP...", first.text),
            );
            return None;
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_s {
            None => max,
            Some(p) => {
                let tok = Token {
                    text: p.to_string(),
                    pos: first.pos.clone(),
                    quoted: false,
                };
                self.num_u(&tok, 0, u64::from(max))? as u8
            }
        };
        let mut vip = Vip {
            addr,
            prefix,
            dev: None,
            label: None,
            scope: None,
            brd: None,
        };
        let mut i = 1;
        while i < v.words.len() {
            let opt = &v.words[i];
            let val = v.words.get(i + 1);
            match opt.text.as_str() {
                "dev" | "label" | "scope" | "brd" | "broadcast" => {
                    let Some(val) = val else {
                        self.err(&v.pos, missing_param(&first.text, &opt.text, i + 2));
                        return None;
                    };
                    match opt.text.as_str() {
                        "dev" => {
                            if self.sys.interface(&val.text) == IfKind::Missing {
                                self.warn(
                                    &v.pos,
                                    format!(
                                        "WARNING - interface {} for ip address {} doesn't exist",
                                        val.text, first.text
                                    ),
                                );
                            }
                            vip.dev = Some(val.text.clone());
                        }
                        "label" => vip.label = Some(val.text.clone()),
                        "scope" => vip.scope = Some(self.scope(val)?),
                        _ => {
                            let Ok(IpAddr::V4(b)) = val.text.parse::<IpAddr>() else {
                                self.err(
                                    &val.pos,
                                    format!(
                                        "Invalid broadcast address '{}' for {}",
                                        val.text, first.text
                                    ),
                                );
                                return None;
                            };
                            if !addr.is_ipv4() {
                                self.err(
                                    &val.pos,
                                    format!(
                                        "brd is only valid for IPv4 addresses ({})",
                                        first.text
                                    ),
                                );
                                return None;
                            }
                            vip.brd = Some(b);
                        }
                    }
                    i += 2;
                }
                o if kw::refused(kw::Section::VipOption, o) => {
                    self.err(
                        &opt.pos,
                        format!(
                            "Unsupported ip address option '{o}' - vrrpd does not implement it"
                        ),
                    );
                    return None;
                }
                o => {
                    self.err(
                        &opt.pos,
                        format!("Unknown configuration entry '{o}' for ip address - ignoring"),
                    );
                    return None;
                }
            }
        }
        Some(vip)
    }

    fn scope(&mut self, t: &Token) -> Option<Scope> {
        Some(match t.text.as_str() {
            "global" | "universe" => Scope::Global,
            "site" => Scope::Site,
            "link" => Scope::Link,
            "host" => Scope::Host,
            "nowhere" => Scope::Nowhere,
            other => match other.parse::<u8>() {
                Ok(v) => Scope::Other(v),
                Err(_) => {
                    self.err(&t.pos, format!("Invalid scope '{other}'"));
                    return None;
                }
            },
        })
    }

    /// Cross-object validation and defaults that need the whole file.
    fn finish(&mut self, cfg: &mut Config, builders: Vec<InstB>) {
        for mut b in builders {
            let iname = b.inst.name.clone();
            let ipos = b.inst.pos.0.clone();
            if !b.interface_seen {
                self.push(
                    Severity::Error,
                    ipos.as_ref(),
                    format!("({iname}) Unknown interface!"),
                );
            }
            match b.vrid {
                Some(v) => b.inst.vrid = v,
                None => self.push(
                    Severity::Error,
                    ipos.as_ref(),
                    format!("({iname}) the virtual router id must be set"),
                ),
            }
            // Family: the VIPs decide, else the unicast addresses.
            let fam_addr = b
                .inst
                .vips
                .first()
                .map(|v| v.addr)
                .or(b.inst.unicast_src_ip)
                .or(b.inst.unicast_peers.first().copied());
            b.inst.family = match fam_addr {
                Some(IpAddr::V6(_)) => Family::V6,
                _ => Family::V4,
            };
            let v6 = b.inst.family == Family::V6;
            b.inst.version = match (b.version, v6) {
                (Some(2), true) => {
                    self.push(
                        Severity::Error,
                        ipos.as_ref(),
                        format!("({iname}) cannot use IPv6 with VRRP version 2"),
                    );
                    2
                }
                (Some(v), _) => v,
                // keepalived silently uses version 3 for IPv6.
                (None, true) => 3,
                (None, false) => b.inst.version,
            };
            if let Some(src) = b.inst.unicast_src_ip {
                if src.is_ipv6() != v6 {
                    self.push(
                        Severity::Error,
                        ipos.as_ref(),
                        format!("({iname}) unicast_src_ip {src} is not of the instance's address family"),
                    );
                }
            }
            let peers = std::mem::take(&mut b.inst.unicast_peers);
            for p in peers {
                if p.is_ipv6() != v6 {
                    self.push(
                        Severity::Error,
                        ipos.as_ref(),
                        format!("Configuration error: VRRP instance[{iname}] and unicast peer address[{p}] MUST be of the same family !!! Skipping..."),
                    );
                } else {
                    b.inst.unicast_peers.push(p);
                }
            }
            if b.vip_entries == 0 {
                self.push(
                    Severity::Warning,
                    ipos.as_ref(),
                    format!("({iname}) No VIP specified; at least one is sensible"),
                );
            }
            if let Some((us, pos)) = &b.advert {
                let us = *us;
                if b.inst.version == 2 {
                    if us % 1_000_000 != 0 {
                        self.err(
                            pos,
                            format!(
                                "({iname}) VRRPv2 advertisement interval {}.{:06}s must be an integer",
                                us / 1_000_000,
                                us % 1_000_000
                            ),
                        );
                    }
                } else if us % 10_000 != 0 || us > 40_950_000 {
                    self.err(
                        pos,
                        format!(
                            "({iname}) VRRPv3 advertisement interval {}.{:06}s must be a multiple of 0.01s and at most 40.95s",
                            us / 1_000_000,
                            us % 1_000_000
                        ),
                    );
                }
                b.inst.advert_int = Duration::from_micros(us);
            }
            match (&b.auth_type, &b.auth_pass) {
                // Already reported as unsupported.
                (Some((t, _)), _) if t == "AH" => {}
                (Some((_, pos)), Some(p)) => {
                    if b.inst.version == 3 {
                        self.err(
                            pos,
                            format!(
                                "({iname}) authentication is not supported with VRRPv3 (RFC 5798)"
                            ),
                        );
                    }
                    b.inst.auth = Some(Auth::Pass(p.clone()));
                }
                (Some((_, pos)), None) => {
                    self.err(pos, format!("({iname}) auth_type PASS without auth_pass"))
                }
                (None, Some(_)) => self.push(
                    Severity::Error,
                    ipos.as_ref(),
                    format!("({iname}) auth_pass without auth_type"),
                ),
                (None, None) => {}
            }
            if b.inst.nopreempt && b.inst.preempt_delay.is_some() {
                self.push(
                    Severity::Warning,
                    ipos.as_ref(),
                    format!(
                        "({iname}) preempt_delay is incompatible with nopreempt mode - resetting"
                    ),
                );
                b.inst.preempt_delay = None;
            }
            if let Some(d) = b.garp_delay {
                b.inst.garp_master_delay = d;
            }
            if let Some(n) = b.garp_repeat {
                b.inst.garp_master_repeat = n;
            }
            if let Some(r) = b.garp_refresh {
                b.inst.garp_master_refresh = r;
            }
            if let Some(n) = b.garp_refresh_repeat {
                b.inst.garp_master_refresh_repeat = n;
            }
            for (r, pos) in b.script_refs {
                if cfg.scripts.iter().any(|s| s.name == r.name) {
                    b.inst.track_scripts.push(r);
                } else {
                    self.err(
                        &pos,
                        format!("({iname}) track script {} not found, ignoring...", r.name),
                    );
                }
            }
            for (r, pos) in b.process_refs {
                if cfg.track_processes.iter().any(|s| s.name == r.name) {
                    b.inst.track_processes.push(r);
                } else {
                    self.err(
                        &pos,
                        format!("({iname}) track process {} not found, ignoring...", r.name),
                    );
                }
            }
            cfg.instances.push(b.inst);
        }
        // Two instances may not share interface + VRID + family.
        for (i, a) in cfg.instances.iter().enumerate() {
            for bb in &cfg.instances[..i] {
                if a.vrid != 0
                    && a.vrid == bb.vrid
                    && a.interface == bb.interface
                    && a.family == bb.family
                {
                    let pos = a.pos.0.clone();
                    self.push(
                        Severity::Error,
                        pos.as_ref(),
                        format!(
                            "{} and {} both use VRID {} with {} on interface {}",
                            bb.name,
                            a.name,
                            a.vrid,
                            if a.family == Family::V4 {
                                "IPv4"
                            } else {
                                "IPv6"
                            },
                            a.interface
                        ),
                    );
                }
            }
        }
        // Sync groups reference existing instances, each at most once.
        let mut seen: HashSet<String> = HashSet::new();
        for g in &mut cfg.sync_groups {
            let gpos = g.pos.0.clone();
            let members = std::mem::take(&mut g.members);
            for m in members {
                if !cfg.instances.iter().any(|i| i.name == m) {
                    self.diags.push(Diagnostic {
                        severity: Severity::Error,
                        pos: gpos.clone(),
                        message: format!(
                            "Virtual router {m} specified in sync group {} doesn't exist - ignoring",
                            g.name
                        ),
                    });
                } else if !seen.insert(m.clone()) {
                    self.diags.push(Diagnostic {
                        severity: Severity::Error,
                        pos: gpos.clone(),
                        message: format!(
                            "Virtual router {m} cannot exist in more than one sync group; ignoring {}",
                            g.name
                        ),
                    });
                } else {
                    g.members.push(m);
                }
            }
            if g.members.len() < 2 {
                self.diags.push(Diagnostic {
                    severity: Severity::Warning,
                    pos: gpos.clone(),
                    message: format!(
                        "Sync group {} has only {} virtual router(s) - this probably isn't what you want",
                        g.name,
                        g.members.len()
                    ),
                });
            }
        }
        self.sync_group_weights(cfg);
        self.script_security(cfg);
    }

    /// keepalived ignores tracked objects with a weight in the members of a
    /// sync group (a sync group moves as a whole: only failures, i.e.
    /// weight 0, count), with a note per object.
    fn sync_group_weights(&mut self, cfg: &mut Config) {
        let members: HashSet<String> = cfg
            .sync_groups
            .iter()
            .flat_map(|g| g.members.iter().cloned())
            .collect();
        let script_w: HashMap<String, i32> = cfg
            .scripts
            .iter()
            .map(|s| (s.name.clone(), s.weight))
            .collect();
        let proc_w: HashMap<String, i32> = cfg
            .track_processes
            .iter()
            .map(|p| (p.name.clone(), p.weight))
            .collect();
        let mut notes = Vec::new();
        for inst in cfg
            .instances
            .iter_mut()
            .filter(|i| members.contains(&i.name))
        {
            let name = inst.name.clone();
            let pos = inst.pos.0.clone();
            inst.track_scripts.retain(|t| {
                let w = t
                    .weight
                    .unwrap_or_else(|| script_w.get(&t.name).copied().unwrap_or(0));
                if w != 0 {
                    notes.push((
                        pos.clone(),
                        format!(
                            "({name}) ignoring tracked script {} with weights due to SYNC group",
                            t.name
                        ),
                    ));
                }
                w == 0
            });
            inst.track_processes.retain(|t| {
                let w = t
                    .weight
                    .unwrap_or_else(|| proc_w.get(&t.name).copied().unwrap_or(0));
                if w != 0 {
                    notes.push((
                        pos.clone(),
                        format!(
                            "({name}) ignoring tracked process {} with weights due to SYNC group",
                            t.name
                        ),
                    ));
                }
                w == 0
            });
            inst.track_interfaces.retain(|t| {
                let w = t.weight.unwrap_or(0);
                if w != 0 {
                    notes.push((
                        pos.clone(),
                        format!(
                            "({name}) ignoring tracked interface {} with weights due to SYNC group",
                            t.name
                        ),
                    ));
                }
                w == 0
            });
        }
        for (pos, message) in notes {
            self.push(Severity::Note, pos.as_ref(), message);
        }
    }

    /// keepalived's script security rules: scripts run as `script_user`, else
    /// `keepalived_script` if that user exists, else root; root without
    /// `enable_script_security` is a "security violation" (exit 6 with -t).
    fn script_security(&mut self, cfg: &Config) {
        let default_user: Option<String> = match &cfg.global.script_user {
            Some(u) => Some(u.user.clone()),
            None if self.sys.user_exists("keepalived_script") => {
                Some("keepalived_script".to_string())
            }
            None => None,
        };
        let mut runs_as_root = false;
        let mut check = |user: &Option<ScriptUser>,
                         this: &mut Self,
                         what: &str,
                         pos: Option<&Pos>,
                         used: bool| {
            let eff = user
                .as_ref()
                .map(|u| u.user.clone())
                .or(default_user.clone());
            match eff {
                Some(u) if u != "root" => {}
                Some(_) => runs_as_root |= used,
                None => {
                    if cfg.global.enable_script_security {
                        this.push(
                            Severity::Error,
                            pos,
                            format!("Unable to set default user for {what} - add script_user to global_defs"),
                        );
                    } else {
                        runs_as_root |= used;
                    }
                }
            }
        };
        // keepalived checks every vrrp_script once the VRRP part runs at
        // all (some vrrp_instance exists), tracked or not.
        let used = |_name: &str| !cfg.instances.is_empty();
        for s in &cfg.scripts {
            check(
                &s.script.user,
                self,
                &format!("vrrp script {}", s.name),
                s.pos.0.as_ref(),
                used(&s.name),
            );
        }
        let notifies = cfg
            .instances
            .iter()
            .flat_map(|i| {
                [
                    &i.notify_master,
                    &i.notify_backup,
                    &i.notify_fault,
                    &i.notify_stop,
                    &i.notify,
                ]
                .into_iter()
                .map(move |n| (n, &i.pos))
            })
            .chain(cfg.sync_groups.iter().flat_map(|g| {
                [
                    &g.notify_master,
                    &g.notify_backup,
                    &g.notify_fault,
                    &g.notify_stop,
                    &g.notify,
                ]
                .into_iter()
                .map(move |n| (n, &g.pos))
            }));
        for (n, pos) in notifies {
            if let Some(c) = n {
                check(&c.user, self, "notify script", pos.0.as_ref(), true);
            }
        }
        if runs_as_root && !cfg.global.enable_script_security {
            self.push(
                Severity::Security,
                None,
                "SECURITY VIOLATION - scripts are being executed but script_security not enabled."
                    .into(),
            );
        }
    }
}

/// `"1"`, `"0.5"`, `"2.25"` seconds to microseconds (at most 6 decimals).
pub(crate) fn parse_decimal_us(s: &str) -> Option<u64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 6 {
        return None;
    }
    let i: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..6 {
        f *= 10;
    }
    i.checked_mul(1_000_000)?.checked_add(f)
}
