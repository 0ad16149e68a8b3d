//! What every backend's correlation rules share: which rules an alias reads, the timespan,
//! and the condition's bounds.

use super::Referenced;
use crate::ir::pred::Number;
use crate::ir::rule::{Alias, BoolExpr, CorrelationCondition, CorrelationIr};
use crate::syntax::ast::CompareOp;

/// The referenced rules, checked: they are rules (a correlation of correlations is refused)
/// and the correlation has a timespan, which it returns in seconds.
pub(crate) fn check(c: &CorrelationIr, refs: &[Referenced], target: &str) -> Result<u64, String> {
    if refs.iter().any(|r| r.query.is_none()) {
        return Err(format!(
            "a correlation of correlations has no {target} form in sigc yet"
        ));
    }
    c.timespan
        .as_ref()
        .map(|t| t.seconds)
        .ok_or_else(|| "a correlation needs a timespan".to_string())
}

/// An alias as (the name a referenced rule goes by, the field it reads there) pairs.
pub(crate) fn alias_arms<'a>(
    c: &CorrelationIr,
    refs: &[Referenced<'a>],
    alias: &'a Alias,
) -> Result<Vec<(&'a str, &'a str)>, String> {
    alias
        .fields
        .iter()
        .map(|(rule, field)| {
            refs.iter()
                .zip(&c.rules)
                .find(|(_, r)| r.target == rule.target)
                .map(|(x, _)| (x.name, field.as_str()))
                .ok_or_else(|| {
                    "an alias names a rule the correlation does not reference".to_string()
                })
        })
        .collect()
}

/// The condition's bounds on the aggregate `name`, joined by `and` (`event_count>=10`).
pub(crate) fn bounds(name: &str, bounds: &[(CompareOp, Number)], and: &str, space: &str) -> String {
    bounds
        .iter()
        .map(|(op, n)| format!("{name}{space}{}{space}{}", op_symbol(*op), n.text))
        .collect::<Vec<_>>()
        .join(and)
}

fn op_symbol(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Lt => "<",
        CompareOp::Lte => "<=",
        CompareOp::Gt => ">",
        CompareOp::Gte => ">=",
        CompareOp::Eq => "==",
        CompareOp::Neq => "!=",
    }
}

/// How a target writes a boolean condition over the rules that fired: the test that a rule
/// (by its name) fired, and the `NOT`, `AND`, `OR` forms.
pub(crate) struct BoolForms<'a> {
    pub fired: &'a dyn Fn(&str) -> String,
    pub not: &'a str,
    pub and: &'a str,
    pub or: &'a str,
}

/// A temporal correlation's boolean condition (v2.2), written with the target's `forms`.
pub(crate) fn bool_expr(
    e: &BoolExpr,
    refs: &[Referenced],
    forms: &BoolForms,
) -> Result<String, String> {
    Ok(match e {
        BoolExpr::Rule(i) => {
            let r = refs.get(*i).ok_or("a condition names an unknown rule")?;
            (forms.fired)(r.name)
        }
        BoolExpr::Not(x) => format!("{}({})", forms.not, bool_expr(x, refs, forms)?),
        BoolExpr::And(items) | BoolExpr::Or(items) => {
            let op = if matches!(e, BoolExpr::And(_)) {
                forms.and
            } else {
                forms.or
            };
            let parts = items
                .iter()
                .map(|i| bool_expr(i, refs, forms))
                .collect::<Result<Vec<_>, _>>()?;
            format!("({})", parts.join(op))
        }
    })
}

/// The two rules of a `temporal_ordered` correlation, first then second. Refused: more than
/// two rules, and a boolean condition (v2.2); with `exact_bounds`, also any bound but the
/// default (both rules, in order), for backends whose test is only `first < second`.
pub(crate) fn ordered_pair<'r, 'a>(
    c: &CorrelationIr,
    refs: &'r [Referenced<'a>],
    target: &str,
    exact_bounds: bool,
) -> Result<(&'r Referenced<'a>, &'r Referenced<'a>), String> {
    let bounds = match &c.condition {
        CorrelationCondition::Expr(_) => {
            return Err(format!(
                "a boolean condition on temporal_ordered has no {target} form in sigc yet"
            ));
        }
        CorrelationCondition::Compare { bounds, .. } => bounds,
    };
    let [a, b] = refs else {
        return Err(format!(
            "temporal_ordered over more than two rules has no {target} form in sigc yet"
        ));
    };
    let default = matches!(bounds.as_slice(), [(CompareOp::Gte, n)] if n.value.as_f64() == 2.0);
    if exact_bounds && !default {
        return Err(format!(
            "temporal_ordered with a condition other than `gte: 2` (both rules, in order) has no {target} form in sigc yet"
        ));
    }
    Ok((a, b))
}
