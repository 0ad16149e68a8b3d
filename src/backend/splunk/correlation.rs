//! Correlation rules in SPL: the referenced rules' searches (one, or a `multisearch` of them,
//! each tagged with `sigc_rule`), aliases as `eval ... case(...)`, then the aggregation in
//! fixed time buckets, `bin _time span=<timespan>` and `stats ... by _time <group-by>`, and the
//! condition as `where`. This is what pySigma's Splunk backend writes, and like it a burst that
//! straddles a bucket edge can be missed; the evaluator slides its windows.
//!
//! - `event_count`: `count`; `value_count`: `dc(field)`; `value_sum`, `value_avg`: `sum`, `avg`;
//!   `value_percentile` with pySigma's `percentile: N` key: `exactperc<N>(field)`, the nearest
//!   rank as the evaluator computes it (Splunk's default `perc_method`; `perc<N>` estimates once
//!   a field has 1,000 distinct values), for whole N from 1 to 99; without it, the
//!   spec's meaning (the share, in percent, of the window's values equal to each event's own
//!   value) with two `eventstats`.
//! - `temporal`: `dc(sigc_rule)` must reach the number of rules, or the boolean condition over
//!   the rules (`mvfind` in the rules seen) must hold.
//! - `temporal_ordered` of two rules: the first rule's earliest event in the bucket comes
//!   before the second rule's latest (some event of the first precedes some event of the
//!   second). Longer sequences are refused: `stats` cannot say "in this order" for three; so
//!   are a boolean condition and any bound but the default (both rules, in order).
//! - A correlation of correlations is refused.

use crate::ir::rule::{BoolExpr, CorrelationCondition, CorrelationIr};
use crate::syntax::ast::{CompareOp, CorrelationKind};

use super::super::correlation::ordered_pair;
use super::super::{CorrelationMethod, Referenced};
use super::spl::string;

pub(crate) fn convert(
    c: &CorrelationIr,
    refs: &[Referenced],
    method: CorrelationMethod,
) -> Result<String, String> {
    let seconds = crate::backend::correlation::check(c, refs, "SPL")?;
    let span = format!("{seconds}s");
    let mut q = if let [one] = refs {
        format!(
            "{} | eval sigc_rule={}",
            one.query.unwrap_or("*"),
            string(one.name)
        )
    } else {
        let parts: Vec<String> = refs
            .iter()
            .map(|r| {
                format!(
                    "[ search {} | eval sigc_rule={} ]",
                    r.query.unwrap_or("*"),
                    string(r.name)
                )
            })
            .collect();
        format!("| multisearch {}", parts.join(" "))
    };
    for alias in &c.aliases {
        let mut arms = Vec::new();
        for (name, field) in crate::backend::correlation::alias_arms(c, refs, alias)? {
            arms.push(format!(
                "sigc_rule=={}, {}",
                string(name),
                eval_field(field)?
            ));
        }
        q.push_str(&format!(
            "\n| eval {}=case({})",
            eval_field(&alias.name)?,
            arms.join(", ")
        ));
    }
    let groups: Vec<String> = c
        .group_by
        .iter()
        .map(|g| field_name(g))
        .collect::<Result<_, _>>()?;
    let by = std::iter::once("_time".to_string())
        .chain(groups.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let agg = aggregation(c, refs, &by)?;
    match method {
        CorrelationMethod::Buckets => {
            if let Some(keep) = &agg.keep_time {
                // `bin` rounds `_time` down to its bucket; the order needs the events' own times.
                q.push_str(&format!("\n| eval {keep}=_time"));
            }
            q.push_str(&format!("\n| bin _time span={span}"));
            q.push_str(&agg.buckets);
        }
        CorrelationMethod::Sliding => {
            let Some(sliding) = &agg.sliding else {
                return Err(format!(
                    "a `{}` correlation has no sliding form in SPL (use --correlation-method buckets)",
                    c.kind.name()
                ));
            };
            // Each event sees the window of `timespan` that ends at it: sorted by time, so that
            // `time_window` looks back.
            q.push_str("\n| sort 0 _time");
            let by = if groups.is_empty() {
                String::new()
            } else {
                format!(" by {}", groups.join(" "))
            };
            q.push_str(&format!(
                "\n| streamstats time_window={span} {}{by}",
                sliding.stats
            ));
            q.push_str(&format!("\n| where {}", sliding.test));
            return Ok(q);
        }
    }
    q.push_str(&format!("\n| where {}", agg.test));
    Ok(q)
}

/// One correlation type's aggregation: for buckets, the pipes after `bin` and the test after
/// them; for a sliding window, the `streamstats` aggregations and test (`None`: no sliding
/// form).
struct Aggregation {
    buckets: String,
    test: String,
    /// A field to copy `_time` into before `bin`, when the test reads event times.
    keep_time: Option<&'static str>,
    sliding: Option<Sliding>,
}

struct Sliding {
    stats: String,
    test: String,
}

/// `by`: the bucket and group-by fields.
fn aggregation(c: &CorrelationIr, refs: &[Referenced], by: &str) -> Result<Aggregation, String> {
    Ok(match (&c.kind, &c.condition) {
        (CorrelationKind::Temporal, cond) => {
            let test = match cond {
                CorrelationCondition::Expr(e) => bool_expr(e, refs)?,
                CorrelationCondition::Compare { .. } => format!("rule_count>={}", refs.len()),
            };
            let stats = "dc(sigc_rule) as rule_count values(sigc_rule) as sigc_rules".to_string();
            Aggregation {
                buckets: format!("\n| stats {stats} by {by}"),
                test: test.clone(),
                keep_time: None,
                sliding: Some(Sliding { stats, test }),
            }
        }
        (CorrelationKind::TemporalOrdered, _) => {
            let (a, b) = ordered_pair(c, refs, "SPL", true)?;
            let (a, b) = (string(a.name), string(b.name));
            Aggregation {
                buckets: format!(
                    "\n| stats min(eval(if(sigc_rule=={a}, sigc_time, null()))) as first_start max(eval(if(sigc_rule=={b}, sigc_time, null()))) as second_end by {by}"
                ),
                test: "first_start < second_end".into(),
                keep_time: Some("sigc_time"),
                // At each event of the second rule: an event of the first earlier in the window.
                sliding: Some(Sliding {
                    stats: format!("min(eval(if(sigc_rule=={a}, _time, null()))) as first_start"),
                    test: format!("sigc_rule=={b} AND first_start < _time"),
                }),
            }
        }
        (
            CorrelationKind::ValuePercentile,
            CorrelationCondition::Compare {
                bounds,
                fields,
                percentile: None,
            },
        ) => {
            // The spec's meaning: the share, in percent, of the window's values that equal the
            // event's own value.
            let [f] = fields.as_slice() else {
                return Err("a value_percentile correlation needs one field".into());
            };
            let f = field_name(f)?;
            Aggregation {
                buckets: format!(
                    "\n| eventstats count as sigc_total by {by}\n| eventstats count as sigc_same by {by} {f}\n| eval value_percentile=100*sigc_same/sigc_total"
                ),
                test: bound_tests("value_percentile", bounds),
                keep_time: None,
                sliding: None,
            }
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
                field_name(f)
            };
            let (agg, name) = match kind {
                CorrelationKind::EventCount => ("count".to_string(), "event_count"),
                CorrelationKind::ValueCount => (format!("dc({})", field()?), "value_count"),
                CorrelationKind::ValueSum => (format!("sum({})", field()?), "value_sum"),
                CorrelationKind::ValueAvg => (format!("avg({})", field()?), "value_avg"),
                CorrelationKind::ValuePercentile => {
                    let p = percentile
                        .as_ref()
                        .ok_or("value_percentile needs a percentile")?;
                    let n = p.value.as_f64();
                    if n.fract() != 0.0 || !(1.0..=99.0).contains(&n) {
                        return Err(format!(
                            "percentile {} has no exact SPL form: exactperc takes whole percentiles from 1 to 99",
                            p.text
                        ));
                    }
                    (
                        format!("exactperc{}({})", p.text, field()?),
                        "value_percentile",
                    )
                }
                CorrelationKind::Temporal | CorrelationKind::TemporalOrdered => {
                    return Err("internal: temporal kinds are handled above".into());
                }
            };
            let stats = format!("{agg} as {name}");
            let test = bound_tests(name, bounds);
            Aggregation {
                buckets: format!("\n| stats {stats} by {by}"),
                test: test.clone(),
                keep_time: None,
                sliding: Some(Sliding { stats, test }),
            }
        }
        (_, CorrelationCondition::Expr(_)) => {
            return Err("a boolean condition is for temporal correlations only".into());
        }
    })
}

fn bound_tests(name: &str, bounds: &[(CompareOp, crate::ir::pred::Number)]) -> String {
    crate::backend::correlation::bounds(name, bounds, " AND ", "")
}

fn bool_expr(e: &BoolExpr, refs: &[Referenced]) -> Result<String, String> {
    let fired = |name: &str| {
        format!(
            "isnotnull(mvfind(sigc_rules, {}))",
            string(&regex_exact(name))
        )
    };
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

fn regex_exact(s: &str) -> String {
    format!("^{}$", super::super::strings::escape_regex(s))
}

/// A field name in `stats` and `bin`: plain names only.
fn field_name(f: &str) -> Result<String, String> {
    let plain = !f.is_empty()
        && f.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@'));
    if !plain {
        return Err(format!("the field name `{f}` has no plain SPL form"));
    }
    Ok(f.to_string())
}

/// A field name in `eval`, where `.` and `-` are operators: quoted when it holds one.
fn eval_field(f: &str) -> Result<String, String> {
    let f = field_name(f)?;
    Ok(if f.contains(['.', '-', '@']) {
        format!("'{f}'")
    } else {
        f
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Item, load_text};

    /// Convert the last correlation of a fixture file, its rules' searches being their names.
    fn spl(file: &str) -> Result<String, String> {
        let path = format!(
            "{}/tests/fixtures/correlations/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let set = load_text(&path, &text);
        let c = set
            .docs
            .iter()
            .rev()
            .find_map(|d| match &d.item {
                Some(Item::Correlation(c)) => Some(c.clone()),
                _ => None,
            })
            .ok_or("no correlation")?;
        let names: Vec<(String, Option<String>)> = c
            .rules
            .iter()
            .map(|r| {
                let q = match &set.docs[r.target].item {
                    Some(Item::Rule(_)) => Some(format!("Q_{}", r.written)),
                    _ => None,
                };
                (r.written.clone(), q)
            })
            .collect();
        let refs: Vec<Referenced> = names
            .iter()
            .map(|(n, q)| Referenced {
                name: n,
                query: q.as_deref(),
                state: None,
            })
            .collect();
        convert(&c, &refs, CorrelationMethod::Buckets)
    }

    #[test]
    fn event_count() {
        let q = spl("event_count.yml").unwrap();
        assert!(q.contains("\n| bin _time span="), "{q}");
        assert!(q.contains("\n| stats count as event_count by _time"), "{q}");
        assert!(q.contains("\n| where event_count"), "{q}");
    }

    #[test]
    fn temporal_ordered_checks_the_order() {
        let q = spl("temporal_ordered_aliases.yml").unwrap();
        assert!(
            q.starts_with(
                "| multisearch [ search Q_failed_logon | eval sigc_rule=\"failed_logon\" ]"
            ),
            "{q}"
        );
        assert!(q.contains("| eval remote_ip=case(sigc_rule==\"failed_logon\", IpAddress, sigc_rule==\"outbound_connection\", DestinationIp)"), "{q}");
        assert!(q.contains("by _time remote_ip"), "{q}");
        assert!(q.contains("| eval sigc_time=_time\n| bin _time"), "{q}");
        assert!(q.ends_with("| where first_start < second_end"), "{q}");
    }

    #[test]
    fn every_fixture_converts_or_says_why() {
        for f in [
            "event_count.yml",
            "event_count_range.yml",
            "value_count.yml",
            "value_sum.yml",
            "value_avg.yml",
            "value_percentile.yml",
            "temporal.yml",
            "temporal_boolean_condition.yml",
            "temporal_ordered_aliases.yml",
            "generate.yml",
        ] {
            let q = spl(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(
                q.contains("| stats ") || q.contains("| eventstats "),
                "{f}: {q}"
            );
        }
        assert!(
            spl("chained.yml")
                .unwrap_err()
                .contains("correlation of correlations")
        );
    }
}
