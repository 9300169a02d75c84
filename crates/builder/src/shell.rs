//! Dockerfile word processing: quote removal, escapes and variable expansion
//! (`$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`,
//! `${VAR+word}`, `${VAR:?msg}`), as Docker applies it to the arguments of
//! ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and ARG.
//!
//! Also the raw word splitter the parser uses for `ENV`/`LABEL`/`ARG`
//! (`key=value` pairs split on unquoted whitespace, quotes kept for later).

use std::collections::HashMap;

/// Errors from expanding a word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    #[error("missing '}}' in {0:?}")]
    MissingBrace(String),
    #[error("unsupported modifier ({modifier}) in substitution {word:?}")]
    BadModifier { word: String, modifier: String },
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("unterminated quote in {0:?}")]
    UnterminatedQuote(String),
}

/// Variables visible to an expansion.
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
}

impl Vars for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

/// `KEY=value` strings (an image's `Env`), the last definition winning.
pub struct EnvList<'a>(pub &'a [String]);

impl Vars for EnvList<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.0.iter().rev().find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            (k == name).then(|| v.to_string())
        })
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    vars: &'a dyn Vars,
    word: &'a str,
}

/// Expands one word: removes quotes, processes escapes, substitutes variables.
pub fn expand_word(word: &str, vars: &dyn Vars, escape: char) -> Result<String, ShellError> {
    let words = Lexer { chars: word.chars().collect(), pos: 0, escape, vars, word }.run(false)?;
    Ok(words.into_iter().next().unwrap_or_default())
}

/// Expands a word list: like [`expand_word`] but splits on unquoted whitespace.
pub fn expand_words(text: &str, vars: &dyn Vars, escape: char) -> Result<Vec<String>, ShellError> {
    Lexer { chars: text.chars().collect(), pos: 0, escape, vars, word: text }.run(true)
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn run(mut self, split: bool) -> Result<Vec<String>, ShellError> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        while let Some(c) = self.peek() {
            if split && c.is_whitespace() {
                self.pos += 1;
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                continue;
            }
            in_word = true;
            if c == self.escape {
                self.pos += 1;
                match self.next() {
                    Some(n) => cur.push(n),
                    None => cur.push(c),
                }
            } else if c == '\'' {
                self.pos += 1;
                loop {
                    match self.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err(ShellError::UnterminatedQuote(self.word.to_string())),
                    }
                }
            } else if c == '"' {
                self.pos += 1;
                loop {
                    match self.next() {
                        Some('"') => break,
                        Some('$') => {
                            let v = self.dollar()?;
                            cur.push_str(&v)
                        }
                        Some(e) if e == self.escape => match self.peek() {
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                cur.push(n)
                            }
                            _ => cur.push(e),
                        },
                        Some(n) => cur.push(n),
                        None => return Err(ShellError::UnterminatedQuote(self.word.to_string())),
                    }
                }
            } else if c == '$' {
                self.pos += 1;
                let v = self.dollar()?;
                if split {
                    // Unquoted expansions split into words.
                    let mut parts = v.split(char::is_whitespace).peekable();
                    while let Some(p) = parts.next() {
                        cur.push_str(p);
                        if parts.peek().is_some() && !cur.is_empty() {
                            words.push(std::mem::take(&mut cur));
                        }
                    }
                } else {
                    cur.push_str(&v);
                }
            } else {
                self.pos += 1;
                cur.push(c);
            }
        }
        if in_word || !split {
            words.push(cur);
        }
        Ok(words)
    }

    fn name(&mut self) -> String {
        let mut n = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                n.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        n
    }

    /// After a `$`: the substitution's value.
    fn dollar(&mut self) -> Result<String, ShellError> {
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                let name = self.name();
                match self.next() {
                    Some('}') => Ok(self.vars.get(&name).unwrap_or_default()),
                    Some(':') | Some('-') | Some('+') | Some('?') => {
                        self.pos -= 1;
                        let mut modifier = String::new();
                        if self.peek() == Some(':') {
                            modifier.push(':');
                            self.pos += 1;
                        }
                        match self.next() {
                            Some(m @ ('-' | '+' | '?')) => modifier.push(m),
                            other => {
                                return Err(ShellError::BadModifier {
                                    word: self.word.to_string(),
                                    modifier: format!("{modifier}{}", other.map(String::from).unwrap_or_default()),
                                })
                            }
                        }
                        let arg = self.brace_word()?;
                        let val = self.vars.get(&name);
                        let colon = modifier.starts_with(':');
                        let set = match &val {
                            Some(v) => !colon || !v.is_empty(),
                            None => false,
                        };
                        Ok(match modifier.trim_start_matches(':') {
                            "-" => {
                                if set {
                                    val.unwrap_or_default()
                                } else {
                                    arg
                                }
                            }
                            "+" => {
                                if set {
                                    arg
                                } else {
                                    String::new()
                                }
                            }
                            _ => {
                                if set {
                                    val.unwrap_or_default()
                                } else {
                                    let message =
                                        if arg.is_empty() { "is not allowed to be unset".into() } else { arg };
                                    return Err(ShellError::Required { name, message });
                                }
                            }
                        })
                    }
                    Some(c) => Err(ShellError::BadModifier { word: self.word.to_string(), modifier: c.to_string() }),
                    None => Err(ShellError::MissingBrace(self.word.to_string())),
                }
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let name = self.name();
                Ok(self.vars.get(&name).unwrap_or_default())
            }
            _ => Ok("$".to_string()),
        }
    }

    /// The word inside `${name:-word}`, up to the closing brace (expanded itself).
    fn brace_word(&mut self) -> Result<String, ShellError> {
        let mut out = String::new();
        loop {
            match self.next() {
                Some('}') => return Ok(out),
                Some('$') => {
                    let v = self.dollar()?;
                    out.push_str(&v)
                }
                Some('\'') => loop {
                    match self.next() {
                        Some('\'') => break,
                        Some(n) => out.push(n),
                        None => return Err(ShellError::MissingBrace(self.word.to_string())),
                    }
                },
                Some('"') => {}
                Some(e) if e == self.escape => {
                    if let Some(n) = self.next() {
                        out.push(n)
                    }
                }
                Some(c) => out.push(c),
                None => return Err(ShellError::MissingBrace(self.word.to_string())),
            }
        }
    }
}

/// Splits instruction text into words on unquoted, unescaped whitespace, keeping
/// quotes and escapes (Docker's `parseWords`, used for `ENV`, `LABEL`, `ARG`).
pub fn split_raw_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                cur.push(c);
            }
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some('\'') => cur.push(c),
            _ if c == escape => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> HashMap<String, String> {
        [("A", "one"), ("EMPTY", ""), ("SP", "x y")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn expands_like_docker() {
        let v = vars();
        let e = |w: &str| expand_word(w, &v, '\\').unwrap();
        assert_eq!(e("$A"), "one");
        assert_eq!(e("${A}x"), "onex");
        assert_eq!(e("${NOPE:-dflt}"), "dflt");
        assert_eq!(e("${EMPTY:-dflt}"), "dflt");
        assert_eq!(e("${EMPTY-dflt}"), "");
        assert_eq!(e("${A:+set}"), "set");
        assert_eq!(e("${NOPE:+set}"), "");
        assert_eq!(e("'$A'"), "$A");
        assert_eq!(e("\"$A b\""), "one b");
        assert_eq!(e("\\$A"), "$A");
        assert_eq!(e("a\\ b"), "a b");
        assert_eq!(e("$"), "$");
        assert_eq!(e("${NOPE:-$A}"), "one");
        assert!(expand_word("${A", &v, '\\').is_err());
        assert!(expand_word("${NOPE:?must be set}", &v, '\\').is_err());
    }

    #[test]
    fn splits_words_after_expansion() {
        let v = vars();
        assert_eq!(expand_words("$SP \"a b\" c", &v, '\\').unwrap(), vec!["x", "y", "a b", "c"]);
        assert_eq!(
            split_raw_words(r#"A="hello docker" B=x\ y C='q r'"#, '\\'),
            vec![r#"A="hello docker""#, r"B=x\ y", "C='q r'"]
        );
    }

    #[test]
    fn backtick_escape() {
        let v = vars();
        assert_eq!(expand_word("C:`$A", &v, '`').unwrap(), "C:$A");
        assert_eq!(expand_word("C:\\dir", &v, '`').unwrap(), "C:\\dir");
    }
}
