//! `W010 unknown-field`: a field the rule's log source does not have in the Sigma taxonomy
//! (table in `taxonomy.rs`). Pipelines map taxonomy fields to each SIEM's names; a field outside
//! the taxonomy maps to nothing, and the query silently matches no event. Field names are
//! compared case-sensitively, as the taxonomy writes them; a near miss gets a suggestion.

use super::{LintCx, aggregation_block, taxonomy};
use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;

/// The field name of the key an unknown-modifier diagnostic points into (`Field|notin`).
fn field_before_modifier(cx: &LintCx, d: &Diagnostic) -> Option<(String, Span)> {
    let at = d.location.as_ref()?.span.start as usize;
    let text = &cx.file.text;
    let line_start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let key = text.get(line_start..at)?;
    let key = key.trim_start().trim_start_matches(['\'', '"']);
    let name = key.split('|').next()?;
    if name.is_empty() || name.contains([' ', ':']) {
        return None;
    }
    let start = at - key.len();
    Some((name.to_string(), Span::new(start, start + name.len())))
}

pub(crate) fn check(cx: &mut LintCx) {
    let Some(rule) = cx.rule else { return };
    let ls = &rule.logsource;
    let Some((table, common)) = taxonomy::fields(ls.product.as_deref(), ls.category.as_deref())
    else {
        return;
    };
    let category = ls.category.as_deref().unwrap_or_default();
    let mut fields: Vec<(String, Span)> = cx
        .searches
        .iter()
        .filter(|s| !aggregation_block::is_block(s))
        .flat_map(|s| s.branches.iter().flatten())
        .filter_map(|i| i.item.field.as_ref())
        .map(|f| (f.node.clone(), f.span))
        .collect();
    // Items with an unknown modifier were left out of the tree; their field is still a field.
    for d in cx.loaded.iter().filter(|d| d.code == Code::UnknownModifier) {
        if let Some(f) = field_before_modifier(cx, d) {
            fields.push(f);
        }
    }
    fields.sort_by_key(|(_, s)| s.start);
    fields.dedup_by_key(|(_, s)| s.start);
    let mut found = Vec::new();
    for (name, span) in &fields {
        let name = name.as_str();
        if table.contains(&name) || common.contains(&name) {
            continue;
        }
        let near = table
            .iter()
            .chain(common)
            .find(|k| k.eq_ignore_ascii_case(name));
        let help = match near {
            Some(k) => format!("field names are case-sensitive: write `{k}`"),
            None => format!("`{category}` events have: {}", table.join(", ")),
        };
        found.push((
            *span,
            Diagnostic::warning(
                Code::UnknownField,
                format!("`{name}` is not a field of the `{category}` taxonomy"),
            )
            .with_help(help),
        ));
    }
    for (span, d) in found {
        cx.report(d, span);
    }
}
