//! After the last file: ids, links between proxies, HAProxy's post-parse checks, the typed model.

use super::*;

impl Parser<'_> {
    // ----------------------------------------------------------- post-parse

    pub(super) fn resolve_logs(&self, entries: &[LogEntry]) -> Vec<LogTarget> {
        let mut out = Vec::new();
        for e in entries {
            match e {
                LogEntry::Global => out.extend(self.global.log.iter().cloned()),
                LogEntry::Target(t) => out.push(t.clone()),
            }
        }
        out
    }

    pub(super) fn finish(mut self) -> Result<Loaded, Errors> {
        self.end_section();
        if self.parse_failed {
            if self.addr_failed {
                self.diags.push(Diag::raw(
                    Level::Alert,
                    None,
                    "Failed to initialize server(s) addr.",
                ));
            }
            self.diags.push(Diag::raw(
                Level::Alert,
                None,
                "Fatal errors found in configuration.",
            ));
            return Err(Errors { diags: self.diags });
        }
        let mut post: Vec<Diag> = Vec::new();
        let mut fatal = false;
        let proxies = std::mem::take(&mut self.proxies);

        // Automatic proxy ids: the lowest free id, in declaration order.
        // With a stats socket, HAProxy's internal CLI proxy ("GLOBAL") takes
        // id 1 first (observed with `show stat` on HAProxy 2.6).
        let mut used: HashSet<u32> = proxies.iter().filter_map(|p| p.id).collect();
        if !self.global.stats_sockets.is_empty() {
            used.insert(1);
        }
        let mut free = LowestFree::new(used);
        let ids: Vec<u32> = proxies
            .iter()
            .map(|p| p.id.unwrap_or_else(|| free.take()))
            .collect();

        let mut frontends = Vec::new();
        let mut backends = Vec::new();
        for (p, id) in proxies.iter().zip(ids) {
            let mut servers = p.servers.clone();
            let mut free = LowestFree::new(p.server_ids.clone());
            for s in servers.iter_mut().filter(|s| s.id == 0) {
                s.id = free.take();
            }
            // Mode http is what HAProxy's stock defaults say; a proxy that
            // really ends up in http mode is something we do not implement.
            if let Some(mpos) = &p.mode_http {
                let msg = format!(
                    "parsing [{mpos}] : {} (declared at {}) is in 'mode http', which proxyd does not support (only 'mode tcp' is implemented).",
                    p.what(),
                    p.pos
                );
                post.push(Diag::raw(Level::Alert, Some(mpos), msg));
                fatal = true;
                continue;
            }
            if let Some((be, bpos)) = &p.default_backend {
                if p.kind.fe() && !proxies.iter().any(|q| q.kind.be() && &q.name == be) {
                    post.push(Diag::raw(
                        Level::Alert,
                        Some(bpos),
                        format!(
                            "Proxy '{}': unable to find required default_backend: '{be}'.",
                            p.name
                        ),
                    ));
                    fatal = true;
                }
            }
            if p.kind == Kind::Frontend && p.binds.is_empty() && !p.disabled {
                post.push(Diag::raw(
                        Level::Warning,
                        Some(&p.pos),
                        format!("{} has no 'bind' directive. Please declare it as a backend if this was intended.", p.what()),
                    ));
            }
            for (kw, _) in p
                .http_only
                .iter()
                .filter(|(k, _)| k == "option forwardfor" || k == "option originalto")
            {
                post.push(Diag::raw(
                    Level::Warning,
                    Some(&p.pos),
                    format!("'{kw}' ignored for {} as it requires HTTP mode.", p.what()),
                ));
            }
            if p.kind == Kind::Listen && p.default_backend.is_some() && !p.servers.is_empty() {
                post.push(Diag::raw(
                    Level::Warning,
                    Some(&p.pos),
                    format!("In proxy '{}', the 'default_backend' rule always has precedence over the servers, which will never be used.", p.name),
                ));
            }
            // Missing timeouts, as HAProxy words it.
            let missing = (p.kind.fe() && p.timeout_client.is_none())
                || (p.kind.be() && (p.timeout_connect.is_none() || p.timeout_server.is_none()));
            if missing && !p.disabled {
                post.push(Diag::raw(
                    Level::Warning,
                    Some(&p.pos),
                    format!(
                        "missing timeouts for {}.\n   | While not properly invalid, you will certainly encounter various problems\n   | with such a configuration. To fix this, please ensure that all following\n   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
                        p.what()
                    ),
                ));
            }
            let log = self.resolve_logs(&p.log);
            if p.kind.fe() {
                let mut log_format = LogFormat::Default;
                if let Some((opt, opos)) = &p.log_opt {
                    if *opt == LogOpt::Http {
                        post.push(Diag::warning(
                            opos,
                            format!(
                                "'option httplog' not usable with {} (needs 'mode http'). Falling back to 'option tcplog'.",
                                p.what()
                            ),
                        ));
                    }
                    log_format = LogFormat::TcpLog;
                    if log.is_empty() {
                        post.push(Diag::raw(
                            Level::Warning,
                            Some(opos),
                            format!(
                                "log format ignored for {} since it has no log address.",
                                p.what()
                            ),
                        ));
                    }
                }
                frontends.push(Frontend {
                    name: p.name.clone(),
                    pos: p.pos.clone(),
                    id,
                    from_listen: p.kind == Kind::Listen,
                    binds: p.binds.clone(),
                    maxconn: p.maxconn,
                    backlog: p.backlog,
                    // A listen uses its own servers unless it names another
                    // default_backend.
                    default_backend: match (&p.default_backend, p.kind) {
                        (Some((b, _)), _) => Some(b.clone()),
                        (None, Kind::Listen) => Some(p.name.clone()),
                        (None, _) => None,
                    },
                    log: log.clone(),
                    log_format,
                    dontlognull: p.dontlognull,
                    logasap: p.logasap,
                    timeout_client: p.timeout_client,
                    timeout_client_fin: p.timeout_client_fin,
                    disabled: p.disabled,
                });
            }
            if p.kind.be() {
                if !matches!(p.check_kind, CheckKind::TcpCheck) && !p.tcp_rules.is_empty() {
                    post.push(Diag::raw(
                        Level::Warning,
                        p.tcp_rules_pos.as_ref(),
                        format!("{} uses tcp-check rules without 'option tcp-check', so the rules are ignored.", p.what()),
                    ));
                }
                let check = match p.check_kind {
                    CheckKind::Connect => CheckSpec::Connect,
                    CheckKind::TcpCheck => CheckSpec::TcpCheck(p.tcp_rules.clone()),
                    CheckKind::HttpChk => CheckSpec::HttpChk(p.http.clone()),
                };
                backends.push(Backend {
                    name: p.name.clone(),
                    pos: p.pos.clone(),
                    id,
                    from_listen: p.kind == Kind::Listen,
                    balance: p.balance,
                    servers,
                    timeout_connect: p.timeout_connect,
                    timeout_server: p.timeout_server,
                    timeout_tunnel: p.timeout_tunnel,
                    timeout_server_fin: p.timeout_server_fin,
                    timeout_queue: p.timeout_queue,
                    timeout_check: p.timeout_check,
                    retries: p.retries,
                    redispatch: p.redispatch,
                    allbackups: p.allbackups,
                    check,
                    fullconn: p.fullconn,
                    log,
                    log_health_checks: p.log_health_checks,
                    disabled: p.disabled,
                });
            }
        }
        self.diags.extend(post);
        if fatal {
            self.diags.push(Diag::raw(
                Level::Alert,
                None,
                "Fatal errors found in configuration.",
            ));
            return Err(Errors { diags: self.diags });
        }
        Ok(Loaded {
            config: Config {
                global: self.global,
                frontends,
                backends,
            },
            warnings: self.diags,
        })
    }
}
