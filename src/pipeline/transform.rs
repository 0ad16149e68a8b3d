//! The transformations, with pySigma's parameters and semantics, applied to a working copy of
//! one document ([`Work`]). Where sigc differs from pySigma on purpose, the reason is at the
//! spot (and summarised in the module docs of `pipeline`).

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use regex::Regex;

use super::condition::{Doc, Env, FieldSubject, RuleView, State};
use super::parse::{Params, ProcessingItem, Scalar, error, wrong};
use super::strings::{self, Replacement};
use super::tree::{Item, Tree};
use crate::diagnostic::{Code, Diagnostic, Result};
use crate::ir::expr::Expr;
use crate::ir::lower::lower_items;
use crate::ir::pred::{FieldRef, NumOp, NumValue, Piece, Test};
use crate::ir::rule::{CorrelationCondition, CorrelationIr, Header, Origin};
use crate::source::SourceFile;
use crate::syntax::ast::LogSource;
use crate::syntax::document::{Ctx, parse_items};
use crate::yaml::{Node, NodeKind, Style};

#[derive(Debug)]
pub(crate) enum Transform {
    FieldNames(FieldNames),
    DropItem,
    AddCondition(AddCondition),
    ChangeLogsource(LogSource),
    ReplaceString {
        re: Regex,
        repl: Replacement,
        skip_special: bool,
        interpret_special: bool,
    },
    MapString(IndexMap<String, Vec<String>>),
    ValuePlaceholders(Which),
    WildcardPlaceholders(Which),
    QueryExpression {
        /// The expression with `{id}` still to fill and `{field}` kept for the backend.
        expression: String,
        mapping: IndexMap<String, String>,
        which: Which,
    },
    SetState {
        key: String,
        val: Scalar,
    },
    RuleFailure(String),
    ItemFailure(String),
    AddField(Vec<String>),
    RemoveField(Vec<String>),
    SetField(Vec<String>),
    SetCustomAttribute {
        attribute: String,
        value: Node,
    },
}

/// Most alternatives one value may expand to (`value_placeholders` multiplies the values of
/// every placeholder in it): beyond this a pipeline is hostile or broken, not useful.
const MAX_EXPANSION: usize = 4096;

/// pySigma transformations sigc does not implement (yet): named so the error says so, rather
/// than calling them unknown.
const NOT_SUPPORTED: &[&str] = &[
    "field_name_transform",
    "hashes_fields",
    "regex",
    "set_value",
    "convert_type",
    "case",
    "strict_field_mapping_failure",
    "nest",
    "file_placeholders",
    "http_placeholders",
    "command_placeholders",
];

const SUPPORTED: &[&str] = &[
    "field_name_mapping",
    "field_name_prefix_mapping",
    "field_name_prefix",
    "field_name_suffix",
    "drop_detection_item",
    "add_condition",
    "change_logsource",
    "replace_string",
    "map_string",
    "value_placeholders",
    "wildcard_placeholders",
    "query_expression_placeholders",
    "set_state",
    "rule_failure",
    "detection_item_failure",
    "add_field",
    "remove_field",
    "set_field",
    "set_custom_attribute",
];

/// How a field-name transformation renames one field (`None`: it leaves it alone).
#[derive(Debug)]
pub(crate) enum FieldNames {
    /// `field_name_mapping`; a `null` key maps keywords to fields.
    Map(Vec<(Option<String>, Vec<String>)>),
    /// `field_name_prefix_mapping`: the first matching prefix, in written order.
    PrefixMap(Vec<(String, Vec<String>)>),
    Prefix(String),
    Suffix(String),
}

impl FieldNames {
    fn map(&self, field: Option<&str>) -> Option<Vec<String>> {
        match (self, field) {
            (FieldNames::Map(m), f) => m
                .iter()
                .find(|(k, _)| k.as_deref() == f)
                .map(|(_, v)| v.clone()),
            (_, None) => None,
            (FieldNames::PrefixMap(m), Some(f)) => m.iter().find_map(|(src, dst)| {
                let rest = f.strip_prefix(src.as_str())?;
                Some(dst.iter().map(|d| format!("{d}{rest}")).collect())
            }),
            (FieldNames::Prefix(p), Some(f)) => Some(vec![format!("{p}{f}")]),
            (FieldNames::Suffix(s), Some(f)) => Some(vec![format!("{f}{s}")]),
        }
    }
}

/// `include`/`exclude` of the placeholder transformations.
#[derive(Debug)]
pub(crate) struct Which {
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
}

impl Which {
    fn parse(p: &mut Params) -> Result<Which> {
        let include = p.opt_strings("include")?;
        let exclude = p.opt_strings("exclude")?;
        if include.is_some() && exclude.is_some() {
            return Err(p.error(
                super::parse::start(p.node),
                "`include` and `exclude` cannot be used together",
            ));
        }
        Ok(Which { include, exclude })
    }

    fn handles(&self, name: &str) -> bool {
        match (&self.include, &self.exclude) {
            (Some(i), _) => i.iter().any(|n| n == name),
            (None, Some(e)) => !e.iter().any(|n| n == name),
            (None, None) => true,
        }
    }

    fn any_handled(&self, pieces: &[Piece]) -> bool {
        pieces
            .iter()
            .any(|p| matches!(p, Piece::Placeholder(n) if self.handles(n)))
    }
}

#[derive(Debug)]
pub(crate) struct AddCondition {
    file: Arc<SourceFile>,
    conditions: Node,
    template: bool,
    negated: bool,
    /// Lowered once when there is nothing to substitute per rule.
    lowered: Option<Expr>,
}

impl AddCondition {
    /// The conditions lowered like a detection map, after `$category`/`$product`/`$service`
    /// substitution when `template` is set.
    fn expr(&self, ls: &LogSource) -> Result<Expr> {
        if let Some(e) = &self.lowered {
            return Ok(e.clone());
        }
        let node = if self.template {
            substitute_map(&self.conditions, ls)
        } else {
            self.conditions.clone()
        };
        lower_conditions(&self.file, &node)
    }
}

fn lower_conditions(file: &Arc<SourceFile>, node: &Node) -> Result<Expr> {
    let entries = node.as_map().unwrap_or_default();
    let mut cx = Ctx::new(file);
    let items = parse_items(&mut cx, entries);
    let expr = lower_items(&mut cx, &items);
    if let Some(d) = cx.diags.into_iter().find(Diagnostic::is_error) {
        return Err(d);
    }
    expr.ok_or_else(|| error(file, node.span, "these conditions do not lower"))
}

/// Python's `string.Template(value).safe_substitute(category=…, product=…, service=…)` on
/// every string value (a missing log source field reads `None`, as in pySigma).
fn substitute_map(node: &Node, ls: &LogSource) -> Node {
    let mut out = node.clone();
    if let NodeKind::Map(entries) = &mut out.kind {
        for (_, v) in entries {
            substitute_values(v, ls);
        }
    }
    out
}

fn substitute_values(node: &mut Node, ls: &LogSource) {
    match &mut node.kind {
        NodeKind::Str(s, _) => *s = template(s, ls),
        NodeKind::Seq(items) => items.iter_mut().for_each(|i| substitute_values(i, ls)),
        _ => {}
    }
}

fn template(s: &str, ls: &LogSource) -> String {
    let value = |name: &str| -> Option<String> {
        let v = match name {
            "category" => &ls.category,
            "product" => &ls.product,
            "service" => &ls.service,
            _ => return None,
        };
        Some(v.clone().unwrap_or_else(|| "None".into()))
    };
    let ident = |t: &str| -> usize {
        let mut n = 0;
        for (i, c) in t.char_indices() {
            let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
            if !ok {
                break;
            }
            n = i + c.len_utf8();
        }
        n
    };
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('$') {
            out.push('$');
            rest = a;
        } else if let Some(inner) = after.strip_prefix('{') {
            let n = ident(inner);
            match (inner[n..].starts_with('}'), value(&inner[..n])) {
                (true, Some(v)) if n > 0 => {
                    out.push_str(&v);
                    rest = &inner[n + 1..];
                }
                _ => {
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            let n = ident(after);
            match value(&after[..n]) {
                Some(v) if n > 0 => {
                    out.push_str(&v);
                    rest = &after[n..];
                }
                _ => {
                    out.push('$');
                    rest = after;
                }
            }
        }
    }
    out.push_str(rest);
    out
}

/// A field name → one or several names, from a scalar or a list.
fn names(file: &Arc<SourceFile>, n: &Node, what: &str) -> Result<Vec<String>> {
    match &n.kind {
        NodeKind::Seq(items) => items
            .iter()
            .map(|i| {
                i.scalar_text()
                    .map(str::to_string)
                    .ok_or_else(|| wrong(file, i, what, "a string"))
            })
            .collect(),
        _ => n
            .scalar_text()
            .map(|s| vec![s.to_string()])
            .ok_or_else(|| wrong(file, n, what, "a string or a list of strings")),
    }
}

fn mapping(p: &mut Params, allow_null: bool) -> Result<Vec<(Option<String>, Vec<String>)>> {
    let m = p.req("mapping")?;
    let Some(entries) = m.as_map() else {
        return Err(wrong(p.file, m, "`mapping`", "a map"));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let key = match (&k.kind, k.scalar_text()) {
            (NodeKind::Null, _) if allow_null => None,
            (_, Some(s)) => Some(s.to_string()),
            _ => return Err(wrong(p.file, k, "a mapping key", "a string")),
        };
        out.push((key, names(p.file, v, "a mapping value")?));
    }
    Ok(out)
}

/// Check a query expression template (Python `str.format` with `field` and `id`) and unescape
/// its braces; `{id}` stays for each placeholder, `{field}` for the backend.
fn expression_template(p: &Params, n: &Node, text: &str) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("{{") {
            out.push('{');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("}}") {
            out.push('}');
            rest = t;
        } else if tail.starts_with("{field}") || tail.starts_with("{id}") {
            let end = tail.find('}').map_or(tail.len(), |e| e + 1);
            out.push_str(&tail[..end]);
            rest = &tail[end..];
        } else {
            return Err(p
                .error(n.span, "the expression may only use `{field}` and `{id}`")
                .with_help("write a literal brace as `{{` or `}}`"));
        }
    }
    out.push_str(rest);
    Ok(out)
}

impl Transform {
    pub(crate) fn parse(p: &mut Params, kind: &str, type_node: &Node) -> Result<Transform> {
        let file = p.file.clone();
        Ok(match kind {
            "field_name_mapping" => Transform::FieldNames(FieldNames::Map(mapping(p, true)?)),
            "field_name_prefix_mapping" => {
                let m = mapping(p, false)?;
                Transform::FieldNames(FieldNames::PrefixMap(
                    m.into_iter()
                        .map(|(k, v)| (k.unwrap_or_default(), v))
                        .collect(),
                ))
            }
            "field_name_prefix" => Transform::FieldNames(FieldNames::Prefix(p.string("prefix")?)),
            "field_name_suffix" => Transform::FieldNames(FieldNames::Suffix(p.string("suffix")?)),
            "drop_detection_item" => Transform::DropItem,
            "add_condition" => {
                let conditions = p.req("conditions")?;
                if conditions.as_map().is_none_or(|m| m.is_empty()) {
                    return Err(wrong(
                        &file,
                        conditions,
                        "`conditions`",
                        "a non-empty map of `field|modifiers: value`",
                    ));
                }
                // pySigma names the added detection; sigc's IR has no names, so it is ignored.
                p.opt_string("name")?;
                let template = p.bool("template", false)?;
                let negated = p.bool("negated", false)?;
                // Lower now: errors show up when the pipeline loads, not on the first rule.
                let probe = if template {
                    substitute_map(conditions, &LogSource::default())
                } else {
                    conditions.clone()
                };
                let lowered = lower_conditions(&file, &probe)?;
                Transform::AddCondition(AddCondition {
                    file: file.clone(),
                    conditions: conditions.clone(),
                    template,
                    negated,
                    lowered: (!template).then_some(lowered),
                })
            }
            "change_logsource" => Transform::ChangeLogsource(LogSource {
                category: p.opt_string("category")?,
                product: p.opt_string("product")?,
                service: p.opt_string("service")?,
                ..LogSource::default()
            }),
            "replace_string" => {
                let rn = p.req("regex")?;
                let regex = p.string("regex")?;
                let re = strings::compile(&regex).map_err(|m| p.error(rn.span, m))?;
                let tn = p.req("replacement")?;
                let replacement = p.string("replacement")?;
                let repl =
                    Replacement::parse(&replacement, &re).map_err(|m| p.error(tn.span, m))?;
                Transform::ReplaceString {
                    re,
                    repl,
                    skip_special: p.bool("skip_special", false)?,
                    interpret_special: p.bool("interpret_special", false)?,
                }
            }
            "map_string" => {
                let m = mapping(p, false)?;
                Transform::MapString(
                    m.into_iter()
                        .map(|(k, v)| (k.unwrap_or_default(), v))
                        .collect(),
                )
            }
            "value_placeholders" => Transform::ValuePlaceholders(Which::parse(p)?),
            "wildcard_placeholders" => Transform::WildcardPlaceholders(Which::parse(p)?),
            "query_expression_placeholders" => {
                let n = p.req("expression")?;
                let text = p.string("expression")?;
                let expression = expression_template(p, n, &text)?;
                let mut map = IndexMap::new();
                if let Some(m) = p.map("mapping")? {
                    for (k, v) in m.as_map().unwrap_or_default() {
                        let (Some(k), Some(v)) = (k.scalar_text(), v.scalar_text()) else {
                            return Err(wrong(&file, v, "a mapping value", "a string"));
                        };
                        map.insert(k.to_string(), v.to_string());
                    }
                }
                Transform::QueryExpression {
                    expression,
                    mapping: map,
                    which: Which::parse(p)?,
                }
            }
            "set_state" => Transform::SetState {
                key: p.string("key")?,
                val: p.scalar("val")?,
            },
            "rule_failure" => Transform::RuleFailure(p.string("message")?),
            "detection_item_failure" => Transform::ItemFailure(p.string("message")?),
            "add_field" => Transform::AddField(p.strings("field")?),
            "remove_field" => Transform::RemoveField(p.strings("field")?),
            "set_field" => Transform::SetField(p.strings("fields")?),
            "set_custom_attribute" => Transform::SetCustomAttribute {
                attribute: p.string("attribute")?,
                value: p.req("value")?.clone(),
            },
            other => {
                let msg = if NOT_SUPPORTED.contains(&other) {
                    format!("sigc does not support the pySigma transformation `{other}` yet")
                } else {
                    format!("unknown transformation type `{other}`")
                };
                return Err(error(&file, type_node.span, msg)
                    .with_help(format!("supported types: {}", SUPPORTED.join(", "))));
            }
        })
    }
}

/// The document a pipeline is working on: a copy, never the caller's value.
pub(crate) struct Work<'a> {
    pub header: Header,
    pub target: Target,
    pub applied: Vec<String>,
    pub state: State,
    pub field_applied: HashMap<String, Vec<String>>,
    pub vars: &'a IndexMap<String, Node>,
    pub origin: &'a Origin,
}

pub(crate) enum Target {
    Rule {
        logsource: LogSource,
        trees: Vec<Tree>,
    },
    Correlation {
        corr: Box<CorrelationIr>,
        /// The log sources of the referenced rules (for `logsource` conditions).
        logsources: Vec<LogSource>,
    },
}

impl Work<'_> {
    pub(crate) fn view(&self) -> RuleView<'_> {
        RuleView {
            doc: match &self.target {
                Target::Rule { logsource, trees } => Doc::Rule { logsource, trees },
                Target::Correlation { logsources, .. } => Doc::Correlation { logsources },
            },
            header: &self.header,
            applied: &self.applied,
            env: Env {
                state: &self.state,
                field_applied: &self.field_applied,
            },
        }
    }
}

/// A rule rejected by `rule_failure` / `detection_item_failure`: the error points at the rule,
/// the help at the pipeline item that rejected it.
fn failure(pi: &ProcessingItem, origin: &Origin, message: &str) -> Diagnostic {
    Diagnostic::error(Code::PipelineFailure, message.to_string())
        .at(&origin.file, origin.span.sub(0, 1))
        .with_help(item_ref("rejected by", pi))
}

pub(crate) fn item_ref(verb: &str, pi: &ProcessingItem) -> String {
    let (line, col) = pi.file.line_col(pi.span.start);
    let name = pi
        .id
        .as_ref()
        .map_or_else(|| "the processing item".to_string(), |id| format!("`{id}`"));
    format!("{verb} {name} at {}:{line}:{col}", pi.file.path)
}

/// pySigma's `_apply_field_name`: the new names if the transformation renames `field` and the
/// field name conditions hold for it.
fn rename(
    pi: &ProcessingItem,
    f: &FieldNames,
    field: &str,
    env: &Env,
) -> Result<Option<Vec<String>>> {
    match f.map(Some(field)) {
        Some(new) if pi.matches_field(FieldSubject::Name(Some(field)), env)? => Ok(Some(new)),
        _ => Ok(None),
    }
}

/// Remember which item renamed a field, for field-level `processing_item_applied`.
fn track(
    field_applied: &mut HashMap<String, Vec<String>>,
    renamed: Vec<(String, Vec<String>)>,
    id: Option<&str>,
) {
    for (src, dest) in renamed {
        if dest.len() == 1 && dest[0] == src {
            continue;
        }
        let mut ids = field_applied.remove(&src).unwrap_or_default();
        if let Some(id) = id {
            ids.push(id.to_string());
        }
        for d in dest {
            field_applied.insert(d, ids.clone());
        }
    }
}

/// The rule's `fields:` list, if it has one.
fn fields_list(h: &Header) -> Option<Vec<String>> {
    let (_, node) = h.fields.iter().find(|(k, _)| k == "fields")?;
    Some(match &node.kind {
        NodeKind::Seq(items) => items
            .iter()
            .filter_map(|n| n.scalar_text().map(str::to_string))
            .collect(),
        _ => node
            .scalar_text()
            .map(|s| vec![s.to_string()])
            .unwrap_or_default(),
    })
}

fn set_fields_list(h: &mut Header, list: Vec<String>) {
    let span = h
        .fields
        .iter()
        .find(|(k, _)| k == "fields")
        .map(|(_, n)| n.span)
        .unwrap_or_default();
    let node = Node {
        span,
        kind: NodeKind::Seq(
            list.into_iter()
                .map(|s| Node {
                    span,
                    kind: NodeKind::Str(s, Style::Plain),
                })
                .collect(),
        ),
    };
    set_header(h, "fields", node);
}

fn set_header(h: &mut Header, key: &str, node: Node) {
    match h.fields.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = node,
        None => h.fields.push((key.to_string(), node)),
    }
}

/// Python's `str()` of a number, as `replace_string` reads numbers.
fn number_text(n: &crate::ir::pred::Number) -> String {
    match n.value {
        NumValue::Int(i) => i.to_string(),
        NumValue::Float(_) => n.text.clone(),
    }
}

/// Rewrite the values of every detection item the processing item's conditions select;
/// `f` returns replacement alternatives for one value, or `None` to keep it. Items whose
/// values changed are marked as processed by the item.
/// Rewrite every string value of a rule that holds a placeholder `which` handles; `f` gets the
/// value and whether it is a keyword, and returns its replacements (ORed).
fn each_placeholder_value(
    target: &mut Target,
    pi: &ProcessingItem,
    env: &Env,
    which: &Which,
    mut f: impl FnMut(&crate::ir::StrMatch, bool) -> Result<Vec<Test>>,
) -> Result<()> {
    let Target::Rule { trees, .. } = target else {
        return Ok(());
    };
    each_value(trees, pi, env, |field, t| {
        let Test::Str(m) = t else { return Ok(None) };
        if !which.any_handled(&m.pieces) {
            return Ok(None);
        }
        f(m, field.is_none()).map(Some)
    })
}

fn each_value(
    trees: &mut [Tree],
    pi: &ProcessingItem,
    env: &Env,
    mut f: impl FnMut(Option<&str>, &Test) -> Result<Option<Vec<Test>>>,
) -> Result<()> {
    for t in trees {
        t.rewrite(&mut |it: &mut Item| {
            if !pi.matches_item(it, env)? {
                return Ok(None);
            }
            let mut modified = false;
            let field = it.field.clone();
            for value in &mut it.values {
                let mut out = Vec::with_capacity(value.len());
                for t in value.iter() {
                    match f(field.as_deref(), t)? {
                        Some(new) => {
                            modified = true;
                            out.extend(new);
                        }
                        None => out.push(t.clone()),
                    }
                }
                *value = out;
            }
            if modified {
                it.mark(pi.id.as_deref());
            }
            Ok(None)
        })?;
    }
    Ok(())
}

impl Transform {
    pub(crate) fn apply(&self, pi: &ProcessingItem, w: &mut Work) -> Result<()> {
        let id = pi.id.as_deref();
        let Work {
            header,
            target,
            state,
            field_applied,
            vars,
            origin,
            ..
        } = w;
        match self {
            Transform::FieldNames(f) => {
                let mut renamed = Vec::new();
                {
                    let env = Env {
                        state,
                        field_applied,
                    };
                    if let Some(list) = fields_list(header) {
                        let mut out = Vec::with_capacity(list.len());
                        let mut changed = false;
                        for field in list {
                            match rename(pi, f, &field, &env)? {
                                Some(new) => {
                                    changed = true;
                                    renamed.push((field, new.clone()));
                                    out.extend(new);
                                }
                                None => out.push(field),
                            }
                        }
                        if changed {
                            set_fields_list(header, out);
                        }
                    }
                    match target {
                        Target::Rule { trees, .. } => {
                            for t in trees {
                                t.rewrite(&mut |it| map_item(it, pi, f, &env, &mut renamed))?;
                            }
                        }
                        Target::Correlation { corr, .. } => {
                            map_correlation(corr, pi, f, &env, origin, &mut renamed)?;
                        }
                    }
                }
                track(field_applied, renamed, id);
            }
            Transform::DropItem => {
                let env = Env {
                    state,
                    field_applied,
                };
                if let Target::Rule { trees, .. } = target {
                    for t in trees {
                        t.rewrite(&mut |it| Ok(pi.matches_item(it, &env)?.then_some(Tree::Gone)))?;
                    }
                }
            }
            Transform::AddCondition(ac) => {
                if let Target::Rule { logsource, trees } = target {
                    let mut added = Tree::build(&ac.expr(logsource)?);
                    added.rewrite(&mut |it| {
                        it.mark(id);
                        Ok(None)
                    })?;
                    if ac.negated {
                        added = Tree::Not(Box::new(added));
                    }
                    for t in trees {
                        let old = std::mem::replace(t, Tree::Const(true));
                        *t = Tree::And(vec![added.clone(), old]);
                    }
                }
            }
            Transform::ChangeLogsource(ls) => {
                if let Target::Rule { logsource, .. } = target {
                    *logsource = ls.clone();
                }
            }
            Transform::ReplaceString {
                re,
                repl,
                skip_special,
                interpret_special,
            } => {
                let env = Env {
                    state,
                    field_applied,
                };
                let replace = |m: &crate::ir::pred::StrMatch, keyword: bool| {
                    let pieces = strings::sigma_pieces(m, keyword);
                    let new = if *skip_special {
                        let mut out = Vec::with_capacity(pieces.len());
                        for p in pieces {
                            match p {
                                Piece::Lit(s) => {
                                    let r = repl.replace_all(re, &s);
                                    if *interpret_special {
                                        out.extend(strings::parse(&r, false));
                                    } else {
                                        out.push(Piece::Lit(r));
                                    }
                                }
                                other => out.push(other),
                            }
                        }
                        out
                    } else {
                        strings::replace(&pieces, re, repl)
                    };
                    // pySigma returns a plain `SigmaString`, dropping `cased`; sigc keeps the
                    // value's case rule: a replacement should not change how it compares.
                    Test::Str(strings::from_pieces(new, m.cased, keyword))
                };
                if let Target::Rule { trees, .. } = target {
                    each_value(trees, pi, &env, |field, t| {
                        let keyword = field.is_none();
                        Ok(match t {
                            Test::Str(m) => Some(vec![replace(m, keyword)]),
                            // pySigma reads numbers as strings here (and keeps them strings).
                            Test::Num(NumOp::Eq, n) => {
                                let m = strings::from_pieces(
                                    strings::parse(&number_text(n), false),
                                    false,
                                    keyword,
                                );
                                Some(vec![replace(&m, keyword)])
                            }
                            _ => None,
                        })
                    })?;
                }
            }
            Transform::MapString(map) => {
                let env = Env {
                    state,
                    field_applied,
                };
                if let Target::Rule { trees, .. } = target {
                    each_value(trees, pi, &env, |field, t| {
                        let keyword = field.is_none();
                        let Test::Str(m) = t else { return Ok(None) };
                        let key = strings::plain(&strings::sigma_pieces(m, keyword));
                        Ok(map.get(&key).map(|vals| {
                            vals.iter()
                                .map(|v| {
                                    Test::Str(strings::from_pieces(
                                        strings::parse(v, false),
                                        m.cased,
                                        keyword,
                                    ))
                                })
                                .collect()
                        }))
                    })?;
                }
            }
            Transform::WildcardPlaceholders(which) => {
                let env = Env {
                    state,
                    field_applied,
                };
                each_placeholder_value(target, pi, &env, which, |m, keyword| {
                    let pieces = strings::sigma_pieces(m, keyword)
                        .into_iter()
                        .map(|p| match p {
                            Piece::Placeholder(n) if which.handles(&n) => Piece::AnyStr,
                            other => other,
                        })
                        .collect();
                    Ok(vec![Test::Str(strings::from_pieces(
                        pieces, m.cased, keyword,
                    ))])
                })?;
            }
            Transform::ValuePlaceholders(which) => {
                let env = Env {
                    state,
                    field_applied,
                };
                each_placeholder_value(target, pi, &env, which, |m, keyword| {
                    let mut alts: Vec<Vec<Piece>> = vec![Vec::new()];
                    for p in strings::sigma_pieces(m, keyword) {
                        match p {
                            Piece::Placeholder(n) if which.handles(&n) => {
                                let values = var_values(vars, &n, pi, origin)?;
                                if alts.len().saturating_mul(values.len()) > MAX_EXPANSION {
                                    return Err(Diagnostic::error(
                                            Code::Pipeline,
                                            format!(
                                                "the placeholders of `{}` expand to more than {MAX_EXPANSION} values",
                                                strings::plain(&m.pieces)
                                            ),
                                        )
                                        .at(&origin.file, origin.span.sub(0, 1))
                                        .with_help(item_ref("expanded by", pi)));
                                }
                                alts = alts
                                    .iter()
                                    .flat_map(|a| {
                                        values.iter().map(move |v| {
                                            let mut x = a.clone();
                                            x.extend(v.iter().cloned());
                                            x
                                        })
                                    })
                                    .collect();
                            }
                            other => alts.iter_mut().for_each(|a| a.push(other.clone())),
                        }
                    }
                    Ok(alts
                        .into_iter()
                        .map(|a| Test::Str(strings::from_pieces(a, m.cased, keyword)))
                        .collect())
                })?;
            }
            Transform::QueryExpression {
                expression,
                mapping,
                which,
            } => {
                let env = Env {
                    state,
                    field_applied,
                };
                if let Target::Rule { trees, .. } = target {
                    each_value(trees, pi, &env, |field, t| {
                        let Test::Str(m) = t else { return Ok(None) };
                        if !m.has_placeholders() {
                            return Ok(None);
                        }
                        let pieces = strings::sigma_pieces(m, field.is_none());
                        let [Piece::Placeholder(name)] = pieces.as_slice() else {
                            return Err(Diagnostic::error(
                                Code::UnresolvedPlaceholder,
                                format!(
                                    "`{}`: query_expression_placeholders takes only values that are a placeholder and nothing else",
                                    strings::plain(&pieces)
                                ),
                            )
                            .at(&origin.file, origin.span.sub(0, 1))
                            .with_help(item_ref("required by", pi)));
                        };
                        if !which.handles(name) {
                            return Ok(None);
                        }
                        if field.is_none() && expression.contains("{field}") {
                            return Err(Diagnostic::error(
                                Code::UnresolvedPlaceholder,
                                format!("the query expression for `%{name}%` needs a field, but the value is a keyword"),
                            )
                            .at(&origin.file, origin.span.sub(0, 1))
                            .with_help(item_ref("required by", pi)));
                        }
                        let id = mapping.get(name).filter(|s| !s.is_empty()).unwrap_or(name);
                        Ok(Some(vec![Test::Expression(expression.replace("{id}", id))]))
                    })?;
                }
            }
            Transform::SetState { key, val } => {
                state.insert(key.clone(), val.clone());
            }
            Transform::RuleFailure(msg) => return Err(failure(pi, origin, msg)),
            Transform::ItemFailure(msg) => {
                let env = Env {
                    state,
                    field_applied,
                };
                if let Target::Rule { trees, .. } = target {
                    for t in trees {
                        t.rewrite(&mut |it| {
                            if pi.matches_item(it, &env)? {
                                return Err(failure(pi, origin, msg));
                            }
                            Ok(None)
                        })?;
                    }
                }
            }
            Transform::AddField(add) => {
                let mut list = fields_list(header).unwrap_or_default();
                list.extend(add.iter().cloned());
                set_fields_list(header, list);
            }
            Transform::RemoveField(remove) => {
                if let Some(mut list) = fields_list(header) {
                    // Python's `list.remove`: the first occurrence of each.
                    for r in remove {
                        if let Some(i) = list.iter().position(|f| f == r) {
                            list.remove(i);
                        }
                    }
                    set_fields_list(header, list);
                }
            }
            Transform::SetField(fields) => set_fields_list(header, fields.clone()),
            Transform::SetCustomAttribute { attribute, value } => {
                set_header(header, attribute, value.clone());
            }
        }
        Ok(())
    }
}

/// The values of a `vars` entry, each read as a Sigma string (pySigma: `SigmaString(str(v))`).
fn var_values(
    vars: &IndexMap<String, Node>,
    name: &str,
    pi: &ProcessingItem,
    origin: &Origin,
) -> Result<Vec<Vec<Piece>>> {
    let unresolved = |msg: String| {
        Diagnostic::error(Code::UnresolvedPlaceholder, msg)
            .at(&origin.file, origin.span.sub(0, 1))
            .with_help(item_ref("needed by", pi))
    };
    let Some(node) = vars.get(name) else {
        return Err(unresolved(format!(
            "the placeholder `%{name}%` has no value: no pipeline defines `{name}` under `vars`"
        )));
    };
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    items
        .into_iter()
        .map(|n| match Scalar::from_node(n) {
            Some(s @ (Scalar::Str(_) | Scalar::Int(_) | Scalar::Float(..) | Scalar::Bool(_))) => {
                Ok(strings::parse(&s.python_str(), false))
            }
            _ => Err(unresolved(format!(
                "the variable `{name}` holds a value that is not a string or a number"
            ))),
        })
        .collect()
}

/// `field_name_*` on one detection item: its field (one name, or an OR of copies for several),
/// and the fields its `fieldref` values name.
fn map_item(
    it: &mut Item,
    pi: &ProcessingItem,
    f: &FieldNames,
    env: &Env,
    renamed: &mut Vec<(String, Vec<String>)>,
) -> Result<Option<Tree>> {
    if !pi.matches_item(it, env)? {
        return Ok(None);
    }
    let mut changed = false;
    for value in &mut it.values {
        let mut out = Vec::with_capacity(value.len());
        for t in value.drain(..) {
            let Test::FieldRef(r) = &t else {
                out.push(t);
                continue;
            };
            if !pi.matches_field(FieldSubject::Name(Some(&r.other)), env)? {
                out.push(t);
                continue;
            }
            changed = true;
            match rename(pi, f, &r.other, env)? {
                Some(new) => {
                    renamed.push((r.other.clone(), new.clone()));
                    out.extend(
                        new.into_iter()
                            .map(|other| Test::FieldRef(FieldRef { other, ..r.clone() })),
                    );
                }
                None => out.push(t),
            }
        }
        *value = out;
    }
    if let Some(new) = f.map(it.field.as_deref())
        && pi.matches_field(FieldSubject::ItemField(it), env)?
    {
        it.mark(pi.id.as_deref());
        return Ok(Some(match new.as_slice() {
            [] => Tree::Gone,
            [one] => {
                it.field = Some(one.clone());
                return Ok(None);
            }
            many => Tree::Or(
                many.iter()
                    .map(|name| {
                        Tree::Item(Item {
                            field: Some(name.clone()),
                            ..it.clone()
                        })
                    })
                    .collect(),
            ),
        }));
    }
    if changed {
        it.mark(pi.id.as_deref());
    }
    Ok(None)
}

/// `field_name_*` on a correlation: alias fields and condition fields must stay one field each;
/// group-by fields may become several (aliases are names, not fields, and stay).
fn map_correlation(
    c: &mut CorrelationIr,
    pi: &ProcessingItem,
    f: &FieldNames,
    env: &Env,
    origin: &Origin,
    renamed: &mut Vec<(String, Vec<String>)>,
) -> Result<()> {
    let one = |field: &mut String,
               what: &str,
               renamed: &mut Vec<(String, Vec<String>)>|
     -> Result<()> {
        let Some(new) = rename(pi, f, field, env)? else {
            return Ok(());
        };
        let [single] = new.as_slice() else {
            return Err(Diagnostic::error(
                Code::Pipeline,
                format!(
                    "the {what} field `{field}` would map to {} fields; a correlation needs exactly one",
                    new.len()
                ),
            )
            .at(&origin.file, origin.span.sub(0, 1))
            .with_help(item_ref("mapped by", pi)));
        };
        renamed.push((field.clone(), new.clone()));
        *field = single.clone();
        Ok(())
    };
    let aliases: Vec<String> = c.aliases.iter().map(|a| a.name.clone()).collect();
    for alias in &mut c.aliases {
        for (_, field) in &mut alias.fields {
            one(field, "alias", renamed)?;
        }
    }
    let mut group_by = Vec::with_capacity(c.group_by.len());
    for field in &c.group_by {
        match (aliases.contains(field), rename(pi, f, field, env)?) {
            (false, Some(new)) => {
                renamed.push((field.clone(), new.clone()));
                group_by.extend(new);
            }
            _ => group_by.push(field.clone()),
        }
    }
    c.group_by = group_by;
    if let CorrelationCondition::Compare { fields, .. } = &mut c.condition {
        for field in fields {
            one(field, "condition", renamed)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_substitute_like_python() {
        let ls = LogSource {
            category: Some("process_creation".into()),
            product: Some("windows".into()),
            ..LogSource::default()
        };
        assert_eq!(
            template("$product-${category}", &ls),
            "windows-process_creation"
        );
        assert_eq!(template("$service", &ls), "None");
        assert_eq!(
            template("$$product $other ${x} $", &ls),
            "$product $other ${x} $"
        );
        assert_eq!(template("${product}s", &ls), "windowss");
    }

    #[test]
    fn field_names_map_like_pysigma() {
        let prefix = FieldNames::PrefixMap(vec![
            ("a.".into(), vec!["x.".into()]),
            ("a".into(), vec!["y".into(), "z".into()]),
        ]);
        assert_eq!(prefix.map(Some("a.b")), Some(vec!["x.b".into()]));
        assert_eq!(prefix.map(Some("ab")), Some(vec!["yb".into(), "zb".into()]));
        assert_eq!(prefix.map(Some("b")), None);
        assert_eq!(prefix.map(None), None);
        let map = FieldNames::Map(vec![(None, vec!["Message".into()])]);
        assert_eq!(map.map(None), Some(vec!["Message".into()]));
        assert_eq!(
            FieldNames::Suffix("_s".into()).map(Some("f")),
            Some(vec!["f_s".into()])
        );
    }
}
