//! IR → bytecode. Identical tests are stored once, so rules that share a predicate share its
//! work in the evaluator.

use std::collections::HashMap;

use super::{Instr, Program, RuleEntry, TestDef};
use crate::ir::Expr;
use crate::ir::rule::RuleIr;

#[derive(Default)]
pub struct Compiler {
    program: Program,
    test_ids: HashMap<TestDef, u32>,
}

impl Compiler {
    pub fn new() -> Compiler {
        Compiler::default()
    }

    /// Append a rule; `expr` is the rule's matcher after pipelines.
    pub fn add_rule(&mut self, rule: &RuleIr, expr: &Expr) {
        let entry = self.program.code.len() as u32;
        self.expr(expr);
        self.program.code.push(Instr::Return);
        let h = &rule.header;
        self.program.rules.push(RuleEntry {
            id: h.id.clone().unwrap_or_default(),
            title: h.title.clone(),
            level: h.level.clone().unwrap_or_default(),
            tags: h.tags.clone(),
            path: rule.origin.file.path.clone(),
            entry,
            guards: super::guard::guards(expr),
            anchors: super::anchor::anchors(expr).map(|preds| {
                let mut ids: Vec<u32> = preds.into_iter().filter_map(|p| self.test_id(p)).collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            }),
        });
    }

    /// The id of an already-compiled predicate.
    fn test_id(&self, p: &crate::ir::Pred) -> Option<u32> {
        let field = p.field.as_deref().and_then(|f| self.program.fields.get(f));
        self.test_ids
            .get(&TestDef {
                field,
                test: p.test.clone(),
            })
            .copied()
    }

    /// Make sure a field has an id even if no rule tests it (timestamps for output).
    pub fn intern_field(&mut self, name: &str) -> u32 {
        self.program.fields.intern(name)
    }

    pub fn finish(self) -> Program {
        self.program
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::True => self.program.code.push(Instr::Const(true)),
            Expr::False => self.program.code.push(Instr::Const(false)),
            Expr::Pred(p) => {
                let field = p.field.as_deref().map(|f| self.program.fields.intern(f));
                if field.is_none() {
                    self.program.fields.all_values = true;
                }
                if let crate::ir::Test::FieldRef(r) = &p.test {
                    self.program.fields.intern(&r.other);
                }
                let def = TestDef {
                    field,
                    test: p.test.clone(),
                };
                let next = self.program.tests.len() as u32;
                let id = *self.test_ids.entry(def.clone()).or_insert_with(|| {
                    self.program.tests.push(def);
                    next
                });
                self.program.code.push(Instr::Test(id));
            }
            Expr::Not(x) => {
                self.expr(x);
                self.program.code.push(Instr::Not);
            }
            Expr::And(items) | Expr::Or(items) => {
                let is_and = matches!(e, Expr::And(_));
                let mut pending = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    self.expr(item);
                    if i + 1 < items.len() {
                        pending.push(self.program.code.len());
                        self.program.code.push(if is_and {
                            Instr::JumpIfFalse(0)
                        } else {
                            Instr::JumpIfTrue(0)
                        });
                    }
                }
                let end = self.program.code.len() as u32;
                for at in pending {
                    self.program.code[at] = if is_and {
                        Instr::JumpIfFalse(end)
                    } else {
                        Instr::JumpIfTrue(end)
                    };
                }
            }
        }
    }
}
