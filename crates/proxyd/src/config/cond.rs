//! HAProxy's conditional blocks (`.if`/`.elif`/`.else`/`.endif`) and the
//! `.diag`/`.notice`/`.warning`/`.alert` directives.
//!
//! Conditions: `defined(NAME)`, `feature(NAME)` (proxyd has none of
//! HAProxy's optional features, so always false), `streq(a,b)`,
//! `strneq(a,b)`, `version_atleast(V)` / `version_before(V)` (against the
//! HAProxy version proxyd mirrors, [`HAPROXY_VERSION`]),
//! `openssl_version_atleast/before` and `ssllib_name_startswith` (false: no
//! SSL library), numbers (non-zero is true), an empty condition (false),
//! `!`, `&&`, `||` and parentheses.

use common::lexer::Env;

/// The HAProxy version whose behaviour proxyd mirrors.
pub const HAPROXY_VERSION: &str = "2.6.12";

/// A directive line, recognised by its first (unquoted) word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    If,
    Elif,
    Else,
    Endif,
    Diag,
    Notice,
    Warning,
    Alert,
}

impl Directive {
    pub fn from_word(w: &str) -> Option<Directive> {
        Some(match w {
            ".if" => Directive::If,
            ".elif" => Directive::Elif,
            ".else" => Directive::Else,
            ".endif" => Directive::Endif,
            ".diag" => Directive::Diag,
            ".notice" => Directive::Notice,
            ".warning" => Directive::Warning,
            ".alert" => Directive::Alert,
            _ => return None,
        })
    }
}

/// One open `.if` block.
#[derive(Debug, Clone)]
pub struct Block {
    /// Whether the enclosing level is active.
    pub parent_active: bool,
    /// A branch of this block has been taken already.
    pub taken: bool,
    /// The current branch is active.
    pub active: bool,
    pub seen_else: bool,
}

/// Evaluate a condition. `Err(position)` (1-based, in `text`) when it
/// cannot be parsed.
pub fn eval(text: &str, env: &dyn Env) -> Result<bool, usize> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = CondParser {
        s: &chars,
        i: 0,
        env,
    };
    p.skip_ws();
    if p.i >= chars.len() {
        return Ok(false);
    }
    let v = p.or_expr()?;
    p.skip_ws();
    if p.i < chars.len() {
        return Err(p.i + 1);
    }
    Ok(v)
}

struct CondParser<'a> {
    s: &'a [char],
    i: usize,
    env: &'a dyn Env,
}

impl CondParser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.skip_ws();
        let t: Vec<char> = tok.chars().collect();
        if self.s[self.i..].starts_with(&t) {
            self.i += t.len();
            true
        } else {
            false
        }
    }

    fn or_expr(&mut self) -> Result<bool, usize> {
        let mut v = self.and_expr()?;
        while self.eat("||") {
            let r = self.and_expr()?;
            v = v || r;
        }
        Ok(v)
    }

    fn and_expr(&mut self) -> Result<bool, usize> {
        let mut v = self.term()?;
        while self.eat("&&") {
            let r = self.term()?;
            v = v && r;
        }
        Ok(v)
    }

    fn term(&mut self) -> Result<bool, usize> {
        self.skip_ws();
        let start = self.i;
        if self.eat("!") {
            return Ok(!self.term()?);
        }
        if self.eat("(") {
            let v = self.or_expr()?;
            if !self.eat(")") {
                return Err(self.i + 1);
            }
            return Ok(v);
        }
        // A number, or a predicate name followed by its arguments.
        let name_start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == '_')
        {
            self.i += 1;
        }
        let name: String = self.s[name_start..self.i].iter().collect();
        if name.is_empty() {
            return Err(start + 1);
        }
        if name.chars().all(|c| c.is_ascii_digit()) {
            return Ok(name.chars().any(|c| c != '0'));
        }
        if self.i >= self.s.len() || self.s[self.i] != '(' {
            return Err(start + 1);
        }
        self.i += 1;
        let args_start = self.i;
        while self.i < self.s.len() && self.s[self.i] != ')' {
            self.i += 1;
        }
        if self.i >= self.s.len() {
            return Err(start + 1);
        }
        let raw: String = self.s[args_start..self.i].iter().collect();
        self.i += 1;
        let args: Vec<&str> = if raw.is_empty() {
            Vec::new()
        } else {
            raw.split(',').collect()
        };
        let one = |args: &[&str]| -> Result<String, usize> {
            match args {
                [a] => Ok((*a).to_string()),
                _ => Err(start + 1),
            }
        };
        Ok(match name.as_str() {
            "defined" => self.env.get(&one(&args)?).is_some(),
            "feature" => {
                one(&args)?;
                false
            }
            "streq" | "strneq" => match args.as_slice() {
                [a, b] => (a == b) == (name == "streq"),
                _ => return Err(start + 1),
            },
            "version_atleast" => version_cmp(HAPROXY_VERSION, &one(&args)?).is_ge(),
            "version_before" => version_cmp(HAPROXY_VERSION, &one(&args)?).is_lt(),
            "openssl_version_atleast" | "openssl_version_before" | "ssllib_name_startswith" => {
                one(&args)?;
                false
            }
            _ => return Err(start + 1),
        })
    }
}

/// Compare dotted versions numerically (missing parts are 0, text after
/// the digits of a part is ignored).
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<u64> {
        s.split(['.', '-'])
            .map(|p| {
                let d: String = p.chars().take_while(char::is_ascii_digit).collect();
                d.parse().unwrap_or(0)
            })
            .collect()
    };
    let (pa, pb) = (parts(a), parts(b));
    let n = pa.len().max(pb.len());
    for i in 0..n {
        let x = pa.get(i).copied().unwrap_or(0);
        let y = pb.get(i).copied().unwrap_or(0);
        if x != y {
            return x.cmp(&y);
        }
    }
    std::cmp::Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    struct E;
    impl Env for E {
        fn get(&self, name: &str) -> Option<String> {
            (name == "HOME").then(|| "/root".to_string())
        }
    }

    #[test]
    fn conditions_like_haproxy_cc() {
        // Same answers as `haproxy -cc` 2.6 on these expressions.
        let cases = [
            ("defined(HOME)", true),
            ("defined(NOPE)", false),
            ("!defined(NOPE)", true),
            ("streq(a,a)", true),
            ("strneq(a,b)", true),
            ("streq(a, a)", false),
            ("version_atleast(2.4)", true),
            ("version_atleast(2.6.12)", true),
            ("version_atleast(2.7)", false),
            ("version_before(2.6)", false),
            ("version_before(3.0)", true),
            ("defined(HOME) && streq(a,b)", false),
            ("defined(HOME) || streq(a,b)", true),
            ("defined(HOME)&&0", false),
            ("!defined(HOME) || 0", false),
            ("(defined(HOME))", true),
            ("1", true),
            ("0", false),
            ("", false),
            ("1 || 0 && 0", true),
            ("feature(OPENSSL)", false),
        ];
        for (c, want) in cases {
            assert_eq!(eval(c, &E), Ok(want), "{c}");
        }
        assert_eq!(eval("bogus(x)", &E), Err(1));
        assert_eq!(eval("1 junk", &E), Err(3));
        assert!(eval("(1", &E).is_err());
        assert!(eval("defined(a,b)", &E).is_err());
        assert!(eval("streq(a)", &E).is_err());
        assert!(eval("name", &E).is_err());
    }
}
