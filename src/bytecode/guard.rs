//! Routing guards: from a rule's expression, the (Channel, EventID) pairs an event needs for the
//! rule to possibly match. The evaluator indexes rules by them, so an event only runs the rules
//! of its own log source. A guard is a necessary condition read off the expression's top-level
//! conjuncts; it never changes a verdict, only skips rules that cannot match.

use super::{ChannelKey, Guard};
use crate::eval::engine::WINDOWS_MARK;
use crate::eval::event::lowercase;
use crate::ir::Expr;
use crate::ir::pred::{NumOp, NumValue, Shape, Test};

pub const EVENT_ID: &str = "EventID";

/// Guards of an expression, or `None` when some way to match it is unbounded.
pub fn guards(e: &Expr) -> Option<Vec<Guard>> {
    let mut out = match e {
        Expr::Or(variants) => {
            let mut all = Vec::new();
            for v in variants {
                all.extend(conjunct_guards(v)?);
            }
            all
        }
        other => conjunct_guards(other)?,
    };
    out.sort();
    out.dedup();
    Some(out)
}

/// Guards of one AND (or single predicate): channels × event ids it requires.
fn conjunct_guards(e: &Expr) -> Option<Vec<Guard>> {
    let items: &[Expr] = match e {
        Expr::And(items) => items,
        other => std::slice::from_ref(other),
    };
    let mut channels: Option<Vec<ChannelKey>> = None;
    let mut ids: Option<Vec<i64>> = None;
    for item in items {
        if channels.is_none()
            && let Some(c) = values(item, WINDOWS_MARK, channel_of)
        {
            channels = Some(c.into_iter().map(ChannelKey::Is).collect());
        } else if channels.is_none() && is_absent(item, WINDOWS_MARK) {
            channels = Some(vec![ChannelKey::Absent]);
        } else if ids.is_none()
            && let Some(i) = values(item, EVENT_ID, event_id_of)
        {
            ids = Some(i);
        }
    }
    if channels.is_none() && ids.is_none() {
        return None;
    }
    let chans: Vec<ChannelKey> = channels.unwrap_or(vec![ChannelKey::Any]);
    let ids: Vec<Option<i64>> = ids.map_or(vec![None], |i| i.into_iter().map(Some).collect());
    Some(
        chans
            .iter()
            .flat_map(|c| {
                ids.iter().map(move |i| Guard {
                    channel: c.clone(),
                    event_id: *i,
                })
            })
            .collect(),
    )
}

/// `not field exists`.
fn is_absent(e: &Expr, field: &str) -> bool {
    matches!(e, Expr::Not(inner) if matches!(&**inner, Expr::Pred(p) if p.field.as_deref() == Some(field) && p.test == Test::Exists))
}

/// The values of `field` an item requires: a test on it, or an OR of such tests.
fn values<T>(e: &Expr, field: &str, get: fn(&Test) -> Option<T>) -> Option<Vec<T>> {
    match e {
        Expr::Pred(p) if p.field.as_deref() == Some(field) => get(&p.test).map(|v| vec![v]),
        Expr::Or(alts) => alts
            .iter()
            .map(|a| values(a, field, get).and_then(|mut v| v.pop()))
            .collect(),
        _ => None,
    }
}

fn channel_of(t: &Test) -> Option<String> {
    match t {
        // Only case-insensitive equality: the routing key is the lowercase channel.
        Test::Str(m) if !m.cased => match m.shape() {
            Shape::Exact(s) => Some(lowercase(s)),
            _ => None,
        },
        _ => None,
    }
}

fn event_id_of(t: &Test) -> Option<i64> {
    match t {
        Test::Num(NumOp::Eq, n) => match n.value {
            NumValue::Int(i) => Some(i),
            NumValue::Float(_) => None,
        },
        _ => None,
    }
}
