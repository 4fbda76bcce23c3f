//! Match methods (`-m ...`) and compiled pattern sets. Exact strings are
//! indexed in a hash set and IP prefixes in per-length hash sets (longest
//! first), so a long `-f` list costs one lookup per distinct length, not a
//! scan.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use regex::bytes::{Regex, RegexBuilder};

use super::sample::Sample;

/// A match method, as named after `-m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Found,
    Bool,
    Int,
    Ip,
    Bin,
    Len,
    Str,
    Sub,
    Reg,
    Beg,
    End,
    Dir,
    Dom,
}

impl Method {
    pub fn from_name(name: &str) -> Option<Method> {
        Some(match name {
            "found" => Method::Found,
            "bool" => Method::Bool,
            "int" => Method::Int,
            "ip" => Method::Ip,
            "bin" => Method::Bin,
            "len" => Method::Len,
            "str" => Method::Str,
            "sub" => Method::Sub,
            "reg" => Method::Reg,
            "beg" => Method::Beg,
            "end" => Method::End,
            "dir" => Method::Dir,
            "dom" => Method::Dom,
            _ => return None,
        })
    }
}

/// An integer pattern: an inclusive range (either end open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl IntRange {
    /// Matches nothing (`gt` the largest / `lt` the smallest integer).
    const EMPTY: IntRange = IntRange {
        min: Some(i64::MAX),
        max: Some(i64::MIN),
    };

    fn contains(&self, v: i64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

/// A comparison operator that applies to the following integer patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntOp {
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
}

/// How integer patterns are spelled: plain numbers or dotted versions
/// ("3.1" = 3 * 65536 + 1, for `req.ssl_ver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntSyntax {
    Number,
    DottedVersion,
}

fn parse_one_int(s: &str, syntax: IntSyntax) -> Result<i64, String> {
    match syntax {
        IntSyntax::Number => s
            .parse::<i64>()
            .map_err(|_| format!("'{s}' is not a number")),
        IntSyntax::DottedVersion => {
            let bad = || format!("'{s}' is not a dotted number");
            let (maj, min) = match s.split_once('.') {
                Some((a, b)) => (a, b),
                None => (s, "0"),
            };
            let maj: i64 = maj.parse().map_err(|_| bad())?;
            let min: i64 = min.parse().map_err(|_| bad())?;
            if !(0..65536).contains(&maj) || !(0..65536).contains(&min) {
                return Err(bad());
            }
            Ok(maj * 65536 + min)
        }
    }
}

/// An IP prefix set, v4 stored v4-mapped in the v6 space.
#[derive(Debug, Clone, Default)]
pub struct IpSet {
    /// prefix length (0..=128) -> masked addresses; iterated longest first.
    by_len: Vec<(u8, HashSet<u128>)>,
}

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

/// An address in the v6 space (v4 as ::ffff:a.b.c.d).
pub fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Parses `ADDR`, `ADDR/LEN` or `V4/V4MASK` into (key, prefix length in
/// the v6 space).
pub fn parse_cidr(s: &str) -> Option<(u128, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        let plen: u8 = match len {
            None => 32,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= 32 => n,
                Ok(_) => return None,
                Err(_) => {
                    // dotted netmask, must be contiguous
                    let m = u32::from(l.parse::<Ipv4Addr>().ok()?);
                    if m.leading_ones() + m.trailing_zeros() != 32 {
                        return None;
                    }
                    m.leading_ones() as u8
                }
            },
        };
        let plen = plen + 96;
        return Some((ip_key(IpAddr::V4(v4)) & mask(plen), plen));
    }
    let v6 = addr.parse::<Ipv6Addr>().ok()?;
    let plen = match len {
        None => 128,
        Some(l) => l.parse::<u8>().ok().filter(|n| *n <= 128)?,
    };
    Some((u128::from(v6) & mask(plen), plen))
}

impl IpSet {
    pub fn insert(&mut self, key: u128, len: u8) {
        let masked = key & mask(len);
        match self.by_len.iter_mut().find(|(l, _)| *l == len) {
            Some((_, set)) => {
                set.insert(masked);
            }
            None => {
                self.by_len.push((len, HashSet::from([masked])));
                self.by_len.sort_by_key(|e| std::cmp::Reverse(e.0));
            }
        }
    }
    pub fn contains(&self, key: u128) -> bool {
        self.by_len
            .iter()
            .any(|(len, set)| set.contains(&(key & mask(*len))))
    }
    pub fn is_empty(&self) -> bool {
        self.by_len.is_empty()
    }
}

/// The compiled patterns of one ACL expression.
#[derive(Debug, Clone)]
pub struct Patterns {
    pub method: Method,
    pub ignore_case: bool,
    exact: HashSet<Vec<u8>>,
    strings: Vec<Vec<u8>>,
    regexes: Vec<Regex>,
    ints: Vec<IntRange>,
    ips: IpSet,
    count: usize,
}

impl Patterns {
    pub fn new(method: Method, ignore_case: bool) -> Patterns {
        Patterns {
            method,
            ignore_case,
            exact: HashSet::new(),
            strings: Vec::new(),
            regexes: Vec::new(),
            ints: Vec::new(),
            ips: IpSet::default(),
            count: 0,
        }
    }

    /// Number of patterns added.
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn fold(&self, s: &[u8]) -> Vec<u8> {
        if self.ignore_case {
            s.to_ascii_lowercase()
        } else {
            s.to_vec()
        }
    }

    /// Adds a list of pattern words. Integer operators (`ge 5`) apply to
    /// the word after them, as in HAProxy.
    pub fn add_all(&mut self, words: &[&str], syntax: IntSyntax) -> Result<(), String> {
        let mut op = IntOp::Eq;
        for w in words {
            if matches!(self.method, Method::Int | Method::Len) {
                let next = match *w {
                    "eq" => Some(IntOp::Eq),
                    "ge" => Some(IntOp::Ge),
                    "gt" => Some(IntOp::Gt),
                    "le" => Some(IntOp::Le),
                    "lt" => Some(IntOp::Lt),
                    _ => None,
                };
                if let Some(o) = next {
                    op = o;
                    continue;
                }
                self.add_int(w, op, syntax)?;
            } else {
                self.add(w)?;
            }
        }
        Ok(())
    }

    fn add_int(&mut self, w: &str, op: IntOp, syntax: IntSyntax) -> Result<(), String> {
        // A range ignores a pending operator (haproxy 2.6 accepts `gt 5:6`).
        let range = if op == IntOp::Eq || w.contains(':') {
            match w.split_once(':') {
                Some((a, b)) => {
                    let lo = if a.is_empty() {
                        None
                    } else {
                        Some(parse_one_int(a, syntax)?)
                    };
                    let hi = if b.is_empty() {
                        None
                    } else {
                        Some(parse_one_int(b, syntax)?)
                    };
                    if let (Some(l), Some(h)) = (lo, hi) {
                        if l > h {
                            return Err(format!("'{w}' is not a valid number range"));
                        }
                    }
                    IntRange { min: lo, max: hi }
                }
                None => {
                    let v = parse_one_int(w, syntax)?;
                    IntRange {
                        min: Some(v),
                        max: Some(v),
                    }
                }
            }
        } else {
            let v = parse_one_int(w, syntax)
                .map_err(|_| format!("'{w}' is neither a number nor a supported operator"))?;
            match op {
                IntOp::Ge => IntRange {
                    min: Some(v),
                    max: None,
                },
                IntOp::Gt => match v.checked_add(1) {
                    Some(m) => IntRange {
                        min: Some(m),
                        max: None,
                    },
                    None => IntRange::EMPTY,
                },
                IntOp::Le => IntRange {
                    min: None,
                    max: Some(v),
                },
                IntOp::Lt => match v.checked_sub(1) {
                    Some(m) => IntRange {
                        min: None,
                        max: Some(m),
                    },
                    None => IntRange::EMPTY,
                },
                IntOp::Eq => IntRange {
                    min: Some(v),
                    max: Some(v),
                },
            }
        };
        self.ints.push(range);
        self.count += 1;
        Ok(())
    }

    /// Adds one pattern word for a non-integer method.
    pub fn add(&mut self, w: &str) -> Result<(), String> {
        match self.method {
            Method::Found | Method::Bool => {} // patterns are ignored
            Method::Int | Method::Len => return self.add_int(w, IntOp::Eq, IntSyntax::Number),
            Method::Ip => {
                let (key, len) = parse_cidr(w)
                    .ok_or_else(|| format!("'{w}' is not a valid IPv4 or IPv6 address"))?;
                self.ips.insert(key, len);
            }
            Method::Bin => {
                if let Some(c) = w.chars().find(|c| !c.is_ascii_hexdigit()) {
                    return Err(format!("an hex digit is expected (found '{c}')"));
                }
                if w.len() % 2 != 0 {
                    return Err("an even number of hex digit is expected".to_string());
                }
                let bytes = crate::tls_hello::decode_hex(w).unwrap_or_default();
                self.exact.insert(bytes);
            }
            Method::Str => {
                let k = self.fold(w.as_bytes());
                self.exact.insert(k);
            }
            Method::Reg => {
                let re = RegexBuilder::new(w)
                    .case_insensitive(self.ignore_case)
                    .build()
                    .map_err(|e| {
                        format!(
                            "regex '{w}' is invalid (error={})",
                            first_line(&e.to_string())
                        )
                    })?;
                self.regexes.push(re);
            }
            Method::Sub | Method::Beg | Method::End | Method::Dir | Method::Dom => {
                let k = self.fold(w.as_bytes());
                self.strings.push(k);
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Whether the sample matches any pattern.
    pub fn matches(&self, smp: &Sample) -> bool {
        match self.method {
            Method::Found => true,
            Method::Bool => match smp {
                Sample::Bool(b) => *b,
                Sample::Sint(i) => *i != 0,
                _ => false,
            },
            Method::Int => match smp.as_int() {
                Some(v) => self.ints.iter().any(|r| r.contains(v)),
                None => false,
            },
            Method::Len => {
                let n = smp.as_text().len() as i64;
                self.ints.iter().any(|r| r.contains(n))
            }
            Method::Ip => match smp.as_ip() {
                Some(ip) => self.ips.contains(ip_key(ip)),
                None => false,
            },
            Method::Bin => self.exact.contains(smp.as_bytes().as_ref()),
            Method::Str => self.exact.contains(&self.fold(&smp.as_text())),
            Method::Reg => {
                let b = smp.as_text();
                self.regexes.iter().any(|re| re.is_match(&b))
            }
            Method::Sub | Method::Beg | Method::End | Method::Dir | Method::Dom => {
                let s = self.fold(&smp.as_text());
                self.strings.iter().any(|p| match_text(self.method, &s, p))
            }
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// Substring-style matching of one pattern against a (case-folded) text.
pub fn match_text(method: Method, s: &[u8], p: &[u8]) -> bool {
    match method {
        Method::Sub => find(s, p, |_, _| true),
        Method::Beg => s.starts_with(p),
        Method::End => s.ends_with(p),
        Method::Dir => word_match(s, p, b"/?"),
        Method::Dom => word_match(s, p, b"/?.:"),
        Method::Str => s == p,
        _ => false,
    }
}

fn find(s: &[u8], p: &[u8], ok: impl Fn(usize, usize) -> bool) -> bool {
    if p.len() > s.len() {
        return false;
    }
    (0..=s.len() - p.len()).any(|i| &s[i..i + p.len()] == p && ok(i, i + p.len()))
}

/// HAProxy's "word" match: the pattern (with its own leading/trailing
/// delimiters ignored) must appear in the text bounded by delimiters or
/// the text's ends.
fn word_match(s: &[u8], p: &[u8], delims: &[u8]) -> bool {
    let is_d = |c: u8| delims.contains(&c);
    let start = p.iter().position(|c| !is_d(*c));
    let end = p.iter().rposition(|c| !is_d(*c));
    let p = match (start, end) {
        (Some(a), Some(b)) => &p[a..=b],
        _ => return false,
    };
    find(s, p, |i, j| {
        (i == 0 || is_d(s[i - 1])) && (j == s.len() || is_d(s[j]))
    })
}

/// A key -> value table for the `map*` converters.
#[derive(Debug, Clone, Default)]
pub struct MapTable {
    exact: HashMap<Vec<u8>, String>,
    ordered: Vec<(Vec<u8>, String)>,
    ips: Vec<(u8, HashMap<u128, String>)>,
}

impl MapTable {
    /// Builds from numbered "key value" lines (comments already dropped);
    /// an error names the line number.
    pub fn load(method: Method, lines: &[(usize, String)]) -> Result<MapTable, (usize, String)> {
        let mut t = MapTable::default();
        for (num, line) in lines {
            let line = line.trim();
            let (k, v) = match line.split_once(|c: char| c.is_ascii_whitespace()) {
                Some((k, v)) => (k, v.trim_start()),
                None => (line, ""),
            };
            match method {
                Method::Ip => {
                    let (key, len) = parse_cidr(k).ok_or_else(|| {
                        (*num, format!("'{k}' is not a valid IPv4 or IPv6 address"))
                    })?;
                    let slot = match t.ips.iter().position(|(l, _)| *l == len) {
                        Some(i) => i,
                        None => {
                            t.ips.push((len, HashMap::new()));
                            t.ips.len() - 1
                        }
                    };
                    t.ips[slot]
                        .1
                        .entry(key & mask(len))
                        .or_insert_with(|| v.to_string());
                }
                Method::Str => {
                    t.exact
                        .entry(k.as_bytes().to_vec())
                        .or_insert_with(|| v.to_string());
                }
                _ => t.ordered.push((k.as_bytes().to_vec(), v.to_string())),
            }
        }
        t.ips.sort_by_key(|e| std::cmp::Reverse(e.0));
        Ok(t)
    }

    pub fn lookup(&self, method: Method, smp: &Sample) -> Option<&str> {
        match method {
            Method::Ip => {
                let key = ip_key(smp.as_ip()?);
                self.ips
                    .iter()
                    .find_map(|(len, m)| m.get(&(key & mask(*len))))
                    .map(String::as_str)
            }
            Method::Str => self.exact.get(smp.as_text().as_ref()).map(String::as_str),
            _ => {
                let s = smp.as_text();
                self.ordered
                    .iter()
                    .find(|(k, _)| match_text(method, &s, k))
                    .map(|(_, v)| v.as_str())
            }
        }
    }
}
