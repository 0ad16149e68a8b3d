//! Reasoning about IR predicates shared by the lints: when two tests on one field cannot both
//! hold, when one value makes another redundant, and whether a boolean expression is
//! unsatisfiable or a tautology. Every answer is conservative: "contradictory" is said only
//! when no string, number or absent field satisfies both, so an error never fires on a rule
//! that can match. Case-insensitive text is compared lowercased, and only when it is ASCII
//! (Unicode case folding changes lengths, which would make the suffix reasoning unsound).

use indexmap::IndexMap;

use crate::ir::pred::{NumOp, Shape, StrMatch};
use crate::ir::{Expr, Pred, Test};
use crate::source::Spanned;
use crate::syntax::ast::{Condition, Quantifier};

/// A literal string match reduced to its shape, with its text folded for comparison.
pub(crate) struct Lit {
    pub kind: ShapeKind,
    pub text: String,
    /// The text as written, for messages.
    pub shown: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShapeKind {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

pub(crate) fn lit(m: &StrMatch, fold: bool) -> Option<Lit> {
    let (kind, text) = match m.shape() {
        Shape::Exact(s) => (ShapeKind::Exact, s),
        Shape::Prefix(s) => (ShapeKind::Prefix, s),
        Shape::Suffix(s) => (ShapeKind::Suffix, s),
        Shape::Contains(s) => (ShapeKind::Contains, s),
        Shape::Glob => return None,
    };
    if fold && !text.is_ascii() {
        return None;
    }
    Some(Lit {
        kind,
        shown: text.to_string(),
        text: if fold {
            text.to_ascii_lowercase()
        } else {
            text.to_string()
        },
    })
}

/// Compare two string matches in one case domain: folded unless both are `cased`.
fn lits(a: &StrMatch, b: &StrMatch) -> Option<(Lit, Lit)> {
    let fold = !(a.cased && b.cased);
    Some((lit(a, fold)?, lit(b, fold)?))
}

/// Why `a` and `b` (tests on the same field) cannot hold together, if they cannot.
pub(crate) fn contradiction(a: &Test, b: &Test) -> Option<String> {
    use ShapeKind::*;
    match (a, b) {
        (Test::Str(x), Test::Str(y)) => {
            // `contains` only clashes with an exact value; prefix and suffix never clash.
            let open = |m: &StrMatch| !m.anchor_start && !m.anchor_end;
            let exact = |m: &StrMatch| m.anchor_start && m.anchor_end;
            if (open(x) && !exact(y))
                || (open(y) && !exact(x))
                || (!exact(x) && !exact(y) && x.anchor_start != y.anchor_start)
            {
                return None;
            }
            let (x, y) = lits(x, y)?;
            let (p, q) = (&x.text, &y.text);
            let (sp, sq) = (&x.shown, &y.shown);
            let clash = match (x.kind, y.kind) {
                (Exact, Exact) => p != q,
                (Exact, Prefix) => !p.starts_with(q.as_str()),
                (Prefix, Exact) => !q.starts_with(p.as_str()),
                (Exact, Suffix) => !p.ends_with(q.as_str()),
                (Suffix, Exact) => !q.ends_with(p.as_str()),
                (Exact, Contains) => !p.contains(q.as_str()),
                (Contains, Exact) => !q.contains(p.as_str()),
                (Prefix, Prefix) => !p.starts_with(q.as_str()) && !q.starts_with(p.as_str()),
                (Suffix, Suffix) => !p.ends_with(q.as_str()) && !q.ends_with(p.as_str()),
                _ => false,
            };
            clash.then(|| {
                let verb = |k| match k {
                    Exact => "equal",
                    Prefix => "start with",
                    Suffix => "end with",
                    Contains => "contain",
                };
                if x.kind == y.kind {
                    format!("no value can {} both `{sp}` and `{sq}`", verb(x.kind))
                } else {
                    format!(
                        "no value can {} `{sp}` and {} `{sq}`",
                        verb(x.kind),
                        verb(y.kind)
                    )
                }
            })
        }
        (Test::Bool(x), Test::Bool(y)) if x != y => {
            Some(format!("the field cannot be both `{x}` and `{y}`"))
        }
        (Test::Num(..), Test::Num(..)) => {
            let (lo, hi) = range(&[a, b])?;
            empty(lo, hi).then(|| {
                format!(
                    "no number is {} and {}",
                    num_text(a).unwrap_or_default(),
                    num_text(b).unwrap_or_default()
                )
            })
        }
        _ => None,
    }
}

fn num_text(t: &Test) -> Option<String> {
    match t {
        Test::Num(op, n) => Some(format!("{} {}", op.symbol(), n.text)),
        _ => None,
    }
}

type Bound = Option<(f64, bool)>;

/// The interval the numeric tests allow: (lower, upper), each `(value, inclusive)`.
fn range(tests: &[&Test]) -> Option<(Bound, Bound)> {
    let (mut lo, mut hi): (Bound, Bound) = (None, None);
    for t in tests {
        let Test::Num(op, n) = t else { return None };
        let v = n.value.as_f64();
        let tighter_lo = |cur: Bound, new: (f64, bool)| match cur {
            Some((c, inc)) if c > new.0 || (c == new.0 && !inc) => Some((c, inc)),
            _ => Some(new),
        };
        let tighter_hi = |cur: Bound, new: (f64, bool)| match cur {
            Some((c, inc)) if c < new.0 || (c == new.0 && !inc) => Some((c, inc)),
            _ => Some(new),
        };
        match op {
            NumOp::Eq => {
                lo = tighter_lo(lo, (v, true));
                hi = tighter_hi(hi, (v, true));
            }
            NumOp::Gt => lo = tighter_lo(lo, (v, false)),
            NumOp::Gte => lo = tighter_lo(lo, (v, true)),
            NumOp::Lt => hi = tighter_hi(hi, (v, false)),
            NumOp::Lte => hi = tighter_hi(hi, (v, true)),
        }
    }
    Some((lo, hi))
}

fn empty(lo: Bound, hi: Bound) -> bool {
    match (lo, hi) {
        (Some((l, li)), Some((h, hi))) => l > h || (l == h && !(li && hi)),
        _ => false,
    }
}

/// A leaf of an AND group: a predicate, possibly negated.
pub(crate) fn atom(e: &Expr) -> Option<(&Pred, bool)> {
    match e {
        Expr::Pred(p) => Some((p, true)),
        Expr::Not(x) => match &**x {
            Expr::Pred(p) => Some((p, false)),
            _ => None,
        },
        _ => None,
    }
}

/// Why two conjuncts cannot both hold, if they cannot.
pub(crate) fn conjuncts_clash(a: &Expr, b: &Expr) -> Option<String> {
    if let Expr::Not(x) = b
        && **x == *a
    {
        return Some("a test and its negation are both required".into());
    }
    if let Expr::Not(x) = a
        && **x == *b
    {
        return Some("a test and its negation are both required".into());
    }
    let ((pa, pos_a), (pb, pos_b)) = (atom(a)?, atom(b)?);
    let field = pa.field.as_deref()?;
    if pb.field.as_deref() != Some(field) {
        return None;
    }
    match (pos_a, pos_b) {
        (true, true) => contradiction(&pa.test, &pb.test).map(|r| format!("`{field}`: {r}")),
        // `exists: false` next to a value test on the same field.
        (false, true) if pa.test == Test::Exists && holds_a_value(&pb.test) => Some(format!(
            "`{field}` must be absent (`exists: false`) and hold a value"
        )),
        (true, false) if pb.test == Test::Exists && holds_a_value(&pa.test) => Some(format!(
            "`{field}` must be absent (`exists: false`) and hold a value"
        )),
        _ => None,
    }
}

/// Tests that only a present field can pass.
fn holds_a_value(t: &Test) -> bool {
    !matches!(t, Test::Null | Test::Expression(_))
}

/// Most conjuncts of one AND compared pairwise: a hostile `|all` list of many thousand values
/// would otherwise take quadratic time. Comparing a prefix is sound (a clash found is real).
const MAX_CONJUNCTS: usize = 512;

/// The first clashing pair among the conjuncts of an AND, with the reason.
pub(crate) fn and_clash(items: &[Expr]) -> Option<(usize, usize, String)> {
    let items = &items[..items.len().min(MAX_CONJUNCTS)];
    for i in 0..items.len() {
        for j in i + 1..items.len() {
            if let Some(r) = conjuncts_clash(&items[i], &items[j]) {
                return Some((i, j, r));
            }
        }
    }
    None
}

/// Why no event can satisfy `e`, when that is so.
pub(crate) fn unsatisfiable_because(e: &Expr) -> Option<String> {
    if !unsatisfiable(e) {
        return None;
    }
    let reason = match e {
        Expr::And(items) => and_clash(items).map(|(_, _, r)| r),
        _ => None,
    };
    Some(reason.unwrap_or_else(|| "every alternative requires something impossible".into()))
}

/// No event can satisfy `e`.
pub(crate) fn unsatisfiable(e: &Expr) -> bool {
    match e {
        Expr::False => true,
        Expr::True | Expr::Pred(_) => false,
        Expr::Not(x) => tautology(x),
        Expr::Or(items) => items.iter().all(unsatisfiable),
        Expr::And(items) => items.iter().any(unsatisfiable) || and_clash(items).is_some(),
    }
}

/// Every event satisfies `e`.
pub(crate) fn tautology(e: &Expr) -> bool {
    match e {
        Expr::True => true,
        Expr::False | Expr::Pred(_) => false,
        Expr::Not(x) => unsatisfiable(x),
        Expr::And(items) => items.iter().all(tautology),
        Expr::Or(items) => {
            // Negated children are few; compare only those with the rest.
            let negated: Vec<&Expr> = items
                .iter()
                .filter_map(|b| match b {
                    Expr::Not(x) => Some(&**x),
                    _ => None,
                })
                .collect();
            items.iter().any(tautology) || negated.iter().any(|x| items.contains(x))
        }
    }
}

/// Build a condition's expression from the searches' expressions (`None` when a search it
/// names is missing, e.g. failed to lower).
pub(crate) fn condition_expr(
    c: &Spanned<Condition>,
    searches: &IndexMap<&str, Expr>,
) -> Option<Expr> {
    Some(match &c.node {
        Condition::Ident(id) => searches.get(id.node.as_str())?.clone(),
        Condition::Of {
            quantifier,
            pattern,
        } => {
            let matched: Vec<Expr> = searches
                .iter()
                .filter(|(n, _)| crate::ir::lower::of_matches(&pattern.node, n))
                .map(|(_, e)| e.clone())
                .collect();
            if matched.is_empty() {
                return None;
            }
            match quantifier {
                Quantifier::All => Expr::and(matched),
                Quantifier::One | Quantifier::Any => Expr::or(matched),
            }
        }
        Condition::Not(x) => Expr::not(condition_expr(x, searches)?),
        Condition::And(items) | Condition::Or(items) => {
            // `sel and sel and ...` names one search many times: build each name once (as
            // lowering does) rather than cloning the search per reference.
            let mut seen: Vec<&str> = Vec::new();
            let mut parts = Vec::with_capacity(items.len());
            for i in items {
                if let Condition::Ident(id) = &i.node {
                    if seen.contains(&id.node.as_str()) {
                        continue;
                    }
                    seen.push(&id.node);
                }
                parts.push(condition_expr(i, searches)?);
            }
            if matches!(c.node, Condition::And(_)) {
                Expr::and(parts)
            } else {
                Expr::or(parts)
            }
        }
    })
}

/// Every string that `narrow` matches is also matched by `broad` (both literal shapes).
pub(crate) fn subsumes(broad: &StrMatch, narrow: &StrMatch) -> bool {
    use ShapeKind::*;
    // A case-sensitive test does not cover an insensitive one.
    if broad.cased && !narrow.cased {
        return false;
    }
    let Some((b, n)) = lits(broad, narrow) else {
        return false;
    };
    let (bt, nt) = (&b.text, &n.text);
    match (b.kind, n.kind) {
        (Contains, _) => nt.contains(bt.as_str()),
        (Prefix, Prefix | Exact) => nt.starts_with(bt.as_str()),
        (Suffix, Suffix | Exact) => nt.ends_with(bt.as_str()),
        (Exact, Exact) => bt == nt,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::pred::Piece;

    fn s(kind: (bool, bool), text: &str) -> Test {
        Test::Str(StrMatch::new(
            vec![Piece::Lit(text.into())],
            kind.0,
            kind.1,
            false,
        ))
    }
    const SUFFIX: (bool, bool) = (false, true);
    const PREFIX: (bool, bool) = (true, false);
    const EXACT: (bool, bool) = (true, true);

    #[test]
    fn suffixes_clash_only_when_neither_ends_the_other() {
        assert!(contradiction(&s(SUFFIX, r"\a.exe"), &s(SUFFIX, r"\b.exe")).is_some());
        assert!(contradiction(&s(SUFFIX, r"\a.exe"), &s(SUFFIX, r"A.EXE")).is_none());
        assert!(contradiction(&s(PREFIX, "ab"), &s(SUFFIX, "cd")).is_none());
        assert!(contradiction(&s(EXACT, "x"), &s(EXACT, "X")).is_none());
        assert!(contradiction(&s(EXACT, "x"), &s(EXACT, "y")).is_some());
        // An exact value clashes with a `contains` it does not contain, in either order.
        assert!(contradiction(&s(EXACT, "abc"), &s((false, false), "z")).is_some());
        assert!(contradiction(&s((false, false), "z"), &s(EXACT, "abc")).is_some());
        assert!(contradiction(&s(EXACT, "abc"), &s((false, false), "B")).is_none());
    }

    #[test]
    fn subsumption_follows_the_shapes() {
        let (Test::Str(foo), Test::Str(foobar)) =
            (s((false, false), "foo"), s((false, false), "xfoobar"))
        else {
            unreachable!()
        };
        assert!(subsumes(&foo, &foobar));
        assert!(!subsumes(&foobar, &foo));
    }
}
