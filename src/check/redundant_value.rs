//! `W008 redundant-value`: a value that repeats another of the same item, or that a broader
//! value of the same item already covers. Under OR, `contains: foo` makes `contains: foobar`
//! redundant; under `all` (AND) it is the other way round. Harmless to matching, but a sign
//! that the author meant something else (often a wrong modifier), and it costs query size.
//!
//! Items can hold thousands of values (hash lists), so candidates are found with one
//! Aho-Corasick pass over all of an item's values rather than by comparing every pair.

use aho_corasick::{AhoCorasick, AhoCorasickKind};

use super::LintCx;
use super::analysis::{ShapeKind, lit, subsumes};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::lower::lower_item;
use crate::ir::pred::StrMatch;
use crate::ir::{Expr, Test};
use crate::source::Span;
use crate::syntax::ast::{FieldItem, Modifier, Value};
use crate::syntax::document::Ctx;

pub(crate) fn check(cx: &mut LintCx) {
    let mut found = Vec::new();
    let mut scratch = Ctx::new(cx.file);
    for item in cx.items() {
        if item.expr.is_some() && item.item.values.len() > 1 {
            redundant_in(&mut scratch, item.item, &mut found);
        }
    }
    for (span, d) in found {
        cx.report(d, span);
    }
}

/// Each value's string match, when it lowers to exactly one.
fn matches_of(scratch: &mut Ctx, item: &FieldItem) -> Vec<Option<StrMatch>> {
    let modifiers: Vec<_> = item
        .modifiers
        .iter()
        .filter(|m| m.node != Modifier::All)
        .cloned()
        .collect();
    item.values
        .iter()
        .map(|v| {
            let one = FieldItem {
                span: item.span,
                field: item.field.clone(),
                values: vec![v.clone()],
                is_list: false,
                modifiers: modifiers.clone(),
            };
            match lower_item(scratch, &one)? {
                Expr::Pred(p) => match p.test {
                    Test::Str(m) => Some(m),
                    _ => None,
                },
                _ => None,
            }
        })
        .collect()
}

fn redundant_in(scratch: &mut Ctx, item: &FieldItem, found: &mut Vec<(Span, Diagnostic)>) {
    let all = item.modifiers.iter().any(|m| m.node == Modifier::All);
    if item.modifiers.iter().any(|m| m.node == Modifier::Neq) {
        return;
    }
    let ms = matches_of(scratch, item);
    // Folded literal texts; a value that is not a plain literal takes part in nothing.
    let texts: Vec<String> = ms
        .iter()
        .map(|m| {
            m.as_ref()
                .and_then(|m| lit(m, true))
                .map_or(String::new(), |l| l.text)
        })
        .collect();
    // Only non-empty texts are patterns (an empty one would match everywhere).
    let ids: Vec<usize> = (0..texts.len()).filter(|&i| !texts[i].is_empty()).collect();
    // Most items have a handful of values: building an automaton would cost more than
    // comparing them; a contiguous NFA builds fast and searches short values well.
    let ac = if ids.len() > 16 {
        match AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(ids.iter().map(|&i| &texts[i]))
        {
            Ok(ac) => Some(ac),
            Err(_) => return,
        }
    } else {
        None
    };
    let mut reported = vec![false; ms.len()];
    for (i, narrow) in ms.iter().enumerate() {
        let Some(narrow) = narrow else { continue };
        if texts[i].is_empty() {
            continue;
        }
        // Every value occurring inside value i could cover it (or, under `all`, be covered).
        let inside: Vec<usize> = match &ac {
            Some(ac) => ac
                .find_overlapping_iter(texts[i].as_str())
                .map(|m| ids[m.pattern().as_usize()])
                .collect(),
            None => ids
                .iter()
                .copied()
                .filter(|&j| texts[i].contains(texts[j].as_str()))
                .collect(),
        };
        for j in inside {
            if j == i {
                continue;
            }
            let Some(other) = &ms[j] else { continue };
            // Under OR, the broader `other` makes `narrow` redundant; under `all`, `narrow`
            // (which contains `other`'s text) implies `other`.
            let (flag, by, broad, narrower) = if all {
                (j, i, other, narrow)
            } else {
                (i, j, other, narrow)
            };
            if reported[flag] || !subsumes(broad, narrower) {
                continue;
            }
            // Of two equivalent values, only the later one is reported.
            if subsumes(narrower, broad) && flag < by {
                continue;
            }
            reported[flag] = true;
            let same = texts[i] == texts[j] && kind(&ms[i]) == kind(&ms[j]);
            let (this, that) = (value_text(item, flag), value_text(item, by));
            let msg = if same {
                format!("`{this}` repeats `{that}`")
            } else if all {
                format!("`{this}` is implied by `{that}` (all values must match)")
            } else {
                format!("`{this}` is already matched by `{that}`")
            };
            found.push((
                item.values[flag].span,
                Diagnostic::warning(Code::RedundantValue, msg)
                    .with_help("remove this value, or check that the modifier is the one meant"),
            ));
        }
    }
}

fn kind(m: &Option<StrMatch>) -> Option<ShapeKind> {
    m.as_ref().and_then(|m| lit(m, false)).map(|l| l.kind)
}

fn value_text(item: &FieldItem, i: usize) -> String {
    match &item.values[i].node {
        Value::Str(s) | Value::Int(_, s) | Value::Float(_, s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
    }
}
