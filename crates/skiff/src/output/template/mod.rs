//! Go `text/template`, the subset Docker's `--format` flags need, over `serde_json::Value`.
//!
//! Supported: text, `{{.Field}}` and `{{.A.B}}` chains, `{{.}}`, variables (`$`, `$x := ...`),
//! pipelines (`{{.X | upper}}`), parenthesized pipelines, `{{if}}`/`{{else if}}`/`{{else}}`,
//! `{{with}}`, `{{range}}` (with `$i, $e :=`, `{{break}}`, `{{continue}}`), comments and
//! `{{-`/`-}}` trimming; Go's builtins (`and or not len index slice print printf println
//! eq ne lt le gt ge html js urlquery`) and Docker's (`json split join title lower upper pad
//! truncate`, see docker/cli `templates/templates.go`). `define`/`template`/`block` are not.
//!
//! Data is looked up like a Go `map[string]interface{}`: a missing key prints `<no value>`.
//! Errors read as Docker prints them: `template parsing error: template: :1: ...`.

mod exec;
pub use exec::CONTAINER_CONTEXT;
mod funcs;
mod lex;
mod parse;
mod printf;

use serde_json::Value;

/// A parse failure inside the template machinery (before it is tied to its source).
#[derive(Debug)]
pub(crate) struct ParseError {
    pub line: usize,
    pub message: String,
}

/// A template that failed to parse or to execute. The messages match Docker's, which wraps
/// Go's error in `template parsing error: ` for both cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// The template text is not a valid template (`template: :1: unclosed action`).
    Parse { template: String, line: usize, message: String },
    /// Executing failed at an operand (`template: :1:2: executing "" at <.A.B>: ...`).
    Exec { template: String, line: usize, col: usize, context: String, message: String },
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "template parsing error: {}", self.go_message())
    }
}

impl std::error::Error for TemplateError {}

impl TemplateError {
    /// Go's own error text, without Docker's `template parsing error: ` prefix
    /// (`docker inspect` words its wrapper differently).
    pub fn go_message(&self) -> String {
        match self {
            TemplateError::Parse { line, message, .. } => format!("template: :{line}: {message}"),
            TemplateError::Exec { line, col, context, message, .. } => {
                format!("template: :{line}:{col}: executing \"\" at <{context}>: {message}")
            }
        }
    }
}

/// How to execute: Docker-specific behaviour switches.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecOptions {
    /// Use Docker's `HeaderFunctions`: `json`, `split`, `join`, `title`, `lower`, `upper` and
    /// `truncate` return their string argument unchanged, so a table header keeps the
    /// column names (`pad` and `printf` still apply, keeping columns aligned).
    pub header: bool,
    /// The data is one of Docker's formatter contexts (a `docker images`/`ps`/`history` row):
    /// `{{json .}}` of it prints a Go map — sorted keys, `<>&` escaped as `\u003c`... —
    /// while `{{json .Field}}` keeps Docker's unescaped `json` function.
    pub dot_is_context: bool,
    /// When set, the data is a Go struct of this type (`*formatter.imageContext`): a field
    /// missing from the root object is an error naming the type, as in Docker, instead of
    /// `<no value>`. Nested objects keep map semantics.
    pub context_type: Option<&'static str>,
    /// Go's `missingkey=error`, which `docker inspect -f` executes with (its data is JSON maps): a
    /// key a map lacks is an error, `map has no entry for key "Nope"`, instead of `<no value>`.
    pub missing_key_error: bool,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    src: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parse a template string (already stripped of Docker's `table` prefix).
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let to_err =
            |e: ParseError| TemplateError::Parse { template: src.to_string(), line: e.line, message: e.message };
        let tokens = lex::lex(src).map_err(to_err)?;
        let is_func = |name: &str| funcs::FUNCS.contains(&name);
        let nodes = parse::Parser::new(tokens, src, &is_func).parse().map_err(to_err)?;
        Ok(Template { src: src.to_string(), nodes })
    }

    /// Execute against `data` and return the output.
    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        self.execute_into(&mut out, data, ExecOptions::default())?;
        Ok(out)
    }

    /// Execute as `docker inspect -f` does: missing keys are errors.
    pub fn execute_inspect(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        self.execute_into(&mut out, data, ExecOptions { missing_key_error: true, ..Default::default() })?;
        Ok(out)
    }

    /// Execute, appending to `out`. On error, `out` keeps what was written before the
    /// failure, as Go's `Execute` leaves partial output in its writer.
    pub fn execute_into(&self, out: &mut String, data: &Value, opts: ExecOptions) -> Result<(), TemplateError> {
        let mut state = exec::State::new(data, out, opts);
        state.run(&self.nodes).map_err(|e| {
            let before = &self.src[..e.pos.min(self.src.len())];
            let line = 1 + before.matches('\n').count();
            let col = match before.rfind('\n') {
                Some(nl) => e.pos - nl - 1,
                None => e.pos,
            };
            TemplateError::Exec { template: self.src.clone(), line, col, context: e.context, message: e.message }
        })
    }
}

#[cfg(test)]
mod tests;
