//! Native matcher bytecode: the IR of a rule set compiled for sigc's evaluator.
//!
//! A [`Program`] holds a field table (names → ids), a table of tests (one predicate each, shared
//! across rules), the instruction stream, and one entry per rule. Every rule's code leaves its
//! verdict in the VM's single boolean register, with `and`/`or` short-circuiting by jumps
//! (minijinja's `JumpIfFalseOrPop` shape, without a stack: a Sigma condition only ever needs the
//! value of the last sub-expression).
//!
//! - [`compile`]: IR → program.
//! - [`codec`]: the versioned, checksummed binary file format.
//! - [`disasm`]: the readable listing printed by `sigc debug bytecode`.

pub mod anchor;
pub mod codec;
pub mod compile;
pub mod disasm;
pub mod guard;

use crate::eval::event::FieldTable;
use crate::ir::pred::Test;

/// One VM instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instr {
    /// Set the register to the result of test `n` on the current event.
    Test(u32),
    /// Set the register to a constant.
    Const(bool),
    /// Invert the register.
    Not,
    /// Jump to the target if the register is false (short-circuits `and`).
    JumpIfFalse(u32),
    /// Jump to the target if the register is true (short-circuits `or`).
    JumpIfTrue(u32),
    /// End of a rule's code: the register is its verdict.
    Return,
}

/// A test: a predicate on one field (`None`: keyword) as the IR states it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TestDef {
    pub field: Option<u32>,
    pub test: Test,
}

/// What the evaluator reports about a rule, and where its code starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEntry {
    pub id: String,
    pub title: String,
    pub level: String,
    pub tags: Vec<String>,
    /// Source of the rule (file path), for messages.
    pub path: String,
    pub entry: u32,
    /// The (channel, event id) pairs an event must have for the rule to possibly match;
    /// `None` when the rule's condition gives no such bound (it runs on every event).
    pub guards: Option<Vec<Guard>>,
    /// Tests one of which must hold for the rule to match (see [`anchor`]); `None`: no such set.
    pub anchors: Option<Vec<u32>>,
}

/// One routing key: a `Channel` requirement and/or an `EventID` (`None`: any).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guard {
    pub channel: ChannelKey,
    pub event_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelKey {
    Any,
    /// The event's `Channel`, lowercase.
    Is(String),
    /// The event has no `Channel` (it is not a Windows event log record).
    Absent,
}

/// A compiled rule set.
#[derive(Debug, Clone, Default)]
pub struct Program {
    pub fields: FieldTable,
    pub tests: Vec<TestDef>,
    pub code: Vec<Instr>,
    pub rules: Vec<RuleEntry>,
}
