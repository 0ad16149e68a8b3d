//! `W006 always-matches`: a condition that every event satisfies, such as `sel or not sel`.
//! Such a rule floods the SIEM with alerts; it is almost always an inverted filter.
//! Only complete documents are checked: with an item missing, a search could look broader
//! than it is.

use indexmap::IndexMap;

use super::LintCx;
use super::analysis::{condition_expr, tautology};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::Expr;

pub(crate) fn check(cx: &mut LintCx) {
    let Some(rule) = cx.rule else { return };
    if !cx.complete {
        return;
    }
    let map: IndexMap<&str, Expr> = cx
        .searches
        .iter()
        .filter_map(|s| Some((s.search.name.node.as_str(), s.expr()?)))
        .collect();
    let mut found = Vec::new();
    for c in &rule.detection.conditions {
        if let Some(e) = condition_expr(c, &map)
            && tautology(&e)
        {
            found.push(c.span);
        }
    }
    for span in found {
        cx.report(
            Diagnostic::warning(Code::AlwaysMatches, "this condition matches every event")
                .with_help("a selection is ORed with its own negation; a filter is usually written `selection and not filter`"),
            span,
        );
    }
}
