//! Builds the template tree from tokens, with the checks `text/template/parse` makes at
//! parse time: known functions, declared variables, matching `{{end}}`, `{{break}}` only
//! inside `{{range}}`, and executable pipeline stages.

use super::lex::{Tok, Token};
use super::ParseError;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub args: Vec<Operand>,
}

#[derive(Debug, Clone)]
pub(crate) struct Operand {
    pub pos: usize,
    pub term: Term,
    /// Field chain applied after the term (`.A.B` on dot, `$x.A`, `(pipe).A`).
    pub fields: Vec<String>,
    /// The operand as written, for error messages (`<.Foo>`).
    pub src: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Term {
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Var(String),
    /// A field chain on dot: `.A.B` (the names are in `Operand::fields`).
    Field,
    Ident(String),
    Pipe(Box<Pipe>),
}

pub(crate) struct Parser<'t> {
    tokens: Vec<Token>,
    idx: usize,
    src: &'t str,
    is_func: &'t dyn Fn(&str) -> bool,
    vars: Vec<String>,
    range_depth: usize,
}

enum Stop {
    Eof,
    End,
    Else,
}

impl<'t> Parser<'t> {
    pub(crate) fn new(tokens: Vec<Token>, src: &'t str, is_func: &'t dyn Fn(&str) -> bool) -> Self {
        Parser { tokens, idx: 0, src, is_func, vars: vec!["$".to_string()], range_depth: 0 }
    }

    pub(crate) fn parse(mut self) -> Result<Vec<Node>, ParseError> {
        let (list, end) = self.list()?;
        match end {
            Stop::Eof => Ok(list),
            Stop::End => Err(self.err_at_prev("unexpected {{end}}")),
            Stop::Else => Err(self.err_at_prev("unexpected {{else}}")),
        }
    }

    fn line(&self) -> usize {
        self.tokens.get(self.idx).or(self.tokens.last()).map_or(1, |t| t.line)
    }

    fn err(&self, msg: impl Into<String>) -> ParseError {
        ParseError { line: self.line(), message: msg.into() }
    }

    fn err_at_prev(&self, msg: impl Into<String>) -> ParseError {
        let line = self.tokens[..self.idx.min(self.tokens.len())].last().map_or(1, |t| t.line);
        ParseError { line, message: msg.into() }
    }

    fn peek(&self) -> &Tok {
        &self.tokens[self.idx.min(self.tokens.len() - 1)].tok
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.idx.min(self.tokens.len() - 1)].clone();
        if self.idx < self.tokens.len() {
            self.idx += 1;
        }
        t
    }

    fn peek_non_space(&mut self) -> &Tok {
        while *self.peek() == Tok::Space {
            self.idx += 1;
        }
        self.peek()
    }

    fn next_non_space(&mut self) -> Token {
        self.peek_non_space();
        self.next()
    }

    fn expect_right_delim(&mut self, context: &str) -> Result<(), ParseError> {
        match self.next_non_space().tok {
            Tok::RightDelim => Ok(()),
            other => Err(self.err_at_prev(format!("unexpected {} in {context}", describe(&other)))),
        }
    }

    /// Nodes up to `{{end}}`, `{{else}}` or the end of input (the terminator is consumed,
    /// except for the rest of an `{{else ...}}` action).
    fn list(&mut self) -> Result<(Vec<Node>, Stop), ParseError> {
        let mut nodes = Vec::new();
        loop {
            let tok = self.next();
            match tok.tok {
                Tok::Eof => return Ok((nodes, Stop::Eof)),
                Tok::Text(t) => nodes.push(Node::Text(t)),
                Tok::LeftDelim => match self.peek_non_space().clone() {
                    Tok::Keyword("end") => {
                        self.next();
                        self.expect_right_delim("end")?;
                        return Ok((nodes, Stop::End));
                    }
                    Tok::Keyword("else") => {
                        self.next();
                        return Ok((nodes, Stop::Else));
                    }
                    Tok::Keyword(k) => {
                        self.next();
                        nodes.push(self.keyword(k)?);
                    }
                    _ => {
                        let pipe = self.pipeline("command", true, false)?;
                        nodes.push(Node::Action(pipe));
                    }
                },
                other => return Err(self.err(format!("unexpected {}", describe(&other)))),
            }
        }
    }

    fn keyword(&mut self, k: &'static str) -> Result<Node, ParseError> {
        match k {
            "if" | "with" => Ok(self.branch(k)?),
            "range" => {
                self.range_depth += 1;
                let node = self.branch(k);
                self.range_depth -= 1;
                node
            }
            "break" | "continue" => {
                if self.range_depth == 0 {
                    return Err(self.err(format!("{{{{{k}}}}} outside {{{{range}}}}")));
                }
                self.expect_right_delim(k)?;
                Ok(if k == "break" { Node::Break } else { Node::Continue })
            }
            other => Err(self.err(format!("{{{{{other}}}}} is not supported by skiff's templates"))),
        }
    }

    /// `if`, `range`, `with`: pipeline, list, optional else (including `else if`/`else with`).
    fn branch(&mut self, k: &'static str) -> Result<Node, ParseError> {
        let mark = self.vars.len();
        let pipe = self.pipeline(k, true, k == "range")?;
        let (list, end) = self.list()?;
        let else_list = match end {
            Stop::Eof => return Err(self.err("unexpected EOF")),
            Stop::End => None,
            Stop::Else => {
                let chained = match self.peek_non_space() {
                    Tok::Keyword(w) if (*w == "if" && k == "if") || (*w == "with" && k == "with") => Some(*w),
                    _ => None,
                };
                if let Some(w) = chained {
                    // {{else if ...}} is an if nested in the else branch sharing one {{end}}
                    self.next();
                    Some(vec![self.branch(w)?])
                } else {
                    self.expect_right_delim("else")?;
                    let (else_list, end) = self.list()?;
                    match end {
                        Stop::End => Some(else_list),
                        Stop::Eof => return Err(self.err("unexpected EOF")),
                        Stop::Else => return Err(self.err_at_prev("expected end; found {{else}}")),
                    }
                }
            }
        };
        self.vars.truncate(mark);
        let b = Branch { pipe, list, else_list };
        Ok(match k {
            "if" => Node::If(b),
            "with" => Node::With(b),
            _ => Node::Range(b),
        })
    }

    /// A pipeline up to the closing `}}` (or `)` when `context` is a parenthesized pipeline).
    fn pipeline(&mut self, context: &str, allow_decl: bool, range: bool) -> Result<Pipe, ParseError> {
        let mut pipe = Pipe { decl: Vec::new(), is_assign: false, cmds: Vec::new() };
        if allow_decl {
            self.declarations(&mut pipe, range)?;
        }
        let closing = if context == "parenthesized pipeline" { Tok::RParen } else { Tok::RightDelim };
        loop {
            let tok = self.peek_non_space().clone();
            if tok == closing {
                self.next();
                break;
            }
            match tok {
                Tok::Pipe if !pipe.cmds.is_empty() => {
                    self.next();
                }
                Tok::Pipe => return Err(self.err("missing value for command")),
                Tok::RightDelim | Tok::RParen | Tok::Eof => {
                    return Err(self.err(format!("unexpected {} in {context}", describe(&tok))))
                }
                _ => {}
            }
            let cmd = self.command()?;
            pipe.cmds.push(cmd);
        }
        if pipe.cmds.is_empty() {
            return Err(self.err(format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0].term,
                Term::Bool(_) | Term::Dot | Term::Nil | Term::Int(_) | Term::Float(_) | Term::Str(_)
            ) {
                return Err(self.err(format!("non executable command in pipeline stage {}", i + 1)));
            }
        }
        Ok(pipe)
    }

    /// `$x :=`, `$x =`, and `$i, $e :=` in range.
    fn declarations(&mut self, pipe: &mut Pipe, range: bool) -> Result<(), ParseError> {
        let save = self.idx;
        let Tok::Var(first) = self.peek_non_space().clone() else {
            return Ok(());
        };
        self.next();
        match self.peek_non_space().clone() {
            Tok::Declare | Tok::Assign => {
                let assign = *self.peek() == Tok::Assign;
                self.next();
                if assign && !self.vars.contains(&first) {
                    return Err(self.err(format!("undefined variable \"{first}\"")));
                }
                pipe.is_assign = assign;
                pipe.decl.push(first.clone());
                if !assign {
                    self.vars.push(first);
                }
            }
            Tok::Comma if range => {
                self.next();
                let Tok::Var(second) = self.peek_non_space().clone() else {
                    return Err(self.err("range can only initialize variables"));
                };
                self.next();
                if *self.peek_non_space() != Tok::Declare {
                    return Err(self.err("range can only initialize variables"));
                }
                self.next();
                pipe.decl = vec![first.clone(), second.clone()];
                self.vars.push(first);
                self.vars.push(second);
            }
            _ => self.idx = save,
        }
        Ok(())
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        let mut args = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::Space => {
                    self.next();
                    continue;
                }
                Tok::RightDelim | Tok::RParen | Tok::Pipe => break,
                Tok::Eof => return Err(self.err("unclosed action")),
                _ => {}
            }
            if !args.is_empty() && !matches!(self.tokens[self.idx - 1].tok, Tok::Space) {
                return Err(self.err(format!("missing space? unexpected {}", describe(self.peek()))));
            }
            args.push(self.operand()?);
        }
        if args.is_empty() {
            return Err(self.err("empty command"));
        }
        Ok(Command { args })
    }

    fn operand(&mut self) -> Result<Operand, ParseError> {
        let tok = self.next();
        let pos = tok.pos;
        let mut fields = Vec::new();
        let term = match tok.tok {
            Tok::Dot => Term::Dot,
            Tok::Nil => Term::Nil,
            Tok::Bool(b) => Term::Bool(b),
            Tok::Char(c) => Term::Int(c as i64),
            Tok::Str(s) => Term::Str(s),
            Tok::Number(n) => parse_number(&n).ok_or_else(|| self.err(format!("illegal number syntax: \"{n}\"")))?,
            Tok::Field(f) => {
                fields.push(f);
                Term::Field
            }
            Tok::Var(v) => {
                if !self.vars.contains(&v) {
                    return Err(self.err(format!("undefined variable \"{v}\"")));
                }
                Term::Var(v)
            }
            Tok::Ident(name) => {
                if !(self.is_func)(&name) {
                    return Err(self.err(format!("function \"{name}\" not defined")));
                }
                Term::Ident(name)
            }
            Tok::LParen => Term::Pipe(Box::new(self.pipeline("parenthesized pipeline", false, false)?)),
            other => return Err(self.err(format!("unexpected {} in operand", describe(&other)))),
        };
        while let Tok::Field(f) = self.peek().clone() {
            if matches!(term, Term::Bool(_) | Term::Int(_) | Term::Float(_) | Term::Str(_) | Term::Nil) {
                return Err(
                    self.err(format!("unexpected . after term \"{}\"", &self.src[pos..self.tokens[self.idx].pos]))
                );
            }
            self.next();
            fields.push(f);
        }
        let end = self.tokens.get(self.idx).map_or(self.src.len(), |t| t.pos);
        let src = self.src.get(pos..end).unwrap_or("").trim_end().to_string();
        Ok(Operand { pos, term, fields, src })
    }
}

fn parse_number(text: &str) -> Option<Term> {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else {
        body.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Some(Term::Int(if neg { -i } else { i }));
    }
    let f: f64 = body.parse().ok()?;
    Some(Term::Float(if neg { -f } else { f }))
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::RightDelim => "\"}}\"".to_string(),
        Tok::LeftDelim => "\"{{\"".to_string(),
        Tok::RParen => "\")\"".to_string(),
        Tok::Eof => "EOF".to_string(),
        Tok::Keyword(k) => format!("<{k}>"),
        Tok::Ident(i) => format!("<{i}>"),
        Tok::Field(f) => format!("<.{f}>"),
        Tok::Var(v) => format!("<{v}>"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Number(n) => n.clone(),
        Tok::Pipe => "\"|\"".to_string(),
        Tok::Declare => "\":=\"".to_string(),
        Tok::Assign => "\"=\"".to_string(),
        Tok::Comma => "\",\"".to_string(),
        other => format!("{other:?}"),
    }
}
