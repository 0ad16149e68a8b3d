//! The working copy of a rule's conditions while a pipeline runs. pySigma's transformations and
//! conditions work on *detection items* (one field, its values, the items' applied marks); the
//! IR has none, so they are recovered here: consecutive predicates on one field in one AND/OR
//! group form one item. Lowering writes a multi-valued item (`Image|endswith: [a, b]`) exactly
//! so; it also merges separate single-valued items on the same field that end up next to each
//! other (`sel1: {A: x}` or `sel2: {A: y}`), which only matters to `cond: all` and to
//! one-to-many field mappings of AND groups. A tree built from an expression and turned back
//! unchanged gives the same expression.

use crate::diagnostic::Result;
use crate::ir::expr::Expr;
use crate::ir::pred::{Pred, Test};

#[derive(Debug, Clone)]
pub(crate) enum Tree {
    Item(Item),
    Not(Box<Tree>),
    And(Vec<Tree>),
    Or(Vec<Tree>),
    Const(bool),
    /// A dropped detection item: removed from whatever group holds it.
    Gone,
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub field: Option<String>,
    /// The values must all match (the item was found in an AND group).
    pub all: bool,
    /// Each value with the alternatives it stands for (ORed).
    pub values: Vec<Vec<Test>>,
    /// Ids of the processing items that changed this item.
    pub applied: Vec<String>,
}

impl Item {
    pub(crate) fn new(field: Option<String>, test: Test) -> Item {
        Item {
            field,
            all: false,
            values: vec![vec![test]],
            applied: Vec::new(),
        }
    }

    /// Every test of every value, flattened (pySigma's value list).
    pub(crate) fn tests(&self) -> impl Iterator<Item = &Test> {
        self.values.iter().flatten()
    }

    pub(crate) fn mark(&mut self, id: Option<&str>) {
        if let Some(id) = id
            && !self.applied.iter().any(|a| a == id)
        {
            self.applied.push(id.to_string());
        }
    }
}

impl Tree {
    pub(crate) fn build(e: &Expr) -> Tree {
        match e {
            Expr::True => Tree::Const(true),
            Expr::False => Tree::Const(false),
            Expr::Pred(p) => Tree::Item(Item::new(p.field.clone(), p.test.clone())),
            Expr::Not(x) => Tree::Not(Box::new(Tree::build(x))),
            Expr::And(children) => Tree::And(group(children, true)),
            Expr::Or(children) => Tree::Or(group(children, false)),
        }
    }

    /// Back to a normal expression; `None` when every item of it was dropped.
    pub(crate) fn to_expr(&self) -> Option<Expr> {
        match self {
            Tree::Const(b) => Some(if *b { Expr::True } else { Expr::False }),
            Tree::Gone => None,
            Tree::Item(it) => {
                if it.values.iter().all(Vec::is_empty) {
                    return None;
                }
                let values = it.values.iter().filter(|v| !v.is_empty()).map(|alts| {
                    Expr::or(alts.iter().map(|t| {
                        Expr::pred(Pred {
                            field: it.field.clone(),
                            test: t.clone(),
                        })
                    }))
                });
                Some(if it.all {
                    Expr::and(values)
                } else {
                    Expr::or(values)
                })
            }
            Tree::Not(x) => x.to_expr().map(Expr::not),
            Tree::And(children) | Tree::Or(children) => {
                let kept: Vec<Expr> = children.iter().filter_map(Tree::to_expr).collect();
                if kept.is_empty() {
                    None
                } else if matches!(self, Tree::And(_)) {
                    Some(Expr::and(kept))
                } else {
                    Some(Expr::or(kept))
                }
            }
        }
    }

    /// Visit every item, depth first.
    pub(crate) fn items(&self, f: &mut impl FnMut(&Item)) {
        match self {
            Tree::Item(it) => f(it),
            Tree::Not(x) => x.items(f),
            Tree::And(c) | Tree::Or(c) => c.iter().for_each(|t| t.items(f)),
            Tree::Const(_) | Tree::Gone => {}
        }
    }

    /// Rewrite every item in place; `f` may return a replacement subtree.
    pub(crate) fn rewrite(
        &mut self,
        f: &mut impl FnMut(&mut Item) -> Result<Option<Tree>>,
    ) -> Result<()> {
        match self {
            Tree::Item(it) => {
                if let Some(new) = f(it)? {
                    *self = new;
                }
            }
            Tree::Not(x) => x.rewrite(f)?,
            Tree::And(c) | Tree::Or(c) => {
                for t in c {
                    t.rewrite(f)?;
                }
            }
            Tree::Const(_) | Tree::Gone => {}
        }
        Ok(())
    }
}

/// The children of one AND/OR group, with runs of predicates on the same field gathered into one
/// item.
fn group(children: &[Expr], is_and: bool) -> Vec<Tree> {
    let mut out: Vec<Tree> = Vec::with_capacity(children.len());
    for c in children {
        let Expr::Pred(p) = c else {
            out.push(Tree::build(c));
            continue;
        };
        let same = match out.last_mut() {
            Some(Tree::Item(it)) if it.field == p.field => Some(it),
            _ => None,
        };
        match same {
            Some(it) => {
                it.all = is_and;
                it.values.push(vec![p.test.clone()]);
            }
            None => out.push(Tree::Item(Item::new(p.field.clone(), p.test.clone()))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::pred::StrMatch;

    fn p(field: &str, v: &str) -> Expr {
        Expr::pred(Pred {
            field: Some(field.into()),
            test: Test::Str(StrMatch::exact(v, false)),
        })
    }

    #[test]
    fn same_field_runs_form_one_item() {
        let e = Expr::and([
            Expr::or([p("A", "x"), p("A", "y"), p("B", "z"), p("A", "v")]),
            p("C", "w"),
        ]);
        let t = Tree::build(&e);
        let mut seen = Vec::new();
        t.items(&mut |it| seen.push((it.field.clone(), it.values.len(), it.all)));
        assert_eq!(
            seen,
            vec![
                (Some("A".into()), 2, false),
                (Some("B".into()), 1, false),
                (Some("A".into()), 1, false),
                (Some("C".into()), 1, false)
            ]
        );
        assert_eq!(t.to_expr(), Some(e));
    }

    #[test]
    fn dropped_items_leave_their_group() {
        let e = Expr::and([p("A", "x"), Expr::not(p("B", "y"))]);
        let mut t = Tree::build(&e);
        t.rewrite(&mut |it| Ok((it.field.as_deref() == Some("B")).then_some(Tree::Gone)))
            .unwrap();
        assert_eq!(t.to_expr(), Some(p("A", "x")));
        t.rewrite(&mut |_| Ok(Some(Tree::Gone))).unwrap();
        assert_eq!(t.to_expr(), None);
    }
}
