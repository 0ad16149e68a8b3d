//! The VM: runs a rule's instructions over one event.

use std::collections::HashMap;

use super::anchor::AnchorIndex;
use super::engine::WINDOWS_MARK;
use super::event::Event;
use super::matcher::{Matcher, Num, StrMatcher, parse_num_text};
use super::prefilter::{Cache, Prefilter};
use crate::bytecode::ChannelKey;
use crate::bytecode::guard::EVENT_ID;
use crate::bytecode::{Instr, Program};
use crate::ir::Test;

/// A program with its tests compiled into matchers, ready to run.
pub struct Vm {
    pub program: Program,
    matchers: Vec<Matcher>,
    router: Router,
    prefilter: Prefilter,
    anchors: AnchorIndex,
}

/// Rules indexed by their routing guards (see `bytecode::guard`).
#[derive(Default)]
struct Router {
    channels: HashMap<Box<str>, ChannelRoutes>,
    /// Rules guarded by an event id alone.
    by_id: HashMap<i64, Bucket>,
    /// Rules with no guard: they run on every event.
    always: Bucket,
    /// Rules for events without a `Channel`.
    no_channel: Bucket,
    channel_field: Option<u32>,
    id_field: Option<u32>,
}

#[derive(Default)]
struct ChannelRoutes {
    any_id: Bucket,
    by_id: HashMap<i64, Bucket>,
}

/// The rules of one routing key, the fields their anchors are looked up in, and the fields
/// their case-insensitive tests read.
#[derive(Default)]
struct Bucket {
    rules: Vec<u32>,
    fields: Vec<u32>,
    reads: Reads,
}

/// The fields whose values some rules read lowercased.
#[derive(Default, Clone)]
pub(crate) struct Reads {
    fields: Vec<u32>,
    /// A keyword test reads every value.
    all: bool,
}

impl Reads {
    fn add(&mut self, other: &Reads) {
        for &f in &other.fields {
            if !self.fields.contains(&f) {
                self.fields.push(f);
            }
        }
        self.all |= other.all;
    }
}

impl Bucket {
    fn push(&mut self, rule: u32, anchor_fields: &[u32], reads: &Reads) {
        self.rules.push(rule);
        for &f in anchor_fields {
            if !self.fields.contains(&f) {
                self.fields.push(f);
            }
        }
        self.reads.add(reads);
    }

    fn add_to(&self, rules: &mut Vec<u32>, fields: &mut Vec<u32>, reads: &mut Reads) {
        rules.extend_from_slice(&self.rules);
        fields.extend_from_slice(&self.fields);
        reads.fields.extend_from_slice(&self.reads.fields);
        reads.all |= self.reads.all;
    }
}

/// What rule `r`'s code reads lowercased: the fields of its case-insensitive string tests and
/// field references (both sides); a keyword test reads every value.
fn reads_of(program: &Program, r: usize) -> Reads {
    let mut reads = Reads::default();
    let Some(rule) = program.rules.get(r) else {
        return reads;
    };
    let mut add = |f: u32| {
        if !reads.fields.contains(&f) {
            reads.fields.push(f);
        }
    };
    for instr in program.code.iter().skip(rule.entry as usize) {
        let t = match *instr {
            Instr::Return => break,
            Instr::Test(t) => t,
            _ => continue,
        };
        let Some(def) = program.tests.get(t as usize) else {
            continue;
        };
        match (&def.test, def.field) {
            (Test::Str(_), None) => reads.all = true,
            (Test::Str(_), Some(f)) => add(f),
            (Test::FieldRef(fr), f) => {
                f.into_iter().for_each(&mut add);
                program.fields.get(&fr.other).into_iter().for_each(&mut add);
            }
            _ => {}
        }
    }
    reads
}

impl Router {
    fn new(program: &Program, anchors: &AnchorIndex) -> Router {
        let mut r = Router {
            channel_field: program.fields.get(WINDOWS_MARK),
            id_field: program.fields.get(EVENT_ID),
            ..Router::default()
        };
        for (i, rule) in program.rules.iter().enumerate() {
            let fields = anchors.fields_of(i);
            let reads = &reads_of(program, i);
            let i = i as u32;
            let Some(guards) = &rule.guards else {
                r.always.push(i, fields, reads);
                continue;
            };
            for g in guards {
                let bucket = match (&g.channel, g.event_id) {
                    (ChannelKey::Absent, _) => &mut r.no_channel,
                    (ChannelKey::Is(c), id) => {
                        let routes = r.channels.entry(c.as_str().into()).or_default();
                        match id {
                            Some(id) => routes.by_id.entry(id).or_default(),
                            None => &mut routes.any_id,
                        }
                    }
                    (ChannelKey::Any, Some(id)) => r.by_id.entry(id).or_default(),
                    (ChannelKey::Any, None) => &mut r.always,
                };
                bucket.push(i, fields, reads);
            }
        }
        r
    }

    /// The rules that may match `event`, in rule order, each once; the fields their anchors
    /// are looked up in; and the fields they read lowercased.
    fn candidates(
        &self,
        event: &Event,
        out: &mut Vec<u32>,
        fields: &mut Vec<u32>,
        reads: &mut Reads,
    ) {
        out.clear();
        fields.clear();
        reads.fields.clear();
        reads.all = false;
        self.always.add_to(out, fields, reads);
        let id = self
            .id_field
            .and_then(|f| event.field(f).find(|v| v.is_scalar()))
            .and_then(|v| match parse_num_text(event.text(v)) {
                Some(Num::Int(i)) => Some(i),
                // As the matcher reads it: `4624.0` is the number 4624.
                Some(Num::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
                _ => None,
            });
        if let Some(id) = id
            && let Some(b) = self.by_id.get(&id)
        {
            b.add_to(out, fields, reads);
        }
        match self
            .channel_field
            .and_then(|f| event.field(f).find(|v| v.is_scalar()))
        {
            Some(v) => {
                if let Some(routes) = self.channels.get(event.lower(v)) {
                    routes.any_id.add_to(out, fields, reads);
                    if let Some(b) = id.and_then(|id| routes.by_id.get(&id)) {
                        b.add_to(out, fields, reads);
                    }
                }
            }
            None => self.no_channel.add_to(out, fields, reads),
        }
        out.sort_unstable();
        out.dedup();
        fields.sort_unstable();
        fields.dedup();
    }
}

impl Vm {
    /// Compile every test; fails on what the evaluator cannot run (unresolved placeholders,
    /// pipeline query expressions, a regex the engine rejects).
    pub fn new(program: Program) -> Result<Vm, String> {
        let mut matchers = Vec::with_capacity(program.tests.len());
        for t in &program.tests {
            matchers.push(compile_test(&program, &t.test)?);
        }
        let prefilter = Prefilter::new(&program);
        let anchors = AnchorIndex::new(&program, &prefilter);
        let router = Router::new(&program, &anchors);
        Ok(Vm {
            program,
            matchers,
            router,
            prefilter,
            anchors,
        })
    }

    /// The indices of the rules that may match `event` (all others cannot), in rule order:
    /// those routed to it that are not anchored or have a true anchor. Lowercases the values
    /// they read. Starts a new event in `cache`: call it before
    /// [`Vm::matches_with`] for each event.
    pub fn candidates(&self, event: &mut Event, out: &mut Vec<u32>, cache: &mut Cache) {
        cache.reset();
        if let Some(f) = self.router.channel_field {
            event.lower_fields(&[f]);
        }
        let mut fields = std::mem::take(&mut cache.anchor_fields);
        let mut reads = std::mem::take(&mut cache.reads);
        self.router.candidates(event, out, &mut fields, &mut reads);
        if reads.all {
            event.lower_all();
        } else {
            event.lower_fields(&reads.fields);
        }
        cache.anchor_fields = fields;
        cache.reads = reads;
        // Most candidates are anchored and have no true anchor: drop them here, in one tight
        // loop, rather than one call each.
        self.anchors.scan_candidates(event, cache, &self.prefilter);
        out.retain(|&r| !self.anchors.anchored(r as usize) || cache.is_live(r));
    }

    /// Run rule `r`'s code on `event` (every value lowercased first).
    pub fn matches(&self, r: usize, event: &mut Event) -> bool {
        event.lower_all();
        let mut cache = Cache::default();
        cache.reset();
        self.matches_with(r, event, &mut cache)
    }

    /// Run rule `r`'s code on `event`, whose values it reads must have been lowercased
    /// ([`Vm::candidates`] does that); call [`Vm::candidates`] or `cache.reset()` before each
    /// new event.
    pub fn matches_with(&self, r: usize, event: &Event, cache: &mut Cache) -> bool {
        let Some(rule) = self.program.rules.get(r) else {
            return false;
        };
        if !self.anchors.live(r, event, cache, &self.prefilter) {
            return false;
        }
        let code = &self.program.code;
        let mut pc = rule.entry as usize;
        let mut reg = false;
        while let Some(&instr) = code.get(pc) {
            pc += 1;
            match instr {
                Instr::Test(t) => {
                    reg = match cache.recall(t) {
                        Some(b) => b,
                        None => {
                            let b = match self.prefilter.answer(t, event, cache) {
                                Some(b) => b,
                                None => {
                                    let def = &self.program.tests[t as usize];
                                    self.matchers[t as usize].test(event, def.field)
                                }
                            };
                            cache.remember(t, b, self.matchers.len());
                            b
                        }
                    };
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
        Test::Regex(r) => Matcher::Regex(super::matcher::regex(r)?),
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
            other: program
                .fields
                .get(&r.other)
                .ok_or("field reference to an unknown field")?,
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
