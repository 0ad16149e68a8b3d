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
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::value::Value;
use rayon::prelude::*;

use super::check::report_to_stderr;
use crate::backend::render::{self, RenderError, Renderer, RuleContext};
use crate::backend::{self, Backend, Template, TemplateOutput};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::rule::RuleIr;
use crate::load::{self, Input, Item};
use crate::pipeline::{self, Pipelines};

/// Targets sigc can convert to: the evaluator's bytecode and every backend.
pub(crate) fn targets() -> Vec<&'static str> {
    let mut t = vec!["bytecode"];
    t.extend(backend::all().iter().map(|b| b.name()));
    t
}

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
    let targets = targets();
    if !targets.contains(&args.target.as_str()) {
        let known = targets.join(", ");
        report_to_stderr(&[Diagnostic::error(
            Code::UnknownTarget,
            format!("unknown target `{}`", args.target),
        )
        .with_help(format!(
            "available targets: {known} (see `sigc list targets`)"
        ))]);
        return 2;
    }
    let Some(b) = backend::find(&args.target) else {
        return bytecode(args);
    };
    if args.table.is_some() && b.table_key().is_none() {
        report_to_stderr(&[Diagnostic::error(
            Code::UnknownTarget,
            format!("the {} target has no tables to name with --table", b.name()),
        )]);
        return 2;
    }
    // A backend with default routing converts rules as `sigc eval` reads them when no `-p`
    // is given; otherwise the pipelines given are the one route.
    let routes = match (args.pipelines.is_empty(), b.default_routing()) {
        (true, Some(extra)) => pipeline::route::default_routes(extra),
        _ => pipeline::resolve_all(&args.pipelines).map(|p| vec![p]),
    };
    match routes {
        Ok(routes) => text(args, b, &routes),
        Err(d) => {
            report_to_stderr(&[d]);
            2
        }
    }
}

/// A rule through its route(s): one route is the pipelines as given; several are the default
/// routing (see [`pipeline::route`]).
fn apply_routes(routes: &[Pipelines], rule: &RuleIr) -> Result<RuleIr, Diagnostic> {
    match routes {
        [one] => one.apply(rule),
        _ => match pipeline::route::route(rule, routes)? {
            pipeline::route::Routed::Rule(r) => Ok(*r),
            pipeline::route::Routed::NoRoute => Err(Diagnostic::error(
                Code::Unsupported,
                format!(
                    "no route for the log source {}",
                    backend::logsource_text(rule)
                ),
            )
            .with_help("pass pipelines (-p) that map this log source")
            .at(&rule.origin.file, rule.origin.span)),
        },
    }
}

/// What `-f` asked for.
enum Format {
    /// A query per rule.
    Query(String),
    /// A template around the queries of its query format.
    Template {
        template: &'static Template,
        renderer: Box<Renderer>,
        set: IndexMap<String, String>,
    },
}

impl Format {
    fn query(&self) -> &str {
        match self {
            Format::Query(f) => f,
            Format::Template { template, .. } => template.query,
        }
    }

    /// The format `-f`, `--template` and `--set` name, or why they are wrong (exit 2).
    fn resolve(args: &Args, b: &dyn Backend) -> Result<Format, Diagnostic> {
        let unknown = || {
            let mut names: Vec<&str> = b.formats().to_vec();
            names.extend(b.templates().iter().map(|t| t.name));
            Diagnostic::error(
                Code::UnknownTarget,
                format!("the {} target has no format `{}`", b.name(), args.format),
            )
            .with_help(format!("formats: {}", names.join(", ")))
        };
        if b.formats().contains(&args.format.as_str()) {
            if args.template.is_some() || !args.set.is_empty() {
                return Err(Diagnostic::error(
                    Code::Template,
                    format!(
                        "`{}` is a query format: --template and --set apply to template formats",
                        args.format
                    ),
                )
                .with_help(format!(
                    "template formats of {}: {}",
                    b.name(),
                    b.templates()
                        .iter()
                        .map(|t| t.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            return Ok(Format::Query(args.format.clone()));
        }
        let template = b
            .templates()
            .iter()
            .find(|t| t.name == args.format)
            .ok_or_else(unknown)?;
        if args.json && matches!(template.output, TemplateOutput::All { .. }) {
            return Err(Diagnostic::error(
                Code::UnknownTarget,
                format!(
                    "the {} format writes one file for all rules; --json is for per-rule output",
                    template.name
                ),
            ));
        }
        let mut set = IndexMap::new();
        for kv in &args.set {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(Diagnostic::error(
                    Code::Template,
                    format!("--set `{kv}` is not KEY=VALUE"),
                ));
            };
            let k = k.trim();
            if k.is_empty()
                || k.contains(|c: char| c.is_whitespace() || c.is_control() || "[]=".contains(c))
            {
                return Err(Diagnostic::error(
                    Code::Template,
                    format!("--set key `{k}` must be a name without spaces, brackets or `=`"),
                ));
            }
            // The built-in template reads these keys alone; a replacement template may read
            // any, so only the built-in one's are checked.
            if let (Some(known), None) = (template.settings, &args.template)
                && !known.contains(&k)
            {
                return Err(Diagnostic::error(
                    Code::Template,
                    format!("the {} format has no setting `{k}`", template.name),
                )
                .with_help(format!("settings: {}", known.join(", "))));
            }
            set.insert(k.to_string(), v.to_string());
        }
        let (name, text) = match &args.template {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Diagnostic::error(Code::Io, format!("{path}: {e}")))?;
                (path.clone(), text)
            }
            None => (template.path.to_string(), template.text.to_string()),
        };
        let renderer =
            Renderer::new(&name, text).map_err(|e| Diagnostic::error(Code::Template, e))?;
        Ok(Format::Template {
            template,
            renderer: Box::new(renderer),
            set,
        })
    }
}

/// One rule's outcome.
struct Converted {
    path: String,
    id: Option<String>,
    title: String,
    /// The file `--output-dir` writes this rule to (per-rule outputs).
    file: String,
    /// The query, or for a per-rule template the rendered document.
    result: Result<String, Diagnostic>,
    /// For a one-file template: the rule's template context.
    context: Option<Value>,
    /// The pipeline state of the rule once converted (correlations read it).
    state: indexmap::IndexMap<String, String>,
}

/// Convert every rule of the inputs with a text backend.
fn text(args: &Args, b: &dyn Backend, routes: &[Pipelines]) -> u8 {
    let format = match Format::resolve(args, b) {
        Ok(f) => f,
        Err(d) => {
            report_to_stderr(&[d]);
            return 2;
        }
    };
    let inputs: Vec<Input> = args.paths.iter().map(|p| Input::parse(p)).collect();
    let set = load::load(&inputs);
    let mut failed = false;
    let mut diags = Vec::new();
    let mut rules: Vec<(usize, &str, &Arc<RuleIr>)> = Vec::new();
    // Rules a correlation uses without `generate: true` are not written on their own.
    let mut hidden = std::collections::HashSet::new();
    for (i, doc) in set.docs.iter().enumerate() {
        diags.extend(doc.diagnostics.iter().cloned());
        failed |= doc.failed();
        match &doc.item {
            Some(Item::Rule(r)) => rules.push((i, &doc.path, r)),
            Some(Item::Correlation(c)) if !c.generate => {
                hidden.extend(c.rules.iter().map(|r| r.target));
            }
            _ => {}
        }
    }
    let converted: Vec<(usize, Converted)> = rules
        .par_iter()
        .map(|(i, path, r)| (*i, convert_one(b, &format, routes, args, path, r)))
        .collect();
    let mut out: Vec<(usize, Converted)> = Vec::new();
    for (i, doc) in set.docs.iter().enumerate() {
        let Some(Item::Correlation(c)) = &doc.item else {
            continue;
        };
        let refs: Vec<backend::Referenced> = c
            .rules
            .iter()
            .map(|r| {
                let done = converted
                    .iter()
                    .find(|(j, _)| *j == r.target)
                    .map(|(_, c)| c);
                backend::Referenced {
                    name: &r.written,
                    query: done
                        .and_then(|c| c.result.as_ref().ok())
                        .map(String::as_str),
                    state: done.map(|c| &c.state),
                }
            })
            .collect();
        let all_converted = c.rules.iter().zip(&refs).all(|(r, x)| {
            x.query.is_some()
                || !matches!(
                    set.docs.get(r.target).map(|d| &d.item),
                    Some(Some(Item::Rule(_)))
                )
        });
        let at = |d: Diagnostic| d.at(&c.origin.file, c.origin.span);
        let result = if let Format::Template { template, .. } = &format {
            Err(at(Diagnostic::error(
                Code::Unsupported,
                format!(
                    "the {} format writes rules, not correlation rules (convert those with -f {})",
                    template.name,
                    b.formats().first().copied().unwrap_or("default")
                ),
            )))
        } else if all_converted {
            // Field-name mappings conditioned on log sources apply as they did to the rules.
            let logsources = |i: usize| match set.docs.get(i).map(|d| &d.item) {
                Some(Some(Item::Rule(r))) => vec![r.logsource.clone()],
                _ => Vec::new(),
            };
            // Under several routes the evaluator reads a correlation's field by the first of
            // its route names an event has; a query has one name per field, so routes that name
            // the fields differently have no exact form here.
            routes
                .iter()
                .map(|p| p.apply_correlation_with(c, &logsources))
                .collect::<Result<Vec<_>, _>>()
                .and_then(|mapped| {
                    let names: Vec<Vec<String>> = mapped.iter().map(correlation_fields).collect();
                    if let Some(other) = names.iter().find(|n| *n != &names[0]) {
                        return Err(at(Diagnostic::error(
                            Code::Unsupported,
                            format!(
                                "the routes name this correlation's fields differently ({} in one, {} in another): one query cannot group or aggregate by both",
                                names[0].join(", "),
                                other.join(", ")
                            ),
                        )));
                    }
                    Ok(mapped.into_iter().next().unwrap_or_else(|| c.as_ref().clone()))
                })
                .and_then(|mapped| {
                    b.convert_correlation(&mapped, &refs, format.query(), args.correlation_method)
                        .map_err(|msg| at(Diagnostic::error(Code::Unsupported, msg)))
                })
        } else {
            Err(at(Diagnostic::error(
                Code::Unsupported,
                "a rule this correlation refers to could not be converted",
            )))
        };
        let name = c
            .header
            .name
            .clone()
            .unwrap_or_else(|| c.header.title.clone());
        out.push((
            i,
            Converted {
                path: doc.path.clone(),
                id: c.header.id.clone(),
                title: c.header.title.clone(),
                file: format!("{name}.{}", b.name()),
                result,
                context: None,
                state: indexmap::IndexMap::new(),
            },
        ));
    }
    out.extend(converted.into_iter().filter(|(i, _)| !hidden.contains(i)));
    out.sort_by_key(|(i, _)| *i);
    let mut out: Vec<Converted> = out.into_iter().map(|(_, c)| c).collect();
    if args.output_dir.is_some() {
        refuse_same_files(&mut out);
    }
    for c in &out {
        if let Err(d) = &c.result {
            failed = true;
            diags.push(d.clone());
        }
    }
    // A one-file template renders once, with every rule that rendered alone.
    let document = match &format {
        Format::Template {
            template:
                Template {
                    output: TemplateOutput::All { file },
                    ..
                },
            renderer,
            set,
        } => {
            let contexts = out
                .iter()
                .filter(|c| c.result.is_ok())
                .filter_map(|c| c.context.clone())
                .collect();
            match renderer.render(render::all_context(contexts, set)) {
                Ok(doc) => Some((*file, doc)),
                Err(RenderError::Refused(e) | RenderError::Template(e)) => {
                    diags.push(Diagnostic::error(Code::Template, e));
                    report_to_stderr(&diags);
                    return 2;
                }
            }
        }
        _ => None,
    };
    report_to_stderr(&diags);
    if let Err(e) = write(args, &format, &out, document) {
        report_to_stderr(&[Diagnostic::error(Code::Io, e)]);
        return 2;
    }
    u8::from(failed)
}

fn convert_one(
    b: &dyn Backend,
    format: &Format,
    routes: &[Pipelines],
    args: &Args,
    path: &str,
    rule: &RuleIr,
) -> Converted {
    let name = backend::splunk::tstats::rule_name(rule);
    let at = |d: Diagnostic| d.at(&rule.origin.file, rule.origin.span);
    let mut file = format!("{name}.{}", b.name());
    let mut context = None;
    let mut state = indexmap::IndexMap::new();
    let result = apply_routes(routes, rule).and_then(|mut r| {
        if let (Some(t), Some(key)) = (&args.table, b.table_key()) {
            r.state.insert(key.to_string(), t.clone());
        }
        state = r.state.clone();
        let query = b
            .convert(&r, format.query())
            .map_err(|msg| at(Diagnostic::error(Code::Unsupported, msg)))?;
        let Format::Template {
            template,
            renderer,
            set,
        } = format
        else {
            return Ok(query);
        };
        let mut settings = r.state.clone();
        settings.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
        let target = b
            .template_values(&r, template, &settings)
            .map_err(|msg| at(Diagnostic::error(Code::Unsupported, msg)))?;
        if let TemplateOutput::PerRule { extension, .. } = &template.output {
            file = match target.get("file_name").and_then(|f| f.as_str()) {
                Some(f) => f.to_string(),
                None => format!("{name}.{extension}"),
            };
        }
        let ctx = RuleContext {
            rule: &r,
            path,
            name: &name,
            query: &query,
            settings: &settings,
            target,
        }
        .value();
        let rendered = match &template.output {
            TemplateOutput::PerRule { .. } => renderer.render(render::rule_context(ctx, set)),
            // Render the rule alone first, so that a rule the template refuses is reported
            // at the rule and left out, not failing the whole file.
            TemplateOutput::All { .. } => {
                let alone = renderer.render(render::all_context(vec![ctx.clone()], set));
                context = Some(ctx);
                alone.map(|_| query)
            }
        };
        rendered.map_err(|e| {
            at(match e {
                RenderError::Refused(msg) => Diagnostic::error(
                    Code::Unsupported,
                    format!("the {} format cannot write this rule: {msg}", template.name),
                ),
                RenderError::Template(msg) => Diagnostic::error(Code::Template, msg),
            })
        })
    });
    Converted {
        path: path.to_string(),
        id: rule.header.id.clone(),
        title: rule.header.title.clone(),
        file,
        result,
        context,
        state,
    }
}

/// Under `--output-dir`, a rule whose file an earlier rule already writes is an error rather
/// than a silent overwrite.
fn refuse_same_files(out: &mut [Converted]) {
    let mut seen: HashMap<String, String> = HashMap::new();
    for c in out.iter_mut() {
        if c.result.is_err() {
            continue;
        }
        if let Some(first) = seen.get(&c.file) {
            let msg = format!(
                "`{}` would be written to {}, which {first} already writes (rules need distinct names)",
                c.title, c.file
            );
            let d = match &c.result {
                Err(d) => d.clone(),
                Ok(_) => Diagnostic::error(Code::Unsupported, msg),
            };
            c.result = Err(d);
        } else {
            seen.insert(c.file.clone(), c.path.clone());
        }
    }
}

fn write(
    args: &Args,
    format: &Format,
    out: &[Converted],
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
        for c in out {
            if let Ok(q) = &c.result {
                // Documents end with their own newline; queries get one.
                if separator.is_some() {
                    put(&c.file, q)?;
                } else {
                    put(&c.file, &format!("{q}\n"))?;
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
    eprintln!(
        "wrote {} rules, {} tests, {} instructions ({} bytes) to {path}",
        vm.program.rules.len(),
        vm.program.tests.len(),
        vm.program.code.len(),
        bytes.len()
    );
    u8::from(failed)
}

/// The event fields a correlation reads: its group-by fields, its aliases' fields and the
/// fields its condition aggregates, in that order.
fn correlation_fields(c: &crate::ir::rule::CorrelationIr) -> Vec<String> {
    let mut out = c.group_by.clone();
    for a in &c.aliases {
        out.extend(a.fields.iter().map(|(_, f)| f.clone()));
    }
    if let crate::ir::rule::CorrelationCondition::Compare { fields, .. } = &c.condition {
        out.extend(fields.iter().cloned());
    }
    out
}
