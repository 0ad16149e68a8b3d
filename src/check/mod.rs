//! The lints of `sigc check`: semantic checks that find rules which load fine but can never
//! fire, fire on everything, or will not run the same on every target. One module per lint
//! (ruff's layout), each with a doc comment, a fixture under `tests/fixtures/check/lints/` and a
//! snapshot. They run on the syntax tree, with each field item lowered to the IR on its own,
//! so every finding keeps the span of the key or value it is about, and documents that failed
//! to load are still linted as far as they were built.

mod aggregation_block;
mod always_matches;
pub(crate) mod analysis;
mod backtracking;
mod metadata;
pub(crate) mod migrate;
mod never_matches;
mod redundant_value;
mod regex_portability;
mod suspicious_value;
mod taxonomy;
mod unknown_field;
mod unused_search;

use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::ir::Expr;
use crate::ir::lower::lower_item;
use crate::load::Doc;
use crate::source::{SourceFile, Span};
use crate::syntax::ast::{Body, Document, FieldItem, Modifier, Rule, Search, SearchBody, Value};
use crate::syntax::document::Ctx;

/// One field item and its IR (`None` when it does not lower on its own).
pub(crate) struct ItemIr<'a> {
    pub item: &'a FieldItem,
    pub expr: Option<Expr>,
}

/// A search identifier with its items lowered: `branches` holds one AND-list of items per
/// map (a plain map has one branch; a list of maps one per map).
pub(crate) struct SearchIr<'a> {
    pub search: &'a Search,
    pub branches: Vec<Vec<ItemIr<'a>>>,
}

impl SearchIr<'_> {
    /// The whole search as one expression, when every item lowered.
    pub fn expr(&self) -> Option<Expr> {
        let mut alts = Vec::with_capacity(self.branches.len());
        for b in &self.branches {
            let parts: Option<Vec<Expr>> = b.iter().map(|i| i.expr.clone()).collect();
            alts.push(Expr::and(parts?));
        }
        Some(Expr::or(alts))
    }
}

/// What every lint sees.
pub(crate) struct LintCx<'a> {
    pub file: &'a Arc<SourceFile>,
    pub doc: &'a Document,
    pub rule: Option<&'a Rule>,
    /// The document loaded without errors: the condition and every item are complete, so
    /// lints that need the whole rule (always-true, unused searches) may run.
    pub complete: bool,
    pub searches: Vec<SearchIr<'a>>,
    /// What loading reported (lints skip what it already said).
    pub loaded: &'a [Diagnostic],
    diags: Vec<Diagnostic>,
}

impl LintCx<'_> {
    pub fn report(&mut self, d: Diagnostic, span: Span) {
        self.diags.push(d.at(self.file, span));
    }

    /// Every regular expression of the rule that lowered, with its value's span.
    pub fn regexes(&self) -> Vec<(String, Span)> {
        let mut out = Vec::new();
        for s in &self.searches {
            for item in s.branches.iter().flatten() {
                let is_re = item.item.modifiers.first().map(|m| m.node) == Some(Modifier::Re);
                if !is_re || item.expr.is_none() {
                    continue;
                }
                for v in &item.item.values {
                    if let Value::Str(p) = &v.node {
                        out.push((p.clone(), v.span));
                    }
                }
            }
        }
        out
    }

    pub fn search(&self, name: &str) -> Option<&SearchIr<'_>> {
        self.searches.iter().find(|s| s.search.name.node == name)
    }

    /// Every field item, with the search it belongs to.
    pub fn items(&self) -> impl Iterator<Item = &ItemIr<'_>> {
        self.searches
            .iter()
            .flat_map(|s| s.branches.iter().flatten())
    }
}

type LintFn = fn(&mut LintCx);

/// Every lint, in the order their findings are listed.
const LINTS: &[LintFn] = &[
    metadata::check,
    unknown_field::check,
    suspicious_value::check,
    never_matches::check,
    always_matches::check,
    unused_search::check,
    redundant_value::check,
    regex_portability::check,
    backtracking::check,
    aggregation_block::check,
];

/// Everything `check` reports for one document: what loading found, then the lints'
/// findings (in source order).
pub(crate) fn diagnostics(doc: &Doc) -> Vec<Diagnostic> {
    let mut diags = doc.diagnostics.clone();
    diags.extend(lint(doc));
    diags
}

/// The longer explanation of a lint's code: its module's doc comment.
pub(crate) fn explanation(code: crate::diagnostic::Code) -> Option<String> {
    use crate::diagnostic::Code::*;
    let source = match code {
        NeverMatches => include_str!("never_matches.rs"),
        AlwaysMatches => include_str!("always_matches.rs"),
        UnusedSearch => include_str!("unused_search.rs"),
        RedundantValue => include_str!("redundant_value.rs"),
        NonPortableRegex => include_str!("regex_portability.rs"),
        Backtracking => include_str!("backtracking.rs"),
        UnknownField => include_str!("unknown_field.rs"),
        SuspiciousValue => include_str!("suspicious_value.rs"),
        InvalidId | InvalidStatus | InvalidLevel | MissingMetadata | LegacyTag => {
            include_str!("metadata.rs")
        }
        LegacyAggregation => include_str!("aggregation_block.rs"),
        FlattenedYaml => include_str!("../syntax/flattened.rs"),
        _ => return None,
    };
    let doc: Vec<&str> = source
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    Some(doc.join("\n"))
}

/// Run every lint on one loaded document.
pub(crate) fn lint(doc: &Doc) -> Vec<Diagnostic> {
    run(doc, LINTS)
}

/// `W009` alone: what a conversion to a backtracking regex engine (PCRE, Java) reports.
pub(crate) fn backtracking(doc: &Doc) -> Vec<Diagnostic> {
    run(doc, &[backtracking::check])
}

fn run(doc: &Doc, lints: &[LintFn]) -> Vec<Diagnostic> {
    let Some(ast) = doc.ast_or_partial() else {
        return Vec::new();
    };
    let rule = match &ast.body {
        Body::Rule(r) => Some(r),
        _ => None,
    };
    let mut forwarded = Vec::new();
    let searches = rule.map_or_else(Vec::new, |r| {
        lower_searches(&ast.file, r, doc.ast().is_none(), &mut forwarded)
    });
    let mut cx = LintCx {
        file: &ast.file,
        doc: ast,
        rule,
        complete: doc.ast().is_some() && !doc.failed(),
        searches,
        loaded: &doc.diagnostics,
        diags: forwarded,
    };
    for lint in lints {
        lint(&mut cx);
    }
    let mut diags = cx.diags;
    // Stable order: by position, then code.
    diags.sort_by_key(|d| {
        (
            d.location.as_ref().map_or(0, |l| l.span.start),
            d.code.as_str(),
        )
    });
    diags
}

/// Lower each item on its own. The load already reported what these lowerings say, except for
/// a document that failed to parse (it was never lowered): its lowering warnings are kept.
fn lower_searches<'a>(
    file: &Arc<SourceFile>,
    rule: &'a Rule,
    keep_warnings: bool,
    forwarded: &mut Vec<Diagnostic>,
) -> Vec<SearchIr<'a>> {
    let mut cx = Ctx::new(file);
    let mut lower = |item: &'a FieldItem| ItemIr {
        item,
        expr: lower_item(&mut cx, item),
    };
    let out = rule
        .detection
        .searches
        .iter()
        .map(|search| SearchIr {
            search,
            branches: match &search.body {
                SearchBody::Map(items) => vec![items.iter().map(&mut lower).collect()],
                SearchBody::AnyOf(maps) => maps
                    .iter()
                    .map(|m| m.iter().map(&mut lower).collect())
                    .collect(),
                SearchBody::Keywords(item) => vec![vec![lower(item)]],
            },
        })
        .collect();
    if keep_warnings {
        forwarded.extend(cx.diags.into_iter().filter(|d| !d.is_error()));
    }
    out
}
