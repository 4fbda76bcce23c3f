//! `server` and `default-server` lines and their options.

use super::*;

impl Parser<'_> {
    pub(super) fn server_line(&mut self, d: &mut Draft, line: &Line, is_default: bool) {
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
                _ if refused(Where::Server, k) => {
                    self.alert_srv(&pos, format!("{who}'{k}' is not supported by proxyd."));
                    ok = false;
                    break;
                }
                _ => {
                    let all = names(Where::Server);
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
}
