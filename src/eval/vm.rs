//! The VM: runs a rule's instructions over one event.

use super::event::Event;
use super::matcher::{Matcher, StrMatcher};
use crate::bytecode::{Instr, Program};
use crate::ir::Test;

/// A program with its tests compiled into matchers, ready to run.
pub struct Vm {
    pub program: Program,
    matchers: Vec<Matcher>,
}

impl Vm {
    /// Compile every test; fails on what the evaluator cannot run (unresolved placeholders,
    /// pipeline query expressions, a regex the engine rejects).
    pub fn new(program: Program) -> Result<Vm, String> {
        let mut matchers = Vec::with_capacity(program.tests.len());
        for t in &program.tests {
            matchers.push(compile_test(&program, &t.test)?);
        }
        Ok(Vm { program, matchers })
    }

    /// Run rule `r`'s code on `event`.
    pub fn matches(&self, r: usize, event: &Event) -> bool {
        let Some(rule) = self.program.rules.get(r) else {
            return false;
        };
        let code = &self.program.code;
        let mut pc = rule.entry as usize;
        let mut reg = false;
        while let Some(&instr) = code.get(pc) {
            pc += 1;
            match instr {
                Instr::Test(t) => {
                    let def = &self.program.tests[t as usize];
                    reg = self.matchers[t as usize].test(event, def.field);
                }
                Instr::Const(b) => reg = b,
                Instr::Not => reg = !reg,
                Instr::JumpIfFalse(to) if !reg => pc = to as usize,
                Instr::JumpIfTrue(to) if reg => pc = to as usize,
                Instr::JumpIfFalse(_) | Instr::JumpIfTrue(_) => {}
                Instr::Return => return reg,
            }
        }
        reg
    }
}

fn compile_test(program: &Program, test: &Test) -> Result<Matcher, String> {
    Ok(match test {
        Test::Str(m) => Matcher::Str(StrMatcher::new(m)?),
        Test::Regex(r) => {
            let re = regex::RegexBuilder::new(&r.pattern)
                .case_insensitive(r.ignore_case)
                .multi_line(r.multi_line)
                .dot_matches_new_line(r.dot_all)
                .size_limit(1 << 24)
                .build()
                .map_err(|e| format!("regular expression `{}`: {e}", r.pattern))?;
            Matcher::Regex(re)
        }
        Test::Num(op, n) => Matcher::Num(
            *op,
            match n.value {
                crate::ir::pred::NumValue::Int(i) => super::matcher::Num::Int(i),
                crate::ir::pred::NumValue::Float(f) => super::matcher::Num::Float(f),
            },
        ),
        Test::Bool(b) => Matcher::Bool(*b),
        Test::Null => Matcher::Null,
        Test::Exists => Matcher::Exists,
        Test::Cidr(net) => Matcher::Cidr(*net),
        Test::FieldRef(r) => Matcher::FieldRef {
            other: program.fields.get(&r.other).ok_or("field reference to an unknown field")?,
            shape: r.shape,
            cased: r.cased,
        },
        Test::TimePart(p, op, v) => Matcher::TimePart(*p, *op, *v),
        Test::Expression(e) => {
            return Err(format!(
                "a pipeline inserted the target-specific expression `{e}`, which the evaluator cannot run"
            ));
        }
    })
}
