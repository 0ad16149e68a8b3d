//! From a loaded rule set to something that runs: pipelines for log-source routing, compiled
//! bytecode, and the VM; then the driver that streams records through it in parallel, keeping
//! output in input order.

use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;

use super::event::Event;
use super::input::{self, Item, ReadError, Record};
use super::json;
use super::vm::Vm;
use crate::bytecode::Program;
use crate::bytecode::compile::Compiler;
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::Expr;
use crate::ir::rule::RuleIr;
use crate::pipeline::Pipelines;

/// Fields read for a match's timestamp, in order of preference.
pub const TIME_FIELDS: &[&str] = &["@timestamp", "TimeCreated_SystemTime", "UtcTime", "EventTime", "timestamp", "Timestamp"];

/// Compile rules for the evaluator. Each rule is run through every routing variant (a list of
/// pipelines); the variants that claim the rule (apply some item) are ORed. A rule that no
/// variant claims runs on its detection alone, on every event.
pub fn compile(rules: &[Arc<RuleIr>], variants: &[Pipelines]) -> (Program, Vec<Diagnostic>) {
    let mut c = Compiler::new();
    let mut problems = Vec::new();
    for rule in rules {
        let mut claimed = Vec::new();
        let mut failed = None;
        for v in variants {
            match v.apply(rule) {
                Ok(r) if !r.applied.is_empty() => claimed.push(r.matcher()),
                Ok(_) => {}
                Err(d) => failed = Some(d),
            }
        }
        if claimed.is_empty() {
            if let Some(d) = failed {
                problems.push(d);
                continue;
            }
            claimed.push(rule.matcher());
        }
        c.add_rule(rule, &Expr::or(claimed));
    }
    for f in TIME_FIELDS {
        c.intern_field(f);
    }
    (c.finish(), problems)
}

/// A match: rule index into the program, and the record it matched.
#[derive(Debug, Clone)]
pub struct Match {
    pub rule: usize,
    pub source: Arc<str>,
    pub index: u64,
    pub timestamp: Option<String>,
    /// The event's JSON text (kept only on request).
    pub event: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub events: u64,
    pub bytes: u64,
    pub errors: u64,
    pub hits: Vec<u64>,
}

pub struct Options {
    pub keep_event: bool,
    pub batch: usize,
}

/// What happens to each outcome, in input order.
pub trait Sink {
    fn on_match(&mut self, m: &Match);
    fn on_error(&mut self, e: &ReadError);
    /// Called after each batch with the number of events so far (progress).
    fn on_progress(&mut self, _events: u64) {}
}

/// Stream every input through the VM. Runs on the current rayon pool.
pub fn run(vm: &Vm, inputs: &[PathBuf], opts: &Options, sink: &mut dyn Sink) -> Stats {
    let mut stats = Stats { hits: vec![0; vm.program.rules.len()], ..Stats::default() };
    let mut batch: Vec<Record> = Vec::with_capacity(opts.batch);
    let time_fields: Vec<u32> = TIME_FIELDS.iter().filter_map(|f| vm.program.fields.get(f)).collect();
    for path in inputs {
        let mut on_item = |item: Item| match item {
            Item::Record(r) => {
                batch.push(r);
                if batch.len() >= opts.batch {
                    flush(vm, &mut batch, &time_fields, opts, &mut stats, sink);
                }
            }
            Item::Error(e) => {
                flush(vm, &mut batch, &time_fields, opts, &mut stats, sink);
                stats.errors += 1;
                sink.on_error(&e);
            }
        };
        input::read(path, &mut on_item);
    }
    flush(vm, &mut batch, &time_fields, opts, &mut stats, sink);
    stats
}

enum Outcome {
    Matches(Vec<Match>),
    Error(ReadError),
}

fn flush(vm: &Vm, batch: &mut Vec<Record>, time_fields: &[u32], opts: &Options, stats: &mut Stats, sink: &mut dyn Sink) {
    if batch.is_empty() {
        return;
    }
    let fields = &vm.program.fields;
    let outcomes: Vec<Outcome> = batch
        .par_iter()
        .map_init(
            || Event::new(fields.len()),
            |event, rec| match json::read(&rec.text, fields, event) {
                Ok(()) => Outcome::Matches(match_event(vm, event, rec, time_fields, opts)),
                Err(e) => Outcome::Error(ReadError {
                    source: rec.source.clone(),
                    index: rec.index,
                    message: format!("not a JSON object: {} at byte {}", e.message, e.offset),
                }),
            },
        )
        .collect();
    for (rec, outcome) in batch.iter().zip(outcomes) {
        match outcome {
            Outcome::Matches(ms) => {
                stats.events += 1;
                stats.bytes += rec.text.len() as u64;
                for m in &ms {
                    stats.hits[m.rule] += 1;
                    sink.on_match(m);
                }
            }
            Outcome::Error(e) => {
                stats.errors += 1;
                sink.on_error(&e);
            }
        }
    }
    batch.clear();
    sink.on_progress(stats.events);
}

fn match_event(vm: &Vm, event: &Event, rec: &Record, time_fields: &[u32], opts: &Options) -> Vec<Match> {
    let mut out = Vec::new();
    for r in 0..vm.program.rules.len() {
        if vm.matches(r, event) {
            let timestamp = time_fields
                .iter()
                .find_map(|&f| event.field(f).next().map(|v| event.text(v).to_string()));
            out.push(Match {
                rule: r,
                source: rec.source.clone(),
                index: rec.index,
                timestamp,
                event: opts.keep_event.then(|| rec.text.clone()),
            });
        }
    }
    out
}

/// Build a VM or explain why not.
pub fn vm(program: Program) -> Result<Vm, Diagnostic> {
    Vm::new(program).map_err(|e| Diagnostic::error(Code::Unsupported, e))
}
