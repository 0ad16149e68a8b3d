//! Boolean structure of the IR. Every [`Expr`] is built through the normalising constructors
//! ([`Expr::and`], [`Expr::or`], [`Expr::not`]), so a value of this type is always normal:
//! no nested same-kind groups, no `True`/`False` inside a group, no duplicate children, no
//! one-child groups, no double negation. [`Expr::normalize`] re-applies the constructors; on a
//! normal expression it changes nothing (a property test checks it).

use std::collections::HashMap;
use std::hash::BuildHasher;

use super::pred::Pred;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    True,
    False,
    Pred(Pred),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    pub fn and(items: impl IntoIterator<Item = Expr>) -> Expr {
        group(items, true)
    }

    pub fn or(items: impl IntoIterator<Item = Expr>) -> Expr {
        group(items, false)
    }

    #[allow(clippy::should_implement_trait)]
    pub fn not(inner: Expr) -> Expr {
        match inner {
            Expr::True => Expr::False,
            Expr::False => Expr::True,
            Expr::Not(x) => *x,
            other => Expr::Not(Box::new(other)),
        }
    }

    pub fn pred(p: Pred) -> Expr {
        Expr::Pred(p)
    }

    /// Rebuild bottom-up through the constructors.
    pub fn normalize(&self) -> Expr {
        match self {
            Expr::And(items) => Expr::and(items.iter().map(Expr::normalize)),
            Expr::Or(items) => Expr::or(items.iter().map(Expr::normalize)),
            Expr::Not(x) => Expr::not(x.normalize()),
            other => other.clone(),
        }
    }

    /// Visit every predicate, depth first, left to right.
    pub fn for_each_pred<'a>(&'a self, f: &mut impl FnMut(&'a Pred)) {
        match self {
            Expr::Pred(p) => f(p),
            Expr::Not(x) => x.for_each_pred(f),
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| i.for_each_pred(f)),
            Expr::True | Expr::False => {}
        }
    }

    /// Rebuild the expression with every predicate replaced by what `f` returns.
    pub fn map_preds<E>(&self, f: &mut impl FnMut(&Pred) -> Result<Expr, E>) -> Result<Expr, E> {
        Ok(match self {
            Expr::Pred(p) => f(p)?,
            Expr::Not(x) => Expr::not(x.map_preds(f)?),
            Expr::And(items) => Expr::and(
                items
                    .iter()
                    .map(|i| i.map_preds(f))
                    .collect::<Result<Vec<_>, E>>()?,
            ),
            Expr::Or(items) => Expr::or(
                items
                    .iter()
                    .map(|i| i.map_preds(f))
                    .collect::<Result<Vec<_>, E>>()?,
            ),
            Expr::True => Expr::True,
            Expr::False => Expr::False,
        })
    }
}

/// Build an AND (`is_and`) or OR group in normal form.
fn group(items: impl IntoIterator<Item = Expr>, is_and: bool) -> Expr {
    // The absorbing element (False for AND, True for OR) decides the whole group.
    let (identity, absorbing) = if is_and {
        (Expr::True, Expr::False)
    } else {
        (Expr::False, Expr::True)
    };
    let mut out: Vec<Expr> = Vec::new();
    let push = |e: Expr, out: &mut Vec<Expr>| -> bool {
        if e == absorbing {
            return false;
        }
        if e != identity {
            out.push(e);
        }
        true
    };
    for item in items {
        let flattened = match item {
            Expr::And(children) if is_and => children,
            Expr::Or(children) if !is_and => children,
            other => vec![other],
        };
        for child in flattened {
            if !push(child, &mut out) {
                return absorbing;
            }
        }
    }
    dedup(&mut out);
    match out.len() {
        0 => identity,
        1 => out.pop().unwrap_or(identity),
        _ if is_and => Expr::And(out),
        _ => Expr::Or(out),
    }
}

/// Drop repeated children, keeping the first occurrence (source order stays readable).
fn dedup(items: &mut Vec<Expr>) {
    if items.len() < 16 {
        let mut i = 0;
        while i < items.len() {
            if items[..i].contains(&items[i]) {
                items.remove(i);
            } else {
                i += 1;
            }
        }
    } else {
        // Hash each child once and compare only on equal hashes: no clones of large groups.
        let hasher = std::collections::hash_map::RandomState::new();
        let mut seen: HashMap<u64, Vec<usize>> = HashMap::with_capacity(items.len());
        let mut keep = vec![true; items.len()];
        for i in 0..items.len() {
            let h = hasher.hash_one(&items[i]);
            let same = seen.entry(h).or_default();
            if same.iter().any(|&j| items[j] == items[i]) {
                keep[i] = false;
            } else {
                same.push(i);
            }
        }
        let mut k = keep.into_iter();
        items.retain(|_| k.next().unwrap_or(true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::pred::{Pred, Test};
    use proptest::prelude::*;

    fn var(n: u8) -> Expr {
        Expr::Pred(Pred {
            field: Some(format!("f{n}")),
            test: Test::Bool(true),
        })
    }

    /// Arbitrary expressions built *without* the constructors, so they start un-normalised.
    fn raw_expr() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![Just(Expr::True), Just(Expr::False), (0u8..4).prop_map(var),];
        leaf.prop_recursive(5, 48, 5, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
                prop::collection::vec(inner.clone(), 0..5).prop_map(Expr::And),
                prop::collection::vec(inner, 0..5).prop_map(Expr::Or),
            ]
        })
    }

    fn eval(e: &Expr, env: u8) -> bool {
        match e {
            Expr::True => true,
            Expr::False => false,
            Expr::Pred(p) => {
                let n: u8 = p
                    .field
                    .as_deref()
                    .and_then(|f| f[1..].parse().ok())
                    .unwrap_or(0);
                env & (1 << n) != 0
            }
            Expr::Not(x) => !eval(x, env),
            Expr::And(items) => items.iter().all(|i| eval(i, env)),
            Expr::Or(items) => items.iter().any(|i| eval(i, env)),
        }
    }

    fn is_normal(e: &Expr) -> bool {
        match e {
            Expr::Not(x) => !matches!(**x, Expr::Not(_) | Expr::True | Expr::False) && is_normal(x),
            Expr::And(items) | Expr::Or(items) => {
                items.len() >= 2
                    && items.iter().all(|i| {
                        !matches!(i, Expr::True | Expr::False)
                            && std::mem::discriminant(i) != std::mem::discriminant(e)
                            && is_normal(i)
                    })
                    && items
                        .iter()
                        .enumerate()
                        .all(|(i, x)| !items[..i].contains(x))
            }
            _ => true,
        }
    }

    proptest! {
        #[test]
        fn normalising_twice_changes_nothing(e in raw_expr()) {
            let once = e.normalize();
            prop_assert_eq!(once.normalize(), once.clone());
            prop_assert!(is_normal(&once), "not normal: {:?}", once);
        }

        #[test]
        fn normalising_keeps_the_meaning(e in raw_expr(), env in 0u8..16) {
            prop_assert_eq!(eval(&e, env), eval(&e.normalize(), env));
        }
    }

    #[test]
    fn constructors_fold_and_flatten() {
        assert_eq!(Expr::and([var(0), Expr::True]), var(0));
        assert_eq!(Expr::and([var(0), Expr::False]), Expr::False);
        assert_eq!(Expr::or([]), Expr::False);
        assert_eq!(
            Expr::or([var(0), Expr::or([var(1), var(0)])]),
            Expr::Or(vec![var(0), var(1)])
        );
        assert_eq!(Expr::not(Expr::not(var(2))), var(2));
    }
}
