//! Correlation rules in KQL. The referenced rules' queries (one, or a `union` of them) each tag
//! their rows with `sigc_rule` and `sigc_time` (Defender's tables: `Timestamp`; Log Analytics
//! tables: `TimeGenerated`), aliases become `extend ... case(...)`, and then one of two window
//! methods (`--correlation-method`).
//!
//! # Buckets (the default)
//! `summarize ... by bin(sigc_time, <timespan>)` and the group-by columns, then the condition as
//! `where`. Fixed buckets, as pySigma's backends write them: a burst that straddles a bucket edge
//! can be missed (the evaluator slides its windows).
//!
//! Each bucket aggregates what a sliding window does (below: the same events, rows without a
//! time or a group-by value left out, and the same aggregates, so `value_percentile` with
//! `percentile: N` is the exact nearest rank, not `percentile()`'s estimate); without the key,
//! the spec's share, in percent, of the bucket's values equal to each value.
//!
//! # Sliding
//! The evaluator's windows (`src/eval/correlate.rs`): at each event, the `timespan` that ends at
//! it, `[t - timespan, t]` with both ends included, per group. Written as a self-join: the events
//! (time, rule, group-by values, the aggregated value) are gathered once with `materialize()`;
//! every distinct (group, event time) is a window end; it is joined on the group columns with
//! the events of its group, kept where `sigc_time between ((sigc_window_end - span) ..
//! sigc_window_end)` (`between` includes both ends), and the window is summarized per (group,
//! end) and tested. Each row returned is a window that satisfies the condition, with its end
//! (`sigc_window_end`) and its earliest event (`sigc_window_start`).
//!
//! Why a join and not `scan` or `row_window_session`: `row_window_session` cuts sessions that
//! start at an event and restart after a gap, which is neither a window ending at each event nor
//! the same set of events; `scan` carries a fixed state from row to row and cannot take back an
//! event that leaves the window, so it cannot count distinct values, percentiles or shares over
//! it; `sliding_window_counts` evaluates at fixed steps, not at each event. The join states the
//! window's definition itself, so every aggregate is an ordinary `summarize` over exactly the
//! window's events.
//!
//! Cost: the join is a time-window join (Kusto's documented pattern): the window ends carry
//! the bin `bin(end, w)`, `w` the timespan (at least `1s`: `bin()` needs a positive width), and
//! each event is expanded to the two bins a window covering it can end in (`bin(t, w)` and the
//! next), so a group is only joined with itself across adjacent bins. An event at `t` is in the
//! window ending at `e` iff `t <= e <= t + span`, so `bin(e, w)` is `bin(t, w)` or
//! `bin(t, w) + w`: no pair is lost and none is counted twice (the two expanded keys differ).
//! The join holds, per window end, the events of its group in two bins: windows with many
//! events per group cost their square.
//!
//! Exactness against the evaluator:
//! - Rows without a time, and rows missing any group-by value (`isempty`: a Kusto string has no
//!   null, an empty one is the evaluator's missing field), take no part, as in the evaluator.
//!   Group-by values are compared as text (`tostring()`, case-sensitive `==` in the join).
//! - `event_count`: `count()`; `value_count`: the distinct non-empty texts of the field
//!   (`count_distinctif`); `value_sum`, `value_avg`: over the field's finite numbers
//!   (`todouble()`, non-numbers and infinities left out), and a window without a number does not
//!   match; `value_percentile` with pySigma's `percentile: p`: the nearest-rank percentile, exact
//!   (the window's numbers sorted, the value at rank `max(ceil(p * n / 100), 1)`), where
//!   `percentile()` would be an estimate; without it the spec's share: per window end and value
//!   of the event there, `100.0 * same / total` over the window's non-empty values. Sums are
//!   of doubles (the evaluator adds integers exactly: they differ past 2^53), and `make_list`
//!   keeps at most 1,048,576 numbers of a window.
//! - `temporal`: the rules seen in the window, all of them (or the bounds, or the v2.2 boolean
//!   condition over which fired); `temporal_ordered` of two rules: some event of the first
//!   strictly before some event of the second within the window (`minif` < `maxif`).
//! - Ties: events with the same time all belong to a window ending at that time; the evaluator
//!   also breaks ties by arrival order (an event at `t` does not see one at `t` that arrives after
//!   it, and an ordered pair at one instant counts in arrival order). A table holds no arrival
//!   order, so windows are judged as of the last event of each instant and equal times are never
//!   "in order". Times are Kusto's 100 ns ticks, the evaluator's milliseconds.
//! - Every satisfying window is returned; the evaluator reports the first per group and stays
//!   quiet for a timespan after it (keep a group's first row, skip rows ending within a timespan
//!   of the last kept one, to get its reports).
//!
//! # Both
//! `temporal_ordered` over more than two rules, its v2.2 boolean condition, and correlations of
//! correlations are refused.

use crate::backend::correlation::{alias_arms, bounds, ordered_pair};
use crate::backend::{CorrelationMethod, Referenced};
use crate::ir::pred::Number;
use crate::ir::rule::{BoolExpr, CorrelationCondition, CorrelationIr};
use crate::syntax::ast::{CompareOp, CorrelationKind};

use super::expr::{Context, string};

pub(crate) fn convert(
    c: &CorrelationIr,
    refs: &[Referenced],
    method: CorrelationMethod,
) -> Result<String, String> {
    let seconds = crate::backend::correlation::check(c, refs, "KQL")?;
    let state = |r: &Referenced, k: &str| r.state.and_then(|s| s.get(k)).cloned();
    let value_fields: &[String] = match &c.condition {
        CorrelationCondition::Compare { fields, .. } => fields,
        CorrelationCondition::Expr(_) => &[],
    };
    // Group-by, alias and aggregated fields were mapped once for the correlation: they name
    // the same columns in every referenced rule only if all of them read one table.
    let tables: Vec<Option<String>> = refs.iter().map(|r| state(r, "kql_table")).collect();
    if (!c.group_by.is_empty() || !c.aliases.is_empty() || !value_fields.is_empty())
        && tables.windows(2).any(|w| w[0] != w[1])
    {
        return Err(
            "a correlation whose rules read different tables cannot group by or aggregate one column in KQL (sigc does not map correlation fields per table yet)"
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
    // Computed columns the correlation reads: the rules' queries extend only those they test.
    let read: Vec<&str> = c
        .group_by
        .iter()
        .chain(value_fields)
        .chain(
            c.aliases
                .iter()
                .flat_map(|a| a.fields.iter().map(|(_, f)| f)),
        )
        .map(String::as_str)
        .collect();
    for (name, value) in &parts.extends {
        if read.contains(name) {
            q.push_str(&format!("\n| extend {name} = {value}"));
        }
    }
    for alias in &c.aliases {
        let mut arms = Vec::new();
        for (name, field) in alias_arms(c, refs, alias)? {
            arms.push(format!(
                "sigc_rule == {}, tostring({})",
                string(name),
                super::expr::column(field, &cx)?
            ));
        }
        q.push_str(&format!(
            "\n| extend {}=case({}, \"\")",
            ident(&alias.name)?,
            arms.join(", ")
        ));
    }
    let fields = Fields { c, cx: &cx };
    let groups = c
        .group_by
        .iter()
        .map(|g| fields.get(g))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, g) in groups.iter().enumerate() {
        if groups[..i].iter().any(|h| h.name == g.name) {
            return Err(format!(
                "two group-by fields would both be the KQL column {}",
                g.name
            ));
        }
    }
    match method {
        CorrelationMethod::Buckets => buckets(c, refs, q, &groups, &fields, seconds),
        CorrelationMethod::Sliding => sliding(c, refs, q, &groups, &fields, seconds),
    }
}

/// A field of the correlation as a column of the events: its name in the output and the
/// expression that reads it.
struct Field {
    name: String,
    expr: String,
}

impl Field {
    /// The expression as text: group-by values are compared as text, as the evaluator does.
    fn text(&self) -> String {
        // Dynamic paths already come as `tostring(...)`.
        if self.expr.starts_with("tostring(") {
            self.expr.clone()
        } else {
            format!("tostring({})", self.expr)
        }
    }
}

struct Fields<'a> {
    c: &'a CorrelationIr,
    cx: &'a Context<'a>,
}

impl Fields<'_> {
    /// An alias is the column its `extend` made; anything else is a column (or a path into
    /// one) of the table.
    fn get(&self, f: &str) -> Result<Field, String> {
        if self.c.aliases.iter().any(|a| a.name == f) {
            let name = ident(f)?;
            return Ok(Field {
                expr: name.clone(),
                name,
            });
        }
        Ok(Field {
            name: ident(f.rsplit('.').next().unwrap_or(f))?,
            expr: super::expr::column(f, self.cx)?,
        })
    }

    /// The one field a value_* condition aggregates.
    fn value(&self, kind: CorrelationKind, fields: &[String]) -> Result<Field, String> {
        let [f] = fields else {
            return Err(format!("a {kind:?} correlation needs one field"));
        };
        self.get(f)
    }
}

fn buckets(
    c: &CorrelationIr,
    refs: &[Referenced],
    q: String,
    groups: &[Field],
    fields: &Fields,
    seconds: u64,
) -> Result<String, String> {
    let w = window(c, refs, fields)?;
    let mut keys = vec!["sigc_bucket".to_string()];
    keys.extend(groups.iter().map(|g| g.name.clone()));
    let mut by = vec![format!("sigc_bucket=bin(sigc_time, {seconds}s)")];
    by.extend(keys[1..].iter().cloned());
    let by = by.join(", ");
    let events = narrowed(q, groups, w.value.as_ref());
    if let Some(Value::Share(_)) = w.value {
        // Per bucket, each value judged against the bucket's non-empty values.
        let keys = keys.join(", ");
        return Ok(format!(
            "let sigc_counts = {events}\n| where isnotempty(sigc_value)\n| summarize sigc_same=count() by {by}, sigc_own_value=sigc_value;\nsigc_counts\n| join kind=inner (sigc_counts | summarize sigc_total=sum(sigc_same) by {keys}) on {keys}{}",
            w.tail
        ));
    }
    Ok(format!(
        "{events}\n| summarize {} by {by}{}",
        w.aggs.join(", "),
        w.tail
    ))
}

/// What a window or bucket aggregates: the aggregated field, if any; the `summarize`
/// aggregates; what follows it (`extend`s and the `where`).
struct Window {
    value: Option<Value>,
    aggs: Vec<String>,
    tail: String,
}

/// The aggregated field as the events carry it.
enum Value {
    /// `sigc_value`, text: distinct counts and shares compare text, as the evaluator does.
    Text(Field),
    /// `sigc_number`, a finite number or null.
    Number(Field),
    /// `sigc_value`, and each window is also judged per value of the event it ends at.
    Share(Field),
}

fn sliding(
    c: &CorrelationIr,
    refs: &[Referenced],
    q: String,
    groups: &[Field],
    fields: &Fields,
    seconds: u64,
) -> Result<String, String> {
    let span = format!("{seconds}s");
    // The join's bin must be at least the timespan for a window to reach one bin back only;
    // `bin()` needs a positive width.
    let width = format!("{}s", seconds.max(1));
    let w = window(c, refs, fields)?;

    // Materialized: the join reads the events twice.
    let share = matches!(w.value, Some(Value::Share(_)));
    let mut out = format!(
        "let sigc_events = materialize({}",
        narrowed(q, groups, w.value.as_ref())
    );
    out.push_str(");\nsigc_events");

    // The window ends: every (group, time), and for the share the value judged there.
    let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
    let mut ends = names.clone();
    ends.push("sigc_window_end=sigc_time".into());
    if share {
        out.push_str("\n| where isnotempty(sigc_value)");
        ends.push("sigc_own_value=sigc_value".into());
    }
    out.push_str(&format!(
        "\n| summarize by {}\n| extend sigc_key=bin(sigc_window_end, {width})",
        ends.join(", ")
    ));
    let mut on = names.clone();
    on.push("sigc_key".into());
    out.push_str(&format!(
        "\n| join kind=inner (sigc_events\n    | mv-expand sigc_key=pack_array(bin(sigc_time, {width}), bin(sigc_time, {width}) + {width}) to typeof(datetime)\n    ) on {}",
        on.join(", ")
    ));
    out.push_str(&format!(
        "\n| where sigc_time between ((sigc_window_end - {span}) .. sigc_window_end)"
    ));
    let mut by = names;
    by.push("sigc_window_end".into());
    if share {
        by.push("sigc_own_value".into());
    }
    let mut aggs = vec!["sigc_window_start=min(sigc_time)".to_string()];
    aggs.extend(w.aggs);
    out.push_str(&format!(
        "\n| summarize {} by {}",
        aggs.join(", "),
        by.join(", ")
    ));
    out.push_str(&w.tail);
    Ok(out)
}

/// What a window (or bucket) of a correlation aggregates, and the test on it, over the
/// columns `narrowed` makes.
fn window(c: &CorrelationIr, refs: &[Referenced], fields: &Fields) -> Result<Window, String> {
    Ok(match (&c.kind, &c.condition) {
        (CorrelationKind::Temporal, cond) => Window {
            value: None,
            aggs: vec!["sigc_rules=make_set(sigc_rule)".into()],
            tail: format!(
                "\n| extend rule_count=array_length(sigc_rules)\n| where {}",
                temporal_test(cond, refs)?
            ),
        },
        (CorrelationKind::TemporalOrdered, cond) => {
            let (first, second) = ordered_pair(c, refs, "KQL", false)?;
            let (first, second) = (string(first.name), string(second.name));
            Window {
                value: None,
                aggs: vec![
                    format!("first_start=minif(sigc_time, sigc_rule == {first})"),
                    format!("second_end=maxif(sigc_time, sigc_rule == {second})"),
                ],
                tail: ordered_test(cond),
            }
        }
        (_, CorrelationCondition::Expr(_)) => {
            return Err("a boolean condition is for temporal correlations only".into());
        }
        (
            kind,
            CorrelationCondition::Compare {
                bounds,
                fields: fs,
                percentile,
            },
        ) => {
            let value = || fields.value(*kind, fs);
            // Sums and averages over the finite numbers only; a window with none has no value.
            let numbers = "sigc_numbers=countif(isnotnull(sigc_number))".to_string();
            let has_numbers = |name: &str| {
                format!(
                    "\n| where sigc_numbers > 0 and {}",
                    bound_tests(name, bounds)
                )
            };
            match (kind, percentile) {
                (CorrelationKind::EventCount, _) => Window {
                    value: None,
                    aggs: vec!["event_count=count()".into()],
                    tail: format!("\n| where {}", bound_tests("event_count", bounds)),
                },
                (CorrelationKind::ValueCount, _) => Window {
                    value: Some(Value::Text(value()?)),
                    aggs: vec![
                        "value_count=count_distinctif(sigc_value, isnotempty(sigc_value))".into(),
                    ],
                    tail: format!("\n| where {}", bound_tests("value_count", bounds)),
                },
                (CorrelationKind::ValueSum, _) => Window {
                    value: Some(Value::Number(value()?)),
                    aggs: vec![numbers, "value_sum=sum(sigc_number)".into()],
                    tail: has_numbers("value_sum"),
                },
                (CorrelationKind::ValueAvg, _) => Window {
                    value: Some(Value::Number(value()?)),
                    // `avg()` is not documented to skip nulls, `sum()` and `countif()` are.
                    aggs: vec![numbers, "sigc_sum=sum(sigc_number)".into()],
                    tail: format!(
                        "\n| extend value_avg=sigc_sum / sigc_numbers{}",
                        has_numbers("value_avg")
                    ),
                },
                (CorrelationKind::ValuePercentile, Some(p)) => Window {
                    value: Some(Value::Number(value()?)),
                    aggs: vec!["sigc_numbers=array_sort_asc(make_list(sigc_number))".into()],
                    // Nearest rank, as the evaluator computes it (`p * n / 100` in that order).
                    tail: format!(
                        "\n| extend value_percentile=todouble(sigc_numbers[tolong(max_of(ceiling({} * array_length(sigc_numbers) / 100.0), 1.0)) - 1])\n| where {}",
                        p.text,
                        bound_tests("value_percentile", bounds)
                    ),
                },
                (CorrelationKind::ValuePercentile, None) => Window {
                    value: Some(Value::Share(value()?)),
                    aggs: vec![
                        "sigc_same=countif(sigc_value == sigc_own_value)".into(),
                        "sigc_total=countif(isnotempty(sigc_value))".into(),
                    ],
                    tail: format!(
                        "\n| extend value_percentile=100.0 * sigc_same / sigc_total\n| where {}",
                        bound_tests("value_percentile", bounds)
                    ),
                },
                (CorrelationKind::Temporal | CorrelationKind::TemporalOrdered, _) => {
                    return Err("internal: temporal kinds are handled above".into());
                }
            }
        }
    })
}

/// The events narrowed to what the windows read: time, rule, group-by values as text and the
/// aggregated value. Rows without a time or a group-by value take no part, as in the evaluator
/// (a Kusto string has no null: empty is its missing field).
fn narrowed(q: String, groups: &[Field], value: Option<&Value>) -> String {
    let mut cols = vec!["sigc_time".to_string(), "sigc_rule".to_string()];
    cols.extend(groups.iter().map(|g| format!("{}={}", g.name, g.text())));
    cols.extend(value.map(|v| match v {
        Value::Text(f) | Value::Share(f) => format!("sigc_value={}", f.text()),
        Value::Number(f) => format!("sigc_number=todouble({})", f.expr),
    }));
    let mut keep = vec!["isnotnull(sigc_time)".to_string()];
    keep.extend(groups.iter().map(|g| format!("isnotempty({})", g.name)));
    let mut out = format!(
        "{q}\n| project {}\n| where {}",
        cols.join(", "),
        keep.join(" and ")
    );
    if let Some(Value::Number(_)) = value {
        // Infinities and NaN are not numbers to the evaluator.
        out.push_str("\n| extend sigc_number=iff(isfinite(sigc_number), sigc_number, real(null))");
    }
    out
}

/// `temporal`: every rule fired (or the bounds on how many did), or the boolean condition.
fn temporal_test(cond: &CorrelationCondition, refs: &[Referenced]) -> Result<String, String> {
    Ok(match cond {
        CorrelationCondition::Expr(e) => bool_expr(e, refs)?,
        CorrelationCondition::Compare { bounds, .. } => bound_tests("rule_count", bounds),
    })
}

/// `temporal_ordered`'s two rules as KQL strings, or why there is no form.
/// After `first_start`/`second_end`: the rules in order count 2, else the one that fired
/// counts 1 (a window or bucket always holds an event); the default bound (both in order)
/// reads as the comparison itself.
fn ordered_test(cond: &CorrelationCondition) -> String {
    let bounds = match cond {
        CorrelationCondition::Compare { bounds, .. } => bounds.as_slice(),
        CorrelationCondition::Expr(_) => &[],
    };
    if let [(CompareOp::Gte, n)] = bounds
        && n.value.as_f64() == 2.0
    {
        return "\n| where first_start < second_end".into();
    }
    format!(
        "\n| extend rule_count=iff(first_start < second_end, 2, 1)\n| where {}",
        bound_tests("rule_count", bounds)
    )
}

fn bound_tests(name: &str, b: &[(CompareOp, Number)]) -> String {
    bounds(name, b, " and ", " ")
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
