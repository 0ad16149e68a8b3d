//! Correlation rules in Spark SQL. The referenced rules' events are gathered into one
//! relation (`UNION ALL` of each rule's `SELECT` over its table, with the event time, the
//! rule's name, the group-by fields and the aggregated field), then:
//!
//! - buckets (default): `GROUP BY window(sigc_time, 'N seconds'), groups` and `HAVING`;
//! - sliding (`--correlation-method sliding`): window functions over
//!   `RANGE BETWEEN INTERVAL N SECONDS PRECEDING AND CURRENT ROW` per group, so each event sees
//!   the `timespan` that ends at it, and the events where the condition holds are returned.
//!
//! Events without a time or a group-by value take no part, as in the evaluator.
//! `value_percentile` with pySigma's `percentile: N` is the nearest rank (the window's numbers
//! sorted, the one at rank `max(ceil(N * n / 100), 1)`), not `percentile()`'s interpolation.
//! `temporal` counts the distinct rules that fired (or tests which, for a boolean condition);
//! `temporal_ordered` over two rules holds when an event of the first precedes one of the
//! second. The event time is the state `spark_time_column` of each rule (default
//! `@timestamp`), read as the evaluator reads it (see [`event_time`]).

use super::expr::{ident, string};
use crate::backend::correlation::{alias_arms, bounds, check, ordered_pair};
use crate::backend::{CorrelationMethod, Referenced};
use crate::ir::rule::{BoolExpr, CorrelationCondition, CorrelationIr};
use crate::syntax::ast::CorrelationKind;

pub(crate) fn convert(
    c: &CorrelationIr,
    refs: &[Referenced],
    method: CorrelationMethod,
) -> Result<String, String> {
    let seconds = check(c, refs, "Spark SQL")?;
    let value_field = match &c.condition {
        CorrelationCondition::Compare { fields, .. } => fields.first().cloned(),
        CorrelationCondition::Expr(_) => None,
    };
    // Each rule's events: time, rule name, group-by fields, the aggregated field.
    let mut arms = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        let query = r
            .query
            .ok_or("a correlation of correlations has no Spark SQL form")?;
        let Some((from, cond)) = query.split_once("\nWHERE ") else {
            return Err(format!(
                "the query of `{}` is not a SELECT ... WHERE",
                r.name
            ));
        };
        let time = r
            .state
            .and_then(|s| s.get("spark_time_column"))
            .map_or("@timestamp", String::as_str);
        let field_of = |name: &str| -> Result<String, String> {
            for alias in &c.aliases {
                if alias.name == name {
                    return alias_arms(c, refs, alias)?
                        .into_iter()
                        .find(|(rule, _)| *rule == refs[i].name)
                        .map(|(_, f)| ident(f))
                        .ok_or_else(|| format!("the alias `{name}` has no field in `{}`", r.name));
                }
            }
            Ok(ident(name))
        };
        let mut cols = vec![
            format!("{} AS sigc_time", event_time(&ident(time))),
            format!("{} AS sigc_rule", string(r.name)),
        ];
        for g in &c.group_by {
            cols.push(format!("CAST({} AS STRING) AS {}", field_of(g)?, ident(g)));
        }
        if let Some(v) = &value_field {
            cols.push(format!("CAST({} AS STRING) AS sigc_value", field_of(v)?));
        }
        let from = from.strip_prefix("SELECT * ").unwrap_or(from);
        arms.push(format!("SELECT {} {from}\nWHERE {cond}", cols.join(", ")));
    }
    let events = arms.join("\nUNION ALL\n");
    let groups: Vec<String> = c.group_by.iter().map(|g| ident(g)).collect();
    // Events without a time or a group-by value take no part, as in the evaluator.
    let keep = std::iter::once("sigc_time IS NOT NULL".to_string())
        .chain(groups.iter().map(|g| format!("{g} IS NOT NULL")))
        .collect::<Vec<_>>()
        .join(" AND ");
    let (agg, test) = aggregate(c, refs)?;
    Ok(match method {
        CorrelationMethod::Buckets => {
            let mut by = vec![format!("window(sigc_time, '{seconds} seconds')")];
            by.extend(groups.iter().cloned());
            let mut select = vec![
                "window.start AS window_start".to_string(),
                "window.end AS window_end".to_string(),
            ];
            select.extend(groups.iter().cloned());
            select.extend(
                agg.iter()
                    .map(|(e, name)| format!("{} AS {name}", e.bucket)),
            );
            format!(
                "WITH sigc_events AS (\n{events}\n)\nSELECT {}\nFROM sigc_events\nWHERE {keep}\nGROUP BY {}\nHAVING {test}",
                select.join(", "),
                by.join(", ")
            )
        }
        CorrelationMethod::Sliding => {
            let partition = if groups.is_empty() {
                String::new()
            } else {
                format!("PARTITION BY {} ", groups.join(", "))
            };
            let window = format!(
                "{partition}ORDER BY sigc_time RANGE BETWEEN INTERVAL {seconds} SECONDS PRECEDING AND CURRENT ROW"
            );
            let mut select = vec!["*".to_string()];
            for (e, name) in &agg {
                let Some(sliding) = &e.sliding else {
                    return Err(format!(
                        "a `{}` correlation has no sliding form in Spark SQL (use --correlation-method buckets)",
                        c.kind.name()
                    ));
                };
                select.push(format!("{sliding} AS {name}"));
            }
            let test = match c.kind {
                // Only at an event of the second rule does the window hold both, in order.
                CorrelationKind::TemporalOrdered => {
                    format!("sigc_rule = {} AND {test}", string(refs[1].name))
                }
                _ => test,
            };
            format!(
                "WITH sigc_events AS (\n{events}\n)\nSELECT * FROM (\nSELECT {}\nFROM sigc_events\nWHERE {keep}\nWINDOW sigc_window AS ({window})\n)\nWHERE {test}",
                select.join(", ")
            )
        }
    })
}

/// One aggregate: its form over a bucket and over a sliding window (`None`: no such form).
struct Agg {
    bucket: String,
    sliding: Option<String>,
}

fn agg(bucket: String, sliding: Option<String>) -> Agg {
    Agg { bucket, sliding }
}

/// The aggregates (with their names) and the test over them.
fn aggregate(
    c: &CorrelationIr,
    refs: &[Referenced],
) -> Result<(Vec<(Agg, String)>, String), String> {
    let number = "TRY_CAST(sigc_value AS DOUBLE)";
    let one =
        |a: Agg, name: &str, b: &[(crate::syntax::ast::CompareOp, crate::ir::pred::Number)]| {
            (
                vec![(a, name.to_string())],
                bounds(name, b, " AND ", " ").replace("==", "="),
            )
        };
    Ok(match (&c.kind, &c.condition) {
        (CorrelationKind::Temporal, cond) => {
            let rules = agg(
                "collect_set(sigc_rule)".into(),
                Some("collect_set(sigc_rule) OVER sigc_window".into()),
            );
            let test = match cond {
                CorrelationCondition::Expr(e) => bool_expr(e, refs)?,
                CorrelationCondition::Compare { .. } => {
                    format!("size(sigc_rules) >= {}", refs.len())
                }
            };
            (vec![(rules, "sigc_rules".into())], test)
        }
        (CorrelationKind::TemporalOrdered, _) => {
            let (a, b) = ordered_pair(c, refs, "Spark SQL", true)?;
            let (a, b) = (string(a.name), string(b.name));
            let first = agg(
                format!("min(CASE WHEN sigc_rule = {a} THEN sigc_time END)"),
                Some(format!(
                    "min(CASE WHEN sigc_rule = {a} THEN sigc_time END) OVER sigc_window"
                )),
            );
            let last = agg(
                format!("max(CASE WHEN sigc_rule = {b} THEN sigc_time END)"),
                Some("max(sigc_time) OVER sigc_window".into()),
            );
            (
                vec![(first, "first_start".into()), (last, "second_end".into())],
                "first_start < second_end".into(),
            )
        }
        (
            kind,
            CorrelationCondition::Compare {
                bounds: b,
                percentile,
                ..
            },
        ) => match kind {
            CorrelationKind::EventCount => one(
                agg("count(*)".into(), Some("count(*) OVER sigc_window".into())),
                "event_count",
                b,
            ),
            CorrelationKind::ValueCount => one(
                agg(
                    "count(DISTINCT sigc_value)".into(),
                    Some("size(collect_set(sigc_value) OVER sigc_window)".into()),
                ),
                "value_count",
                b,
            ),
            CorrelationKind::ValueSum => one(
                agg(
                    format!("sum({number})"),
                    Some(format!("sum({number}) OVER sigc_window")),
                ),
                "value_sum",
                b,
            ),
            CorrelationKind::ValueAvg => one(
                agg(
                    format!("avg({number})"),
                    Some(format!("avg({number}) OVER sigc_window")),
                ),
                "value_avg",
                b,
            ),
            CorrelationKind::ValuePercentile => {
                let p = percentile
                    .as_ref()
                    .ok_or("a value_percentile correlation without a percentile has no Spark SQL form in sigc")?;
                // The nearest rank, as the evaluator computes it: Spark's `percentile()`
                // interpolates, and `percentile_disc` takes no window frame.
                let p = p.value.as_f64();
                let pick = |list: String| {
                    format!(
                        "CASE WHEN size({list}) > 0 THEN element_at(sort_array({list}), CAST(greatest(ceil({p} * size({list}) / 100.0), 1) AS INT)) END"
                    )
                };
                let e = pick(format!("collect_list({number})"));
                let sliding = pick(format!("collect_list({number}) OVER sigc_window"));
                one(agg(e, Some(sliding)), "value_percentile", b)
            }
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered => {
                return Err("internal: temporal kinds are handled above".into());
            }
        },
        (_, CorrelationCondition::Expr(_)) => {
            return Err("a boolean condition is for temporal correlations only".into());
        }
    })
}

fn bool_expr(e: &BoolExpr, refs: &[Referenced]) -> Result<String, String> {
    let fired = |name: &str| format!("array_contains(sigc_rules, {})", string(name));
    crate::backend::correlation::bool_expr(
        e,
        refs,
        &crate::backend::correlation::BoolForms {
            fired: &fired,
            not: "NOT ",
            and: " AND ",
            or: " OR ",
        },
    )
}

/// The event time of column `col` as the evaluator reads it (`src/eval/correlate/time.rs`), to
/// the millisecond: a TIMESTAMP column as it is; text as RFC 3339 with its offset, as a date
/// and time without one taken as UTC (not the session's time zone), or as an integer count of
/// epoch seconds (below 10^11) or milliseconds. Anything else is NULL and takes no part:
/// `TRY_CAST`, because under ANSI mode (Spark 4's default) one malformed time in the table
/// would fail the whole query. Beyond Spark's range (10^15 ms, year 33658) NULL as well.
fn event_time(col: &str) -> String {
    let text = format!("trim(CAST({col} AS STRING))");
    let n = format!("TRY_CAST({text} AS BIGINT)");
    format!(
        "timestamp_millis(unix_millis(CASE WHEN typeof({col}) = 'timestamp' THEN CAST({col} AS TIMESTAMP) \
         WHEN {text} RLIKE '^-?[0-9]+$' THEN timestamp_millis(CASE WHEN abs({n}) < 100000000000 THEN {n} * 1000 \
         WHEN abs({n}) < 1000000000000000 THEN {n} END) \
         ELSE TRY_CAST(CASE WHEN {text} RLIKE '([Zz]|[+-][0-9][0-9](:?[0-9][0-9])?)$' THEN {text} \
         ELSE concat({text}, 'Z') END AS TIMESTAMP) END))"
    )
}
