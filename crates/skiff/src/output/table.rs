//! Docker's list formatter (`docker images`, `history`, `ps`, ...): resolves the `--format`
//! value, runs the template once per row, and for `table` formats prints a header row
//! (the same template run over the column names) aligned with Go's tabwriter as
//! docker/cli configures it: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
//!
//! Format resolution follows docker/cli's `formatter.Context`: `None`, `""` and `"table"`
//! mean the command's default table format; a `table` prefix means "with header"; `json`
//! means `{{json .}}`; then surrounding spaces are trimmed and the two-character sequences
//! `\t` and `\n` typed by the user become a tab and a newline.
//! `-q` and `raw` formats are the caller's business (pass the format they stand for).

use std::io::{self, Write};

use serde_json::{Map, Value};
use tabwriter::TabWriter;

use super::template::{ExecOptions, Template, TemplateError};

/// Go's tabwriter settings used by docker/cli: minimum cell width 10, padding 3.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// Why a list could not be rendered.
#[derive(Debug)]
pub enum RenderError {
    /// The format failed to parse or to execute on a row (Docker's message as is).
    Template(TemplateError),
    /// Writing the output failed.
    Write(io::Error),
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderError::Template(e) => e.fmt(f),
            RenderError::Write(e) => write!(f, "writing formatted output: {e}"),
        }
    }
}

impl std::error::Error for RenderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RenderError::Template(e) => Some(e),
            RenderError::Write(e) => Some(e),
        }
    }
}

impl From<TemplateError> for RenderError {
    fn from(e: TemplateError) -> Self {
        RenderError::Template(e)
    }
}

impl From<io::Error> for RenderError {
    fn from(e: io::Error) -> Self {
        RenderError::Write(e)
    }
}

/// A `--format` value resolved into the template to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedFormat {
    /// Print a header row and align columns.
    pub table: bool,
    /// The template text to run for each row.
    pub template: String,
}

/// Resolve a `--format` value the way docker/cli does (see the module docs).
pub fn resolve_format(format: Option<&str>, default_table: &str) -> ResolvedFormat {
    let f = match format {
        None | Some("") | Some("table") => default_table,
        Some(f) => f,
    };
    let table = f.starts_with("table");
    let body = if table {
        &f["table".len()..]
    } else if f == "json" {
        "{{json .}}"
    } else {
        f
    };
    let template = body.trim_matches(' ').replace("\\t", "\t").replace("\\n", "\n");
    ResolvedFormat { table, template }
}

/// Render `rows` with `format` (or `default_table` when the user gave none).
///
/// `headers` maps each row field to its column name (`("ID", "IMAGE ID")`); the header
/// row is the template executed over that map with Docker's header functions, so a
/// field without a name prints `<no value>` there, as in Docker. Each row is one of
/// Docker's formatter contexts: `{{json .}}` prints it with sorted keys, HTML-escaped.
/// Nothing is written when the template fails to parse or to execute on any row.
pub fn render(
    out: &mut dyn Write,
    format: Option<&str>,
    default_table: &str,
    headers: &[(&str, &str)],
    rows: &[Value],
) -> Result<(), RenderError> {
    render_rows(out, format, default_table, headers, rows, None)
}

/// Like [`render`], but the rows stand for the Go type `context_type` (for example
/// `*formatter.imageContext`): a field that is not in a row fails like Docker does
/// (`can't evaluate field Foo in type *formatter.imageContext`) instead of printing
/// `<no value>`.
pub fn render_strict(
    out: &mut dyn Write,
    format: Option<&str>,
    default_table: &str,
    headers: &[(&str, &str)],
    rows: &[Value],
    context_type: &'static str,
) -> Result<(), RenderError> {
    render_rows(out, format, default_table, headers, rows, Some(context_type))
}

/// `ps`'s complaint about its format, in Docker's words (`failed to execute template: ...`).
#[derive(Debug)]
pub struct FormatFailed(pub String);

impl std::fmt::Display for FormatFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FormatFailed {}

/// Docker's `ps` runs the format once on an empty row before listing (to learn whether it shows
/// the size): an unknown field fails then, rows or none. `headers` names every field of the row.
pub fn check_fields(format: &str, headers: &[(&str, &str)], context_type: &'static str) -> Result<(), TemplateError> {
    let resolved = resolve_format(Some(format), "");
    let tmpl = Template::parse(&resolved.template)?;
    let empty =
        Value::Object(headers.iter().map(|(field, _)| (field.to_string(), Value::String(String::new()))).collect());
    let opts =
        ExecOptions { header: false, dot_is_context: true, context_type: Some(context_type), ..Default::default() };
    tmpl.execute_into(&mut String::new(), &empty, opts)
}

fn render_rows(
    out: &mut dyn Write,
    format: Option<&str>,
    default_table: &str,
    headers: &[(&str, &str)],
    rows: &[Value],
    context_type: Option<&'static str>,
) -> Result<(), RenderError> {
    let resolved = resolve_format(format, default_table);
    let tmpl = Template::parse(&resolved.template)?;
    let row_opts = ExecOptions { header: false, dot_is_context: true, context_type, ..Default::default() };
    let mut body = String::new();
    for row in rows {
        tmpl.execute_into(&mut body, row, row_opts)?;
        body.push('\n');
    }
    if !resolved.table {
        out.write_all(body.as_bytes())?;
        return Ok(());
    }
    let header_data = Value::Object(
        headers
            .iter()
            .map(|(field, name)| (field.to_string(), Value::String(name.to_string())))
            .collect::<Map<String, Value>>(),
    );
    let mut header = String::new();
    let header_opts = ExecOptions { header: true, dot_is_context: true, ..Default::default() };
    // Docker ignores header errors and keeps whatever was printed before the failure.
    let _ = tmpl.execute_into(&mut header, &header_data, header_opts);
    let mut tw = tabwriter_for(out);
    tw.write_all(header.as_bytes())?;
    tw.write_all(b"\n")?;
    tw.write_all(body.as_bytes())?;
    tw.flush()?;
    Ok(())
}

/// A tab writer aligned like Go's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
///
/// Go sizes a column as `max(minwidth, widest cell + padding)`; the `tabwriter` crate uses
/// `max(minwidth, widest cell) + padding`, so its minimum width is set to `10 - 3`.
pub fn tabwriter_for<W: Write>(out: W) -> TabWriter<W> {
    tabwriter_min(out, MIN_WIDTH)
}

/// A tab writer like Go's `tabwriter.NewWriter(out, min_width, 1, 3, ' ', 0)` (`docker top` uses 20).
pub fn tabwriter_min<W: Write>(out: W, min_width: usize) -> TabWriter<W> {
    TabWriter::new(out).minwidth(min_width.saturating_sub(PADDING)).padding(PADDING)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    const IMAGES_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
    const IMAGES_HEADERS: &[(&str, &str)] = &[
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("CreatedSince", "CREATED"),
        ("Size", "SIZE"),
    ];

    fn images() -> Vec<Value> {
        vec![
            json!({"Repository": "features", "Tag": "1.0", "ID": "af2583f835ca",
                   "CreatedSince": "2 minutes ago", "Size": "3.96MB"}),
            json!({"Repository": "busybox", "Tag": "latest", "ID": "b8fec42fe388",
                   "CreatedSince": "6 minutes ago", "Size": "1.98MB"}),
        ]
    }

    fn render_str(format: Option<&str>, rows: &[Value]) -> String {
        let mut out = Vec::new();
        render(&mut out, format, IMAGES_TABLE, IMAGES_HEADERS, rows).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn default_images_table_is_aligned_like_docker() {
        // Go tabwriter: column width = max(10, widest cell + 3); the last column is not padded.
        // REPOSITORY: widest 10 -> 13; TAG: widest 6 -> 10 (minimum); IMAGE ID: 12 -> 15;
        // CREATED: 13 -> 16.
        let expected = "\
REPOSITORY   TAG       IMAGE ID       CREATED         SIZE
features     1.0       af2583f835ca   2 minutes ago   3.96MB
busybox      latest    b8fec42fe388   6 minutes ago   1.98MB
";
        assert_eq!(render_str(None, &images()), expected);
        assert_eq!(render_str(Some("table"), &images()), expected);
        assert_eq!(render_str(Some(""), &images()), expected);
    }

    #[test]
    fn empty_list_prints_only_the_header() {
        assert_eq!(render_str(None, &[]), "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n");
        assert_eq!(render_str(Some("{{.ID}}"), &[]), "");
    }

    #[test]
    fn user_table_with_escaped_tabs_and_header_names() {
        // the user types a backslash and a t; Docker turns it into a tab
        let out = render_str(Some(r"table {{.ID}}\t{{.Repository}}:{{.Tag}}"), &images());
        let expected = "\
IMAGE ID       REPOSITORY:TAG
af2583f835ca   features:1.0
b8fec42fe388   busybox:latest
";
        assert_eq!(out, expected);
    }

    #[test]
    fn raw_template_prints_one_line_per_row_without_header() {
        let out = render_str(Some("{{.Repository}}:{{.Tag}} {{.Size}}"), &images());
        assert_eq!(out, "features:1.0 3.96MB\nbusybox:latest 1.98MB\n");
        // \n typed by the user becomes a newline; surrounding spaces are trimmed
        let out = render_str(Some(r"  {{.ID}}\n{{.Tag}}  "), &images()[..1]);
        assert_eq!(out, "af2583f835ca\n1.0\n");
    }

    #[test]
    fn field_without_header_name_shows_no_value_in_header() {
        let out = render_str(Some("table {{.ID}}\t{{.Digest}}"), &images()[..1]);
        assert_eq!(out, "IMAGE ID       <no value>\naf2583f835ca   <no value>\n");
    }

    #[test]
    fn json_shorthand_matches_docker_history_fixture() {
        // facts/history-features_1.0.jsonl is `docker history --no-trunc --format '{{json .}}'`:
        // rebuild each row with its keys in another order and check the bytes come back.
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/facts/history-features_1.0.jsonl");
        let text = std::fs::read_to_string(path).unwrap();
        let mut rows = Vec::new();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let mut reversed = Map::new();
            for (k, val) in v.as_object().unwrap().iter().rev() {
                reversed.insert(k.clone(), val.clone());
            }
            rows.push(Value::Object(reversed));
        }
        for format in ["json", "{{json .}}"] {
            let mut out = Vec::new();
            render(&mut out, Some(format), "table {{.ID}}", &[], &rows).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), text, "{format}");
        }
    }

    #[test]
    fn history_table_with_empty_last_column_keeps_padding() {
        // Go pads every tab-terminated cell, so an empty COMMENT leaves trailing spaces
        let rows = vec![json!({"ID": "af2583f835ca", "CreatedSince": "2 minutes ago",
            "CreatedBy": "/bin/sh -c #(nop)  CMD [\"world\"]", "Size": "0B", "Comment": ""})];
        let headers = [
            ("ID", "IMAGE"),
            ("CreatedSince", "CREATED"),
            ("CreatedBy", "CREATED BY"),
            ("Size", "SIZE"),
            ("Comment", "COMMENT"),
        ];
        let mut out = Vec::new();
        let fmt = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
        render(&mut out, None, fmt, &headers, &rows).unwrap();
        let expected = "\
IMAGE          CREATED         CREATED BY                         SIZE      COMMENT
af2583f835ca   2 minutes ago   /bin/sh -c #(nop)  CMD [\"world\"]   0B        
";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn template_errors_write_nothing() {
        let mut out = Vec::new();
        let err = render(&mut out, Some("{{.ID"), IMAGES_TABLE, IMAGES_HEADERS, &images()).unwrap_err();
        assert_eq!(err.to_string(), "template parsing error: template: :1: unclosed action");
        let err = render(&mut out, Some("{{.ID.X}}"), IMAGES_TABLE, IMAGES_HEADERS, &images()).unwrap_err();
        assert!(err.to_string().starts_with("template parsing error: template: :1:5: executing"));
        assert!(out.is_empty());
    }

    #[test]
    fn strict_rows_reject_unknown_fields_like_docker_structs() {
        let mut out = Vec::new();
        let err = render_strict(
            &mut out,
            Some("{{.ID}} {{.Foo}}"),
            IMAGES_TABLE,
            IMAGES_HEADERS,
            &images(),
            "*formatter.imageContext",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"template parsing error: template: :1:10: executing "" at <.Foo>: can't evaluate field Foo in type *formatter.imageContext"#
        );
        assert!(out.is_empty());
        render_strict(&mut out, Some("{{.ID}}"), IMAGES_TABLE, IMAGES_HEADERS, &images(), "*formatter.imageContext")
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "af2583f835ca\nb8fec42fe388\n");
    }

    #[test]
    fn resolve_format_rules() {
        let r = resolve_format(Some("table  {{.ID}}\\t{{.Size}} "), "unused");
        assert_eq!(r, ResolvedFormat { table: true, template: "{{.ID}}\t{{.Size}}".into() });
        let r = resolve_format(Some("json"), "unused");
        assert_eq!(r, ResolvedFormat { table: false, template: "{{json .}}".into() });
        let r = resolve_format(None, "table {{.ID}}");
        assert_eq!(r, ResolvedFormat { table: true, template: "{{.ID}}".into() });
    }
}
