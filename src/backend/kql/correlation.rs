//! Correlation rules in KQL: the referenced rules' queries (one, or a `union` of them, each
//! tagged with `sigc_rule`), aliases as `extend ... case(...)`, then `summarize ... by
//! bin(<time>, <timespan>)` and the group-by columns, and the condition as `where`. Each rule's
//! rows carry their time as `sigc_time` (Defender's tables: `Timestamp`; Log Analytics tables:
//! `TimeGenerated`). Fixed buckets, as pySigma's backends write them: a burst that straddles a
//! bucket edge can be missed (the evaluator slides its windows).
//!
//! - `event_count`: `count()`; `value_count`: `count_distinct()` (exact, where `dcount()` is an
//!   estimate); `value_sum`, `value_avg`: `sum`, `avg` of `todouble()`; `value_percentile`: with
//!   pySigma's `percentile: N` key `percentile(todouble(f), N)`, without it the spec's meaning
//!   (the share, in percent, of the bucket's values equal to each value).
//! - `temporal`: the set of rules seen (`make_set(sigc_rule)`, exact where `dcount()` is an
//!   estimate) has all of them, or the v2.2 boolean condition holds over it.
//! - `temporal_ordered` of two rules: the first rule's earliest time in the bucket precedes the
//!   second rule's latest. Longer sequences and correlations of correlations are refused.

use crate::backend::Referenced;
use crate::ir::rule::{BoolExpr, CorrelationCondition, CorrelationIr};
use crate::syntax::ast::{CompareOp, CorrelationKind};

use super::expr::string;

pub(crate) fn convert(c: &CorrelationIr, refs: &[Referenced]) -> Result<String, String> {
    let seconds = crate::backend::correlation::check(c, refs, "KQL")?;
    let state = |r: &Referenced, k: &str| r.state.and_then(|s| s.get(k)).cloned();
    // Group-by and alias fields were mapped once for the correlation: they name the same
    // columns in every referenced rule only if all of them read one table.
    let tables: Vec<Option<String>> = refs.iter().map(|r| state(r, "kql_table")).collect();
    if (!c.group_by.is_empty() || !c.aliases.is_empty()) && tables.windows(2).any(|w| w[0] != w[1])
    {
        return Err(
            "a correlation whose rules read different tables cannot group by one column in KQL (sigc does not map group-by fields per table yet)"
                .into(),
        );
    }
    // Fields as the (one) table reads them: a path into a dynamic column is an expression,
    // given its Sigma-side name in `by`.
    let empty = indexmap::IndexMap::new();
    let first_state = refs.first().and_then(|r| r.state).unwrap_or(&empty);
    let parts = super::Parts::new(first_state);
    let table = first_state
        .get("kql_table")
        .map(String::as_str)
        .unwrap_or("");
    let cx = parts.context(table);
    let column = |f: &str| -> Result<String, String> { super::expr::column(f, &cx) };
    let named = |f: &str| -> Result<String, String> {
        let expr = column(f)?;
        Ok(if expr == ident(f)? {
            expr
        } else {
            format!("{}={expr}", ident(f.rsplit('.').next().unwrap_or(f))?)
        })
    };
    let span = format!("{seconds}s");
    // Defender's tables stamp rows `Timestamp`, Log Analytics tables `TimeGenerated`.
    let time_of = |r: &Referenced| {
        let cols = state(r, "kql_columns").unwrap_or_default();
        if cols.split_whitespace().any(|c| c == "Timestamp") || cols.is_empty() {
            "Timestamp"
        } else {
            "TimeGenerated"
        }
    };
    let tagged = |r: &Referenced| {
        format!(
            "{}\n| extend sigc_rule={}, sigc_time={}",
            r.query.unwrap_or_default(),
            string(r.name),
            time_of(r)
        )
    };
    let mut q = match refs {
        [one] => tagged(one),
        _ => {
            let parts: Vec<String> = refs.iter().map(|r| format!("({})", tagged(r))).collect();
            format!("union {}", parts.join(",\n"))
        }
    };
    for alias in &c.aliases {
        let mut arms = Vec::new();
        for (name, field) in crate::backend::correlation::alias_arms(c, refs, alias)? {
            arms.push(format!(
                "sigc_rule == {}, tostring({})",
                string(name),
                column(field)?
            ));
        }
        q.push_str(&format!(
            "\n| extend {}=case({}, \"\")",
            ident(&alias.name)?,
            arms.join(", ")
        ));
    }
    let time = "sigc_time";
    let mut by = vec![format!("sigc_bucket=bin({time}, {span})")];
    for g in &c.group_by {
        by.push(named(g)?);
    }
    let by = by.join(", ");
    match (&c.kind, &c.condition) {
        (CorrelationKind::Temporal, cond) => {
            q.push_str(&format!(
                "\n| summarize sigc_rules=make_set(sigc_rule) by {by}\n| extend rule_count=array_length(sigc_rules)"
            ));
            let test = match cond {
                CorrelationCondition::Expr(e) => bool_expr(e, refs)?,
                CorrelationCondition::Compare { .. } => format!("rule_count >= {}", refs.len()),
            };
            q.push_str(&format!("\n| where {test}"));
        }
        (CorrelationKind::TemporalOrdered, _) => {
            let [a, b] = refs else {
                return Err(
                    "temporal_ordered over more than two rules has no exact KQL form with summarize"
                        .into(),
                );
            };
            q.push_str(&format!(
                "\n| summarize first_start=minif({time}, sigc_rule == {}), second_end=maxif({time}, sigc_rule == {}) by {by}\n| where first_start < second_end",
                string(a.name),
                string(b.name)
            ));
        }
        (
            CorrelationKind::ValuePercentile,
            CorrelationCondition::Compare {
                bounds,
                fields,
                percentile: None,
            },
        ) => {
            let [f] = fields.as_slice() else {
                return Err("a value_percentile correlation needs one field".into());
            };
            let f = named(f)?;
            let groups: Vec<String> = c
                .group_by
                .iter()
                .map(|g| ident(g.rsplit('.').next().unwrap_or(g)))
                .collect::<Result<_, _>>()?;
            let keys = std::iter::once("sigc_bucket".to_string())
                .chain(groups)
                .collect::<Vec<_>>()
                .join(", ");
            q = format!(
                "let sigc_counts = {q}\n| summarize sigc_same=count() by {by}, {f};\nsigc_counts\n| join kind=inner (sigc_counts | summarize sigc_total=sum(sigc_same) by {keys}) on {keys}\n| extend value_percentile=100.0 * sigc_same / sigc_total\n| where {}",
                bound_tests("value_percentile", bounds)
            );
        }
        (
            kind,
            CorrelationCondition::Compare {
                bounds,
                fields,
                percentile,
            },
        ) => {
            let field = || -> Result<String, String> {
                let [f] = fields.as_slice() else {
                    return Err(format!("a {kind:?} correlation needs one field"));
                };
                column(f)
            };
            let (agg, name) = match kind {
                CorrelationKind::EventCount => ("count()".to_string(), "event_count"),
                CorrelationKind::ValueCount => {
                    (format!("count_distinct({})", field()?), "value_count")
                }
                CorrelationKind::ValueSum => (format!("sum(todouble({}))", field()?), "value_sum"),
                CorrelationKind::ValueAvg => (format!("avg(todouble({}))", field()?), "value_avg"),
                CorrelationKind::ValuePercentile => {
                    let p = percentile
                        .as_ref()
                        .ok_or("value_percentile needs a percentile")?;
                    (
                        format!("percentile(todouble({}), {})", field()?, p.text),
                        "value_percentile",
                    )
                }
                CorrelationKind::Temporal | CorrelationKind::TemporalOrdered => {
                    return Err("internal: temporal kinds are handled above".into());
                }
            };
            q.push_str(&format!("\n| summarize {name}={agg} by {by}"));
            q.push_str(&format!("\n| where {}", bound_tests(name, bounds)));
        }
        (_, CorrelationCondition::Expr(_)) => {
            return Err("a boolean condition is for temporal correlations only".into());
        }
    }
    Ok(q)
}

fn bound_tests(name: &str, bounds: &[(CompareOp, crate::ir::pred::Number)]) -> String {
    crate::backend::correlation::bounds(name, bounds, " and ", " ")
}

fn bool_expr(e: &BoolExpr, refs: &[Referenced]) -> Result<String, String> {
    let fired = |name: &str| format!("set_has_element(sigc_rules, {})", string(name));
    crate::backend::correlation::bool_expr(
        e,
        refs,
        &crate::backend::correlation::BoolForms {
            fired: &fired,
            not: "not",
            and: " and ",
            or: " or ",
        },
    )
}

/// A column name: plain identifiers as they are, others bracketed.
fn ident(name: &str) -> Result<String, String> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(format!("the field name `{name}` has no KQL form"));
    }
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    Ok(if plain {
        name.to_string()
    } else {
        format!("['{}']", name.replace('\\', "\\\\").replace('\'', "\\'"))
    })
}
