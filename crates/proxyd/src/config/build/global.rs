//! `global`: its keywords, `stats socket` and the `log` lines (shared with proxies).

use super::*;

impl Parser<'_> {
    // ----------------------------------------------------------------- global

    pub(super) fn global_line(&mut self, line: &Line) {
        let pos = line.pos.clone();
        let kw = line.words[0].text.clone();
        let a = args(line);
        if self.too_few_args(Where::Global, &pos, &kw, a.len()) {
            return;
        }
        let a0 = a.first().map(|t| t.text.clone()).unwrap_or_default();
        match kw.as_str() {
            "daemon" => self.global.daemon = true,
            "master-worker" => self.global.master_worker = true,
            "maxconn" => {
                let v = self.int32(&pos, "maxconn", &a0);
                self.global.maxconn = Some(v);
            }
            "user" | "group" => {
                let w = a0;
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
            "uid" | "gid" => match a0.parse::<u32>() {
                Ok(v) if kw == "uid" => self.global.uid = Some(v),
                Ok(v) => self.global.gid = Some(v),
                Err(_) => self.alert(&pos, format!("'{kw}' expects an integer argument.")),
            },
            "chroot" => self.global.chroot = Some(PathBuf::from(a0)),
            "pidfile" => self.global.pidfile = Some(PathBuf::from(a0)),
            "ca-base" => self.global.ca_base = Some(PathBuf::from(a0)),
            "crt-base" => self.global.crt_base = Some(PathBuf::from(a0)),
            "nbthread" => {
                let (v, _) = atoi(&a0);
                if !(1..=64).contains(&v) {
                    self.alert(
                        &pos,
                        format!("'nbthread' value must be between 1 and 64 (was {v})"),
                    );
                } else {
                    self.global.nbthread = Some(v as usize);
                }
            }
            "hard-stop-after" => match parse_time(&a0) {
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
            "spread-checks" => {
                let (v, _) = atoi(&a0);
                if v > 50 {
                    self.alert(
                        &pos,
                        "'spread-checks' needs a positive value in range 0..50.",
                    );
                } else {
                    self.global.spread_checks = v as u32;
                }
            }
            "log-tag" => self.global.log_tag = Some(a0),
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
            "node" => self.global.node = Some(a0),
            "description" => {
                let words: Vec<&str> = a.iter().map(|t| t.text.as_str()).collect();
                self.global.description = Some(words.join(" "));
            }
            "log-send-hostname" => self.global.log_send_hostname = Some(a0),
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
            _ if support(Where::Global, &kw) == Some(Support::NoEffect) => {
                // Only matters to `ssl` binds and servers, which are rejected.
            }
            _ if support(Where::Global, &kw) == Some(Support::Warn) => {
                self.warn(
                    &pos,
                    format!("'{kw}' only tunes HAProxy's internals; accepted, it has no effect in proxyd."),
                );
            }
            _ if refused(Where::Global, &kw) => {
                self.unsupported(&pos, &kw, "global");
            }
            _ => {
                let all = names(Where::Global);
                let h = hint(&kw, &all);
                self.alert(
                    &pos,
                    format!("unknown keyword '{kw}' in 'global' section{h}"),
                );
            }
        }
    }

    pub(super) fn global_stats(&mut self, line: &Line) {
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

    pub(super) fn stats_socket(&mut self, pos: &Pos, a: &[Token]) {
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
                _ if refused(Where::Bind, k) => {
                    self.alert(
                        pos,
                        format!(
                            "'stats socket' : '{k}' is not supported by proxyd on stats sockets."
                        ),
                    );
                    return;
                }
                _ => {
                    let h = hint(k, &names(Where::StatsSocket));
                    self.alert(pos, format!("'stats socket' : unknown keyword '{k}'{h}"));
                    return;
                }
            }
        }
        self.global.stats_sockets.push(s);
    }

    /// Parse a `log` line (global or proxy). `None` after an alert.
    pub(super) fn log_line(&mut self, line: &Line) -> Option<LogEntry> {
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
}
