//! `sigc convert`: rules → target queries. A target or format that does not exist is a clear
//! error (exit 2) before anything is loaded. Every rule is converted or refused on its own: a
//! refusal is an error at the rule's file and line, the other rules are still written, and the
//! exit code is 1 when any rule failed.
//!
//! Output of a query format: the queries in input order, one per rule (a query spanning lines,
//! like `tstats`, is followed by a blank line); `--json` writes one object per rule and line,
//! `{"path","id","title","query"}` or `{"path","id","title","error"}` for a refused rule;
//! `--output-dir` writes one file per rule, `<rule name>.<target>`.
//!
//! Template formats (a backend's [`Template`]s, e.g. `-f savedsearches`) render each rule's
//! query in the template's query format through a minijinja template (see
//! [`crate::backend::render`]); `--template FILE` replaces the built-in template and `--set
//! KEY=VALUE` gives it settings. A one-file format writes one document (to `--output-dir` under
//! its file name); a per-rule format writes one document per rule (to `--output-dir` as
//! `<name>.<extension>`, on stdout joined by the format's separator; `--json` adds `"output"`).
//! A rule the template refuses (`fail()`) is an error at the rule, like a conversion refusal.
//! Two rules that would write the same file under `--output-dir` are an error for the second.

use std::collections::HashMap;
use std::io::Write;

use super::check::report_to_stderr;
use crate::backend::{Template, TemplateOutput};
use crate::diagnostic::{Code, Diagnostic};
use crate::driver::convert::{self as conv, Converted, Format, OutputSpec};
use crate::load::{self, Input};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Target query language.
    #[arg(short = 't', long = "target", required = true)]
    target: String,
    /// Processing pipeline: a built-in name (`sigc list pipelines`) or a YAML file. Repeatable.
    #[arg(short = 'p', long = "pipeline")]
    pipelines: Vec<String>,
    /// Query this table instead of the one the pipelines choose (targets with tables: spark).
    #[arg(long = "table")]
    table: Option<String>,
    /// Output format of the target (`default` unless given): a query format, or a template
    /// format such as splunk's `savedsearches` and `security_content`.
    #[arg(short = 'f', long = "format", default_value = "default")]
    format: String,
    /// Render a template format with this minijinja template instead of the built-in one
    /// (`templates/<target>/`).
    #[arg(long = "template", value_name = "FILE")]
    template: Option<String>,
    /// A setting of a template format, `KEY=VALUE`. Repeatable; e.g. `--set
    /// cron_schedule="*/10 * * * *"` for `-f savedsearches`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Print one JSON object per rule and line instead of plain queries.
    #[arg(long)]
    json: bool,
    /// Fail on these too: `warnings` refuses a rule the conversion warns about (a regular
    /// expression prone to catastrophic backtracking, `W009`, on Splunk's PCRE or Spark's Java
    /// engine) instead of converting it.
    #[arg(long, value_enum)]
    deny: Vec<super::Deny>,
    /// How correlation windows are cut: `buckets` (fixed time buckets, the default) or
    /// `sliding` (a window of `timespan` ending at each event).
    #[arg(long = "correlation-method", value_enum, default_value = "buckets")]
    correlation_method: crate::backend::CorrelationMethod,
    /// Write the output to this file.
    #[arg(short = 'o', long = "output", conflicts_with = "output_dir")]
    output: Option<String>,
    /// Write one file per rule into this folder (one file for a one-file template format).
    #[arg(long = "output-dir")]
    output_dir: Option<String>,
    /// Rule files or folders (`-` for stdin).
    #[arg(required = true)]
    paths: Vec<String>,
}

pub(crate) fn run(args: &Args) -> u8 {
    let mut set_values = Vec::new();
    for kv in &args.set {
        let Some((k, v)) = kv.split_once('=') else {
            report_to_stderr(&[Diagnostic::error(
                Code::Template,
                format!("--set `{kv}` is not KEY=VALUE"),
            )]);
            return 2;
        };
        set_values.push((k.trim().to_string(), v.to_string()));
    }
    let spec = OutputSpec {
        target: args.target.clone(),
        pipelines: args.pipelines.clone(),
        format: args.format.clone(),
        template: args.template.clone(),
        set: set_values,
        table: args.table.clone(),
        correlation_method: Some(args.correlation_method),
        deny_warnings: args.deny.contains(&super::Deny::Warnings),
    };
    let prepared = match conv::prepare(&spec) {
        Ok(Some(p)) => p,
        Ok(None) => return bytecode(args),
        Err(d) => {
            report_to_stderr(&[d]);
            return 2;
        }
    };
    if let Some(t) = prepared.format.template()
        && args.json
        && matches!(t.output, TemplateOutput::All { .. })
    {
        report_to_stderr(&[Diagnostic::error(
            Code::UnknownTarget,
            format!(
                "the {} format writes one file for all rules; --json is for per-rule output",
                t.name
            ),
        )]);
        return 2;
    }
    let inputs: Vec<Input> = args.paths.iter().map(|p| Input::parse(p)).collect();
    let set = load::load(&inputs);
    let mut failed = set.has_errors();
    let mut diags: Vec<Diagnostic> = set
        .docs
        .iter()
        .flat_map(|d| d.diagnostics.iter().cloned())
        .collect();
    let conversion = conv::convert(&set, &prepared);
    diags.extend(conversion.warnings);
    let mut out = conversion.items;
    let files: Vec<String> = out
        .iter()
        .map(|c| file_of(c, &prepared.format, prepared.backend.name()))
        .collect();
    if args.output_dir.is_some() {
        refuse_same_files(&mut out, &files);
    }
    for c in &out {
        if let Err(d) = &c.result {
            failed = true;
            diags.push(d.clone());
        }
    }
    let document = match conversion.document {
        Some(Ok(doc)) => Some(doc),
        Some(Err(d)) => {
            diags.push(d);
            report_to_stderr(&diags);
            return 2;
        }
        None => None,
    };
    report_to_stderr(&diags);
    // An output that cannot be written (a closed pipe, a full disk) fails the run (1); 2 is
    // for a wrong command line.
    if let Err(e) = write(args, &prepared.format, &out, &files, document) {
        report_to_stderr(&[Diagnostic::error(Code::Io, e)]);
        return 1;
    }
    let converted = out.iter().filter(|c| c.result.is_ok()).count();
    let unloaded = set.docs.iter().filter(|d| d.failed()).count();
    let mut summary = format!(
        "converted {converted} of {} documents to {} ({})",
        out.len() + unloaded,
        prepared.backend.name(),
        args.format
    );
    if converted < out.len() {
        summary += &format!(", {} refused", out.len() - converted);
    }
    if unloaded > 0 {
        summary += &format!(", {unloaded} did not load");
    }
    errln!("{summary}");
    u8::from(failed)
}

/// The file `--output-dir` writes a document to: `<name>.<target>` for a query, the format's
/// `file_name` or `<name>.<extension>` for a per-rule template.
fn file_of(c: &Converted, format: &Format, target: &str) -> String {
    match format.template().map(|t| &t.output) {
        Some(TemplateOutput::PerRule { extension, .. }) => c
            .file_name
            .clone()
            .unwrap_or_else(|| format!("{}.{extension}", c.stem)),
        _ => format!("{}.{target}", c.stem),
    }
}

/// Under `--output-dir`, a rule whose file an earlier rule already writes is an error rather
/// than a silent overwrite.
fn refuse_same_files(out: &mut [Converted], files: &[String]) {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (c, file) in out.iter_mut().zip(files) {
        if c.result.is_err() {
            continue;
        }
        if let Some(first) = seen.get(file.as_str()) {
            let msg = format!(
                "`{}` would be written to {file}, which {first} already writes (rules need distinct names)",
                c.title
            );
            c.result = Err(Diagnostic::error(Code::Unsupported, msg));
        } else {
            seen.insert(file, c.path.clone());
        }
    }
}

fn write(
    args: &Args,
    format: &Format,
    out: &[Converted],
    files: &[String],
    document: Option<(&str, String)>,
) -> Result<(), String> {
    let separator = match format {
        Format::Template {
            template:
                Template {
                    output: TemplateOutput::PerRule { separator, .. },
                    ..
                },
            ..
        } => Some(*separator),
        _ => None,
    };
    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
        let put = |name: &str, text: &str| {
            let path = std::path::Path::new(dir).join(name);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
        };
        if let Some((file, doc)) = &document {
            return put(file, doc);
        }
        for (c, file) in out.iter().zip(files) {
            if let Ok(q) = &c.result {
                // Documents end with their own newline; queries get one.
                if separator.is_some() {
                    put(file, q)?;
                } else {
                    put(file, &format!("{q}\n"))?;
                }
            }
        }
        return Ok(());
    }
    let mut text = String::new();
    if let Some((_, doc)) = document {
        text = doc;
    } else {
        for c in out {
            if args.json {
                let mut o = serde_json::Map::new();
                o.insert("path".into(), c.path.clone().into());
                o.insert("id".into(), c.id.clone().into());
                o.insert("title".into(), c.title.clone().into());
                let key = if separator.is_some() {
                    "output"
                } else {
                    "query"
                };
                match &c.result {
                    Ok(q) => o.insert(key.into(), q.clone().into()),
                    Err(d) => o.insert("error".into(), d.message.clone().into()),
                };
                text.push_str(&serde_json::Value::Object(o).to_string());
                text.push('\n');
            } else if let Ok(q) = &c.result {
                match separator {
                    Some(sep) => {
                        if !text.is_empty() {
                            text.push_str(sep);
                        }
                        text.push_str(q);
                    }
                    None => {
                        text.push_str(q);
                        text.push('\n');
                        if q.contains('\n') {
                            text.push('\n');
                        }
                    }
                }
            }
        }
    }
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{path}: {e}")),
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| format!("stdout: {e}")),
    }
}

/// The evaluator's program as a file (`-o`, required: the format is binary).
fn bytecode(args: &Args) -> u8 {
    let Some(path) = &args.output else {
        report_to_stderr(&[Diagnostic::error(
            Code::UnknownTarget,
            "the bytecode target writes a binary file",
        )
        .with_help("give the file with -o, e.g. `-o rules.sigcb`")]);
        return 2;
    };
    if args.format != "default"
        || args.json
        || args.output_dir.is_some()
        || args.template.is_some()
        || !args.set.is_empty()
    {
        report_to_stderr(&[Diagnostic::error(
            Code::UnknownTarget,
            "the bytecode target has one format and writes one file (no --json, -f, --template, --set or --output-dir)",
        )]);
        return 2;
    }
    let (vm, failed) = match super::eval::build_vm(&args.paths, &args.pipelines) {
        Ok(v) => v,
        Err(diags) => {
            report_to_stderr(&diags);
            return 1;
        }
    };
    let bytes = crate::bytecode::codec::encode(&vm.program);
    if let Err(e) = std::fs::write(path, &bytes) {
        report_to_stderr(&[Diagnostic::error(Code::Io, format!("{path}: {e}"))]);
        return 1;
    }
    errln!(
        "wrote {} rules, {} tests, {} instructions ({} bytes) to {path}",
        vm.program.rules.len(),
        vm.program.tests.len(),
        vm.program.code.len(),
        bytes.len()
    );
    u8::from(failed)
}
