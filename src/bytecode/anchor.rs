//! Anchors: for each rule, a set of tests at least one of which must hold for the rule to
//! match (one conjunct of its top-level AND, chosen to be cheap to index). The evaluator finds
//! the true anchors of an event with a few hash lookups per field and runs only the rules that
//! have one; the verdict of a rule that runs is unchanged.

use super::guard::EVENT_ID;
use crate::eval::engine::WINDOWS_MARK;
use crate::ir::Expr;
use crate::ir::pred::{Pred, Shape, Test};

/// Can this predicate be found by an index lookup (a case-insensitive exact, prefix, suffix
/// or substring match of a non-empty literal on a named field)?
pub fn indexable(p: &Pred) -> bool {
    let Some(field) = p.field.as_deref() else {
        return false;
    };
    if field == WINDOWS_MARK || field == EVENT_ID {
        // Routing already decides these.
        return false;
    }
    match &p.test {
        Test::Str(m) if !m.cased && !m.has_placeholders() => match m.shape() {
            Shape::Exact(s) | Shape::Prefix(s) | Shape::Suffix(s) | Shape::Contains(s) => {
                !s.is_empty()
            }
            Shape::Glob => false,
        },
        _ => false,
    }
}

/// The anchor predicates of an expression, or `None` when it has none.
pub fn anchors(e: &Expr) -> Option<Vec<&Pred>> {
    match e {
        Expr::Pred(p) if indexable(p) => Some(vec![p]),
        Expr::Or(alts) => {
            let mut out = Vec::new();
            for a in alts {
                out.extend(anchors(a)?);
            }
            Some(out)
        }
        Expr::And(items) => items
            .iter()
            .filter_map(anchors)
            // The conjunct with the fewest alternatives filters best.
            .min_by_key(|a| (a.len(), a.iter().map(|p| cost(p)).sum::<usize>())),
        _ => None,
    }
}

/// Prefer exact and suffix anchors (one lookup each) over substrings (a scan).
fn cost(p: &Pred) -> usize {
    match &p.test {
        Test::Str(m) => match m.shape() {
            Shape::Exact(_) => 1,
            Shape::Suffix(_) | Shape::Prefix(_) => 2,
            _ => 4,
        },
        _ => 8,
    }
}
