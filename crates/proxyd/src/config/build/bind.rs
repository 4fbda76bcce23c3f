//! `bind` lines and their options.

use super::*;

impl Parser<'_> {
    pub(super) fn bind_line(&mut self, line: &Line) -> Option<Bind> {
        let pos = line.pos.clone();
        let a = args(line);
        let Some(first) = a.first() else {
            self.alert(
                &pos,
                "'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments.",
            );
            return None;
        };
        let text = first.text.clone();
        let mut addrs = Vec::new();
        let mut failed = false;
        for part in text.split(',') {
            if part.starts_with('/')
                || part.contains("@")
                    && !(part.starts_with("ipv4@")
                        || part.starts_with("ipv6@")
                        || part.starts_with("tcp@")
                        || part.starts_with("tcp4@")
                        || part.starts_with("tcp6@"))
            {
                self.alert(
                    &pos,
                    format!("'bind {part}' is not supported by proxyd (only TCP addresses).",),
                );
                failed = true;
                continue;
            }
            match values::parse_addr(part, true) {
                Ok(raw) => {
                    let Some(ports) = raw.ports else {
                        self.alert(
                            &pos,
                            format!("'bind' : missing port specification in '{part}'"),
                        );
                        failed = true;
                        continue;
                    };
                    match values::resolve_host(&raw, self.host) {
                        Some(ip) => addrs.extend(values::expand(ip, ports)),
                        None => {
                            self.alert(
                                &pos,
                                format!("'bind' : invalid address: '{}' in '{part}'", raw.host),
                            );
                            failed = true;
                        }
                    }
                }
                Err(e) => {
                    self.alert(&pos, format!("'bind' : {e}"));
                    failed = true;
                }
            }
        }
        let mut b = Bind {
            pos: pos.clone(),
            addrs,
            text,
            name: None,
            maxconn: None,
            backlog: None,
            v4v6: false,
            v6only: false,
        };
        let mut i = 1;
        while i < a.len() {
            let k = a[i].text.as_str();
            let v = a.get(i + 1).map(|t| t.text.clone());
            match k {
                "v4v6" => b.v4v6 = true,
                "v6only" => b.v6only = true,
                "name" | "maxconn" | "backlog" => {
                    let Some(v) = v else {
                        self.alert(&pos, format!("'bind {}' : missing {k} value", b.text));
                        return None;
                    };
                    match k {
                        "name" => b.name = Some(v),
                        "maxconn" => {
                            let n = self.int32(&pos, "bind maxconn", &v);
                            if n == 0 {
                                self.alert(
                                    &pos,
                                    format!("'bind {}' : invalid maxconn value '{v}'", b.text),
                                );
                                return None;
                            }
                            b.maxconn = Some(n);
                        }
                        _ => {
                            let n = self.int32(&pos, "bind backlog", &v);
                            if n == 0 {
                                self.alert(
                                    &pos,
                                    format!("'bind {}' : invalid backlog value '{v}'", b.text),
                                );
                                return None;
                            }
                            b.backlog = Some(n);
                        }
                    }
                    i += 1;
                }
                _ if refused(Where::Bind, k) => {
                    self.alert(
                        &pos,
                        format!("'bind {}' : '{k}' is not supported by proxyd.", b.text),
                    );
                    return None;
                }
                _ => {
                    let all = names(Where::Bind);
                    let h = hint(k, &all);
                    self.alert(&pos, format!("'bind {}' unknown keyword '{k}'{h}.", b.text));
                    return None;
                }
            }
            i += 1;
        }
        if failed {
            return None;
        }
        Some(b)
    }
}
