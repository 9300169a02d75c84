//! Splits a Go template into text and action tokens, following `text/template/parse`'s lexer:
//! `{{`/`}}` delimiters, `{{- ` and ` -}}` whitespace trimming, `{{/* comments */}}`, and the
//! tokens of an action (fields, variables, literals, identifiers, `|`, `:=`, parentheses).

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Ident(String),
    Field(String),
    Dot,
    Var(String),
    Str(String),
    Char(char),
    Number(String),
    Bool(bool),
    Nil,
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
    Keyword(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
    pub line: usize,
}

const KEYWORDS: [&str; 10] = ["if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"];

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    line: usize,
    tokens: Vec<Token>,
    paren_depth: usize,
}

/// Tokenize `src`. Text tokens already have trim markers applied.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer { src, pos: 0, line: 1, tokens: Vec::new(), paren_depth: 0 };
    lx.run()?;
    Ok(lx.tokens)
}

impl<'s> Lexer<'s> {
    fn err(&self, msg: impl Into<String>) -> ParseError {
        ParseError { line: self.line, message: msg.into() }
    }

    fn push(&mut self, tok: Tok, pos: usize) {
        let line = 1 + self.src[..pos].matches('\n').count();
        self.tokens.push(Token { tok, pos, line });
    }

    fn rest(&self) -> &'s str {
        &self.src[self.pos..]
    }

    fn advance_to(&mut self, pos: usize) {
        self.line += self.src[self.pos..pos].matches('\n').count();
        self.pos = pos;
    }

    fn run(&mut self) -> Result<(), ParseError> {
        let mut trim_next_text = false;
        loop {
            let start = self.pos;
            let (text_end, found) = match self.rest().find("{{") {
                Some(i) => (start + i, true),
                None => (self.src.len(), false),
            };
            let mut text = &self.src[start..text_end];
            if trim_next_text {
                text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            }
            // left trim marker: "{{- " (dash followed by a space character)
            let bytes = self.src.as_bytes();
            let left_trim = found
                && bytes.get(text_end + 2) == Some(&b'-')
                && bytes.get(text_end + 3).is_some_and(|b| is_space(*b));
            if left_trim {
                text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            }
            if !text.is_empty() {
                self.push(Tok::Text(text.to_string()), start);
            }
            self.advance_to(text_end);
            if !found {
                self.push(Tok::Eof, self.pos);
                return Ok(());
            }
            let delim_pos = self.pos;
            let mut after = self.pos + 2;
            if left_trim {
                after += 2;
            }
            self.advance_to(after);
            // comments: {{/* ... */}}
            if self.rest().starts_with("/*") {
                let Some(end) = self.rest().find("*/") else {
                    return Err(self.err("unclosed comment"));
                };
                let end = self.pos + end + 2;
                self.advance_to(end);
                let (right_trim, len) = self.at_right_delim();
                if len == 0 {
                    return Err(self.err("comment ends before closing delimiter"));
                }
                self.advance_to(self.pos + len);
                trim_next_text = right_trim;
                continue;
            }
            self.push(Tok::LeftDelim, delim_pos);
            trim_next_text = self.lex_action()?;
        }
    }

    /// At a right delimiter? Returns (trim marker present, length to skip).
    fn at_right_delim(&self) -> (bool, usize) {
        let r = self.rest().as_bytes();
        if r.len() >= 4 && is_space(r[0]) && &r[1..4] == b"-}}" {
            return (true, 4);
        }
        if r.starts_with(b"}}") {
            return (false, 2);
        }
        (false, 0)
    }

    /// Lex the inside of an action up to and including its right delimiter.
    /// Returns whether the following text must be left-trimmed.
    fn lex_action(&mut self) -> Result<bool, ParseError> {
        loop {
            let (trim, len) = self.at_right_delim();
            if len > 0 {
                if self.paren_depth > 0 {
                    return Err(self.err("unclosed left paren"));
                }
                let p = self.pos;
                self.advance_to(p + len);
                self.push(Tok::RightDelim, p);
                return Ok(trim);
            }
            let start = self.pos;
            let Some(c) = self.rest().chars().next() else {
                return Err(self.err("unclosed action"));
            };
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    // consume the run of spaces, stopping before a " -}}" trim marker
                    let b = self.src.as_bytes();
                    let mut end = start;
                    while end < b.len() && is_space(b[end]) && !b[end + 1..].starts_with(b"-}}") {
                        end += 1;
                    }
                    self.advance_to(end.max(start + 1));
                    self.push(Tok::Space, start);
                }
                '"' => {
                    let s = self.lex_quote()?;
                    self.push(Tok::Str(s), start);
                }
                '`' => {
                    let Some(end) = self.rest()[1..].find('`') else {
                        return Err(self.err("unterminated raw quoted string"));
                    };
                    let s = self.rest()[1..1 + end].to_string();
                    self.advance_to(start + end + 2);
                    self.push(Tok::Str(s), start);
                }
                '\'' => {
                    let ch = self.lex_char()?;
                    self.push(Tok::Char(ch), start);
                }
                '$' => {
                    let n: usize = self.rest()[1..].chars().take_while(|c| is_alnum(*c)).map(char::len_utf8).sum();
                    let name = self.rest()[..1 + n].to_string();
                    self.advance_to(start + 1 + n);
                    self.push(Tok::Var(name), start);
                    self.check_terminator()?;
                }
                '.' => {
                    let next = self.rest()[1..].chars().next();
                    match next {
                        Some(d) if d.is_ascii_digit() => self.lex_number()?,
                        Some(a) if is_alnum(a) => {
                            let n: usize =
                                self.rest()[1..].chars().take_while(|c| is_alnum(*c)).map(char::len_utf8).sum();
                            let name = self.rest()[1..1 + n].to_string();
                            self.advance_to(start + 1 + n);
                            self.push(Tok::Field(name), start);
                            self.check_terminator()?;
                        }
                        _ => {
                            self.advance_to(start + 1);
                            self.push(Tok::Dot, start);
                        }
                    }
                }
                '0'..='9' => self.lex_number()?,
                '+' | '-' if self.rest()[1..].chars().next().is_some_and(|d| d.is_ascii_digit() || d == '.') => {
                    self.lex_number()?
                }
                '(' => {
                    self.paren_depth += 1;
                    self.advance_to(start + 1);
                    self.push(Tok::LParen, start);
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return Err(self.err("unexpected right paren"));
                    }
                    self.paren_depth -= 1;
                    self.advance_to(start + 1);
                    self.push(Tok::RParen, start);
                }
                '|' => {
                    self.advance_to(start + 1);
                    self.push(Tok::Pipe, start);
                }
                ',' => {
                    self.advance_to(start + 1);
                    self.push(Tok::Comma, start);
                }
                '=' => {
                    self.advance_to(start + 1);
                    self.push(Tok::Assign, start);
                }
                ':' => {
                    if !self.rest().starts_with(":=") {
                        return Err(self.err("expected :="));
                    }
                    self.advance_to(start + 2);
                    self.push(Tok::Declare, start);
                }
                c if is_alnum(c) => {
                    let n: usize = self.rest().chars().take_while(|c| is_alnum(*c)).map(char::len_utf8).sum();
                    let word = &self.src[start..start + n];
                    let tok = match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        w => match KEYWORDS.iter().find(|k| **k == w) {
                            Some(k) => Tok::Keyword(k),
                            None => Tok::Ident(w.to_string()),
                        },
                    };
                    self.advance_to(start + n);
                    self.push(tok, start);
                    self.check_terminator()?;
                }
                c => return Err(self.err(format!("unrecognized character in action: U+{:04X} '{}'", c as u32, c))),
            }
        }
    }

    /// After a word, Go requires a space, delimiter, or punctuation.
    fn check_terminator(&self) -> Result<(), ParseError> {
        let r = self.rest();
        if r.is_empty() || r.starts_with("}}") {
            return Ok(());
        }
        let c = r.chars().next().unwrap_or(' ');
        if matches!(c, ' ' | '\t' | '\r' | '\n' | '.' | ',' | '|' | ':' | ')' | '(' | '=') {
            return Ok(());
        }
        Err(self.err(format!("bad character U+{:04X} '{}'", c as u32, c)))
    }

    fn lex_number(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        let mut i = start;
        if matches!(bytes[i], b'+' | b'-') {
            i += 1;
        }
        let hex = bytes[i..].starts_with(b"0x") || bytes[i..].starts_with(b"0X");
        if hex {
            i += 2;
        }
        while i < bytes.len() {
            let b = bytes[i];
            let ok = if hex {
                b.is_ascii_hexdigit() || b == b'_'
            } else if matches!(b, b'+' | b'-') {
                matches!(bytes[i - 1], b'e' | b'E')
            } else {
                b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'_')
            };
            if !ok {
                break;
            }
            i += 1;
        }
        let text = &self.src[start..i];
        if self.src[i..].chars().next().is_some_and(|c| is_alnum(c) && !c.is_ascii_digit()) {
            let end = i + self.src[i..].chars().take_while(|c| is_alnum(*c)).map(char::len_utf8).sum::<usize>();
            return Err(self.err(format!("bad number syntax: \"{}\"", &self.src[start..end])));
        }
        self.push(Tok::Number(text.to_string()), start);
        self.advance_to(i);
        Ok(())
    }

    fn lex_quote(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let mut out = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.advance_to(start + 1 + i + 1);
                    return Ok(out);
                }
                '\n' => break,
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    match e {
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'v' => out.push('\u{b}'),
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        '\'' => out.push('\''),
                        'x' | 'u' | 'U' => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String = (0..n).filter_map(|_| chars.next().map(|x| x.1)).collect();
                            let code = u32::from_str_radix(&hex, 16).map_err(|_| self.err("invalid syntax"))?;
                            out.push(char::from_u32(code).ok_or_else(|| self.err("invalid syntax"))?);
                        }
                        '0'..='7' => {
                            let mut oct = String::from(e);
                            for _ in 0..2 {
                                if let Some((_, d)) = chars.next() {
                                    oct.push(d);
                                }
                            }
                            let code = u32::from_str_radix(&oct, 8).map_err(|_| self.err("invalid syntax"))?;
                            out.push(char::from_u32(code).ok_or_else(|| self.err("invalid syntax"))?);
                        }
                        _ => return Err(self.err("invalid syntax")),
                    }
                }
                c => out.push(c),
            }
        }
        Err(self.err("unterminated quoted string"))
    }

    fn lex_char(&mut self) -> Result<char, ParseError> {
        let start = self.pos;
        let Some(end) = self.src[start + 1..].find('\'') else {
            return Err(self.err("unterminated character constant"));
        };
        let body = &self.src[start + 1..start + 1 + end];
        let ch = match body {
            "\\n" => '\n',
            "\\t" => '\t',
            "\\r" => '\r',
            "\\\\" => '\\',
            "\\'" => '\'',
            b => {
                let mut it = b.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) => c,
                    _ => return Err(self.err(format!("malformed character constant: '{b}'"))),
                }
            }
        };
        self.advance_to(start + end + 2);
        Ok(ch)
    }
}
