//! Splitting of script command lines the way keepalived does it: words
//! separated by blanks, `'...'` and `"..."` group (quotes removed, may be
//! glued to other text), backslash escapes (`\n`, `\t`, `\xHH`, octal `\NNN`,
//! `\cX` control characters; any other character stands for itself).

/// Why a command line could not be split.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("String '{src}': missing terminating {quote}")]
    UnmatchedQuote { src: String, quote: char },
    #[error("Missing escape char at end: '{src}'")]
    TrailingBackslash { src: String },
}

/// Split `src` into words. An unquoted `#` or `!` at the start of a word
/// ends the line (comment), as in the rest of keepalived.conf.
pub fn split(src: &str) -> Result<Vec<String>, SplitError> {
    Ok(split_words(src)?.into_iter().map(|w| w.text).collect())
}

/// One word of [`split_words`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Some part of the word was quoted or escaped.
    pub quoted: bool,
}

/// [`split`], telling which words had quotes or escapes.
pub fn split_words(src: &str) -> Result<Vec<Word>, SplitError> {
    let chars: Vec<char> = src.chars().collect();
    let n = chars.len();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < n && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= n || chars[i] == '#' || chars[i] == '!' {
            break;
        }
        let mut word = String::new();
        let mut quoted = false;
        let mut quote: Option<char> = None;
        while i < n {
            let c = chars[i];
            match quote {
                None if c.is_whitespace() => break,
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    quoted = true;
                    i += 1;
                }
                Some(q) if c == q => {
                    quote = None;
                    i += 1;
                }
                _ if c == '\\' => {
                    quoted = true;
                    i += 1;
                    if i >= n {
                        return Err(SplitError::TrailingBackslash {
                            src: src.to_string(),
                        });
                    }
                    i = escape(&chars, i, &mut word);
                }
                _ => {
                    word.push(c);
                    i += 1;
                }
            }
        }
        if let Some(q) = quote {
            return Err(SplitError::UnmatchedQuote {
                src: src.to_string(),
                quote: q,
            });
        }
        out.push(Word { text: word, quoted });
    }
    Ok(out)
}

/// `chars[i]` follows a backslash; push the character and return the next index.
fn escape(chars: &[char], mut i: usize, word: &mut String) -> usize {
    let n = chars.len();
    let c = chars[i];
    match c {
        'x' if i + 1 < n && chars[i + 1].is_ascii_hexdigit() => {
            i += 1;
            let mut v: u32 = 0;
            let mut k = 0;
            while i < n && k < 2 && chars[i].is_ascii_hexdigit() {
                v = v * 16 + chars[i].to_digit(16).unwrap_or(0);
                i += 1;
                k += 1;
            }
            word.push(char::from_u32(v).unwrap_or('?'));
            i
        }
        'c' if i + 1 < n => {
            let v = (chars[i + 1] as u32) & 0x1f;
            word.push(char::from_u32(v).unwrap_or('?'));
            i + 2
        }
        '0'..='7' => {
            let mut v: u32 = 0;
            let mut k = 0;
            while i < n && k < 3 && ('0'..='7').contains(&chars[i]) {
                v = v * 8 + chars[i].to_digit(8).unwrap_or(0);
                i += 1;
                k += 1;
            }
            word.push(char::from_u32(v & 0xff).unwrap_or('?'));
            i
        }
        _ => {
            word.push(match c {
                'a' => '\u{7}',
                'b' => '\u{8}',
                'E' | 'e' => '\u{1b}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'v' => '\u{b}',
                other => other,
            });
            i + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Vec<String> {
        split(x).unwrap()
    }

    #[test]
    fn plain_and_quoted_words() {
        assert_eq!(s("killall -0 haproxy"), ["killall", "-0", "haproxy"]);
        assert_eq!(s("  /bin/true  'a b'  c "), ["/bin/true", "a b", "c"]);
        assert_eq!(s(r#"sh -c "echo 'x y'""#), ["sh", "-c", "echo 'x y'"]);
        assert_eq!(s(r#"a"b c"d e"#), ["ab cd", "e"]);
        assert_eq!(s("x '' y"), ["x", "", "y"]);
        assert_eq!(s("x # comment"), ["x"]);
        assert_eq!(s("x '#' y"), ["x", "#", "y"]);
        assert!(s("").is_empty());
    }

    #[test]
    fn quotedness() {
        let w = split_words(r#"a "b" c\ d '}' }"#).unwrap();
        let q: Vec<bool> = w.iter().map(|w| w.quoted).collect();
        assert_eq!(q, [false, true, true, true, false]);
        assert_eq!(w[3].text, "}");
    }

    #[test]
    fn escapes() {
        assert_eq!(s(r"a\ b c"), ["a b", "c"]);
        assert_eq!(s(r"\x41\101\t\cA\q"), ["AA\t\u{1}q"]);
        assert_eq!(s(r#""a\"b""#), ["a\"b"]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            split("echo 'abc").unwrap_err().to_string(),
            "String 'echo 'abc': missing terminating '"
        );
        assert!(matches!(
            split("echo \\").unwrap_err(),
            SplitError::TrailingBackslash { .. }
        ));
    }
}
