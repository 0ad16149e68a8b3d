//! One loaded rule set → one target's output, without printing: every rule converted or refused
//! on its own (a refusal is an error at the rule's file and line), correlations over the
//! queries of the rules they use, and a one-file template format rendered once over the rules
//! that rendered alone. `sigc convert` writes the result; `sigc build` writes many at once.
//!
//! A rule is converted through its route(s): the pipelines given, or when none are given and the
//! backend follows the evaluator's routing, every default route that claims it (OR-ed). Under
//! several routes, a correlation whose fields the routes name differently is refused: the
//! evaluator reads whichever name an event has, one query has one name per field.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::value::Value;
use rayon::prelude::*;

use crate::backend::render::{self, RenderError, Renderer, RuleContext};
use crate::backend::{self, Backend, CorrelationMethod, Template, TemplateOutput};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::rule::{CorrelationIr, RuleIr};
use crate::load::{Item, RuleSet};
use crate::pipeline::{self, Pipelines};

/// Targets sigc can convert to: the evaluator's bytecode and every backend.
pub(crate) fn targets() -> Vec<&'static str> {
    let mut t = vec!["bytecode"];
    t.extend(backend::all().iter().map(|b| b.name()));
    t
}

/// What one output asks for, as `sigc convert`'s flags or a `sigc.yml` output give it.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutputSpec {
    pub(crate) target: String,
    pub(crate) pipelines: Vec<String>,
    /// `default` unless given.
    pub(crate) format: String,
    /// A template file replacing the built-in one of a template format.
    pub(crate) template: Option<String>,
    /// Template settings (`--set KEY=VALUE`), in order.
    pub(crate) set: Vec<(String, String)>,
    pub(crate) table: Option<String>,
    pub(crate) correlation_method: Option<CorrelationMethod>,
    /// Refuse a rule the conversion warns about (`W009` on a backtracking engine) instead of
    /// converting it with the warning.
    pub(crate) deny_warnings: bool,
}

/// An output ready to convert rule sets: its backend, format and routes resolved.
pub(crate) struct Prepared {
    pub(crate) backend: &'static dyn Backend,
    pub(crate) format: Format,
    routes: Vec<Pipelines>,
    table: Option<String>,
    method: CorrelationMethod,
    deny_warnings: bool,
}

/// What `-f` asked for.
pub(crate) enum Format {
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

    /// The template, for a template format.
    pub(crate) fn template(&self) -> Option<&'static Template> {
        match self {
            Format::Query(_) => None,
            Format::Template { template, .. } => Some(template),
        }
    }
}

/// Resolve an output's backend (`None` for bytecode), format and routes, or say why they are
/// wrong (a command-line or configuration error, before anything is converted).
pub(crate) fn prepare(spec: &OutputSpec) -> Result<Option<Prepared>, Diagnostic> {
    let targets = targets();
    if !targets.contains(&spec.target.as_str()) {
        return Err(Diagnostic::error(
            Code::UnknownTarget,
            format!("unknown target `{}`", spec.target),
        )
        .with_help(format!(
            "available targets: {} (see `sigc list targets`)",
            targets.join(", ")
        )));
    }
    let Some(b) = backend::find(&spec.target) else {
        return Ok(None);
    };
    if spec.table.is_some() && b.table_key().is_none() {
        return Err(Diagnostic::error(
            Code::UnknownTarget,
            format!("the {} target has no tables to name with a table", b.name()),
        ));
    }
    let format = resolve_format(spec, b)?;
    Ok(Some(Prepared {
        backend: b,
        format,
        routes: routes_for(b, &spec.pipelines)?,
        table: spec.table.clone(),
        method: spec
            .correlation_method
            .unwrap_or(CorrelationMethod::Buckets),
        deny_warnings: spec.deny_warnings,
    }))
}

/// A backend with default routing converts rules as `sigc eval` reads them when no pipeline is
/// given; otherwise the pipelines given are the one route.
fn routes_for(b: &dyn Backend, pipelines: &[String]) -> Result<Vec<Pipelines>, Diagnostic> {
    match (pipelines.is_empty(), b.default_routing()) {
        (true, Some(extra)) => pipeline::route::default_routes(extra),
        _ => pipeline::resolve_all(pipelines).map(|p| vec![p]),
    }
}

/// The format, template and settings an output names, or why they are wrong.
fn resolve_format(spec: &OutputSpec, b: &dyn Backend) -> Result<Format, Diagnostic> {
    if b.formats().contains(&spec.format.as_str()) {
        if spec.template.is_some() || !spec.set.is_empty() {
            return Err(Diagnostic::error(
                Code::Template,
                format!(
                    "`{}` is a query format: a template and settings apply to template formats",
                    spec.format
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
        return Ok(Format::Query(spec.format.clone()));
    }
    let template = b
        .templates()
        .iter()
        .find(|t| t.name == spec.format)
        .ok_or_else(|| {
            Diagnostic::error(
                Code::UnknownTarget,
                format!("the {} target has no format `{}`", b.name(), spec.format),
            )
            .with_help(format!("formats: {}", format_names(b).join(", ")))
        })?;
    let mut set = IndexMap::new();
    for (k, v) in &spec.set {
        if k.is_empty()
            || k.contains(|c: char| c.is_whitespace() || c.is_control() || "[]=".contains(c))
        {
            return Err(Diagnostic::error(
                Code::Template,
                format!("setting `{k}` must be a name without spaces, brackets or `=`"),
            ));
        }
        // The built-in template reads these keys alone; a replacement template may read any,
        // so only the built-in one's are checked.
        if let (Some(known), None) = (template.settings, &spec.template)
            && !known.contains(&k.as_str())
        {
            return Err(Diagnostic::error(
                Code::Template,
                format!("the {} format has no setting `{k}`", template.name),
            )
            .with_help(format!("settings: {}", known.join(", "))));
        }
        set.insert(k.clone(), v.clone());
    }
    let (name, text) = match &spec.template {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Diagnostic::error(Code::Io, format!("{path}: {e}")))?;
            (path.clone(), text)
        }
        None => (template.path.to_string(), template.text.to_string()),
    };
    let renderer = Renderer::new(&name, text).map_err(|e| Diagnostic::error(Code::Template, e))?;
    Ok(Format::Template {
        template,
        renderer: Box::new(renderer),
        set,
    })
}

/// A backend's `-f` names: query formats, then template formats.
pub(crate) fn format_names(b: &dyn Backend) -> Vec<&'static str> {
    let mut names: Vec<&str> = b.formats().to_vec();
    names.extend(b.templates().iter().map(|t| t.name));
    names
}

/// One document's outcome.
pub(crate) struct Converted {
    /// The document's index in the rule set.
    pub(crate) doc: usize,
    pub(crate) path: String,
    pub(crate) id: Option<String>,
    pub(crate) title: String,
    /// The file name a per-rule output writes this document to, when the format names it
    /// (a template's `file_name`); `None`: the rule's own name.
    pub(crate) file_name: Option<String>,
    /// The document's name for output files: [`RuleIr::file_stem`].
    pub(crate) stem: String,
    /// The query, or for a per-rule template the rendered document.
    pub(crate) result: Result<String, Diagnostic>,
    /// For a one-file template: the rule's template context.
    context: Option<Value>,
    /// The pipeline state of the rule once converted (correlations read it).
    state: IndexMap<String, String>,
}

/// The output of one target over a rule set.
pub(crate) struct Conversion {
    /// Every rule and correlation, in the set's order; rules that a correlation uses without
    /// `generate: true` are left out (their documents are in `hidden`).
    pub(crate) items: Vec<Converted>,
    pub(crate) hidden: HashSet<usize>,
    /// A one-file template's document: its file name and text, or why the template failed.
    pub(crate) document: Option<Result<(&'static str, String), Diagnostic>>,
    /// What converting found worth a warning (`W009` on a backtracking target) about rules it
    /// still converted.
    pub(crate) warnings: Vec<Diagnostic>,
}

/// Convert every document of `set`.
pub(crate) fn convert(set: &RuleSet, p: &Prepared) -> Conversion {
    let mut rules: Vec<(usize, &str, &Arc<RuleIr>)> = Vec::new();
    let mut hidden = HashSet::new();
    for (i, doc) in set.docs.iter().enumerate() {
        match &doc.item {
            Some(Item::Rule(r)) => rules.push((i, &doc.path, r)),
            Some(Item::Correlation(c)) if !c.generate => {
                hidden.extend(c.rules.iter().map(|r| r.target));
            }
            _ => {}
        }
    }
    let checked: Vec<(Converted, Vec<Diagnostic>)> = rules
        .par_iter()
        .map(|(i, path, r)| {
            let mut c = convert_one(p, *i, path, r);
            let warnings = match (&c.result, set.docs.get(*i)) {
                (Ok(_), Some(doc)) if p.backend.backtracks() && has_regex(r) => {
                    crate::check::backtracking(doc)
                }
                _ => Vec::new(),
            };
            if p.deny_warnings && let Some(w) = warnings.first() {
                c.result = Err(Diagnostic {
                    severity: crate::diagnostic::Severity::Error,
                    message: format!(
                        "{} (refused under --deny warnings: {} runs regular expressions on a backtracking engine)",
                        w.message,
                        p.backend.name()
                    ),
                    ..w.clone()
                });
                return (c, Vec::new());
            }
            (c, warnings)
        })
        .collect();
    let mut warnings = Vec::new();
    let converted: Vec<Converted> = checked
        .into_iter()
        .map(|(c, w)| {
            warnings.extend(w);
            c
        })
        .collect();
    let mut items: Vec<Converted> = set
        .docs
        .iter()
        .enumerate()
        .filter_map(|(i, doc)| match &doc.item {
            Some(Item::Correlation(c)) => Some(correlation(set, p, &converted, i, &doc.path, c)),
            _ => None,
        })
        .collect();
    items.extend(converted.into_iter().filter(|c| !hidden.contains(&c.doc)));
    items.sort_by_key(|c| c.doc);
    let document = match &p.format {
        Format::Template {
            template:
                Template {
                    output: TemplateOutput::All { file },
                    ..
                },
            renderer,
            set,
        } => {
            // A one-file template renders once, with every rule that rendered alone.
            let contexts = items
                .iter()
                .filter(|c| c.result.is_ok())
                .filter_map(|c| c.context.clone())
                .collect();
            Some(match renderer.render(render::all_context(contexts, set)) {
                Ok(doc) => Ok((*file, doc)),
                Err(RenderError::Refused(e) | RenderError::Template(e)) => {
                    Err(Diagnostic::error(Code::Template, e))
                }
            })
        }
        _ => None,
    };
    Conversion {
        items,
        hidden,
        document,
        warnings,
    }
}

/// Whether a rule tests a regular expression anywhere.
fn has_regex(rule: &RuleIr) -> bool {
    fn walk(e: &crate::ir::Expr) -> bool {
        use crate::ir::Expr;
        match e {
            Expr::Pred(p) => matches!(p.test, crate::ir::pred::Test::Regex(_)),
            Expr::Not(inner) => walk(inner),
            Expr::And(items) | Expr::Or(items) => items.iter().any(walk),
            Expr::True | Expr::False => false,
        }
    }
    rule.conditions.iter().any(walk)
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

fn convert_one(p: &Prepared, doc: usize, path: &str, rule: &RuleIr) -> Converted {
    let b = p.backend;
    let stem = rule.file_stem();
    let at = |d: Diagnostic| d.at(&rule.origin.file, rule.origin.span);
    let mut file_name = None;
    let mut context = None;
    let mut state = IndexMap::new();
    let result = apply_routes(&p.routes, rule).and_then(|mut r| {
        if let (Some(t), Some(key)) = (&p.table, b.table_key()) {
            r.state.insert(key.to_string(), t.clone());
        }
        state = r.state.clone();
        let query = b
            .convert(&r, p.format.query())
            .map_err(|msg| at(Diagnostic::error(Code::Unsupported, msg)))?;
        let Format::Template {
            template,
            renderer,
            set,
        } = &p.format
        else {
            return Ok(query);
        };
        let mut settings = r.state.clone();
        settings.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
        let target = b
            .template_values(&r, template, &settings)
            .map_err(|msg| at(Diagnostic::error(Code::Unsupported, msg)))?;
        if let TemplateOutput::PerRule { .. } = &template.output {
            file_name = target
                .get("file_name")
                .and_then(|f| f.as_str())
                .map(str::to_string);
        }
        let ctx = RuleContext {
            rule: &r,
            path,
            name: &stem,
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
        doc,
        path: path.to_string(),
        id: rule.header.id.clone(),
        title: rule.header.title.clone(),
        file_name,
        stem,
        result,
        context,
        state,
    }
}

/// A correlation over the queries of the documents it refers to.
fn correlation(
    set: &RuleSet,
    p: &Prepared,
    converted: &[Converted],
    doc: usize,
    path: &str,
    c: &Arc<CorrelationIr>,
) -> Converted {
    let b = p.backend;
    let by_doc: HashMap<usize, &Converted> = converted.iter().map(|c| (c.doc, c)).collect();
    let refs: Vec<backend::Referenced> = c
        .rules
        .iter()
        .map(|r| {
            let done = by_doc.get(&r.target);
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
    let result = if let Format::Template { template, .. } = &p.format {
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
        p.routes
            .iter()
            .map(|route| route.apply_correlation_with(c, &logsources))
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
                Ok(mapped
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| c.as_ref().clone()))
            })
            .and_then(|mapped| {
                b.convert_correlation(&mapped, &refs, p.format.query(), p.method)
                    .map_err(|msg| at(Diagnostic::error(Code::Unsupported, msg)))
            })
    } else {
        Err(at(Diagnostic::error(
            Code::Unsupported,
            "a rule this correlation refers to could not be converted",
        )))
    };
    Converted {
        doc,
        path: path.to_string(),
        id: c.header.id.clone(),
        title: c.header.title.clone(),
        file_name: None,
        stem: c
            .header
            .name
            .clone()
            .unwrap_or_else(|| c.header.title.clone()),
        result,
        context: None,
        state: IndexMap::new(),
    }
}

/// The event fields a correlation reads: its group-by fields, its aliases' fields and the
/// fields its condition aggregates, in that order.
fn correlation_fields(c: &CorrelationIr) -> Vec<String> {
    let mut out = c.group_by.clone();
    for a in &c.aliases {
        out.extend(a.fields.iter().map(|(_, f)| f.clone()));
    }
    if let crate::ir::rule::CorrelationCondition::Compare { fields, .. } = &c.condition {
        out.extend(fields.iter().cloned());
    }
    out
}
