//! Behaviour of Go's text/template and Docker's template functions, case by case.

use super::*;
use serde_json::json;

fn run(tmpl: &str, data: &Value) -> String {
    Template::parse(tmpl)
        .unwrap_or_else(|e| panic!("{tmpl}: {e}"))
        .execute(data)
        .unwrap_or_else(|e| panic!("{tmpl}: {e}"))
}

fn parse_err(tmpl: &str) -> String {
    Template::parse(tmpl).unwrap_err().to_string()
}

fn exec_err(tmpl: &str, data: &Value) -> String {
    Template::parse(tmpl).unwrap().execute(data).unwrap_err().to_string()
}

fn image() -> Value {
    json!({
        "Id": "sha256:af2583f835ca",
        "RepoTags": ["features:1.0", "features:latest"],
        "Size": 3964683,
        "Config": {"User": "1000:1000", "Env": ["PATH=/usr/local/bin:/bin", "GREETING=hello docker"],
                   "Labels": {"org.example.purpose": "layer features fixture"},
                   "OnBuild": null},
        "Empty": "",
        "Zero": 0
    })
}

#[test]
fn text_and_fields() {
    let d = image();
    assert_eq!(run("plain text", &d), "plain text");
    assert_eq!(run("{{.Id}}", &d), "sha256:af2583f835ca");
    assert_eq!(run("user={{.Config.User}}!", &d), "user=1000:1000!");
    assert_eq!(run("{{.Size}}", &d), "3964683");
}

#[test]
fn missing_keys_print_no_value_like_go_maps() {
    let d = image();
    assert_eq!(run("{{.Nope}}", &d), "<no value>");
    assert_eq!(run("{{.Nope.Deeper}}", &d), "<no value>");
    // a JSON null is a nil interface{}, which Go also prints as <no value>
    assert_eq!(run("{{.Config.OnBuild}}", &d), "<no value>");
}

#[test]
fn inspect_templates_fail_on_missing_keys_as_dockers_do() {
    let d = image();
    let t = |src: &str| Template::parse(src).unwrap().execute_inspect(&d).map_err(|e| e.to_string());
    assert_eq!(
        t("{{.Nope}}"),
        Err("template parsing error: template: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\""
            .into())
    );
    // Go places a field chain at its second field, as `docker inspect` reports it.
    assert_eq!(
        t("{{.Config.Nope}}"),
        Err("template parsing error: template: :1:9: executing \"\" at <.Config.Nope>: map has no entry for key \"Nope\"".into())
    );
    assert!(t("{{.State.Status}}")
        .unwrap_err()
        .contains(":1:8: executing \"\" at <.State.Status>: map has no entry for key \"State\""));
    assert_eq!(t("{{.Size}}"), Ok("3964683".into()));
    // A key that is there with a null value is not missing.
    assert_eq!(t("{{.Config.OnBuild}}"), Ok("<no value>".into()));
}

#[test]
fn composite_values_print_in_go_syntax() {
    let d = image();
    assert_eq!(run("{{.RepoTags}}", &d), "[features:1.0 features:latest]");
    assert_eq!(run("{{.Config.Labels}}", &d), "map[org.example.purpose:layer features fixture]");
}

#[test]
fn json_function_is_unescaped_and_keeps_key_order() {
    let d = json!({"Cmd": ["a && b > c"], "B": 1, "A": 2});
    assert_eq!(run("{{json .Cmd}}", &d), r#"["a && b > c"]"#);
    assert_eq!(run("{{json .}}", &d), r#"{"Cmd":["a && b > c"],"B":1,"A":2}"#);
    assert_eq!(run("{{json .Missing}}", &d), "null");
    assert_eq!(run("{{.Cmd | json}}", &d), r#"["a && b > c"]"#);
}

#[test]
fn json_of_a_formatter_context_row_is_a_sorted_escaped_go_map() {
    // docker history --format '{{json .}}' prints rows with sorted keys and \u0026 escapes
    // (facts/history-features_1.0.jsonl), but {{json .CreatedBy}} uses Docker's unescaped encoder
    let row = json!({"Size": "0B", "CreatedBy": "a && b", "Comment": ""});
    let t = Template::parse("{{json .}} {{json .CreatedBy}}").unwrap();
    let mut out = String::new();
    let opts = ExecOptions { dot_is_context: true, ..Default::default() };
    t.execute_into(&mut out, &row, opts).unwrap();
    assert_eq!(out, r#"{"Comment":"","CreatedBy":"a \u0026\u0026 b","Size":"0B"} "a && b""#);
}

#[test]
fn docker_string_functions() {
    let d = json!({"Names": ["web", "db"], "Name": "Hello World", "S": "a,b,c", "E": ""});
    assert_eq!(run(r#"{{join .Names ","}}"#, &d), "web,db");
    assert_eq!(run(r#"{{split .S ","}}"#, &d), "[a b c]");
    assert_eq!(run(r#"{{index (split .S ",") 1}}"#, &d), "b");
    assert_eq!(run("{{lower .Name}} {{upper .Name}}", &d), "hello world HELLO WORLD");
    assert_eq!(run("{{title \"hello docker\"}}", &d), "Hello Docker");
    assert_eq!(run("[{{pad .Name 2 3}}]", &d), "[  Hello World   ]");
    // pad leaves an empty string empty
    assert_eq!(run("[{{pad .E 2 3}}]", &d), "[]");
    assert_eq!(run("{{truncate .Name 5}}", &d), "Hello");
    assert_eq!(run("{{truncate .Name 50}}", &d), "Hello World");
    assert_eq!(run("{{.Name | lower | upper}}", &d), "HELLO WORLD");
}

#[test]
fn go_builtins() {
    let d = image();
    assert_eq!(run("{{len .RepoTags}} {{len .Id}}", &d), "2 19");
    assert_eq!(run("{{index .RepoTags 1}}", &d), "features:latest");
    assert_eq!(run(r#"{{index .Config.Labels "org.example.purpose"}}"#, &d), "layer features fixture");
    // Docker's labels are map[string]string: a missing label indexes to ""
    assert_eq!(run(r#"[{{index .Config.Labels "nope"}}]"#, &d), "[]");
    assert_eq!(run(r#"{{printf "%s-%d" .Id .Size}}"#, &d), "sha256:af2583f835ca-3964683");
    assert_eq!(run(r#"{{printf "%-12s|" "abc"}}"#, &d), "abc         |");
    assert_eq!(run(r#"{{printf "%q" .Config.User}}"#, &d), r#""1000:1000""#);
    assert_eq!(run(r#"{{printf "%v" .RepoTags}}"#, &d), "[features:1.0 features:latest]");
    assert_eq!(run("{{println .Size}}", &d), "3964683\n");
    assert_eq!(run(r#"{{print "a" "b" 1 2}}"#, &d), "ab1 2");
    assert_eq!(run(r#"{{slice .Id 0 6}}"#, &d), "sha256");
    assert_eq!(run(r#"{{eq .Size 3964683}} {{ne .Empty ""}} {{lt 1 2}} {{ge "b" "a"}}"#, &d), "true false true true");
    assert_eq!(run(r#"{{eq .Config.User "x" "1000:1000"}}"#, &d), "true");
    assert_eq!(run(r#"{{and .Id .Empty}}|{{or .Empty .Id}}|{{not .Zero}}"#, &d), "|sha256:af2583f835ca|true");
    assert_eq!(run(r#"{{html "<a&b>"}} {{urlquery "a b"}}"#, &d), "&lt;a&amp;b&gt; a+b");
}

#[test]
fn if_else_with() {
    let d = image();
    assert_eq!(run("{{if .Id}}yes{{else}}no{{end}}", &d), "yes");
    assert_eq!(run("{{if .Empty}}yes{{else}}no{{end}}", &d), "no");
    assert_eq!(run("{{if .Zero}}a{{else if .Empty}}b{{else if .Size}}c{{else}}d{{end}}", &d), "c");
    assert_eq!(run("{{if .Nope}}x{{end}}", &d), "");
    assert_eq!(run("{{with .Config}}{{.User}}{{end}}", &d), "1000:1000");
    assert_eq!(run("{{with .Nope}}x{{else}}none{{end}}", &d), "none");
    assert_eq!(run("{{if and .Id (eq .Size 3964683)}}ok{{end}}", &d), "ok");
}

#[test]
fn range_loops() {
    let d = image();
    assert_eq!(run("{{range .RepoTags}}[{{.}}]{{end}}", &d), "[features:1.0][features:latest]");
    assert_eq!(run("{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}", &d), "0=features:1.0 1=features:latest ");
    assert_eq!(run("{{range .Config.OnBuild}}x{{else}}empty{{end}}", &d), "empty");
    assert_eq!(
        run("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{end}}", &d),
        "org.example.purpose=layer features fixture"
    );
    assert_eq!(
        run("{{range .Config.Env}}{{if eq . \"GREETING=hello docker\"}}{{break}}{{end}}{{.}};{{end}}", &d),
        "PATH=/usr/local/bin:/bin;"
    );
    assert_eq!(
        run("{{range .RepoTags}}{{if eq . \"features:1.0\"}}{{continue}}{{end}}{{.}}{{end}}", &d),
        "features:latest"
    );
    // $ is the root inside range
    assert_eq!(run("{{range .RepoTags}}{{$.Size}} {{end}}", &d), "3964683 3964683 ");
    // map keys are visited in sorted order, like Go
    assert_eq!(run("{{range .}}{{.}},{{end}}", &json!({"b": 2, "a": 1})), "1,2,");
}

#[test]
fn variables() {
    let d = image();
    assert_eq!(run("{{$u := .Config.User}}{{$u}}", &d), "1000:1000");
    assert_eq!(run("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", &d), "2");
    assert_eq!(run("{{with $c := .Config}}{{$c.User}}{{end}}", &d), "1000:1000");
}

#[test]
fn trim_markers_and_comments() {
    let d = json!({"A": "a", "B": "b"});
    assert_eq!(run("{{.A}}  \n  {{- .B}}", &d), "ab");
    assert_eq!(run("{{.A -}}  \n  {{.B}}", &d), "ab");
    assert_eq!(run("x {{- /* note */ -}} y", &d), "xy");
    assert_eq!(run("x{{/* note */}}y", &d), "xy");
    // a dash without a space is a negative number, not a trim marker
    assert_eq!(run("{{-3}}", &d), "-3");
}

#[test]
fn literals() {
    let d = json!({});
    assert_eq!(run(r#"{{"a\tb"}}|{{`raw\t`}}|{{'x'}}|{{1.5}}|{{true}}"#, &d), "a\tb|raw\\t|120|1.5|true");
}

#[test]
fn parse_errors_read_like_docker() {
    assert_eq!(parse_err("{{.Foo"), "template parsing error: template: :1: unclosed action");
    assert_eq!(parse_err("{{foo .}}"), r#"template parsing error: template: :1: function "foo" not defined"#);
    assert_eq!(parse_err("{{end}}"), "template parsing error: template: :1: unexpected {{end}}");
    assert_eq!(parse_err("{{if .A}}x"), "template parsing error: template: :1: unexpected EOF");
    assert_eq!(parse_err("{{$x}}"), r#"template parsing error: template: :1: undefined variable "$x""#);
    assert_eq!(parse_err("{{}}"), "template parsing error: template: :1: missing value for command");
    assert_eq!(parse_err("{{break}}"), "template parsing error: template: :1: {{break}} outside {{range}}");
    assert_eq!(
        parse_err("a\n{{.A | 3}}"),
        "template parsing error: template: :2: non executable command in pipeline stage 2"
    );
}

#[test]
fn exec_errors_carry_position_and_context() {
    let d = json!({"S": "x", "N": null});
    assert_eq!(
        exec_err("{{.S.Foo}}", &d),
        r#"template parsing error: template: :1:4: executing "" at <.S.Foo>: can't evaluate field Foo in type string"#
    );
    assert_eq!(
        exec_err("ab\n {{.N.X}}", &d),
        r#"template parsing error: template: :2:5: executing "" at <.N.X>: nil pointer evaluating interface {}.X"#
    );
    assert!(exec_err("{{index .S 5}}", &d).ends_with("error calling index: index out of range: 5"));
    assert!(exec_err("{{lower 3}}", &d).ends_with("wrong type for value; expected string; got int"));
}

#[test]
fn partial_output_is_kept_on_error() {
    let t = Template::parse("ok {{.S.Foo}} never").unwrap();
    let mut out = String::new();
    assert!(t.execute_into(&mut out, &json!({"S": "x"}), ExecOptions::default()).is_err());
    assert_eq!(out, "ok ");
}

#[test]
fn header_functions_leave_column_names_alone() {
    let header = json!({"Names": "NAMES", "ID": "CONTAINER ID"});
    let t = Template::parse(
        r#"{{join .Names ","}}|{{lower .ID}}|{{truncate .ID 3}}|{{pad .ID 1 1}}|{{printf "%.4s" .ID}}"#,
    )
    .unwrap();
    let mut out = String::new();
    let opts = ExecOptions { header: true, ..Default::default() };
    t.execute_into(&mut out, &header, opts).unwrap();
    assert_eq!(out, "NAMES|CONTAINER ID|CONTAINER ID| CONTAINER ID |CONT");
}

#[test]
fn spacing_parentheses_and_chains() {
    let d = image();
    assert_eq!(run("{{ .Id }}", &d), "sha256:af2583f835ca");
    assert_eq!(run("{{(index .RepoTags 0)}}", &d), "features:1.0");
    assert_eq!(run("{{ (.Config).User }}", &d), "1000:1000");
    assert_eq!(run("{{$.Config.User}}", &d), "1000:1000");
    assert_eq!(run(r#"{{ .Id | printf "%s!" }}"#, &d), "sha256:af2583f835ca!");
    assert_eq!(run(r#"{{printf "%s" (.Id | upper)}}"#, &d), "SHA256:AF2583F835CA");
    assert_eq!(run("{{if not .Empty}}yes{{end}}", &d), "yes");
    assert_eq!(run("{{ if .Empty }}a{{ else }}b{{ end }}", &d), "b");
    assert_eq!(run("{{- if .Empty -}}\n a \n{{- else -}}\n b \n{{- end -}}\n", &d), "b");
    assert_eq!(run("{{range .}}<{{.}}>{{end}}", &json!(["x", "y"])), "<x><y>");
    assert_eq!(run("{{len (split \"a:b:c\" \":\")}}", &d), "3");
    assert_eq!(run("{{with $x := \"v\"}}{{$x}}{{.}}{{end}}", &d), "vv");
}
