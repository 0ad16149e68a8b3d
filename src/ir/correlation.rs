//! Correlation rules → IR: timespans in seconds, conditions checked per type, and rule
//! references resolved against the whole loaded set (by id or name).

use std::collections::HashMap;

use super::pred::{NumValue, Number};
use super::rule::*;
use crate::diagnostic::Code;
use crate::source::Spanned;
use crate::syntax::ast::{self, CompareOp, Condition, CorrelationKind, Value};
use crate::syntax::document::Ctx;

/// Parse `<number><unit>`; units as in pySigma: s, m, h, d, w, M (30 days), y (365 days).
pub fn parse_timespan(text: &str) -> Option<Timespan> {
    let t = text.trim();
    let unit = t.chars().last()?;
    let n: u64 = t[..t.len() - unit.len_utf8()].parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'M' => 30 * 86_400,
        'y' => 365 * 86_400,
        _ => return None,
    };
    Some(Timespan {
        text: t.to_string(),
        seconds: n.checked_mul(mult)?,
    })
}

/// The parts of a correlation that need the rest of the set to build.
pub struct Linked {
    pub rules: Vec<RuleRef>,
    pub timespan: Option<Timespan>,
    pub aliases: Vec<Alias>,
    pub condition: CorrelationCondition,
}

/// Lower a correlation; `index` maps ids and names to document indices in the set.
pub fn lower_correlation(
    cx: &mut Ctx,
    c: &ast::Correlation,
    index: &HashMap<String, Vec<usize>>,
) -> Option<Linked> {
    let kind = c.kind.node;
    let mut ok = true;
    // v2.2: a temporal condition may name the rules instead of listing them.
    let mut written: Vec<Spanned<String>> = c.rules.clone();
    if written.is_empty()
        && let Some(ast::CorrelationCondition::Expr(e)) = &c.condition
    {
        collect_idents(e, &mut written);
    }
    if written.is_empty() {
        cx.error(
            Code::Correlation,
            c.kind.span,
            "the correlation names no rules",
        )
        .help = Some("list the rule ids or names under `correlation.rules`".into());
        return None;
    }
    let mut rules = Vec::with_capacity(written.len());
    for w in &written {
        match resolve(cx, w, index) {
            Some(target) => rules.push(RuleRef {
                written: w.node.clone(),
                target,
            }),
            None => ok = false,
        }
    }
    let timespan = match &c.timespan {
        Some(t) => match parse_timespan(&t.node) {
            Some(ts) => Some(ts),
            None => {
                cx.error(
                    Code::InvalidTimespan,
                    t.span,
                    format!("`{}` is not a timespan", t.node),
                )
                .help =
                    Some("write a number and a unit: s, m, h, d (also w, M, y), e.g. `15m`".into());
                ok = false;
                None
            }
        },
        None => {
            cx.error(
                Code::MissingKey,
                c.kind.span,
                "the correlation has no `timespan`",
            )
            .help = Some("add e.g. `timespan: 1h` under `correlation`".into());
            ok = false;
            None
        }
    };
    let mut aliases = Vec::new();
    for ast::AliasAst {
        name,
        fields: pairs,
    } in &c.aliases
    {
        let mut fields = Vec::new();
        for (rule, field) in pairs {
            match resolve(cx, rule, index) {
                Some(target) => fields.push((
                    RuleRef {
                        written: rule.node.clone(),
                        target,
                    },
                    field.node.clone(),
                )),
                None => ok = false,
            }
        }
        aliases.push(Alias {
            name: name.node.clone(),
            fields,
        });
    }
    let condition = match &c.condition {
        None if kind.is_temporal() => CorrelationCondition::Compare {
            // Every referenced rule must fire within the window.
            bounds: vec![(CompareOp::Gte, int(rules.len() as i64))],
            fields: Vec::new(),
            percentile: None,
        },
        None => {
            cx.error(
                Code::MissingKey,
                c.kind.span,
                format!("a `{}` correlation needs a `condition`", kind.name()),
            )
            .help = Some("add e.g. `condition: {gte: 10}`".into());
            return None;
        }
        Some(ast::CorrelationCondition::Expr(e)) => {
            if !kind.is_temporal() {
                cx.error(
                    Code::Correlation,
                    e.span,
                    "a boolean condition over rules is only defined for `temporal` and `temporal_ordered`",
                )
                .help = Some("use a comparison map such as `condition: {gte: 10}`".into());
                return None;
            }
            CorrelationCondition::Expr(bool_expr(cx, e, &rules)?)
        }
        Some(ast::CorrelationCondition::Compare {
            span,
            bounds,
            fields,
            percentile,
        }) => {
            let mut out = Vec::new();
            for (op, v) in bounds {
                match number(&v.node) {
                    Some(n) => out.push((op.node, n)),
                    None => {
                        cx.error(
                            Code::Correlation,
                            v.span,
                            format!("`{}` needs a number", op.node.name()),
                        );
                        ok = false;
                    }
                }
            }
            if out.is_empty() && ok {
                cx.error(Code::Correlation, *span, "the condition has no comparison")
                    .help = Some("use one of gt, gte, lt, lte, eq, neq (two for a range)".into());
                ok = false;
            }
            if kind.needs_field() && fields.is_empty() {
                cx.error(
                    Code::Correlation,
                    *span,
                    format!("a `{}` correlation needs `condition.field`", kind.name()),
                )
                .help =
                    Some("name the field whose values are aggregated, e.g. `field: User`".into());
                ok = false;
            }
            if !kind.needs_field() && !fields.is_empty() {
                cx.error(
                    Code::Correlation,
                    fields[0].span,
                    format!("`field` has no meaning for a `{}` correlation", kind.name()),
                );
                ok = false;
            }
            let percentile = match percentile {
                Some(p) if kind == CorrelationKind::ValuePercentile => match number(&p.node) {
                    Some(n) if (0.0..=100.0).contains(&n.value.as_f64()) => Some(n),
                    _ => {
                        cx.error(
                            Code::Correlation,
                            p.span,
                            "`percentile` must be a number from 0 to 100",
                        );
                        ok = false;
                        None
                    }
                },
                Some(p) => {
                    cx.error(
                        Code::Correlation,
                        p.span,
                        "`percentile` belongs to `value_percentile` only",
                    );
                    ok = false;
                    None
                }
                None => None,
            };
            CorrelationCondition::Compare {
                bounds: out,
                fields: fields.iter().map(|f| f.node.clone()).collect(),
                percentile,
            }
        }
    };
    ok.then_some(Linked {
        rules,
        timespan,
        aliases,
        condition,
    })
}

fn int(i: i64) -> Number {
    Number {
        text: i.to_string(),
        value: NumValue::Int(i),
    }
}

fn number(v: &Value) -> Option<Number> {
    match v {
        Value::Int(i, t) => Some(Number {
            text: t.clone(),
            value: NumValue::Int(*i),
        }),
        Value::Float(f, t) => Some(Number {
            text: t.clone(),
            value: NumValue::Float(*f),
        }),
        _ => None,
    }
}

fn resolve(
    cx: &mut Ctx,
    w: &Spanned<String>,
    index: &HashMap<String, Vec<usize>>,
) -> Option<usize> {
    match index.get(&w.node).map(Vec::as_slice) {
        Some([one]) => Some(*one),
        Some(many) if !many.is_empty() => {
            cx.error(
                Code::UnresolvedReference,
                w.span,
                format!(
                    "`{}` names {} loaded documents; the reference is ambiguous",
                    w.node,
                    many.len()
                ),
            )
            .help = Some("give each rule a unique `id` and `name`".into());
            None
        }
        _ => {
            cx.error(
                Code::UnresolvedReference,
                w.span,
                format!("no loaded rule has the id or name `{}`", w.node),
            )
            .help = Some(
                "load the referenced rule too (pass its file or folder), or fix the id/name".into(),
            );
            None
        }
    }
}

fn collect_idents(c: &Spanned<Condition>, out: &mut Vec<Spanned<String>>) {
    match &c.node {
        Condition::Ident(i) => {
            if !out.iter().any(|o| o.node == i.node) {
                out.push(i.clone());
            }
        }
        Condition::Not(x) => collect_idents(x, out),
        Condition::And(v) | Condition::Or(v) => v.iter().for_each(|x| collect_idents(x, out)),
        Condition::Of { .. } => {}
    }
}

fn bool_expr(cx: &mut Ctx, c: &Spanned<Condition>, rules: &[RuleRef]) -> Option<BoolExpr> {
    Some(match &c.node {
        Condition::Ident(i) => match rules.iter().position(|r| r.written == i.node) {
            Some(p) => BoolExpr::Rule(p),
            None => {
                cx.error(
                    Code::UndefinedIdentifier,
                    i.span,
                    format!("`{}` is not one of the correlation's rules", i.node),
                );
                return None;
            }
        },
        Condition::Of { pattern, .. } => {
            cx.error(
                Code::Correlation,
                pattern.span,
                "`x of` is not defined for correlation conditions",
            );
            return None;
        }
        Condition::Not(x) => BoolExpr::Not(Box::new(bool_expr(cx, x, rules)?)),
        Condition::And(v) => BoolExpr::And(
            v.iter()
                .map(|x| bool_expr(cx, x, rules))
                .collect::<Option<_>>()?,
        ),
        Condition::Or(v) => BoolExpr::Or(
            v.iter()
                .map(|x| bool_expr(cx, x, rules))
                .collect::<Option<_>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("15m").map(|t| t.seconds), Some(900));
        assert_eq!(parse_timespan("2h").map(|t| t.seconds), Some(7200));
        assert_eq!(parse_timespan("1M").map(|t| t.seconds), Some(30 * 86_400));
        assert_eq!(parse_timespan("m"), None);
        assert_eq!(parse_timespan("10x"), None);
    }
}
