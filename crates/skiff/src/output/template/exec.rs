//! Runs a parsed template against a JSON value with `text/template`'s rules: map-style field
//! lookup (`<no value>` for a missing key), pipelines passing the previous result as the last
//! argument, `if`/`with`/`range` truthiness, variables and `{{break}}`/`{{continue}}`.

use serde_json::Value;

use super::funcs::{call, truth, CallCtx};
use super::parse::{Branch, Command, Node, Operand, Pipe, Term};
use super::printf::{format_v, type_name};
use super::ExecOptions;

/// Where Go's errors place an operand: a field chain (`.Config.Nope`, `$x.A`) is one node that
/// starts at the field after its head (Go's parser folds the chain into the node at the chain's
/// position: `.Config.Nope` is at `.Nope`); anything else at its start.
fn error_pos(op: &Operand) -> usize {
    let after_head = match op.term {
        Term::Field if op.fields.len() > 1 => op.src.get(1..).and_then(|s| s.find('.')).map(|i| i + 1),
        Term::Var(_) if !op.fields.is_empty() => op.src.find('.'),
        _ => None,
    };
    op.pos + after_head.unwrap_or(0)
}

/// The Go type of a `docker ps` row, which has the `Label` method.
pub const CONTAINER_CONTEXT: &str = "*formatter.ContainerContext";

/// A value during execution: borrowed from the data, computed, or Go's invalid value
/// (a missing map key), which prints as `<no value>`.
#[derive(Debug, Clone)]
enum Val<'a> {
    Ref(&'a Value),
    Own(Value),
    Invalid,
}

impl<'a> Val<'a> {
    fn get(&self) -> Option<&Value> {
        match self {
            Val::Ref(v) => Some(v),
            Val::Own(v) => Some(v),
            Val::Invalid => None,
        }
    }

    fn to_value(&self) -> Value {
        self.get().cloned().unwrap_or(Value::Null)
    }
}

/// An execution failure at an operand of the template.
#[derive(Debug)]
pub(crate) struct ExecError {
    pub pos: usize,
    pub context: String,
    pub message: String,
}

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct State<'a, 'o> {
    root: &'a Value,
    vars: Vec<(String, Val<'a>)>,
    out: &'o mut String,
    opts: ExecOptions,
}

type Res<T> = Result<T, ExecError>;

impl<'a, 'o> State<'a, 'o> {
    pub(crate) fn new(root: &'a Value, out: &'o mut String, opts: ExecOptions) -> Self {
        State { root, vars: vec![("$".to_string(), Val::Ref(root))], out, opts }
    }

    pub(crate) fn run(&mut self, nodes: &[Node]) -> Res<()> {
        let dot = Val::Ref(self.root);
        self.walk(nodes, &dot).map(|_| ())
    }

    fn walk(&mut self, nodes: &[Node], dot: &Val<'a>) -> Res<Flow> {
        for node in nodes {
            let flow = match node {
                Node::Text(t) => {
                    self.out.push_str(t);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let v = self.eval_pipe(pipe, dot)?;
                    if pipe.decl.is_empty() {
                        self.print(&v);
                    } else {
                        self.declare(pipe, v);
                    }
                    Flow::Normal
                }
                Node::If(b) => self.branch(b, dot, false)?,
                Node::With(b) => self.branch(b, dot, true)?,
                Node::Range(b) => self.range(b, dot)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if !matches!(flow, Flow::Normal) {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn print(&mut self, v: &Val<'a>) {
        match v.get() {
            // Go unwraps a nil interface{} into an invalid value, so a JSON null prints like a missing key
            None | Some(Value::Null) => self.out.push_str("<no value>"),
            Some(Value::String(s)) => self.out.push_str(s),
            Some(other) => self.out.push_str(&format_v(other)),
        }
    }

    fn declare(&mut self, pipe: &Pipe, v: Val<'a>) {
        let name = &pipe.decl[0];
        if pipe.is_assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
            }
        } else {
            self.vars.push((name.clone(), v));
        }
    }

    fn branch(&mut self, b: &Branch, dot: &Val<'a>, with: bool) -> Res<Flow> {
        let mark = self.vars.len();
        let v = self.eval_pipe(&b.pipe, dot)?;
        if !b.pipe.decl.is_empty() {
            self.declare(&b.pipe, v.clone());
        }
        let flow = if truth(v.get()) {
            let inner = if with { v } else { dot.clone() };
            self.walk(&b.list, &inner)?
        } else if let Some(else_list) = &b.else_list {
            self.walk(else_list, dot)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn range(&mut self, b: &Branch, dot: &Val<'a>) -> Res<Flow> {
        let mark = self.vars.len();
        let v = self.eval_pipe(&b.pipe, dot)?;
        let items: Vec<(Value, Val<'a>)> = match &v {
            Val::Invalid => Vec::new(),
            Val::Ref(Value::Null) | Val::Own(Value::Null) => Vec::new(),
            Val::Ref(Value::Array(a)) => a.iter().enumerate().map(|(i, e)| (Value::from(i), Val::Ref(e))).collect(),
            Val::Own(Value::Array(a)) => {
                a.iter().enumerate().map(|(i, e)| (Value::from(i), Val::Own(e.clone()))).collect()
            }
            Val::Ref(Value::Object(o)) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                keys.into_iter().map(|k| (Value::String(k.clone()), Val::Ref(&o[k]))).collect()
            }
            Val::Own(Value::Object(o)) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                keys.into_iter().map(|k| (Value::String(k.clone()), Val::Own(o[k].clone()))).collect()
            }
            Val::Ref(_) | Val::Own(_) => {
                let op = &b.pipe.cmds[0].args[0];
                let shown = v.get().map(format_v).unwrap_or_default();
                return Err(self.err(op, format!("range can't iterate over {shown}")));
            }
        };
        if items.is_empty() {
            let flow = match &b.else_list {
                Some(list) => self.walk(list, dot)?,
                None => Flow::Normal,
            };
            self.vars.truncate(mark);
            return Ok(flow);
        }
        for (key, elem) in items {
            let inner_mark = self.vars.len();
            match b.pipe.decl.len() {
                1 => self.vars.push((b.pipe.decl[0].clone(), elem.clone())),
                2 => {
                    self.vars.push((b.pipe.decl[0].clone(), Val::Own(key)));
                    self.vars.push((b.pipe.decl[1].clone(), elem.clone()));
                }
                _ => {}
            }
            let flow = self.walk(&b.list, &elem)?;
            self.vars.truncate(inner_mark);
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn err(&self, op: &Operand, message: impl Into<String>) -> ExecError {
        ExecError { pos: error_pos(op), context: op.src.clone(), message: message.into() }
    }

    fn eval_pipe(&mut self, pipe: &Pipe, dot: &Val<'a>) -> Res<Val<'a>> {
        let mut last: Option<Val<'a>> = None;
        for cmd in &pipe.cmds {
            last = Some(self.eval_cmd(cmd, dot, last.take())?);
        }
        Ok(last.unwrap_or(Val::Invalid))
    }

    fn eval_cmd(&mut self, cmd: &Command, dot: &Val<'a>, fin: Option<Val<'a>>) -> Res<Val<'a>> {
        let first = &cmd.args[0];
        if let Term::Ident(name) = &first.term {
            if first.fields.is_empty() {
                return self.call_func(first, name, &cmd.args[1..], dot, fin);
            }
        }
        if let (Term::Field, [method]) = (&first.term, first.fields.as_slice()) {
            let at_root = matches!(dot, Val::Ref(r) if std::ptr::eq(*r, self.root));
            if method == "Label" && at_root && self.opts.context_type == Some(CONTAINER_CONTEXT) {
                return self.container_label(first, &cmd.args[1..], dot, fin);
            }
        }
        if cmd.args.len() > 1 || fin.is_some() {
            let msg = match first.term {
                Term::Field => {
                    format!("{} is not a method but has arguments", first.fields.last().map_or("", String::as_str))
                }
                _ => format!("can't give argument to non-function {}", first.src),
            };
            return Err(self.err(first, msg));
        }
        if let Term::Nil = first.term {
            return Err(self.err(first, "nil is not a command"));
        }
        self.eval_operand(first, dot)
    }

    /// `{{.Label "name"}}` of a `docker ps` row: Docker's `ContainerContext.Label`, the value of that
    /// label or "" (the row's `Labels` holds them as `k=v,k2=v2`).
    fn container_label(&mut self, op: &Operand, args: &[Operand], dot: &Val<'a>, fin: Option<Val<'a>>) -> Res<Val<'a>> {
        let mut vals = Vec::new();
        for a in args {
            vals.push(self.eval_arg(a, dot)?.to_value());
        }
        vals.extend(fin.map(|f| f.to_value()));
        let [Value::String(name)] = vals.as_slice() else {
            return Err(match vals.as_slice() {
                [other] => self.err(op, format!("wrong type for value; expected string; got {}", type_name(other))),
                _ => self.err(op, format!("wrong number of args for Label: want 1 got {}", vals.len())),
            });
        };
        let labels = self.root.get("Labels").and_then(Value::as_str).unwrap_or("");
        let value = labels.split(',').filter_map(|kv| kv.split_once('=')).find(|(k, _)| k == name).map(|(_, v)| v);
        Ok(Val::Own(Value::String(value.unwrap_or("").to_string())))
    }

    fn call_func(
        &mut self,
        op: &Operand,
        name: &str,
        args: &[Operand],
        dot: &Val<'a>,
        fin: Option<Val<'a>>,
    ) -> Res<Val<'a>> {
        // and/or evaluate lazily and return the deciding operand itself
        if name == "and" || name == "or" {
            if args.is_empty() && fin.is_none() {
                return Err(self.err(op, format!("wrong number of args for {name}: want at least 1 got 0")));
            }
            let mut v = Val::Invalid;
            for a in args {
                v = self.eval_arg(a, dot)?;
                if truth(v.get()) == (name == "or") {
                    return Ok(v);
                }
            }
            if let Some(f) = fin {
                v = f;
            }
            return Ok(v);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        let mut first_is_root = false;
        for (i, a) in args.iter().enumerate() {
            let v = self.eval_arg(a, dot)?;
            if i == 0 {
                first_is_root = matches!(v, Val::Ref(r) if std::ptr::eq(r, self.root));
            }
            vals.push(v.to_value());
        }
        if let Some(f) = fin {
            if vals.is_empty() {
                first_is_root = matches!(f, Val::Ref(r) if std::ptr::eq(r, self.root));
            }
            vals.push(f.to_value());
        }
        let ctx = CallCtx { header: self.opts.header, root_is_context: self.opts.dot_is_context };
        call(name, vals, first_is_root, &ctx).map(Val::Own).map_err(|m| {
            self.err(
                op,
                if m.starts_with("error calling") || m.starts_with("wrong") {
                    m
                } else {
                    format!("error calling {name}: {m}")
                },
            )
        })
    }

    /// An argument: a bare function name is called with no arguments, as Go does.
    fn eval_arg(&mut self, a: &Operand, dot: &Val<'a>) -> Res<Val<'a>> {
        if let (Term::Ident(name), true) = (&a.term, a.fields.is_empty()) {
            return self.call_func(a, name, &[], dot, None);
        }
        self.eval_operand(a, dot)
    }

    fn eval_operand(&mut self, op: &Operand, dot: &Val<'a>) -> Res<Val<'a>> {
        let mut v = match &op.term {
            Term::Dot | Term::Field => dot.clone(),
            Term::Nil => Val::Own(Value::Null),
            Term::Bool(b) => Val::Own(Value::Bool(*b)),
            Term::Int(i) => Val::Own(Value::from(*i)),
            Term::Float(f) => Val::Own(serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)),
            Term::Str(s) => Val::Own(Value::String(s.clone())),
            Term::Var(name) => {
                self.vars.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or(Val::Invalid)
            }
            Term::Ident(name) => self.call_func(op, name, &[], dot, None)?,
            Term::Pipe(p) => self.eval_pipe(p, dot)?,
        };
        for f in &op.fields {
            v = self.field(op, v, f)?;
        }
        Ok(v)
    }

    /// A key the map lacks: `<no value>`, or with `missingkey=error` Go's error.
    fn missing(&self, op: &Operand, name: &str) -> Res<Val<'a>> {
        if self.opts.missing_key_error {
            return Err(self.err(op, format!("map has no entry for key {name:?}")));
        }
        Ok(Val::Invalid)
    }

    fn field(&self, op: &Operand, recv: Val<'a>, name: &str) -> Res<Val<'a>> {
        let bad = |v: &Value| match v {
            Value::Null => self.err(op, format!("nil pointer evaluating interface {{}}.{name}")),
            other => self.err(op, format!("can't evaluate field {name} in type {}", type_name(other))),
        };
        match recv {
            Val::Invalid => Ok(Val::Invalid),
            Val::Ref(Value::Object(m)) => match m.get(name) {
                Some(v) => Ok(Val::Ref(v)),
                None => match self.opts.context_type {
                    // a formatter context is a Go struct: unknown fields are errors
                    Some(ty) if self.root.as_object().is_some_and(|r| std::ptr::eq(r, m)) => {
                        Err(self.err(op, format!("can't evaluate field {name} in type {ty}")))
                    }
                    _ => self.missing(op, name),
                },
            },
            Val::Own(Value::Object(mut m)) => match m.remove(name) {
                Some(v) => Ok(Val::Own(v)),
                None => self.missing(op, name),
            },
            Val::Ref(other) => Err(bad(other)),
            Val::Own(other) => Err(bad(&other)),
        }
    }
}
