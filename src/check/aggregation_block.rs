//! `E043 legacy-aggregation` for a custom aggregation block: a search identifier whose keys are
//! aggregation settings (`timeframe`, `group_by`, `event_threshold`, ...) rather than event
//! fields. No Sigma tool reads such a block; it is matched as event fields that no event has.
//! Counting and grouping belong in a correlation rule, which `sigc migrate` writes.

use super::{LintCx, SearchIr};
use crate::diagnostic::{Code, Diagnostic};

/// Keys that set up counting or windows, never event fields.
const SETTINGS: &[&str] = &[
    "timeframe",
    "timespan",
    "window",
    "within",
    "group_by",
    "group-by",
    "groupby",
    "threshold",
    "event_threshold",
    "host_threshold",
    "count",
    "distinct",
];

fn fields<'a>(s: &'a SearchIr) -> Vec<&'a str> {
    s.branches
        .iter()
        .flatten()
        .filter_map(|i| i.item.field.as_ref().map(|f| f.node.as_str()))
        .collect()
}

/// Mostly aggregation settings (at least two of them).
pub(crate) fn is_block(s: &SearchIr) -> bool {
    let fields = fields(s);
    let settings = fields.iter().filter(|f| SETTINGS.contains(f)).count();
    settings >= 2 && settings * 2 >= fields.len()
}

pub(crate) fn check(cx: &mut LintCx) {
    let mut found = Vec::new();
    for s in &cx.searches {
        if !is_block(s) {
            continue;
        }
        let fields = fields(s);
        found.push((
            s.search.name.span,
            Diagnostic::error(
                Code::LegacyAggregation,
                format!(
                    "`{}` is an aggregation block ({}), not Sigma syntax: its keys are matched as event fields",
                    s.search.name.node,
                    fields.join(", ")
                ),
            )
            .with_help("counting over a time window is a correlation rule (`value_count`, `event_count`) that references this rule; `sigc migrate` writes one"),
        ));
    }
    for (span, d) in found {
        cx.report(d, span);
    }
}
