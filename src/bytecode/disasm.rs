//! The readable listing of a program (`sigc debug bytecode`): fields, tests, then each rule's
//! code with absolute instruction numbers, as minijinja's instruction snapshots read.

use std::fmt::Write;

use super::{Instr, Program};
use crate::ir::display;
use crate::ir::pred::Pred;

pub fn listing(p: &Program) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "fields: {}", p.fields.len());
    for i in 0..p.fields.len() as u32 {
        let _ = writeln!(out, "  f{i:<4} {}", p.fields.name(i));
    }
    let _ = writeln!(out, "tests: {}", p.tests.len());
    for (i, t) in p.tests.iter().enumerate() {
        let pred = Pred {
            field: t.field.map(|f| p.fields.name(f).to_string()),
            test: t.test.clone(),
        };
        let _ = writeln!(out, "  t{i:<4} {}", display::pred(&pred));
    }
    for (r, rule) in p.rules.iter().enumerate() {
        let end = p
            .rules
            .get(r + 1)
            .map_or(p.code.len(), |n| n.entry as usize);
        let _ = writeln!(out, "rule {r} {} {}", rule.id, display::quote(&rule.title));
        let guards = match &rule.guards {
            None => "any".to_string(),
            Some(gs) => gs
                .iter()
                .map(|g| {
                    let ch = match &g.channel {
                        super::ChannelKey::Any => "*".to_string(),
                        super::ChannelKey::Is(c) => c.clone(),
                        super::ChannelKey::Absent => "(no channel)".to_string(),
                    };
                    match g.event_id {
                        Some(id) => format!("{ch}/{id}"),
                        None => ch,
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        let _ = writeln!(out, "  routes: {guards}");
        let anchors = match &rule.anchors {
            None => "none".to_string(),
            Some(a) => a
                .iter()
                .map(|t| format!("t{t}"))
                .collect::<Vec<_>>()
                .join(" "),
        };
        let _ = writeln!(out, "  anchors: {anchors}");
        for pc in rule.entry as usize..end {
            let text = match p.code[pc] {
                Instr::Test(t) => format!("Test t{t}"),
                Instr::Const(b) => format!("Const {b}"),
                Instr::Not => "Not".into(),
                Instr::JumpIfFalse(to) => format!("JumpIfFalse {to:05}"),
                Instr::JumpIfTrue(to) => format!("JumpIfTrue {to:05}"),
                Instr::Return => "Return".into(),
            };
            let _ = writeln!(out, "  {pc:05} | {text}");
        }
    }
    out
}
