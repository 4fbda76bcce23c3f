//! `tcp-check` and `http-check` rules.

use super::*;

impl Parser<'_> {
    pub(super) fn tcp_check_line(&mut self, d: &mut Draft, line: &Line) {
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

    pub(super) fn http_check_line(&mut self, d: &mut Draft, line: &Line) {
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
}
