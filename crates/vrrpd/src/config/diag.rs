//! Diagnostics in keepalived's style: `(FILE: Line N) message`.

use std::fmt;

use common::lexer::Pos;

/// How bad a diagnostic is. The order of the variants is not meaningful;
/// see [`exit_code`] for keepalived's `-t` exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Printed, changes nothing (keepalived reports these and exits 0 with
    /// `-t`, e.g. a missing include file or an ignored e-mail keyword).
    Note,
    /// A problem keepalived reports (`-t` exits 5) but vrrpd still runs the
    /// configuration (e.g. an interface that does not exist yet).
    Warning,
    /// The configuration is rejected by vrrpd (`-t` exits 5 like keepalived,
    /// which usually runs anyway with a default; vrrpd refuses to guess).
    Error,
    /// keepalived cannot run the configuration (`-t` exits 4): main file
    /// missing or unreadable.
    Fatal,
    /// Scripts would run as root without `enable_script_security` (`-t`
    /// exits 6 like keepalived); vrrpd still runs them, as keepalived does.
    Security,
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: Option<Pos>,
    pub message: String,
}

impl Diagnostic {
    /// True if vrrpd refuses a configuration with this diagnostic.
    pub fn rejects(&self) -> bool {
        matches!(self.severity, Severity::Error | Severity::Fatal)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pos {
            Some(p) => write!(f, "({}: Line {}) {}", p.file, p.line, self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// keepalived's `-t` exit status for a set of diagnostics: 0 when clean,
/// 6 when a script-security problem was found, else 5 for any configuration
/// error or warning, else 4 for fatal problems (keepalived keeps the last
/// category of its list, so a security error wins over everything).
pub fn exit_code(diags: &[Diagnostic]) -> i32 {
    if diags.iter().any(|d| d.severity == Severity::Security) {
        6
    } else if diags
        .iter()
        .any(|d| matches!(d.severity, Severity::Error | Severity::Warning))
    {
        5
    } else if diags.iter().any(|d| d.severity == Severity::Fatal) {
        4
    } else {
        0
    }
}

/// A configuration vrrpd refuses, with every diagnostic found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.diagnostics))]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

fn render(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags.iter().filter(|d| d.rejects()) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&d.to_string());
    }
    if out.is_empty() {
        out.push_str("invalid configuration");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(severity: Severity) -> Diagnostic {
        Diagnostic {
            severity,
            pos: Some(Pos::new("/x.conf", 4)),
            message: "Unknown keyword 'bogus_keyword'".into(),
        }
    }

    #[test]
    fn display_and_exit_codes() {
        assert_eq!(
            d(Severity::Error).to_string(),
            "(/x.conf: Line 4) Unknown keyword 'bogus_keyword'"
        );
        assert_eq!(exit_code(&[]), 0);
        assert_eq!(exit_code(&[d(Severity::Note)]), 0);
        assert_eq!(exit_code(&[d(Severity::Fatal)]), 4);
        assert_eq!(exit_code(&[d(Severity::Fatal), d(Severity::Warning)]), 5);
        assert_eq!(exit_code(&[d(Severity::Error), d(Severity::Security)]), 6);
        let e = ConfigError {
            diagnostics: vec![d(Severity::Warning), d(Severity::Error)],
        };
        assert_eq!(
            e.to_string(),
            "(/x.conf: Line 4) Unknown keyword 'bogus_keyword'"
        );
    }
}
