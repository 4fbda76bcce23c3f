//! Samples, the fetches valid in tcp mode, converters, and the parser for
//! a sample expression `fetch(args),conv(args),...`.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use super::pattern::{MapTable, Method};
use super::PatternLoader;
use crate::tls_hello::{self, HelloError};

/// HAProxy's default `tune.bufsize`: payload windows beyond it never match.
pub const BUFSIZE: usize = 16384;

/// A typed sample value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sample {
    Bool(bool),
    Sint(i64),
    Ip(IpAddr),
    Str(String),
    Bin(Vec<u8>),
}

impl Sample {
    /// The bytes a string-like matcher sees (casts as HAProxy does).
    pub fn as_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Sample::Str(s) => Cow::Borrowed(s.as_bytes()),
            Sample::Bin(b) => Cow::Borrowed(b),
            Sample::Bool(b) => Cow::Borrowed(if *b { b"1" } else { b"0" }),
            Sample::Sint(i) => Cow::Owned(i.to_string().into_bytes()),
            Sample::Ip(ip) => Cow::Owned(ip.to_string().into_bytes()),
        }
    }
    /// The text a string matcher sees: like [`as_bytes`](Sample::as_bytes),
    /// but binary data ends at its first NUL, as HAProxy's bin-to-string
    /// cast does (checked: `req.payload(0,2) -m len 1` matches `03 00`).
    pub fn as_text(&self) -> Cow<'_, [u8]> {
        match self {
            Sample::Bin(b) => Cow::Borrowed(b.split(|c| *c == 0).next().unwrap_or_default()),
            other => other.as_bytes(),
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Sample::Sint(i) => Some(*i),
            Sample::Bool(b) => Some(i64::from(*b)),
            Sample::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    pub fn as_ip(&self) -> Option<IpAddr> {
        match self {
            Sample::Ip(ip) => Some(*ip),
            Sample::Str(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// The output type of a fetch or converter, which picks the default
/// match method after converters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    Addr,
    Str,
    Bin,
}

/// What the fetches may read. Everything is by value or borrowed from the
/// caller, so evaluation stays pure.
pub trait FetchCtx {
    /// The client address.
    fn src(&self) -> Option<SocketAddr>;
    /// The local (destination) address the client connected to.
    fn dst(&self) -> Option<SocketAddr>;
    /// The `name` of the bind line that accepted the connection.
    fn so_name(&self) -> Option<&str> {
        None
    }
    /// The request bytes received so far.
    fn req(&self) -> &[u8];
    /// Whether no more request bytes will be considered (inspect-delay
    /// expired, client shut its side, or the buffer is full). When true a
    /// "may change" answer becomes final.
    fn req_final(&self) -> bool;
    /// Usable servers of a backend (None: the current one).
    fn nbsrv(&self, _backend: Option<&str>) -> Option<i64> {
        None
    }
    /// Current sessions of a backend.
    fn be_conn(&self, _backend: Option<&str>) -> Option<i64> {
        None
    }
    /// Free connection and queue slots of a backend.
    fn connslots(&self, _backend: Option<&str>) -> Option<i64> {
        None
    }
    /// Current sessions of a frontend (None: the current one).
    fn fe_conn(&self, _frontend: Option<&str>) -> Option<i64> {
        None
    }
    /// Whether a server is up.
    fn srv_is_up(&self, _backend: &str, _server: &str) -> Option<bool> {
        None
    }
}

/// Where `req.payload_lv` reads the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LvOffset {
    /// Right after the length field.
    AfterLength,
    /// Absolute offset in the buffer.
    Absolute(usize),
    /// Relative to the end of the length field ("+N" / "-N").
    Relative(i64),
}

/// A sample fetch with its parsed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    Src,
    SrcPort,
    Dst,
    DstPort,
    SoName,
    ReqLen,
    Payload {
        off: usize,
        len: usize,
    },
    PayloadLv {
        off: usize,
        len: usize,
        data: LvOffset,
    },
    SslSni,
    SslVer,
    SslHelloType,
    SslEcExt,
    RdpCookie(Option<String>),
    RdpCookieCnt(Option<String>),
    Nbsrv(Option<String>),
    BeConn(Option<String>),
    Connslots(Option<String>),
    FeConn(Option<String>),
    SrvIsUp {
        backend: String,
        server: String,
    },
    AlwaysTrue,
    AlwaysFalse,
    WaitEnd,
}

/// Argument types, named as HAProxy names them in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArgT {
    Int,
    Str,
    Backend,
    Frontend,
    Server,
}

impl ArgT {
    fn name(self) -> &'static str {
        match self {
            ArgT::Int => "integer",
            ArgT::Str => "string",
            ArgT::Backend => "backend",
            ArgT::Frontend => "frontend",
            ArgT::Server => "server",
        }
    }
}

/// One fetch keyword: canonical name, aliases, argument list (mandatory
/// count first), output kind and default match method (None: `-m` is
/// required, as for the binary payload fetches).
struct FetchKw {
    names: &'static [&'static str],
    args: &'static [ArgT],
    mandatory: usize,
    kind: Kind,
    default: Option<Method>,
}

const FETCHES: &[FetchKw] = &[
    // HAProxy's old ACL keywords for the payload fetches match `bin` by
    // default, the fetches themselves need `-m`.
    FetchKw {
        names: &["payload"],
        args: &[ArgT::Int, ArgT::Int],
        mandatory: 2,
        kind: Kind::Bin,
        default: Some(Method::Bin),
    },
    FetchKw {
        names: &["payload_lv"],
        args: &[ArgT::Int, ArgT::Int, ArgT::Str],
        mandatory: 2,
        kind: Kind::Bin,
        default: Some(Method::Bin),
    },
    FetchKw {
        names: &["src"],
        args: &[],
        mandatory: 0,
        kind: Kind::Addr,
        default: Some(Method::Ip),
    },
    FetchKw {
        names: &["src_port"],
        args: &[],
        mandatory: 0,
        kind: Kind::Int,
        default: Some(Method::Int),
    },
    FetchKw {
        names: &["dst"],
        args: &[],
        mandatory: 0,
        kind: Kind::Addr,
        default: Some(Method::Ip),
    },
    FetchKw {
        names: &["dst_port"],
        args: &[],
        mandatory: 0,
        kind: Kind::Int,
        default: Some(Method::Int),
    },
    FetchKw {
        names: &["so_name"],
        args: &[],
        mandatory: 0,
        kind: Kind::Str,
        default: Some(Method::Str),
    },
    FetchKw {
        names: &["req.len", "req_len"],
        args: &[],
        mandatory: 0,
        kind: Kind::Int,
        default: Some(Method::Int),
    },
    FetchKw {
        names: &["req.payload"],
        args: &[ArgT::Int, ArgT::Int],
        mandatory: 2,
        kind: Kind::Bin,
        default: None,
    },
    FetchKw {
        names: &["req.payload_lv"],
        args: &[ArgT::Int, ArgT::Int, ArgT::Str],
        mandatory: 2,
        kind: Kind::Bin,
        default: None,
    },
    FetchKw {
        names: &["req.ssl_sni", "req_ssl_sni"],
        args: &[],
        mandatory: 0,
        kind: Kind::Str,
        default: Some(Method::Str),
    },
    FetchKw {
        names: &["req.ssl_ver", "req_ssl_ver"],
        args: &[],
        mandatory: 0,
        kind: Kind::Int,
        default: Some(Method::Int),
    },
    FetchKw {
        names: &["req.ssl_hello_type", "req_ssl_hello_type"],
        args: &[],
        mandatory: 0,
        kind: Kind::Int,
        default: Some(Method::Int),
    },
    FetchKw {
        names: &["req.ssl_ec_ext"],
        args: &[],
        mandatory: 0,
        kind: Kind::Bool,
        default: Some(Method::Bool),
    },
    FetchKw {
        names: &["req.rdp_cookie", "req_rdp_cookie", "rdp_cookie"],
        args: &[ArgT::Str],
        mandatory: 0,
        kind: Kind::Str,
        default: Some(Method::Str),
    },
    FetchKw {
        names: &["req.rdp_cookie_cnt", "req_rdp_cookie_cnt", "rdp_cookie_cnt"],
        args: &[ArgT::Str],
        mandatory: 0,
        kind: Kind::Int,
        default: Some(Method::Int),
    },
    FetchKw {
        names: &["nbsrv"],
        args: &[ArgT::Backend],
        mandatory: 0,
        kind: Kind::Int,
        default: Some(Method::Int),
    },
    FetchKw {
        names: &["be_conn"],
        args: &[ArgT::Backend],
        mandatory: 0,
        kind: Kind::Int,
        default: Some(Method::Int),
    },
    FetchKw {
        names: &["connslots"],
        args: &[ArgT::Backend],
        mandatory: 0,
        kind: Kind::Int,
        default: Some(Method::Int),
    },
    FetchKw {
        names: &["fe_conn"],
        args: &[ArgT::Frontend],
        mandatory: 0,
        kind: Kind::Int,
        default: Some(Method::Int),
    },
    FetchKw {
        names: &["srv_is_up"],
        args: &[ArgT::Server],
        mandatory: 1,
        kind: Kind::Bool,
        default: Some(Method::Bool),
    },
    FetchKw {
        names: &["always_true"],
        args: &[],
        mandatory: 0,
        kind: Kind::Bool,
        default: Some(Method::Bool),
    },
    FetchKw {
        names: &["always_false"],
        args: &[],
        mandatory: 0,
        kind: Kind::Bool,
        default: Some(Method::Bool),
    },
    FetchKw {
        names: &["wait_end"],
        args: &[],
        mandatory: 0,
        kind: Kind::Bool,
        default: Some(Method::Bool),
    },
];

/// A converter applied to a sample.
#[derive(Debug, Clone)]
pub enum Converter {
    Lower,
    Upper,
    Map {
        method: Method,
        table: Box<MapTable>,
        default: Option<String>,
    },
}

/// A compiled sample expression.
#[derive(Debug, Clone)]
pub struct SampleExpr {
    /// The fetch keyword as written (for messages).
    pub keyword: String,
    pub fetch: Fetch,
    pub converters: Vec<Converter>,
    /// Output kind after the converters.
    pub kind: Kind,
    /// Default match method of the bare fetch (None: `-m` required).
    pub fetch_default: Option<Method>,
}

/// A fetch result: the sample if any, and whether a later evaluation on
/// more data could answer differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub sample: Option<Sample>,
    pub may_change: bool,
}

impl Fetched {
    fn some(s: Sample) -> Fetched {
        Fetched {
            sample: Some(s),
            may_change: false,
        }
    }
    fn none() -> Fetched {
        Fetched {
            sample: None,
            may_change: false,
        }
    }
    fn wait() -> Fetched {
        Fetched {
            sample: None,
            may_change: true,
        }
    }
}

/// Splits `name(a,b)`; `rest` is what follows the `)`. Err: no `)`.
fn split_call(s: &str) -> Result<(&str, Option<Vec<&str>>, &str), &str> {
    let name_end = s.find(['(', ',']).unwrap_or(s.len());
    let name = &s[..name_end];
    let after = &s[name_end..];
    match after.strip_prefix('(') {
        Some(inner) => match inner.find(')') {
            Some(close) => {
                let raw = &inner[..close];
                let args = if raw.is_empty() {
                    Vec::new()
                } else {
                    raw.split(',').collect()
                };
                Ok((name, Some(args), &inner[close + 1..]))
            }
            None => Err(name),
        },
        None => Ok((name, None, after)),
    }
}

/// HAProxy's "expected ')' before 'X)'" for surplus arguments: X starts at
/// the first argument beyond `max`.
fn surplus(args: &[&str], max: usize) -> String {
    let tail = if max == 0 {
        args.join(",")
    } else {
        format!(",{}", args[max..].join(","))
    };
    format!("expected ')' before '{tail})'")
}

/// The names that are HAProxy "ACL keywords" (old-style aliases) rather
/// than sample fetches; their errors are worded differently.
const ACL_KEYWORDS: &[&str] = &[
    "payload",
    "payload_lv",
    "req_rdp_cookie",
    "req_rdp_cookie_cnt",
    "req_ssl_sni",
    "req_ssl_ver",
];

/// Why a sample expression did not parse. `keyword` is the fetch name as
/// written; `acl_keyword` tells which of HAProxy's two wordings applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub kind: ExprErrorKind,
    pub keyword: String,
    pub acl_keyword: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprErrorKind {
    MissingFetch,
    UnknownFetch,
    /// Argument syntax/type ("missing arguments (got 1/2), ...").
    Args(String),
    /// Argument validation ("payload length must be > 0").
    Validate(String),
    /// Converter trouble ("unknown converter 'foo'").
    Converter(String),
}

impl ExprError {
    /// The HAProxy 2.6 message for an expression written as `word`.
    pub fn message(&self, word: &str) -> String {
        let kw = &self.keyword;
        match (&self.kind, self.acl_keyword) {
            (ExprErrorKind::MissingFetch, _) => {
                format!("missing fetch method in ACL expression '{word}'")
            }
            (ExprErrorKind::UnknownFetch, _) => {
                format!("unknown fetch method '{kw}' in ACL expression '{word}'")
            }
            (ExprErrorKind::Args(m), false) => {
                format!("fetch method '{kw}' : {m} in ACL expression '{word}'")
            }
            (ExprErrorKind::Validate(m), false) => {
                format!("invalid args in fetch method '{kw}' : {m} in ACL expression '{word}'")
            }
            (ExprErrorKind::Converter(m), false) => format!("{m} in ACL expression '{word}'"),
            // (HAProxy ends converter messages with a dot of their own here.)
            (ExprErrorKind::Args(m), true) => format!("ACL keyword '{kw}' : {m}"),
            (ExprErrorKind::Converter(m), true) => format!("ACL keyword '{kw}' : {m}."),
            (ExprErrorKind::Validate(m), true) => format!("in argument to '{kw}', {m}"),
        }
    }
}

fn int_arg(a: &str, pos: usize) -> Result<i64, ExprErrorKind> {
    a.parse::<i64>().map_err(|_| {
        ExprErrorKind::Args(format!(
            "failed to parse '{a}' as type 'integer' at position {pos}"
        ))
    })
}

/// An unsigned offset; negative values (which HAProxy takes) can never
/// fall inside the buffer.
fn offset(v: i64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Parses a sample expression (one config word, e.g. `req.payload(0,3)`
/// or `req_ssl_sni,lower`).
pub fn parse_expr(word: &str, loader: &mut PatternLoader<'_>) -> Result<SampleExpr, ExprError> {
    let fail = |kind, keyword: &str| ExprError {
        kind,
        keyword: keyword.to_string(),
        acl_keyword: ACL_KEYWORDS.contains(&keyword),
    };
    let (name, args, mut rest) = split_call(word)
        .map_err(|name| fail(ExprErrorKind::Args("expected ')'".to_string()), name))?;
    if name.is_empty() {
        return Err(fail(ExprErrorKind::MissingFetch, name));
    }
    let kw = FETCHES
        .iter()
        .find(|k| k.names.contains(&name))
        .ok_or_else(|| fail(ExprErrorKind::UnknownFetch, name))?;
    let fetch = fetch_from_args(kw, &args.unwrap_or_default()).map_err(|k| fail(k, name))?;
    let mut kind = kw.kind;
    let mut converters = Vec::new();
    while let Some(r) = rest.strip_prefix(',') {
        let conv_fail = |m: String| fail(ExprErrorKind::Converter(m), name);
        let (cname, cargs, r2) = split_call(r)
            .map_err(|c| conv_fail(format!("invalid args in converter '{c}' : expected ')'")))?;
        rest = r2;
        let cargs = cargs.unwrap_or_default();
        let conv = match cname {
            "lower" | "upper" => {
                if !cargs.is_empty() {
                    return Err(conv_fail(format!(
                        "invalid arg 1 in converter '{cname}' : {}",
                        surplus(&cargs, 0)
                    )));
                }
                if cname == "lower" {
                    Converter::Lower
                } else {
                    Converter::Upper
                }
            }
            "map" | "map_str" | "map_beg" | "map_sub" | "map_end" | "map_dom" | "map_ip" => {
                let method = match cname {
                    "map_beg" => Method::Beg,
                    "map_sub" => Method::Sub,
                    "map_end" => Method::End,
                    "map_dom" => Method::Dom,
                    "map_ip" => Method::Ip,
                    _ => Method::Str,
                };
                if cargs.len() > 2 {
                    return Err(conv_fail(format!(
                        "invalid arg 3 in converter '{cname}' : {}",
                        surplus(&cargs, 2)
                    )));
                }
                let file = cargs.first().copied().unwrap_or("");
                let invalid =
                    |m: String| conv_fail(format!("invalid args in converter '{cname}' : {m}"));
                let text = loader(file)
                    .map_err(|_| invalid(format!("failed to open pattern file <{file}>")))?;
                let lines = super::pattern_lines(&text);
                let table = MapTable::load(method, &lines)
                    .map_err(|(line, m)| invalid(format!("{m} at line {line} of file '{file}'")))?;
                Converter::Map {
                    method,
                    table: Box::new(table),
                    default: cargs.get(1).map(|s| s.to_string()),
                }
            }
            _ => return Err(conv_fail(format!("unknown converter '{cname}'"))),
        };
        kind = Kind::Str;
        converters.push(conv);
    }
    if !rest.is_empty() {
        return Err(fail(
            ExprErrorKind::Args(format!("expected ')' before '{rest}'")),
            name,
        ));
    }
    Ok(SampleExpr {
        keyword: name.to_string(),
        fetch,
        converters,
        kind,
        fetch_default: kw.default,
    })
}

/// Checks the argument list against the keyword and builds the fetch.
fn fetch_from_args(kw: &FetchKw, args: &[&str]) -> Result<Fetch, ExprErrorKind> {
    if args.len() > kw.args.len() {
        return Err(ExprErrorKind::Args(surplus(args, kw.args.len())));
    }
    if args.len() < kw.mandatory {
        return Err(ExprErrorKind::Args(format!(
            "missing arguments (got {}/{}), type '{}' expected",
            args.len(),
            kw.mandatory,
            kw.args[args.len()].name()
        )));
    }
    let opt = |i: usize| args.get(i).map(|s| s.to_string());
    Ok(match kw.names[0] {
        "src" => Fetch::Src,
        "src_port" => Fetch::SrcPort,
        "dst" => Fetch::Dst,
        "dst_port" => Fetch::DstPort,
        "so_name" => Fetch::SoName,
        "req.len" => Fetch::ReqLen,
        "req.payload" | "payload" => Fetch::Payload {
            off: offset(int_arg(args[0], 1)?),
            len: offset(int_arg(args[1], 2)?),
        },
        "req.payload_lv" | "payload_lv" => {
            let off = int_arg(args[0], 1)?;
            let len = int_arg(args[1], 2)?;
            if len == 0 {
                return Err(ExprErrorKind::Validate(
                    "payload length must be > 0".to_string(),
                ));
            }
            let data = match args.get(2) {
                None => LvOffset::AfterLength,
                Some(a) if a.starts_with(['+', '-']) => {
                    let r = int_arg(a.trim_start_matches('+'), 3)?;
                    if off.saturating_add(len).saturating_add(r) < 0 {
                        return Err(ExprErrorKind::Validate(
                            "payload offset2 too negative".to_string(),
                        ));
                    }
                    LvOffset::Relative(r)
                }
                Some(a) => LvOffset::Absolute(offset(int_arg(a, 3)?)),
            };
            Fetch::PayloadLv {
                off: offset(off),
                len: offset(len),
                data,
            }
        }
        "req.ssl_sni" => Fetch::SslSni,
        "req.ssl_ver" => Fetch::SslVer,
        "req.ssl_hello_type" => Fetch::SslHelloType,
        "req.ssl_ec_ext" => Fetch::SslEcExt,
        "req.rdp_cookie" => Fetch::RdpCookie(opt(0)),
        "req.rdp_cookie_cnt" => Fetch::RdpCookieCnt(opt(0)),
        "nbsrv" => Fetch::Nbsrv(opt(0)),
        "be_conn" => Fetch::BeConn(opt(0)),
        "connslots" => Fetch::Connslots(opt(0)),
        "fe_conn" => Fetch::FeConn(opt(0)),
        "srv_is_up" => match args[0].split_once('/') {
            Some((b, s)) => Fetch::SrvIsUp {
                backend: b.to_string(),
                server: s.to_string(),
            },
            // Without a backend HAProxy looks in the current proxy; the
            // empty name is left for the caller to resolve.
            None => Fetch::SrvIsUp {
                backend: String::new(),
                server: args[0].to_string(),
            },
        },
        "always_true" => Fetch::AlwaysTrue,
        "always_false" => Fetch::AlwaysFalse,
        _ => Fetch::WaitEnd,
    })
}

fn port(a: Option<SocketAddr>) -> Fetched {
    a.map_or_else(Fetched::none, |a| {
        Fetched::some(Sample::Sint(i64::from(a.port())))
    })
}

fn addr(a: Option<SocketAddr>) -> Fetched {
    a.map_or_else(Fetched::none, |a| Fetched::some(Sample::Ip(a.ip())))
}

fn count(v: Option<i64>) -> Fetched {
    v.map_or_else(Fetched::none, |v| Fetched::some(Sample::Sint(v)))
}

fn hello<T>(r: Result<T, HelloError>, f: impl FnOnce(T) -> Option<Sample>) -> Fetched {
    match r {
        Ok(v) => f(v).map_or_else(Fetched::none, Fetched::some),
        Err(HelloError::NeedMore) => Fetched::wait(),
        Err(HelloError::Invalid(_)) => Fetched::none(),
    }
}

/// Finds the RDP cookie (`Cookie: name=value\r\n` after the TPKT and
/// X.224 headers). Ok(None): no such cookie; Err: need more data.
fn rdp_cookie<'a>(buf: &'a [u8], name: Option<&str>) -> Result<Option<&'a [u8]>, ()> {
    if buf.len() <= 11 {
        return Err(());
    }
    let data = &buf[11..];
    const PFX: &[u8] = b"Cookie:";
    if data.len() < PFX.len() {
        return if PFX.starts_with(data) {
            Err(())
        } else {
            Ok(None)
        };
    }
    if !data[..PFX.len()].eq_ignore_ascii_case(PFX) {
        return Ok(None);
    }
    let mut rest = &data[PFX.len()..];
    while let Some((b' ', r)) = rest.split_first() {
        rest = r;
    }
    let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
        return Err(());
    };
    let line = &rest[..eol];
    let Some(eq) = line.iter().position(|&c| c == b'=') else {
        return Ok(None);
    };
    if let Some(n) = name {
        if !line[..eq].eq_ignore_ascii_case(n.as_bytes()) {
            return Ok(None);
        }
    }
    Ok(Some(&line[eq + 1..]))
}

impl Fetch {
    /// Runs the fetch against the context.
    pub fn run(&self, ctx: &dyn FetchCtx) -> Fetched {
        let buf = ctx.req();
        match self {
            Fetch::Src => addr(ctx.src()),
            Fetch::Dst => addr(ctx.dst()),
            Fetch::SrcPort => port(ctx.src()),
            Fetch::DstPort => port(ctx.dst()),
            Fetch::SoName => ctx
                .so_name()
                .map_or_else(Fetched::none, |n| Fetched::some(Sample::Str(n.to_string()))),
            Fetch::ReqLen => Fetched {
                sample: Some(Sample::Sint(buf.len() as i64)),
                may_change: true,
            },
            Fetch::Payload { off, len } => {
                // A window that cannot fit in a buffer never matches.
                if off.saturating_add(*len) > BUFSIZE {
                    return Fetched::none();
                }
                if *len == 0 {
                    // The rest of the buffer; more may come.
                    return match buf.get(*off..) {
                        Some(b) => Fetched {
                            sample: Some(Sample::Bin(b.to_vec())),
                            may_change: true,
                        },
                        None => Fetched::wait(),
                    };
                }
                match buf.get(*off..off + len) {
                    Some(b) => Fetched::some(Sample::Bin(b.to_vec())),
                    None => Fetched::wait(),
                }
            }
            Fetch::PayloadLv { off, len, data } => {
                let Some(field) = buf.get(*off..off.saturating_add(*len)) else {
                    return Fetched::wait();
                };
                let dlen = field
                    .iter()
                    .try_fold(0usize, |acc, b| {
                        acc.checked_mul(256).map(|v| v | usize::from(*b))
                    })
                    .unwrap_or(usize::MAX);
                let field_end = off + len;
                let start = match data {
                    LvOffset::AfterLength => Some(field_end),
                    LvOffset::Absolute(a) => Some(*a),
                    LvOffset::Relative(r) => i64::try_from(field_end)
                        .ok()
                        .and_then(|f| f.checked_add(*r))
                        .and_then(|v| usize::try_from(v).ok()),
                };
                let Some(start) = start else {
                    return Fetched::none();
                };
                if dlen == 0 || start.saturating_add(dlen) > BUFSIZE {
                    return Fetched::none(); // will never match
                }
                match buf.get(start..start + dlen) {
                    Some(b) => Fetched::some(Sample::Bin(b.to_vec())),
                    None => Fetched::wait(),
                }
            }
            Fetch::SslSni => hello(tls_hello::parse_client_hello(buf), |h| {
                // HAProxy wants TLS 1.0 or later in both version fields.
                let tls1 = |v: (u8, u8)| v.0 >= 3 && v.1 >= 1;
                if tls1(h.record.version) && tls1(h.version) {
                    h.sni.map(Sample::Str)
                } else {
                    None
                }
            }),
            Fetch::SslEcExt => hello(tls_hello::parse_client_hello(buf), |h| {
                Some(Sample::Bool(h.has_ec_ext))
            }),
            Fetch::SslHelloType => hello(tls_hello::hello_type(buf), |t| {
                Some(Sample::Sint(i64::from(t)))
            }),
            Fetch::SslVer => {
                // Once the whole first record is in: the ClientHello's
                // version for a hello (checked against haproxy 2.6, which
                // answers 3.3 for a 3.1 record carrying a 3.3 hello), else
                // the record's.
                hello(tls_hello::record_version(buf, BUFSIZE), |rec| {
                    let v = match (buf.first(), buf.get(5), buf.get(9..11)) {
                        (Some(0x16), Some(1), Some(v)) => (v[0], v[1]),
                        _ => rec,
                    };
                    Some(Sample::Sint(i64::from(v.0) * 65536 + i64::from(v.1)))
                })
            }
            Fetch::RdpCookie(name) => match rdp_cookie(buf, name.as_deref()) {
                Ok(Some(v)) => Fetched::some(Sample::Str(String::from_utf8_lossy(v).into_owned())),
                Ok(None) => Fetched::none(),
                Err(()) => Fetched::wait(),
            },
            Fetch::RdpCookieCnt(name) => match rdp_cookie(buf, name.as_deref()) {
                Ok(v) => Fetched::some(Sample::Sint(i64::from(v.is_some()))),
                Err(()) => Fetched::wait(),
            },
            Fetch::Nbsrv(b) => count(ctx.nbsrv(b.as_deref())),
            Fetch::BeConn(b) => count(ctx.be_conn(b.as_deref())),
            Fetch::Connslots(b) => count(ctx.connslots(b.as_deref())),
            Fetch::FeConn(f) => count(ctx.fe_conn(f.as_deref())),
            Fetch::SrvIsUp { backend, server } => ctx
                .srv_is_up(backend, server)
                .map_or_else(Fetched::none, |u| Fetched::some(Sample::Bool(u))),
            Fetch::AlwaysTrue => Fetched::some(Sample::Bool(true)),
            Fetch::AlwaysFalse => Fetched::some(Sample::Bool(false)),
            Fetch::WaitEnd => {
                if ctx.req_final() {
                    Fetched::some(Sample::Bool(true))
                } else {
                    Fetched::wait()
                }
            }
        }
    }
}

impl Converter {
    pub fn apply(&self, s: Sample) -> Option<Sample> {
        match self {
            Converter::Lower => Some(Sample::Str(
                String::from_utf8_lossy(&s.as_text()).to_ascii_lowercase(),
            )),
            Converter::Upper => Some(Sample::Str(
                String::from_utf8_lossy(&s.as_text()).to_ascii_uppercase(),
            )),
            Converter::Map {
                method,
                table,
                default,
            } => match table.lookup(*method, &s) {
                Some(v) => Some(Sample::Str(v.to_string())),
                None => default.clone().map(Sample::Str),
            },
        }
    }
}

impl SampleExpr {
    /// Fetches and converts.
    pub fn eval(&self, ctx: &dyn FetchCtx) -> Fetched {
        let mut f = self.fetch.run(ctx);
        for c in &self.converters {
            f.sample = f.sample.and_then(|s| c.apply(s));
        }
        f
    }
}
