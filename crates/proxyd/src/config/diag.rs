//! Diagnostics in HAProxy's output format.
//!
//! `[ALERT]    (1234) : config : parsing [haproxy.cfg:12] : unknown keyword ...`

use std::fmt;

use super::model::Pos;

/// Severity of a diagnostic, as HAProxy prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Alert,
    Warning,
    Notice,
}

impl Level {
    pub fn tag(self) -> &'static str {
        match self {
            Level::Alert => "[ALERT]",
            Level::Warning => "[WARNING]",
            Level::Notice => "[NOTICE]",
        }
    }
}

/// One diagnostic. `text` is everything after `config : `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    pub level: Level,
    /// Where it comes from, when it is tied to a line.
    pub pos: Option<Pos>,
    pub text: String,
}

impl Diag {
    /// `parsing [FILE:LINE] : MSG` alert.
    pub fn alert(pos: &Pos, msg: impl fmt::Display) -> Diag {
        Diag {
            level: Level::Alert,
            pos: Some(pos.clone()),
            text: format!("parsing [{pos}] : {msg}"),
        }
    }

    /// `parsing [FILE:LINE] : MSG` warning.
    pub fn warning(pos: &Pos, msg: impl fmt::Display) -> Diag {
        Diag {
            level: Level::Warning,
            pos: Some(pos.clone()),
            text: format!("parsing [{pos}] : {msg}"),
        }
    }

    /// A diagnostic whose text is given verbatim (with or without a position).
    pub fn raw(level: Level, pos: Option<&Pos>, text: impl Into<String>) -> Diag {
        Diag {
            level,
            pos: pos.cloned(),
            text: text.into(),
        }
    }

    /// The full line(s) as HAProxy prints them, with the given pid.
    pub fn render(&self, pid: u32) -> String {
        format!("{:<10} ({pid}) : config : {}", self.level.tag(), self.text)
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(std::process::id()))
    }
}

/// The configuration was rejected. `diags` holds every alert and warning in
/// the order they were found (at least one alert).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} fatal error(s) in the configuration", self.alerts().count())]
pub struct Errors {
    pub diags: Vec<Diag>,
}

impl Errors {
    pub fn alerts(&self) -> impl Iterator<Item = &Diag> {
        self.diags.iter().filter(|d| d.level == Level::Alert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_format() {
        let p = Pos::new("/etc/haproxy/haproxy.cfg", 12);
        let d = Diag::alert(&p, "unknown keyword 'bogus' in 'backend' section");
        assert_eq!(
            d.render(1234),
            "[ALERT]    (1234) : config : parsing [/etc/haproxy/haproxy.cfg:12] : unknown keyword 'bogus' in 'backend' section"
        );
        let w = Diag::raw(
            Level::Warning,
            None,
            "missing timeouts for frontend 'mysite'.",
        );
        assert_eq!(
            w.render(7),
            "[WARNING]  (7) : config : missing timeouts for frontend 'mysite'."
        );
        assert!(Diag::raw(Level::Notice, None, "x")
            .render(1)
            .starts_with("[NOTICE]   (1)"));
    }
}
