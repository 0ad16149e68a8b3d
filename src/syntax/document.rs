//! YAML nodes → syntax tree: decides each document's kind (rule, correlation, filter), checks
//! its structure, and collects every problem it finds instead of stopping at the first.

use std::sync::Arc;

use super::ast::*;
use super::condition;
use crate::diagnostic::{Code, Diagnostic, closest};
use crate::source::{SourceFile, Span, Spanned};
use crate::yaml::{Node, NodeKind};

/// One document of a file: what could be parsed, and what was wrong with it.
#[derive(Debug)]
pub struct Parsed {
    pub index: usize,
    pub span: Span,
    pub id: Option<String>,
    pub title: Option<String>,
    pub kind: &'static str,
    /// `None` when an error stopped the document from being built.
    pub doc: Option<Document>,
    /// The tree built despite errors (items that failed are left out), so `sigc check` can
    /// still lint what the author got right; never lowered or converted.
    pub partial: Option<Document>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Collects diagnostics for one document.
pub struct Ctx<'a> {
    pub file: &'a Arc<SourceFile>,
    pub diags: Vec<Diagnostic>,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Arc<SourceFile>) -> Self {
        Ctx {
            file,
            diags: Vec::new(),
        }
    }

    pub fn error(&mut self, code: Code, span: Span, msg: impl Into<String>) -> &mut Diagnostic {
        self.push(Diagnostic::error(code, msg).at(self.file, span))
    }

    pub fn warning(&mut self, code: Code, span: Span, msg: impl Into<String>) -> &mut Diagnostic {
        self.push(Diagnostic::warning(code, msg).at(self.file, span))
    }

    fn push(&mut self, d: Diagnostic) -> &mut Diagnostic {
        self.diags.push(d);
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }

    /// A required string value.
    fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match node.scalar_text() {
            Some(s) => Some(Spanned::new(s.to_string(), node.span)),
            None => {
                self.error(
                    Code::WrongType,
                    node.span,
                    format!("`{what}` must be a string, found {}", node.type_name()),
                );
                None
            }
        }
    }

    /// A string or a list of strings.
    fn strings(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        match &node.kind {
            NodeKind::Seq(items) => items.iter().filter_map(|n| self.string(n, what)).collect(),
            NodeKind::Null => Vec::new(),
            _ => self.string(node, what).into_iter().collect(),
        }
    }
}

trait DiagExt {
    fn help(&mut self, help: impl Into<String>);
}

impl DiagExt for Diagnostic {
    fn help(&mut self, help: impl Into<String>) {
        self.help = Some(help.into());
    }
}

/// Build the syntax tree of one YAML document.
pub fn parse_document(file: &Arc<SourceFile>, index: usize, node: &Node) -> Parsed {
    let mut cx = Ctx::new(file);
    let mut parsed = Parsed {
        index,
        span: node.span,
        id: node
            .get("id")
            .and_then(Node::scalar_text)
            .map(str::to_string),
        title: node
            .get("title")
            .and_then(Node::scalar_text)
            .map(str::to_string),
        kind: "rule",
        doc: None,
        partial: None,
        diagnostics: Vec::new(),
    };
    if node.as_map().is_none() {
        parsed.kind = "unknown";
        cx.error(
            Code::UnknownDocument,
            node.span,
            format!(
                "a Sigma document is a map of keys, found {}",
                node.type_name()
            ),
        );
        parsed.diagnostics = cx.diags;
        return parsed;
    }
    let meta = parse_meta(&mut cx, node);
    let body = if let Some(c) = node.get("correlation") {
        parsed.kind = "correlation";
        parse_correlation(&mut cx, node, c).map(Body::Correlation)
    } else if let Some(f) = node.get("filter") {
        parsed.kind = "filter";
        parse_filter(&mut cx, node, f).map(Body::Filter)
    } else if node.get("detection").is_some() || node.get("logsource").is_some() {
        parse_rule(&mut cx, node).map(Body::Rule)
    } else {
        cx.error(
            Code::UnknownDocument,
            start(node),
            "not a Sigma document: it has no `detection`, `correlation` or `filter` key",
        )
        .help("a rule needs `title`, `logsource` and `detection` (with a `condition`)");
        None
    };
    if meta.title.is_none() && parsed.kind != "filter" {
        cx.error(
            Code::MissingKey,
            start(node),
            "missing required key `title`",
        );
    }
    if let Some(body) = body {
        let doc = Document {
            file: file.clone(),
            index,
            span: node.span,
            meta,
            body,
        };
        if cx.has_errors() {
            parsed.partial = Some(doc);
        } else {
            parsed.doc = Some(doc);
        }
    }
    parsed.diagnostics = cx.diags;
    parsed
}

/// The first character of a node, where "missing key" errors point.
fn start(node: &Node) -> Span {
    node.span.sub(0, 1)
}

const STRUCTURAL: &[&str] = &["logsource", "detection", "correlation", "filter"];

fn parse_meta(cx: &mut Ctx, node: &Node) -> Meta {
    let mut meta = Meta::default();
    for (k, v) in node.as_map().unwrap_or_default() {
        let Some(key) = k.scalar_text() else { continue };
        match key {
            "title" => meta.title = cx.string(v, "title"),
            "id" => meta.id = cx.string(v, "id"),
            "name" => meta.name = cx.string(v, "name"),
            "status" => meta.status = cx.string(v, "status"),
            "level" => meta.level = cx.string(v, "level"),
            "tags" => meta.tags = cx.strings(v, "tags"),
            "date" | "modified" => check_date(cx, key, v),
            _ => {}
        }
        if !STRUCTURAL.contains(&key) {
            meta.fields
                .push((Spanned::new(key.to_string(), k.span), v.clone()));
        }
    }
    meta
}

/// Sigma v2 dates are `YYYY-MM-DD`; v1's `YYYY/MM/DD` was removed.
fn check_date(cx: &mut Ctx, key: &str, v: &Node) {
    let Some(text) = v.scalar_text() else { return };
    let b = text.as_bytes();
    if b.len() == 10 && b[4] == b'/' && b[7] == b'/' {
        cx.error(
            Code::LegacyV1,
            v.span,
            format!("`{key}: {text}` uses the Sigma v1 date format, removed in v2"),
        )
        .help(format!("write `{key}: {}`", text.replace('/', "-")));
    }
}

fn parse_logsource(cx: &mut Ctx, node: Option<&Node>, doc: &Node) -> Option<LogSource> {
    let Some(node) = node else {
        cx.error(
            Code::MissingKey,
            start(doc),
            "missing required key `logsource`",
        );
        return None;
    };
    let Some(entries) = node.as_map() else {
        cx.error(
            Code::WrongType,
            node.span,
            format!("`logsource` must be a map, found {}", node.type_name()),
        )
        .help("for example `logsource: {product: windows, category: process_creation}`");
        return None;
    };
    let mut ls = LogSource::default();
    for (k, v) in entries {
        let (Some(key), Some(value)) = (k.scalar_text(), cx.string(v, "logsource")) else {
            continue;
        };
        let value = value.node;
        match key {
            "category" => ls.category = Some(value),
            "product" => ls.product = Some(value),
            "service" => ls.service = Some(value),
            "definition" => ls.definition = Some(value),
            _ => ls.custom.push((key.to_string(), value)),
        }
    }
    Some(ls)
}

fn parse_rule(cx: &mut Ctx, node: &Node) -> Option<Rule> {
    let logsource = parse_logsource(cx, node.get("logsource"), node);
    let detection = match node.get("detection") {
        Some(d) => parse_detection(cx, d, &[]),
        None => {
            cx.error(
                Code::MissingKey,
                start(node),
                "missing required key `detection`",
            );
            None
        }
    };
    Some(Rule {
        logsource: logsource?,
        detection: detection?,
    })
}

/// Parse a `detection` (or a filter's `filter`) map; `skip` names keys that are not searches.
fn parse_detection(cx: &mut Ctx, node: &Node, skip: &[&str]) -> Option<Detection> {
    let Some(entries) = node.as_map() else {
        cx.error(
            Code::WrongType,
            node.span,
            format!("`detection` must be a map, found {}", node.type_name()),
        );
        return None;
    };
    let mut searches = Vec::new();
    let mut conditions = Vec::new();
    let mut saw_condition = false;
    for (k, v) in entries {
        let Some(key) = k.scalar_text() else {
            cx.error(
                Code::WrongType,
                k.span,
                "search identifiers must be strings",
            );
            continue;
        };
        if skip.contains(&key) {
            continue;
        }
        match key {
            "condition" => {
                saw_condition = true;
                conditions = parse_conditions(cx, v);
            }
            "timeframe" => {
                cx.error(
                    Code::LegacyAggregation,
                    k.span,
                    "`timeframe` is Sigma v1 aggregation syntax, removed in v2",
                )
                .help("put the time window in a correlation rule's `timespan` that references this rule");
            }
            _ => {
                let name = Spanned::new(key.to_string(), k.span);
                if let Some(body) = parse_search(cx, &name, v) {
                    searches.push(Search { name, body });
                }
            }
        }
    }
    if !saw_condition {
        cx.error(
            Code::MissingKey,
            start(node),
            "`detection` has no `condition`",
        )
        .help("add e.g. `condition: selection` naming the search identifiers to combine");
    }
    Some(Detection {
        span: node.span,
        searches,
        conditions,
    })
}

fn parse_conditions(cx: &mut Ctx, node: &Node) -> Vec<Spanned<Condition>> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) if items.is_empty() => {
            // No condition would make a rule that silently matches nothing.
            cx.error(
                Code::ConditionSyntax,
                node.span,
                "the condition list is empty",
            )
            .help("write at least one condition, e.g. `condition: selection`");
            return Vec::new();
        }
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for item in items {
        if let Some(c) = parse_condition_node(cx, item) {
            out.push(c);
        }
    }
    out
}

/// Parse one condition string, shifting its spans from the string into the file.
pub(crate) fn parse_condition_node(cx: &mut Ctx, node: &Node) -> Option<Spanned<Condition>> {
    let Some(text) = node.as_str() else {
        cx.error(
            Code::WrongType,
            node.span,
            format!("a condition must be a string, found {}", node.type_name()),
        );
        return None;
    };
    let base = node.span.start as usize + node.content_offset();
    match condition::parse(text) {
        Ok(mut c) => {
            shift(&mut c, base);
            Some(c)
        }
        Err(e) => {
            let d = cx.error(
                e.code,
                Span::new(base + e.offset, base + e.offset + e.len),
                e.message,
            );
            if let Some(h) = e.help {
                d.help(h);
            }
            None
        }
    }
}

fn shift(c: &mut Spanned<Condition>, base: usize) {
    let mv = |s: &mut Span| {
        s.start += base as u32;
        s.end += base as u32;
    };
    mv(&mut c.span);
    match &mut c.node {
        Condition::Ident(i) => mv(&mut i.span),
        Condition::Of { pattern, .. } => mv(&mut pattern.span),
        Condition::Not(x) => shift(x, base),
        Condition::And(items) | Condition::Or(items) => {
            items.iter_mut().for_each(|i| shift(i, base));
        }
    }
}

fn parse_search(cx: &mut Ctx, name: &Spanned<String>, node: &Node) -> Option<SearchBody> {
    match &node.kind {
        // An empty map would lower to `true` and match every event.
        NodeKind::Map(entries) if entries.is_empty() => {
            cx.error(
                Code::WrongType,
                node.span,
                format!("search identifier `{}` is an empty map", name.node),
            )
            .help("give it at least one `field: value`");
            None
        }
        NodeKind::Seq(items)
            if items
                .iter()
                .any(|i| i.as_map().is_some_and(<[_]>::is_empty)) =>
        {
            cx.error(
                Code::WrongType,
                node.span,
                format!("search identifier `{}` lists an empty map", name.node),
            )
            .help("give every map at least one `field: value`, or remove the empty one");
            None
        }
        NodeKind::Map(entries) => Some(SearchBody::Map(parse_items(cx, entries))),
        NodeKind::Seq(items) if items.iter().all(|i| i.as_map().is_some()) && !items.is_empty() => {
            Some(SearchBody::AnyOf(
                items
                    .iter()
                    .map(|i| parse_items(cx, i.as_map().unwrap_or_default()))
                    .collect(),
            ))
        }
        NodeKind::Seq(items) if items.iter().any(|i| i.as_map().is_some()) => {
            cx.error(
                Code::WrongType,
                node.span,
                format!(
                    "search identifier `{}` mixes maps and plain values in one list",
                    name.node
                ),
            )
            .help("use a list of maps (OR of selections) or a list of keywords, not both");
            None
        }
        NodeKind::Null => {
            cx.error(
                Code::WrongType,
                name.span,
                format!("search identifier `{}` is empty", name.node),
            )
            .help("give it a map of `field: value` or a list of keywords");
            None
        }
        _ => {
            let values = parse_values(cx, node)?;
            Some(SearchBody::Keywords(FieldItem {
                span: node.span,
                field: None,
                modifiers: Vec::new(),
                is_list: node.as_seq().is_some(),
                values,
            }))
        }
    }
}

pub fn parse_items(cx: &mut Ctx, entries: &[(Node, Node)]) -> Vec<FieldItem> {
    let mut out = Vec::new();
    for (k, v) in entries {
        let Some(key) = k.scalar_text() else {
            cx.error(Code::WrongType, k.span, "field names must be strings");
            continue;
        };
        let base = k.span.start as usize + k.content_offset();
        let mut parts = key.split('|');
        let field_name = parts.next().unwrap_or_default();
        let field = (!field_name.is_empty()).then(|| {
            Spanned::new(
                field_name.to_string(),
                Span::new(base, base + field_name.len()),
            )
        });
        let mut modifiers = Vec::new();
        let mut offset = field_name.len() + 1;
        let mut ok = true;
        for part in parts {
            let span = Span::new(base + offset, base + offset + part.len().max(1));
            offset += part.len() + 1;
            match Modifier::parse(part) {
                Some(m) => modifiers.push(Spanned::new(m, span)),
                None => {
                    ok = false;
                    let d = cx.error(
                        Code::UnknownModifier,
                        span,
                        format!("unknown modifier `{part}`"),
                    );
                    d.help(modifier_help(part));
                }
            }
        }
        let Some(values) = parse_values(cx, v) else {
            continue;
        };
        if ok {
            out.push(FieldItem {
                span: k.span,
                field,
                modifiers,
                is_list: v.as_seq().is_some(),
                values,
            });
        }
    }
    out
}

/// A hint for a misspelt or invented modifier.
fn modifier_help(part: &str) -> String {
    let lower = part.to_ascii_lowercase();
    if let Some(m) = Modifier::parse(&lower) {
        return format!("modifiers are lowercase: write `{}`", m.name());
    }
    match lower.as_str() {
        "notin" | "not" | "notequals" | "ne" | "not_in" => {
            "Sigma has no `notin`; use `neq` (the field differs from every value) or move the values into a selection excluded with `and not` in the condition".into()
        }
        "in" | "equals" | "eq" => "a list of values already means \"any of\"; drop the modifier".into(),
        "regex" | "regexp" => "the regular expression modifier is `re`".into(),
        "startwith" | "beginswith" => "did you mean `startswith`?".into(),
        "endwith" => "did you mean `endswith`?".into(),
        "contain" | "includes" => "did you mean `contains`?".into(),
        _ => {
            // A misspelling: the closest modifier within two edits.
            match closest(&lower, Modifier::ALL.iter().map(|m| m.name())) {
                Some(name) => format!("did you mean `{name}`?"),
                None => {
                    let names: Vec<&str> = Modifier::ALL.iter().map(|m| m.name()).collect();
                    format!("known modifiers: {}", names.join(", "))
                }
            }
        }
    }
}

pub fn parse_values(cx: &mut Ctx, node: &Node) -> Option<Vec<Spanned<Value>>> {
    match &node.kind {
        NodeKind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for item in items {
                match scalar_value(cx, item) {
                    Some(v) => out.push(v),
                    None => ok = false,
                }
            }
            if items.is_empty() {
                cx.error(Code::InvalidValue, node.span, "the value list is empty")
                    .help("give at least one value, or remove the field");
                return None;
            }
            ok.then_some(out)
        }
        _ => scalar_value(cx, node).map(|v| vec![v]),
    }
}

pub fn scalar_value(cx: &mut Ctx, node: &Node) -> Option<Spanned<Value>> {
    let value = match &node.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Bool(b) => Value::Bool(*b),
        NodeKind::Int(i, t) => Value::Int(*i, t.clone()),
        NodeKind::Float(f, t) => Value::Float(*f, t.clone()),
        NodeKind::Str(s, _) => Value::Str(s.clone()),
        NodeKind::Seq(items) => {
            let help = nested_list_help(items);
            cx.error(
                Code::NestedValue,
                node.span,
                "a nested list is not a Sigma value",
            )
            .help(help);
            return None;
        }
        NodeKind::Map(_) => {
            cx.error(Code::NestedValue, node.span, "a map is not a Sigma value")
                .help("field values are strings, numbers, booleans or null; nest selections in the condition instead");
            return None;
        }
    };
    Some(Spanned::new(value, node.span))
}

/// What a nested list most likely meant: flag spellings (`['/create', '-create']`) are what
/// `windash` matches; anything else is a list written one level too deep.
fn nested_list_help(items: &[Node]) -> String {
    let texts: Vec<&str> = items.iter().filter_map(Node::as_str).collect();
    let flag = |s: &str| s.strip_prefix(['-', '/']).map(str::to_string);
    let same_flag = texts.len() == items.len()
        && texts.len() > 1
        && texts.iter().all(|t| flag(t).is_some())
        && texts.windows(2).all(|w| flag(w[0]) == flag(w[1]));
    match texts.first() {
        Some(first) if same_flag => format!(
            "these are spellings of one flag: write the single value `{}` with the `windash` modifier (e.g. `CommandLine|contains|windash: '{}'`), which matches `-`, `/` and the dash variants",
            first.replacen('/', "-", 1),
            first.replacen('/', "-", 1)
        ),
        _ => "write the values as one flat list (one `- value` per line); to accept both `-x` and `/x`, use the `windash` modifier".into(),
    }
}

fn parse_correlation(cx: &mut Ctx, doc: &Node, node: &Node) -> Option<Correlation> {
    if node.as_map().is_none() {
        cx.error(
            Code::WrongType,
            node.span,
            format!("`correlation` must be a map, found {}", node.type_name()),
        );
        return None;
    }
    let kind = match node.get("type") {
        Some(t) => {
            let s = cx.string(t, "type")?;
            match CorrelationKind::parse(&s.node) {
                Some(k) => Spanned::new(k, s.span),
                None => {
                    let names: Vec<&str> = CorrelationKind::ALL.iter().map(|k| k.name()).collect();
                    cx.error(
                        Code::Correlation,
                        t.span,
                        format!("unknown correlation type `{}`", s.node),
                    )
                    .help(format!("use one of: {}", names.join(", ")));
                    return None;
                }
            }
        }
        None => {
            cx.error(Code::MissingKey, start(node), "correlation has no `type`");
            return None;
        }
    };
    let rules = node
        .get("rules")
        .map(|r| cx.strings(r, "rules"))
        .unwrap_or_default();
    let group_by = node
        .get("group-by")
        .map(|g| cx.strings(g, "group-by"))
        .unwrap_or_default();
    let timespan = node.get("timespan").and_then(|t| cx.string(t, "timespan"));
    let mut aliases = Vec::new();
    if let Some(a) = node.get("aliases") {
        match a.as_map() {
            Some(entries) => {
                for (alias, map) in entries {
                    let Some(alias) = cx.string(alias, "aliases") else {
                        continue;
                    };
                    let mut pairs = Vec::new();
                    for (rule, field) in map.as_map().unwrap_or_default() {
                        if let (Some(r), Some(f)) =
                            (cx.string(rule, "aliases"), cx.string(field, "aliases"))
                        {
                            pairs.push((r, f));
                        }
                    }
                    if map.as_map().is_none() {
                        cx.error(
                            Code::WrongType,
                            map.span,
                            "an alias maps rule names to field names",
                        )
                        .help("for example `aliases: {user: {failed_logon: TargetUserName}}`");
                    }
                    aliases.push(AliasAst {
                        name: alias,
                        fields: pairs,
                    });
                }
            }
            None => {
                cx.error(Code::WrongType, a.span, "`aliases` must be a map");
            }
        }
    }
    let condition = match node.get("condition") {
        None => None,
        Some(c) if c.as_str().is_some() => {
            parse_condition_node(cx, c).map(CorrelationCondition::Expr)
        }
        Some(c) => parse_compare(cx, c),
    };
    let generate = match doc.get("generate").or_else(|| node.get("generate")) {
        None => false,
        Some(Node {
            kind: NodeKind::Bool(b),
            ..
        }) => *b,
        Some(g) => {
            cx.error(Code::WrongType, g.span, "`generate` must be true or false");
            false
        }
    };
    Some(Correlation {
        kind,
        rules,
        group_by,
        timespan,
        aliases,
        condition,
        generate,
    })
}

fn parse_compare(cx: &mut Ctx, node: &Node) -> Option<CorrelationCondition> {
    let Some(entries) = node.as_map() else {
        cx.error(
            Code::WrongType,
            node.span,
            format!(
                "a correlation condition must be a map, found {}",
                node.type_name()
            ),
        )
        .help("for example `condition: {gte: 10}`");
        return None;
    };
    let mut bounds = Vec::new();
    let mut fields = Vec::new();
    let mut percentile = None;
    for (k, v) in entries {
        let Some(key) = k.scalar_text() else { continue };
        match key {
            "field" => fields = cx.strings(v, "field"),
            "percentile" => percentile = scalar_value(cx, v),
            _ => match CompareOp::parse(key) {
                Some(op) => {
                    if let Some(val) = scalar_value(cx, v) {
                        bounds.push((Spanned::new(op, k.span), val));
                    }
                }
                None => {
                    cx.error(
                        Code::Correlation,
                        k.span,
                        format!("unknown correlation condition key `{key}`"),
                    )
                    .help("use gt, gte, lt, lte, eq or neq (and `field` for value_* types)");
                }
            },
        }
    }
    Some(CorrelationCondition::Compare {
        span: node.span,
        bounds,
        fields,
        percentile,
    })
}

fn parse_filter(cx: &mut Ctx, doc: &Node, node: &Node) -> Option<Filter> {
    let logsource = parse_logsource(cx, doc.get("logsource"), doc);
    if node.as_map().is_none() {
        cx.error(
            Code::WrongType,
            node.span,
            format!("`filter` must be a map, found {}", node.type_name()),
        );
        return None;
    }
    let rules = match node.get("rules") {
        None => {
            cx.error(Code::MissingKey, start(node), "`filter` has no `rules`")
                .help("name the rules (ids or names) it applies to, or `rules: any` for every rule of its log source");
            return None;
        }
        Some(r) => match r.as_str() {
            Some(s) if s.eq_ignore_ascii_case("any") || s.eq_ignore_ascii_case("all") => {
                FilterRules::Any
            }
            _ => {
                let list = cx.strings(r, "rules");
                if list.is_empty() {
                    FilterRules::Any
                } else {
                    FilterRules::List(list)
                }
            }
        },
    };
    let detection = parse_detection(cx, node, &["rules"])?;
    if detection.conditions.len() > 1 {
        cx.error(
            Code::Filter,
            node.span,
            "a filter has exactly one condition",
        );
    }
    Some(Filter {
        logsource: logsource?,
        rules,
        detection,
    })
}
