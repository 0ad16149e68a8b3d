//! `W007 unused-search`: a search identifier the condition never names (directly or through
//! an `x of pattern`). Usually a filter the author meant to exclude and forgot to add to the
//! condition, so the rule is noisier than it looks.

use super::{LintCx, aggregation_block};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::lower::of_matches;
use crate::syntax::ast::Condition;

fn uses(c: &Condition, name: &str) -> bool {
    match c {
        Condition::Ident(id) => id.node == name,
        Condition::Of { pattern, .. } => of_matches(&pattern.node, name),
        Condition::Not(x) => uses(&x.node, name),
        Condition::And(items) | Condition::Or(items) => items.iter().any(|i| uses(&i.node, name)),
    }
}

pub(crate) fn check(cx: &mut LintCx) {
    let Some(rule) = cx.rule else { return };
    // Without a parsed condition, every search would look unused.
    if rule.detection.conditions.is_empty() || !cx.complete {
        return;
    }
    let unused: Vec<_> = rule
        .detection
        .searches
        .iter()
        .filter(|s| {
            !rule
                .detection
                .conditions
                .iter()
                .any(|c| uses(&c.node, &s.name.node))
        })
        // An aggregation block is reported as such (E043).
        .filter(|s| {
            !cx.search(&s.name.node)
                .is_some_and(aggregation_block::is_block)
        })
        .map(|s| (s.name.node.clone(), s.name.span))
        .collect();
    for (name, span) in unused {
        cx.report(
            Diagnostic::warning(
                Code::UnusedSearch,
                format!("search identifier `{name}` is not used by the condition"),
            )
            .with_help(format!(
                "add it to the condition (e.g. `and not {name}` for a filter) or remove it"
            )),
            span,
        );
    }
}
