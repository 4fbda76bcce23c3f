//! Executing stats socket commands against the runtime state, with
//! HAProxy's answers and log lines.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::checks::{counts, note_availability};
use crate::config::StatsLevel;
use crate::health::{drain_message, leave_drain_message, leave_maint_message, maint_message};
use crate::state::{unix_now, AdminState, BackendState, Runtime, ServerState};

use super::parse::{
    command_end, parse_command, parse_stat_args, parse_weight, split_args, Command, ServerAction,
};
use super::render::{show_backend, show_info, show_servers_state, show_stat_filtered};

fn log_notice(be: &BackendState, msg: &str) {
    be.log_event(common::log::NOTICE, msg);
}

/// Change a server's administrative state the way the stats socket does,
/// with HAProxy's log lines.
pub fn set_admin_state(be: &BackendState, s: &ServerState, target: AdminState) {
    let c = be.update_server(s, |r| r.set_admin(target, unix_now()));
    let prev = c.before.admin;
    if prev == target {
        return;
    }
    let opts = s.check_io.opts();
    match (prev, target) {
        (_, AdminState::Maint) => {
            let was_up = c.before.up;
            let was_draining = prev == AdminState::Drain;
            if opts.shutdown_sessions {
                s.shutdown_sessions();
            }
            let msg = maint_message(&be.name, &s.name, s.backup, was_up, &counts(be, s));
            if was_up && !was_draining {
                be.log_event(common::log::ALERT, &msg);
            } else {
                log_notice(be, &msg);
            }
        }
        (AdminState::Maint, _) => {
            // "start OK but check immediately" (the record did both)
            if opts.shutdown_backup_sessions {
                crate::checks::shutdown_backup_sessions(be, s);
            }
            log_notice(
                be,
                &leave_maint_message(
                    &be.name,
                    &s.name,
                    s.backup,
                    c.after.up,
                    target == AdminState::Drain,
                ),
            );
        }
        (AdminState::Ready, AdminState::Drain) => {
            log_notice(
                be,
                &drain_message(&be.name, &s.name, s.backup, &counts(be, s)),
            );
        }
        (AdminState::Drain, AdminState::Ready) => {
            log_notice(
                be,
                &leave_drain_message(&be.name, &s.name, s.backup, c.after.up),
            );
        }
        _ => {}
    }
    note_availability(be);
}

struct HelpEntry {
    usage: &'static str,
    desc: &'static str,
    admin: bool,
}

const HELP: &[HelpEntry] = &[
    HelpEntry {
        usage: "disable server <bk>/<srv>",
        desc: "put a server in maintenance (same as 'set server ... state maint')",
        admin: true,
    },
    HelpEntry {
        usage: "enable server <bk>/<srv>",
        desc: "take a server out of maintenance",
        admin: true,
    },
    HelpEntry {
        usage: "get weight <bk>/<srv>",
        desc: "report a server's current and initial weight",
        admin: false,
    },
    HelpEntry {
        usage: "set server <bk>/<srv> [opts]",
        desc: "change a server's state (ready|drain|maint), health (up|down) or weight",
        admin: true,
    },
    HelpEntry {
        usage: "set weight <bk>/<srv> <weight>",
        desc: "change a server's weight (same as 'set server ... weight')",
        admin: true,
    },
    HelpEntry {
        usage: "show backend",
        desc: "list the backends",
        admin: false,
    },
    HelpEntry {
        usage: "show info",
        desc: "report information about the running process",
        admin: false,
    },
    HelpEntry {
        usage: "show servers state [<backend>]",
        desc: "dump the servers' volatile state (all or one backend)",
        admin: false,
    },
    HelpEntry {
        usage: "show stat [<iid> <type> <sid>] [up|no-maint]",
        desc: "report counters for each proxy and server (CSV)",
        admin: false,
    },
    HelpEntry {
        usage: "show version",
        desc: "show the version of the running process",
        admin: false,
    },
    HelpEntry {
        usage: "clear counters [all]",
        desc: "reset the maximum counters (or all of them)",
        admin: true,
    },
    HelpEntry {
        usage: "shutdown sessions server <bk>/<srv>",
        desc: "close every session established on a server",
        admin: true,
    },
    HelpEntry {
        usage: "help [<command>]",
        desc: "list matching or all commands",
        admin: false,
    },
    HelpEntry {
        usage: "prompt",
        desc: "toggle interactive mode with prompt",
        admin: false,
    },
    HelpEntry {
        usage: "quit",
        desc: "disconnect",
        admin: false,
    },
];

fn help_lines(level: StatsLevel, filter: &[String]) -> String {
    let mut s = String::new();
    for e in HELP {
        if e.admin && level < StatsLevel::Admin {
            continue;
        }
        let words: Vec<&str> = e.usage.split_whitespace().collect();
        let matches = filter
            .iter()
            .zip(words.iter())
            .all(|(f, w)| w.starts_with(f.as_str()));
        if !matches {
            continue;
        }
        let _ = writeln!(s, "  {:<40}: {}", e.usage, e.desc);
    }
    s
}

/// The state of one CLI connection.
#[derive(Debug)]
pub struct Session {
    pub level: StatsLevel,
    pub interactive: bool,
    pub quit: bool,
}

impl Session {
    pub fn new(level: StatsLevel) -> Self {
        Session {
            level,
            interactive: false,
            quit: false,
        }
    }
}

fn find_server(
    rt: &Runtime,
    spec: Option<&String>,
) -> Result<(Arc<BackendState>, Arc<ServerState>), String> {
    let Some((bk, sv)) = spec.and_then(|s| s.split_once('/')) else {
        return Err("Require 'backend/server'.\n".into());
    };
    let Some(be) = rt.backend(bk) else {
        return Err("No such backend.\n".into());
    };
    let Some(s) = be.server(sv) else {
        return Err("No such server.\n".into());
    };
    Ok((be, s))
}

fn unknown(level: StatsLevel, args: &[String]) -> String {
    let first: Vec<String> = args.iter().take(1).cloned().collect();
    let matching = if first.is_empty() {
        String::new()
    } else {
        help_lines(level, &first)
    };
    if matching.is_empty() {
        format!(
            "Unknown command. Please enter one of the following commands only:\n{}",
            help_lines(level, &[])
        )
    } else {
        format!(
            "Unknown command, but maybe one of the following ones is a better match:\n{matching}"
        )
    }
}

const PERMISSION_DENIED: &str = "Permission denied\n";

/// Execute one command; returns its output (without the trailing prompt).
pub fn execute(rt: &Runtime, session: &mut Session, cmd: &str) -> String {
    let args = split_args(cmd);
    let command = parse_command(&args);
    if command.needs_admin() && session.level < StatsLevel::Admin {
        return PERMISSION_DENIED.into();
    }
    let now = unix_now();
    match command {
        Command::Help(filter) => format!(
            "The following commands are valid at this level:\n{}",
            help_lines(session.level, &filter)
        ),
        Command::Prompt => {
            session.interactive = !session.interactive;
            String::new()
        }
        Command::Quit => {
            session.quit = true;
            String::new()
        }
        Command::ShowInfo => show_info(rt),
        Command::ShowStat(rest) => {
            let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
            match parse_stat_args(&rest, |name| {
                rt.frontend(name)
                    .map(|fe| i64::from(fe.id))
                    .or_else(|| rt.backend(name).map(|be| i64::from(be.id)))
            }) {
                Ok(f) => show_stat_filtered(rt, now, &f),
                Err(e) => e,
            }
        }
        Command::ShowBackend => show_backend(rt),
        Command::ShowServersState(be) => match show_servers_state(rt, be.as_deref(), now) {
            Ok(s) | Err(s) => s,
        },
        Command::GetWeight(spec) => match find_server(rt, spec.as_ref()) {
            Err(e) => e,
            Ok((_, s)) => format!("{} (initial {})\n", s.weight(), s.initial_weight()),
        },
        Command::SetWeight(spec, w) => match find_server(rt, spec.as_ref()) {
            Err(e) => e,
            Ok((be, s)) => set_weight(&be, &s, &w),
        },
        Command::SetServer(spec, action) => {
            let (be, s) = match find_server(rt, spec.as_ref()) {
                Err(e) => return e,
                Ok(x) => x,
            };
            match action {
                ServerAction::State(target) => {
                    set_admin_state(&be, &s, target);
                    String::new()
                }
                ServerAction::BadState => {
                    "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".into()
                }
                ServerAction::Weight(w) => set_weight(&be, &s, &w),
                ServerAction::Health(up) => {
                    force_health(&be, &s, up);
                    String::new()
                }
                ServerAction::BadHealth => {
                    "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n".into()
                }
                ServerAction::Usage => {
                    "usage: set server <backend>/<server> health | state | weight\n".into()
                }
            }
        }
        Command::ShowVersion => format!("{}\n", env!("CARGO_PKG_VERSION")),
        Command::ClearCounters { all } => {
            clear_counters(rt, all);
            String::new()
        }
        Command::ShutdownSessions(spec) => match find_server(rt, spec.as_ref()) {
            Err(e) => e,
            Ok((_, s)) => {
                s.shutdown_sessions();
                String::new()
            }
        },
        Command::DisableServer(spec) => match find_server(rt, spec.as_ref()) {
            Err(e) => e,
            Ok((be, s)) => {
                set_admin_state(&be, &s, AdminState::Maint);
                String::new()
            }
        },
        Command::EnableServer(spec) => match find_server(rt, spec.as_ref()) {
            Err(e) => e,
            Ok((be, s)) => {
                if s.admin() == AdminState::Maint {
                    set_admin_state(&be, &s, AdminState::Ready);
                }
                String::new()
            }
        },
        Command::Unknown => unknown(session.level, &args),
    }
}

fn clear(c: &crate::state::Counters, all: bool) {
    c.smax.set(c.scur.get());
    c.qmax.set(c.qcur.get());
    if all {
        for k in [
            &c.stot, &c.bin, &c.bout, &c.econ, &c.eresp, &c.wretr, &c.wredis, &c.lbtot, &c.dreq,
        ] {
            k.set(0);
        }
    }
}

/// `clear counters [all]`: the maximum values, or every cumulated counter.
fn clear_counters(rt: &Runtime, all: bool) {
    for fe in rt.frontends().iter() {
        clear(&fe.counters, all);
    }
    for be in rt.backends().iter() {
        clear(&be.counters, all);
        for s in be.servers().iter() {
            clear(&s.counters, all);
            if all {
                s.update(|r| r.clear_counters());
            }
        }
    }
}

fn set_weight(be: &BackendState, s: &ServerState, text: &str) -> String {
    match parse_weight(s.initial_weight(), be.settings().algo, text) {
        Err(e) => e,
        Ok(w) => {
            be.update_server(s, |r| r.set_weight(w, unix_now()));
            note_availability(be);
            String::new()
        }
    }
}

/// `set server BE/SRV health up|down`: the health counter goes to fully
/// up or to 0 at once, as HAProxy does (ignored in maintenance or without
/// checks).
fn force_health(be: &BackendState, s: &ServerState, up: bool) {
    let c = be.update_server(s, |r| r.force(up, unix_now()));
    if c.transition.is_some() {
        let reason = crate::health::Reason::Text("changed from CLI");
        crate::checks::apply_transition(be, s, &c, reason, s.check_io.opts());
    }
}

/// Process a buffer of request bytes for a connection: every command
/// terminated by an unescaped `;` or a newline is executed (an unterminated
/// one waits for more input, and is dropped at close, as HAProxy does).
/// Returns the bytes to send back and how many input bytes were consumed.
pub fn process_input(rt: &Runtime, session: &mut Session, input: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut consumed = 0;
    loop {
        let rest = &input[consumed..];
        let Some(end) = command_end(rest) else {
            break;
        };
        let raw = String::from_utf8_lossy(&rest[..end]).into_owned();
        consumed += end + 1;
        let cmd = raw.strip_suffix('\r').unwrap_or(&raw);
        let resp = execute(rt, session, cmd);
        out.extend_from_slice(resp.as_bytes());
        if session.quit {
            break;
        }
        out.extend_from_slice(if session.interactive { b"\n> " } else { b"\n" });
    }
    (out, consumed)
}
