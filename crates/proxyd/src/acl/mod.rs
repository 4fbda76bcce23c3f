//! The ACL engine of tcp mode: `acl` lines, conditions (`if` / `unless`)
//! and their three-valued evaluation, as HAProxy's configuration manual
//! (section 7) describes them. Pure: parsing takes config words and a
//! pattern-file loader, evaluation takes a [`FetchCtx`].
//!
//! Entry points:
//! - [`parse_acl`]: the words of an `acl NAME FETCH [flags] VALUE...` line
//!   -> (name, [`AclExpr`]); add it to an [`AclSet`] (same name = OR).
//! - [`parse_cond`]: the words after `if` / `unless` -> [`Cond`], names
//!   resolved against the [`AclSet`] defined so far and the predefined
//!   ACLs (`TRUE`, `FALSE`, `LOCALHOST`, `WAIT_END`, `REQ_CONTENT`,
//!   `RDP_COOKIE`).
//! - [`Cond::eval`] -> [`Match`]: `Yes`, `No`, or `NeedMore` when a fetch
//!   could answer differently once more request bytes arrive (HAProxy's
//!   MISS); the caller waits until inspect-delay, then evaluates again with
//!   [`FetchCtx::req_final`] true, which turns every `NeedMore` into a
//!   final answer.

pub mod pattern;
pub mod sample;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use thiserror::Error;

pub use pattern::{Method, Patterns};
pub use sample::{FetchCtx, Fetched, Kind, Sample, SampleExpr};

use pattern::IntSyntax;
use sample::Fetch;

/// Reads a pattern or map file by name; the engine never opens files
/// itself. [`read_file`] is the real one.
pub type PatternLoader<'a> = dyn FnMut(&str) -> std::io::Result<String> + 'a;

/// The real loader: reads the file from disk.
pub fn read_file(path: &str) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

/// The pattern lines of a file as HAProxy reads them: surrounding blanks
/// dropped, empty lines and `#` comment lines skipped. Numbered from 1.
pub fn pattern_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, l)| (i, l.to_string()))
        .collect()
}

/// The result of evaluating an ACL or a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Yes,
    No,
    /// Cannot tell yet: more request data may change the answer.
    NeedMore,
}

// HAProxy's encoding: FAIL=0, MISS=1, PASS=3, so AND is `&` and OR is `|`.
const FAIL: u8 = 0;
const MISS: u8 = 1;
const PASS: u8 = 3;

fn neg(r: u8) -> u8 {
    match r {
        PASS => FAIL,
        FAIL => PASS,
        other => other,
    }
}

fn to_match(r: u8) -> Match {
    match r {
        PASS => Match::Yes,
        FAIL => Match::No,
        _ => Match::NeedMore,
    }
}

/// An error in an `acl` line, displayed as HAProxy 2.6 words it after
/// `parsing [FILE:LINE] : `.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AclError {
    #[error("'acl' expects an ACL name.")]
    MissingName,
    #[error("character '{ch}' is not permitted in acl name '{name}'.")]
    BadName { ch: char, name: String },
    #[error("error detected while parsing ACL '{name}' : {msg}.")]
    Expr { name: String, msg: String },
}

/// An error in a condition. Display is the bare message; [`in_rule`]
/// gives HAProxy's full wording for a given rule kind.
///
/// [`in_rule`]: CondError::in_rule
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct CondError(pub String);

impl CondError {
    /// E.g. `in_rule("switching rule")` -> "error detected while parsing
    /// switching rule : no such ACL : 'x'."
    pub fn in_rule(&self, rule: &str) -> String {
        format!("error detected while parsing {rule} : {}.", self.0)
    }
}

/// One `acl` line (or one anonymous `{ ... }` ACL): a sample expression
/// and its patterns.
#[derive(Debug, Clone)]
pub struct AclExpr {
    pub expr: SampleExpr,
    pub patterns: Patterns,
}

impl AclExpr {
    /// HAProxy's warning for an expression without patterns (which never
    /// matches), if it applies.
    pub fn warning(&self) -> Option<String> {
        if self.patterns.is_empty() && !matches!(self.patterns.method, Method::Found | Method::Bool)
        {
            Some(format!(
                "parsing acl keyword '{}' :\n  no pattern to match against were provided, so this ACL will never match.",
                self.expr.keyword
            ))
        } else {
            None
        }
    }

    fn eval_raw(&self, ctx: &dyn FetchCtx) -> u8 {
        let f = self.expr.eval(ctx);
        let may_change = f.may_change && !ctx.req_final();
        let res = match &f.sample {
            Some(s) if self.patterns.matches(s) => return PASS,
            _ => FAIL,
        };
        if may_change {
            res | MISS
        } else {
            res
        }
    }

    pub fn eval(&self, ctx: &dyn FetchCtx) -> Match {
        to_match(self.eval_raw(ctx))
    }
}

/// A named ACL: the OR of its lines.
#[derive(Debug, Clone)]
pub struct Acl {
    pub name: String,
    pub exprs: Vec<AclExpr>,
}

impl Acl {
    fn eval_raw(&self, ctx: &dyn FetchCtx) -> u8 {
        let mut res = FAIL;
        for e in &self.exprs {
            res |= e.eval_raw(ctx);
            if res == PASS {
                break;
            }
        }
        res
    }

    pub fn eval(&self, ctx: &dyn FetchCtx) -> Match {
        to_match(self.eval_raw(ctx))
    }
}

/// The ACLs of one proxy section, in definition order.
#[derive(Debug, Clone, Default)]
pub struct AclSet {
    acls: HashMap<String, Arc<Acl>>,
}

impl AclSet {
    pub fn new() -> AclSet {
        AclSet::default()
    }

    /// Adds a line to the ACL of that name (OR-ed with earlier lines).
    pub fn add(&mut self, name: &str, expr: AclExpr) {
        let acl = self.acls.entry(name.to_string()).or_insert_with(|| {
            Arc::new(Acl {
                name: name.to_string(),
                exprs: Vec::new(),
            })
        });
        Arc::make_mut(acl).exprs.push(expr);
    }

    /// Parses an `acl` line (words[pos] is the name) and adds it.
    pub fn add_line(
        &mut self,
        words: &[&str],
        pos: usize,
        loader: &mut PatternLoader<'_>,
    ) -> Result<(), AclError> {
        let (name, expr) = parse_acl(words, pos, loader)?;
        self.add(&name, expr);
        Ok(())
    }

    /// A user ACL, else a predefined one.
    pub fn get(&self, name: &str) -> Option<Arc<Acl>> {
        self.acls.get(name).cloned().or_else(|| predefined(name))
    }
}

/// The predefined ACLs, built from their HAProxy definitions.
pub fn predefined(name: &str) -> Option<Arc<Acl>> {
    let def: &[&str] = match name {
        "TRUE" => &["always_true"],
        "FALSE" => &["always_false"],
        "LOCALHOST" => &["src", "127.0.0.1/8", "::1"],
        "WAIT_END" => &["wait_end"],
        "REQ_CONTENT" => &["req_len", "gt", "0"],
        "RDP_COOKIE" => &["req_rdp_cookie_cnt", "gt", "0"],
        _ => return None,
    };
    let mut no_files =
        |_: &str| -> std::io::Result<String> { Err(std::io::ErrorKind::NotFound.into()) };
    let expr = parse_expr_words(def, &mut no_files).ok()?;
    Some(Arc::new(Acl {
        name: name.to_string(),
        exprs: vec![expr],
    }))
}

fn valid_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')
}

/// Parses an `acl` line: `words[pos]` is the ACL name, the rest is
/// `FETCH [flags] [-m METHOD] [--] PATTERN...`.
pub fn parse_acl(
    words: &[&str],
    pos: usize,
    loader: &mut PatternLoader<'_>,
) -> Result<(String, AclExpr), AclError> {
    let name = *words.get(pos).ok_or(AclError::MissingName)?;
    if name.is_empty() {
        return Err(AclError::MissingName);
    }
    if let Some(ch) = name.chars().find(|c| !valid_name_char(*c)) {
        return Err(AclError::BadName {
            ch,
            name: name.to_string(),
        });
    }
    let expr = parse_expr_words(&words[pos + 1..], loader).map_err(|msg| AclError::Expr {
        name: name.to_string(),
        msg,
    })?;
    Ok((name.to_string(), expr))
}

/// Parses `FETCH [flags] PATTERN...` into an expression; the error is the
/// bare HAProxy message.
pub fn parse_expr_words(words: &[&str], loader: &mut PatternLoader<'_>) -> Result<AclExpr, String> {
    let word = words.first().copied().unwrap_or("");
    let expr = sample::parse_expr(word, loader).map_err(|e| e.message(word))?;
    let mut ignore_case = false;
    let mut method = None;
    let mut files = Vec::new();
    let mut i = 1;
    while let Some(w) = words.get(i) {
        if !w.starts_with('-') {
            break;
        }
        i += 1;
        match *w {
            "--" => break,
            "-i" => ignore_case = true,
            "-n" => {}
            "-f" => {
                files.push(words.get(i).copied().unwrap_or(""));
                i += 1;
            }
            "-m" => {
                let m = words.get(i).copied().unwrap_or("");
                i += 1;
                method = Some(
                    Method::from_name(m).ok_or_else(|| format!("unknown matching method '{m}' when parsing ACL expression"))?,
                );
            }
            // unique id for the runtime API / map file as pattern list:
            // refused rather than ignored (nothing may be silently dropped)
            "-u" | "-M" => return Err(format!("ACL option '{w}' is not supported by proxyd")),
            other => {
                return Err(format!(
                    "'{other}' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'"
                ))
            }
        }
    }
    let method = match method {
        Some(m) => m,
        None if !expr.converters.is_empty() => match expr.kind {
            Kind::Bool => Method::Bool,
            Kind::Int => Method::Int,
            Kind::Addr => Method::Ip,
            Kind::Str => Method::Str,
            Kind::Bin => Method::Bin,
        },
        None => expr.fetch_default.ok_or_else(|| {
            format!(
                "matching method must be specified first (using '-m') when using a sample fetch of this type ('{}')",
                expr.keyword
            )
        })?,
    };
    let syntax = if expr.fetch == Fetch::SslVer && expr.converters.is_empty() {
        IntSyntax::DottedVersion
    } else {
        IntSyntax::Number
    };
    let mut patterns = Patterns::new(method, ignore_case);
    for f in files {
        let text = loader(f).map_err(|_| format!("failed to open pattern file <{f}>"))?;
        for (num, line) in pattern_lines(&text) {
            patterns
                .add_all(&[line.as_str()], syntax)
                .map_err(|m| format!("{m} at line {num} of file '{f}'"))?;
        }
    }
    patterns.add_all(&words[i..], syntax)?;
    Ok(AclExpr { expr, patterns })
}

/// Polarity of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CondKind {
    If,
    Unless,
}

/// One term of a condition: a (possibly negated) ACL.
#[derive(Debug, Clone)]
pub struct Term {
    pub negate: bool,
    pub acl: Arc<Acl>,
}

/// A condition: OR of AND-ed suites of terms.
#[derive(Debug, Clone)]
pub struct Cond {
    pub kind: CondKind,
    pub suites: Vec<Vec<Term>>,
}

impl Cond {
    pub fn eval(&self, ctx: &dyn FetchCtx) -> Match {
        let mut res = FAIL;
        for suite in &self.suites {
            let mut s = PASS;
            for t in suite {
                let r = t.acl.eval_raw(ctx);
                s &= if t.negate { neg(r) } else { r };
                if s == FAIL {
                    break;
                }
            }
            res |= s;
            if res == PASS {
                break;
            }
        }
        to_match(if self.kind == CondKind::Unless {
            neg(res)
        } else {
            res
        })
    }
}

/// Parses a condition: `words[pos..]` are the words after `if` / `unless`
/// (all of them are consumed). Named ACLs must already be in `acls`.
pub fn parse_cond(
    kind: CondKind,
    words: &[&str],
    pos: usize,
    acls: &AclSet,
    loader: &mut PatternLoader<'_>,
) -> Result<Cond, CondError> {
    let mut suites: Vec<Vec<Term>> = Vec::new();
    let mut current: Option<Vec<Term>> = None;
    let mut i = pos;
    while i < words.len() {
        let mut w = words[i];
        i += 1;
        if w == "||" || w == "or" {
            if let Some(s) = current.take() {
                suites.push(s);
            }
            continue;
        }
        let mut negate = false;
        while let Some(r) = w.strip_prefix('!') {
            negate = !negate;
            w = r;
        }
        if w.is_empty() {
            // A lone "!" applies to the next word.
            match words.get(i) {
                Some(next) => {
                    w = next;
                    i += 1;
                    while let Some(r) = w.strip_prefix('!') {
                        negate = !negate;
                        w = r;
                    }
                }
                None => break,
            }
        }
        let acl = if w == "{" {
            let close = words[i..]
                .iter()
                .position(|x| *x == "}")
                .ok_or_else(|| CondError("missing closing '}' in condition".to_string()))?;
            let inner = &words[i..i + close];
            i += close + 1;
            let expr = parse_expr_words(inner, loader).map_err(CondError)?;
            Arc::new(Acl {
                name: String::new(),
                exprs: vec![expr],
            })
        } else {
            acls.get(w)
                .ok_or_else(|| CondError(format!("no such ACL : '{w}'")))?
        };
        current
            .get_or_insert_with(Vec::new)
            .push(Term { negate, acl });
    }
    if let Some(s) = current {
        suites.push(s);
    }
    Ok(Cond { kind, suites })
}
