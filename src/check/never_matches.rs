//! `E046 never-matches`: a selection or condition that no event can satisfy. The SIEM accepts
//! such a query and it never alerts, which is the worst way for a rule to be wrong.
//!
//! Found at three levels, each reported once, at the most precise place:
//! - one field item: `ParentImage|endswith|all` with two different suffixes, numeric
//!   modifiers whose range is empty;
//! - one search identifier: two items on the same field that clash (`Image: a.exe` and
//!   `Image|endswith: b.exe`), `exists: false` next to a value on that field;
//! - the condition: `x and not x`, or every alternative resting on a search that never matches
//!   (only when the document loaded without errors, so every search is complete).

use indexmap::IndexMap;

use super::LintCx;
use super::analysis::{and_clash, condition_expr, unsatisfiable_because};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::Expr;

pub(crate) fn check(cx: &mut LintCx) {
    let mut found = Vec::new();
    let mut dead_searches = Vec::new();
    for s in &cx.searches {
        let mut branch_dead = Vec::new();
        for branch in &s.branches {
            let mut dead = false;
            // Item level.
            for item in branch {
                let Some(Expr::And(parts)) = &item.expr else {
                    continue;
                };
                if let Some((_, _, reason)) = and_clash(parts) {
                    let all = item
                        .item
                        .modifiers
                        .iter()
                        .any(|m| m.node == crate::syntax::ast::Modifier::All);
                    let help = if all {
                        "`all` requires every value at once; drop `|all` to match any of them"
                    } else {
                        "the values cannot all hold at once; keep the one that is meant"
                    };
                    found.push((
                        item.item.span,
                        Diagnostic::error(
                            Code::NeverMatches,
                            format!("this selection can never match: {reason}"),
                        )
                        .with_help(help),
                    ));
                    dead = true;
                }
            }
            // Search level: clashes between different items.
            if !dead {
                let conjuncts: Vec<Expr> = branch
                    .iter()
                    .filter_map(|i| i.expr.clone())
                    .flat_map(|e| match e {
                        Expr::And(parts) => parts,
                        other => vec![other],
                    })
                    .collect();
                if let Some((_, _, reason)) = and_clash(&conjuncts) {
                    found.push((
                        s.search.name.span,
                        Diagnostic::error(
                            Code::NeverMatches,
                            format!(
                                "search identifier `{}` can never match: {reason}",
                                s.search.name.node
                            ),
                        )
                        .with_help("the tests of one map are ANDed; put alternatives in a list of values or in separate selections joined with `or`"),
                    ));
                    dead = true;
                }
            }
            branch_dead.push(dead);
        }
        if !branch_dead.is_empty() && branch_dead.iter().all(|d| *d) {
            dead_searches.push(s.search.name.node.as_str());
        }
    }
    // Condition level, with dead searches as `false`. Only on complete documents: a search
    // that lost an item to an error is broader than written, which `not` turns into narrower.
    if let Some(rule) = cx.rule
        && found.is_empty()
        && cx.complete
    {
        let mut map: IndexMap<&str, Expr> = IndexMap::new();
        for s in &cx.searches {
            let e = if dead_searches.contains(&s.search.name.node.as_str()) {
                Some(Expr::False)
            } else {
                s.expr()
            };
            if let Some(e) = e {
                map.insert(s.search.name.node.as_str(), e);
            }
        }
        for c in &rule.detection.conditions {
            if let Some(e) = condition_expr(c, &map)
                && let Some(reason) = unsatisfiable_because(&e)
            {
                found.push((
                    c.span,
                    Diagnostic::error(
                        Code::NeverMatches,
                        format!("this condition can never match: {reason}"),
                    )
                        .with_help("it requires a selection and its negation, or contradictory values on one field; check the `and not` parts"),
                ));
            }
        }
    }
    for (span, d) in found {
        cx.report(d, span);
    }
}
