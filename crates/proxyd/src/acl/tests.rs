//! Table tests for the ACL engine. Error texts marked "haproxy 2.6" were
//! checked against `haproxy -c` (2.6.12) on a tcp frontend.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::*;
use crate::tls_hello::{build_client_hello, decode_hex};

#[derive(Default)]
struct Ctx {
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    so_name: Option<String>,
    req: Vec<u8>,
    fin: bool,
    counts: HashMap<(&'static str, Option<&'static str>), i64>,
    up: HashMap<(&'static str, &'static str), bool>,
}

impl Ctx {
    fn from(src: &str) -> Ctx {
        Ctx {
            src: src.parse().ok(),
            dst: "127.0.0.1:443".parse().ok(),
            ..Ctx::default()
        }
    }
    fn with_req(mut self, req: &[u8], fin: bool) -> Ctx {
        self.req = req.to_vec();
        self.fin = fin;
        self
    }
    fn count(&self, what: &'static str, name: Option<&str>) -> Option<i64> {
        self.counts
            .iter()
            .find(|((w, n), _)| *w == what && n.as_deref() == name)
            .map(|(_, v)| *v)
    }
}

impl FetchCtx for Ctx {
    fn src(&self) -> Option<SocketAddr> {
        self.src
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.dst
    }
    fn so_name(&self) -> Option<&str> {
        self.so_name.as_deref()
    }
    fn req(&self) -> &[u8] {
        &self.req
    }
    fn req_final(&self) -> bool {
        self.fin
    }
    fn nbsrv(&self, b: Option<&str>) -> Option<i64> {
        self.count("nbsrv", b)
    }
    fn be_conn(&self, b: Option<&str>) -> Option<i64> {
        self.count("be_conn", b)
    }
    fn connslots(&self, b: Option<&str>) -> Option<i64> {
        self.count("connslots", b)
    }
    fn fe_conn(&self, f: Option<&str>) -> Option<i64> {
        self.count("fe_conn", f)
    }
    fn srv_is_up(&self, b: &str, s: &str) -> Option<bool> {
        self.up.get(&(b, s)).copied()
    }
}

fn files(name: &str) -> std::io::Result<String> {
    match name {
        "/nets.lst" => {
            Ok("# private nets\n10.0.0.0/8\n\n  192.168.1.0/24  \n2001:db8::/32\n".into())
        }
        "/hosts.lst" => Ok("a.example\n# comment\nB.example\n".into()),
        "/bad.lst" => Ok("10.0.0.1\nnot-an-ip\n".into()),
        "/sni.map" => Ok("a.example be_a\nb.example   be_b\n# c.example be_c\n".into()),
        "/beg.map" => Ok("www. be_www\napi be_api\n".into()),
        "/dom.map" => Ok("example.com be_ex\nfoo.org be_foo\n".into()),
        "/ip.map" => Ok("10.0.0.0/8 ten\n10.1.0.0/16 ten_one\n::1 six\n".into()),
        _ => Err(std::io::ErrorKind::NotFound.into()),
    }
}

fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// Compiles `FETCH flags patterns` as an anonymous ACL.
fn expr(s: &str) -> AclExpr {
    parse_expr_words(&words(s), &mut files).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn eval(s: &str, ctx: &Ctx) -> Match {
    expr(s).eval(ctx)
}

use Match::{NeedMore, No, Yes};

#[test]
fn ip_matcher() {
    let cases: &[(&str, &str, Match)] = &[
        ("src 10.0.0.1", "10.0.0.1:5", Yes),
        ("src 10.0.0.1", "10.0.0.2:5", No),
        ("src 10.0.0.0/8", "10.255.1.2:5", Yes),
        ("src 10.0.0.0/8", "11.0.0.1:5", No),
        ("src 10.0.0.0/255.0.0.0", "10.9.9.9:5", Yes),
        ("src 0.0.0.0/0", "1.2.3.4:5", Yes),
        ("src 192.168.1.0/24 10.0.0.0/8", "192.168.1.77:5", Yes),
        ("src 192.168.1.0/24 10.0.0.0/8", "192.168.2.77:5", No),
        ("src ::1", "[::1]:5", Yes),
        ("src 2001:db8::/32", "[2001:db8:1::5]:5", Yes),
        ("src 2001:db8::/32", "[2001:db9::5]:5", No),
        // v4 pattern against a v4-mapped v6 client, and the reverse
        ("src 10.0.0.0/8", "[::ffff:10.1.2.3]:5", Yes),
        ("src ::ffff:10.0.0.0/104", "10.1.2.3:5", Yes),
        ("src -f /nets.lst", "192.168.1.9:5", Yes),
        ("src -f /nets.lst", "[2001:db8::9]:5", Yes),
        ("src -f /nets.lst", "172.16.0.1:5", No),
        ("src -f /nets.lst 172.16.0.0/12", "172.16.0.1:5", Yes),
        ("dst 127.0.0.0/8", "1.1.1.1:5", Yes),
        ("src,lower -m ip 10.0.0.0/8", "10.0.0.1:5", Yes),
    ];
    for (acl, src, want) in cases {
        assert_eq!(eval(acl, &Ctx::from(src)), *want, "{acl} vs {src}");
    }
}

#[test]
fn ip_set_scales() {
    let pats: Vec<String> = (0..20000)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let mut w = vec!["src"];
    w.extend(pats.iter().map(String::as_str));
    let e = parse_expr_words(&w, &mut files).expect("compiles");
    assert_eq!(e.patterns.len(), 20000);
    assert_eq!(e.eval(&Ctx::from("10.78.31.4:1")), Yes);
    assert_eq!(e.eval(&Ctx::from("10.79.0.4:1")), No);
}

#[test]
fn int_matcher() {
    let cases: &[(&str, &str, Match)] = &[
        ("src_port 80", "1.1.1.1:80", Yes),
        ("src_port 80", "1.1.1.1:81", No),
        ("src_port 10:20", "1.1.1.1:10", Yes),
        ("src_port 10:20", "1.1.1.1:20", Yes),
        ("src_port 10:20", "1.1.1.1:21", No),
        ("src_port :5", "1.1.1.1:5", Yes),
        ("src_port :5", "1.1.1.1:6", No),
        ("src_port 5:", "1.1.1.1:65535", Yes),
        ("src_port 5:", "1.1.1.1:4", No),
        ("src_port ge 1024", "1.1.1.1:1024", Yes),
        ("src_port gt 1024", "1.1.1.1:1024", No),
        ("src_port le 1024", "1.1.1.1:1024", Yes),
        ("src_port lt 1024", "1.1.1.1:1024", No),
        ("src_port lt 1024", "1.1.1.1:1023", Yes),
        ("src_port gt 9223372036854775807", "1.1.1.1:1", No),
        ("src_port lt -9223372036854775808", "1.1.1.1:1", No),
        ("src_port eq 7", "1.1.1.1:7", Yes),
        ("src_port 1 2 3", "1.1.1.1:3", Yes),
        ("src_port gt 5:6", "1.1.1.1:3", No), // haproxy 2.6 accepts it
        ("dst_port 443", "1.1.1.1:3", Yes),
        ("src_port -m str 80", "1.1.1.1:80", Yes),
        ("src_port -m len 2", "1.1.1.1:80", Yes),
    ];
    for (acl, src, want) in cases {
        assert_eq!(eval(acl, &Ctx::from(src)), *want, "{acl} vs {src}");
    }
}

#[test]
fn string_matchers() {
    let sni = |s: &str| Ctx::from("1.1.1.1:1").with_req(&build_client_hello(Some(s), false), false);
    let cases: &[(&str, &str, Match)] = &[
        ("req_ssl_sni a.example", "a.example", Yes),
        ("req_ssl_sni a.example", "A.example", No),
        ("req_ssl_sni -i a.example", "A.EXAMPLE", Yes),
        ("req_ssl_sni -i A.Example", "a.example", Yes),
        ("req_ssl_sni -m str x a.example", "a.example", Yes),
        ("req_ssl_sni -m beg www.", "www.example", Yes),
        ("req_ssl_sni -m beg www.", "api.www.example", No),
        ("req_ssl_sni -m end .example", "www.example", Yes),
        ("req_ssl_sni -m end .example", "www.example.com", No),
        ("req_ssl_sni -m sub ampl", "www.example", Yes),
        ("req_ssl_sni -m sub -i AMPL", "www.example", Yes), // flags in any order before patterns
        ("req_ssl_sni -i -m sub AMPL", "www.example", Yes),
        ("req_ssl_sni -m reg ^w+\\.ex", "www.example", Yes),
        ("req_ssl_sni -m reg ^x", "www.example", No),
        ("req_ssl_sni -i -m reg ^WWW", "www.example", Yes),
        ("req_ssl_sni -m dom example", "www.example.com", Yes),
        ("req_ssl_sni -m dom example.com", "www.example.com", Yes),
        ("req_ssl_sni -m dom xample", "www.example.com", No),
        ("req_ssl_sni -m dom .example.", "www.example.com", Yes),
        ("req_ssl_sni -m dir example", "www.example.com", No),
        ("req_ssl_sni -m len 11", "www.example", Yes),
        ("req_ssl_sni -m len gt 11", "www.example", No),
        ("req_ssl_sni -m found", "www.example", Yes),
        ("req_ssl_sni -f /hosts.lst", "a.example", Yes),
        ("req_ssl_sni -f /hosts.lst", "b.example", No),
        ("req_ssl_sni -i -f /hosts.lst", "b.example", Yes),
        ("req_ssl_sni -- -weird", "-weird", Yes),
    ];
    for (acl, name, want) in cases {
        assert_eq!(eval(acl, &sni(name)), *want, "{acl} vs {name}");
    }
}

/// `dom` / `dir` word boundaries as a running haproxy 2.6 applies them
/// (checked with `req.payload(...) -m dom|dir` on the same texts).
#[test]
fn dir_matcher() {
    let mut ctx = Ctx::from("1.1.1.1:1");
    ctx.so_name = Some("/img/big/cat.png".into());
    let cases: &[(&str, Match)] = &[
        ("so_name -m dir img", Yes),
        ("so_name -m dir big", Yes),
        ("so_name -m dir /img/big", Yes),
        ("so_name -m dir im", No),
        ("so_name -m dir cat.png", Yes),
        ("so_name -m beg /img", Yes),
        ("so_name /img/big/cat.png", Yes),
        ("so_name -m sub nope", No),
    ];
    for (acl, want) in cases {
        assert_eq!(eval(acl, &ctx), *want, "{acl}");
    }
    assert_eq!(
        eval("so_name x", &Ctx::from("1.1.1.1:1")),
        No,
        "no bind name: no sample"
    );
}

#[test]
fn bin_and_payload_fetches() {
    let req = b"\x16\x03\x01\x00\x05hello";
    let cases: &[(&str, &[u8], bool, Match)] = &[
        ("req.payload(0,1) -m bin 16", req, false, Yes),
        ("req.payload(0,3) -m bin 160301", req, false, Yes),
        ("req.payload(0,3) -m bin 160303", req, false, No),
        ("req.payload(5,5) -m str hello", req, false, Yes),
        ("req.payload(5,6) -m str hello", req, false, NeedMore),
        ("req.payload(5,6) -m str hello", req, true, No),
        ("req.payload(5,0) -m str hello", req, false, Yes),
        ("req.payload(5,0) -m str hell", req, false, NeedMore),
        ("req.payload(5,0) -m str hell", req, true, No),
        ("req.payload(0,1) -m bin 16", b"", false, NeedMore),
        ("req.payload_lv(3,2) -m str hello", req, false, Yes),
        ("req.payload_lv(3,2) -m len 5", req, false, Yes),
        (
            "req.payload_lv(3,2) -m str hello",
            &req[..7],
            false,
            NeedMore,
        ),
        (
            "req.payload_lv(3,2,+1) -m str ello",
            &[req.as_slice(), b"!"].concat(),
            false,
            No,
        ),
        (
            "req.payload_lv(3,2,+1) -m str ello!",
            &[req.as_slice(), b"!"].concat(),
            false,
            Yes,
        ),
        ("req.payload_lv(3,2,-4) -m bin 0301000568", req, false, Yes),
        (
            "req.payload_lv(3,2,6) -m str ello!",
            &[req.as_slice(), b"!"].concat(),
            false,
            Yes,
        ),
        ("req.payload(0,2),lower -m str ab", b"AB", false, Yes),
        ("payload(0,1) 16", req, false, Yes), // old keyword: bin by default
        // string methods see binary data up to its first NUL (haproxy 2.6)
        ("req.payload(0,2) -m len 1", b"\x03\x00", false, Yes),
        ("req.payload(0,2) -m len 2", b"\x03\x00", false, No),
        ("req.payload(0,2) -m bin 0300", b"\x03\x00", false, Yes),
        ("req.payload(0,2) -m str 0300", b"\x03\x00", false, No),
        ("req.payload(11,7) -m sub ook", RDP, false, Yes),
        ("req.payload(11,7) -m len 7", RDP, false, Yes),
        ("payload_lv(3,2) 68656c6c6f", req, false, Yes),
        ("req.payload(-1,1) -m found", req, false, No), // never fits: no waiting
        ("req.payload(16380,10) -m found", req, false, No),
        ("req.payload_lv(0,1) -m found", b"\x00", false, No), // empty data never matches
    ];
    for (acl, buf, fin, want) in cases {
        let ctx = Ctx::from("1.1.1.1:1").with_req(buf, *fin);
        assert_eq!(eval(acl, &ctx), *want, "{acl} on {buf:?} final={fin}");
    }
}

#[test]
fn req_len_and_predefined_three_valued() {
    let cases: &[(&str, &[u8], bool, Match)] = &[
        ("req.len ge 10", b"12345", false, NeedMore),
        ("req.len ge 10", b"12345", true, No),
        ("req.len ge 5", b"12345", false, Yes),
        ("req_len lt 10", b"12345", false, Yes),
        ("req_len 0", b"", true, Yes),
        ("wait_end", b"", false, NeedMore),
        ("wait_end", b"", true, Yes),
    ];
    for (acl, buf, fin, want) in cases {
        let ctx = Ctx::from("1.1.1.1:1").with_req(buf, *fin);
        assert_eq!(eval(acl, &ctx), *want, "{acl}");
    }
    let set = AclSet::new();
    let pre: &[(&str, &str, &[u8], bool, Match)] = &[
        ("TRUE", "1.1.1.1:1", b"", false, Yes),
        ("FALSE", "1.1.1.1:1", b"", false, No),
        ("LOCALHOST", "127.9.9.9:1", b"", false, Yes),
        ("LOCALHOST", "[::1]:1", b"", false, Yes),
        ("LOCALHOST", "10.0.0.1:1", b"", false, No),
        ("WAIT_END", "1.1.1.1:1", b"", false, NeedMore),
        ("WAIT_END", "1.1.1.1:1", b"", true, Yes),
        ("REQ_CONTENT", "1.1.1.1:1", b"", false, NeedMore),
        ("REQ_CONTENT", "1.1.1.1:1", b"", true, No),
        ("REQ_CONTENT", "1.1.1.1:1", b"x", false, Yes),
        ("RDP_COOKIE", "1.1.1.1:1", RDP, false, Yes),
        ("RDP_COOKIE", "1.1.1.1:1", &RDP[..20], false, NeedMore),
        ("RDP_COOKIE", "1.1.1.1:1", b"GET / HTTP/1.0\r\n", false, No),
    ];
    for (name, src, buf, fin, want) in pre {
        let acl = set.get(name).expect("predefined");
        let ctx = Ctx::from(src).with_req(buf, *fin);
        assert_eq!(acl.eval(&ctx), *want, "{name} from {src}");
    }
}

const RDP: &[u8] = b"\x03\x00\x00\x2b\x26\xe0\x00\x00\x00\x00\x00Cookie: mstshash=alice\r\n\x01\x00\x08\x00\x03\x00\x00\x00";

#[test]
fn tls_and_rdp_fetches() {
    let real = decode_hex(include_str!("testdata/openssl_client_hello.hex")).expect("hex");
    let plain = build_client_hello(Some("b.example"), false);
    let none = build_client_hello(None, true);
    let cases: &[(&str, &[u8], bool, Match)] = &[
        ("req.ssl_sni a.example", &real, false, Yes),
        ("req.ssl_sni a.example", &real[..100], false, NeedMore),
        ("req.ssl_sni a.example", &real[..100], true, No),
        ("req.ssl_sni -m found", &none, false, No),
        ("req_ssl_sni b.example", &plain, false, Yes),
        ("req_ssl_sni b.example", b"GET / HTTP/1.1\r\n", false, No),
        ("req.ssl_ec_ext 1", &real, false, Yes),
        ("req.ssl_ec_ext", &real, false, Yes),
        ("req.ssl_ec_ext", &plain, false, No),
        ("req.ssl_ec_ext", &none, false, Yes),
        ("req.ssl_hello_type 1", &real, false, Yes),
        ("req_ssl_hello_type 1", &real[..5], false, NeedMore),
        (
            "req_ssl_hello_type 1",
            b"\x17\x03\x03\x00\x04\x17\x00\x00\x00",
            false,
            No,
        ),
        (
            "req_ssl_hello_type 23",
            b"\x17\x03\x03\x00\x04\x17\x00\x00\x00",
            false,
            Yes,
        ),
        (
            "req_ssl_hello_type 1",
            b"\x16\x03\x01\x00\x04\x01\x00",
            false,
            NeedMore,
        ),
        (
            "req_ssl_hello_type 1",
            b"\x16\x03\x01\x00\x04\x01\x00",
            true,
            No,
        ),
        ("req.ssl_ver 3.3", &real, false, Yes), // the hello's version (haproxy 2.6 routes so)
        ("req.ssl_ver 3.1", &real, false, No),
        ("req.ssl_ver 3.1", &real[..100], false, NeedMore), // whole record first
        ("req_ssl_ver 3.1:3.3", &real, false, Yes),
        ("req_ssl_ver 3.3", &real[..60], true, No), // haproxy 2.6: no version from a partial record
        ("req_ssl_ver ge 3.2", &real, false, Yes),
        ("req_ssl_ver 3.1", &real[..5], false, NeedMore),
        ("req_ssl_ver 3", b"\x16\x03\x00\x00\x01\x00", false, Yes),
        ("req_ssl_ver 3", b"\x16\x03", false, NeedMore),
        ("req.rdp_cookie alice", RDP, false, Yes),
        ("req.rdp_cookie(mstshash) alice", RDP, false, Yes),
        ("req.rdp_cookie(MSTSHASH) alice", RDP, false, Yes),
        ("req.rdp_cookie(other) alice", RDP, false, No),
        ("req_rdp_cookie -m beg ali", RDP, false, Yes),
        ("req.rdp_cookie alice", &RDP[..25], false, NeedMore),
        ("req.rdp_cookie alice", &RDP[..25], true, No),
        ("req.rdp_cookie_cnt 1", RDP, false, Yes),
        ("req.rdp_cookie_cnt(x) 0", RDP, false, Yes),
    ];
    for (acl, buf, fin, want) in cases {
        let ctx = Ctx::from("1.1.1.1:1").with_req(buf, *fin);
        assert_eq!(
            eval(acl, &ctx),
            *want,
            "{acl} on {} bytes final={fin}",
            buf.len()
        );
    }
}

#[test]
fn proxy_state_fetches() {
    let mut ctx = Ctx::from("1.1.1.1:1");
    ctx.counts.insert(("nbsrv", None), 2);
    ctx.counts.insert(("nbsrv", Some("be_b")), 0);
    ctx.counts.insert(("be_conn", Some("be_b")), 17);
    ctx.counts.insert(("connslots", None), 3);
    ctx.counts.insert(("fe_conn", None), 9);
    ctx.up.insert(("be_b", "s1"), true);
    ctx.up.insert(("be_b", "s2"), false);
    let cases: &[(&str, Match)] = &[
        ("nbsrv 2", Yes),
        ("nbsrv gt 0", Yes),
        ("nbsrv(be_b) gt 0", No),
        ("nbsrv(be_b) lt 1", Yes),
        ("nbsrv(unknown) ge 0", No),
        ("be_conn(be_b) ge 10", Yes),
        ("be_conn ge 0", No),
        ("connslots 3", Yes),
        ("fe_conn 9", Yes),
        ("fe_conn(other) 9", No),
        ("srv_is_up(be_b/s1)", Yes),
        ("srv_is_up(be_b/s2)", No),
        ("srv_is_up(be_b/s3)", No),
        ("always_true", Yes),
        ("always_false", No),
        ("always_false -m bool", No),
    ];
    for (acl, want) in cases {
        assert_eq!(eval(acl, &ctx), *want, "{acl}");
    }
}

#[test]
fn converters() {
    let sni = |s: &str| Ctx::from("1.1.1.1:1").with_req(&build_client_hello(Some(s), false), false);
    let cases: &[(&str, &str, Match)] = &[
        ("req_ssl_sni,lower a.example", "A.Example", Yes),
        ("req_ssl_sni,upper A.EXAMPLE", "a.example", Yes),
        ("req_ssl_sni,lower,upper A.EXAMPLE", "a.Example", Yes),
        ("req_ssl_sni,map(/sni.map) be_a", "a.example", Yes),
        ("req_ssl_sni,map_str(/sni.map) be_b", "b.example", Yes),
        ("req_ssl_sni,map(/sni.map) -m found", "c.example", No),
        (
            "req_ssl_sni,map(/sni.map,be_default) be_default",
            "c.example",
            Yes,
        ),
        ("req_ssl_sni,map_beg(/beg.map) be_www", "www.x", Yes),
        ("req_ssl_sni,map_beg(/beg.map) be_api", "api.x", Yes),
        (
            "req_ssl_sni,map_dom(/dom.map) be_ex",
            "www.example.com",
            Yes,
        ),
        ("req_ssl_sni,map_dom(/dom.map) be_foo", "foo.org", Yes),
        ("req_ssl_sni,map_dom(/dom.map,none) none", "barfoo.org", Yes),
    ];
    for (acl, name, want) in cases {
        assert_eq!(eval(acl, &sni(name)), *want, "{acl} vs {name}");
    }
    let ips: &[(&str, &str, Match)] = &[
        ("src,map_ip(/ip.map) ten", "10.2.0.1:1", Yes),
        ("src,map_ip(/ip.map) ten_one", "10.1.0.1:1", Yes),
        ("src,map_ip(/ip.map) six", "[::1]:1", Yes),
        ("src,map_ip(/ip.map) -m found", "11.0.0.1:1", No),
        ("src,map_ip(/ip.map,x) x", "11.0.0.1:1", Yes),
    ];
    for (acl, src, want) in ips {
        assert_eq!(eval(acl, &Ctx::from(src)), *want, "{acl} vs {src}");
    }
}

fn acl_err(line: &str) -> String {
    let w = words(line);
    match parse_acl(&w, 1, &mut files) {
        Ok(_) => panic!("{line}: accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn acl_line_errors_match_haproxy() {
    // (acl line, HAProxy 2.6 text after "parsing [f:n] : "); all rows marked
    // "verified" were compared with `haproxy -c` output.
    let cases: &[(&str, &str)] = &[
        // verified
        ("acl a xyz", "error detected while parsing ACL 'a' : unknown fetch method 'xyz' in ACL expression 'xyz'."),
        ("acl a b c", "error detected while parsing ACL 'a' : unknown fetch method 'b' in ACL expression 'b'."),
        ("acl a lower", "error detected while parsing ACL 'a' : unknown fetch method 'lower' in ACL expression 'lower'."),
        ("acl a", "error detected while parsing ACL 'a' : missing fetch method in ACL expression ''."),
        (
            "acl a src -m foo 1.2.3.4",
            "error detected while parsing ACL 'a' : unknown matching method 'foo' when parsing ACL expression.",
        ),
        ("acl a src -m", "error detected while parsing ACL 'a' : unknown matching method '' when parsing ACL expression."),
        (
            "acl a src 1.2.3.400",
            "error detected while parsing ACL 'a' : '1.2.3.400' is not a valid IPv4 or IPv6 address.",
        ),
        ("acl a src -i -- -1", "error detected while parsing ACL 'a' : '-1' is not a valid IPv4 or IPv6 address."),
        ("acl a src_port abc", "error detected while parsing ACL 'a' : 'abc' is not a number."),
        ("acl a src_port 5:3", "error detected while parsing ACL 'a' : '5:3' is not a valid number range."),
        (
            "acl a src_port ge abc",
            "error detected while parsing ACL 'a' : 'abc' is neither a number nor a supported operator.",
        ),
        ("acl a req.ssl_ver 3.x", "error detected while parsing ACL 'a' : '3.x' is not a dotted number."),
        ("acl a src -f /nonexistent", "error detected while parsing ACL 'a' : failed to open pattern file </nonexistent>."),
        ("acl a src -f", "error detected while parsing ACL 'a' : failed to open pattern file <>."),
        // HAProxy accepts these; proxyd refuses them instead of ignoring them
        (
            "acl a src -u 1 1.2.3.4",
            "error detected while parsing ACL 'a' : ACL option '-u' is not supported by proxyd.",
        ),
        (
            "acl a src -M 1.2.3.4",
            "error detected while parsing ACL 'a' : ACL option '-M' is not supported by proxyd.",
        ),
        (
            "acl a src -x 1.2.3.4",
            "error detected while parsing ACL 'a' : '-x' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'.",
        ),
        (
            "acl a req.payload(0) foo",
            "error detected while parsing ACL 'a' : fetch method 'req.payload' : missing arguments (got 1/2), type 'integer' expected in ACL expression 'req.payload(0)'.",
        ),
        (
            "acl a req.payload_lv(0) 00",
            "error detected while parsing ACL 'a' : fetch method 'req.payload_lv' : missing arguments (got 1/2), type 'integer' expected in ACL expression 'req.payload_lv(0)'.",
        ),
        (
            "acl a req.payload(x,1) 00",
            "error detected while parsing ACL 'a' : fetch method 'req.payload' : failed to parse 'x' as type 'integer' at position 1 in ACL expression 'req.payload(x,1)'.",
        ),
        (
            "acl a req.payload(0,1,2) 00",
            "error detected while parsing ACL 'a' : fetch method 'req.payload' : expected ')' before ',2)' in ACL expression 'req.payload(0,1,2)'.",
        ),
        (
            "acl a src(1) 1.2.3.4",
            "error detected while parsing ACL 'a' : fetch method 'src' : expected ')' before '1)' in ACL expression 'src(1)'.",
        ),
        (
            "acl a req.payload(0,1",
            "error detected while parsing ACL 'a' : fetch method 'req.payload' : expected ')' in ACL expression 'req.payload(0,1'.",
        ),
        (
            "acl a req.payload(0,1) 0",
            "error detected while parsing ACL 'a' : matching method must be specified first (using '-m') when using a sample fetch of this type ('req.payload').",
        ),
        (
            "acl a req.payload(0,1)",
            "error detected while parsing ACL 'a' : matching method must be specified first (using '-m') when using a sample fetch of this type ('req.payload').",
        ),
        ("acl a req.payload(0,1) -m bin 0g", "error detected while parsing ACL 'a' : an hex digit is expected (found 'g')."),
        ("acl a req.payload(0,1) -m bin 0", "error detected while parsing ACL 'a' : an even number of hex digit is expected."),
        (
            "acl a req_ssl_sni,foo x",
            "error detected while parsing ACL 'a' : ACL keyword 'req_ssl_sni' : unknown converter 'foo'..",
        ),
        (
            "acl a req_ssl_sni,map(/nonexist) x",
            "error detected while parsing ACL 'a' : ACL keyword 'req_ssl_sni' : invalid args in converter 'map' : failed to open pattern file </nonexist>..",
        ),
        ("acl a(x) src 1.2.3.4", "character '(' is not permitted in acl name 'a(x)'."),
        ("acl a xyz(1) 1", "error detected while parsing ACL 'a' : unknown fetch method 'xyz' in ACL expression 'xyz(1)'."),
        (
            "acl a req.ssl_sni,foo x",
            "error detected while parsing ACL 'a' : unknown converter 'foo' in ACL expression 'req.ssl_sni,foo'.",
        ),
        ("acl a req_len,foo 1", "error detected while parsing ACL 'a' : unknown converter 'foo' in ACL expression 'req_len,foo'."),
        ("acl a req_ssl_ver,foo 1", "error detected while parsing ACL 'a' : ACL keyword 'req_ssl_ver' : unknown converter 'foo'.."),
        (
            "acl a src,map(/nonexist) x",
            "error detected while parsing ACL 'a' : invalid args in converter 'map' : failed to open pattern file </nonexist> in ACL expression 'src,map(/nonexist)'.",
        ),
        (
            "acl a src,map x",
            "error detected while parsing ACL 'a' : invalid args in converter 'map' : failed to open pattern file <> in ACL expression 'src,map'.",
        ),
        (
            "acl a src,lower(1) x",
            "error detected while parsing ACL 'a' : invalid arg 1 in converter 'lower' : expected ')' before '1)' in ACL expression 'src,lower(1)'.",
        ),
        (
            "acl a req_ssl_sni,lower(1) x",
            "error detected while parsing ACL 'a' : ACL keyword 'req_ssl_sni' : invalid arg 1 in converter 'lower' : expected ')' before '1)'..",
        ),
        (
            "acl a req.payload_lv(0,0) -m bin 00",
            "error detected while parsing ACL 'a' : invalid args in fetch method 'req.payload_lv' : payload length must be > 0 in ACL expression 'req.payload_lv(0,0)'.",
        ),
        (
            "acl a req.payload_lv(0,1,-5) -m bin 00",
            "error detected while parsing ACL 'a' : invalid args in fetch method 'req.payload_lv' : payload offset2 too negative in ACL expression 'req.payload_lv(0,1,-5)'.",
        ),
        (
            "acl a payload_lv(0,0) 00",
            "error detected while parsing ACL 'a' : in argument to 'payload_lv', payload length must be > 0.",
        ),
        (
            "acl a payload(0) 00",
            "error detected while parsing ACL 'a' : ACL keyword 'payload' : missing arguments (got 1/2), type 'integer' expected.",
        ),
        (
            "acl a payload(x,1) 00",
            "error detected while parsing ACL 'a' : ACL keyword 'payload' : failed to parse 'x' as type 'integer' at position 1.",
        ),
        ("acl a req_ssl_sni(1) x", "error detected while parsing ACL 'a' : ACL keyword 'req_ssl_sni' : expected ')' before '1)'."),
        (
            "acl a req_rdp_cookie(a,b) x",
            "error detected while parsing ACL 'a' : ACL keyword 'req_rdp_cookie' : expected ')' before ',b)'.",
        ),
        // same shapes, not run through haproxy
        (
            "acl a src -f /bad.lst",
            "error detected while parsing ACL 'a' : 'not-an-ip' is not a valid IPv4 or IPv6 address at line 2 of file '/bad.lst'.",
        ),
        (
            "acl a src,map_ip(/hosts.lst) x",
            "error detected while parsing ACL 'a' : invalid args in converter 'map_ip' : 'a.example' is not a valid IPv4 or IPv6 address at line 1 of file '/hosts.lst' in ACL expression 'src,map_ip(/hosts.lst)'.",
        ),
        (
            "acl a payload_lv(0,1,-5) 00",
            "error detected while parsing ACL 'a' : in argument to 'payload_lv', payload offset2 too negative.",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(acl_err(line), *want, "{line}");
    }
    let re = acl_err("acl a req_ssl_sni -m reg (");
    assert!(
        re.starts_with("error detected while parsing ACL 'a' : regex '(' is invalid (error="),
        "{re}"
    );
    assert_eq!(
        parse_acl(&["acl"], 1, &mut files).map(|_| ()),
        Err(AclError::MissingName)
    );
}

#[test]
fn accepted_lines_and_warnings() {
    // haproxy 2.6 accepts all of these.
    let ok = [
        "acl a src",
        "acl a src -m found 1.2.3.4",
        "acl a src -m bool",
        "acl a src -m ip",
        "acl a src_port -m str 1",
        "acl a src_port gt 5:6",
        "acl a req.len ge",
        "acl a always_true",
        "acl a src,lower 1.2.3.4",
        "acl a req.payload_lv(0,5) -m bin 00",
        "acl a so_name foo",
        "acl TRUE src 1.2.3.4",
        "acl a.b-c_d:e src -n 1.2.3.4",
        "acl a payload(0,1) 16",
        "acl a payload_lv(0,1) 00",
        "acl a rdp_cookie x",
        "acl a req.payload(-1,1) -m bin 00",
        "acl a src -m reg a",
        "acl a req.ssl_ec_ext 1",
        "acl a src_port -m ip 1.2.3.4",
        "acl a req.ssl_ver 3.1",
    ];
    for line in ok {
        let w = words(line);
        assert!(parse_acl(&w, 1, &mut files).is_ok(), "{line}");
    }
    let (_, e) = parse_acl(&words("acl a src"), 1, &mut files).expect("ok");
    // verified: haproxy 2.6 warns with exactly these two lines
    assert_eq!(
        e.warning().as_deref(),
        Some("parsing acl keyword 'src' :\n  no pattern to match against were provided, so this ACL will never match.")
    );
    let (_, e) = parse_acl(&words("acl a always_true"), 1, &mut files).expect("ok");
    assert_eq!(e.warning(), None);
}

fn set(lines: &[&str]) -> AclSet {
    let mut s = AclSet::new();
    for l in lines {
        s.add_line(&words(l), 1, &mut files)
            .unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    s
}

fn cond(kind: CondKind, text: &str, acls: &AclSet) -> Result<Cond, CondError> {
    parse_cond(kind, &words(text), 0, acls, &mut files)
}

#[test]
fn conditions() {
    let acls = set(&[
        "acl yes always_true",
        "acl no always_false",
        "acl wait wait_end",
        "acl multi src 10.0.0.1",
        "acl multi src 10.0.0.2",
        "acl TRUE always_false", // user ACLs shadow predefined ones
    ]);
    let cases: &[(CondKind, &str, Match)] = &[
        (CondKind::If, "yes", Yes),
        (CondKind::If, "no", No),
        (CondKind::If, "!no", Yes),
        (CondKind::If, "! no", Yes),
        (CondKind::If, "!!no", No),
        (CondKind::If, "yes no", No),
        (CondKind::If, "yes !no", Yes),
        (CondKind::If, "no || yes", Yes),
        (CondKind::If, "no or yes", Yes),
        (CondKind::If, "yes no || no", No),
        (CondKind::If, "no yes || yes !no", Yes),
        (CondKind::If, "|| yes", Yes),
        (CondKind::If, "", No),
        (CondKind::Unless, "", Yes),
        (CondKind::Unless, "yes", No),
        (CondKind::Unless, "no", Yes),
        (CondKind::If, "{ always_true }", Yes),
        (CondKind::If, "{ always_true } || ! { always_false }", Yes),
        (CondKind::If, "!{ always_true }", No),
        (CondKind::If, "{ src 10.0.0.0/8 } { src_port 1 }", Yes),
        (CondKind::If, "{ src 10.0.0.0/8 } { src_port 2 }", No),
        (CondKind::If, "multi", Yes),
        (CondKind::If, "TRUE", No),
        (CondKind::If, "FALSE", No),
        (CondKind::If, "!FALSE LOCALHOST", No),
        // three-valued: MISS AND FAIL = FAIL, MISS AND PASS = MISS,
        // MISS OR PASS = PASS, !MISS = MISS
        (CondKind::If, "wait", NeedMore),
        (CondKind::If, "wait no", No),
        (CondKind::If, "wait yes", NeedMore),
        (CondKind::If, "wait || yes", Yes),
        (CondKind::If, "wait || no", NeedMore),
        (CondKind::If, "!wait", NeedMore),
        (CondKind::Unless, "wait", NeedMore),
    ];
    let ctx = Ctx::from("10.0.0.2:1");
    for (kind, text, want) in cases {
        let c = cond(*kind, text, &acls).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(c.eval(&ctx), *want, "{kind:?} {text}");
    }
    let fin = Ctx::from("10.0.0.2:1").with_req(b"", true);
    assert_eq!(
        cond(CondKind::If, "wait", &acls).expect("ok").eval(&fin),
        Yes
    );
}

#[test]
fn condition_errors_match_haproxy() {
    let acls = set(&["acl known always_true"]);
    // verified with `use_backend b if ...` in haproxy 2.6
    let cases: &[(&str, &str)] = &[
        ("nosuch", "error detected while parsing switching rule : no such ACL : 'nosuch'."),
        ("{ src 1.2.3.4", "error detected while parsing switching rule : missing closing '}' in condition."),
        ("{ }", "error detected while parsing switching rule : missing fetch method in ACL expression ''."),
        ("{ src 1.2.3.4 } }", "error detected while parsing switching rule : no such ACL : '}'."),
        (
            "{ xyz }",
            "error detected while parsing switching rule : unknown fetch method 'xyz' in ACL expression 'xyz'.",
        ),
    ];
    for (text, want) in cases {
        let e = cond(CondKind::If, text, &acls).expect_err(text);
        assert_eq!(e.in_rule("switching rule"), *want, "{text}");
    }
    // haproxy 2.6 accepts these
    for text in [
        "known ||", "|| known", "!", "! known", "!!known", "or known",
    ] {
        assert!(cond(CondKind::If, text, &acls).is_ok(), "{text}");
    }
    // haproxy 2.6: an ACL used before its definition is unknown
    let mut acls = AclSet::new();
    assert!(cond(CondKind::If, "later", &acls).is_err());
    acls.add_line(&words("acl later always_true"), 1, &mut files)
        .expect("ok");
    assert!(cond(CondKind::If, "later", &acls).is_ok());
}

/// `use_backend X if ...` rules, first match wins, evaluated the way the
/// tcp-request content loop will: NeedMore means wait for more bytes.
fn route(rules: &[(&str, Cond)], ctx: &Ctx) -> Result<Option<String>, ()> {
    for (be, c) in rules {
        match c.eval(ctx) {
            Yes => return Ok(Some(be.to_string())),
            No => continue,
            NeedMore => return Err(()),
        }
    }
    Ok(None)
}

/// (client, request bytes, final, expected backend or Err = wait).
type RouteRow<'a> = (&'a str, &'a [u8], bool, Result<Option<&'a str>, ()>);

/// The same decisions were checked against a running haproxy 2.6 (tcp
/// frontend, `tcp-request content accept if { req.len gt 0 }`, openssl's
/// ClientHello sent from loopback): `-i` SNI routing, `req_ssl_hello_type`
/// on a non-handshake record, `req.ssl_ec_ext`, `req_ssl_ver` 3.3 for this
/// hello and no version from a 60-byte prefix after inspect-delay.
#[test]
fn sni_routing_scenarios() {
    let acls = set(&[
        "acl is_tls req.ssl_hello_type 1",
        "acl internal src 10.0.0.0/8",
    ]);
    let rules: Vec<(&str, Cond)> = [
        ("be_a", "{ req_ssl_sni -i a.example }"),
        ("be_b", "{ req_ssl_sni -m end .b.example } internal"),
        ("be_tls", "is_tls"),
    ]
    .into_iter()
    .map(|(be, c)| (be, cond(CondKind::If, c, &acls).expect("ok")))
    .collect();
    let real = decode_hex(include_str!("testdata/openssl_client_hello.hex")).expect("hex");
    let b = build_client_hello(Some("x.b.example"), true);
    let cases: &[RouteRow] = &[
        ("1.1.1.1:1", &real, false, Ok(Some("be_a"))),
        (
            "1.1.1.1:1",
            &build_client_hello(Some("A.EXAMPLE"), false),
            false,
            Ok(Some("be_a")),
        ),
        ("10.1.1.1:1", &b, false, Ok(Some("be_b"))),
        ("1.1.1.1:1", &b, false, Ok(Some("be_tls"))),
        ("1.1.1.1:1", &real[..40], false, Err(())),
        ("1.1.1.1:1", &real[..40], true, Ok(None)),
        ("1.1.1.1:1", b"", false, Err(())),
        ("1.1.1.1:1", b"", true, Ok(None)),
        ("1.1.1.1:1", b"SSH-2.0-OpenSSH\r\n", false, Ok(None)),
    ];
    for (src, buf, fin, want) in cases {
        let ctx = Ctx::from(src).with_req(buf, *fin);
        let got = route(&rules, &ctx);
        assert_eq!(
            got,
            want.map(|o| o.map(str::to_string)),
            "{src} {} bytes final={fin}",
            buf.len()
        );
    }
}

#[test]
fn pattern_file_lines() {
    assert_eq!(
        pattern_lines("a\n # c\n\n  b  \r\n#x\n"),
        vec![(1, "a".to_string()), (4, "b".to_string())]
    );
}
