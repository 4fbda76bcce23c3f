//! `defaults`/`frontend`/`backend`/`listen` keywords: capabilities, `timeout`, `option`.

use super::*;

impl Parser<'_> {
    // ------------------------------------------------------------------ proxy

    /// Capability check, from the keyword table's [`Cap`] for `kw` in
    /// `place`. Returns false (after a warning) when the keyword does not
    /// apply to this proxy.
    pub(super) fn need_cap(&mut self, d: &Draft, pos: &Pos, place: Where, kw: &str) -> bool {
        let fe = match cap(place, kw) {
            Cap::Any => return true,
            Cap::Frontend => true,
            Cap::Backend => false,
        };
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

    pub(super) fn proxy_line(&mut self, d: &mut Draft, line: &Line) {
        let pos = line.pos.clone();
        let kw = line.words[0].text.clone();
        let section = d.kind.word();
        let a = args(line);
        if self.too_few_args(Where::Proxy, &pos, &kw, a.len()) {
            return;
        }
        let a0 = a.first().map(|t| t.text.clone());
        // The word after a keyword the table checked has at least one.
        let w = a0.clone().unwrap_or_default();
        match kw.as_str() {
            "mode" => match w.as_str() {
                "tcp" => d.mode_http = None,
                "http" => d.mode_http = Some(pos),
                m => self.alert(&pos, format!("unknown proxy mode '{m}'.")),
            },
            "bind" => {
                if d.kind == Kind::Defaults {
                    self.alert(&pos, "'bind' not allowed in 'defaults' section.");
                } else if self.need_cap(d, &pos, Where::Proxy, "bind") {
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
                if self.need_cap(d, &pos, Where::Proxy, "default-server") {
                    self.server_line(d, line, true);
                }
            }
            "maxconn" => {
                if self.need_cap(d, &pos, Where::Proxy, "maxconn") {
                    let v = self.int32(&pos, "maxconn", &w);
                    d.maxconn = (v > 0).then_some(v);
                }
            }
            "backlog" => {
                if self.need_cap(d, &pos, Where::Proxy, "backlog") {
                    let v = self.int32(&pos, "backlog", &w);
                    d.backlog = (v > 0).then_some(v);
                }
            }
            "fullconn" => {
                if self.need_cap(d, &pos, Where::Proxy, "fullconn") {
                    let v = self.int32(&pos, "fullconn", &w);
                    d.fullconn = (v > 0).then_some(v);
                }
            }
            "retries" => {
                if self.need_cap(d, &pos, Where::Proxy, "retries") {
                    d.retries = self.int32(&pos, "retries", &w);
                }
            }
            "default_backend" => {
                if self.need_cap(d, &pos, Where::Proxy, "default_backend") {
                    d.default_backend = Some((w, pos));
                }
            }
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
                    if self.need_cap(d, &pos, Where::Proxy, "balance") {
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
                if self.need_cap(d, &pos, Where::Proxy, "tcp-check") {
                    self.tcp_check_line(d, line);
                }
            }
            "http-check" => {
                if self.need_cap(d, &pos, Where::Proxy, "http-check") {
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
            _ if refused(Where::Proxy, &kw) => {
                self.unsupported(&pos, &kw, section);
            }
            _ => {
                let all = names(Where::Proxy);
                let h = hint(&kw, &all);
                self.alert(
                    &pos,
                    format!("unknown keyword '{kw}' in '{section}' section{h}"),
                );
            }
        }
    }

    pub(super) fn timeout_line(&mut self, d: &mut Draft, line: &Line) {
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

    pub(super) fn option_line(&mut self, d: &mut Draft, line: &Line, at: usize, negate: bool) {
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
                if !no_args(self) || !self.need_cap(d, &pos, Where::Opt, &opt) {
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
                if !self.need_cap(d, &pos, Where::Opt, &opt) {
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
                if !no_args(self) || !self.need_cap(d, &pos, Where::Opt, "tcp-check") {
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
                if !self.need_cap(d, &pos, Where::Opt, "httpchk") {
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
            _ if support(Where::Opt, &opt) == Some(Support::HttpOnly) => {
                let key = format!("option {opt}");
                d.http_only.retain(|(k, _)| *k != key);
                if !negate {
                    d.http_only.push((key, pos));
                }
            }
            _ if support(Where::Opt, &opt) == Some(Support::Warn) => {
                if d.kind != Kind::Defaults || !negate {
                    self.warn(
                        &pos,
                        format!("'option {opt}' only tunes HAProxy's internals; accepted, it has no effect in proxyd."),
                    );
                }
            }
            _ if refused(Where::Opt, &opt) => {
                self.unsupported(&pos, &format!("option {opt}"), d.kind.word());
            }
            _ => {
                let all = names(Where::Opt);
                let h = hint(&opt, &all);
                let end = if h.is_empty() { "." } else { "" };
                self.alert(&pos, format!("unknown option '{opt}'{h}{end}"));
            }
        }
    }
}
