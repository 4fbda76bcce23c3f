//! The stats socket's command language, pure: framing of the input into
//! commands, words, and the arguments of `show stat` and `set weight`.

use crate::lb::Algo;
use crate::server::AdminState;

/// One stats socket command, parsed from its words. Server specs
/// (`backend/server`) stay text: resolving them is the executor's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `help [filter words]`.
    Help(Vec<String>),
    /// `prompt`: toggles interactive mode.
    Prompt,
    Quit,
    ShowInfo,
    /// `show stat [args]` (see [`parse_stat_args`]).
    ShowStat(Vec<String>),
    ShowBackend,
    /// `show servers state [BACKEND]`.
    ShowServersState(Option<String>),
    ShowVersion,
    /// `get weight BE/SRV`.
    GetWeight(Option<String>),
    /// `set weight BE/SRV W`.
    SetWeight(Option<String>, String),
    /// `set server BE/SRV ...`.
    SetServer(Option<String>, ServerAction),
    /// `clear counters [all]`.
    ClearCounters {
        all: bool,
    },
    /// `shutdown sessions server BE/SRV`.
    ShutdownSessions(Option<String>),
    /// `disable server BE/SRV`.
    DisableServer(Option<String>),
    /// `enable server BE/SRV`.
    EnableServer(Option<String>),
    Unknown,
}

/// What `set server BE/SRV ...` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAction {
    /// `state ready|drain|maint`.
    State(AdminState),
    /// `state` with another word.
    BadState,
    /// `weight W`.
    Weight(String),
    /// `health up|down`.
    Health(bool),
    /// `health` with another word.
    BadHealth,
    /// No or another keyword.
    Usage,
}

impl Command {
    /// Only at `level admin`.
    pub fn needs_admin(&self) -> bool {
        matches!(
            self,
            Command::SetWeight(..)
                | Command::SetServer(..)
                | Command::ClearCounters { .. }
                | Command::ShutdownSessions(_)
                | Command::DisableServer(_)
                | Command::EnableServer(_)
        )
    }
}

/// Parse a command from its words (see [`split_args`]).
pub fn parse_command(args: &[String]) -> Command {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let arg = |i: usize| args.get(i).cloned();
    let owned = |r: &[&str]| r.iter().map(|s| s.to_string()).collect();
    match a.as_slice() {
        ["help", rest @ ..] => Command::Help(owned(rest)),
        ["prompt", ..] => Command::Prompt,
        ["quit", ..] => Command::Quit,
        ["show", "info", ..] => Command::ShowInfo,
        ["show", "stat", rest @ ..] => Command::ShowStat(owned(rest)),
        ["show", "backend", ..] => Command::ShowBackend,
        ["show", "servers", "state", ..] => Command::ShowServersState(arg(3)),
        ["show", "version", ..] => Command::ShowVersion,
        ["get", "weight", ..] => Command::GetWeight(arg(2)),
        ["set", "weight", ..] => Command::SetWeight(arg(2), arg(3).unwrap_or_default()),
        ["set", "server", ..] => {
            let value = a.get(4).copied().unwrap_or("");
            let action = match a.get(3).copied() {
                Some("state") => match value {
                    "ready" => ServerAction::State(AdminState::Ready),
                    "drain" => ServerAction::State(AdminState::Drain),
                    "maint" => ServerAction::State(AdminState::Maint),
                    _ => ServerAction::BadState,
                },
                Some("weight") => ServerAction::Weight(value.to_string()),
                Some("health") => match value {
                    "up" => ServerAction::Health(true),
                    "down" => ServerAction::Health(false),
                    _ => ServerAction::BadHealth,
                },
                _ => ServerAction::Usage,
            };
            Command::SetServer(arg(2), action)
        }
        ["clear", "counters", rest @ ..] => Command::ClearCounters {
            all: rest.first() == Some(&"all"),
        },
        ["shutdown", "sessions", "server", ..] => Command::ShutdownSessions(arg(3)),
        ["disable", "server", ..] => Command::DisableServer(arg(2)),
        ["enable", "server", ..] => Command::EnableServer(arg(2)),
        _ => Command::Unknown,
    }
}

/// Where the next command of `input` ends: the index of the first
/// unescaped `;` or newline (`\` escapes the next byte). `None` while the
/// command is unterminated.
pub fn command_end(input: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\\' => i += 2,
            b';' | b'\n' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// What `show stat [{<iid>|<proxy>} <type> <sid>] [no-maint] [up]` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatFilter {
    /// Proxy id, -1 = all.
    pub iid: i64,
    /// Bit mask: 1 frontends, 2 backends, 4 servers.
    pub types: i64,
    /// Server id, -1 = all.
    pub sid: i64,
    pub no_maint: bool,
    pub up: bool,
}

impl Default for StatFilter {
    fn default() -> Self {
        StatFilter {
            iid: -1,
            types: 7,
            sid: -1,
            no_maint: false,
            up: false,
        }
    }
}

/// C `atoi`: leading digits (with an optional sign), 0 otherwise.
pub fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let n: i64 = digits
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .take(18)
        .fold(0, |acc, c| {
            acc * 10 + i64::from(c.to_digit(10).unwrap_or(0))
        });
    if neg {
        -n
    } else {
        n
    }
}

/// Parse the arguments of `show stat`.
/// `proxy_id` resolves a proxy name to its id.
pub fn parse_stat_args(
    args: &[&str],
    proxy_id: impl Fn(&str) -> Option<i64>,
) -> Result<StatFilter, String> {
    let mut f = StatFilter::default();
    let mut rest = args;
    if args.len() >= 3 {
        let name = args[0];
        f.iid = proxy_id(name).unwrap_or_else(|| atoi(name));
        if f.iid == 0 {
            return Err("No such proxy.\n".into());
        }
        f.types = atoi(args[1]);
        f.sid = atoi(args[2]);
        rest = &args[3..];
    }
    for a in rest {
        match *a {
            "no-maint" => f.no_maint = true,
            "up" => f.up = true,
            "typed" | "json" | "desc" => {
                return Err(format!(
                    "proxyd does not support 'show stat {a}'; use plain 'show stat'.\n"
                ))
            }
            _ => {}
        }
    }
    Ok(f)
}

/// Parse a weight as `set server ... weight` does: absolute `0..=256` or
/// `N%` of the server's initial weight.
pub fn parse_weight(initial_weight: u32, algo: Algo, text: &str) -> Result<u32, String> {
    if text.is_empty() {
        return Err("Require <weight> or <weight%>.\n".into());
    }
    let digits_end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let num = &text[..digits_end];
    let rest = &text[digits_end..];
    let Ok(w) = num.parse::<i64>() else {
        return Err("Empty weight string empty or preceded by garbage".into());
    };
    let w = if rest == "%" {
        if w < 0 {
            return Err("Relative weight must be positive.\n".into());
        }
        (i64::from(initial_weight) * w.min(25600) / 100).min(256)
    } else if !(0..=256).contains(&w) {
        return Err("Absolute weight can only be between 0 and 256 inclusive.\n".into());
    } else if !rest.is_empty() {
        return Err("Trailing garbage in weight string".into());
    } else {
        w
    };
    let w = u32::try_from(w).unwrap_or(0);
    let static_algo = matches!(algo, Algo::StaticRr | Algo::Source);
    if w != 0 && w != initial_weight && static_algo {
        return Err(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n"
                .into(),
        );
    }
    Ok(w)
}

/// Split a command into words: blanks separate, `\` escapes the next
/// character.
pub fn split_args(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            ' ' | '\t' => {
                if in_word {
                    args.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            _ => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        args.push(cur);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_table() {
        use Command as C;
        use ServerAction as A;
        let s = |v: &str| Some(v.to_string());
        let cases: Vec<(&str, Command)> = vec![
            ("", C::Unknown),
            ("bogus", C::Unknown),
            ("show", C::Unknown),
            ("help", C::Help(vec![])),
            (
                "help show stat",
                C::Help(vec!["show".into(), "stat".into()]),
            ),
            ("prompt", C::Prompt),
            ("quit now", C::Quit),
            ("show info", C::ShowInfo),
            ("show stat", C::ShowStat(vec![])),
            (
                "show stat b 4 -1",
                C::ShowStat(vec!["b".into(), "4".into(), "-1".into()]),
            ),
            ("show backend", C::ShowBackend),
            ("show servers state", C::ShowServersState(None)),
            ("show servers state web", C::ShowServersState(s("web"))),
            ("show servers", C::Unknown),
            ("show version", C::ShowVersion),
            ("get weight", C::GetWeight(None)),
            ("get weight b/s", C::GetWeight(s("b/s"))),
            ("set weight b/s 3", C::SetWeight(s("b/s"), "3".into())),
            ("set weight b/s", C::SetWeight(s("b/s"), String::new())),
            (
                "set server b/s state ready",
                C::SetServer(s("b/s"), A::State(AdminState::Ready)),
            ),
            (
                "set server b/s state drain",
                C::SetServer(s("b/s"), A::State(AdminState::Drain)),
            ),
            (
                "set server b/s state maint",
                C::SetServer(s("b/s"), A::State(AdminState::Maint)),
            ),
            (
                "set server b/s state up",
                C::SetServer(s("b/s"), A::BadState),
            ),
            (
                "set server b/s weight 50%",
                C::SetServer(s("b/s"), A::Weight("50%".into())),
            ),
            (
                "set server b/s health up",
                C::SetServer(s("b/s"), A::Health(true)),
            ),
            (
                "set server b/s health down",
                C::SetServer(s("b/s"), A::Health(false)),
            ),
            (
                "set server b/s health stopping",
                C::SetServer(s("b/s"), A::BadHealth),
            ),
            ("set server b/s", C::SetServer(s("b/s"), A::Usage)),
            ("set server", C::SetServer(None, A::Usage)),
            ("clear counters", C::ClearCounters { all: false }),
            ("clear counters all", C::ClearCounters { all: true }),
            (
                "shutdown sessions server b/s",
                C::ShutdownSessions(s("b/s")),
            ),
            ("shutdown sessions", C::Unknown),
            ("disable server b/s", C::DisableServer(s("b/s"))),
            ("enable server b/s", C::EnableServer(s("b/s"))),
        ];
        for (line, want) in cases {
            assert_eq!(parse_command(&split_args(line)), want, "{line:?}");
        }
        assert!(!C::ShowInfo.needs_admin());
        assert!(!C::GetWeight(None).needs_admin());
        assert!(C::SetServer(None, A::Usage).needs_admin());
        assert!(C::ClearCounters { all: false }.needs_admin());
    }

    #[test]
    fn command_end_table() {
        let cases: &[(&[u8], Option<usize>)] = &[
            (b"", None),
            (b"show info", None),
            (b"show info\n", Some(9)),
            (b"a;b\n", Some(1)),
            (b"a\\;b\n", Some(4)),
            (b"a\\\nb;", Some(4)),
            (b"\\", None),
            (b";", Some(0)),
        ];
        for (input, want) in cases {
            assert_eq!(
                command_end(input),
                *want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn split_args_table() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("   ", &[]),
            ("show stat", &["show", "stat"]),
            ("  set  server\tb/s  ", &["set", "server", "b/s"]),
            ("a\\ b c", &["a b", "c"]),
            ("a\\;b", &["a;b"]),
            ("\\ ", &[" "]),
            ("x\\", &["x"]),
        ];
        for (line, want) in cases {
            assert_eq!(split_args(line), *want, "{line:?}");
        }
    }

    #[test]
    fn atoi_table() {
        for (s, want) in [
            ("", 0),
            ("12", 12),
            ("-3", -3),
            ("+7x", 7),
            ("  42", 42),
            ("abc", 0),
            ("-", 0),
        ] {
            assert_eq!(atoi(s), want, "{s:?}");
        }
    }

    #[test]
    fn stat_args_table() {
        let ids = |name: &str| match name {
            "web" => Some(3),
            _ => None,
        };
        let f = |iid, types, sid, no_maint, up| StatFilter {
            iid,
            types,
            sid,
            no_maint,
            up,
        };
        let cases: &[(&[&str], Result<StatFilter, &str>)] = &[
            (&[], Ok(StatFilter::default())),
            (&["web", "4", "-1"], Ok(f(3, 4, -1, false, false))),
            (&["2", "1", "-1", "up"], Ok(f(2, 1, -1, false, true))),
            (
                &["-1", "7", "-1", "no-maint"],
                Ok(f(-1, 7, -1, true, false)),
            ),
            (&["up"], Ok(f(-1, 7, -1, false, true))),
            (&["nope", "1", "1"], Err("No such proxy.\n")),
            (
                &["json"],
                Err("proxyd does not support 'show stat json'; use plain 'show stat'.\n"),
            ),
        ];
        for (args, want) in cases {
            let got = parse_stat_args(args, ids);
            assert_eq!(got, want.clone().map_err(String::from), "{args:?}");
        }
    }

    #[test]
    fn weight_table() {
        use Algo::{RoundRobin, StaticRr};
        let static_only =
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n";
        let cases: &[(u32, Algo, &str, Result<u32, &str>)] = &[
            (10, RoundRobin, "5", Ok(5)),
            (10, RoundRobin, "0", Ok(0)),
            (10, RoundRobin, "256", Ok(256)),
            (10, RoundRobin, "50%", Ok(5)),
            (10, RoundRobin, "1000%", Ok(100)),
            (200, RoundRobin, "1000%", Ok(256)),
            (10, RoundRobin, "", Err("Require <weight> or <weight%>.\n")),
            (
                10,
                RoundRobin,
                "abc",
                Err("Empty weight string empty or preceded by garbage"),
            ),
            (
                10,
                RoundRobin,
                "300",
                Err("Absolute weight can only be between 0 and 256 inclusive.\n"),
            ),
            (
                10,
                RoundRobin,
                "-5%",
                Err("Relative weight must be positive.\n"),
            ),
            (
                10,
                RoundRobin,
                "5x",
                Err("Trailing garbage in weight string"),
            ),
            (10, StaticRr, "0%", Ok(0)),
            (10, StaticRr, "100%", Ok(10)),
            (10, StaticRr, "10", Ok(10)),
            (10, StaticRr, "3", Err(static_only)),
        ];
        for (initial, algo, text, want) in cases {
            assert_eq!(
                parse_weight(*initial, *algo, text),
                want.map_err(String::from),
                "{initial} {algo:?} {text:?}"
            );
        }
    }
}
