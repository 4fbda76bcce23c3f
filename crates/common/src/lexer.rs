//! One lexer for both configuration dialects, with a position on every token.
//!
//! * [`Dialect::Haproxy`]: line oriented. Words are separated by blanks; `#`
//!   starts a comment; `"..."` allows escapes and `$VAR` expansion, `'...'`
//!   is literal; a backslash escapes the next character outside quotes.
//! * [`Dialect::Keepalived`]: line oriented too, but `{` and `}` are tokens of
//!   their own even when glued to a word, and `!` or `#` start a comment.
//!   [`block_tree`] turns the lines into a tree of nested blocks.
//!
//! The lexer never reads files itself apart from [`read_source`], so it is
//! pure and easy to test; `include` handling lives in the dialect parsers.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a token comes from: file name as given by the user, 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: u32,
}

impl Pos {
    pub fn new(file: &str, line: u32) -> Self {
        Pos {
            file: Arc::from(file),
            line,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One word of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The word after quote removal, escapes and variable expansion.
    pub text: String,
    pub pos: Pos,
    /// True when any part of the word was quoted (so `"{"` is not a brace).
    pub quoted: bool,
}

impl Token {
    pub fn is(&self, s: &str) -> bool {
        !self.quoted && self.text == s
    }
}

/// One logical line: its words, and the position of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub words: Vec<Token>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Haproxy,
    Keepalived,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    #[error("unmatched quote at position {col}")]
    UnmatchedQuote { pos: Pos, col: usize },
    #[error("unfinished escape sequence at end of line")]
    TrailingBackslash { pos: Pos },
    #[error("invalid hex escape sequence at position {col}")]
    BadHexEscape { pos: Pos, col: usize },
    #[error("unmatched brace in environment variable name at position {col}")]
    BadVariable { pos: Pos, col: usize },
    #[error("unexpected '}}'")]
    UnbalancedClose { pos: Pos },
    #[error("missing '}}' for block opened here")]
    UnclosedBlock { pos: Pos },
}

impl LexError {
    pub fn pos(&self) -> &Pos {
        match self {
            LexError::UnmatchedQuote { pos, .. }
            | LexError::TrailingBackslash { pos }
            | LexError::BadHexEscape { pos, .. }
            | LexError::BadVariable { pos, .. }
            | LexError::UnbalancedClose { pos }
            | LexError::UnclosedBlock { pos } => pos,
        }
    }
}

/// Environment lookup used for `$VAR` expansion in the HAProxy dialect.
/// Injected so that tests stay deterministic.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// No variables at all (tests).
pub struct NoEnv;

impl Env for NoEnv {
    fn get(&self, _name: &str) -> Option<String> {
        None
    }
}

/// Split `src` (the content of `file`) into lines of tokens.
/// Lines without any word are dropped.
pub fn lex(file: &str, src: &str, dialect: Dialect, env: &dyn Env) -> Result<Vec<Line>, LexError> {
    let file: Arc<str> = Arc::from(file);
    let mut out = Vec::new();
    for (idx, raw) in src.lines().enumerate() {
        let pos = Pos {
            file: file.clone(),
            line: (idx + 1) as u32,
        };
        let words = match dialect {
            Dialect::Haproxy => lex_haproxy_line(raw, &pos, env)?,
            Dialect::Keepalived => lex_keepalived_line(raw, &pos),
        };
        if !words.is_empty() {
            out.push(Line { words, pos });
        }
    }
    Ok(out)
}

fn lex_haproxy_line(raw: &str, pos: &Pos, env: &dyn Env) -> Result<Vec<Token>, LexError> {
    let chars: Vec<char> = raw.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    let n = chars.len();
    loop {
        while i < n && (chars[i] == ' ' || chars[i] == '\t' || chars[i] == '\r') {
            i += 1;
        }
        if i >= n || chars[i] == '#' {
            break;
        }
        let mut text = String::new();
        let mut quoted = false;
        while i < n {
            let c = chars[i];
            match c {
                ' ' | '\t' | '\r' => break,
                '#' => break,
                '\\' => {
                    i += 1;
                    if i >= n {
                        return Err(LexError::TrailingBackslash { pos: pos.clone() });
                    }
                    i = push_escape(&chars, i, &mut text, pos)?;
                }
                '\'' => {
                    quoted = true;
                    let start = i;
                    i += 1;
                    loop {
                        if i >= n {
                            return Err(LexError::UnmatchedQuote {
                                pos: pos.clone(),
                                col: start + 1,
                            });
                        }
                        if chars[i] == '\'' {
                            i += 1;
                            break;
                        }
                        text.push(chars[i]);
                        i += 1;
                    }
                }
                '"' => {
                    quoted = true;
                    let start = i;
                    i += 1;
                    loop {
                        if i >= n {
                            return Err(LexError::UnmatchedQuote {
                                pos: pos.clone(),
                                col: start + 1,
                            });
                        }
                        match chars[i] {
                            '"' => {
                                i += 1;
                                break;
                            }
                            '\\' => {
                                i += 1;
                                if i >= n {
                                    return Err(LexError::TrailingBackslash { pos: pos.clone() });
                                }
                                i = push_escape(&chars, i, &mut text, pos)?;
                            }
                            '$' => {
                                i = expand_var(&chars, i, &mut text, pos, env)?;
                            }
                            ch => {
                                text.push(ch);
                                i += 1;
                            }
                        }
                    }
                }
                '$' => {
                    i = expand_var(&chars, i, &mut text, pos, env)?;
                }
                ch => {
                    text.push(ch);
                    i += 1;
                }
            }
        }
        words.push(Token {
            text,
            pos: pos.clone(),
            quoted,
        });
    }
    Ok(words)
}

/// `chars[i]` is the character after a backslash. Returns the next index.
fn push_escape(chars: &[char], i: usize, text: &mut String, pos: &Pos) -> Result<usize, LexError> {
    match chars[i] {
        'n' => text.push('\n'),
        'r' => text.push('\r'),
        't' => text.push('\t'),
        'x' => {
            let hex: String = chars.iter().skip(i + 1).take(2).collect();
            if hex.len() != 2 {
                return Err(LexError::BadHexEscape {
                    pos: pos.clone(),
                    col: i,
                });
            }
            let v = u8::from_str_radix(&hex, 16).map_err(|_| LexError::BadHexEscape {
                pos: pos.clone(),
                col: i,
            })?;
            text.push(char::from(v));
            return Ok(i + 3);
        }
        other => text.push(other),
    }
    Ok(i + 1)
}

/// `chars[i]` is `$`. Expands `$NAME` or `${NAME}`; a `$` not followed by a
/// name is kept literally. Returns the next index.
fn expand_var(
    chars: &[char],
    i: usize,
    text: &mut String,
    pos: &Pos,
    env: &dyn Env,
) -> Result<usize, LexError> {
    let n = chars.len();
    let mut j = i + 1;
    if j < n && chars[j] == '{' {
        let start = j + 1;
        j = start;
        while j < n && chars[j] != '}' {
            j += 1;
        }
        if j >= n {
            return Err(LexError::BadVariable {
                pos: pos.clone(),
                col: i + 1,
            });
        }
        let name: String = chars[start..j].iter().collect();
        text.push_str(&env.get(&name).unwrap_or_default());
        return Ok(j + 1);
    }
    let start = j;
    while j < n && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    if j == start {
        text.push('$');
        return Ok(i + 1);
    }
    let name: String = chars[start..j].iter().collect();
    text.push_str(&env.get(&name).unwrap_or_default());
    Ok(j)
}

fn lex_keepalived_line(raw: &str, pos: &Pos) -> Vec<Token> {
    scan_keepalived_line(raw, pos).0
}

/// The words of a keepalived line and, when a quote is left open, the
/// 1-based column of that quote.
fn scan_keepalived_line(raw: &str, pos: &Pos) -> (Vec<Token>, Option<usize>) {
    let mut unterminated = None;
    let chars: Vec<char> = raw.chars().collect();
    let n = chars.len();
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < n && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= n || chars[i] == '!' || chars[i] == '#' {
            break;
        }
        if chars[i] == '{' || chars[i] == '}' {
            words.push(Token {
                text: chars[i].to_string(),
                pos: pos.clone(),
                quoted: false,
            });
            i += 1;
            continue;
        }
        let mut text = String::new();
        let mut quoted = false;
        while i < n {
            let c = chars[i];
            if c.is_whitespace() || c == '{' || c == '}' {
                break;
            }
            if c == '"' {
                // keepalived: a quoted string runs to the closing quote; an
                // unterminated one runs to the end of the line.
                quoted = true;
                let start = i;
                i += 1;
                while i < n && chars[i] != '"' {
                    text.push(chars[i]);
                    i += 1;
                }
                if i >= n {
                    unterminated = Some(start + 1);
                }
                i += 1;
                continue;
            }
            text.push(c);
            i += 1;
        }
        words.push(Token {
            text,
            pos: pos.clone(),
            quoted,
        });
    }
    (words, unterminated)
}

/// A keepalived-style statement: its words and, when followed by `{ ... }`,
/// the statements of the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub words: Vec<Token>,
    pub block: Option<Vec<Item>>,
    pub pos: Pos,
}

impl Item {
    /// The keyword (first word); empty for an anonymous `{ }` block.
    pub fn keyword(&self) -> &str {
        self.words.first().map(|t| t.text.as_str()).unwrap_or("")
    }
    /// Arguments after the keyword.
    pub fn args(&self) -> &[Token] {
        if self.words.is_empty() {
            &[]
        } else {
            &self.words[1..]
        }
    }
}

/// Build the block tree of keepalived-style lines. A `{` opens a block that
/// belongs to the words before it on the same statement; `}` closes it.
/// Words after a `{` or `}` on the same line start a new statement.
pub fn block_tree(lines: &[Line]) -> Result<Vec<Item>, LexError> {
    // Stack of (items of the open block, item that owns the block).
    let mut stack: Vec<(Vec<Item>, Item)> = Vec::new();
    let mut current: Vec<Item> = Vec::new();
    for line in lines {
        let mut words: Vec<Token> = Vec::new();
        let mut stmt_pos = line.pos.clone();
        for tok in &line.words {
            if tok.is("{") {
                let owner = Item {
                    words: std::mem::take(&mut words),
                    block: None,
                    pos: stmt_pos.clone(),
                };
                let owner = if owner.words.is_empty() {
                    // `{` on its own line: it belongs to the previous statement.
                    match current.pop() {
                        Some(prev) if prev.block.is_none() => prev,
                        Some(prev) => {
                            current.push(prev);
                            Item {
                                words: Vec::new(),
                                block: None,
                                pos: tok.pos.clone(),
                            }
                        }
                        None => Item {
                            words: Vec::new(),
                            block: None,
                            pos: tok.pos.clone(),
                        },
                    }
                } else {
                    owner
                };
                stack.push((std::mem::take(&mut current), owner));
                stmt_pos = tok.pos.clone();
            } else if tok.is("}") {
                if !words.is_empty() {
                    current.push(Item {
                        words: std::mem::take(&mut words),
                        block: None,
                        pos: stmt_pos.clone(),
                    });
                }
                let Some((parent, mut owner)) = stack.pop() else {
                    return Err(LexError::UnbalancedClose {
                        pos: tok.pos.clone(),
                    });
                };
                owner.block = Some(std::mem::replace(&mut current, parent));
                current.push(owner);
                stmt_pos = tok.pos.clone();
            } else {
                if words.is_empty() {
                    stmt_pos = tok.pos.clone();
                }
                words.push(tok.clone());
            }
        }
        if !words.is_empty() {
            current.push(Item {
                words,
                block: None,
                pos: stmt_pos,
            });
        }
    }
    if let Some((_, owner)) = stack.pop() {
        return Err(LexError::UnclosedBlock { pos: owner.pos });
    }
    Ok(current)
}

/// Read a configuration file as text, with an error that names the file.
/// Bytes that are not UTF-8 (a Latin-1 comment, say) are read as Latin-1,
/// one character per byte: HAProxy and keepalived read bytes and accept
/// them.
pub fn read_source(path: &Path) -> std::io::Result<String> {
    std::fs::read(path).map(decode_source)
}

/// Decode a configuration file's bytes: valid UTF-8 as is, every byte of an
/// invalid sequence as the Latin-1 character of the same value.
pub fn decode_source(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let bytes = e.into_bytes();
            let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                out.extend(chunk.invalid().iter().map(|&b| char::from(b)));
            }
            out
        }
    }
}

/// Quotes left open in keepalived.conf: keepalived reports each one as
/// `Unterminated quote '<line>'` and `-t` then exits 5, though the line
/// is still used (the quoted word runs to the end of the line, as
/// [`lex`] reads it). Returns one [`LexError::UnmatchedQuote`] per such
/// line, in order, with the column of the opening quote.
pub fn keepalived_unterminated_quotes(file: &str, src: &str) -> Vec<LexError> {
    let file: Arc<str> = Arc::from(file);
    let mut out = Vec::new();
    for (idx, raw) in src.lines().enumerate() {
        let pos = Pos {
            file: file.clone(),
            line: (idx + 1) as u32,
        };
        if let (_, Some(col)) = scan_keepalived_line(raw, &pos) {
            out.push(LexError::UnmatchedQuote { pos, col });
        }
    }
    out
}

/// Expand a keepalived/haproxy-style include pattern (glob) relative to the
/// directory of the including file. Results are sorted; no match is an empty
/// list (the caller decides whether that is an error).
pub fn expand_include(
    pattern: &str,
    including_file: &Path,
) -> Result<Vec<PathBuf>, glob::PatternError> {
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        including_file
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(pattern)
    };
    let mut out: Vec<PathBuf> = glob::glob(&full.to_string_lossy())?
        .filter_map(Result::ok)
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct MapEnv;
    impl Env for MapEnv {
        fn get(&self, name: &str) -> Option<String> {
            (name == "PORT").then(|| "8080".to_string())
        }
    }

    fn words(src: &str, d: Dialect) -> Vec<Vec<String>> {
        lex("t.cfg", src, d, &MapEnv)
            .unwrap()
            .into_iter()
            .map(|l| l.words.into_iter().map(|t| t.text).collect())
            .collect()
    }

    #[test]
    fn latin1_bytes_decode_one_char_per_byte() {
        let s = decode_source(b"global\n # caf\xe9 \xff\n daemon\n".to_vec());
        assert_eq!(s, "global\n # caf\u{e9} \u{ff}\n daemon\n");
        // Valid UTF-8 is untouched.
        assert_eq!(decode_source("é".as_bytes().to_vec()), "é");
        let lines = lex("t.cfg", &s, Dialect::Haproxy, &NoEnv).unwrap();
        assert_eq!(lines.len(), 2);
        let lines = lex("t.conf", &s, Dialect::Keepalived, &NoEnv).unwrap();
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn read_source_accepts_latin1() {
        let dir = std::env::temp_dir().join(format!("lexer-latin1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("l.cfg");
        std::fs::write(&f, b"# \xe9t\xe9\nglobal\n").unwrap();
        let s = read_source(&f).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(s, "# \u{e9}t\u{e9}\nglobal\n");
    }

    #[test]
    fn keepalived_unterminated_quote_is_reported() {
        let src = "global_defs {\n router_id \"abc\n x \"a b\" # \"c\n}\n";
        let e = keepalived_unterminated_quotes("k.conf", src);
        assert_eq!(e.len(), 1);
        assert!(matches!(&e[0], LexError::UnmatchedQuote { pos, col: 12 } if pos.line == 2));
        // The line is still lexed as keepalived reads it.
        let w = words(src, Dialect::Keepalived);
        assert_eq!(w[1], vec!["router_id", "abc"]);
    }

    #[test]
    fn haproxy_words_comments_and_lines() {
        let src = "global\n  log /dev/log local0 # comment\n\n# full comment\nfrontend  mysite\n";
        assert_eq!(
            words(src, Dialect::Haproxy),
            vec![
                vec!["global"],
                vec!["log", "/dev/log", "local0"],
                vec!["frontend", "mysite"]
            ]
        );
        let lines = lex("t.cfg", src, Dialect::Haproxy, &NoEnv).unwrap();
        assert_eq!(lines[2].pos.line, 5);
        assert_eq!(lines[2].words[1].pos.to_string(), "t.cfg:5");
    }

    #[test]
    fn haproxy_quotes_escapes_and_vars() {
        assert_eq!(
            words(
                r#"a "b c" 'd $PORT' "$PORT" ${PORT}x e\ f g\#h "\x41""#,
                Dialect::Haproxy
            ),
            vec![vec![
                "a", "b c", "d $PORT", "8080", "8080x", "e f", "g#h", "A"
            ]]
        );
        assert_eq!(words("a $ b", Dialect::Haproxy), vec![vec!["a", "$", "b"]]);
        assert_eq!(
            words("bind :$UNSET", Dialect::Haproxy),
            vec![vec!["bind", ":"]]
        );
    }

    #[test]
    fn haproxy_errors() {
        let e = lex("f", "a \"b", Dialect::Haproxy, &NoEnv).unwrap_err();
        assert!(matches!(e, LexError::UnmatchedQuote { col: 3, .. }));
        assert_eq!(e.pos().line, 1);
        assert!(matches!(
            lex("f", "x\na \\", Dialect::Haproxy, &NoEnv).unwrap_err(),
            LexError::TrailingBackslash { .. }
        ));
        assert!(matches!(
            lex("f", "a \\xZZ", Dialect::Haproxy, &NoEnv).unwrap_err(),
            LexError::BadHexEscape { .. }
        ));
        assert!(matches!(
            lex("f", "a ${X", Dialect::Haproxy, &NoEnv).unwrap_err(),
            LexError::BadVariable { .. }
        ));
    }

    #[test]
    fn keepalived_braces_and_comments() {
        let src = "vrrp_instance vif1{ ! c\n  state MASTER # x\n  virtual_ipaddress {\n 10.0.2.100\n }\n}\n";
        assert_eq!(
            words(src, Dialect::Keepalived),
            vec![
                vec!["vrrp_instance", "vif1", "{"],
                vec!["state", "MASTER"],
                vec!["virtual_ipaddress", "{"],
                vec!["10.0.2.100"],
                vec!["}"],
                vec!["}"]
            ]
        );
        assert_eq!(
            words(r#"script "killall -0 haproxy""#, Dialect::Keepalived),
            vec![vec!["script", "killall -0 haproxy"]]
        );
    }

    #[test]
    fn block_tree_nesting() {
        let src = "global_defs {\n router_id lb1\n}\nvrrp_instance vif1\n{\n priority 101\n virtual_ipaddress { 10.0.2.100 10.0.2.101 }\n unicast_peer {\n  10.0.0.2\n }\n}\n";
        let lines = lex("k.conf", src, Dialect::Keepalived, &NoEnv).unwrap();
        let tree = block_tree(&lines).unwrap();
        assert_eq!(tree.len(), 2);
        assert_eq!(tree[0].keyword(), "global_defs");
        assert_eq!(tree[1].keyword(), "vrrp_instance");
        assert_eq!(tree[1].args()[0].text, "vif1");
        assert_eq!(tree[1].pos.line, 4);
        let inner = tree[1].block.as_ref().unwrap();
        assert_eq!(inner[0].keyword(), "priority");
        assert_eq!(inner[1].keyword(), "virtual_ipaddress");
        let vips = inner[1].block.as_ref().unwrap();
        assert_eq!(vips.len(), 1);
        assert_eq!(vips[0].words.len(), 2);
        let peers = inner[2].block.as_ref().unwrap();
        assert_eq!(peers[0].keyword(), "10.0.0.2");
        assert_eq!(peers[0].pos.line, 9);
    }

    #[test]
    fn block_tree_errors() {
        let l = lex("k", "a {\n b\n", Dialect::Keepalived, &NoEnv).unwrap();
        assert!(matches!(
            block_tree(&l).unwrap_err(),
            LexError::UnclosedBlock { pos } if pos.line == 1
        ));
        let l = lex("k", "a\n}\n", Dialect::Keepalived, &NoEnv).unwrap();
        assert!(matches!(
            block_tree(&l).unwrap_err(),
            LexError::UnbalancedClose { pos } if pos.line == 2
        ));
    }

    #[test]
    fn quoted_brace_is_a_word() {
        let l = lex("k", "a \"{\"\n", Dialect::Keepalived, &NoEnv).unwrap();
        let t = block_tree(&l).unwrap();
        assert_eq!(t.len(), 1);
        assert!(t[0].block.is_none());
        assert_eq!(t[0].words[1].text, "{");
    }
}
